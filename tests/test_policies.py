"""The policy pack: each policy refuses what it names and lets the program's shapes be.

Resources are given as the policies see them: camelCase wire names, numbers
as floats, secrets as the simulator's "[secret]" marker or as plain values.
"""

from __future__ import annotations

import runpy
import sys
import tomllib

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies import EGRESS_IPS, POLICIES, Violation, check_resource, check_stack
from tests.conftest import ROOT

INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
ELASTIC_IP = "aws:ec2/eip:Eip"

# Never a real customer's key; distinctive, so that a leak is found.
PRE_SHARED_KEY = "Xq9LeakCanaryKey_2718"


def mysql_instance(**changes):
    props = {
        "identifier": "nordwind-orders",
        "engine": "mysql",
        "engineVersion": "8.0.40",
        "port": 3306.0,
        "publiclyAccessible": False,
        "storageEncrypted": True,
        "parameterGroupName": "nordwind-orders-params",
        "vpcSecurityGroupIds": ["sg-0a1b2c3d"],
        "backupRetentionPeriod": 7.0,
        "deletionProtection": True,
        "tags": {"exchange:customer": "nordwind"},
    }
    props.update(changes)
    return {k: v for k, v in props.items() if v is not None}


def parameter_group(value="1", tags=None, family="mysql8.0"):
    parameters = []
    if value is not None:
        parameters.append(
            {
                "name": "require_secure_transport",
                "value": value,
                "applyMethod": "immediate",
            }
        )
    return {
        "name": "nordwind-orders-params",
        "family": family,
        "parameters": parameters,
        "tags": tags or {"exchange:customer": "nordwind"},
    }


def vpn_connection(**changes):
    props = {
        "type": "ipsec.1",
        "staticRoutesOnly": True,
        "tunnel1InsideCidr": "169.254.21.0/30",
        "tunnel1PresharedKey": "[secret]",
        "tunnel2InsideCidr": "169.254.21.4/30",
        "tunnel2PresharedKey": "[secret]",
    }
    props.update(changes)
    return {k: v for k, v in props.items() if v is not None}


def public_access_block(**changes):
    props = {
        "bucket": "nordwind-files",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    props.update(changes)
    return props


def egress(zone, address):
    """One zone's Elastic IP and NAT gateway, with outputs as after an update."""
    allocation = f"eipalloc-{zone}"
    return [
        (
            ELASTIC_IP,
            f"nordwind-egress-{zone}-eip",
            {"domain": "vpc", "allocationId": allocation, "publicIp": address},
        ),
        (
            NAT_GATEWAY,
            f"nordwind-egress-{zone}-nat",
            {
                "allocationId": allocation,
                "subnetId": f"subnet-{zone}",
                "connectivityType": "public",
                "publicIp": address,
            },
        ),
    ]


TWO_ZONES = egress("a", "198.51.100.7") + egress("b", "198.51.100.8")


def of(policy, violations):
    return [v for v in violations if v.policy == policy]


def the_one(policy, violations):
    found = of(policy, violations)
    assert len(found) == 1, [str(v) for v in violations]
    return found[0]


# -- the violation -------------------------------------------------------------


def test_a_violation_reads_policy_resource_message_and_fix():
    violation = Violation("rds-not-public", "db", "it is public", "make it private")
    assert str(violation) == "rds-not-public: db: it is public; make it private"


def test_every_policy_has_a_unique_name_and_a_description():
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)), names
    assert all(policy.description for policy in POLICIES)


# -- rds-not-public ------------------------------------------------------------


def test_rds_not_public_refuses_a_publicly_accessible_instance():
    violations = check_resource(
        INSTANCE, "nordwind-orders-mysql", mysql_instance(publiclyAccessible=True)
    )
    violation = the_one("rds-not-public", violations)
    assert violation.resource == "nordwind-orders-mysql"
    assert "RDS-13" in violation.message
    assert "publicly_accessible=False" in violation.fix


