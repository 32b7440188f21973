"""The Pulumi program, run under the simulator's mocks, declares what option 2 needs.

Every assertion names the URN of the resource it is about.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest

from infra import outputs as keys
from simulator.pulumi_runner import type_of
from tests.conftest import EXAMPLE, TUNNEL_KEYS

pytestmark = pytest.mark.pulumi

REGION = "eu-central-1"


@pytest.fixture(scope="module")
def stack(aws_endpoint):
    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    patch = pytest.MonkeyPatch()
    for name, value in TUNNEL_KEYS.items():
        patch.setenv(name, value)
    try:
        mocks = CloudMocks(endpoint_url=aws_endpoint, region=REGION)
        run = run_program(
            mocks,
            {"exchange:config": str(EXAMPLE), "exchange:deletionProtection": "false"},
            stack_name="test-program",
        )
    finally:
        patch.undo()
    return run, mocks


def _of_type(stack, type_token):
    run, _ = stack
    return {
        urn: registration
        for urn, registration in run.resources.items()
        if type_of(urn) == type_token
    }


def _one(stack, type_token):
    found = _of_type(stack, type_token)
    assert len(found) == 1, f"expected one {type_token}, got {sorted(found)}"
    return next(iter(found.items()))


def _inputs(stack, urn):
    _, mocks = stack
    name = urn.split("::")[-1]
    type_token = type_of(urn)
    (recorded,) = [
        r for r in mocks.recorded if r.name == name and r.type_ == type_token
    ]
    return recorded.inputs


def test_vpc_has_the_configured_cidr(stack):
    urn, _ = _one(stack, "aws:ec2/vpc:Vpc")
    assert _inputs(stack, urn)["cidrBlock"] == "10.42.0.0/16", urn


def test_private_subnets_lie_in_two_zones_inside_the_vpc(stack):
    subnets = _of_type(stack, "aws:ec2/subnet:Subnet")
    assert len(subnets) == 2, sorted(subnets)
    zones = set()
    for urn in subnets:
        inputs = _inputs(stack, urn)
        assert IPv4Network(inputs["cidrBlock"]).subnet_of(
            IPv4Network("10.42.0.0/16")
        ), urn
        assert inputs.get("mapPublicIpOnLaunch") is False, urn
        zones.add(inputs["availabilityZone"])
    assert len(zones) == 2, f"{sorted(subnets)} share a zone: {zones}"


def test_each_private_subnet_has_its_own_route_table(stack):
    tables = _of_type(stack, "aws:ec2/routeTable:RouteTable")
    assert len(tables) == 2, sorted(tables)
    associations = _of_type(
        stack, "aws:ec2/routeTableAssociation:RouteTableAssociation"
    )
    subnets = {r.id for r in _of_type(stack, "aws:ec2/subnet:Subnet").values()}
    routed = {}
    for urn in associations:
        inputs = _inputs(stack, urn)
        routed[inputs["subnetId"]] = inputs["routeTableId"]
    assert set(routed) == subnets, sorted(associations)
    assert set(routed.values()) == {t.id for t in tables.values()}, sorted(tables)


def test_no_internet_gateway_when_nothing_needs_egress(stack):
    assert _of_type(stack, "aws:ec2/internetGateway:InternetGateway") == {}
    assert _of_type(stack, "aws:ec2/natGateway:NatGateway") == {}
    run, _ = stack
    assert run.plain_outputs()[keys.EGRESS_IPS] == []


def test_vpn_gateway_propagates_into_every_private_route_table(stack):
    tables = {t.id for t in _of_type(stack, "aws:ec2/routeTable:RouteTable").values()}
    propagations = _of_type(
        stack, "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation"
    )
    _, gateway = _one(stack, "aws:ec2/vpnGateway:VpnGateway")
    propagated = set()
    for urn in propagations:
        inputs = _inputs(stack, urn)
        assert inputs["vpnGatewayId"] == gateway.id, urn
        propagated.add(inputs["routeTableId"])
    assert propagated == tables, sorted(propagations)


def test_vpn_gateway_is_attached_to_the_vpc(stack):
    _, vpc = _one(stack, "aws:ec2/vpc:Vpc")
    _, gateway = _one(stack, "aws:ec2/vpnGateway:VpnGateway")
    urn, _ = _one(stack, "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment")
    inputs = _inputs(stack, urn)
    assert inputs["vpcId"] == vpc.id and inputs["vpnGatewayId"] == gateway.id, urn


def test_customer_gateway_has_the_configured_public_ip(stack):
    urn, _ = _one(stack, "aws:ec2/customerGateway:CustomerGateway")
    assert _inputs(stack, urn)["ipAddress"] == "203.0.113.10", urn


def test_vpn_connection_uses_static_routes_and_both_configured_tunnels(stack):
    urn, _ = _one(stack, "aws:ec2/vpnConnection:VpnConnection")
    inputs = _inputs(stack, urn)
    assert inputs["staticRoutesOnly"] is True, urn
    assert inputs["tunnel1InsideCidr"] == "169.254.21.0/30", urn
    assert inputs["tunnel2InsideCidr"] == "169.254.21.4/30", urn
    # The keys reach the resource as Pulumi secrets, so the recorded inputs
    # hold only the marker.
    assert inputs["tunnel1PresharedKey"] == "[secret]", urn
    assert inputs["tunnel2PresharedKey"] == "[secret]", urn


def test_the_simulated_aws_received_the_configured_keys(stack, aws_endpoint):
    import boto3

    urn, connection = _one(stack, "aws:ec2/vpnConnection:VpnConnection")
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=aws_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    (described,) = ec2.describe_vpn_connections(VpnConnectionIds=[connection.id])[
        "VpnConnections"
    ]
    keys_seen = [t["PreSharedKey"] for t in described["Options"]["TunnelOptions"]]
    assert keys_seen == list(TUNNEL_KEYS.values()), urn


def test_a_static_route_for_every_on_premises_network(stack):
    routes = _of_type(stack, "aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    destinations = sorted(_inputs(stack, urn)["destinationCidrBlock"] for urn in routes)
    assert destinations == ["192.168.10.0/24", "192.168.20.0/24"], sorted(routes)


def test_security_group_admits_the_database_port_from_client_networks_only(stack):
    rules = _of_type(stack, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert len(rules) == 1, sorted(rules)
    (urn,) = rules
    inputs = _inputs(stack, urn)
    assert inputs["cidrIpv4"] == "192.168.10.0/24", urn
    assert (inputs["ipProtocol"], inputs["fromPort"], inputs["toPort"]) == (
        "tcp",
        3306,
        3306,
    ), urn
    sg_urn, _ = _one(stack, "aws:ec2/securityGroup:SecurityGroup")
    assert not _inputs(stack, sg_urn).get("ingress"), f"{sg_urn} has inline rules"


def test_database_is_private_encrypted_and_in_a_two_zone_subnet_group(stack):
    group_urn, group = _one(stack, "aws:rds/subnetGroup:SubnetGroup")
    assert len(_inputs(stack, group_urn)["subnetIds"]) == 2, group_urn
    urn, _ = _one(stack, "aws:rds/instance:Instance")
    inputs = _inputs(stack, urn)
    assert inputs["engine"] == "mysql", urn
    assert inputs["publiclyAccessible"] is False, urn
    assert inputs["storageEncrypted"] is True, urn
    assert inputs["manageMasterUserPassword"] is True, urn
    assert "password" not in inputs, f"{urn} must not carry a literal password"
    assert inputs["dbSubnetGroupName"] == group.id, urn
    assert inputs["dbName"] == "orders" and inputs["port"] == 3306, urn


def test_outputs_name_every_resource_the_checks_read(stack):
    run, _ = stack
    outputs = run.plain_outputs()
    expected = {
        keys.VPC_ID: "aws:ec2/vpc:Vpc",
        keys.VPN_GATEWAY_ID: "aws:ec2/vpnGateway:VpnGateway",
        keys.CUSTOMER_GATEWAY_ID: "aws:ec2/customerGateway:CustomerGateway",
        keys.VPN_CONNECTION_ID: "aws:ec2/vpnConnection:VpnConnection",
    }
    for key, type_token in expected.items():
        urn, resource = _one(stack, type_token)
        assert outputs.get(key) == resource.id, f"output {key} is not the id of {urn}"
    urn, instance = _one(stack, "aws:rds/instance:Instance")
    database = outputs[keys.DATABASES]["orders"]
    assert database[keys.DB_ADDRESS] == instance.state["address"], urn
    assert database[keys.DB_MASTER_SECRET_ARN].startswith("arn:aws:secretsmanager:"), (
        urn
    )
    urn, connection = _one(stack, "aws:ec2/vpnConnection:VpnConnection")
    assert outputs[keys.TUNNEL_OUTSIDE_IPS] == [
        connection.state["tunnel1Address"],
        connection.state["tunnel2Address"],
    ], urn


def test_pre_shared_keys_are_only_in_the_secret_output(stack):
    run, _ = stack
    assert run.outputs[keys.TUNNEL_PRESHARED_KEYS].secret, "the keys must be secret"
    assert sorted(run.outputs[keys.TUNNEL_PRESHARED_KEYS].value) == sorted(
        TUNNEL_KEYS.values()
    )
    text = repr(run.masked_outputs())
    for key in TUNNEL_KEYS.values():
        assert key not in text, "a stack output shows a tunnel's pre-shared key"


def test_tls_required_sets_require_secure_transport_in_the_parameter_group(stack):
    urn, group = _one(stack, "aws:rds/parameterGroup:ParameterGroup")
    parameters = {p["name"]: p["value"] for p in _inputs(stack, urn)["parameters"]}
    assert parameters == {"require_secure_transport": "1"}, urn
    assert _inputs(stack, urn)["family"] == "mysql8.0", urn
    instance_urn, _ = _one(stack, "aws:rds/instance:Instance")
    assert _inputs(stack, instance_urn)["parameterGroupName"] == group.id, instance_urn


def test_deletion_protection_is_on_unless_the_stack_turns_it_off(
    aws_endpoint, tunnel_keys, tmp_path: Path
):
    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(EXAMPLE.read_text().replace("slug: nordwind", "slug: guarded"))
    mocks = CloudMocks(endpoint_url=aws_endpoint, region=REGION)
    run = run_program(
        mocks, {"exchange:config": str(guarded)}, stack_name="test-guarded"
    )
    (urn,) = [u for u in run.resources if u.endswith("::guarded-orders-mysql")]
    (recorded,) = [r for r in mocks.recorded if r.name == "guarded-orders-mysql"]
    assert recorded.inputs["deletionProtection"] is True, urn
    assert recorded.inputs["skipFinalSnapshot"] is False, urn


def test_an_invalid_configuration_stops_the_program_with_the_validator_message(
    aws_endpoint, tmp_path: Path, tunnel_keys
):
    import pulumi

    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("10.42.0.0/16", "10.42.0.0/12"))
    mocks = CloudMocks(endpoint_url=aws_endpoint, region=REGION)
    with pytest.raises(pulumi.RunError, match="VPC-01"):
        run_program(mocks, {"exchange:config": str(broken)}, stack_name="test-invalid")
    assert mocks.recorded == [], "nothing may be created from an invalid file"


def test_a_one_zone_db_subnet_group_is_refused_as_aws_refuses_it(
    aws_endpoint, tmp_path: Path
):
    from simulator.provisioning import CloudMocks, ProvisioningError
    from simulator.pulumi_runner import run_program

    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi_aws as aws\n"
        "vpc = aws.ec2.Vpc('one-zone', cidr_block='10.9.0.0/16')\n"
        "subnets = [\n"
        "    aws.ec2.Subnet(f'one-zone-{n}', vpc_id=vpc.id,\n"
        "                   cidr_block=f'10.9.{n}.0/24',\n"
        "                   availability_zone='eu-central-1a')\n"
        "    for n in (1, 2)\n"
        "]\n"
        "aws.rds.SubnetGroup('one-zone', name='one-zone',\n"
        "                    subnet_ids=[s.id for s in subnets])\n"
    )
    mocks = CloudMocks(endpoint_url=aws_endpoint, region=REGION)
    with pytest.raises(ProvisioningError, match="DBSubnetGroupDoesNotCoverEnoughAZs"):
        run_program(mocks, {}, stack_name="test-one-zone", program=program)
