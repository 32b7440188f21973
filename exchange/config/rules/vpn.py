"""Rules about the VPN tunnels and the format of their pre-shared keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network

from exchange.config.model import DocPath, Secret, SecretRef
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule
from exchange.config.rules.network import LINK_LOCAL

MAX_ROUTES_FROM_CUSTOMER_GATEWAY = 100

# VPN-09: inside CIDRs that AWS keeps for itself.
RESERVED_INSIDE_CIDRS = tuple(
    IPv4Network(cidr)
    for cidr in (
        "169.254.0.0/30",
        "169.254.1.0/30",
        "169.254.2.0/30",
        "169.254.3.0/30",
        "169.254.4.0/30",
        "169.254.5.0/30",
        "169.254.169.252/30",
    )
)
PRE_SHARED_KEY_LENGTH = range(8, 65)
_PRE_SHARED_KEY_CHARACTER = re.compile(r"[A-Za-z0-9._]")


@dataclass(frozen=True)
class _TunnelKey:
    """A tunnel's pre-shared key as the format rules (VPN-03 to VPN-05) see it.

    Whether it is written in the file or can be read at all is the secrets
    rules' concern (SEC-01, SEC-02).
    """

    path: DocPath
    tunnel: int  # 1 or 2, as people count tunnels
    env: str | None  # the variable that holds the key, if it is a reference
    # None while the variable is not set; kept out of repr, like the model's
    # Secret.
    value: str | None = field(repr=False)

    @property
    def where(self) -> str:
        if self.env:
            return f"the pre-shared key in {self.env}"
        return f"tunnel {self.tunnel}'s pre-shared key"

    @property
    def fix_place(self) -> str:
        return f"set {self.env} to" if self.env else "write"


def _tunnel_keys(context: RuleContext) -> Iterator[_TunnelKey]:
    """The keys whose value can be seen here: not those in Secrets Manager."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        path = ("vpn", "tunnels", index, "preSharedKey")
        key = tunnel.pre_shared_key
        if isinstance(key, SecretRef) and key.env is not None:
            value = context.environ.get(key.env)
            yield _TunnelKey(path, index + 1, key.env, value)
        elif isinstance(key, Secret):
            yield _TunnelKey(path, index + 1, None, key.reveal())


@rule("VPN-03")
def pre_shared_key_length(context: RuleContext) -> Iterator[Problem]:
    """A pre-shared key is 8 to 64 characters long."""
    for key in _tunnel_keys(context):
        if key.value is not None and len(key.value) not in PRE_SHARED_KEY_LENGTH:
            yield _error(
                key.path,
                f"{key.where} is {len(key.value)} characters long, AWS accepts 8 to 64",
                f"{key.fix_place} a key of 8 to 64 characters",
                "VPN-03",
            )


@rule("VPN-04")
def pre_shared_key_characters(context: RuleContext) -> Iterator[Problem]:
    """A pre-shared key has only letters, digits, '.' and '_'."""
    for key in _tunnel_keys(context):
        if key.value is None:
            continue
        refused = sum(1 for c in key.value if not _PRE_SHARED_KEY_CHARACTER.match(c))
        if refused:
            yield _error(
                key.path,
                f"{key.where} contains {refused} "
                f"{'character' if refused == 1 else 'characters'} that AWS refuses",
                f"{key.fix_place} a key of letters, digits, '.' and '_' only",
                "VPN-04",
            )


@rule("VPN-05")
def pre_shared_key_first_character(context: RuleContext) -> Iterator[Problem]:
    """A pre-shared key does not start with 0."""
    for key in _tunnel_keys(context):
        if key.value and key.value.startswith("0"):
            yield _error(
                key.path,
                f"{key.where} starts with 0, which AWS refuses",
                f"{key.fix_place} a key that starts with another character",
                "VPN-05",
            )


def _inside_cidr_path(index: int) -> DocPath:
    return ("vpn", "tunnels", index, "insideCidr")


@rule("VPN-08")
def inside_cidr_is_a_link_local_slash_30(context: RuleContext) -> Iterator[Problem]:
    """A tunnel's inside CIDR is a /30 in 169.254.0.0/16."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        cidr, written = tunnel.inside_cidr, context.text(_inside_cidr_path(index))
        problems = []
        if cidr.prefixlen != 30:
            problems.append(f"is a /{cidr.prefixlen}, not a /30")
        if not cidr.subnet_of(LINK_LOCAL):
            problems.append("lies outside 169.254.0.0/16")
        if problems:
            yield _error(
                _inside_cidr_path(index),
                f"{written} {' and '.join(problems)}",
                "an inside CIDR is a /30 in 169.254.0.0/16, e.g. 169.254.21.0/30",
                "VPN-08",
            )


def _is_link_local_slash_30(cidr: IPv4Network) -> bool:
    return cidr.prefixlen == 30 and cidr.subnet_of(LINK_LOCAL)


@rule("VPN-09")
def inside_cidr_is_not_reserved(context: RuleContext) -> Iterator[Problem]:
    """A tunnel's inside CIDR is none of the /30s that AWS reserves."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        cidr, written = tunnel.inside_cidr, context.text(_inside_cidr_path(index))
        if _is_link_local_slash_30(cidr) and cidr in RESERVED_INSIDE_CIDRS:
            what = "is" if written == str(cidr) else f"lies in {cidr}, which is"
            yield _error(
                _inside_cidr_path(index),
                f"{written} {what} reserved by AWS",
                "pick another /30 in 169.254.0.0/16",
                "VPN-09",
            )


@rule("VPN-11")
def tunnels_have_their_own_inside_cidrs(context: RuleContext) -> Iterator[Problem]:
    """The two tunnels have different inside CIDRs."""
    tunnels = context.config.vpn.tunnels
    for later in range(len(tunnels)):
        for earlier in range(later):
            mine, theirs = tunnels[later].inside_cidr, tunnels[earlier].inside_cidr
            if not mine.overlaps(theirs):
                continue
            written = context.text(_inside_cidr_path(later))
            verb = "is also" if mine == theirs else "overlaps"
            yield _error(
                _inside_cidr_path(later),
                f"{written} {verb} tunnel {earlier + 1}'s inside CIDR; inside "
                "CIDRs are unique on a VPN gateway (inferred from VPN-10)",
                "give each tunnel its own /30"
                + _suggest_inside_cidr([t.inside_cidr for t in tunnels]),
                "VPN-11",
            )


def _suggest_inside_cidr(taken: list[IPv4Network]) -> str:
    start = taken[0]
    if not _is_link_local_slash_30(start):
        return ""
    candidate = start
    while candidate.broadcast_address < LINK_LOCAL.broadcast_address:
        candidate = IPv4Network((int(candidate.network_address) + 4, 30))
        clash = any(candidate.overlaps(t) for t in taken)
        if not clash and candidate not in RESERVED_INSIDE_CIDRS:
            return f", e.g. {candidate}"
    return ""


@rule("VPN-12")
def inside_cidr_is_aligned(context: RuleContext) -> Iterator[Problem]:
    """An inside CIDR is written as its network address (unconfirmed: warning)."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        written = context.text(_inside_cidr_path(index))
        if not _is_link_local_slash_30(tunnel.inside_cidr):
            continue
        if IPv4Interface(written).ip != tunnel.inside_cidr.network_address:
            yield _warning(
                _inside_cidr_path(index),
                f"{written} is not the first address of its /30",
                f"write {tunnel.inside_cidr}; how AWS treats this form is "
                "undocumented (VPN-12 is unconfirmed, hence only a warning)",
                "VPN-12",
            )
