"""cloud.path: whether the cloud's configuration lets a path through the VPN.

Like AWS Reachability Analyzer, but across the VPN: no packet is sent. The
check reads the cloud's API state (documented describe calls only, so that
it reads AWS and the simulator alike) and walks the path hop by hop, naming
the first hop that blocks it, with the resource and the rule or field.

For an app database (options 1 and 2) the path runs from each client network
on premises, through the VPN connection and the VPN gateway, to the subnets
of the database's subnet group (every one of them: a failover moves the
instance between them), and back:

1. the VPN connection is available and a tunnel is UP;
2. the connection routes the client network (static routing; with BGP the
   device announces it);
3. each subnet's route table sends the client network back to the VPN
   gateway, by longest prefix match;
4. each subnet's network ACL admits the port inbound and the answers
   (ephemeral ports) outbound; ACLs are stateless;
5. the instance's security groups admit the port from the client network;
   they are stateful, so the answers need no rule.

For a remote database through the VPN (option 3) the path runs from the load
balancer's subnets to the on-premises address: route tables, network ACLs,
the load balancer's security groups (egress: they filter its connections to
the target), the VPN connection's routes and its tunnels. What the API
cannot see, the customer's firewall, the evidence says last.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.result import Outcome, errored, failed, passed, skipped
from checks.target import MissingOutput, Target
from exchange.config.model import RemoteDatabase, VpnTarget
from infra import outputs as keys

log = logging.getLogger("checks")

# The ports a client's answers come back to: AWS's advice for network ACLs,
# which covers every common operating system's ephemeral range.
EPHEMERAL_PORTS = (1024, 65535)
ALL_PORTS = (0, 65535)

# The rule AWS lists last in every network ACL: it denies what no rule allows.
DEFAULT_ACL_RULE = 32767

# Where a route leads, in the order AWS's RouteTable describes targets.
_ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "EgressOnlyInternetGatewayId",
    "CoreNetworkArn",
)
_PROPAGATED = "EnableVgwRoutePropagation"


class _Blocked(Exception):
    """A hop blocks the path; `outcome` says which and why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.evidence)
        self.outcome = outcome


def cloud_path(target: Target, planned: PlannedCheck) -> Outcome:
    name = planned.exchange
    walk = _Walk(target, time.monotonic() + planned.timeout_s * 0.8)
    try:
        if any(e.name == name for e in target.config.app_databases()):
            return _database_path(walk, name)
        exchange = next(
            (e for e in target.config.remote_databases() if e.name == name), None
        )
        if exchange is None:
            raise LookupError(f"the configuration has no database exchange {name!r}")
        if not isinstance(exchange.target, VpnTarget):
            return skipped(
                f"{name} is reached over the internet, not through the VPN",
                "the whitelist checks prove that path",
            )
        return _remote_database_path(walk, exchange, exchange.target)
    except _Blocked as blocked:
        return blocked.outcome


class _Walk:
    """The cloud's API as the walk reads it, within the check's time budget."""

    def __init__(self, target: Target, deadline: float) -> None:
        self.target = target
        self.deadline = deadline
        self.hops: list[str] = []  # what passed so far, for the evidence

    def call(self, service: str, operation: str, **parameters: Any) -> dict[str, Any]:
        if time.monotonic() >= self.deadline:
            raise _Blocked(
                errored(
                    "the cloud's API answered too slowly to finish the walk"
                    + (f" (passed: {' -> '.join(self.hops)})" if self.hops else ""),
                    "",
                    dx.CHECK_TIMEOUT,
                )
            )
        log.debug("cloud.path: %s %s %s", service, operation, parameters)
        return getattr(self.target.client(service), operation)(**parameters)

    def blocked(self, detail: str, hint: str, diagnosis: dx.Diagnosis) -> _Blocked:
        evidence = " -> ".join([*self.hops, detail])
        return _Blocked(failed(evidence, hint, diagnosis))


# -- app databases: the client networks to the database ------------------------


