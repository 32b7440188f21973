"""Elastic Load Balancing v2: the network load balancer for option 3 via VPN.

The provider creates a load balancer or a target group in one call and then
sets most of its settings as attributes (ModifyLoadBalancerAttributes,
ModifyTargetGroupAttributes, ModifyListenerAttributes); the handlers do the
same, so that the simulated AWS describes what AWS would. They also refuse
what AWS refuses and moto lets through: a name past 32 characters, an IP
target outside the allowed ranges (NLB-02), a target outside the VPC without
the availability zone `all` (NLB-04), health-check values out of range
(NLB-11..13) and a TCP idle timeout out of range (NLB-18).
"""

from __future__ import annotations

import contextlib
import secrets
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from botocore.exceptions import ClientError

from simulator.provisioning.base import Clients, Handler, ProvisioningError, tag_list

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TARGET_GROUP_ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
LISTENER = "aws:lb/listener:Listener"

# CreateLoadBalancer and CreateTargetGroup: at most 32 characters.
NAME_LIMIT = 32
# pulumi-aws names an unnamed load balancer or target group
# "<resource name>-<7 random hex digits>".
AUTONAME_RANDOM_DIGITS = 7

# The protocols of network load balancer target groups (NLB-05).
NETWORK_PROTOCOLS = {"TCP", "TLS", "UDP", "TCP_UDP"}

# Private ranges an IP target may come from besides the VPC's own (NLB-02).
TARGET_RANGES = tuple(
    IPv4Network(cidr)
    for cidr in ("10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16")
)

# Health-check settings and their allowed ranges (NLB-11, NLB-12, NLB-13).
HEALTH_CHECK_RANGES = {
    "interval": (5, 300, "NLB-11"),
    "timeout": (2, 120, "NLB-12"),
    "healthyThreshold": (2, 10, "NLB-13"),
    "unhealthyThreshold": (2, 10, "NLB-13"),
}


@contextlib.contextmanager
def _gone_is_fine():
    """Deleting what is already gone succeeds, as the provider's delete does."""
    try:
        yield
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if not (code.endswith("NotFound") or code == "InvalidTarget"):
            raise


def _aws_name(type_: str, name: str, inputs: dict[str, Any]) -> str:
    """The AWS name: the given one, the given prefix completed, or the autoname.

    Like the provider, this refuses a resource name that is too long for its
    autoname rather than cutting it: a cut name could collide.
    """
    if inputs.get("name"):
        return inputs["name"]
    if inputs.get("namePrefix"):
        prefix = inputs["namePrefix"]
        # Terraform fills a name prefix up to the limit with a unique suffix.
        return prefix + secrets.token_hex(NAME_LIMIT)[: NAME_LIMIT - len(prefix)]
    autoname = f"{name}-{secrets.token_hex(4)[:AUTONAME_RANDOM_DIGITS]}"
    if len(autoname) > NAME_LIMIT:
        raise ProvisioningError(
            type_,
            name,
            f"name '{name}-' plus {AUTONAME_RANDOM_DIGITS} random chars is longer "
            f"than maximum length {NAME_LIMIT}; give a shorter resource name or "
            "an explicit name",
        )
    return autoname