def test_rds_not_public_passes_a_private_instance():
    assert check_resource(INSTANCE, "nordwind-orders-mysql", mysql_instance()) == []


# -- rds-storage-encrypted -----------------------------------------------------


def test_rds_storage_encrypted_refuses_an_instance_left_at_the_default():
    violations = check_resource(
        INSTANCE, "nordwind-orders-mysql", mysql_instance(storageEncrypted=None)
    )
    violation = the_one("rds-storage-encrypted", violations)
    assert violation.resource == "nordwind-orders-mysql"
    assert "RDS-15" in violation.message
    assert "storage_encrypted=True" in violation.fix


def test_rds_storage_encrypted_passes_an_encrypted_instance():
    violations = check_resource(INSTANCE, "db", mysql_instance(storageEncrypted=True))
    assert of("rds-storage-encrypted", violations) == []


# -- rds-tls-required ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [("0", "require_secure_transport=0"), (None, "does not set")],
    ids=["turned-off", "left-out"],
)
def test_rds_tls_required_refuses_a_parameter_group_without_tls(value, said):
    violations = check_resource(
        PARAMETER_GROUP, "nordwind-orders-params", parameter_group(value)
    )
    violation = the_one("rds-tls-required", violations)
    assert violation.resource == "nordwind-orders-params"
    assert said in violation.message
    assert "RDS-21" in violation.message
    assert "require_secure_transport=1" in violation.fix
    assert "exchange:tls=optional" in violation.fix


def test_rds_tls_required_refuses_an_instance_on_the_default_parameter_group():
    violations = check_resource(
        INSTANCE, "nordwind-orders-mysql", mysql_instance(parameterGroupName=None)
    )
    violation = the_one("rds-tls-required", violations)
    assert violation.resource == "nordwind-orders-mysql"
    assert "default" in violation.message
    assert "parameter_group_name" in violation.fix


@pytest.mark.parametrize(
    "props",
    [
        parameter_group("1"),
        parameter_group("ON"),
        # The configuration's recorded opt-out.
        parameter_group("0", tags={"exchange:tls": "optional"}),
        # RDS requires TLS by default from MySQL 9 (RDS-21).
        parameter_group(None, family="mysql9.1"),
    ],
    ids=["one", "on", "opted-out", "mysql9-default"],
)
def test_rds_tls_required_passes_a_parameter_group_that_requires_tls(props):
    assert check_resource(PARAMETER_GROUP, "nordwind-orders-params", props) == []


# -- rds-parameter-group-of-stack ----------------------------------------------


def test_rds_parameter_group_of_stack_refuses_a_group_from_elsewhere():
    resources = [
        (PARAMETER_GROUP, "nordwind-orders-params", parameter_group()),
        (
            INSTANCE,
            "nordwind-orders-mysql",
            mysql_instance(parameterGroupName="default.mysql8.0"),
        ),
    ]
    violation = the_one("rds-parameter-group-of-stack", check_stack(resources, {}))
    assert violation.resource == "nordwind-orders-mysql"
    assert "default.mysql8.0" in violation.message
    assert "parameter_group_name" in violation.fix


def test_rds_parameter_group_of_stack_passes_the_stacks_own_group():
    resources = [
        (PARAMETER_GROUP, "nordwind-orders-params", parameter_group()),
        (INSTANCE, "nordwind-orders-mysql", mysql_instance()),
    ]
    assert check_stack(resources, {}) == []


# -- no-open-database-port -----------------------------------------------------