def _database_path(walk: _Walk, name: str) -> Outcome:
    target = walk.target
    exchange, database = target.database(name)
    gateway_id = target.output(keys.VPN_GATEWAY_ID)
    connection = _vpn_connection(walk, gateway_id)
    tunnels = _tunnels_up(walk, connection)
    (instance,) = walk.call(
        "rds",
        "describe_db_instances",
        DBInstanceIdentifier=database[keys.DB_INSTANCE_ID],
    )["DBInstances"]
    subnet_group = instance.get("DBSubnetGroup", {})
    subnet_ids = [s["SubnetIdentifier"] for s in subnet_group.get("Subnets", [])]
    if not subnet_ids:
        raise walk.blocked(
            f"{instance['DBInstanceIdentifier']} is in no VPC subnet",
            "provision the database again, in the stack's subnet group",
            dx.NOT_PROVISIONED,
        )
    tables = _route_tables(walk, subnet_ids, subnet_group["VpcId"])
    acls = _network_acls(walk, subnet_ids)
    group_ids = sorted(g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"])
    if not group_ids:
        raise walk.blocked(
            f"{instance['DBInstanceIdentifier']} is in no security group",
            "provision the database again, in the stack's security group",
            dx.NOT_PROVISIONED,
        )
    groups = walk.call("ec2", "describe_security_groups", GroupIds=group_ids)[
        "SecurityGroups"
    ]
    port = exchange.port
    endpoint = f"{instance['DBInstanceIdentifier']}:{port}"
    paths = []
    for network in exchange.client_networks:
        walk.hops = [str(network)]
        route = _vpn_route(walk, connection, network)
        walk.hops.append(f"{connection['VpnConnectionId']} ({route}, {tunnels})")
        walk.hops.append(_return_routes(walk, tables, network, gateway_id))
        walk.hops.append(
            _acls_admit(
                walk,
                acls,
                inbound=[_Traffic(network, (port, port))],
                outbound=[_Traffic(network, EPHEMERAL_PORTS)],
            )
        )
        walk.hops.append(_groups_admit(walk, groups, network, port, database))
        walk.hops.append(endpoint)
        paths.append(" -> ".join(walk.hops))
    return passed("; ".join(paths))


# -- remote databases: the load balancer to the on-premises address ------------


def _remote_database_path(
    walk: _Walk, exchange: RemoteDatabase, remote: VpnTarget
) -> Outcome:
    target = walk.target
    outputs = target.output(keys.REMOTE_DATABASES)
    if exchange.name not in outputs:
        raise MissingOutput(
            f"the stack has no remote database output for {exchange.name!r}"
        )
    gateway_id = target.output(keys.VPN_GATEWAY_ID)
    (group,) = walk.call(
        "elbv2",
        "describe_target_groups",
        TargetGroupArns=[outputs[exchange.name][keys.NLB_TARGET_GROUP_ARN]],
    )["TargetGroups"]
    if not group.get("LoadBalancerArns"):
        raise walk.blocked(
            f"target group {group['TargetGroupName']} is behind no load balancer",
            "provision the stack again: a listener must forward to the target group",
            dx.NOT_PROVISIONED,
        )
    (balancer,) = walk.call(
        "elbv2", "describe_load_balancers", LoadBalancerArns=group["LoadBalancerArns"]
    )["LoadBalancers"]
    subnet_ids = [z["SubnetId"] for z in balancer.get("AvailabilityZones", [])]
    if not subnet_ids:
        raise walk.blocked(
            f"load balancer {balancer['LoadBalancerName']} is in no subnet",
            "provision the stack again: the load balancer needs the private subnets",
            dx.NOT_PROVISIONED,
        )
    address = IPv4Network(f"{remote.address}/32")
    ports = _remote_ports(remote.port, group.get("HealthCheckPort"))
    walk.hops = [f"{balancer['LoadBalancerName']} ({', '.join(subnet_ids)})"]
    # The tunnels first: without one UP the VPN gateway propagates no route,
    # and a route table that lacks one is only the symptom (VGW-09).
    connection = _vpn_connection(walk, gateway_id)
    tunnels = _tunnels_up(walk, connection)
    tables = _route_tables(walk, subnet_ids, balancer["VpcId"])
    walk.hops.append(_return_routes(walk, tables, address, gateway_id))
    acls = _network_acls(walk, subnet_ids)
    walk.hops.append(
        _acls_admit(
            walk,
            acls,
            inbound=[_Traffic(address, EPHEMERAL_PORTS)],
            outbound=[_Traffic(address, (p, p)) for p in ports],
        )
    )
    walk.hops.append(
        _balancer_groups_admit(walk, balancer, address, ports, outputs[exchange.name])
    )
    route = _vpn_route(walk, connection, address)
    walk.hops.append(f"{connection['VpnConnectionId']} ({route}, {tunnels})")
    walk.hops.append(f"{remote.address}:{remote.port}")
    return passed(
        " -> ".join(walk.hops) + "; " + _firewall_unseen(walk.target, exchange)
    )


def _remote_ports(port: int, health_check_port: str | None) -> list[int]:
    """The traffic port, and the health checks' if they probe another one."""
    ports = {port}
    if health_check_port and health_check_port.isdigit():
        ports.add(int(health_check_port))
    return sorted(ports)


def _firewall_unseen(target: Target, exchange: RemoteDatabase) -> str:
    vpc = target.config.vpc.cidr
    allowlist = exchange.firewall_allowlist
    said = (
        f"not visible to the API: the customer's firewall must admit {vpc}, the "
        "VPC's network the load balancer connects from"
    )
    if not allowlist:
        return said + " (firewallAllowlist names no network)"
    listed = ", ".join(str(n) for n in allowlist)
    if _uncovered(vpc, allowlist):
        return said + f" (firewallAllowlist {listed} does not cover it all)"
    return said + f" (firewallAllowlist: {listed})"


def _balancer_groups_admit(
    walk: _Walk,
    balancer: dict[str, Any],
    address: IPv4Network,
    ports: list[int],
    output: dict[str, Any],
) -> str:
    group_ids = sorted(balancer.get("SecurityGroups", []))
    if not group_ids:
        return "no security group (the load balancer filters nothing)"
    groups = walk.call("ec2", "describe_security_groups", GroupIds=group_ids)[
        "SecurityGroups"
    ]
    names = ", ".join(group_ids)
    admitted = []
    for port in ports:
        rules = _group_ranges(groups, port, egress=True)
        if _uncovered(address, [cidr for _, cidr in rules]):
            group_id = output.get(keys.NLB_SECURITY_GROUP_ID, group_ids[0])
            seen = _described_rules(rules) or "no egress rule on the port"
            raise walk.blocked(
                f"{names}: no egress rule admits TCP {port} to "
                f"{address.network_address} ({seen})",
                f"add an egress rule TCP {port} to {address} to {group_id}: the load "
                "balancer's security groups filter its connections to the target too",
                dx.SECURITY_GROUP_DENIES,
            )
        admitted.append(f"tcp {port}")
    return f"{names} (egress {', '.join(admitted)} to {address})"


# -- the VPN connection ---------------------------------------------------------


def _vpn_connection(walk: _Walk, gateway_id: str) -> dict[str, Any]:
    connection_id = walk.target.output(keys.VPN_CONNECTION_ID)
    (connection,) = walk.call(
        "ec2", "describe_vpn_connections", VpnConnectionIds=[connection_id]
    )["VpnConnections"]
    state = connection.get("State")
    if state != "available":
        diagnosis = dx.TUNNELS_DOWN if state == "pending" else dx.NOT_PROVISIONED
        raise walk.blocked(
            f"{connection_id} is {state}",
            "wait for a pending connection; a deleted one must be provisioned again "
            "(exchange up)",
            diagnosis,
        )
    if connection.get("VpnGatewayId") != gateway_id:
        raise walk.blocked(
            f"{connection_id} terminates on {connection.get('VpnGatewayId')}, not on "
            f"the stack's VPN gateway {gateway_id}",
            "provision the stack again so that the connection uses its gateway",
            dx.DRIFT,
        )
    return connection


def _tunnels_up(walk: _Walk, connection: dict[str, Any]) -> str:
    telemetry = connection.get("VgwTelemetry", [])
    up = [t for t in telemetry if t.get("Status") == "UP"]
    if not up:
        tunnels = ", ".join(
            f"{t.get('OutsideIpAddress')} {t.get('Status', 'UNKNOWN')}"
            + (f" ({t['StatusMessage']})" if t.get("StatusMessage") else "")
            for t in telemetry
        )
        raise walk.blocked(
            f"{connection['VpnConnectionId']}: no tunnel is UP"
            + (f" ({tunnels})" if tunnels else ""),
            "nothing crosses the VPN until a tunnel is UP: see the vpn.tunnels check "
            "and the customer gateway's IKE log",
            dx.TUNNELS_DOWN,
        )
    # One tunnel DOWN still carries traffic; vpn.tunnels warns of redundancy.
    return f"{len(up)}/{len(telemetry)} UP"


def _vpn_route(walk: _Walk, connection: dict[str, Any], network: IPv4Network) -> str:
    if walk.target.config.on_premises.routing != "static":
        return "announced by BGP"
    connection_id = connection["VpnConnectionId"]
    routes = [
        IPv4Network(r["DestinationCidrBlock"])
        for r in connection.get("Routes", [])
        if r.get("State") == "available" and r.get("DestinationCidrBlock")
    ]
    if _uncovered(network, routes):
        listed = ", ".join(str(r) for r in routes) or "none"
        raise walk.blocked(
            f"{connection_id} has no available static route covering {network} "
            f"(its routes: {listed})",
            f"add the static route {_on_premises(walk.target, network)} to "
            f"{connection_id} "
            "(CreateVpnConnectionRoute), or provision again",
            dx.ROUTE_MISSING,
        )
    covering = [r for r in routes if r.overlaps(network)]
    if covering == [network]:
        return "static route"
    return f"static route{'s' if len(covering) > 1 else ''} " + ", ".join(
        str(r) for r in covering
    )


def _on_premises(target: Target, network: IPv4Network) -> IPv4Network:
    """The configured on-premises network that holds `network`, or itself."""
    for configured in target.config.on_premises.networks:
        if network.subnet_of(configured):
            return configured
    return network


# -- route tables ---------------------------------------------------------------


def _route_tables(
    walk: _Walk, subnet_ids: list[str], vpc_id: str
) -> dict[str, dict[str, Any]]:
    """Each subnet's route table: its own association, else the VPC's main table."""
    found = walk.call(
        "ec2",
        "describe_route_tables",
        Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}],
    )["RouteTables"]
    tables: dict[str, dict[str, Any]] = {}
    for table in found:
        for association in table.get("Associations", []):
            if association.get("SubnetId") in subnet_ids:
                tables[association["SubnetId"]] = table
    if any(s not in tables for s in subnet_ids):
        (main,) = walk.call(
            "ec2",
            "describe_route_tables",
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ],
        )["RouteTables"]
        for subnet_id in subnet_ids:
            tables.setdefault(subnet_id, main)
    return tables


