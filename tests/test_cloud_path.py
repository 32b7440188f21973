"""cloud.path walks the VPN path in the cloud's API state and names what blocks it.

The cloud is moto in-process, completed by the simulator's fill-ins, with a
small VPC built by hand: two private subnets in two zones, one route table
propagating from the VPN gateway and one with static routes to it, a network
ACL that admits only what the exchanges need, a VPN connection with static
routes and both tunnels UP, the order database and, for the warehouse
database on premises, an internal NLB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network

import boto3
import pytest
from moto import mock_aws
from moto.ec2.models import ec2_backends

from checks.cloud_path import cloud_path
from checks.plan import CLOUD_API, PlannedCheck
from checks.result import Outcome, Status
from checks.target import MissingOutput, Target
from exchange.config import load_config
from exchange.config.model import ExchangeConfig
from infra import outputs as keys
from simulator.aws import complete_moto, set_tunnel_status
from tests.config.samples import ROOT, TUNNEL_KEYS

REGION = "eu-central-1"
ACCOUNT = "123456789012"
CLIENTS = "192.168.10.0/24"  # the orders database's client network
OFFICE = "192.168.20.0/24"
WAREHOUSE_NETWORK = "192.168.30.0/24"
WAREHOUSE = "192.168.30.15"
ON_PREMISES = (CLIENTS, OFFICE, WAREHOUSE_NETWORK)

DATABASE_PATH = PlannedCheck(
    "db.orders.path", "cloud.path", "orders: path", CLOUD_API, "orders"
)
REMOTE_PATH = PlannedCheck(
    "remote.warehouse.path", "cloud.path", "warehouse: path", CLOUD_API, "warehouse"
)


@dataclass
class Cloud:
    ec2: object
    vpc_id: str
    subnet_ids: list[str]
    table_ids: list[str]  # [propagating from the VGW, static routes to it]
    acl_id: str
    gateway_id: str
    connection_id: str
    outside_ips: list[str]
    database_group_id: str
    balancer_name: str
    balancer_group_id: str
    target: Target

    def tunnels(self, *statuses: str) -> None:
        backend = ec2_backends[ACCOUNT][REGION]
        for outside_ip, status in zip(self.outside_ips, statuses, strict=True):
            set_tunnel_status(backend, self.connection_id, outside_ip, status)

    def acl_entry(self, number: int, action: str, cidr: str, ports, *, egress: bool):
        self.ec2.create_network_acl_entry(
            NetworkAclId=self.acl_id,
            RuleNumber=number,
            Protocol="6",
            RuleAction=action,
            Egress=egress,
            CidrBlock=cidr,
            PortRange={"From": ports[0], "To": ports[1]},
        )

    def static_return_routes(self) -> None:
        """Static VGW routes in the propagating table too: they stay without tunnels."""
        for cidr in ON_PREMISES:
            self.ec2.create_route(
                RouteTableId=self.table_ids[0],
                DestinationCidrBlock=cidr,
                GatewayId=self.gateway_id,
            )


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    """One session for the module: it loads each service's model once."""
    return boto3.session.Session(region_name=REGION)


@pytest.fixture(scope="module")
def config() -> ExchangeConfig:
    return load_config(ROOT / "examples" / "multi-option.yaml", TUNNEL_KEYS)


@pytest.fixture
def cloud(session, config, monkeypatch) -> Iterator[Cloud]:
    # The walk reads no machine images; loading moto's thousands costs time.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    complete_moto()
    with mock_aws():
        yield _build(session, config)


