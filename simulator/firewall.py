"""The data plane's firewalls as nftables: security groups, the customer's edge, NAT.

Each `*_ruleset` function turns plain data (what the cloud's describe calls
answer, the customer's whitelist, a few interface names) into one nftables
table, as text for `nft -f`. `apply` loads such a text into a network
namespace in one transaction, `check` has the kernel validate it without
loading it, `flush` removes a table again:

    groups = ec2.describe_security_groups(GroupIds=ids)["SecurityGroups"]
    apply("exs3f2a-1-appdb", security_group_ruleset(groups))

Every table is named `exchange_...` and replaces itself when loaded again
("table T", "delete table T", then the new "table T {...}", in one
transaction), so a namespace never runs half of an old ruleset and half of a
new one, and no other table is ever touched. Every rule carries a comment
naming what it comes from (the security group and its rule, the whitelist
entry, the rule id in RULES.md), so that `nft list ruleset` inside a
namespace explains itself, counters included.

Drops are silent, as a security group's are: a client that is not admitted
times out, while a stopped service refuses at once and a missing route is
unreachable; a check can tell the three apart (LAB-NOTES, "Firewall
stand-ins").

Faults are re-renders from other data, applied over the running table:
`without_ingress_from` gives the security groups as they would be without
one client network, a whitelist without one egress IP is the list filtered,
a NAT gateway whose address changed is rendered with the new one. Only the
MTU black hole (no MSS clamp, ICMP "fragmentation needed" dropped) has a
ruleset of its own.

The customer's gateway runs two tables. The `firewall.nft` that `exchange
vpn-config --device strongswan` wrote is loaded as it is: it replaces only
its own table, so it loads cleanly beside these, and a broken generated file
shows up as a load that fails, as it would on the customer's device. Its
chains accept by default, so what it does is clamp the MSS of traffic to
and from the VPC; its openings for IKE and ESP change nothing on their own.
`customer_firewall_ruleset` is the customer's filtering, which drops by
default; since an accept in one table does not undo a drop in another, it
makes its own openings for IKE and ESP from the AWS tunnel endpoints,
rather than read them back out of the generated file.

Tables are IPv4 (`table ip`), as the simulated networks are; IPv6 passes
untouched.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any, NamedTuple

from simulator import netns

log = logging.getLogger("simulator")

TABLE_PREFIX = "exchange_"
SECURITY_GROUPS_TABLE = "exchange_security_groups"
CUSTOMER_FIREWALL_TABLE = "exchange_customer_firewall"
NAT_GATEWAY_TABLE = "exchange_nat_gateway"
SITE_NAT_TABLE = "exchange_site_nat"
MSS_CLAMP_TABLE = "exchange_mss_clamp"
MTU_BLACK_HOLE_TABLE = "exchange_mtu_black_hole"

NFT_TIMEOUT_S = 10.0
# nftables refuses a comment longer than this many bytes.
COMMENT_LIMIT = 128
IKE_PORTS = (500, 4500)  # IKE and NAT-T (VPN-49, CGW-02)

# What nft runs with: enough to run, and none of the caller's variables.
NFT_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}

# AWS names the common protocols, or takes their numbers (IpProtocol).
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp"}
_TABLE_NAME = re.compile(rf"{TABLE_PREFIX}[A-Za-z0-9_]{{1,100}}")
_GROUP_ID = re.compile(r"sg-[A-Za-z0-9]{1,40}")
_INTERFACE_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,15}")
_TABLE_STATEMENT = re.compile(r"^table ip (\S+) \{", re.MULTILINE)


class FirewallError(Exception):
    """nft refused a ruleset in a namespace, or is not installed."""


class WhitelistEntry(NamedTuple):
    """One way in through the customer's firewall: an egress IP to a port.

    A plain `(source, destination, port)` tuple does as well.
    """

    source: str  # the platform's egress IP (a NAT gateway's Elastic IP), a CIDR
    destination: str  # the address at the customer's site it may reach
    port: int  # a TCP port there: the database's, the web service's


# --- security groups ---------------------------------------------------------


def security_group_ruleset(
    groups: Iterable[Mapping[str, Any]],
    *,
    members: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """The security groups of one network interface, as nftables does them.

    `groups` are entries of `describe_security_groups()["SecurityGroups"]`,
    all those of the interface (a database, the NLB); the host is admitted
    what any of them admits (SG-05: allow rules only, all evaluated). Like
    AWS: stateful, so replies (and their ICMP errors) pass whatever the rules
    say; what no rule admits is dropped silently, inbound and outbound.

    A rule that admits another security group (`UserIdGroupPairs`) admits
    that group's members: `members` maps each such group id to the
    addresses of its interfaces (an empty list for a group with none). A
    referenced group missing from `members`, and prefix lists, which the
    simulator does not model, raise ValueError. IPv6 ranges are left out
    (IPv4 table).
    """
    known = {
        group_id: list(addresses) for group_id, addresses in (members or {}).items()
    }
    blocks: list[list[str]] = []
    ingress_jumps: list[str] = []
    egress_jumps: list[str] = []
    seen: set[str] = set()
    for group in groups:
        group_id = _group_id(group.get("GroupId", ""))
        if group_id in seen:
            continue  # a group counts once, however often it is listed
        seen.add(group_id)
        label = group_id
        if group.get("GroupName"):
            label = f"{group_id} ({group['GroupName']})"
        for direction, key, jumps in (
            ("ingress", "IpPermissions", ingress_jumps),
            ("egress", "IpPermissionsEgress", egress_jumps),
        ):
            rules = [
                rule
                for permission in group.get(key, [])
                for rule in _permission_rules(group_id, direction, permission, known)
            ]
            chain = f"{group_id}_{direction}"
            blocks.append(_chain(chain, rules, about=f"{label}: {direction} rules"))
            jumps.append(f"jump {chain}")
    blocks.append(
        _chain(
            "input",
            [
                "ct state established,related accept "
                + _comment("stateful (SG-05): replies and their ICMP errors"),
                'iifname "lo" accept ' + _comment("the host to itself"),
                *ingress_jumps,
                "counter "
                + _comment("admitted by no security group: dropped silently (SG-05)"),
            ],
            hook="type filter hook input priority filter; policy drop;",
        )
    )
    blocks.append(
        _chain(
            "output",
            [
                "ct state established,related accept "
                + _comment(
                    "stateful (SG-05): replies leave, whatever the egress rules say"
                ),
                'oifname "lo" accept ' + _comment("the host to itself"),
                *egress_jumps,
                "counter "
                + _comment("allowed by no egress rule: dropped silently (SG-05)"),
            ],
            hook="type filter hook output priority filter; policy drop;",
        )
    )
    about = "security groups of one network interface: " + (
        ", ".join(sorted(seen)) or "none"
    )
    return _table(SECURITY_GROUPS_TABLE, about, blocks)


def without_ingress_from(
    groups: Iterable[Mapping[str, Any]], network: str | IPv4Network
) -> list[dict[str, Any]]:
    """The groups as they would be with every ingress admission of `network` revoked.

    The fault "security group missing the client network": render the
    result with `security_group_ruleset` and apply it over the running
    table. Only ranges equal to `network` go; wider or narrower ones stay.
    """
    revoked = IPv4Network(network, strict=False)
    result = []
    for group in groups:
        changed = copy.deepcopy(dict(group))
        for permission in changed.get("IpPermissions", []):
            permission["IpRanges"] = [
                ip_range
                for ip_range in permission.get("IpRanges", [])
                if IPv4Network(ip_range["CidrIp"], strict=False) != revoked
            ]
        result.append(changed)
    return result


def _group_id(value: str) -> str:
    # Also a chain name: nothing but what a security group id holds.
    if not _GROUP_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a security group id (sg-...)")
    return value


def _permission_rules(
    group_id: str,
    direction: str,
    permission: Mapping[str, Any],
    members: Mapping[str, list[str]],
) -> list[str]:
    """One accept per source (or destination) of one IpPermissions entry."""
    if permission.get("PrefixListIds"):
        lists = ", ".join(
            p.get("PrefixListId", "?") for p in permission["PrefixListIds"]
        )
        raise ValueError(
            f"{group_id}: an {direction} rule admits prefix list {lists}, which the "
            "simulator does not model; admit the networks by CIDR or security group"
        )
    ranges = permission.get("IpRanges", [])
    pairs = permission.get("UserIdGroupPairs", [])
    if not (ranges or pairs):
        return []  # IPv6 only
    traffic, service = _traffic(group_id, permission)
    peer, toward = ("saddr", "from") if direction == "ingress" else ("daddr", "to")
    rules = []
    for ip_range in ranges:
        network = IPv4Network(ip_range["CidrIp"], strict=False)
        about = f"{group_id} {direction}: {service} {toward} {network}"
        if ip_range.get("Description"):
            about += f" ({ip_range['Description']})"
        rules.append(_accept(f"ip {peer} {network}", traffic, about))
    for pair in pairs:
        referenced = pair.get("GroupId", "")
        if referenced not in members:
            raise ValueError(
                f"{group_id}: an {direction} rule admits security group {referenced}, "
                f"whose members are unknown; pass members={{{referenced!r}: "
                "[its interfaces' addresses]}} (an empty list if it has none)"
            )
        addresses = sorted({IPv4Address(a) for a in members[referenced]})
        about = f"{group_id} {direction}: {service} {toward} members of {referenced}"
        if not addresses:
            rules.append(f"# {about}: it has none, so this admits nothing")
            continue
        rules.append(_accept(f"ip {peer} {_elements(addresses)}", traffic, about))
    return rules


def _traffic(group_id: str, permission: Mapping[str, Any]) -> tuple[str, str]:
    """The nftables match for a rule's protocol and ports, and the same in words."""
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    protocol = _PROTOCOL_NAMES.get(protocol, protocol)
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if protocol == "-1":
        return "", "all traffic"
    if protocol in ("tcp", "udp"):
        if low in (None, -1) or (low, high) == (0, 65535):
            return f"meta l4proto {protocol}", f"{protocol} all ports"
        if low == high:
            return f"{protocol} dport {int(low)}", f"{protocol} {int(low)}"
        return (
            f"{protocol} dport {int(low)}-{int(high)}",
            f"{protocol} {int(low)}-{int(high)}",
        )
    if protocol == "icmp":
        # For ICMP, FromPort is the type and ToPort the code; -1 is any.
        if low in (None, -1):
            return "meta l4proto icmp", "icmp all types"
        if high in (None, -1):
            return f"icmp type {int(low)}", f"icmp type {int(low)}"
        return (
            f"icmp type {int(low)} icmp code {int(high)}",
            f"icmp type {int(low)} code {int(high)}",
        )
    if protocol.isdigit() and int(protocol) <= 255:
        return f"meta l4proto {int(protocol)}", f"protocol {int(protocol)}"
    raise ValueError(
        f"{group_id}: IpProtocol {permission.get('IpProtocol')!r} is not one "
        'AWS takes for IPv4: "-1", "tcp", "udp", "icmp" or a number 0-255'
    )