def _return_routes(
    walk: _Walk,
    tables: dict[str, dict[str, Any]],
    network: IPv4Network,
    gateway_id: str,
) -> str:
    """Whether every table sends all of `network` to the VPN gateway."""
    by_route: dict[str, list[str]] = {}
    for table in _unique(tables.values(), "RouteTableId"):
        table_id = table["RouteTableId"]
        for part, route in _longest_prefix_routes(table, network):
            if (
                route is not None
                and _route_target(route) == gateway_id
                and route.get("State") == "active"
            ):
                described = f"{route['DestinationCidrBlock']} via {gateway_id}"
                by_route.setdefault(described, []).append(table_id)
                continue
            raise walk.blocked(
                _misrouted(table, part, network, route, gateway_id),
                _route_hint(table, part, network, route, gateway_id),
                dx.ROUTE_MISSING,
            )
    return "; ".join(
        f"{', '.join(dict.fromkeys(ids))} ({described})"
        for described, ids in by_route.items()
    )


def _longest_prefix_routes(
    table: dict[str, Any], network: IPv4Network
) -> list[tuple[IPv4Network, dict[str, Any] | None]]:
    """The parts of `network` and the route each takes, by longest prefix match.

    A more specific route wins for the addresses it covers; of two equal
    prefixes, a static route wins over a propagated one, as in AWS.
    """
    routes = [
        (IPv4Network(r["DestinationCidrBlock"]), r)
        for r in table.get("Routes", [])
        if r.get("DestinationCidrBlock")
    ]
    overlapping = [(d, r) for d, r in routes if d.overlaps(network)]
    start = int(network.network_address)
    end = int(network.broadcast_address) + 1
    cuts = {start, end}
    for destination, _ in overlapping:
        for edge in (
            int(destination.network_address),
            int(destination.broadcast_address) + 1,
        ):
            if start < edge < end:
                cuts.add(edge)
    points = sorted(cuts)
    decided: list[tuple[IPv4Network, dict[str, Any] | None]] = []
    # Between two cuts every address takes the same route.
    for low, high in itertools.pairwise(points):
        containing = [
            (d, r)
            for d, r in overlapping
            if int(d.network_address) <= low and high - 1 <= int(d.broadcast_address)
        ]
        best = max(
            containing,
            key=lambda c: (c[0].prefixlen, c[1].get("Origin") != _PROPAGATED),
            default=None,
        )
        route = best[1] if best else None
        for part in ipaddress.summarize_address_range(
            IPv4Address(low), IPv4Address(high - 1)
        ):
            decided.append((part, route))
    return decided