def _build(session: boto3.session.Session, config: ExchangeConfig) -> Cloud:
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_ids, table_ids = [], []
    for index, zone in enumerate("ab"):
        subnet_id = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"10.42.{index + 1}.0/24",
            AvailabilityZone=f"{REGION}{zone}",
        )["Subnet"]["SubnetId"]
        table_id = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
        subnet_ids.append(subnet_id)
        table_ids.append(table_id)

    customer_gateway = ec2.create_customer_gateway(
        Type="ipsec.1", PublicIp="203.0.113.10", BgpAsn=65000
    )["CustomerGateway"]["CustomerGatewayId"]
    gateway_id = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc_id, VpnGatewayId=gateway_id)
    connection = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=customer_gateway,
        VpnGatewayId=gateway_id,
        Options={
            "StaticRoutesOnly": True,
            "TunnelOptions": [
                {"TunnelInsideCidr": "169.254.21.0/30", "PreSharedKey": key}
                if i == 0
                else {"TunnelInsideCidr": "169.254.21.4/30", "PreSharedKey": key}
                for i, key in enumerate(TUNNEL_KEYS.values())
            ],
        },
    )["VpnConnection"]
    connection_id = connection["VpnConnectionId"]
    outside_ips = [
        t["OutsideIpAddress"] for t in connection["Options"]["TunnelOptions"]
    ]
    for cidr in ON_PREMISES:
        ec2.create_vpn_connection_route(
            VpnConnectionId=connection_id, DestinationCidrBlock=cidr
        )
        ec2.create_route(
            RouteTableId=table_ids[1], DestinationCidrBlock=cidr, GatewayId=gateway_id
        )
    ec2.enable_vgw_route_propagation(RouteTableId=table_ids[0], GatewayId=gateway_id)

    # An ACL that admits only the exchanges: the database port from the
    # clients and their answers, the warehouse port and its answers.
    acl_id = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    associations = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}]
    )["NetworkAcls"][0]["Associations"]
    for association in associations:
        ec2.replace_network_acl_association(
            AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id
        )

    database_group_id = ec2.create_security_group(
        GroupName="orders-db", Description="orders database", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=database_group_id,
        IpPermissions=[_tcp(3306, CLIENTS)],
    )
    rds = session.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="nordwind-orders",
        DBSubnetGroupDescription="orders",
        SubnetIds=subnet_ids,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="nordwind-orders",
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="platform",
        ManageMasterUserPassword=True,
        DBSubnetGroupName="nordwind-orders",
        VpcSecurityGroupIds=[database_group_id],
        Port=3306,
    )

    balancer_group_id = ec2.create_security_group(
        GroupName="warehouse-nlb", Description="NLB to the warehouse", VpcId=vpc_id
    )["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=balancer_group_id,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ec2.authorize_security_group_egress(
        GroupId=balancer_group_id, IpPermissions=[_tcp(3306, f"{WAREHOUSE}/32")]
    )
    elbv2 = session.client("elbv2")
    balancer = elbv2.create_load_balancer(
        Name="warehouse-nlb",
        Type="network",
        Scheme="internal",
        Subnets=subnet_ids,
        SecurityGroups=[balancer_group_id],
    )["LoadBalancers"][0]
    group_arn = elbv2.create_target_group(
        Name="warehouse-tg", Protocol="TCP", Port=3306, VpcId=vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="TCP",
        Port=3306,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )

    outputs = {
        keys.VPC_ID: vpc_id,
        keys.VPN_GATEWAY_ID: gateway_id,
        keys.VPN_CONNECTION_ID: connection_id,
        keys.DATABASES: {
            "orders": {
                keys.DB_INSTANCE_ID: "nordwind-orders",
                keys.DB_SECURITY_GROUP_ID: database_group_id,
            }
        },
        keys.REMOTE_DATABASES: {
            "warehouse": {
                keys.NLB_TARGET_GROUP_ARN: group_arn,
                keys.NLB_SECURITY_GROUP_ID: balancer_group_id,
            }
        },
    }
    cloud = Cloud(
        ec2=ec2,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        table_ids=table_ids,
        acl_id=acl_id,
        gateway_id=gateway_id,
        connection_id=connection_id,
        outside_ips=outside_ips,
        database_group_id=database_group_id,
        balancer_name="warehouse-nlb",
        balancer_group_id=balancer_group_id,
        target=Target(
            config,
            outputs,
            {},
            aws_endpoint_url=None,
            session=session,
        ),
    )
    cloud.acl_entry(100, "allow", CLIENTS, (3306, 3306), egress=False)
    cloud.acl_entry(110, "allow", WAREHOUSE_NETWORK, (1024, 65535), egress=False)
    cloud.acl_entry(100, "allow", CLIENTS, (1024, 65535), egress=True)
    cloud.acl_entry(110, "allow", WAREHOUSE_NETWORK, (3306, 3306), egress=True)
    cloud.tunnels("UP", "UP")
    return cloud