def _flag(value: Any) -> str:
    """An attribute value as ELB spells booleans."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any) -> str:
    """An attribute value from a number that arrived as a float."""
    return str(int(value))


# -- load balancers -------------------------------------------------------------


# The provider's load balancer inputs that are attributes, by load balancer
# type: for a network load balancer, cross-zone and deletion protection go
# through ModifyLoadBalancerAttributes, never through CreateLoadBalancer.
_LOAD_BALANCER_ATTRIBUTES: dict[str, tuple[str, set[str]]] = {
    "enableCrossZoneLoadBalancing": (
        "load_balancing.cross_zone.enabled",
        {"network", "gateway"},
    ),
    "enableDeletionProtection": (
        "deletion_protection.enabled",
        {"application", "network", "gateway"},
    ),
    "dnsRecordClientRoutingPolicy": ("dns_record.client_routing_policy", {"network"}),
    "enableZonalShift": ("zonal_shift.config.enabled", {"application", "network"}),
    "idleTimeout": ("idle_timeout.timeout_seconds", {"application"}),
}


def create_load_balancer(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    lb_name = _aws_name(LOAD_BALANCER, name, inputs)
    # AWS keeps the prefix for the DNS names of internal load balancers.
    if lb_name.startswith("internal-"):
        raise ProvisioningError(
            LOAD_BALANCER,
            name,
            f"ValidationError: load balancer name '{lb_name}' cannot begin with "
            "'internal-'",
        )
    lb_type = inputs.get("loadBalancerType", "application")
    kwargs: dict[str, Any] = {
        "Name": lb_name,
        "Type": lb_type,
        "Scheme": "internal" if inputs.get("internal") else "internet-facing",
        "IpAddressType": inputs.get("ipAddressType", "ipv4"),
    }
    if inputs.get("subnets"):
        kwargs["Subnets"] = inputs["subnets"]
    if inputs.get("subnetMappings"):
        kwargs["SubnetMappings"] = [
            {
                key: mapping[field]
                for field, key in (
                    ("subnetId", "SubnetId"),
                    ("allocationId", "AllocationId"),
                    ("privateIpv4Address", "PrivateIPv4Address"),
                )
                if mapping.get(field)
            }
            for mapping in inputs["subnetMappings"]
        ]
    if inputs.get("securityGroups"):
        kwargs["SecurityGroups"] = inputs["securityGroups"]
    if inputs.get("tags"):
        kwargs["Tags"] = tag_list(inputs["tags"])
    (balancer,) = c.elbv2.create_load_balancer(**kwargs)["LoadBalancers"]
    arn = balancer["LoadBalancerArn"]

    attributes = [
        {"Key": key, "Value": _flag(inputs[field])}
        for field, (key, types) in _LOAD_BALANCER_ATTRIBUTES.items()
        if field in inputs and lb_type in types
    ]
    if attributes:
        c.elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=arn, Attributes=attributes
        )
    enforce = inputs.get("enforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    if enforce and inputs.get("securityGroups"):
        c.elbv2.set_security_groups(
            LoadBalancerArn=arn,
            SecurityGroups=inputs["securityGroups"],
            EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=enforce,
        )

    set_attributes = {
        a["Key"]: a["Value"]
        for a in c.elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)[
            "Attributes"
        ]
    }
    zones = balancer.get("AvailabilityZones", [])
    return arn, {
        **inputs,
        "arn": arn,
        # What CloudWatch metrics name the load balancer by: net/<name>/<id>.
        "arnSuffix": arn.split(":loadbalancer/", 1)[1],
        "name": balancer["LoadBalancerName"],
        "dnsName": balancer["DNSName"],
        "zoneId": balancer["CanonicalHostedZoneId"],
        "vpcId": balancer["VpcId"],
        "internal": balancer["Scheme"] == "internal",
        "loadBalancerType": balancer["Type"],
        "ipAddressType": balancer.get("IpAddressType", "ipv4"),
        "securityGroups": balancer.get("SecurityGroups", []),
        "subnets": [zone["SubnetId"] for zone in zones],
        "subnetMappings": [{"subnetId": zone["SubnetId"]} for zone in zones],
        "enableCrossZoneLoadBalancing": set_attributes.get(
            "load_balancing.cross_zone.enabled"
        )
        == "true",
        "enableDeletionProtection": set_attributes.get("deletion_protection.enabled")
        == "true",
        "tagsAll": inputs.get("tags", {}),
    }


def delete_load_balancer(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    if outputs.get("enableDeletionProtection"):
        # AWS refuses (OperationNotPermitted), and so does the provider.
        raise ProvisioningError(
            LOAD_BALANCER,
            outputs.get("name", id_),
            "deletion protection is on; set enableDeletionProtection to false and "
            "apply before destroying",
        )
    # Deleting a load balancer deletes its listeners with it.
    with _gone_is_fine():
        c.elbv2.delete_load_balancer(LoadBalancerArn=id_)


# -- target groups --------------------------------------------------------------


# The provider's health-check block and CreateTargetGroup's parameters.
_HEALTH_CHECK_PARAMETERS = {
    "enabled": "HealthCheckEnabled",
    "protocol": "HealthCheckProtocol",
    "port": "HealthCheckPort",
    "path": "HealthCheckPath",
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthyThreshold": "HealthyThresholdCount",
    "unhealthyThreshold": "UnhealthyThresholdCount",
}


def _health_check_request(name: str, check: dict[str, Any]) -> dict[str, Any]:
    for field, (low, high, rule) in HEALTH_CHECK_RANGES.items():
        if field in check and not low <= check[field] <= high:
            raise ProvisioningError(
                TARGET_GROUP,
                name,
                f"ValidationError: health check {field} {int(check[field])} is "
                f"outside {low}-{high} ({rule})",
            )
    request: dict[str, Any] = {}
    for field, parameter in _HEALTH_CHECK_PARAMETERS.items():
        value = check.get(field)
        if value in (None, ""):
            continue
        request[parameter] = int(value) if isinstance(value, float) else value
    if check.get("matcher"):
        request["Matcher"] = {"HttpCode": check["matcher"]}
    return request


def _target_group_attributes(inputs: dict[str, Any]) -> list[dict[str, str]]:
    """The attributes the provider sets right after CreateTargetGroup."""
    attributes = {
        # The provider always sends the delay, 300 s when none is given.
        "deregistration_delay.timeout_seconds": _number(
            inputs.get("deregistrationDelay", 300)
        ),
    }
    if inputs.get("protocol") in NETWORK_PROTOCOLS:
        attributes["deregistration_delay.connection_termination.enabled"] = _flag(
            bool(inputs.get("connectionTermination", False))
        )
        if "proxyProtocolV2" in inputs:
            attributes["proxy_protocol_v2.enabled"] = _flag(inputs["proxyProtocolV2"])
    if "preserveClientIp" in inputs:
        attributes["preserve_client_ip.enabled"] = _flag(inputs["preserveClientIp"])
    if "loadBalancingCrossZoneEnabled" in inputs:
        attributes["load_balancing.cross_zone.enabled"] = inputs[
            "loadBalancingCrossZoneEnabled"
        ]
    return [{"Key": key, "Value": value} for key, value in attributes.items()]


def create_target_group(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    tg_name = _aws_name(TARGET_GROUP, name, inputs)
    delay = inputs.get("deregistrationDelay")
    if delay is not None and not 0 <= delay <= 3600:
        raise ProvisioningError(
            TARGET_GROUP,
            name,
            f"ValidationError: deregistration delay {int(delay)} is outside "
            "0-3600 seconds (NLB-19)",
        )
    kwargs: dict[str, Any] = {
        "Name": tg_name,
        "TargetType": inputs.get("targetType", "instance"),
        **_health_check_request(name, inputs.get("healthCheck") or {}),
    }
    for field, parameter in (
        ("protocol", "Protocol"),
        ("protocolVersion", "ProtocolVersion"),
        ("vpcId", "VpcId"),
        ("ipAddressType", "IpAddressType"),
    ):
        if inputs.get(field):
            kwargs[parameter] = inputs[field]
    if "port" in inputs:
        kwargs["Port"] = int(inputs["port"])
    if inputs.get("tags"):
        kwargs["Tags"] = tag_list(inputs["tags"])
    (group,) = c.elbv2.create_target_group(**kwargs)["TargetGroups"]
    arn = group["TargetGroupArn"]
    c.elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=_target_group_attributes(inputs)
    )

    attributes = {
        a["Key"]: a["Value"]
        for a in c.elbv2.describe_target_group_attributes(TargetGroupArn=arn)[
            "Attributes"
        ]
    }
    return arn, {
        **inputs,
        "arn": arn,
        # What CloudWatch metrics name the group by: targetgroup/<name>/<id>.
        "arnSuffix": arn.split(":", 5)[5],
        "name": group["TargetGroupName"],
        "targetType": group["TargetType"],
        "ipAddressType": group.get("IpAddressType", "ipv4"),
        "healthCheck": {
            "enabled": group.get("HealthCheckEnabled", True),
            "protocol": group.get("HealthCheckProtocol"),
            "port": group.get("HealthCheckPort", "traffic-port"),
            "interval": group.get("HealthCheckIntervalSeconds"),
            "timeout": group.get("HealthCheckTimeoutSeconds"),
            "healthyThreshold": group.get("HealthyThresholdCount"),
            "unhealthyThreshold": group.get("UnhealthyThresholdCount"),
            "path": group.get("HealthCheckPath", ""),
            "matcher": group.get("Matcher", {}).get("HttpCode", ""),
        },
        "deregistrationDelay": int(
            attributes.get("deregistration_delay.timeout_seconds", 300)
        ),
        "connectionTermination": attributes.get(
            "deregistration_delay.connection_termination.enabled"
        )
        == "true",
        "preserveClientIp": attributes.get("preserve_client_ip.enabled", ""),
        "loadBalancerArns": group.get("LoadBalancerArns", []),
        "tagsAll": inputs.get("tags", {}),
    }


def delete_target_group(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.elbv2.delete_target_group(TargetGroupArn=id_)


# -- target registrations ---------------------------------------------------------


def _check_ip_target(
    c: Clients, name: str, group: dict[str, Any], inputs: dict[str, Any]
) -> None:
    """What AWS checks of an IP target and moto does not (NLB-02, NLB-04)."""
    address = IPv4Address(inputs["targetId"])
    (vpc,) = c.ec2.describe_vpcs(VpcIds=[group["VpcId"]])["Vpcs"]
    vpc_networks = [
        IPv4Network(block["CidrBlock"])
        for block in vpc.get("CidrBlockAssociationSet", [])
        if block.get("CidrBlockState", {}).get("State", "associated") == "associated"
    ] or [IPv4Network(vpc["CidrBlock"])]
    in_vpc = any(address in network for network in vpc_networks)
    if not in_vpc and not any(address in network for network in TARGET_RANGES):
        raise ProvisioningError(
            TARGET_GROUP_ATTACHMENT,
            name,
            f"ValidationError: {address} is neither in the target group's VPC nor "
            "in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12 or 192.168.0.0/16; "
            "publicly routable addresses cannot be targets (NLB-02)",
        )
    if not in_vpc and inputs.get("availabilityZone") != "all":
        raise ProvisioningError(
            TARGET_GROUP_ATTACHMENT,
            name,
            f"ValidationError: {address} is outside the target group's VPC, so "
            "it must be registered with availability zone 'all' (NLB-04)",
        )


def _target(values: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = {"Id": values["targetId"]}
    if "port" in values:
        target["Port"] = int(values["port"])
    if values.get("availabilityZone"):
        target["AvailabilityZone"] = values["availabilityZone"]
    return target


def create_target_group_attachment(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    arn = inputs["targetGroupArn"]
    (group,) = c.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    if group["TargetType"] == "ip":
        _check_ip_target(c, name, group, inputs)
    c.elbv2.register_targets(TargetGroupArn=arn, Targets=[_target(inputs)])
    # The provider's id: the target group's ARN and a unique suffix.
    return f"{arn}-{secrets.token_hex(13)}", dict(inputs)


def delete_target_group_attachment(
    c: Clients, id_: str, outputs: dict[str, Any]
) -> None:
    with _gone_is_fine():
        c.elbv2.deregister_targets(
            TargetGroupArn=outputs["targetGroupArn"], Targets=[_target(outputs)]
        )


# -- listeners ------------------------------------------------------------------------


def _action(name: str, action: dict[str, Any]) -> dict[str, Any]:
    if action.get("type") != "forward":
        raise NotImplementedError(
            f"the simulator maps only forward actions yet ({name}: "
            f"{action.get('type')}); add the mapping in "
            "simulator/provisioning/elbv2.py"
        )
    request: dict[str, Any] = {"Type": "forward"}
    if action.get("targetGroupArn"):
        request["TargetGroupArn"] = action["targetGroupArn"]
    groups = (action.get("forward") or {}).get("targetGroups") or []
    if groups:
        request["ForwardConfig"] = {
            "TargetGroups": [
                {"TargetGroupArn": g["arn"], "Weight": int(g.get("weight", 1))}
                for g in groups
            ]
        }
    if "order" in action:
        request["Order"] = int(action["order"])
    return request


def create_listener(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    protocol = inputs.get("protocol")
    idle_timeout = inputs.get("tcpIdleTimeoutSeconds")
    # Only TCP listeners have a settable idle timeout; TLS is fixed at 350 s
    # (NLB-18).
    if idle_timeout is not None and (
        protocol != "TCP" or not 60 <= idle_timeout <= 6000
    ):
        raise ProvisioningError(
            LISTENER,
            name,
            f"ValidationError: a TCP idle timeout of {int(idle_timeout)} s on a "
            f"{protocol} listener; only TCP listeners take one, from 60 to 6000 s "
            "(NLB-18)",
        )
    kwargs: dict[str, Any] = {
        "LoadBalancerArn": inputs["loadBalancerArn"],
        "DefaultActions": [_action(name, a) for a in inputs["defaultActions"]],
    }
    if protocol:
        kwargs["Protocol"] = protocol
    if "port" in inputs:
        kwargs["Port"] = int(inputs["port"])
    if inputs.get("sslPolicy"):
        kwargs["SslPolicy"] = inputs["sslPolicy"]
    if inputs.get("certificateArn"):
        kwargs["Certificates"] = [{"CertificateArn": inputs["certificateArn"]}]
    if inputs.get("tags"):
        kwargs["Tags"] = tag_list(inputs["tags"])
    (listener,) = c.elbv2.create_listener(**kwargs)["Listeners"]
    arn = listener["ListenerArn"]
    if idle_timeout is not None:
        c.elbv2.modify_listener_attributes(
            ListenerArn=arn,
            Attributes=[
                {"Key": "tcp.idle_timeout.seconds", "Value": _number(idle_timeout)}
            ],
        )
    outputs: dict[str, Any] = {
        **inputs,
        "arn": arn,
        "port": listener.get("Port"),
        "protocol": listener.get("Protocol"),
        "tagsAll": inputs.get("tags", {}),
    }
    if listener.get("Protocol") == "TCP":
        attributes = {
            a["Key"]: a["Value"]
            for a in c.elbv2.describe_listener_attributes(ListenerArn=arn)["Attributes"]
        }
        outputs["tcpIdleTimeoutSeconds"] = int(
            attributes.get("tcp.idle_timeout.seconds", 350)
        )
    return arn, outputs


def delete_listener(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.elbv2.delete_listener(ListenerArn=id_)


HANDLERS: dict[str, Handler] = {
    LOAD_BALANCER: Handler(create_load_balancer, delete_load_balancer),
    TARGET_GROUP: Handler(create_target_group, delete_target_group),
    TARGET_GROUP_ATTACHMENT: Handler(
        create_target_group_attachment, delete_target_group_attachment
    ),
    LISTENER: Handler(create_listener, delete_listener),
}