def _route_target(route: dict[str, Any]) -> str:
    for key in _ROUTE_TARGETS:
        if route.get(key):
            return route[key]
    return "nowhere"


def _gateway_route(
    table: dict[str, Any], part: IPv4Network, gateway_id: str
) -> dict[str, Any] | None:
    """A route to the VPN gateway that covers `part`, whether it wins or not."""
    for route in table.get("Routes", []):
        destination = route.get("DestinationCidrBlock")
        if (
            destination
            and _route_target(route) == gateway_id
            and part.subnet_of(IPv4Network(destination))
        ):
            return route
    return None


def _misrouted(
    table: dict[str, Any],
    part: IPv4Network,
    network: IPv4Network,
    route: dict[str, Any] | None,
    gateway_id: str,
) -> str:
    table_id = table["RouteTableId"]
    which = str(part) if part == network else f"{part} (part of {network})"
    if route is None:
        return f"{table_id} has no route to {which}"
    destination = route["DestinationCidrBlock"]
    if _route_target(route) == gateway_id:
        return (
            f"{table_id}: the route {destination} via {gateway_id} to {which} is "
            f"{route.get('State')}"
        )
    sent = f"{table_id} sends {which} to {_route_target(route)} by its route "
    losing = _gateway_route(table, part, gateway_id)
    if losing is None:
        return sent + f"{destination}: no route to {gateway_id} covers it"
    return (
        sent + f"{destination}, more specific than its route "
        f"{losing['DestinationCidrBlock']} via {gateway_id} (longest prefix wins)"
    )