OPEN_TO_THE_INTERNET = [
    (
        SECURITY_GROUP,
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 3306.0,
                    "toPort": 3306.0,
                    "cidrBlocks": ["192.168.10.0/24", "0.0.0.0/0"],
                }
            ]
        },
        "3306",
    ),
    (
        INGRESS_RULE,
        {
            "ipProtocol": "tcp",
            "fromPort": 5432.0,
            "toPort": 5432.0,
            "cidrIpv6": "::/0",
            "securityGroupId": "sg-0a1b2c3d",
        },
        "5432",
    ),
    (
        INGRESS_RULE,
        {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "securityGroupId": "sg-1"},
        "every protocol and port",
    ),
    (
        SECURITY_GROUP_RULE,
        {
            "type": "ingress",
            "protocol": "tcp",
            "fromPort": 0.0,
            "toPort": 65535.0,
            "cidrBlocks": ["0.0.0.0/0"],
            "securityGroupId": "sg-1",
        },
        "27017",
    ),
]


@pytest.mark.parametrize(
    ("resource_type", "props", "port"),
    OPEN_TO_THE_INTERNET,
    ids=["inline-mysql", "rule-postgres-ipv6", "rule-all-traffic", "rule-all-ports"],
)
def test_no_open_database_port_refuses_a_rule_from_anywhere(resource_type, props, port):
    violations = check_resource(resource_type, "nordwind-orders-sg", props)
    violation = the_one("no-open-database-port", violations)
    assert violation.resource == "nordwind-orders-sg"
    assert port in violation.message
    assert "the whole internet" in violation.message
    assert "customer's networks" in violation.fix


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            INGRESS_RULE,
            {
                "ipProtocol": "tcp",
                "fromPort": 3306.0,
                "toPort": 3306.0,
                "cidrIpv4": "192.168.10.0/24",
            },
        ),
        # HTTPS from anywhere is no database port.
        (
            SECURITY_GROUP,
            {
                "ingress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 443.0,
                        "toPort": 443.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                    }
                ]
            },
        ),
        # Egress to anywhere admits nothing.
        (
            SECURITY_GROUP_RULE,
            {
                "type": "egress",
                "protocol": "-1",
                "fromPort": 0.0,
                "toPort": 0.0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
    ],
    ids=["customer-network", "https-from-anywhere", "egress-rule"],
)
def test_no_open_database_port_passes_rules_that_keep_databases_closed(
    resource_type, props
):
    assert check_resource(resource_type, "nordwind-orders-sg", props) == []


# -- s3-public-access-blocked --------------------------------------------------


def test_s3_public_access_blocked_refuses_a_block_with_a_setting_off():
    violations = check_resource(
        PUBLIC_ACCESS_BLOCK,
        "nordwind-files-public-access",
        public_access_block(restrictPublicBuckets=False, ignorePublicAcls=None),
    )
    violation = the_one("s3-public-access-blocked", violations)
    assert violation.resource == "nordwind-files-public-access"
    assert "restrict_public_buckets" in violation.message
    assert "ignore_public_acls" in violation.message
    assert "restrict_public_buckets=True" in violation.fix
    assert "block_public_acls" not in violation.fix


def test_s3_public_access_blocked_passes_a_block_with_all_four_on():
    assert check_resource(PUBLIC_ACCESS_BLOCK, "pab", public_access_block()) == []


# -- s3-bucket-has-public-access-block -----------------------------------------


def test_s3_bucket_has_public_access_block_refuses_a_bucket_without_one():
    resources = [
        (BUCKET, "nordwind-files", {"bucket": "nordwind-files"}),
        (BUCKET, "nordwind-reports", {"bucket": "nordwind-reports"}),
        (PUBLIC_ACCESS_BLOCK, "nordwind-files-pab", public_access_block()),
    ]
    violation = the_one("s3-bucket-has-public-access-block", check_stack(resources, {}))
    assert violation.resource == "nordwind-reports"
    assert "nordwind-reports" in violation.message
    assert "BucketPublicAccessBlock" in violation.fix


def test_s3_bucket_has_public_access_block_passes_a_blocked_bucket():
    resources = [
        (BUCKET, "nordwind-files", {"bucket": "nordwind-files"}),
        (PUBLIC_ACCESS_BLOCK, "nordwind-files-pab", public_access_block()),
    ]
    assert check_stack(resources, {}) == []