def _tcp(port: int, cidr: str) -> dict:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": cidr}],
    }


def _code(outcome: Outcome) -> str | None:
    return outcome.diagnosis.code if outcome.diagnosis else None


def _with_config(cloud: Cloud, **changes) -> None:
    cloud.target = dataclasses.replace(
        cloud.target, config=dataclasses.replace(cloud.target.config, **changes)
    )


# -- app database -----------------------------------------------------------------


def test_open_path_passes_and_names_every_hop(cloud):
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence
    evidence = outcome.evidence
    hops = [
        CLIENTS,
        f"{cloud.connection_id} (static route, 2/2 UP)",
        f"{cloud.table_ids[0]}, {cloud.table_ids[1]} "
        f"({CLIENTS} via {cloud.gateway_id})",
        f"{cloud.acl_id} (in: rule 100 allows; out: rule 100 allows)",
        f"{cloud.database_group_id} (tcp 3306 from {CLIENTS})",
        "nordwind-orders:3306",
    ]
    assert evidence == " -> ".join(hops)


def test_no_secret_of_the_vpn_connection_appears_in_the_outcome(cloud):
    outcomes = [cloud_path(cloud.target, DATABASE_PATH)]
    cloud.tunnels("DOWN", "DOWN")
    outcomes.append(cloud_path(cloud.target, DATABASE_PATH))
    for outcome in outcomes:
        for key in TUNNEL_KEYS.values():
            assert key not in outcome.evidence and key not in outcome.hint


def test_one_tunnel_down_still_carries_the_path(cloud):
    cloud.tunnels("UP", "DOWN")
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence
    assert "1/2 UP" in outcome.evidence


def test_both_tunnels_down_fail_as_tunnels_down(cloud):
    cloud.tunnels("DOWN", "DOWN")
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "TUNNELS-DOWN"
    assert cloud.connection_id in outcome.evidence
    assert all(ip in outcome.evidence for ip in cloud.outside_ips)


