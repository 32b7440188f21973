"""Rules about the VPC, the on-premises networks and the customer gateway."""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from exchange.config.model import SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS, DocPath
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

LINK_LOCAL = IPv4Network("169.254.0.0/16")
# VPC-02: the private ranges AWS recommends for a VPC.
RFC_1918 = tuple(
    IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
# VPC-03: used by some AWS services (Cloud9, SageMaker).
AWS_SERVICES_RANGE = IPv4Network("172.17.0.0/16")
SMALLEST_VPC_PREFIX, LARGEST_VPC_PREFIX = 28, 16


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


def _cidr_paths(context: RuleContext) -> Iterator[DocPath]:
    """Every CIDR of the VPC and the on-premises side, as document paths."""
    config = context.config
    yield ("vpc", "cidr")
    for index in range(len(config.on_premises.networks)):
        yield ("onPremises", "networks", index)
    for database in config.app_databases():
        for index in range(len(database.client_networks)):
            yield (*database.path, "clientNetworks", index)


def _allowlist_paths(context: RuleContext) -> Iterator[DocPath]:
    """Every entry of the remote databases' firewall allowlists.

    Apart from `_cidr_paths`: an allowlist names the VPC on purpose (NLB-21).
    """
    for database in context.config.remote_databases():
        for index in range(len(database.firewall_allowlist)):
            yield (*database.path, "firewallAllowlist", index)


@rule("VPC-08")
def cidrs_are_network_addresses(context: RuleContext) -> Iterator[Problem]:
    """A CIDR names its network address, not a host inside it."""
    for path in itertools.chain(_cidr_paths(context), _allowlist_paths(context)):
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


@rule("VPC-02")
def vpc_is_private(context: RuleContext) -> Iterator[Problem]:
    """The VPC CIDR lies in an RFC 1918 range (warning: public blocks are allowed)."""
    cidr = context.config.vpc.cidr
    if cidr.overlaps(LINK_LOCAL) or any(cidr.subnet_of(r) for r in RFC_1918):
        return  # link-local is VPC-04's error
    yield _warning(
        ("vpc", "cidr"),
        f"{cidr} is outside the private ranges of RFC 1918 that AWS recommends; "
        "AWS allows it, but other networks with these addresses, on the internet "
        "or elsewhere, become unreachable from the VPC",
        "use a block from 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. "
        "10.42.0.0/16, unless this block is yours and chosen on purpose",
        "VPC-02",
    )


@rule("VPC-03")
def vpc_avoids_the_aws_services_range(context: RuleContext) -> Iterator[Problem]:
    """The VPC CIDR stays clear of 172.17.0.0/16 (warning)."""
    cidr = context.config.vpc.cidr
    if cidr.overlaps(AWS_SERVICES_RANGE):
        yield _warning(
            ("vpc", "cidr"),
            f"{cidr} overlaps 172.17.0.0/16, which some AWS services (Cloud9, "
            "SageMaker) use, so they may not work in this VPC",
            "use another private block, e.g. 172.18.0.0/16 or 10.42.0.0/16",
            "VPC-03",
        )


@rule("VPC-09")
def vpc_has_room_for_two_subnets(context: RuleContext) -> Iterator[Problem]:
    """The VPC is a /27 or larger, to hold two private subnets of at least a /28.

    Whatever the exchanges, the stack puts one private subnet in each of two
    availability zones, and a subnet is at least a /28 (VPC-09). VPCs
    outside /16 to /28 are VPC-01's to report.
    """
    cidr = context.config.vpc.cidr
    if SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS < cidr.prefixlen <= SMALLEST_VPC_PREFIX:
        yield _error(
            ("vpc", "cidr"),
            f"a /{cidr.prefixlen} VPC holds only one /28 subnet, but the stack puts "
            "one private subnet in each of two availability zones, each at least "
            "a /28",
            "use a /27 or larger VPC, e.g. "
            f"{cidr.supernet(new_prefix=SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS)}",
            "VPC-09",
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
    first_overlaps = _first_overlaps(config.on_premises.networks)
    for later, earlier in sorted(first_overlaps.items()):
        path = ("onPremises", "networks", later)
        yield _warning(
            path,
            f"{context.text(path)} overlaps onPremises.networks[{earlier}] "
            f"({context.text(('onPremises', 'networks', earlier))})",
            "list only the enclosing network, or split them so that they "
            "do not overlap",
            "VPC-12",
        )


def _first_overlaps(networks: Sequence[IPv4Network]) -> dict[int, int]:
    """For each network that overlaps an earlier one, the first one it overlaps.

    Two CIDR blocks overlap only when one holds the other. Sorted by address
    (the larger block first), the blocks that hold a network are the open
    ones on a stack, and those it holds follow it in one run; the smallest
    index among both, if it is smaller than the network's own, is the
    answer. O(n log n), where comparing every pair took minutes for a long
    list.
    """
    count = len(networks)
    order = sorted(
        range(count),
        key=lambda i: (int(networks[i].network_address), networks[i].prefixlen, i),
    )
    starts = [int(networks[i].network_address) for i in order]
    smallest_index = _RangeMinimum(order)
    # (last address, smallest index of this block and those holding it)
    holders: list[tuple[int, int]] = []
    found: dict[int, int] = {}
    for position, index in enumerate(order):
        first = starts[position]
        last = int(networks[index].broadcast_address)
        while holders and holders[-1][0] < first:
            holders.pop()
        candidate = holders[-1][1] if holders else count
        held_end = bisect_right(starts, last, lo=position + 1)
        if held_end > position + 1:
            candidate = min(candidate, smallest_index(position + 1, held_end))
        if candidate < index:
            found[index] = candidate
        holders.append((last, min(index, holders[-1][1] if holders else count)))
    return found


class _RangeMinimum:
    """The smallest of values[start:end], in constant time (a sparse table)."""

    def __init__(self, values: Sequence[int]) -> None:
        self.levels = [list(values)]
        width = 1
        while 2 * width <= len(values):
            below = self.levels[-1]
            self.levels.append(
                [min(below[i], below[i + width]) for i in range(len(below) - width)]
            )
            width *= 2

    def __call__(self, start: int, end: int) -> int:
        level = (end - start).bit_length() - 1
        row = self.levels[level]
        return min(row[start], row[end - (1 << level)])


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
