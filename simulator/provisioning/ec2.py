"""EC2 resources: the network, the VPN and security groups."""

from __future__ import annotations

import contextlib
import secrets
import zlib
from typing import Any

from botocore.exceptions import ClientError

from simulator.provisioning.base import Clients, Handler, ec2_tags, secret


def _missing(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    return code.endswith(".NotFound") or code.endswith("NotFound")


@contextlib.contextmanager
def _gone_is_fine():
    """Deleting what is already gone succeeds, as the provider's delete does."""
    try:
        yield
    except ClientError as error:
        if not _missing(error):
            raise


# -- VPC, subnets, gateways, routes ----------------------------------------------


def create_vpc(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    vpc = c.ec2.create_vpc(
        CidrBlock=inputs["cidrBlock"],
        TagSpecifications=ec2_tags("vpc", inputs.get("tags")),
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        if attribute in inputs:
            c.ec2.modify_vpc_attribute(
                VpcId=vpc_id,
                **{attribute[0].upper() + attribute[1:]: {"Value": inputs[attribute]}},
            )
    main = c.ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    default_sg = c.ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    return vpc_id, {
        **inputs,
        "arn": c.arn("ec2", f"vpc/{vpc_id}"),
        "mainRouteTableId": main,
        "defaultRouteTableId": main,
        "defaultSecurityGroupId": default_sg,
        "ownerId": vpc["OwnerId"],
    }


def delete_vpc(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_vpc(VpcId=id_)


def create_subnet(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    subnet = c.ec2.create_subnet(
        VpcId=inputs["vpcId"],
        CidrBlock=inputs["cidrBlock"],
        AvailabilityZone=inputs["availabilityZone"],
        TagSpecifications=ec2_tags("subnet", inputs.get("tags")),
    )["Subnet"]
    subnet_id = subnet["SubnetId"]
    if inputs.get("mapPublicIpOnLaunch"):
        c.ec2.modify_subnet_attribute(
            SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True}
        )
    return subnet_id, {
        **inputs,
        "arn": subnet.get("SubnetArn", c.arn("ec2", f"subnet/{subnet_id}")),
        "availabilityZoneId": subnet.get("AvailabilityZoneId"),
    }


def delete_subnet(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_subnet(SubnetId=id_)


def create_internet_gateway(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    gateway = c.ec2.create_internet_gateway(
        TagSpecifications=ec2_tags("internet-gateway", inputs.get("tags"))
    )["InternetGateway"]
    gateway_id = gateway["InternetGatewayId"]
    if inputs.get("vpcId"):
        c.ec2.attach_internet_gateway(
            InternetGatewayId=gateway_id, VpcId=inputs["vpcId"]
        )
    return gateway_id, {
        **inputs,
        "arn": c.arn("ec2", f"internet-gateway/{gateway_id}"),
        "ownerId": gateway.get("OwnerId", ""),
    }


def delete_internet_gateway(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    if outputs.get("vpcId"):
        with _gone_is_fine():
            c.ec2.detach_internet_gateway(InternetGatewayId=id_, VpcId=outputs["vpcId"])
    with _gone_is_fine():
        c.ec2.delete_internet_gateway(InternetGatewayId=id_)


def create_route_table(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    table = c.ec2.create_route_table(
        VpcId=inputs["vpcId"],
        TagSpecifications=ec2_tags("route-table", inputs.get("tags")),
    )["RouteTable"]
    table_id = table["RouteTableId"]
    return table_id, {
        **inputs,
        "arn": c.arn("ec2", f"route-table/{table_id}"),
        "routes": [],
        "propagatingVgws": [],
    }


def delete_route_table(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_route_table(RouteTableId=id_)


def create_association(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    association = c.ec2.associate_route_table(
        SubnetId=inputs["subnetId"], RouteTableId=inputs["routeTableId"]
    )
    return association["AssociationId"], dict(inputs)


def delete_association(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.disassociate_route_table(AssociationId=id_)


# The targets a route may name, by the provider's input and EC2's parameter.
_ROUTE_TARGETS = {
    "gatewayId": "GatewayId",
    "natGatewayId": "NatGatewayId",
    "networkInterfaceId": "NetworkInterfaceId",
    "transitGatewayId": "TransitGatewayId",
    "vpcPeeringConnectionId": "VpcPeeringConnectionId",
}


def create_route(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    targets = {
        parameter: inputs[key]
        for key, parameter in _ROUTE_TARGETS.items()
        if key in inputs
    }
    c.ec2.create_route(
        RouteTableId=inputs["routeTableId"],
        DestinationCidrBlock=inputs["destinationCidrBlock"],
        **targets,
    )
    # The provider's id for a route: r-<table><hash of the destination>.
    digest = zlib.crc32(inputs["destinationCidrBlock"].encode())
    route_id = f"r-{inputs['routeTableId']}{digest}"
    return route_id, {**inputs, "origin": "CreateRoute", "state": "active"}


def delete_route(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_route(
            RouteTableId=outputs["routeTableId"],
            DestinationCidrBlock=outputs["destinationCidrBlock"],
        )


def create_eip(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    address = c.ec2.allocate_address(
        Domain=inputs.get("domain", "vpc"),
        TagSpecifications=ec2_tags("elastic-ip", inputs.get("tags")),
    )
    allocation_id = address["AllocationId"]
    return allocation_id, {
        **inputs,
        "allocationId": allocation_id,
        "publicIp": address["PublicIp"],
        "domain": address.get("Domain", "vpc"),
        "arn": c.arn("ec2", f"elastic-ip/{allocation_id}"),
    }


def delete_eip(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.release_address(AllocationId=id_)


def create_nat_gateway(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    gateway = c.ec2.create_nat_gateway(
        SubnetId=inputs["subnetId"],
        AllocationId=inputs["allocationId"],
        ConnectivityType=inputs.get("connectivityType", "public"),
        TagSpecifications=ec2_tags("natgateway", inputs.get("tags")),
    )["NatGateway"]
    gateway_id = gateway["NatGatewayId"]
    (address,) = gateway["NatGatewayAddresses"] or [{}]
    return gateway_id, {
        **inputs,
        "publicIp": address.get("PublicIp"),
        "privateIp": address.get("PrivateIp"),
        "networkInterfaceId": address.get("NetworkInterfaceId"),
        "associationId": address.get("AssociationId", ""),
    }


def delete_nat_gateway(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_nat_gateway(NatGatewayId=id_)


# -- VPN ----------------------------------------------------------------------------


def create_vpn_gateway(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    kwargs: dict[str, Any] = {"Type": "ipsec.1"}
    if "amazonSideAsn" in inputs:
        kwargs["AmazonSideAsn"] = int(inputs["amazonSideAsn"])
    gateway = c.ec2.create_vpn_gateway(
        **kwargs, TagSpecifications=ec2_tags("vpn-gateway", inputs.get("tags"))
    )["VpnGateway"]
    gateway_id = gateway["VpnGatewayId"]
    if inputs.get("vpcId"):
        c.ec2.attach_vpn_gateway(VpcId=inputs["vpcId"], VpnGatewayId=gateway_id)
    return gateway_id, {
        **inputs,
        "arn": c.arn("ec2", f"vpn-gateway/{gateway_id}"),
        "amazonSideAsn": str(gateway.get("AmazonSideAsn", 64512)),
    }


def delete_vpn_gateway(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    if outputs.get("vpcId"):
        with _gone_is_fine():
            c.ec2.detach_vpn_gateway(VpcId=outputs["vpcId"], VpnGatewayId=id_)
    with _gone_is_fine():
        c.ec2.delete_vpn_gateway(VpnGatewayId=id_)


def create_attachment(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    c.ec2.attach_vpn_gateway(VpcId=inputs["vpcId"], VpnGatewayId=inputs["vpnGatewayId"])
    return f"vpn-attachment-{inputs['vpnGatewayId']}-{inputs['vpcId']}", dict(inputs)


def delete_attachment(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.detach_vpn_gateway(
            VpcId=outputs["vpcId"], VpnGatewayId=outputs["vpnGatewayId"]
        )


def create_customer_gateway(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    gateway = c.ec2.create_customer_gateway(
        Type=inputs.get("type", "ipsec.1"),
        PublicIp=inputs["ipAddress"],
        BgpAsn=int(inputs.get("bgpAsn", 65000)),
        TagSpecifications=ec2_tags("customer-gateway", inputs.get("tags")),
    )["CustomerGateway"]
    gateway_id = gateway["CustomerGatewayId"]
    return gateway_id, {
        **inputs,
        "arn": c.arn("ec2", f"customer-gateway/{gateway_id}"),
    }


def delete_customer_gateway(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_customer_gateway(CustomerGatewayId=id_)


# The provider's tunnel inputs (tunnelN<Suffix>) and the EC2 API's tunnel
# option each one sets. Lists go as [{"Value": x}] wrappers.
TUNNEL_INPUTS: dict[str, str] = {
    "InsideCidr": "TunnelInsideCidr",
    "PresharedKey": "PreSharedKey",
    "IkeVersions": "IKEVersions",
    "Phase1EncryptionAlgorithms": "Phase1EncryptionAlgorithms",
    "Phase1IntegrityAlgorithms": "Phase1IntegrityAlgorithms",
    "Phase1DhGroupNumbers": "Phase1DHGroupNumbers",
    "Phase1LifetimeSeconds": "Phase1LifetimeSeconds",
    "Phase2EncryptionAlgorithms": "Phase2EncryptionAlgorithms",
    "Phase2IntegrityAlgorithms": "Phase2IntegrityAlgorithms",
    "Phase2DhGroupNumbers": "Phase2DHGroupNumbers",
    "Phase2LifetimeSeconds": "Phase2LifetimeSeconds",
    "RekeyMarginTimeSeconds": "RekeyMarginTimeSeconds",
    "RekeyFuzzPercentage": "RekeyFuzzPercentage",
    "ReplayWindowSize": "ReplayWindowSize",
    "DpdTimeoutSeconds": "DPDTimeoutSeconds",
    "DpdTimeoutAction": "DPDTimeoutAction",
    "StartupAction": "StartupAction",
}


def tunnel_request(inputs: dict[str, Any], n: int) -> dict[str, Any]:
    """Tunnel n's options as the CreateVpnConnection request names them."""
    tunnel: dict[str, Any] = {}
    for suffix, option in TUNNEL_INPUTS.items():
        value = inputs.get(f"tunnel{n}{suffix}")
        if value is None:
            continue
        if isinstance(value, list):
            # Numbers arrive as floats (14.0); the API wants DH groups as ints.
            tunnel[option] = [
                {"Value": int(item) if isinstance(item, float) else item}
                for item in value
            ]
        elif isinstance(value, float):
            tunnel[option] = int(value)
        else:
            tunnel[option] = value
    return tunnel


def create_vpn_connection(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    connection = c.ec2.create_vpn_connection(
        Type=inputs.get("type", "ipsec.1"),
        CustomerGatewayId=inputs["customerGatewayId"],
        VpnGatewayId=inputs["vpnGatewayId"],
        Options={
            "StaticRoutesOnly": bool(inputs.get("staticRoutesOnly", False)),
            "TunnelOptions": [tunnel_request(inputs, 1), tunnel_request(inputs, 2)],
        },
        TagSpecifications=ec2_tags("vpn-connection", inputs.get("tags")),
    )["VpnConnection"]
    connection_id = connection["VpnConnectionId"]
    described = c.ec2.describe_vpn_connections(VpnConnectionIds=[connection_id])
    options = described["VpnConnections"][0]["Options"]["TunnelOptions"]
    outputs: dict[str, Any] = {
        **{k: v for k, v in inputs.items() if not k.endswith("PresharedKey")},
        "arn": c.arn("ec2", f"vpn-connection/{connection_id}"),
        "vgwTelemetries": [],
        "routes": [],
    }
    for n, tunnel in enumerate(options, start=1):
        inside = tunnel["TunnelInsideCidr"]
        base = inside.rsplit(".", 1)[0]
        last = int(inside.rsplit(".", 1)[1].split("/")[0])
        outputs[f"tunnel{n}Address"] = tunnel["OutsideIpAddress"]
        outputs[f"tunnel{n}InsideCidr"] = inside
        # AWS takes .1 of the /30, the customer gateway .2 (DEV-08).
        outputs[f"tunnel{n}VgwInsideAddress"] = f"{base}.{last + 1}"
        outputs[f"tunnel{n}CgwInsideAddress"] = f"{base}.{last + 2}"
        # pulumi-aws marks these secret; under mocks the SDK does not, so
        # the simulator keeps them secret itself.
        outputs[f"tunnel{n}PresharedKey"] = secret(tunnel["PreSharedKey"])
    return connection_id, outputs


def delete_vpn_connection(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_vpn_connection(VpnConnectionId=id_)


def create_vpn_route(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    c.ec2.create_vpn_connection_route(
        VpnConnectionId=inputs["vpnConnectionId"],
        DestinationCidrBlock=inputs["destinationCidrBlock"],
    )
    return (
        f"{inputs['destinationCidrBlock']}:{inputs['vpnConnectionId']}",
        dict(inputs),
    )


def delete_vpn_route(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_vpn_connection_route(
            VpnConnectionId=outputs["vpnConnectionId"],
            DestinationCidrBlock=outputs["destinationCidrBlock"],
        )


def create_propagation(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    c.ec2.enable_vgw_route_propagation(
        RouteTableId=inputs["routeTableId"], GatewayId=inputs["vpnGatewayId"]
    )
    return f"{inputs['routeTableId']}_{inputs['vpnGatewayId']}", dict(inputs)


def delete_propagation(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.disable_vgw_route_propagation(
            RouteTableId=outputs["routeTableId"], GatewayId=outputs["vpnGatewayId"]
        )


# -- security groups ------------------------------------------------------------------


def create_security_group(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    # The provider auto-names a group from its resource name.
    group_name = inputs.get("name") or f"{name}-{secrets.token_hex(4)}"
    group_id = c.ec2.create_security_group(
        GroupName=group_name,
        Description=inputs.get("description", "Managed by Pulumi"),
        VpcId=inputs["vpcId"],
        TagSpecifications=ec2_tags("security-group", inputs.get("tags")),
    )["GroupId"]
    # AWS adds an allow-all egress rule to every new group (SG-06); the
    # provider removes it unless the program declares egress.
    if not inputs.get("egress"):
        c.ec2.revoke_security_group_egress(
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
    return group_id, {
        **inputs,
        "name": group_name,
        "arn": c.arn("ec2", f"security-group/{group_id}"),
        "ingress": [],
        "egress": [],
    }


def delete_security_group(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine():
        c.ec2.delete_security_group(GroupId=id_)


def _permission(inputs: dict[str, Any]) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": inputs["ipProtocol"]}
    if "fromPort" in inputs:
        permission["FromPort"] = int(inputs["fromPort"])
        permission["ToPort"] = int(inputs["toPort"])
    if "cidrIpv4" in inputs:
        permission["IpRanges"] = [
            {"CidrIp": inputs["cidrIpv4"], "Description": inputs.get("description", "")}
        ]
    if "referencedSecurityGroupId" in inputs:
        permission["UserIdGroupPairs"] = [
            {"GroupId": inputs["referencedSecurityGroupId"]}
        ]
    return permission


def _rule_handler(direction: str) -> Handler:
    """A security group rule of its own resource, ingress or egress."""

    def create(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        authorize = getattr(c.ec2, f"authorize_security_group_{direction}")
        rules = authorize(
            GroupId=inputs["securityGroupId"], IpPermissions=[_permission(inputs)]
        )["SecurityGroupRules"]
        rule_id = rules[0]["SecurityGroupRuleId"]
        return rule_id, {**inputs, "securityGroupRuleId": rule_id}

    def delete(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
        revoke = getattr(c.ec2, f"revoke_security_group_{direction}")
        with _gone_is_fine():
            revoke(
                GroupId=outputs["securityGroupId"],
                IpPermissions=[_permission(outputs)],
            )

    return Handler(create, delete)


HANDLERS = {
    "aws:ec2/vpc:Vpc": Handler(create_vpc, delete_vpc),
    "aws:ec2/subnet:Subnet": Handler(create_subnet, delete_subnet),
    "aws:ec2/internetGateway:InternetGateway": Handler(
        create_internet_gateway, delete_internet_gateway
    ),
    "aws:ec2/routeTable:RouteTable": Handler(create_route_table, delete_route_table),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": Handler(
        create_association, delete_association
    ),
    "aws:ec2/route:Route": Handler(create_route, delete_route),
    "aws:ec2/eip:Eip": Handler(create_eip, delete_eip),
    "aws:ec2/natGateway:NatGateway": Handler(create_nat_gateway, delete_nat_gateway),
    "aws:ec2/vpnGateway:VpnGateway": Handler(create_vpn_gateway, delete_vpn_gateway),
    "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment": Handler(
        create_attachment, delete_attachment
    ),
    "aws:ec2/customerGateway:CustomerGateway": Handler(
        create_customer_gateway, delete_customer_gateway
    ),
    "aws:ec2/vpnConnection:VpnConnection": Handler(
        create_vpn_connection, delete_vpn_connection
    ),
    "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": Handler(
        create_vpn_route, delete_vpn_route
    ),
    "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation": Handler(
        create_propagation, delete_propagation
    ),
    "aws:ec2/securityGroup:SecurityGroup": Handler(
        create_security_group, delete_security_group
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rule_handler(
        "ingress"
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rule_handler("egress"),
}
