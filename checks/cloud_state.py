"""Static checks: read the cloud's API state and say whether a path is open.

Each reads through boto3 exactly what it would read on AWS, and explains a
blocked path by the resource and field that block it. Secrets in the API
answers (tunnel pre-shared keys, the customer gateway configuration) are
never copied into evidence.
"""

from __future__ import annotations

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.result import Outcome, failed, passed
from checks.target import MissingOutput, Target
from infra import outputs as keys


def cloud_state(target: Target, planned: PlannedCheck) -> Outcome:
    """One aspect of the cloud's state, named by the plan."""
    aspects = {
        "vpn-connection": vpn_connection,
        "vpn-routes": vpn_routes,
        "db-security-group": db_security_group,
        "target-health": target_health,
    }
    return aspects[planned.param("aspect")](target, planned)


def vpn_connection(target: Target, planned: PlannedCheck) -> Outcome:
    ec2 = target.client("ec2")
    connection_id, connection = target.vpn_connection()
    gateway_id = target.output(keys.VPN_GATEWAY_ID)
    vpc_id = target.output(keys.VPC_ID)
    if connection["State"] != "available":
        return failed(
            f"{connection_id} is {connection['State']}",
            "a deleted or failed connection must be provisioned again (exchange up)",
            dx.NOT_PROVISIONED,
        )
    if connection.get("VpnGatewayId") != gateway_id:
        return failed(
            f"{connection_id} terminates on {connection.get('VpnGatewayId')}, "
            f"not on the stack's VPN gateway {gateway_id}",
            "provision the stack again so that the connection uses its gateway",
            dx.DRIFT,
        )
    (gateway,) = ec2.describe_vpn_gateways(VpnGatewayIds=[gateway_id])["VpnGateways"]
    attached = [
        a["VpcId"]
        for a in gateway.get("VpcAttachments", [])
        if a["State"] == "attached"
    ]
    if vpc_id not in attached:
        return failed(
            f"{gateway_id} is attached to {attached or 'no VPC'}, not to {vpc_id}",
            f"attach {gateway_id} to {vpc_id} (VGW-03: one VPC at a time)",
            dx.DRIFT,
        )
    (customer_gateway,) = ec2.describe_customer_gateways(
        CustomerGatewayIds=[connection["CustomerGatewayId"]]
    )["CustomerGateways"]
    expected_ip = str(target.config.on_premises.customer_gateway_ip)
    if customer_gateway["IpAddress"] != expected_ip:
        return failed(
            f"{customer_gateway['CustomerGatewayId']} points at "
            f"{customer_gateway['IpAddress']}, the configuration says {expected_ip}",
            "provision the stack again from the current configuration",
            dx.DRIFT,
        )
    options = connection.get("Options", {})
    tunnels = options.get("TunnelOptions", [])
    configured = [str(t.inside_cidr) for t in target.config.vpn.tunnels]
    described_cidrs = [t.get("TunnelInsideCidr") for t in tunnels]
    if described_cidrs != configured:
        return failed(
            f"{connection_id} has tunnel inside CIDRs {described_cidrs}, the "
            f"configuration says {configured}",
            "tunnel options change only by provisioning again (or "
            "ModifyVpnTunnelOptions); the customer's device must match them",
            dx.DRIFT,
        )
    static = target.config.on_premises.routing == "static"
    if bool(options.get("StaticRoutesOnly")) != static:
        return failed(
            f"{connection_id} has StaticRoutesOnly={options.get('StaticRoutesOnly')}, "
            f"the configuration routes {target.config.on_premises.routing}",
            "a device without BGP needs StaticRoutesOnly (VPN-38); provision again",
            dx.DRIFT,
        )
    telemetry = {
        t["OutsideIpAddress"]: t["Status"] for t in connection.get("VgwTelemetry", [])
    }
    described = ", ".join(
        f"{t['OutsideIpAddress']} inside {t['TunnelInsideCidr']} "
        f"{telemetry.get(t['OutsideIpAddress'], 'UNKNOWN')}"
        for t in tunnels
    )
    return passed(
        f"{connection_id} on {gateway_id} (attached to {vpc_id}) to customer gateway "
        f"{expected_ip}; {len(tunnels)} tunnels: {described}"
    )


