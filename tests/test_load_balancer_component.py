"""The RemoteDatabaseGateway component (option 3 via VPN), run under the mocks.

A small program declares a VPC, its two private subnets and one gateway per
VPN remote database of a configuration; the simulator's elbv2 handlers make
them in moto. Every assertion names the URN of the resource it is about.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from simulator.pulumi_runner import type_of
from tests.conftest import ROOT

pytestmark = pytest.mark.pulumi

REGION = "eu-central-1"
EXAMPLE = ROOT / "examples" / "remote-database-vpn.yaml"
COMPONENT = "exchange:infra:RemoteDatabaseGateway"

# Values that differ from AWS's defaults, so that a setting the component
# dropped shows.
IDLE_TIMEOUT = 900
HEALTH_CHECK_INTERVAL = 10
HEALTH_CHECK_TIMEOUT = 5

PROGRAM = """\
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws

from exchange.config import load_config
from infra.load_balancer import RemoteDatabaseGateway, RemoteDatabaseGatewayArgs

stack_config = pulumi.Config("exchange")
config = load_config(stack_config.require("config"))
slug = config.customer.slug
vpc = aws.ec2.Vpc(f"{slug}-vpc", cidr_block=str(config.vpc.cidr))
subnets = [
    aws.ec2.Subnet(
        f"{slug}-private-{zone[-1]}",
        vpc_id=vpc.id,
        cidr_block=str(cidr),
        availability_zone=zone,
    )
    for cidr, zone in zip(
        config.vpc.private_subnets(), ["eu-central-1a", "eu-central-1b"]
    )
]
client_networks = stack_config.get_object("clientNetworks")
for exchange in config.remote_databases():
    if exchange.via != "vpn":
        continue
    gateway = RemoteDatabaseGateway(
        stack_config.get("gatewayName") or f"{slug}-{exchange.name}",
        RemoteDatabaseGatewayArgs(
            vpc_id=vpc.id,
            vpc_cidr=config.vpc.cidr,
            subnet_ids=[subnet.id for subnet in subnets],
            target_address=exchange.target.address,
            port=exchange.target.port,
            health_check=exchange.target.health_check,
            idle_timeout_seconds=exchange.target.idle_timeout_seconds,
            client_networks=(
                tuple(IPv4Network(n) for n in client_networks)
                if client_networks
                else None
            ),
            tags={"exchange:customer": slug, "exchange:exchange": exchange.name},
        ),
    )
    pulumi.export("dnsName", gateway.dns_name)
    pulumi.export("listenerPort", gateway.listener_port)
    pulumi.export("targetGroupArn", gateway.target_group_arn)
    pulumi.export("securityGroupId", gateway.security_group_id)
