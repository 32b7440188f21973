"""The simulator answers describe calls the way AWS does where moto does not."""

from __future__ import annotations

import ipaddress
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.models import ec2_backends
from moto.elbv2.models import elbv2_backends

from simulator.aws import (
    EIP_POOL,
    TUNNEL_OUTSIDE_POOL,
    complete_moto,
    set_target_health,
    set_tunnel_status,
)

REGION = "eu-central-1"
ACCOUNT = "123456789012"


@pytest.fixture
def ec2():
    complete_moto()
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _connection(ec2, **options):
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    cgw = ec2.create_customer_gateway(
        Type="ipsec.1", PublicIp="203.0.113.10", BgpAsn=65000
    )["CustomerGateway"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    ec2.attach_vpn_gateway(VpcId=vpc["VpcId"], VpnGatewayId=vgw["VpnGatewayId"])
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw["CustomerGatewayId"],
        VpnGatewayId=vgw["VpnGatewayId"],
        Options=options,
    )["VpnConnection"]
    return vpc, vgw, vpn


def _describe(ec2, vpn_id):
    return ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]


def test_vpn_connection_keeps_the_requested_tunnel_options(ec2):
    _, _, vpn = _connection(
        ec2,
        StaticRoutesOnly=True,
        TunnelOptions=[
            {"TunnelInsideCidr": "169.254.21.0/30", "PreSharedKey": "Kq7vKeyOne"},
            {"TunnelInsideCidr": "169.254.21.4/30", "PreSharedKey": "Zr2mKeyTwo"},
        ],
    )
    options = _describe(ec2, vpn["VpnConnectionId"])["Options"]
    assert options["StaticRoutesOnly"] is True
    tunnels = options["TunnelOptions"]
    assert [t["TunnelInsideCidr"] for t in tunnels] == [
        "169.254.21.0/30",
        "169.254.21.4/30",
    ]
    assert [t["PreSharedKey"] for t in tunnels] == ["Kq7vKeyOne", "Zr2mKeyTwo"]
    outside = [t["OutsideIpAddress"] for t in tunnels]
    assert len(set(outside)) == 2, "each tunnel has its own outside IP (VPN-01)"
    assert tunnels[0]["Phase1LifetimeSeconds"] == 28800, "AWS default (VPN-22)"


def test_unset_tunnel_options_get_aws_style_keys_and_inside_cidrs(ec2):
    _, _, vpn = _connection(ec2, StaticRoutesOnly=True)
    tunnels = _describe(ec2, vpn["VpnConnectionId"])["Options"]["TunnelOptions"]
    for tunnel in tunnels:
        key = tunnel["PreSharedKey"]
        assert len(key) == 32 and key.isalnum() and key[0] != "0", "VPN-06"
        assert tunnel["TunnelInsideCidr"].startswith("169.254.")
    assert tunnels[0]["TunnelInsideCidr"] != tunnels[1]["TunnelInsideCidr"]


def test_telemetry_reports_both_tunnels_down_until_a_data_plane_says_up(ec2):
    _, _, vpn = _connection(ec2, StaticRoutesOnly=True)
    telemetry = _describe(ec2, vpn["VpnConnectionId"])["VgwTelemetry"]
    assert [t["Status"] for t in telemetry] == ["DOWN", "DOWN"]


def test_static_routes_are_listed_on_the_connection(ec2):
    _, _, vpn = _connection(ec2, StaticRoutesOnly=True)
    vpn_id = vpn["VpnConnectionId"]
    ec2.create_vpn_connection_route(
        VpnConnectionId=vpn_id, DestinationCidrBlock="192.168.10.0/24"
    )
    ec2.create_vpn_connection_route(
        VpnConnectionId=vpn_id, DestinationCidrBlock="192.168.20.0/24"
    )
    ec2.delete_vpn_connection_route(
        VpnConnectionId=vpn_id, DestinationCidrBlock="192.168.20.0/24"
    )
    routes = _describe(ec2, vpn_id)["Routes"]
    assert routes == [
        {
            "DestinationCidrBlock": "192.168.10.0/24",
            "Source": "static",
            "State": "available",
        }
    ]


