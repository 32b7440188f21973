"""Every example provisions on the simulator, describes like AWS, and goes away.

`sim start` → `up` → the describe calls → `down` → nothing of the customer
is left, and nothing of another customer is touched. These run the real
simulator (its moto server in a process of its own) and the real program.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.config import load_config
from exchange.config.model import generate_pre_shared_key
from exchange.environment import simulator_session
from infra import outputs as keys
from tests.conftest import ROOT, TUNNEL_KEYS

pytestmark = [pytest.mark.pulumi, pytest.mark.simulator]

EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml"))
CUSTOMER_TAG = "exchange:customer"

requires_mariadb = pytest.mark.skipif(
    shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists(),
    reason="mariadbd not installed (mariadb-server; make test installs it as root)",
)


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every secret the examples reference, set to a value of this test's."""
    for name, value in TUNNEL_KEYS.items():
        monkeypatch.setenv(name, value)
    for example in EXAMPLES:
        for reference in load_config(example).secret_refs():
            if reference.env and reference.env not in TUNNEL_KEYS:
                monkeypatch.setenv(reference.env, generate_pre_shared_key())


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One simulator for the module: starting one costs a second or two."""
    from simulator.cloud import SimulatedCloud

    simulated = SimulatedCloud(tmp_path_factory.mktemp("lifecycle") / "sim")
    simulated.start()
    try:
        yield simulated
    finally:
        simulated.stop()


@pytest.fixture
def cloud(simulator: Any) -> Iterator[Any]:
    """The module's simulator, emptied of every stack after each test."""
    try:
        yield simulator
    finally:
        for customer in simulator.recorded_customers():
            simulator.deprovision(customer)


def _clients(cloud: Any, region: str) -> dict[str, Any]:
    session = simulator_session(region)
    endpoint = cloud.environment().aws_endpoint_url
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ("ec2", "rds", "elbv2", "s3")
    }


def _tagged(tags: list[dict[str, str]] | None, customer: str) -> bool:
    return any(t["Key"] == CUSTOMER_TAG and t["Value"] == customer for t in tags or [])


# (describe call, list in the answer, id key) of every EC2 kind the program makes.
EC2_KINDS = (
    ("describe_vpcs", "Vpcs", "VpcId"),
    ("describe_subnets", "Subnets", "SubnetId"),
    ("describe_route_tables", "RouteTables", "RouteTableId"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    ("describe_security_groups", "SecurityGroups", "GroupId"),
    ("describe_addresses", "Addresses", "AllocationId"),
    ("describe_nat_gateways", "NatGateways", "NatGatewayId"),
    ("describe_vpn_gateways", "VpnGateways", "VpnGatewayId"),
    ("describe_customer_gateways", "CustomerGateways", "CustomerGatewayId"),
    ("describe_vpn_connections", "VpnConnections", "VpnConnectionId"),
)
# States in which AWS still describes a resource that is gone.
GONE = ("deleted", "deleting")


def resources_of(cloud: Any, region: str, customer: str) -> list[str]:
    """Every live resource in the simulated AWS tagged with `customer`."""
    c = _clients(cloud, region)
    ec2, rds, elbv2, s3 = c["ec2"], c["rds"], c["elbv2"], c["s3"]
    # moto ignores tag filters on some of these calls, so the tags are
    # compared on this side for all of them.
    found = []
    for call, items, key in EC2_KINDS:
        for item in getattr(ec2, call)()[items]:
            if item.get("State") in GONE or item.get("state") in GONE:
                continue
            if _tagged(item.get("Tags"), customer):
                found.append(item[key])
    found += [
        i["DBInstanceIdentifier"]
        for i in rds.describe_db_instances()["DBInstances"]
        if _tagged(i.get("TagList"), customer)
    ]
    for group in rds.describe_db_subnet_groups()["DBSubnetGroups"]:
        tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])
        if _tagged(tags["TagList"], customer):
            found.append(group["DBSubnetGroupName"])
    for group in rds.describe_db_parameter_groups()["DBParameterGroups"]:
        tags = rds.list_tags_for_resource(ResourceName=group["DBParameterGroupArn"])
        if _tagged(tags["TagList"], customer):
            found.append(group["DBParameterGroupName"])
    balancers = [
        b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]
    ]
    groups = [
        g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]
    ]
    if balancers or groups:
        for description in elbv2.describe_tags(ResourceArns=balancers + groups)[
            "TagDescriptions"
        ]:
            if _tagged(description["Tags"], customer):
                found.append(description["ResourceArn"])
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except s3.exceptions.ClientError:
            continue
        if _tagged(tags, customer):
            found.append(bucket["Name"])
    return found