# -- vpn-both-tunnels-configured -----------------------------------------------


def test_vpn_both_tunnels_configured_refuses_a_tunnel_without_its_key():
    violations = check_resource(
        VPN_CONNECTION, "nordwind-vpn", vpn_connection(tunnel2PresharedKey=None)
    )
    violation = the_one("vpn-both-tunnels-configured", violations)
    assert violation.resource == "nordwind-vpn"
    assert "tunnel 2 pre-shared key" in violation.message
    assert "tunnel 1" not in violation.message
    assert "tunnel2_preshared_key" in violation.fix


def test_vpn_both_tunnels_configured_refuses_a_missing_inside_cidr():
    violations = check_resource(
        VPN_CONNECTION, "nordwind-vpn", vpn_connection(tunnel1InsideCidr="")
    )
    violation = the_one("vpn-both-tunnels-configured", violations)
    assert "tunnel 1 inside CIDR" in violation.message
    assert "tunnel1_inside_cidr" in violation.fix


@pytest.mark.parametrize("key", ["[secret]", PRE_SHARED_KEY], ids=["masked", "plain"])
def test_vpn_both_tunnels_configured_passes_both_tunnels_set(key):
    props = vpn_connection(tunnel1PresharedKey=key, tunnel2PresharedKey=key)
    assert check_resource(VPN_CONNECTION, "nordwind-vpn", props) == []


@pytest.mark.parametrize(
    "props",
    [
        vpn_connection(tunnel1PresharedKey=PRE_SHARED_KEY, tunnel2PresharedKey=None),
        vpn_connection(tunnel1PresharedKey=None, tunnel2PresharedKey=PRE_SHARED_KEY),
        vpn_connection(
            tunnel1PresharedKey=PRE_SHARED_KEY,
            tunnel2PresharedKey=PRE_SHARED_KEY,
            tunnel1InsideCidr=None,
            tunnel2InsideCidr=None,
        ),
    ],
    ids=["tunnel2-key-missing", "tunnel1-key-missing", "cidrs-missing"],
)
def test_no_policy_message_about_a_vpn_connection_reveals_its_key(props):
    violations = check_resource(VPN_CONNECTION, "nordwind-vpn", props)
    violations += check_stack([(VPN_CONNECTION, "nordwind-vpn", props)], {})
    assert violations, "the connection violates vpn-both-tunnels-configured"
    for violation in violations:
        assert PRE_SHARED_KEY not in str(violation), violation.policy


# -- egress-ips-exported -------------------------------------------------------


def test_egress_ips_exported_refuses_a_stack_without_the_export():
    violation = the_one(
        "egress-ips-exported",
        check_stack(TWO_ZONES, {"vpcId": "vpc-1"}, stack="nordwind"),
    )
    assert violation.resource == "customer-exchange-nordwind"
    assert EGRESS_IPS in violation.message
    assert "2 NAT gateway(s)" in violation.message
    assert f"pulumi.export({EGRESS_IPS!r}" in violation.fix


def test_egress_ips_exported_refuses_a_list_missing_a_nat_gateway():
    violations = of(
        "egress-ips-exported", check_stack(TWO_ZONES, {EGRESS_IPS: ["198.51.100.7"]})
    )
    messages = " | ".join(v.message for v in violations)
    assert "1 address(es) for 2 NAT gateway(s)" in messages
    assert "198.51.100.8" in messages
    assert "nordwind-egress-b-nat" in messages
    assert all(v.fix for v in violations)


def test_egress_ips_exported_refuses_a_secret_export():
    violation = the_one(
        "egress-ips-exported", check_stack(TWO_ZONES, {EGRESS_IPS: "[secret]"})
    )
    assert "secret" in violation.message
    assert "in the clear" in violation.fix


