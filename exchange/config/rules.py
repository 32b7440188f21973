"""The semantic rules: what the schema cannot say about a configuration.

Each rule is a function registered under the id it enforces (from
RULES.md, or a product rule: EXC-*, SEC-*). It reads the typed
configuration, and the document where it needs the text as written, and
yields problems located by document path; `run_rules` adds line and column.
Messages never contain a pre-shared key, only the variable that holds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from exchange.config.loader import Document
from exchange.config.model import DocPath, ExchangeConfig, Secret, SecretRef
from exchange.config.problems import Problem, render_path


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read: the typed configuration, its document, the environment."""

    config: ExchangeConfig
    document: Document
    environ: Mapping[str, str]

    def text(self, path: DocPath) -> str:
        """The value at `path` exactly as written in the file."""
        return str(self.document.value(path))


Rule = Callable[[RuleContext], Iterator[Problem]]

RULES_BY_ID: dict[str, Rule] = {}


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    """Register a rule function under the id users see in its messages."""

    def register(function: Rule) -> Rule:
        if rule_id in RULES_BY_ID:
            raise ValueError(f"rule {rule_id} is registered twice")
        RULES_BY_ID[rule_id] = function
        return function

    return register


def run_rules(
    config: ExchangeConfig,
    document: Document,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem that any rule finds, each located in the document."""
    context = RuleContext(
        config=config,
        document=document,
        environ=os.environ if environ is None else environ,
    )
    problems = []
    for check in RULES_BY_ID.values():
        for problem in check(context):
            problems.append(problem.at(*document.position(problem.path)))
    return problems


def _error(path: DocPath, message: str, hint: str, rule_id: str) -> Problem:
    return Problem(path=path, message=message, hint=hint, rule=rule_id)


def _warning(path: DocPath, message: str, hint: str, rule_id: str) -> Problem:
    return Problem(
        path=path, message=message, hint=hint, rule=rule_id, severity="warning"
    )


LINK_LOCAL = IPv4Network("169.254.0.0/16")
SMALLEST_VPC_PREFIX, LARGEST_VPC_PREFIX = 28, 16
# Two subnets of at least /28 each (VPC-09) fit only in a /27 or larger.
SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS = 27
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

# CGW-01: ranges a customer gateway cannot be reached at from the internet.
# Specific ranges first: the first match names the problem.
UNROUTABLE_RANGES = tuple(
    (IPv4Network(cidr), what)
    for cidr, what in (
        ("0.0.0.0/32", "the unspecified address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("0.0.0.0/8", "in 0.0.0.0/8, which means 'this network'"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "in the shared address space 100.64.0.0/10 (RFC 6598)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("192.0.0.0/24", "in the IETF protocol assignments 192.0.0.0/24"),
        ("198.18.0.0/15", "in the benchmarking range 198.18.0.0/15"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "in the reserved range 240.0.0.0/4"),
    )
)
DOCUMENTATION_RANGES = tuple(
    IPv4Network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)

PRE_SHARED_KEY_LENGTH = range(8, 65)
_PRE_SHARED_KEY_CHARACTER = re.compile(r"[A-Za-z0-9._]")


def _cidr_paths(context: RuleContext) -> Iterator[DocPath]:
    """Every CIDR of the VPC and the on-premises side, as document paths."""
    config = context.config
    yield ("vpc", "cidr")
    for index in range(len(config.on_premises.networks)):
        yield ("onPremises", "networks", index)
    for database in config.app_databases():
        for index in range(len(database.client_networks)):
            yield (*database.path, "clientNetworks", index)


@rule("VPC-08")
def cidrs_are_network_addresses(context: RuleContext) -> Iterator[Problem]:
    """A CIDR names its network address, not a host inside it."""
    for path in _cidr_paths(context):
        written = context.text(path)
        interface = IPv4Interface(written)
        if interface.ip != interface.network.network_address:
            yield _error(
                path,
                f"{written} is not a network address (host bits are set)",
                f"use {interface.network}, the network it lies in",
                "VPC-08",
            )


@rule("VPC-01")
def vpc_size_is_allowed(context: RuleContext) -> Iterator[Problem]:
    """The VPC CIDR is a /16 to a /28."""
    cidr = context.config.vpc.cidr
    if cidr.prefixlen < LARGEST_VPC_PREFIX:
        example = next(cidr.subnets(new_prefix=LARGEST_VPC_PREFIX))
        yield _error(
            ("vpc", "cidr"),
            f"a /{cidr.prefixlen} VPC is larger than AWS allows",
            f"use a prefix from /16 to /28, e.g. {example}",
            "VPC-01",
        )
    elif cidr.prefixlen > SMALLEST_VPC_PREFIX:
        example = cidr.supernet(new_prefix=SMALLEST_VPC_PREFIX)
        yield _error(
            ("vpc", "cidr"),
            f"a /{cidr.prefixlen} VPC is smaller than AWS allows",
            f"use a prefix from /16 to /28, e.g. {example}",
            "VPC-01",
        )


@rule("VPC-04")
def vpc_is_not_link_local(context: RuleContext) -> Iterator[Problem]:
    """The VPC CIDR stays out of the link-local range 169.254.0.0/16."""
    cidr = context.config.vpc.cidr
    if cidr.overlaps(LINK_LOCAL):
        yield _error(
            ("vpc", "cidr"),
            f"{cidr} overlaps the link-local range 169.254.0.0/16, "
            "which AWS does not allow for a VPC",
            "use a private range such as 10.42.0.0/16 (RFC 1918, VPC-02)",
            "VPC-04",
        )


@rule("RDS-17")
def vpc_has_room_for_two_database_subnets(context: RuleContext) -> Iterator[Problem]:
    """A VPC with an app-database is a /27 or larger, to hold two subnets (inferred).

    Derived from RDS-17 (two AZs) and VPC-09 (subnets are /28 at the
    smallest); VPCs outside /16 to /28 are VPC-01's to report.
    """
    cidr = context.config.vpc.cidr
    if not context.config.app_databases():
        return
    if SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS < cidr.prefixlen <= SMALLEST_VPC_PREFIX:
        yield _error(
            ("vpc", "cidr"),
            f"a /{cidr.prefixlen} VPC holds only one /28 subnet, but an app-database "
            "needs subnets in two availability zones (inferred from RDS-17 and VPC-09)",
            "use a /27 or larger VPC, e.g. "
            f"{cidr.supernet(new_prefix=SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS)}",
            "RDS-17",
        )


@rule("VPC-12")
def networks_do_not_overlap_the_vpc(context: RuleContext) -> Iterator[Problem]:
    """On-premises and client networks stay clear of the VPC (and of each other)."""
    config = context.config
    vpc = config.vpc.cidr
    paths = [p for p in _cidr_paths(context) if p != ("vpc", "cidr")]
    for path in paths:
        network = IPv4Network(context.text(path), strict=False)
        if network.overlaps(vpc):
            yield _error(
                path,
                f"{context.text(path)} overlaps the VPC {vpc}, so traffic for it "
                "stays in the VPC (its local route wins) and never enters the tunnel",
                "renumber so that the VPC and the on-premises networks do not overlap",
                "VPC-12",
            )
    networks = config.on_premises.networks
    for later in range(len(networks)):
        for earlier in range(later):
            if networks[later].overlaps(networks[earlier]):
                path = ("onPremises", "networks", later)
                yield _warning(
                    path,
                    f"{context.text(path)} overlaps onPremises.networks[{earlier}] "
                    f"({context.text(('onPremises', 'networks', earlier))})",
                    "list only the enclosing network, or split them so that they "
                    "do not overlap",
                    "VPC-12",
                )
                break


@rule("CGW-01")
def customer_gateway_is_internet_routable(context: RuleContext) -> Iterator[Problem]:
    """The customer gateway address is reachable from the internet."""
    address = context.config.on_premises.customer_gateway_ip
    path = ("onPremises", "customerGatewayIp")
    if any(address in network for network in DOCUMENTATION_RANGES):
        yield _warning(
            path,
            f"{address} is in a documentation range: fine for the simulator, "
            "not routable on the internet",
            "use the static public address of your VPN device before provisioning "
            "on AWS",
            "CGW-01",
        )
        return
    what = _unroutable(address)
    if what:
        yield _error(
            path,
            f"{address} is {what}, not reachable from the internet",
            "use the static public IPv4 address of your VPN device, or of the NAT "
            "device in front of it; a private address works only for a private-IP "
            "VPN over a transit gateway (CGW-05)",
            "CGW-01",
        )


def _unroutable(address: IPv4Address) -> str | None:
    for network, what in UNROUTABLE_RANGES:
        if address in network:
            return what
    return None


@dataclass(frozen=True)
class _TunnelKey:
    """A tunnel's pre-shared key as the rules see it."""

    path: DocPath
    tunnel: int  # 1 or 2, as people count tunnels
    env: str | None  # the variable that holds the key, if it is a reference
    # None while the variable is not set; kept out of repr, like the model's Secret.
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
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        path = ("vpn", "tunnels", index, "preSharedKey")
        key = tunnel.pre_shared_key
        if isinstance(key, SecretRef):
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


@rule("SEC-01")
def pre_shared_keys_stay_out_of_the_file(context: RuleContext) -> Iterator[Problem]:
    """Pre-shared keys come from environment variables, not the file (warning)."""
    for key in _tunnel_keys(context):
        if key.env is None:
            yield _warning(
                key.path,
                f"tunnel {key.tunnel}'s pre-shared key is written in the file, "
                "where version control keeps it",
                "move it to an environment variable and write "
                "preSharedKey: { env: NAME }",
                "SEC-01",
            )


@rule("SEC-02")
def referenced_keys_are_set(context: RuleContext) -> Iterator[Problem]:
    """The variables that hold pre-shared keys are set (warning)."""
    for key in _tunnel_keys(context):
        if key.env is not None and key.value is None:
            yield _warning(
                key.path,
                f"{key.env} is not set; the key's format is checked once it is",
                f"export {key.env} with tunnel {key.tunnel}'s pre-shared key "
                "before provisioning",
                "SEC-02",
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
                f"{written} {verb} tunnel {earlier + 1}'s inside CIDR",
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


@rule("EXC-01")
def client_networks_are_on_premises(context: RuleContext) -> Iterator[Problem]:
    """Every client network lies inside an on-premises network."""
    on_premises = context.config.on_premises.networks
    listed = ", ".join(str(n) for n in on_premises)
    for database in context.config.app_databases():
        for index, network in enumerate(database.client_networks):
            if any(network.subnet_of(n) for n in on_premises):
                continue
            path = (*database.path, "clientNetworks", index)
            yield _error(
                path,
                f"{context.text(path)} is not inside any of onPremises.networks "
                f"({listed}), so its traffic is never routed into the tunnel",
                "add it to onPremises.networks, or correct it",
                "EXC-01",
            )


@rule("EXC-02")
def exchange_names_are_unique(context: RuleContext) -> Iterator[Problem]:
    """No two exchanges share a name."""
    first_use: dict[str, DocPath] = {}
    for exchange in context.config.exchanges:
        if exchange.name in first_use:
            yield _error(
                (*exchange.path, "name"),
                f'the name "{exchange.name}" is already used by '
                f"{render_path(first_use[exchange.name])}",
                "give every exchange its own name",
                "EXC-02",
            )
        else:
            first_use[exchange.name] = exchange.path


# RDS-01: a DB instance identifier has at most 63 characters.
MAX_DB_IDENTIFIER = 63


@rule("RDS-01")
def database_identifier_fits(context: RuleContext) -> Iterator[Problem]:
    """The instance identifier made from customer slug and exchange name fits."""
    for exchange in context.config.app_databases():
        identifier = context.config.database_identifier(exchange)
        if len(identifier) > MAX_DB_IDENTIFIER:
            yield _error(
                (*exchange.path, "name"),
                f'the database identifier "{identifier}" (customer slug, a hyphen, '
                f"exchange name) has {len(identifier)} characters, RDS accepts "
                f"{MAX_DB_IDENTIFIER} (inferred from RDS-01)",
                f"shorten the exchange name to at most "
                f"{MAX_DB_IDENTIFIER - len(context.config.customer.slug) - 1} "
                "characters",
                "RDS-01",
            )


@rule("VGW-06")
def route_count_is_within_quota(context: RuleContext) -> Iterator[Problem]:
    """At most 100 on-premises networks, one route each."""
    on_premises = context.config.on_premises
    count = len(on_premises.networks)
    if count > MAX_ROUTES_FROM_CUSTOMER_GATEWAY:
        kind = "BGP-advertised" if on_premises.routing == "bgp" else "static"
        yield _error(
            ("onPremises", "networks"),
            f"{count} on-premises networks need {count} {kind} routes; AWS accepts "
            f"at most {MAX_ROUTES_FROM_CUSTOMER_GATEWAY} from a customer gateway",
            "merge adjacent networks into larger ones (two /24s make a /23)",
            "VGW-06",
        )
