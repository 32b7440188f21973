"""Rules about the whitelist: the platform's egress IPs the customer admits."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Interface
from urllib.parse import urlsplit

from exchange.config.model import DocPath
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule
from exchange.config.rules.network import _unroutable


def _egress_ips(context: RuleContext) -> Iterator[tuple[DocPath, str]]:
    whitelist = context.config.whitelist
    if whitelist is None:
        return
    for index in range(len(whitelist.egress_ips)):
        path = ("whitelist", "egressIps", index)
        yield path, context.text(path)


@rule("SG-04")
def egress_ips_are_single_addresses(context: RuleContext) -> Iterator[Problem]:
    """Each whitelisted egress IP is one address, written /32 (warning, inferred)."""
    for path, written in _egress_ips(context):
        interface = IPv4Interface(written)
        if interface.network.prefixlen == 32:
            continue
        if interface.ip == interface.network.network_address:
            hint = "list each egress IP on its own, as ADDRESS/32"
        else:
            hint = f"write {interface.ip}/32, and each other egress IP on its own"
        yield _warning(
            path,
            f"{written} admits {interface.network.num_addresses} addresses, but each "
            "egress IP of the platform is a single Elastic IP (inferred from SG-04)",
            hint,
            "SG-04",
        )


@rule("NAT-01")
def egress_ips_are_public(context: RuleContext) -> Iterator[Problem]:
    """Each whitelisted egress IP is a public address, as NAT gateway EIPs are."""
    for path, written in _egress_ips(context):
        address = IPv4Interface(written).ip
        what = _unroutable(address)
        if what:
            yield _error(
                path,
                f"{address} is {what}, but the platform's traffic reaches the "
                "customer from its NAT gateways' Elastic IPs, which are public "
                "(NAT-01, NAT-10)",
                "list the NAT gateways' Elastic IPs from the stack outputs after "
                "provisioning, or leave egressIps out until then",
                "NAT-01",
            )


# NAT-06: the stack has one NAT gateway, with its own Elastic IP, in each of
# the two availability zones of its private subnets (VPC-09).
NAT_GATEWAYS = 2


@rule("NAT-06")
def every_nat_gateway_is_whitelisted(context: RuleContext) -> Iterator[Problem]:
    """A whitelist that lists egress IPs admits one per NAT gateway (warning).

    Counted in addresses: a network admits several (SG-04 warns about it).
    """
    whitelist = context.config.whitelist
    if whitelist is None:
        return
    admitted = sum(network.num_addresses for network in whitelist.egress_ips)
    if not 0 < admitted < NAT_GATEWAYS:
        return
    yield _warning(
        ("whitelist", "egressIps"),
        "admits a single egress IP, but the stack has a NAT gateway in each of "
        "its two availability zones, each with its own Elastic IP, and traffic "
        "may leave from either (inferred from NAT-06)",
        "list every NAT gateway's Elastic IP from the stack outputs, and admit "
        "each of them in the firewall",
        "NAT-06",
    )


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _internet_exchanges(context: RuleContext) -> Iterator[tuple[str, DocPath, int]]:
    """Each exchange that reaches the customer from the egress IPs, and its port.

    As (what it is, where its port is written or implied, the port).
    """
    for database in context.config.remote_databases():
        if database.via == "whitelist":
            what = f"remote database {database.name}"
            yield what, (*database.path, "port"), database.target.port
    for service in context.config.web_services():
        # The schema has checked the URL; only its scheme and port are read,
        # never echoed, since it may carry credentials (SEC-04).
        url = urlsplit(service.url)
        if url.scheme == "http" and not service.allow_plain_http:
            continue  # refused by SEC-03; its fix, https, changes the port
        try:
            port = url.port or _DEFAULT_PORTS.get(url.scheme, 443)
        except ValueError:
            continue
        yield f"web service {service.name}", (*service.path, "url"), port


@rule("EXC-09")
def whitelist_admits_the_exchanges(context: RuleContext) -> Iterator[Problem]:
    """The whitelist admits every port that exchanges over the internet use.

    A remote database `via: whitelist` and every web service are called from
    the platform's egress IPs. Without a `whitelist:` section the file does
    not say what the firewall admits (warning: it may be declared later);
    a declared list that lacks a needed port is an error.
    """
    needed = list(_internet_exchanges(context))
    if not needed:
        return
    ports = sorted({port for _, _, port in needed})
    whitelist = context.config.whitelist
    if whitelist is None:
        listed = ", ".join(str(port) for port in ports)
        for what, path, port in needed:
            yield _warning(
                path,
                f"{what} is called over the internet from the platform's egress "
                f"IPs on port {port}, but the file has no whitelist: section that "
                "says what the customer's firewall admits",
                f"add whitelist: with ports: [{listed}] (egressIps follow after "
                "provisioning)",
                "EXC-09",
            )
        return
    reported: set[int] = set()
    for what, _, port in needed:
        if port in whitelist.ports or port in reported:
            continue
        reported.add(port)
        yield _error(
            ("whitelist", "ports"),
            f"{what} is called on port {port}, which whitelist.ports does not "
            "admit, so the customer's firewall refuses it",
            f"add {port} to whitelist.ports, and open it in the firewall",
            "EXC-09",
        )
