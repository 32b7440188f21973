"""Rules about remote-database exchanges (option 3): load balancer targets and hosts."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

from exchange.config.model import (
    SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS,
    DocPath,
    RemoteDatabase,
    VpnTarget,
    WhitelistTarget,
)
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

# CGW-01's judgement of an address, shared: what is routable on the internet
# does not depend on who is reached there.
from exchange.config.rules.network import DOCUMENTATION_RANGES, _unroutable

# NLB-02: the ranges an ip target outside the load balancer's VPC may be in.
PRIVATE_TARGET_RANGES = tuple(
    IPv4Network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _vpn_targets(context: RuleContext) -> Iterator[tuple[RemoteDatabase, VpnTarget]]:
    for database in context.config.remote_databases():
        if isinstance(database.target, VpnTarget):
            yield database, database.target


def _is_private_target(address: IPv4Address) -> bool:
    return any(address in network for network in PRIVATE_TARGET_RANGES)


@rule("NLB-02")
def targets_are_private(context: RuleContext) -> Iterator[Problem]:
    """A load balancer target on premises is a private address.

    NLB-02 also admits the VPC's own subnets; a target there is no on-premises
    database, which EXC-03 reports (it must lie in onPremises.networks).
    """
    for database, target in _vpn_targets(context):
        path = (*database.path, "address")
        if not _is_private_target(target.address):
            yield _error(
                path,
                f"{target.address} is not a private address: a network load "
                "balancer accepts ip targets only in 10.0.0.0/8, 172.16.0.0/12, "
                "192.168.0.0/16 or 100.64.0.0/10",
                "write the database's private on-premises address, or use "
                "via: whitelist for a database reachable from the internet",
                "NLB-02",
            )


@rule("EXC-03")
def targets_are_on_premises(context: RuleContext) -> Iterator[Problem]:
    """A load balancer target lies inside one of onPremises.networks."""
    on_premises = context.config.on_premises.networks
    listed = ", ".join(str(n) for n in on_premises)
    for database, target in _vpn_targets(context):
        # Addresses NLB-02 refuses are its to report.
        if not _is_private_target(target.address):
            continue
        if target.address in context.config.vpc.cidr:
            where = f"lies inside the VPC {context.config.vpc.cidr}, not on premises"
        elif not any(target.address in network for network in on_premises):
            where = f"is not inside any of onPremises.networks ({listed})"
        else:
            continue
        yield _error(
            (*database.path, "address"),
            f"{target.address} {where}, so no route takes the load balancer's "
            "traffic into the tunnel",
            "add the database's network to onPremises.networks, or correct the address",
            "EXC-03",
        )


@rule("NLB-21")
def firewall_admits_the_load_balancer(context: RuleContext) -> Iterator[Problem]:
    """A declared firewall allowlist admits the load balancer's subnets."""
    for database, _ in _vpn_targets(context):
        allowlist = database.firewall_allowlist
        if not allowlist:
            continue
        vpc = context.config.vpc
        # A VPC too small for two subnets is VPC-01's or VPC-09's to report.
        fits_two = vpc.cidr.prefixlen <= SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS
        subnets = vpc.private_subnets() if fits_two else (vpc.cidr,)
        missing = [s for s in subnets if not any(s.subnet_of(a) for a in allowlist)]
        if missing:
            shown = " and ".join(str(s) for s in missing)
            yield _error(
                (*database.path, "firewallAllowlist"),
                f"the allowlist does not admit {shown}, where the load balancer's "
                "nodes are, so the database's firewall would drop its connections "
                "and health checks (the load balancer does not keep the client's "
                "address)",
                f"add the VPC's range {context.config.vpc.cidr} to the allowlist",
                "NLB-21",
            )


@rule("MY-09")
def pool_closes_idle_connections_first(context: RuleContext) -> Iterator[Problem]:
    """The apps' pool drops idle connections before the load balancer does (warning)."""
    for database, target in _vpn_targets(context):
        if database.pool_max_idle_seconds < target.idle_timeout_seconds:
            continue
        path: DocPath = (*database.path, "poolMaxIdleSeconds")
        if context.document.value(path) is None:
            path = (*database.path, "idleTimeoutSeconds")
        yield _warning(
            path,
            f"the pool keeps idle connections {database.pool_max_idle_seconds} s, "
            f"but the load balancer drops idle flows after "
            f"{target.idle_timeout_seconds} s, so the apps would use connections "
            "that are already gone (inferred)",
            "set poolMaxIdleSeconds below idleTimeoutSeconds, or raise "
            "idleTimeoutSeconds (up to 6000, NLB-18)",
            "MY-09",
        )


def _whitelist_hosts(
    context: RuleContext,
) -> Iterator[tuple[RemoteDatabase, WhitelistTarget, IPv4Address]]:
    for database in context.config.remote_databases():
        target = database.target
        if isinstance(target, WhitelistTarget):
            try:
                address = IPv4Address(target.host)
            except ValueError:
                continue  # a DNS name: resolved only when the checks run
            yield database, target, address


@rule("EXC-04")
def whitelisted_host_is_public(context: RuleContext) -> Iterator[Problem]:
    """A database reached via whitelist has a public address."""
    for database, _, address in _whitelist_hosts(context):
        path = (*database.path, "host")
        if any(address in network for network in DOCUMENTATION_RANGES):
            yield _warning(
                path,
                f"{address} is in a documentation range: fine for the simulator, "
                "not reachable on the internet",
                "use the database's public address before provisioning on AWS",
                "EXC-04",
            )
            continue
        what = _unroutable(address)
        if what:
            yield _error(
                path,
                f"{address} is {what}, which the platform cannot reach over the "
                "internet",
                "write the database's public address or DNS name, or use via: vpn "
                "for a database in an on-premises network",
                "EXC-04",
            )