def test_egress_ips_exported_finds_the_address_through_the_elastic_ip():
    # As the program declares it: the NAT gateway names only its allocation.
    resources = [
        (ELASTIC_IP, "eip", {"allocationId": "eipalloc-a", "publicIp": "198.51.100.7"}),
        (NAT_GATEWAY, "nat", {"allocationId": "eipalloc-a", "subnetId": "subnet-a"}),
    ]
    violation = the_one(
        "egress-ips-exported", check_stack(resources, {EGRESS_IPS: ["198.51.100.9"]})
    )
    assert "198.51.100.7" in violation.message


@pytest.mark.parametrize(
    ("resources", "outputs"),
    [
        (TWO_ZONES, {EGRESS_IPS: ["198.51.100.8", "198.51.100.7"]}),
        # Preview: the addresses are not allocated yet.
        (TWO_ZONES, {EGRESS_IPS: UNKNOWN_STRING_VALUE}),
        # No NAT gateway, nothing to whitelist.
        ([], {EGRESS_IPS: []}),
        ([], {}),
    ],
    ids=["every-address", "preview", "no-nat-exported-empty", "no-nat-no-export"],
)
def test_egress_ips_exported_passes(resources, outputs):
    assert check_stack(resources, outputs) == []


def test_egress_ips_key_is_the_programs():
    from infra import outputs

    assert outputs.EGRESS_IPS == EGRESS_IPS


# -- the pack ------------------------------------------------------------------


class _Serving(Exception):
    """Raised where the pack would start serving the Pulumi CLI."""


class _Server:
    def add_insecure_port(self, address):
        return 0

    def start(self):
        raise _Serving


@pytest.fixture
def pack(monkeypatch):
    """The pack's analyzer, built by policies/__main__.py as the CLI runs it."""
    import pulumi_policy.policy as sdk

    servicers = []
    monkeypatch.setattr(sdk.grpc, "server", lambda *args, **kwargs: _Server())
    monkeypatch.setattr(
        sdk.analyzer_pb2_grpc,
        "add_AnalyzerServicer_to_server",
        lambda servicer, server: servicers.append(servicer),
    )
    try:
        with pytest.raises(_Serving):
            runpy.run_path(str(ROOT / "policies"), run_name="__main__")
    finally:
        # The pack imports its policies as a top-level module, as the CLI runs it.
        sys.modules.pop("exchange_policies", None)
    (servicer,) = servicers
    return servicer


def test_the_pack_builds_with_every_policy_mandatory(pack):
    info = pack.GetAnalyzerInfo(None, None)
    assert info.name == "exchange-policies"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}
    stack_policies = {
        p.name
        for p in info.policies
        if p.policy_type == proto.PolicyType.POLICY_TYPE_STACK
    }
    assert stack_policies == {
        "rds-parameter-group-of-stack",
        "s3-bucket-has-public-access-block",
        "egress-ips-exported",
    }


def _struct(props):
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def _urn(resource_type, name):
    return f"urn:pulumi:dev::customer-exchange::{resource_type}::{name}"