# --- the customer's firewall -------------------------------------------------


def customer_firewall_ruleset(
    *,
    outside_if: str,
    tunnel_if: str = "ipsec0",
    site_networks: Iterable[str | IPv4Network],
    vpc_cidr: str | IPv4Network,
    whitelist: Iterable[WhitelistEntry | tuple[str, str, int]],
    aws_tunnel_endpoints: Iterable[str | IPv4Address] = (),
) -> str:
    """The customer's edge, in the gateway's namespace, built from the whitelist.

    Forwarding: from the internet (`outside_if`) to the site only what the
    whitelist admits (an egress IP to one address and TCP port) and replies;
    from the tunnel the VPC may reach the site networks, and the site the
    VPC. kernel-libipsec enforces no inbound IPsec policy (cleartext from
    the internet with a VPC source would be forwarded), so the tunnel is
    recognised by its interface, not by the addresses (LAB-NOTES). The site
    may go out to the internet. Everything else is dropped silently.

    The gateway itself takes from the internet only IKE, NAT-T and ESP from
    `aws_tunnel_endpoints` (none without a VPN), and replies (VPN-49).
    """
    outside, tunnel = _interface(outside_if), _interface(tunnel_if)
    vpc = IPv4Network(vpc_cidr, strict=False)
    networks = sorted({IPv4Network(n, strict=False) for n in site_networks})
    endpoints = sorted({IPv4Address(a) for a in aws_tunnel_endpoints})
    entries = [WhitelistEntry(*entry) for entry in whitelist]

    blocks = [
        _named_set(
            "site_networks",
            networks,
            interval=True,
            about="the customer's networks behind this firewall",
        )
    ]
    gateway = [
        f"iifname {outside} ct state established,related accept "
        + _comment("replies to the gateway's own connections"),
    ]
    if endpoints:
        blocks.append(
            _named_set(
                "aws_tunnel_endpoints",
                endpoints,
                about="the tunnels' AWS outside addresses (VPN-01)",
            )
        )
        ports = _elements(IKE_PORTS)
        gateway += [
            f"iifname {outside} ip saddr @aws_tunnel_endpoints udp dport {ports} "
            "counter accept "
            + _comment("IKE and NAT-T from the AWS tunnel endpoints (VPN-49, CGW-02)"),
            f"iifname {outside} ip saddr @aws_tunnel_endpoints ip protocol esp "
            "counter accept " + _comment("ESP from the AWS tunnel endpoints (VPN-49)"),
        ]
    gateway.append(
        f"iifname {outside} counter drop "
        + _comment("anything else from the internet to the gateway itself")
    )
    blocks.append(
        _chain(
            "input",
            gateway,
            hook="type filter hook input priority filter; policy accept;",
            about="the gateway itself",
        )
    )

    forward = [
        "ct state established,related accept "
        + _comment("replies to admitted connections (stateful)"),
        f"iifname {tunnel} ip saddr {vpc} ip daddr @site_networks counter accept "
        + _comment(f"the VPC to the site, through the tunnel ({tunnel_if})"),
        f"iifname != {outside} oifname {tunnel} ip saddr @site_networks "
        f"ip daddr {vpc} counter accept "
        + _comment(f"the site to the VPC, through the tunnel ({tunnel_if})"),
    ]
    for entry in entries:
        source = IPv4Network(entry.source, strict=False)
        destination = IPv4Address(entry.destination)
        port = _port(entry.port)
        forward.append(
            f"iifname {outside} ip saddr {source} ip daddr {destination} "
            f"tcp dport {port} counter accept "
            + _comment(f"whitelist: {source} to {destination} tcp {port}")
        )
    forward += [
        f"iifname != {outside} oifname {outside} ip saddr @site_networks "
        "counter accept " + _comment("the site out to the internet"),
        "counter " + _comment("admitted by nothing: dropped silently"),
    ]
    blocks.append(
        _chain(
            "forward",
            forward,
            hook="type filter hook forward priority filter; policy drop;",
            about="between the internet, the tunnel and the site",
        )
    )
    return _table(
        CUSTOMER_FIREWALL_TABLE,
        f"the customer's firewall: internet on {outside_if}, tunnel on {tunnel_if}",
        blocks,
    )