def test_propagated_routes_appear_only_while_a_tunnel_is_up(ec2):
    vpc, vgw, vpn = _connection(ec2, StaticRoutesOnly=True)
    vpn_id, vgw_id = vpn["VpnConnectionId"], vgw["VpnGatewayId"]
    ec2.create_vpn_connection_route(
        VpnConnectionId=vpn_id, DestinationCidrBlock="192.168.10.0/24"
    )
    table_id = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.enable_vgw_route_propagation(RouteTableId=table_id, GatewayId=vgw_id)

    def table():
        return ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]

    assert table()["PropagatingVgws"] == [{"GatewayId": vgw_id}]
    assert all(r.get("GatewayId") != vgw_id for r in table()["Routes"]), "VGW-09"

    outside = _describe(ec2, vpn_id)["VgwTelemetry"][0]["OutsideIpAddress"]
    set_tunnel_status(ec2_backends[ACCOUNT][REGION], vpn_id, outside, "UP")
    propagated = [r for r in table()["Routes"] if r.get("GatewayId") == vgw_id]
    assert propagated == [
        {
            "DestinationCidrBlock": "192.168.10.0/24",
            "GatewayId": vgw_id,
            "Origin": "EnableVgwRoutePropagation",
            "State": "active",
        }
    ]

    ec2.disable_vgw_route_propagation(RouteTableId=table_id, GatewayId=vgw_id)
    assert "PropagatingVgws" not in table() or table()["PropagatingVgws"] == []


def test_rds_managed_master_secret_is_random_and_names_the_master_user():
    complete_moto()
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        passwords = set()
        for name in ("first", "second"):
            instance = rds.create_db_instance(
                DBInstanceIdentifier=name,
                Engine="mysql",
                DBInstanceClass="db.t3.micro",
                AllocatedStorage=20,
                MasterUsername="platform",
                ManageMasterUserPassword=True,
            )["DBInstance"]
            secret = boto3.client(
                "secretsmanager", region_name=REGION
            ).get_secret_value(SecretId=instance["MasterUserSecret"]["SecretArn"])
            credentials = json.loads(secret["SecretString"])
            assert credentials["username"] == "platform"
            assert not set(credentials["password"]) & set("/'\"@ "), "RDS-06"
            passwords.add(credentials["password"])
        assert len(passwords) == 2


def test_deleted_vpn_connection_gives_its_outside_ips_back(ec2):
    _, vgw, vpn = _connection(ec2, StaticRoutesOnly=True)
    vpn_id = vpn["VpnConnectionId"]
    outside = [t["OutsideIpAddress"] for t in vpn["Options"]["TunnelOptions"]]
    ec2.delete_vpn_connection(VpnConnectionId=vpn_id)
    assert _describe(ec2, vpn_id)["State"] == "deleted"

    again = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=vpn["CustomerGatewayId"],
        VpnGatewayId=vgw["VpnGatewayId"],
        Options={"StaticRoutesOnly": True},
    )["VpnConnection"]
    assert [t["OutsideIpAddress"] for t in again["Options"]["TunnelOptions"]] == (
        outside
    ), "the pool hands out its lowest free addresses, the deleted ones"


def test_tunnel_outside_ips_come_from_the_upper_half_of_test_net_2(ec2):
    _, _, vpn = _connection(ec2, StaticRoutesOnly=True)
    tunnels = _describe(ec2, vpn["VpnConnectionId"])["Options"]["TunnelOptions"]
    for tunnel in tunnels:
        address = ipaddress.ip_address(tunnel["OutsideIpAddress"])
        assert address in ipaddress.ip_network("198.51.100.128/25")
        assert address != TUNNEL_OUTSIDE_POOL.network_address + 1, "the router's"
        # Example on-premises addresses (198.51.100.20) live in the lower half.
        assert address not in ipaddress.ip_network("198.51.100.0/25")


def test_vpn_gateway_reports_its_amazon_side_asn_or_aws_default(ec2):
    given = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=65010)["VpnGateway"]
    default = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    described = {
        g["VpnGatewayId"]: g["AmazonSideAsn"]
        for g in ec2.describe_vpn_gateways()["VpnGateways"]
    }
    assert described == {
        given["VpnGatewayId"]: 65010,
        default["VpnGatewayId"]: 64512,  # VGW-01
    }


