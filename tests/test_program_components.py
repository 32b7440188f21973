"""The program's components for every option, under the mocks.

The multi-option example exercises all five options, the BGP example every
tunnel option; each test names the URN it is about. The component tests of
the load balancer and the file storage go deeper (their own files); these
check how the program wires the components: parents, key inputs, egress
only where needed, tags, secrets.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pytest

from infra import outputs as keys
from simulator.pulumi_runner import type_of
from tests.conftest import ROOT, TUNNEL_KEYS

pytestmark = pytest.mark.pulumi

MULTI = ROOT / "examples" / "multi-option.yaml"
BGP_REGION = "eu-west-2"
BGP = ROOT / "examples" / "bgp-tunnel-options.yaml"
# Resources that AWS cannot tag: associations, routes, attachments, and the
# bucket's sub-resources, which belong to the (tagged) bucket.
UNTAGGABLE = {
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/route:Route",
    "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment",
    "aws:ec2/vpnConnectionRoute:VpnConnectionRoute",
    "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
}
WEB_SECRETS = {
    "NORDWIND_SHIPMENTS_CLIENT_SECRET": "Shipments-Client-Secret-7731",
    "NORDWIND_ERP_API_KEY": "Erp-Api-Key-4402-abcdef",
}


class Stack:
    def __init__(self, run: Any, mocks: Any) -> None:
        self.run, self.mocks = run, mocks

    def of_type(self, type_token: str) -> dict[str, Any]:
        return {
            urn: r
            for urn, r in self.run.resources.items()
            if type_of(urn) == type_token
        }

    def inputs(self, urn: str) -> dict[str, Any]:
        name, type_token = urn.split("::")[-1], type_of(urn)
        (recorded,) = [
            r for r in self.mocks.recorded if r.name == name and r.type_ == type_token
        ]
        return recorded.inputs

    def recorded(self, urn: str) -> Any:
        name, type_token = urn.split("::")[-1], type_of(urn)
        (recorded,) = [
            r for r in self.mocks.recorded if r.name == name and r.type_ == type_token
        ]
        return recorded


def _run(example, aws_endpoint, monkeypatch_env, stack_name, region) -> Stack:
    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    patch = pytest.MonkeyPatch()
    for name, value in {**TUNNEL_KEYS, **monkeypatch_env}.items():
        patch.setenv(name, value)
    try:
        # A region of its own in the session's moto: other modules provision
        # the same examples, whose names would collide.
        mocks = CloudMocks(endpoint_url=aws_endpoint, region=region)
        run = run_program(
            mocks,
            {"exchange:config": str(example), "exchange:deletionProtection": "false"},
            stack_name=stack_name,
        )
    finally:
        patch.undo()
    return Stack(run, mocks)


@pytest.fixture(scope="module")
def multi(aws_endpoint) -> Stack:
    return _run(MULTI, aws_endpoint, WEB_SECRETS, "components-multi", "eu-west-3")


@pytest.fixture(scope="module")
def bgp(aws_endpoint) -> Stack:
    return _run(BGP, aws_endpoint, {}, "components-bgp", BGP_REGION)


def test_every_cloud_resource_is_a_child_of_a_component(multi):
    for urn in multi.run.cloud_resources():
        parents = urn.split("::")[-2]
        assert "exchange:infra:" in parents, f"{urn} is not inside a component"


def test_every_taggable_resource_carries_the_customer(multi):
    for urn in multi.run.cloud_resources():
        if type_of(urn) in UNTAGGABLE:
            continue
        tags = multi.inputs(urn).get("tags") or {}
        assert tags.get("exchange:customer") == "nordwind", urn


def test_egress_has_a_nat_gateway_with_an_elastic_ip_in_each_zone(multi):
    gateways = multi.of_type("aws:ec2/natGateway:NatGateway")
    assert len(gateways) == 2, sorted(gateways)
    addresses = {r.id for r in multi.of_type("aws:ec2/eip:Eip").values()}
    public = {
        r.id: multi.inputs(urn)["availabilityZone"]
        for urn, r in multi.of_type("aws:ec2/subnet:Subnet").items()
        if multi.inputs(urn)["tags"].get("exchange:tier") == "public"
    }
    zones = set()
    for urn in gateways:
        inputs = multi.inputs(urn)
        assert inputs["allocationId"] in addresses, urn
        assert inputs["subnetId"] in public, f"{urn} must sit in a public subnet"
        zones.add(public[inputs["subnetId"]])
    assert len(zones) == 2, "one NAT gateway per zone (NAT-06)"
    exported = multi.run.plain_outputs()[keys.EGRESS_IPS]
    recorded = sorted(
        multi.recorded(urn).outputs["publicIp"]
        for urn in multi.of_type("aws:ec2/eip:Eip")
    )
    assert sorted(exported) == recorded


def test_each_private_route_table_defaults_to_the_nat_gateway_of_its_zone(multi):
    subnets = {
        r.id: multi.inputs(urn)
        for urn, r in multi.of_type("aws:ec2/subnet:Subnet").items()
    }
    table_zone = {}
    for urn in multi.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"):
        inputs = multi.inputs(urn)
        subnet = subnets[inputs["subnetId"]]
        table_zone[inputs["routeTableId"]] = (
            subnet["availabilityZone"],
            subnet["tags"]["exchange:tier"],
        )
    nat_zone = {
        r.id: subnets[multi.inputs(urn)["subnetId"]]["availabilityZone"]
        for urn, r in multi.of_type("aws:ec2/natGateway:NatGateway").items()
    }
    defaults = [
        multi.inputs(urn)
        for urn in multi.of_type("aws:ec2/route:Route")
        if multi.inputs(urn)["destinationCidrBlock"] == "0.0.0.0/0"
    ]
    private = [d for d in defaults if "natGatewayId" in d]
    assert len(private) == 2, defaults
    for route in private:
        zone, tier = table_zone[route["routeTableId"]]
        assert tier == "private" and nat_zone[route["natGatewayId"]] == zone, route
    public = [d for d in defaults if "gatewayId" in d]
    (gateway,) = multi.of_type("aws:ec2/internetGateway:InternetGateway").values()
    assert len(public) == 2 and {p["gatewayId"] for p in public} == {gateway.id}


def test_public_subnets_lie_after_the_private_ones_inside_the_vpc(multi):
    vpc = IPv4Network("10.42.0.0/16")
    cidrs = {
        multi.inputs(urn)["tags"]["exchange:tier"]: IPv4Network(
            multi.inputs(urn)["cidrBlock"]
        )
        for urn in multi.of_type("aws:ec2/subnet:Subnet")
    }
    assert all(c.subnet_of(vpc) for c in cidrs.values())
    subnets = [
        IPv4Network(multi.inputs(u)["cidrBlock"])
        for u in multi.of_type("aws:ec2/subnet:Subnet")
    ]
    assert len(set(subnets)) == 4 and not any(
        a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :]
    )


def test_only_the_remote_database_via_vpn_gets_a_load_balancer(multi):
    balancers = multi.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert len(balancers) == 1, sorted(balancers)
    (urn,) = balancers
    assert "warehouse" in urn
    (attachment,) = multi.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    inputs = multi.inputs(attachment)
    assert inputs["targetId"] == "192.168.30.15" and inputs["availabilityZone"] == "all"
    gateway = multi.run.plain_outputs()[keys.REMOTE_DATABASES]["warehouse"]
    assert gateway[keys.NLB_DNS_NAME] == balancers[urn].state["dnsName"]
    assert "finance" not in multi.run.plain_outputs()[keys.REMOTE_DATABASES]


def test_file_storage_exchanges_share_the_default_bucket_each_in_its_folder(multi):
    (bucket_urn,) = multi.of_type("aws:s3/bucket:Bucket")
    assert multi.inputs(bucket_urn)["bucket"] == "nordwind-exchange-files"
    (lifecycle,) = multi.of_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    prefixes = {r["filter"]["prefix"] for r in multi.inputs(lifecycle)["rules"]}
    assert prefixes == {"invoices/incoming/", "reports/daily/"}
    storages = multi.run.plain_outputs()[keys.FILE_STORAGES]
    assert storages["invoices"][keys.BUCKET_NAME] == "nordwind-exchange-files"
    assert storages["reports"][keys.BUCKET_PREFIX] == "reports/daily/"


def test_both_app_databases_are_provisioned(multi):
    instances = multi.of_type("aws:rds/instance:Instance")
    identifiers = sorted(multi.inputs(urn)["identifier"] for urn in instances)
    assert identifiers == ["nordwind-catalogue", "nordwind-orders"]


def test_tunnel_options_reach_the_vpn_connection(multi, bgp):
    (urn,) = multi.of_type("aws:ec2/vpnConnection:VpnConnection")
    inputs = multi.inputs(urn)
    for n in (1, 2):
        assert inputs[f"tunnel{n}IkeVersions"] == ["ikev2"], urn
        assert inputs[f"tunnel{n}StartupAction"] == "start", urn
    (urn,) = bgp.of_type("aws:ec2/vpnConnection:VpnConnection")
    inputs = bgp.inputs(urn)
    assert inputs["staticRoutesOnly"] is False, urn
    for n in (1, 2):
        assert inputs[f"tunnel{n}Phase1EncryptionAlgorithms"] == ["AES256"], urn
        assert inputs[f"tunnel{n}Phase2DhGroupNumbers"] == [14], urn
        assert inputs[f"tunnel{n}RekeyMarginTimeSeconds"] == 540, urn
        assert inputs[f"tunnel{n}DpdTimeoutAction"] == "restart", urn


def test_the_simulated_aws_describes_the_configured_tunnel_options(bgp, aws_endpoint):
    from exchange.environment import simulator_session

    ec2 = simulator_session(BGP_REGION).client("ec2", endpoint_url=aws_endpoint)
    (urn,) = bgp.of_type("aws:ec2/vpnConnection:VpnConnection")
    connection_id = bgp.run.resources[urn].id
    (connection,) = ec2.describe_vpn_connections(VpnConnectionIds=[connection_id])[
        "VpnConnections"
    ]
    for tunnel in connection["Options"]["TunnelOptions"]:
        assert tunnel["Phase1DHGroupNumbers"] == [{"Value": 14}], urn
        assert tunnel["Phase1LifetimeSeconds"] == 28800, urn
        assert tunnel["RekeyMarginTimeSeconds"] == 540, urn
        assert tunnel["DpdTimeoutAction"] == "restart", urn
        assert tunnel["StartupAction"] == "start", urn


def test_bgp_has_no_static_routes_and_the_configured_amazon_asn(bgp):
    assert bgp.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute") == {}
    (urn,) = bgp.of_type("aws:ec2/vpnGateway:VpnGateway")
    assert bgp.inputs(urn)["amazonSideAsn"] == "64600", urn
    (urn,) = bgp.of_type("aws:ec2/customerGateway:CustomerGateway")
    assert bgp.inputs(urn)["bgpAsn"] == "65010", urn


def test_secrets_stay_secret_in_what_the_program_declares(multi):
    (urn,) = multi.of_type("aws:ec2/vpnConnection:VpnConnection")
    inputs = multi.inputs(urn)
    assert inputs["tunnel1PresharedKey"] == "[secret]", urn
    assert inputs["tunnel2PresharedKey"] == "[secret]", urn
    everything = repr([(r.inputs, r.outputs) for r in multi.mocks.recorded])
    for value in (*TUNNEL_KEYS.values(), *WEB_SECRETS.values()):
        assert value not in everything
    assert multi.run.outputs[keys.TUNNEL_PRESHARED_KEYS].secret


def test_policies_pass_the_program_for_every_option(multi):
    from policies.exchange_policies import check_resource, check_stack

    violations = []
    for recorded in multi.mocks.recorded:
        violations += check_resource(recorded.type_, recorded.name, recorded.inputs)
    violations += check_stack(
        [(r.type_, r.name, r.outputs) for r in multi.mocks.recorded],
        multi.run.plain_outputs(),
    )
    assert violations == []