# --- the NAT gateway ---------------------------------------------------------


def nat_gateway_ruleset(
    *,
    outside_if: str,
    elastic_ip: str | IPv4Address,
    private_networks: Iterable[str | IPv4Network],
) -> str:
    """Source NAT of the private subnets' traffic to the Elastic IP (NAT-01).

    What leaves `outside_if` from `private_networks` carries `elastic_ip`
    as its source, so the customer sees (and whitelists) that address. Like
    a NAT gateway, it lets in only replies: nothing from the internet may
    open a connection through it or to it. The Elastic IP must be an address
    of `outside_if`, so that the replies find their way back.
    """
    outside = _interface(outside_if)
    address = IPv4Address(elastic_ip)
    networks = sorted({IPv4Network(n, strict=False) for n in private_networks})
    blocks = [
        _named_set(
            "private_networks",
            networks,
            interval=True,
            about="the private subnets that go out through this NAT gateway",
        ),
        _chain(
            "postrouting",
            [
                f"oifname {outside} ip saddr @private_networks counter "
                f"snat to {address} "
                + _comment(f"NAT-01: the private subnets leave as {address}"),
            ],
            hook="type nat hook postrouting priority srcnat; policy accept;",
        ),
    ]
    for chain, hook, about in (
        ("forward", "forward", "a connection from the internet through the NAT"),
        ("input", "input", "a connection from the internet to the NAT itself"),
    ):
        blocks.append(
            _chain(
                chain,
                [
                    f"iifname {outside} ct state established,related accept "
                    + _comment("replies to the private subnets' connections"),
                    f"iifname {outside} counter drop "
                    + _comment(f"NAT-01: {about}: dropped"),
                ],
                hook=f"type filter hook {hook} priority filter; policy accept;",
            )
        )
    return _table(
        NAT_GATEWAY_TABLE, f"NAT gateway: Elastic IP {address} on {outside_if}", blocks
    )