def test_static_route_removed_from_the_connection_fails_at_the_connection(cloud):
    cloud.ec2.delete_vpn_connection_route(
        VpnConnectionId=cloud.connection_id, DestinationCidrBlock=CLIENTS
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "ROUTE-MISSING"
    # The connection is the first hop that blocks, before the route tables
    # that lose the propagated route with it.
    assert outcome.evidence.startswith(f"{CLIENTS} -> {cloud.connection_id} has no")
    assert f"add the static route {CLIENTS} to {cloud.connection_id}" in outcome.hint


def test_bgp_routing_leaves_the_connection_route_to_the_device(cloud):
    on_premises = dataclasses.replace(
        cloud.target.config.on_premises, routing="bgp", bgp_asn=65000
    )
    _with_config(cloud, on_premises=on_premises)
    cloud.ec2.delete_vpn_connection_route(
        VpnConnectionId=cloud.connection_id, DestinationCidrBlock=CLIENTS
    )
    cloud.static_return_routes()
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence
    assert f"{cloud.connection_id} (announced by BGP, 2/2 UP)" in outcome.evidence


def test_route_table_that_does_not_propagate_fails_naming_it(cloud):
    cloud.ec2.disable_vgw_route_propagation(
        RouteTableId=cloud.table_ids[0], GatewayId=cloud.gateway_id
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "ROUTE-MISSING"
    assert f"{cloud.table_ids[0]} has no route to {CLIENTS}" in outcome.evidence
    assert "does not propagate" in outcome.hint and "VGW-09" in outcome.hint


def test_route_table_without_its_static_vgw_route_fails_naming_it(cloud):
    cloud.ec2.delete_route(
        RouteTableId=cloud.table_ids[1], DestinationCidrBlock=CLIENTS
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert _code(outcome) == "ROUTE-MISSING"
    assert f"{cloud.table_ids[1]} has no route to {CLIENTS}" in outcome.evidence


def test_subnet_without_a_table_of_its_own_uses_the_main_table(cloud):
    (table,) = cloud.ec2.describe_route_tables(RouteTableIds=[cloud.table_ids[0]])[
        "RouteTables"
    ]
    (association,) = table["Associations"]
    cloud.ec2.disassociate_route_table(
        AssociationId=association["RouteTableAssociationId"]
    )
    (main,) = cloud.ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [cloud.vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert _code(outcome) == "ROUTE-MISSING"
    assert f"{main['RouteTableId']} has no route to {CLIENTS}" in outcome.evidence


def test_more_specific_route_elsewhere_wins_over_the_vgw_route(cloud):
    gateway = cloud.ec2.create_internet_gateway()["InternetGateway"]
    cloud.ec2.attach_internet_gateway(
        InternetGatewayId=gateway["InternetGatewayId"], VpcId=cloud.vpc_id
    )
    cloud.ec2.create_route(
        RouteTableId=cloud.table_ids[1],
        DestinationCidrBlock="192.168.10.128/25",
        GatewayId=gateway["InternetGatewayId"],
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "ROUTE-MISSING"
    assert (
        f"{cloud.table_ids[1]} sends 192.168.10.128/25 (part of {CLIENTS}) to "
        f"{gateway['InternetGatewayId']} by its route 192.168.10.128/25, more "
        f"specific than its route {CLIENTS} via {cloud.gateway_id}"
    ) in outcome.evidence
    assert "192.168.10.128/25" in outcome.hint and "remove or narrow" in outcome.hint


def test_less_specific_route_elsewhere_loses_to_the_vgw_route(cloud):
    gateway = cloud.ec2.create_internet_gateway()["InternetGateway"]
    cloud.ec2.attach_internet_gateway(
        InternetGatewayId=gateway["InternetGatewayId"], VpcId=cloud.vpc_id
    )
    for table_id in cloud.table_ids:
        cloud.ec2.create_route(
            RouteTableId=table_id,
            DestinationCidrBlock="192.168.0.0/16",
            GatewayId=gateway["InternetGatewayId"],
        )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence


def test_acl_deny_numbered_before_the_allow_blocks(cloud):
    cloud.acl_entry(90, "deny", CLIENTS, (3306, 3306), egress=False)
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.acl_id}: inbound rule 90 denies TCP 3306 from {CLIENTS}"
        in outcome.evidence
    )
    assert "numbered below 90" in outcome.hint


def test_acl_deny_numbered_after_the_allow_never_matches(cloud):
    cloud.acl_entry(120, "deny", CLIENTS, (3306, 3306), egress=False)
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence


def test_acl_deny_of_one_client_host_blocks_that_host(cloud):
    cloud.acl_entry(90, "deny", "192.168.10.5/32", (0, 65535), egress=False)
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert _code(outcome) == "SG-DENIES"
    assert "inbound rule 90 denies TCP 3306 from 192.168.10.5/32" in outcome.evidence


def test_acl_without_outbound_ephemeral_ports_blocks_the_answers(cloud):
    cloud.ec2.replace_network_acl_entry(
        NetworkAclId=cloud.acl_id,
        RuleNumber=100,
        Protocol="6",
        RuleAction="deny",
        Egress=True,
        CidrBlock=CLIENTS,
        PortRange={"From": 1024, "To": 65535},
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.acl_id}: outbound rule 100 denies TCP 1024-65535 to {CLIENTS}"
        in outcome.evidence
    )
    assert "stateless" in outcome.hint


def test_acl_that_allows_only_part_of_the_ephemeral_ports_blocks_the_rest(cloud):
    cloud.ec2.delete_network_acl_entry(
        NetworkAclId=cloud.acl_id, RuleNumber=100, Egress=True
    )
    cloud.acl_entry(100, "allow", CLIENTS, (32768, 65535), egress=True)
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.acl_id}: no outbound rule allows TCP 1024-32767 to {CLIENTS}; "
        "the default rule * denies it"
    ) in outcome.evidence


