"""Rules about the VPC, the on-premises networks and the customer gateway."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from exchange.config.model import DocPath
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

LINK_LOCAL = IPv4Network("169.254.0.0/16")
SMALLEST_VPC_PREFIX, LARGEST_VPC_PREFIX = 28, 16
# Two subnets of at least /28 each (VPC-09) fit only in a /27 or larger.
SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS = 27


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
