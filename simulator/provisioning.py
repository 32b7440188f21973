"""Pulumi mocks whose resource hook creates each resource in the simulated AWS.

No provider plugin runs here, so this module does the provider's part: it
turns a resource's inputs (camelCase wire names, numbers as floats, secrets
wrapped) into the AWS API calls the provider would make, against the
simulator's moto server through boto3, and answers with the outputs the
provider would return, keeping secret outputs secret. It also applies the
AWS validations that moto skips and that a careful program relies on.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import ClientError

from exchange.environment import simulator_session

log = logging.getLogger("simulator")

# How the Pulumi SDK marks a secret value on the wire.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"


def _reveal(value: Any) -> Any:
    if isinstance(value, dict) and value.get(_SECRET_SIG) == _SECRET_MARK:
        return value["value"]
    return value


def _secret(value: Any) -> dict[str, Any]:
    return {_SECRET_SIG: _SECRET_MARK, "value": value}


def _tag_spec(resource_type: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    if not tags:
        return []
    return [
        {
            "ResourceType": resource_type,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
    ]


class ProvisioningError(Exception):
    """The simulated AWS refused a resource, as AWS would have."""

    def __init__(self, type_: str, name: str, reason: str) -> None:
        super().__init__(f"{type_} {name!r}: {reason}")
        self.type_ = type_
        self.name = name
        self.reason = reason


@dataclass
class Recorded:
    """A resource as the program declared it (secrets removed) and its id."""

    type_: str
    name: str
    id_: str
    inputs: dict[str, Any]


@dataclass
class CloudMocks(pulumi.runtime.Mocks):
    """Creates the program's resources in the simulated AWS at `endpoint_url`."""

    endpoint_url: str
    region: str
    recorded: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        session = simulator_session(self.region)
        # boto3 clients are thread-safe; the SDK calls new_resource from a
        # thread pool, so make them once, up front.
        self.ec2 = session.client("ec2", endpoint_url=self.endpoint_url)
        self.rds = session.client("rds", endpoint_url=self.endpoint_url)
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[str, dict[str, Any]], tuple[str, dict]]] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._subnet,
            "aws:ec2/routeTable:RouteTable": self._route_table,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": self._association,
            "aws:ec2/vpnGateway:VpnGateway": self._vpn_gateway,
            "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment": self._attachment,
            "aws:ec2/customerGateway:CustomerGateway": self._customer_gateway,
            "aws:ec2/vpnConnection:VpnConnection": self._vpn_connection,
            "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": self._vpn_route,
            "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation": (
                self._propagation
            ),
            "aws:ec2/securityGroup:SecurityGroup": self._security_group,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
                self._ingress_rule
            ),
            "aws:rds/subnetGroup:SubnetGroup": self._db_subnet_group,
            "aws:rds/parameterGroup:ParameterGroup": self._db_parameter_group,
            "aws:rds/instance:Instance": self._db_instance,
        }

    # -- the Mocks interface ------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom:  # component resources only group their children
            return f"{args.name}-component", dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        handler = self._handlers.get(args.typ)
        if handler is None:
            raise NotImplementedError(
                f"the simulator cannot create {args.typ} yet ({args.name}); "
                "add a handler in simulator/provisioning.py"
            )
        inputs = {k: _reveal(v) for k, v in args.inputs.items()}
        try:
            id_, outputs = handler(args.name, inputs)
        except ClientError as error:
            raise ProvisioningError(
                args.typ, args.name, error.response["Error"]["Message"]
            ) from None
        log.debug("created %s %s as %s", args.typ, args.name, id_)
        with self._lock:
            self.recorded.append(
                Recorded(args.typ, args.name, id_, _without_secrets(args.inputs))
            )
        return id_, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.ec2.describe_availability_zones(
                Filters=[{"Name": "state", "Values": ["available"]}]
            )["AvailabilityZones"]
            return {
                "id": self.region,
                "names": [z["ZoneName"] for z in zones],
                "zoneIds": [z["ZoneId"] for z in zones],
                "groupNames": [z.get("GroupName", self.region) for z in zones],
            }
        raise NotImplementedError(f"the simulator cannot answer {args.token} yet")

    # -- EC2 ----------------------------------------------------------------

    def _vpc(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        vpc = self.ec2.create_vpc(
            CidrBlock=inputs["cidrBlock"],
            TagSpecifications=_tag_spec("vpc", inputs.get("tags")),
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            if attribute in inputs:
                self.ec2.modify_vpc_attribute(
                    VpcId=vpc_id,
                    **{
                        attribute[0].upper() + attribute[1:]: {
                            "Value": inputs[attribute]
                        }
                    },
                )
        main = self.ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]["RouteTableId"]
        default_sg = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"][0]["GroupId"]
        return vpc_id, {
            **inputs,
            "arn": self._arn("ec2", f"vpc/{vpc_id}"),
            "mainRouteTableId": main,
            "defaultRouteTableId": main,
            "defaultSecurityGroupId": default_sg,
            "ownerId": vpc["OwnerId"],
        }

    def _subnet(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        subnet = self.ec2.create_subnet(
            VpcId=inputs["vpcId"],
            CidrBlock=inputs["cidrBlock"],
            AvailabilityZone=inputs["availabilityZone"],
            TagSpecifications=_tag_spec("subnet", inputs.get("tags")),
        )["Subnet"]
        return subnet["SubnetId"], {
            **inputs,
            "arn": subnet.get(
                "SubnetArn", self._arn("ec2", f"subnet/{subnet['SubnetId']}")
            ),
            "availabilityZoneId": subnet.get("AvailabilityZoneId"),
        }

    def _route_table(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        table = self.ec2.create_route_table(
            VpcId=inputs["vpcId"],
            TagSpecifications=_tag_spec("route-table", inputs.get("tags")),
        )["RouteTable"]
        table_id = table["RouteTableId"]
        return table_id, {
            **inputs,
            "arn": self._arn("ec2", f"route-table/{table_id}"),
            "routes": [],
            "propagatingVgws": [],
        }

    def _association(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        association = self.ec2.associate_route_table(
            SubnetId=inputs["subnetId"], RouteTableId=inputs["routeTableId"]
        )
        return association["AssociationId"], dict(inputs)

    def _vpn_gateway(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        kwargs: dict[str, Any] = {"Type": "ipsec.1"}
        if "amazonSideAsn" in inputs:
            kwargs["AmazonSideAsn"] = int(inputs["amazonSideAsn"])
        gateway = self.ec2.create_vpn_gateway(
            **kwargs, TagSpecifications=_tag_spec("vpn-gateway", inputs.get("tags"))
        )["VpnGateway"]
        gateway_id = gateway["VpnGatewayId"]
        if inputs.get("vpcId"):
            self.ec2.attach_vpn_gateway(VpcId=inputs["vpcId"], VpnGatewayId=gateway_id)
        return gateway_id, {
            **inputs,
            "arn": self._arn("ec2", f"vpn-gateway/{gateway_id}"),
            "amazonSideAsn": str(gateway.get("AmazonSideAsn", 64512)),
        }

    def _attachment(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        self.ec2.attach_vpn_gateway(
            VpcId=inputs["vpcId"], VpnGatewayId=inputs["vpnGatewayId"]
        )
        return f"vpn-attachment-{inputs['vpnGatewayId']}-{inputs['vpcId']}", dict(
            inputs
        )

    def _customer_gateway(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        gateway = self.ec2.create_customer_gateway(
            Type=inputs.get("type", "ipsec.1"),
            PublicIp=inputs["ipAddress"],
            BgpAsn=int(inputs.get("bgpAsn", 65000)),
            TagSpecifications=_tag_spec("customer-gateway", inputs.get("tags")),
        )["CustomerGateway"]
        gateway_id = gateway["CustomerGatewayId"]
        return gateway_id, {
            **inputs,
            "arn": self._arn("ec2", f"customer-gateway/{gateway_id}"),
        }

    def _vpn_connection(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        tunnels = []
        for n in (1, 2):
            tunnel: dict[str, Any] = {}
            if f"tunnel{n}InsideCidr" in inputs:
                tunnel["TunnelInsideCidr"] = inputs[f"tunnel{n}InsideCidr"]
            if f"tunnel{n}PresharedKey" in inputs:
                tunnel["PreSharedKey"] = inputs[f"tunnel{n}PresharedKey"]
            tunnels.append(tunnel)
        connection = self.ec2.create_vpn_connection(
            Type=inputs.get("type", "ipsec.1"),
            CustomerGatewayId=inputs["customerGatewayId"],
            VpnGatewayId=inputs["vpnGatewayId"],
            Options={
                "StaticRoutesOnly": bool(inputs.get("staticRoutesOnly", False)),
                "TunnelOptions": tunnels,
            },
            TagSpecifications=_tag_spec("vpn-connection", inputs.get("tags")),
        )["VpnConnection"]
        connection_id = connection["VpnConnectionId"]
        described = self.ec2.describe_vpn_connections(VpnConnectionIds=[connection_id])
        options = described["VpnConnections"][0]["Options"]["TunnelOptions"]
        outputs: dict[str, Any] = {
            **{k: v for k, v in inputs.items() if not k.endswith("PresharedKey")},
            "arn": self._arn("ec2", f"vpn-connection/{connection_id}"),
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
            outputs[f"tunnel{n}PresharedKey"] = _secret(tunnel["PreSharedKey"])
        return connection_id, outputs

    def _vpn_route(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        self.ec2.create_vpn_connection_route(
            VpnConnectionId=inputs["vpnConnectionId"],
            DestinationCidrBlock=inputs["destinationCidrBlock"],
        )
        return (
            f"{inputs['destinationCidrBlock']}:{inputs['vpnConnectionId']}",
            dict(inputs),
        )

    def _propagation(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        self.ec2.enable_vgw_route_propagation(
            RouteTableId=inputs["routeTableId"], GatewayId=inputs["vpnGatewayId"]
        )
        return f"{inputs['routeTableId']}_{inputs['vpnGatewayId']}", dict(inputs)

    def _security_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        # The provider auto-names a group from its resource name.
        group_name = inputs.get("name") or f"{name}-{secrets.token_hex(4)}"
        group_id = self.ec2.create_security_group(
            GroupName=group_name,
            Description=inputs.get("description", "Managed by Pulumi"),
            VpcId=inputs["vpcId"],
            TagSpecifications=_tag_spec("security-group", inputs.get("tags")),
        )["GroupId"]
        # AWS adds an allow-all egress rule to every new group (SG-06); the
        # provider removes it unless the program declares egress.
        if not inputs.get("egress"):
            self.ec2.revoke_security_group_egress(
                GroupId=group_id,
                IpPermissions=[
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                ],
            )
        return group_id, {
            **inputs,
            "name": group_name,
            "arn": self._arn("ec2", f"security-group/{group_id}"),
            "ingress": [],
            "egress": [],
        }

    def _ingress_rule(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        permission: dict[str, Any] = {"IpProtocol": inputs["ipProtocol"]}
        if "fromPort" in inputs:
            permission["FromPort"] = int(inputs["fromPort"])
            permission["ToPort"] = int(inputs["toPort"])
        permission["IpRanges"] = [
            {"CidrIp": inputs["cidrIpv4"], "Description": inputs.get("description", "")}
        ]
        rules = self.ec2.authorize_security_group_ingress(
            GroupId=inputs["securityGroupId"], IpPermissions=[permission]
        )["SecurityGroupRules"]
        rule_id = rules[0]["SecurityGroupRuleId"]
        return rule_id, {**inputs, "securityGroupRuleId": rule_id}

    # -- RDS ----------------------------------------------------------------

    def _db_subnet_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        subnets = self.ec2.describe_subnets(SubnetIds=inputs["subnetIds"])["Subnets"]
        zones = {s["AvailabilityZone"] for s in subnets}
        # moto accepts a one-zone group; AWS refuses it (RDS-17).
        if len(zones) < 2:
            raise ProvisioningError(
                "aws:rds/subnetGroup:SubnetGroup",
                name,
                "DBSubnetGroupDoesNotCoverEnoughAZs: the DB subnet group must "
                f"cover at least 2 availability zones, it covers {sorted(zones)}",
            )
        group = self.rds.create_db_subnet_group(
            DBSubnetGroupName=inputs["name"],
            DBSubnetGroupDescription=inputs.get("description", "Managed by Pulumi"),
            SubnetIds=inputs["subnetIds"],
            Tags=[
                {"Key": k, "Value": v} for k, v in (inputs.get("tags") or {}).items()
            ],
        )["DBSubnetGroup"]
        return group["DBSubnetGroupName"], {**inputs, "arn": group["DBSubnetGroupArn"]}

    def _db_parameter_group(
        self, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict]:
        group_name = inputs["name"]
        group = self.rds.create_db_parameter_group(
            DBParameterGroupName=group_name,
            DBParameterGroupFamily=inputs["family"],
            Description=inputs.get("description", "Managed by Pulumi"),
            Tags=[
                {"Key": k, "Value": v} for k, v in (inputs.get("tags") or {}).items()
            ],
        )["DBParameterGroup"]
        parameters = [
            {
                "ParameterName": p["name"],
                "ParameterValue": p["value"],
                "ApplyMethod": p.get("applyMethod", "immediate"),
            }
            for p in inputs.get("parameters", [])
        ]
        if parameters:
            self.rds.modify_db_parameter_group(
                DBParameterGroupName=group_name, Parameters=parameters
            )
        return group_name, {**inputs, "arn": group["DBParameterGroupArn"]}

    def _db_instance(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        kwargs: dict[str, Any] = {
            "DBInstanceIdentifier": inputs["identifier"],
            "Engine": inputs["engine"],
            "EngineVersion": inputs.get("engineVersion"),
            "DBInstanceClass": inputs["instanceClass"],
            "AllocatedStorage": int(inputs["allocatedStorage"]),
            "StorageType": inputs.get("storageType", "gp2"),
            "StorageEncrypted": bool(inputs.get("storageEncrypted", False)),
            "PubliclyAccessible": bool(inputs.get("publiclyAccessible", False)),
            "DBName": inputs.get("dbName"),
            "Port": int(inputs.get("port", 3306)),
            "MasterUsername": inputs["username"],
            "DBSubnetGroupName": inputs["dbSubnetGroupName"],
            "DBParameterGroupName": inputs.get("parameterGroupName"),
            "VpcSecurityGroupIds": inputs.get("vpcSecurityGroupIds", []),
            "BackupRetentionPeriod": int(inputs.get("backupRetentionPeriod", 1)),
            "DeletionProtection": bool(inputs.get("deletionProtection", False)),
            "Tags": [
                {"Key": k, "Value": v} for k, v in (inputs.get("tags") or {}).items()
            ],
        }
        if inputs.get("manageMasterUserPassword"):
            kwargs["ManageMasterUserPassword"] = True
        else:
            kwargs["MasterUserPassword"] = inputs["password"]
        instance = self.rds.create_db_instance(
            **{k: v for k, v in kwargs.items() if v is not None}
        )["DBInstance"]
        address = instance["Endpoint"]["Address"]
        port = instance["Endpoint"]["Port"]
        secret = instance.get("MasterUserSecret")
        return instance["DbiResourceId"], {
            **{k: v for k, v in inputs.items() if k != "password"},
            "arn": instance["DBInstanceArn"],
            "address": address,
            "port": port,
            "endpoint": f"{address}:{port}",
            "resourceId": instance["DbiResourceId"],
            "status": instance.get("DBInstanceStatus", "available"),
            "masterUserSecrets": (
                [
                    {
                        "secretArn": secret["SecretArn"],
                        "kmsKeyId": secret.get("KmsKeyId", ""),
                        "secretStatus": secret.get("SecretStatus", "active"),
                    }
                ]
                if secret
                else []
            ),
        }

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:123456789012:{resource}"


def _without_secrets(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs with every secret value replaced by a marker."""
    cleaned = {}
    for key, value in inputs.items():
        if isinstance(value, dict) and value.get(_SECRET_SIG) == _SECRET_MARK:
            cleaned[key] = "[secret]"
        else:
            cleaned[key] = json.loads(json.dumps(value, default=str))
    return cleaned