def _route_hint(
    table: dict[str, Any],
    part: IPv4Network,
    network: IPv4Network,
    route: dict[str, Any] | None,
    gateway_id: str,
) -> str:
    table_id = table["RouteTableId"]
    propagating = {g.get("GatewayId") for g in table.get("PropagatingVgws", [])}
    if (
        route is not None
        and _route_target(route) != gateway_id
        and _gateway_route(table, part, gateway_id) is not None
    ):
        return (
            f"the route {route['DestinationCidrBlock']} to {_route_target(route)} in "
            f"{table_id} is more specific than any route to {gateway_id} and wins: "
            f"remove or narrow it (or route {part} to {gateway_id} instead)"
        )
    if gateway_id in propagating:
        return (
            f"{table_id} propagates from {gateway_id}, but propagated routes appear "
            "only while a tunnel is UP and only for the connection's routes "
            f"(VGW-09): bring a tunnel up and route {network} on the connection"
        )
    return (
        f"{table_id} does not propagate from {gateway_id}: enable route propagation "
        f"(VGW-09: propagated routes appear only while a tunnel is UP), or add the "
        f"route {network} to {gateway_id}"
    )


# -- network ACLs -----------------------------------------------------------------


@dataclass(frozen=True)
class _Traffic:
    """TCP to or from the addresses of `network` on the ports `ports`."""

    network: IPv4Network
    ports: tuple[int, int]


# A block of traffic: addresses and ports, both inclusive integer ranges.
_Block = tuple[int, int, int, int]


def _network_acls(walk: _Walk, subnet_ids: list[str]) -> list[dict[str, Any]]:
    acls = walk.call(
        "ec2",
        "describe_network_acls",
        Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}],
    )["NetworkAcls"]
    return list(_unique(acls, "NetworkAclId"))


