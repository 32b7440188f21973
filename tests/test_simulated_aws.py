"""The simulator answers describe calls the way AWS does where moto does not."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from moto.ec2.models import ec2_backends

from simulator.aws import complete_moto, set_tunnel_status

REGION = "eu-central-1"


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
    set_tunnel_status(ec2_backends["123456789012"][REGION], vpn_id, outside, "UP")
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