def _secret(value):
    """A value as the engine sends a secret to the pack."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def test_the_pack_refuses_a_public_database_when_the_cli_asks(pack):
    request = proto.AnalyzeRequest(
        type=INSTANCE,
        name="nordwind-orders-mysql",
        urn=_urn(INSTANCE, "nordwind-orders-mysql"),
        properties=_struct(mysql_instance(publiclyAccessible=True)),
    )
    (diagnostic,) = pack.Analyze(request, None).diagnostics
    assert diagnostic.policyName == "rds-not-public"
    assert diagnostic.enforcementLevel == proto.MANDATORY
    assert "RDS-13" in diagnostic.message
    assert "\nFix: set publicly_accessible=False" in diagnostic.message


def test_the_pack_sees_secret_keys_as_set_and_never_repeats_them(pack):
    props = vpn_connection(
        tunnel1PresharedKey=_secret(PRE_SHARED_KEY), tunnel2PresharedKey=None
    )
    request = proto.AnalyzeRequest(
        type=VPN_CONNECTION,
        name="nordwind-vpn",
        urn=_urn(VPN_CONNECTION, "nordwind-vpn"),
        properties=_struct(props),
    )
    (diagnostic,) = pack.Analyze(request, None).diagnostics
    assert diagnostic.policyName == "vpn-both-tunnels-configured"
    assert "tunnel 2 pre-shared key" in diagnostic.message
    assert "tunnel 1" not in diagnostic.message
    assert PRE_SHARED_KEY not in diagnostic.message


def test_the_pack_reads_the_egress_ips_from_the_root_stack(pack):
    root = "customer-exchange-dev"
    resources = [
        proto.AnalyzerResource(
            type="pulumi:pulumi:Stack",
            name=root,
            urn=_urn("pulumi:pulumi:Stack", root),
            properties=_struct({"vpcId": "vpc-1"}),
        )
    ] + [
        proto.AnalyzerResource(
            type=resource_type,
            name=name,
            urn=_urn(resource_type, name),
            properties=_struct(props),
            parent=_urn("pulumi:pulumi:Stack", root),
        )
        for resource_type, name, props in TWO_ZONES
    ]
    response = pack.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    (diagnostic,) = response.diagnostics
    assert diagnostic.policyName == "egress-ips-exported"
    assert diagnostic.urn == _urn("pulumi:pulumi:Stack", root)
    assert f"does not export {EGRESS_IPS}" in diagnostic.message


def test_importing_the_policies_starts_no_server(monkeypatch):
    import pulumi_policy.policy as sdk

    def no_server(*args, **kwargs):
        raise AssertionError("importing the policies started a policy pack server")

    monkeypatch.setattr(sdk.grpc, "server", no_server)
    namespace = runpy.run_path(str(ROOT / "policies" / "exchange_policies.py"))
    assert [p.name for p in namespace["POLICIES"]] == [p.name for p in POLICIES]


def test_the_packs_requirements_pin_the_projects_versions():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {
        line.split("==")[0]: line
        for line in pyproject["project"]["dependencies"]
        if line.startswith(("pulumi==", "pulumi-policy=="))
    }
    requirements = (ROOT / "policies" / "requirements.txt").read_text().split()
    assert sorted(requirements) == sorted(pins.values())


# -- the program's own stacks --------------------------------------------------


@pytest.mark.pulumi
def test_the_programs_multi_option_stack_passes_every_policy(aws_endpoint, tunnel_keys):
    from simulator.provisioning import CloudMocks, destroy
    from simulator.pulumi_runner import run_program

    # A region of its own, so that this stack's names meet no other test's.
    region = "eu-west-3"
    mocks = CloudMocks(endpoint_url=aws_endpoint, region=region)
    try:
        run = run_program(
            mocks,
            {
                "exchange:config": str(ROOT / "examples" / "multi-option.yaml"),
                "exchange:deletionProtection": "false",
            },
            stack_name="test-policies",
        )
        kinds = {r.type_ for r in mocks.recorded}
        assert {
            INSTANCE,
            PARAMETER_GROUP,
            INGRESS_RULE,
            VPN_CONNECTION,
            NAT_GATEWAY,
            BUCKET,
            PUBLIC_ACCESS_BLOCK,
        } <= kinds
        violations = []
        for resource in mocks.recorded:
            violations += check_resource(resource.type_, resource.name, resource.inputs)
        violations += check_stack(
            [(r.type_, r.name, r.outputs) for r in mocks.recorded],
            run.masked_outputs(),
            stack=run.stack,
        )
        assert [str(v) for v in violations] == []
    finally:
        destroy(aws_endpoint, region, mocks.recorded)