@requires_mariadb
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_provisions_describes_like_aws_and_goes_away(
    example: Path, cloud: Any, secrets_set: None
):
    config = load_config(example)
    customer = config.customer.slug
    # The control plane is the subject here; tests/test_data_plane.py builds
    # and removes the networks.
    result = cloud.provision(config, config_path=example, data_plane=False)
    assert result.action == "created", result
    outputs = result.outputs
    ec2 = _clients(cloud, config.region)["ec2"]

    (connection,) = ec2.describe_vpn_connections(
        VpnConnectionIds=[outputs[keys.VPN_CONNECTION_ID]]
    )["VpnConnections"]
    tunnels = connection["Options"]["TunnelOptions"]
    assert [t["TunnelInsideCidr"] for t in tunnels] == [
        str(t.inside_cidr) for t in config.vpn.tunnels
    ], example.name
    assert len({t["OutsideIpAddress"] for t in tunnels}) == 2, "outside IPs distinct"
    for tunnel, configured in zip(tunnels, config.vpn.tunnels, strict=True):
        if configured.ike_versions:
            assert [v["Value"] for v in tunnel["IkeVersions"]] == list(
                configured.ike_versions
            ), example.name
        if configured.startup_action:
            assert tunnel["StartupAction"] == configured.startup_action, example.name
    assert connection["Options"]["StaticRoutesOnly"] == (
        config.on_premises.routing == "static"
    ), example.name
    if config.on_premises.routing == "static":
        assert sorted(
            r["DestinationCidrBlock"] for r in connection["Routes"]
        ) == sorted(str(n) for n in config.on_premises.networks), example.name
    assert len(connection["VgwTelemetry"]) == 2, example.name

    tables = ec2.describe_route_tables(
        RouteTableIds=outputs[keys.PRIVATE_ROUTE_TABLE_IDS]
    )["RouteTables"]
    for table in tables:
        assert table["PropagatingVgws"] == [
            {"GatewayId": outputs[keys.VPN_GATEWAY_ID]}
        ], table["RouteTableId"]

    if config.needs_egress():
        addresses = ec2.describe_addresses()["Addresses"]
        egress = {a["PublicIp"] for a in addresses}
        assert set(outputs[keys.EGRESS_IPS]) <= egress, outputs[keys.EGRESS_IPS]
        assert len(outputs[keys.EGRESS_IPS]) == 2, "one NAT gateway per zone"
        assert not any(ip.startswith("127.") for ip in outputs[keys.EGRESS_IPS])
        for table in tables:
            defaults = [
                r
                for r in table["Routes"]
                if r.get("DestinationCidrBlock") == "0.0.0.0/0"
            ]
            assert [r.get("NatGatewayId", "")[:4] for r in defaults] == ["nat-"], table
    else:
        assert outputs[keys.EGRESS_IPS] == [], "no egress without a need for it"

    assert resources_of(cloud, config.region, customer), "resources carry the tag"
    deleted = cloud.deprovision(customer)
    assert deleted == len(result.plan.declared), (deleted, result.plan.summary())
    assert resources_of(cloud, config.region, customer) == [], example.name
    assert customer not in cloud.environment().stacks
    assert not any(p.customer == customer for p in cloud._processes())


@requires_mariadb
def test_up_twice_changes_nothing(cloud: Any, secrets_set: None):
    example = ROOT / "examples" / "multi-option.yaml"
    config = load_config(example)
    first = cloud.provision(config, config_path=example)
    second = cloud.provision(config, config_path=example)
    assert second.action == "unchanged", second.plan.summary()
    assert second.outputs == first.outputs
    assert len(second.plan.declared) == len(first.plan.declared)


@requires_mariadb
def test_a_changed_key_replaces_the_stack(
    cloud: Any, secrets_set: None, monkeypatch: pytest.MonkeyPatch
):
    example = ROOT / "examples" / "app-database.yaml"
    config = load_config(example)
    first = cloud.provision(config, config_path=example)
    monkeypatch.setenv("NORDWIND_TUNNEL1_PSK", "Hx5wAnotherTunnelKey_42")
    second = cloud.provision(config, config_path=example)
    assert second.action == "replaced", second.plan.summary()
    assert any("VpnConnection" in name for name in second.plan.changed)
    assert "Hx5wAnotherTunnelKey_42" not in second.plan.summary()
    assert (
        second.outputs[keys.VPN_CONNECTION_ID] != first.outputs[keys.VPN_CONNECTION_ID]
    )
    live = resources_of(cloud, config.region, config.customer.slug)
    assert first.outputs[keys.VPC_ID] not in live, "the old stack is gone"
    assert second.outputs[keys.VPC_ID] in live


def _other_customer(tmp_path: Path, source: Path) -> Path:
    """The example as another customer's, with a gateway address of its own."""
    text = source.read_text()
    text = text.replace("slug: nordwind", "slug: sonnenhof")
    text = text.replace(
        "customerGatewayIp: 203.0.113.10", "customerGatewayIp: 203.0.113.20"
    )
    other = tmp_path / "sonnenhof.yaml"
    other.write_text(text)
    # The response schemas it names, relative to the file (EXC-06).
    shutil.copytree(source.parent / "responses", tmp_path / "responses")
    return other


@requires_mariadb
def test_down_removes_one_customer_and_nothing_of_another(
    cloud: Any, secrets_set: None, tmp_path: Path
):
    example = ROOT / "examples" / "multi-option.yaml"
    config = load_config(example)
    other_path = _other_customer(tmp_path, example)
    other = load_config(other_path)
    cloud.provision(config, config_path=example)
    cloud.provision(other, config_path=other_path)
    kept = sorted(resources_of(cloud, other.region, "sonnenhof"))
    assert kept

    cloud.deprovision("nordwind")

    assert resources_of(cloud, config.region, "nordwind") == []
    assert sorted(resources_of(cloud, other.region, "sonnenhof")) == kept
    assert list(cloud.environment().stacks) == ["sonnenhof"]