def _acls_admit(
    walk: _Walk,
    acls: list[dict[str, Any]],
    *,
    inbound: list[_Traffic],
    outbound: list[_Traffic],
) -> str:
    """Whether each ACL lets the traffic in and out; stateless, so both ways."""
    described = []
    for acl in acls:
        acl_id = acl["NetworkAclId"]
        deciding: dict[str, list[str]] = {"in": [], "out": []}
        for egress, wanted in ((False, inbound), (True, outbound)):
            direction = "out" if egress else "in"
            for traffic in wanted:
                allowing, denied = _acl_decision(acl, egress, traffic)
                if denied is not None:
                    rule, block = denied
                    raise walk.blocked(
                        _acl_denial(acl_id, egress, rule, block, traffic),
                        _acl_hint(acl_id, egress, rule, traffic),
                        dx.SECURITY_GROUP_DENIES,
                    )
                deciding[direction] += [str(n) for n in allowing]
        rules = "; ".join(
            f"{direction}: rule{'s' if len(set(numbers)) > 1 else ''} "
            f"{', '.join(dict.fromkeys(numbers))} "
            f"allow{'' if len(set(numbers)) > 1 else 's'}"
            for direction, numbers in deciding.items()
        )
        described.append(f"{acl_id} ({rules})")
    return ", ".join(described)


def _acl_decision(
    acl: dict[str, Any], egress: bool, traffic: _Traffic
) -> tuple[list[int], tuple[int | None, _Block] | None]:
    """The rules that allow the traffic, or the first rule that denies part of it.

    Entries are evaluated like AWS does, in rule-number order, the first
    that matches a packet deciding it; what no entry matches, the default
    rule denies (`None` as the rule number when the API lists no entry
    for it, as moto does for a new ACL).
    """
    network = traffic.network
    remaining: list[_Block] = [
        (
            int(network.network_address),
            int(network.broadcast_address),
            *traffic.ports,
        )
    ]
    allowing: list[int] = []
    entries = sorted(
        (e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress),
        key=lambda e: e["RuleNumber"],
    )
    for entry in entries:
        rule = _entry_block(entry)
        if rule is None:
            continue
        hits = [b for b in (_intersection(r, rule) for r in remaining) if b]
        if not hits:
            continue
        if entry.get("RuleAction") != "allow":
            return allowing, (entry["RuleNumber"], hits[0])
        allowing.append(entry["RuleNumber"])
        remaining = [piece for block in remaining for piece in _without(block, rule)]
        if not remaining:
            return allowing, None
    return allowing, (None, remaining[0])


def _entry_block(entry: dict[str, Any]) -> _Block | None:
    """What an ACL entry matches of TCP traffic, or None if it matches none."""
    cidr = entry.get("CidrBlock")
    protocol = str(entry.get("Protocol"))
    if not cidr or protocol not in ("-1", "6"):
        return None
    if protocol == "-1":
        low, high = ALL_PORTS
    else:
        ports = entry.get("PortRange") or {}
        low, high = ports.get("From", ALL_PORTS[0]), ports.get("To", ALL_PORTS[1])
    network = IPv4Network(cidr)
    return (int(network.network_address), int(network.broadcast_address), low, high)


def _intersection(a: _Block, b: _Block) -> _Block | None:
    block = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))
    if block[0] > block[1] or block[2] > block[3]:
        return None
    return block


def _without(block: _Block, rule: _Block) -> list[_Block]:
    """`block` less what `rule` covers, as at most four blocks."""
    cut = _intersection(block, rule)
    if cut is None:
        return [block]
    a0, a1, p0, p1 = block
    c0, c1, q0, q1 = cut
    pieces = [
        (a0, c0 - 1, p0, p1),  # addresses below the cut
        (c1 + 1, a1, p0, p1),  # addresses above it
        (c0, c1, p0, q0 - 1),  # the cut's addresses, lower ports
        (c0, c1, q1 + 1, p1),  # the cut's addresses, higher ports
    ]
    return [p for p in pieces if p[0] <= p[1] and p[2] <= p[3]]


def _acl_denial(
    acl_id: str,
    egress: bool,
    rule: int | None,
    block: _Block,
    traffic: _Traffic,
) -> str:
    addresses = ", ".join(
        str(n)
        for n in ipaddress.summarize_address_range(
            IPv4Address(block[0]), IPv4Address(block[1])
        )
    )
    ports = _ports(block[2], block[3])
    way = "outbound" if egress else "inbound"
    preposition = "to" if egress else "from"
    what = f"TCP {ports} {preposition} {addresses}"
    if rule is None or rule == DEFAULT_ACL_RULE:
        return f"{acl_id}: no {way} rule allows {what}; the default rule * denies it"
    return f"{acl_id}: {way} rule {rule} denies {what}"


