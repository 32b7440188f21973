"""Rules about the whitelist: the platform's egress IPs the customer admits."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Interface

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