def test_security_group_without_the_client_network_denies(cloud):
    cloud.ec2.revoke_security_group_ingress(
        GroupId=cloud.database_group_id, IpPermissions=[_tcp(3306, CLIENTS)]
    )
    cloud.ec2.authorize_security_group_ingress(
        GroupId=cloud.database_group_id, IpPermissions=[_tcp(3306, OFFICE)]
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.database_group_id}: no ingress rule admits TCP 3306 from {CLIENTS}"
        in outcome.evidence
    )
    assert f"add an ingress rule TCP 3306 from {CLIENTS}" in outcome.hint


def test_security_group_rule_on_another_port_does_not_admit(cloud):
    cloud.ec2.revoke_security_group_ingress(
        GroupId=cloud.database_group_id, IpPermissions=[_tcp(3306, CLIENTS)]
    )
    cloud.ec2.authorize_security_group_ingress(
        GroupId=cloud.database_group_id, IpPermissions=[_tcp(3307, CLIENTS)]
    )
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert _code(outcome) == "SG-DENIES"


def test_the_first_blocked_client_network_is_reported(cloud):
    (orders,) = [e for e in cloud.target.config.exchanges if e.name == "orders"]
    wider = dataclasses.replace(
        orders, client_networks=(IPv4Network(CLIENTS), IPv4Network(OFFICE))
    )
    exchanges = tuple(
        wider if e.name == "orders" else e for e in cloud.target.config.exchanges
    )
    _with_config(cloud, exchanges=exchanges)
    outcome = cloud_path(cloud.target, DATABASE_PATH)
    assert outcome.status is Status.FAIL
    # 192.168.10.0/24 passes; the office network is the one the ACL stops.
    assert outcome.evidence.startswith(f"{OFFICE} -> {cloud.connection_id}")
    assert f"{cloud.acl_id}: no inbound rule allows TCP 3306 from {OFFICE}" in (
        outcome.evidence
    )


def test_a_walk_out_of_time_is_an_error_not_a_verdict(cloud):
    outcome = cloud_path(cloud.target, dataclasses.replace(DATABASE_PATH, timeout_s=0))
    assert outcome.status is Status.ERROR
    assert _code(outcome) == "CHECK-TIMEOUT"


def test_missing_database_output_raises_for_the_runner(cloud):
    del cloud.target.outputs[keys.DATABASES]["orders"]
    with pytest.raises(MissingOutput):
        cloud_path(cloud.target, DATABASE_PATH)


# -- remote database through the VPN ----------------------------------------------


def test_remote_path_passes_and_says_what_the_api_cannot_see(cloud):
    outcome = cloud_path(cloud.target, REMOTE_PATH)
    assert outcome.status is Status.PASS, outcome.evidence
    hops = [
        f"{cloud.balancer_name} ({', '.join(cloud.subnet_ids)})",
        f"{cloud.table_ids[0]}, {cloud.table_ids[1]} "
        f"({WAREHOUSE_NETWORK} via {cloud.gateway_id})",
        f"{cloud.acl_id} (in: rule 110 allows; out: rule 110 allows)",
        f"{cloud.balancer_group_id} (egress tcp 3306 to {WAREHOUSE}/32)",
        f"{cloud.connection_id} (static route {WAREHOUSE_NETWORK}, 2/2 UP)",
        f"{WAREHOUSE}:3306",
    ]
    assert outcome.evidence.startswith(" -> ".join(hops) + "; ")
    assert "customer's firewall must admit 10.42.0.0/16" in outcome.evidence
    assert "firewallAllowlist: 10.42.0.0/16" in outcome.evidence