def _acl_hint(
    acl_id: str,
    egress: bool,
    rule: int | None,
    traffic: _Traffic,
) -> str:
    way = "outbound" if egress else "inbound"
    preposition = "to" if egress else "from"
    where = (
        "numbered before the default rule"
        if rule is None or rule == DEFAULT_ACL_RULE
        else f"numbered below {rule}, or remove rule {rule}"
    )
    hint = (
        f"add an {way} allow rule for TCP {_ports(*traffic.ports)} {preposition} "
        f"{traffic.network} to {acl_id}, {where}"
    )
    if traffic.ports == EPHEMERAL_PORTS:
        hint += " (network ACLs are stateless: the answers need a rule of their own)"
    return hint


def _ports(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


# -- security groups ---------------------------------------------------------------


def _groups_admit(
    walk: _Walk,
    groups: list[dict[str, Any]],
    network: IPv4Network,
    port: int,
    database: dict[str, Any],
) -> str:
    """Whether the instance's groups, together, admit `network` on `port`."""
    names = ", ".join(sorted(g["GroupId"] for g in groups))
    rules = _group_ranges(groups, port, egress=False)
    missing = _uncovered(network, [cidr for _, cidr in rules])
    if missing:
        group_id = database.get(keys.DB_SECURITY_GROUP_ID) or names
        raise walk.blocked(
            f"{names}: no ingress rule admits TCP {port} from "
            f"{', '.join(str(m) for m in missing)} "
            f"({_described_rules(rules) or 'no ingress rule on the port'})",
            f"add an ingress rule TCP {port} from {network} to {group_id}",
            dx.SECURITY_GROUP_DENIES,
        )
    by_group: dict[str, list[str]] = {}
    for group_id, cidr in rules:
        if not cidr.overlaps(network):
            continue
        by_group.setdefault(group_id, []).append(str(cidr))
    return ", ".join(
        f"{group_id} (tcp {port} from {', '.join(dict.fromkeys(cidrs))})"
        for group_id, cidrs in by_group.items()
    )


def _group_ranges(
    groups: list[dict[str, Any]], port: int, *, egress: bool
) -> list[tuple[str, IPv4Network]]:
    """The IPv4 ranges the groups' rules admit TCP `port` from (or to)."""
    key = "IpPermissionsEgress" if egress else "IpPermissions"
    ranges = []
    for group in groups:
        for permission in group.get(key, []):
            if not _admits_port(permission, port):
                continue
            for ip_range in permission.get("IpRanges", []):
                ranges.append((group["GroupId"], IPv4Network(ip_range["CidrIp"])))
    return ranges


def _admits_port(permission: dict[str, Any], port: int) -> bool:
    protocol = str(permission.get("IpProtocol"))
    if protocol == "-1":
        return True
    if protocol not in ("tcp", "6"):
        return False
    low = permission.get("FromPort", ALL_PORTS[0])
    high = permission.get("ToPort", ALL_PORTS[1])
    return low <= port <= high


def _described_rules(rules: list[tuple[str, IPv4Network]]) -> str:
    if not rules:
        return ""
    return "the port is open to " + ", ".join(
        dict.fromkeys(f"{cidr} in {group_id}" for group_id, cidr in rules)
    )


# -- addresses ---------------------------------------------------------------------


def _uncovered(network: IPv4Network, cidrs: Iterable[IPv4Network]) -> list[IPv4Network]:
    """The parts of `network` that none of `cidrs` covers."""
    remaining = [network]
    for cidr in cidrs:
        left = []
        for part in remaining:
            if part.subnet_of(cidr):
                continue
            if cidr.subnet_of(part):
                left += part.address_exclude(cidr)
            else:
                left.append(part)
        remaining = left
    return sorted(remaining)


def _unique(items: Iterable[dict[str, Any]], key: str) -> Iterable[dict[str, Any]]:
    seen: set[str] = set()
    for item in items:
        if item[key] not in seen:
            seen.add(item[key])
            yield item