def site_nat_ruleset(
    *,
    outside_if: str,
    public_ip: str | IPv4Address,
    site_networks: Iterable[str | IPv4Network],
) -> str:
    """The customer's edge hides its site behind its public address.

    What the site's hosts send to the internet (not through the tunnel)
    leaves `outside_if` as `public_ip`, as at any office. Only source NAT:
    what may come in is the customer firewall's business.
    """
    outside = _interface(outside_if)
    address = IPv4Address(public_ip)
    networks = sorted({IPv4Network(n, strict=False) for n in site_networks})
    blocks = [
        _named_set(
            "site_networks",
            networks,
            interval=True,
            about="the customer's networks, private behind the gateway",
        ),
        _chain(
            "postrouting",
            [
                f"oifname {outside} ip saddr @site_networks counter "
                f"snat to {address} "
                + _comment(f"the site leaves for the internet as {address}"),
            ],
            hook="type nat hook postrouting priority srcnat; policy accept;",
        ),
    ]
    return _table(SITE_NAT_TABLE, f"the site's way out as {address}", blocks)


# --- MTU -----------------------------------------------------------------------


def mss_clamp_ruleset(*, interfaces: Iterable[str], mss: int | None = None) -> str:
    """Clamp the TCP MSS of connections through `interfaces` (MTU-03).

    The VPN does no path MTU discovery, so a router in front of a tunnel
    lowers the MSS that SYNs announce. With `mss` None, SYNs that leave
    through `interfaces` are clamped to what the route's MTU allows
    (`rt mtu`: ipsec0's 1400 gives 1360): the routers at both ends of a
    tunnel each clamp what enters it. With a number, SYNs in either
    direction are clamped to it (MTU-01/02 give the figures). Clamping never
    raises an MSS.
    """
    names = sorted(set(interfaces))
    if not names:
        raise ValueError("the MSS clamp needs at least one interface")
    where = _elements(_interface(name) for name in names)
    syn = "tcp flags syn / syn,rst"
    if mss is None:
        rules = [
            f"oifname {where} {syn} tcp option maxseg size set rt mtu "
            + _comment("MTU-03: SYNs into the link, to what its route's MTU allows"),
        ]
    else:
        if not 536 <= mss <= 65495:
            raise ValueError(f"an MSS of {mss} is not one TCP uses (536-65495)")
        clamp = f"tcp option maxseg size > {mss} tcp option maxseg size set {mss}"
        rules = [
            f"{match} {where} {syn} {clamp} "
            + _comment(f"MTU-01/02, MTU-03: SYNs {way} the link, to MSS {mss}")
            for match, way in (("oifname", "into"), ("iifname", "out of"))
        ]
    chain = _chain(
        "forward",
        rules,
        hook="type filter hook forward priority mangle; policy accept;",
    )
    return _table(
        MSS_CLAMP_TABLE,
        f"TCP MSS clamp on {', '.join(names)}",
        [chain],
    )