def test_remote_route_table_without_the_vgw_route_fails_naming_it(cloud):
    cloud.ec2.delete_route(
        RouteTableId=cloud.table_ids[1], DestinationCidrBlock=WAREHOUSE_NETWORK
    )
    outcome = cloud_path(cloud.target, REMOTE_PATH)
    assert _code(outcome) == "ROUTE-MISSING"
    assert f"{cloud.table_ids[1]} has no route to {WAREHOUSE}/32" in outcome.evidence


def test_remote_acl_without_the_answers_inbound_blocks(cloud):
    cloud.ec2.delete_network_acl_entry(
        NetworkAclId=cloud.acl_id, RuleNumber=110, Egress=False
    )
    outcome = cloud_path(cloud.target, REMOTE_PATH)
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.acl_id}: no inbound rule allows TCP 1024-65535 from {WAREHOUSE}/32"
        in outcome.evidence
    )


def test_remote_balancer_group_without_egress_to_the_database_denies(cloud):
    cloud.ec2.revoke_security_group_egress(
        GroupId=cloud.balancer_group_id, IpPermissions=[_tcp(3306, f"{WAREHOUSE}/32")]
    )
    outcome = cloud_path(cloud.target, REMOTE_PATH)
    assert outcome.status is Status.FAIL
    assert _code(outcome) == "SG-DENIES"
    assert (
        f"{cloud.balancer_group_id}: no egress rule admits TCP 3306 to {WAREHOUSE}"
        in outcome.evidence
    )


def test_remote_connection_without_the_static_route_fails_at_the_connection(cloud):
    cloud.static_return_routes()
    cloud.ec2.delete_vpn_connection_route(
        VpnConnectionId=cloud.connection_id, DestinationCidrBlock=WAREHOUSE_NETWORK
    )
    outcome = cloud_path(cloud.target, REMOTE_PATH)
    assert _code(outcome) == "ROUTE-MISSING"
    assert f"{cloud.connection_id} has no available static route" in outcome.evidence
    assert f"add the static route {WAREHOUSE_NETWORK} to" in outcome.hint


def test_remote_tunnels_down_are_named_before_the_routes_they_take_away(cloud):
    # With static routes in the tables, and with propagated ones that vanish
    # with the tunnels, the cause named is the same: no tunnel is UP.
    for static in (True, False):
        if static:
            cloud.static_return_routes()
        cloud.tunnels("DOWN", "DOWN")
        outcome = cloud_path(cloud.target, REMOTE_PATH)
        assert _code(outcome) == "TUNNELS-DOWN"
        assert f"{cloud.connection_id}: no tunnel is UP" in outcome.evidence


def test_remote_a_default_route_does_not_hide_tunnels_that_are_down(cloud):
    gateway = cloud.ec2.create_internet_gateway()["InternetGateway"]
    cloud.ec2.attach_internet_gateway(
        InternetGatewayId=gateway["InternetGatewayId"], VpcId=cloud.vpc_id
    )
    cloud.ec2.create_route(
        RouteTableId=cloud.table_ids[0],
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=gateway["InternetGatewayId"],
    )
    cloud.tunnels("DOWN", "DOWN")
    assert _code(cloud_path(cloud.target, REMOTE_PATH)) == "TUNNELS-DOWN"


def test_remote_database_over_the_internet_has_no_vpn_path(cloud):
    planned = dataclasses.replace(REMOTE_PATH, exchange="finance")
    assert cloud_path(cloud.target, planned).status is Status.SKIP