def test_elastic_ips_are_distinct_documentation_addresses_across_regions(ec2):
    other_region = boto3.client("ec2", region_name="eu-west-1")
    addresses = [
        client.allocate_address(Domain="vpc")["PublicIp"]
        for client in (ec2, other_region, ec2)
    ]
    assert len(set(addresses)) == 3
    for address in addresses:
        assert ipaddress.ip_address(address) in ipaddress.ip_network(
            "203.0.113.128/25"
        ), "TEST-NET-3's upper half, never loopback"
    described = {a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]}
    assert described == {addresses[0], addresses[2]}


def test_released_elastic_ip_can_be_allocated_again_from_a_full_pool(ec2):
    allocations = []
    while True:
        try:
            allocations.append(ec2.allocate_address(Domain="vpc"))
        except ClientError as error:
            assert error.response["Error"]["Code"] == "AddressLimitExceeded"
            break
        assert len(allocations) < EIP_POOL.num_addresses, "the pool never ran out"
    released = allocations[7]
    ec2.release_address(AllocationId=released["AllocationId"])
    assert ec2.allocate_address(Domain="vpc")["PublicIp"] == released["PublicIp"]


def _nat_gateway(ec2, subnet_id):
    eip = ec2.allocate_address(Domain="vpc")
    gateway = ec2.create_nat_gateway(
        SubnetId=subnet_id, AllocationId=eip["AllocationId"]
    )["NatGateway"]
    return eip, gateway