"""


def _configuration(tmp_path: Path, **replacements: str) -> Path:
    """The example configuration with some of its lines changed."""
    text = EXAMPLE.read_text()
    for old, new in replacements.items():
        assert old in text, f"{EXAMPLE} no longer has {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "customer.yaml"
    path.write_text(text)
    return path


def _run_program(endpoint: str, tmp_path: Path, text: str, config: dict[str, str]):
    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    program = tmp_path / "__main__.py"
    program.write_text(text)
    mocks = CloudMocks(endpoint_url=endpoint, region=REGION)
    try:
        run = run_program(
            mocks, config, stack_name=f"test-gateway-{tmp_path.name}", program=program
        )
    finally:
        # On CPython 3.11.7 a garbage collection in the middle of `ast.parse`
        # can corrupt the parser's shared recursion count (gh-106905, fixed
        # in 3.11.8). A run leaves much garbage with finalizers, and pytest
        # parses source when it reports a failure and when it imports a
        # plugin at its summary: without this, about one run of this file in
        # five ended in "AST constructor recursion depth mismatch".
        gc.collect()
    return run, mocks


def _run(endpoint: str, tmp_path: Path, configuration: Path, **config: str):
    """The gateway program on `configuration`, with more stack config."""
    return _run_program(
        endpoint, tmp_path, PROGRAM, {"exchange:config": str(configuration), **config}
    )


def _client(endpoint: str, service: str):
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def stack(aws_endpoint, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gateway")
    configuration = _configuration(
        tmp_path,
        **{
            "idleTimeoutSeconds: 350": f"idleTimeoutSeconds: {IDLE_TIMEOUT}",
            "intervalSeconds: 30": f"intervalSeconds: {HEALTH_CHECK_INTERVAL}",
            "timeoutSeconds: 10": f"timeoutSeconds: {HEALTH_CHECK_TIMEOUT}",
        },
    )
    return _run(aws_endpoint, tmp_path, configuration)


def _of_type(run, type_token):
    return {
        urn: registration
        for urn, registration in run.resources.items()
        if type_of(urn) == type_token
    }


def _one(run, type_token):
    found = _of_type(run, type_token)
    assert len(found) == 1, f"expected one {type_token}, got {sorted(found)}"
    return next(iter(found.items()))


def _inputs(mocks, urn):
    name = urn.split("::")[-1]
    (recorded,) = [
        r for r in mocks.recorded if r.name == name and r.type_ == type_of(urn)
    ]
    return recorded.inputs


def _gateway_security_group(run):
    urn, group = _one(run, "aws:ec2/securityGroup:SecurityGroup")
    assert urn.split("::")[-2].startswith(f"{COMPONENT}$"), urn
    return urn, group


def test_every_gateway_resource_is_a_child_of_the_component(stack):
    run, _ = stack
    (component,) = [u for u in run.resources if type_of(u) == COMPONENT]
    assert component.endswith("::nordwind-warehouse"), component
    network = {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"}
    children = [u for u in run.cloud_resources() if type_of(u) not in network]
    # Its security group with one ingress and one egress rule, the load
    # balancer, the target group, the target and the listener.
    assert len(children) == 7, sorted(children)
    for urn in children:
        assert urn.split("::")[-2].startswith(f"{COMPONENT}$"), urn


def test_load_balancer_is_an_internal_network_one_in_both_subnets(stack):
    run, mocks = stack
    urn, _ = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    inputs = _inputs(mocks, urn)
    assert inputs["loadBalancerType"] == "network", urn
    assert inputs["internal"] is True, urn
    assert inputs["enableCrossZoneLoadBalancing"] is True, urn
    subnet_ids = {s.id for s in _of_type(run, "aws:ec2/subnet:Subnet").values()}
    assert len(subnet_ids) == 2 and set(inputs["subnets"]) == subnet_ids, urn
    _, group = _gateway_security_group(run)
    assert inputs["securityGroups"] == [group.id], urn


def test_target_group_is_tcp_ip_without_client_ip_preservation(stack):
    run, mocks = stack
    urn, _ = _one(run, "aws:lb/targetGroup:TargetGroup")
    inputs = _inputs(mocks, urn)
    assert (inputs["protocol"], inputs["targetType"], inputs["port"]) == (
        "TCP",
        "ip",
        3306,
    ), urn
    assert inputs["preserveClientIp"] == "false", f"{urn} (NLB-08)"
    assert inputs["connectionTermination"] is True, urn
    assert inputs["deregistrationDelay"] == 60, urn
    _, vpc = _one(run, "aws:ec2/vpc:Vpc")
    assert inputs["vpcId"] == vpc.id, urn


def test_health_check_takes_the_configured_values(stack):
    run, mocks = stack
    urn, _ = _one(run, "aws:lb/targetGroup:TargetGroup")
    check = _inputs(mocks, urn)["healthCheck"]
    assert check == {
        "enabled": True,
        "protocol": "TCP",
        "port": "traffic-port",
        "interval": HEALTH_CHECK_INTERVAL,
        "timeout": HEALTH_CHECK_TIMEOUT,
        "healthyThreshold": 3,
        "unhealthyThreshold": 2,
    }, urn


def test_the_on_premises_address_is_registered_in_all_zones(stack):
    run, mocks = stack
    _, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    urn, _ = _one(run, "aws:lb/targetGroupAttachment:TargetGroupAttachment")
    inputs = _inputs(mocks, urn)
    assert inputs == {
        "targetGroupArn": group.id,
        "targetId": "192.168.30.15",
        "port": 3306,
        "availabilityZone": "all",
    }, f"{urn} (NLB-04)"


def test_listener_forwards_tcp_to_the_target_group_with_the_idle_timeout(stack):
    run, mocks = stack
    _, balancer = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    _, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    urn, _ = _one(run, "aws:lb/listener:Listener")
    inputs = _inputs(mocks, urn)
    assert inputs["loadBalancerArn"] == balancer.id, urn
    assert (inputs["protocol"], inputs["port"]) == ("TCP", 3306), urn
    assert inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": group.id}
    ], urn
    assert inputs["tcpIdleTimeoutSeconds"] == IDLE_TIMEOUT, f"{urn} (NLB-18)"


def test_security_group_admits_the_vpc_and_reaches_only_the_database(stack):
    run, mocks = stack
    sg_urn, group = _gateway_security_group(run)
    assert not _inputs(mocks, sg_urn).get("ingress"), f"{sg_urn} has inline rules"
    ingress = _of_type(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    egress = _of_type(run, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert len(ingress) == 1 and len(egress) == 1, sorted([*ingress, *egress])
    expected = {
        **{urn: "10.42.0.0/16" for urn in ingress},
        **{urn: "192.168.30.15/32" for urn in egress},
    }
    for urn, cidr in expected.items():
        inputs = _inputs(mocks, urn)
        assert inputs["securityGroupId"] == group.id, urn
        assert (
            inputs["ipProtocol"],
            inputs["fromPort"],
            inputs["toPort"],
            inputs["cidrIpv4"],
        ) == ("tcp", 3306, 3306, cidr), urn


def test_outputs_name_the_gateway_resources(stack):
    run, _ = stack
    outputs = run.plain_outputs()
    lb_urn, balancer = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    tg_urn, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    sg_urn, security_group = _gateway_security_group(run)
    assert outputs["dnsName"] == balancer.state["dnsName"], lb_urn
    assert outputs["dnsName"], lb_urn
    assert outputs["targetGroupArn"] == group.id, tg_urn
    assert outputs["securityGroupId"] == security_group.id, sg_urn
    listener_urn, _ = _one(run, "aws:lb/listener:Listener")
    assert outputs["listenerPort"] == 3306, listener_urn


def test_the_simulated_aws_holds_an_internal_network_load_balancer(stack, aws_endpoint):
    run, _ = stack
    urn, balancer = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    _, group = _gateway_security_group(run)
    elbv2 = _client(aws_endpoint, "elbv2")
    (described,) = elbv2.describe_load_balancers(LoadBalancerArns=[balancer.id])[
        "LoadBalancers"
    ]
    assert (described["Scheme"], described["Type"]) == ("internal", "network"), urn
    assert described["SecurityGroups"] == [group.id], urn
    zones = {zone["ZoneName"] for zone in described["AvailabilityZones"]}
    assert zones == {"eu-central-1a", "eu-central-1b"}, urn
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=balancer.id)[
            "Attributes"
        ]
    }
    assert attributes["load_balancing.cross_zone.enabled"] == "true", urn
    assert len(balancer.state["name"]) <= 32, urn


def test_the_simulated_aws_holds_the_target_group_attributes(stack, aws_endpoint):
    run, _ = stack
    urn, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    elbv2 = _client(aws_endpoint, "elbv2")
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=group.id)[
            "Attributes"
        ]
    }
    assert attributes["preserve_client_ip.enabled"] == "false", urn
    assert attributes["deregistration_delay.timeout_seconds"] == "60", urn
    assert (
        attributes["deregistration_delay.connection_termination.enabled"] == "true"
    ), urn
    (described,) = elbv2.describe_target_groups(TargetGroupArns=[group.id])[
        "TargetGroups"
    ]
    assert (
        described["HealthCheckProtocol"],
        described["HealthCheckPort"],
        described["HealthCheckIntervalSeconds"],
        described["HealthCheckTimeoutSeconds"],
        int(described["HealthyThresholdCount"]),
        int(described["UnhealthyThresholdCount"]),
    ) == ("TCP", "traffic-port", HEALTH_CHECK_INTERVAL, HEALTH_CHECK_TIMEOUT, 3, 2), urn
    # moto keeps the registered target (but drops its zone and reports it
    # healthy whatever happens, PULUMI-NOTES), so only its address is checked.
    targets = elbv2.describe_target_health(TargetGroupArn=group.id)[
        "TargetHealthDescriptions"
    ]
    assert [(t["Target"]["Id"], t["Target"]["Port"]) for t in targets] == [
        ("192.168.30.15", 3306)
    ], urn


def test_the_simulated_aws_holds_the_tcp_listener(stack, aws_endpoint):
    run, _ = stack
    _, balancer = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    _, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    urn, listener = _one(run, "aws:lb/listener:Listener")
    elbv2 = _client(aws_endpoint, "elbv2")
    (described,) = elbv2.describe_listeners(LoadBalancerArn=balancer.id)["Listeners"]
    assert described["ListenerArn"] == listener.id, urn
    assert (described["Protocol"], described["Port"]) == ("TCP", 3306), urn
    actions = [(a["Type"], a["TargetGroupArn"]) for a in described["DefaultActions"]]
    assert actions == [("forward", group.id)], urn
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_listener_attributes(ListenerArn=listener.id)[
            "Attributes"
        ]
    }
    assert attributes["tcp.idle_timeout.seconds"] == str(IDLE_TIMEOUT), urn


def test_a_separate_health_check_port_gets_its_own_egress_rule(
    aws_endpoint, tmp_path: Path
):
    configuration = _configuration(
        tmp_path, **{"protocol: TCP\n": "protocol: TCP\n      port: 9104\n"}
    )
    run, mocks = _run(aws_endpoint, tmp_path, configuration)
    urn, _ = _one(run, "aws:lb/targetGroup:TargetGroup")
    assert _inputs(mocks, urn)["healthCheck"]["port"] == "9104", urn
    egress = _of_type(run, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    ports = sorted(_inputs(mocks, u)["fromPort"] for u in egress)
    assert ports == [3306, 9104], sorted(egress)
    for rule_urn in egress:
        assert _inputs(mocks, rule_urn)["cidrIpv4"] == "192.168.30.15/32", rule_urn


def test_client_networks_replace_the_vpc_as_the_admitted_sources(
    aws_endpoint, tmp_path: Path
):
    run, mocks = _run(
        aws_endpoint,
        tmp_path,
        _configuration(tmp_path),
        **{"exchange:clientNetworks": '["10.42.0.0/24", "10.42.1.0/24"]'},
    )
    ingress = _of_type(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    sources = sorted(_inputs(mocks, urn)["cidrIpv4"] for urn in ingress)
    assert sources == ["10.42.0.0/24", "10.42.1.0/24"], sorted(ingress)


def test_a_long_gateway_name_still_yields_aws_names_within_32_characters(
    aws_endpoint, tmp_path: Path
):
    long_name = "nordwind-logistik-international-warehouse-management"
    run, _ = _run(
        aws_endpoint,
        tmp_path,
        _configuration(tmp_path),
        **{"exchange:gatewayName": long_name},
    )
    for type_token in (
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
    ):
        urn, resource = _one(run, type_token)
        assert len(resource.state["name"]) <= 32, f"{urn}: {resource.state['name']}"
        assert resource.state["name"].startswith("nordwind-logi"), urn


def test_destroy_leaves_no_load_balancer_target_group_or_listener(
    aws_endpoint, tmp_path: Path
):
    from botocore.exceptions import ClientError

    from simulator.provisioning import destroy

    run, mocks = _run(aws_endpoint, tmp_path, _configuration(tmp_path))
    _, balancer = _one(run, "aws:lb/loadBalancer:LoadBalancer")
    _, group = _one(run, "aws:lb/targetGroup:TargetGroup")
    _, listener = _one(run, "aws:lb/listener:Listener")

    destroy(aws_endpoint, REGION, mocks.recorded)

    elbv2 = _client(aws_endpoint, "elbv2")
    lookups = {
        "LoadBalancerNotFound": lambda: elbv2.describe_load_balancers(
            LoadBalancerArns=[balancer.id]
        ),
        "TargetGroupNotFound": lambda: elbv2.describe_target_groups(
            TargetGroupArns=[group.id]
        ),
        "ListenerNotFound": lambda: elbv2.describe_listeners(
            ListenerArns=[listener.id]
        ),
    }
    for code, lookup in lookups.items():
        with pytest.raises(ClientError) as gone:
            lookup()
        assert gone.value.response["Error"]["Code"] == code


def test_destroying_twice_succeeds_as_deleting_what_is_gone_does(
    aws_endpoint, tmp_path: Path
):
    from simulator.provisioning import destroy

    _, mocks = _run(aws_endpoint, tmp_path, _configuration(tmp_path))
    destroy(aws_endpoint, REGION, mocks.recorded)
    gateway = [r for r in mocks.recorded if r.type_.startswith("aws:lb/")]
    assert len(gateway) == 4, [r.name for r in gateway]
    # Raises if deleting a load balancer, target group, target or listener
    # that is already gone fails.
    destroy(aws_endpoint, REGION, gateway)


def test_an_ip_target_outside_the_vpc_needs_the_zone_all(aws_endpoint, tmp_path: Path):
    from simulator.provisioning import ProvisioningError

    program = (
        "import pulumi_aws as aws\n"
        "vpc = aws.ec2.Vpc('zoneless', cidr_block='10.9.0.0/16')\n"
        "group = aws.lb.TargetGroup('zoneless', vpc_id=vpc.id, port=3306,\n"
        "                           protocol='TCP', target_type='ip')\n"
        "aws.lb.TargetGroupAttachment('zoneless', target_group_arn=group.arn,\n"
        "                             target_id='192.168.30.15', port=3306)\n"
    )
    with pytest.raises(ProvisioningError, match="NLB-04"):
        _run_program(aws_endpoint, tmp_path, program, {})


def test_a_resource_name_too_long_for_its_autoname_is_refused(
    aws_endpoint, tmp_path: Path
):
    from simulator.provisioning import ProvisioningError

    program = (
        "import pulumi_aws as aws\n"
        "vpc = aws.ec2.Vpc('long-name', cidr_block='10.9.0.0/16')\n"
        "aws.lb.TargetGroup('a-target-group-name-of-25', vpc_id=vpc.id,\n"
        "                   port=3306, protocol='TCP', target_type='ip')\n"
    )
    with pytest.raises(ProvisioningError, match="longer than maximum length 32"):
        _run_program(aws_endpoint, tmp_path, program, {})