def vpn_routes(target: Target, planned: PlannedCheck) -> Outcome:
    ec2 = target.client("ec2")
    connection_id, connection = target.vpn_connection()
    gateway_id = target.output(keys.VPN_GATEWAY_ID)
    table_ids = list(target.output(keys.PRIVATE_ROUTE_TABLE_IDS))
    tables = ec2.describe_route_tables(RouteTableIds=table_ids)["RouteTables"]
    static = target.config.on_premises.routing == "static"
    vpn_routes = {
        r["DestinationCidrBlock"]
        for r in connection.get("Routes", [])
        if r.get("State") == "available"
    }
    missing, hints = [], []
    active = 0
    # Every private subnet's table must lead each on-premises network to the
    # VPN gateway: a client in either zone must find its way back.
    for table in tables:
        table_id = table["RouteTableId"]
        propagating = {g["GatewayId"] for g in table.get("PropagatingVgws", [])}
        table_routes = {
            r.get("DestinationCidrBlock")
            for r in table.get("Routes", [])
            if r.get("GatewayId") == gateway_id
        }
        active += len(table_routes)
        for network in target.config.on_premises.networks:
            cidr = str(network)
            if cidr in table_routes:
                continue
            if static and cidr not in vpn_routes:
                missing.append(f"{cidr} (no static route on {connection_id})")
                hints.append(
                    f"add the static route {cidr} to {connection_id} "
                    "(CreateVpnConnectionRoute), or provision again"
                )
            elif gateway_id not in propagating:
                missing.append(
                    f"{cidr} ({table_id} neither propagates from {gateway_id} "
                    "nor has a route to it)"
                )
                hints.append(
                    f"enable route propagation from {gateway_id} in {table_id} (VGW-09)"
                )
    if missing:
        return failed(
            "no route to " + "; ".join(dict.fromkeys(missing)),
            "; ".join(dict.fromkeys(hints)),
            dx.ROUTE_MISSING,
        )
    up = [t for t in connection.get("VgwTelemetry", []) if t["Status"] == "UP"]
    networks = ", ".join(str(n) for n in target.config.on_premises.networks)
    names = ", ".join(table_ids)
    if active:
        state = f"{active} routes active in {names}"
    else:
        # VGW-09: AWS propagates static routes only while a tunnel is UP.
        state = (
            f"propagation from {gateway_id} into {names} enabled; the routes "
            f"appear there once a tunnel is UP ({len(up)} of 2 UP now)"
        )
    return passed(f"{networks} routed to {connection_id}; {state}")


def db_security_group(target: Target, planned: PlannedCheck) -> Outcome:
    exchange, database = target.database(planned.exchange)
    instance = target.db_instance(database)
    # What reaches the instance is the union of all its groups, not only the
    # one the stack made for it.
    group_ids = sorted(g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"])
    groups = target.client("ec2").describe_security_groups(GroupIds=group_ids)[
        "SecurityGroups"
    ]
    port = exchange.port
    admitted: set[str] = set()
    others: list[str] = []
    permissions = [p for group in groups for p in group.get("IpPermissions", [])]
    for permission in permissions:
        if not _covers(permission, port):
            continue
        admitted.update(r["CidrIp"] for r in permission.get("IpRanges", []))
        others += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
        others += [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
        others += [g["GroupId"] for g in permission.get("UserIdGroupPairs", [])]
    wanted = {str(n) for n in exchange.client_networks}
    missing = sorted(wanted - admitted)
    extra = sorted(admitted - wanted) + others
    problems = []
    if missing:
        problems.append(f"does not admit {', '.join(missing)}")
    if extra:
        problems.append(f"also admits {', '.join(extra)}")
    if problems:
        world = "0.0.0.0/0" in admitted
        return failed(
            f"{', '.join(group_ids)} on TCP {port} " + " and ".join(problems),
            "the instance's groups must admit exactly exchanges[].clientNetworks on "
            "the database port; remove other groups and rules, or provision again"
            + ("; never 0.0.0.0/0 for a database" if world else ""),
            dx.SECURITY_GROUP_DENIES if missing else dx.SECURITY_GROUP_TOO_OPEN,
        )
    verb = "admits" if len(group_ids) == 1 else "admit"
    return passed(
        f"{' + '.join(group_ids)} {verb} TCP {port} from "
        f"{', '.join(sorted(wanted))} only"
    )


def _covers(permission: dict, port: int) -> bool:
    protocol = permission.get("IpProtocol")
    if protocol == "-1":
        return True
    if protocol not in ("tcp", "6"):
        return False
    return permission.get("FromPort", 0) <= port <= permission.get("ToPort", 65535)


def target_health(target: Target, planned: PlannedCheck) -> Outcome:
    """The load balancer's own health checks reach the on-premises database."""
    gateways = target.output(keys.REMOTE_DATABASES)
    if planned.exchange not in gateways:
        raise MissingOutput(f"the stack has no load balancer for {planned.exchange!r}")
    group_arn = gateways[planned.exchange][keys.NLB_TARGET_GROUP_ARN]
    descriptions = target.client("elbv2").describe_target_health(
        TargetGroupArn=group_arn
    )["TargetHealthDescriptions"]
    if not descriptions:
        return failed(
            f"target group {group_arn.rsplit('/', 2)[-2]} has no target",
            "register the on-premises address as an IP target in zone all",
            dx.NOT_PROVISIONED,
        )
    states = []
    unhealthy = []
    for description in descriptions:
        where = f"{description['Target']['Id']}:{description['Target']['Port']}"
        health = description.get("TargetHealth", {})
        state = health.get("State", "unknown")
        states.append(f"{where} {state}")
        if state != "healthy":
            reason = health.get("Description") or health.get("Reason") or ""
            unhealthy.append(f"{where} is {state}" + (f" ({reason})" if reason else ""))
    if unhealthy:
        return failed(
            "; ".join(unhealthy),
            "the health checks cross the VPN from the load balancer's subnets: a "
            "tunnel must be up and the customer's firewall must admit the VPC's "
            "network on the port (firewallAllowlist)",
            dx.TARGET_UNHEALTHY,
        )
    return passed(f"target group {group_arn.rsplit('/', 2)[-2]}: " + ", ".join(states))