def test_nat_gateway_private_ips_are_distinct_usable_addresses_of_its_subnet(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.42.1.0/28")["Subnet"]
    cidr = ipaddress.ip_network(subnet["CidrBlock"])
    # AWS reserves the first four and the last address of a subnet (VPC-10).
    reserved = {*list(cidr)[:4], cidr.broadcast_address}
    private_ips = set()
    for _ in range(3):
        eip, gateway = _nat_gateway(ec2, subnet["SubnetId"])
        (described,) = ec2.describe_nat_gateways(
            NatGatewayIds=[gateway["NatGatewayId"]]
        )["NatGateways"][0]["NatGatewayAddresses"]
        assert described == gateway["NatGatewayAddresses"][0]
        private_ip = ipaddress.ip_address(described["PrivateIp"])
        assert private_ip in cidr and private_ip not in reserved
        assert described["PublicIp"] == eip["PublicIp"]
        interface = ec2.describe_network_interfaces(
            NetworkInterfaceIds=[described["NetworkInterfaceId"]]
        )["NetworkInterfaces"][0]
        assert interface["PrivateIpAddress"] == described["PrivateIp"]
        private_ips.add(private_ip)
    assert len(private_ips) == 3


def test_deleted_nat_gateway_frees_its_interface_and_keeps_its_elastic_ip(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.42.1.0/24")["Subnet"]
    eip, gateway = _nat_gateway(ec2, subnet["SubnetId"])
    interface_id = gateway["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    ec2.delete_nat_gateway(NatGatewayId=gateway["NatGatewayId"])

    interfaces = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert interface_id not in {i["NetworkInterfaceId"] for i in interfaces}
    (address,) = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])[
        "Addresses"
    ]
    assert "AssociationId" not in address, "disassociated, still allocated"
    _, successor = _nat_gateway(ec2, subnet["SubnetId"])
    assert (
        successor["NatGatewayAddresses"][0]["PrivateIp"]
        == gateway["NatGatewayAddresses"][0]["PrivateIp"]
    ), "the deleted gateway's private IP is free again"
    with pytest.raises(ClientError) as refused:
        ec2.delete_nat_gateway(NatGatewayId="nat-0000000000000000")
    assert refused.value.response["Error"]["Code"] == "NatGatewayNotFound"


@pytest.fixture
def nlb(ec2):
    """An internal NLB whose TCP listener forwards to an IP target group."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"],
        CidrBlock="10.42.1.0/24",
        AvailabilityZone=f"{REGION}a",
    )["Subnet"]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    group = elbv2.create_target_group(
        Name="orders-db",
        Protocol="TCP",
        Port=3306,
        VpcId=vpc["VpcId"],
        TargetType="ip",
    )["TargetGroups"][0]
    balancer = elbv2.create_load_balancer(
        Name="orders",
        Type="network",
        Scheme="internal",
        Subnets=[subnet["SubnetId"]],
    )["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="TCP",
        Port=3306,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    return elbv2, group["TargetGroupArn"]


def _health(elbv2, group_arn):
    return {
        d["Target"]["Id"]: d
        for d in elbv2.describe_target_health(TargetGroupArn=group_arn)[
            "TargetHealthDescriptions"
        ]
    }


def test_ip_targets_keep_their_availability_zone(nlb):
    elbv2, group_arn = nlb
    elbv2.register_targets(
        TargetGroupArn=group_arn,
        Targets=[
            {"Id": "192.168.10.5", "Port": 3306, "AvailabilityZone": "all"},
            {"Id": "10.42.1.20", "Port": 3306},
        ],
    )
    health = _health(elbv2, group_arn)
    assert health["192.168.10.5"]["Target"] == {
        "Id": "192.168.10.5",
        "Port": 3306,
        "AvailabilityZone": "all",
    }, "an on-premises target keeps the zone it was registered with (NLB-04)"
    assert health["10.42.1.20"]["Target"]["AvailabilityZone"] == f"{REGION}a", (
        "an in-VPC target gets its subnet's zone (NLB-04)"
    )


def test_ip_target_outside_the_vpc_needs_an_availability_zone(nlb):
    elbv2, group_arn = nlb
    with pytest.raises(ClientError) as refused:
        elbv2.register_targets(
            TargetGroupArn=group_arn,
            Targets=[
                {"Id": "10.42.1.20", "Port": 3306},
                {"Id": "192.168.10.5", "Port": 3306},
            ],
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "NLB-04" in refused.value.response["Error"]["Message"]
    assert _health(elbv2, group_arn) == {}, "no target of a refused call registers"


def test_target_health_is_unavailable_until_a_probe_reports(nlb):
    elbv2, group_arn = nlb
    elbv2.register_targets(
        TargetGroupArn=group_arn,
        Targets=[{"Id": "192.168.10.5", "Port": 3306, "AvailabilityZone": "all"}],
    )
    assert _health(elbv2, group_arn)["192.168.10.5"]["TargetHealth"] == {
        "State": "unavailable",
        "Reason": "Elb.InternalError",
        "Description": "no health probe has run yet in the simulator",
    }


def test_set_target_health_reports_the_probe_result(nlb):
    elbv2, group_arn = nlb
    elbv2.register_targets(
        TargetGroupArn=group_arn,
        Targets=[{"Id": "192.168.10.5", "Port": 3306, "AvailabilityZone": "all"}],
    )
    backend = elbv2_backends[ACCOUNT][REGION]
    set_target_health(
        backend,
        group_arn,
        "192.168.10.5",
        3306,
        "unhealthy",
        "Target.FailedHealthChecks",
        "Health checks failed",
    )
    assert _health(elbv2, group_arn)["192.168.10.5"]["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.FailedHealthChecks",
        "Description": "Health checks failed",
    }
    set_target_health(backend, group_arn, "192.168.10.5", 3306, "healthy")
    assert _health(elbv2, group_arn)["192.168.10.5"]["TargetHealth"] == {
        "State": "healthy"
    }, "AWS gives no reason or description for a healthy target"
    with pytest.raises(KeyError):
        set_target_health(backend, group_arn, "192.168.10.5", 5432, "healthy")
    with pytest.raises(ValueError):
        set_target_health(backend, group_arn, "192.168.10.5", 3306, "up")


def test_targets_of_a_group_no_load_balancer_uses_are_unused(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    group_arn = elbv2.create_target_group(
        Name="orphan", Protocol="TCP", Port=3306, VpcId=vpc["VpcId"], TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=group_arn,
        Targets=[{"Id": "192.168.10.5", "Port": 3306, "AvailabilityZone": "all"}],
    )
    health = _health(elbv2, group_arn)["192.168.10.5"]["TargetHealth"]
    assert (health["State"], health["Reason"]) == ("unused", "Target.NotInUse")