def mtu_black_hole_ruleset(*, clamp_tables: Iterable[str] = (MSS_CLAMP_TABLE,)) -> str:
    """The MTU black hole fault: no MSS clamp, and no "fragmentation needed".

    Removes `clamp_tables` (by default this module's clamp; at the
    customer's gateway also the generated firewall.nft's table, whose only
    effect is its clamp) and drops ICMP destination-unreachable
    fragmentation-needed forwarded, sent or received here. Connections and
    small queries still work; a large transfer hangs, since the sender never
    learns that its packets are too big for the tunnel (LAB-NOTES, MTU-03).
    The kernel remembers a learned path MTU for about 10 minutes: flush the
    route cache of the hosts before a test. To end the fault, `flush` this
    table and load the clamps again.
    """
    removals = [_removal(table) for table in dict.fromkeys(clamp_tables)]
    frag_needed = "icmp type destination-unreachable icmp code frag-needed"
    blocks = [
        _chain(
            hook,
            [
                f"{frag_needed} counter drop "
                + _comment("MTU black hole (fault): no sender learns its path MTU"),
            ],
            hook=f"type filter hook {hook} priority filter; policy accept;",
        )
        for hook in ("forward", "output", "input")
    ]
    return "".join(removals) + _table(
        MTU_BLACK_HOLE_TABLE,
        "fault: MTU black hole (MSS clamp off, fragmentation needed dropped)",
        blocks,
    )


# --- loading -------------------------------------------------------------------


def apply(ns_name: str, ruleset: str) -> None:
    """Load `ruleset` into the namespace `ns_name`, in one transaction.

    Either all of it is in force afterwards or, when nft refuses it
    (FirewallError, with nft's message), nothing of it: the tables it
    replaces keep running.
    """
    _nft(ns_name, ruleset, dry_run=False)


def check(ns_name: str, ruleset: str) -> None:
    """Validate `ruleset` in the namespace `ns_name` (`nft --check`), loading nothing.

    Raises the FirewallError that `apply` would.
    """
    _nft(ns_name, ruleset, dry_run=True)


def flush(ns_name: str, table: str) -> None:
    """Remove `table` (an `exchange_` one) from the namespace; nothing if absent.

    The table goes whole, chains included: `nft flush table` would empty the
    chains but keep them, and a chain whose policy is drop would go on
    dropping everything.
    """
    apply(ns_name, _removal(table))


def _nft(ns_name: str, ruleset: str, *, dry_run: bool) -> None:
    """Run `nft --file -` inside the namespace, the ruleset on its stdin."""
    program = shutil.which("nft", path=NFT_ENVIRONMENT["PATH"])
    if program is None:
        raise FirewallError(
            "nft is not installed: install Debian's nftables (apt-get install "
            "nftables); `make demo` and `make test` do it when run as root"
        )
    argv = [program, *(["--check"] if dry_run else []), "--file", "-"]
    tables = ", ".join(_TABLE_STATEMENT.findall(ruleset)) or "no table"
    started = time.perf_counter()
    try:
        # A child forked from a thread that has entered the namespace starts
        # there: no `ip netns exec`, no shell.
        with netns.entered(netns.Namespace(ns_name)):
            completed = subprocess.run(
                argv,
                input=ruleset,
                capture_output=True,
                text=True,
                env=NFT_ENVIRONMENT,
                timeout=NFT_TIMEOUT_S,
            )
    except netns.TopologyError as error:
        raise FirewallError(f"{ns_name}: {error}") from error
    except subprocess.TimeoutExpired as error:
        raise FirewallError(
            f"{ns_name}: nft did not finish loading {tables} within "
            f"{NFT_TIMEOUT_S:.0f} s"
        ) from error
    if completed.returncode != 0:
        raise FirewallError(
            f"{ns_name}: nft refused {tables} (exit {completed.returncode}): "
            f"{completed.stderr.strip()}"
        )
    log.debug(
        "%s: nft %s %s in %.0f ms",
        ns_name,
        "checked" if dry_run else "loaded",
        tables,
        (time.perf_counter() - started) * 1000,
    )


# --- text ----------------------------------------------------------------------


def _table(name: str, about: str, blocks: list[list[str]]) -> str:
    """A table that replaces its namesake: declared, deleted, then defined.

    `blocks` are its sets and chains, each a list of lines.
    """
    body = [line for block in blocks for line in ["", *block]]
    return (
        _removal(name)
        + "\n".join(
            [
                f"table ip {name} {{",
                f"    {_comment(about)}",
                *(f"    {line}" if line else "" for line in body),
                "}",
            ]
        )
        + "\n"
    )


def _removal(table: str) -> str:
    # Declaring the table first makes the delete succeed when it is absent.
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(
            f"{table!r} is not one of the simulator's tables: their names start "
            f"with {TABLE_PREFIX!r} and hold letters, digits and '_'"
        )
    return f"table ip {table}\ndelete table ip {table}\n"


def _chain(
    name: str, rules: list[str], *, hook: str | None = None, about: str | None = None
) -> list[str]:
    lines = [f"chain {name} {{"]
    if about:
        lines.append(f"    {_comment(about)}")
    if hook:
        lines.append(f"    {hook}")
    lines += [f"    {rule}" for rule in rules]
    return [*lines, "}"]


def _named_set(
    name: str, values: list[Any], *, about: str, interval: bool = False
) -> list[str]:
    lines = [
        f"set {name} {{",
        f"    {_comment(about)}",
        "    type ipv4_addr",
    ]
    if interval:
        lines.append("    flags interval")
    if values:
        lines.append(f"    elements = {_elements(values)}")
    return [*lines, "}"]


def _accept(where: str, traffic: str, about: str) -> str:
    return " ".join(part for part in (where, traffic, "counter accept") if part) + (
        " " + _comment(about)
    )


def _elements(values: Iterable[Any]) -> str:
    return "{ " + ", ".join(str(value) for value in values) + " }"


def _comment(text: str) -> str:
    """An nftables comment: no double quotes or line breaks, at most 128 bytes."""
    text = " ".join(text.replace('"', "'").split())
    encoded = text.encode()
    if len(encoded) > COMMENT_LIMIT:
        encoded = encoded[: COMMENT_LIMIT - 3]
        text = encoded.decode(errors="ignore") + "..."
    return f'comment "{text}"'


def _interface(name: str) -> str:
    """An interface name, quoted for nftables."""
    if not _INTERFACE_NAME.fullmatch(name):
        raise ValueError(
            f"interface name {name!r} must be 1-15 letters, digits, '_', '.', '@' "
            "or '-'"
        )
    return f'"{name}"'


def _port(port: int) -> int:
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is not a TCP port (1-65535)")
    return int(port)
