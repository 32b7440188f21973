"""A MySQL application database (options 1 and 2) reachable only over the VPN."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws

MASTER_USERNAME = "admin"


@dataclass
class AppDatabaseArgs:
    identifier: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    engine_version: str
    instance_class: str
    storage_gb: int
    schema: str
    port: int
    tls_required: bool
    client_networks: tuple[IPv4Network, ...]
    deletion_protection: bool
    tags: dict[str, str]


class AppDatabase(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: AppDatabaseArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("exchange:infra:AppDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # No inline rules and no egress: the database only answers. Each
        # client network gets its own ingress rule so that a check can name
        # the one that is missing.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"MySQL {args.identifier}: on-premises clients over the VPN",
            tags={**args.tags, "Name": f"{name}-sg"},
            opts=child,
        )
        for network in args.client_networks:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-{network.network_address}-{network.prefixlen}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=args.port,
                to_port=args.port,
                cidr_ipv4=str(network),
                description=f"MySQL from on-premises {network}",
                tags=args.tags,
                opts=child,
            )
        # A parameter group of our own, so that TLS is enforced by the server
        # (RDS-SSL, MY-08) and later changes need no new instance.
        major_minor = ".".join(args.engine_version.split(".")[:2])
        self.parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            name=f"{args.identifier}-params",
            family=f"mysql{major_minor}",
            description=f"{args.identifier}: require_secure_transport "
            + ("on" if args.tls_required else "off"),
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    name="require_secure_transport",
                    value="1" if args.tls_required else "0",
                    apply_method="immediate",
                )
            ],
            # A configuration that does not require TLS says so where the
            # policy pack and a console reader see it.
            tags={
                **args.tags,
                **({} if args.tls_required else {"exchange:tls": "optional"}),
            },
            opts=child,
        )
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=f"{args.identifier}-subnets",
            subnet_ids=args.subnet_ids,
            description=f"{args.identifier}: private subnets in two zones",
            tags=args.tags,
            opts=child,
        )
        self.instance = aws.rds.Instance(
            f"{name}-mysql",
            identifier=args.identifier,
            engine="mysql",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            publicly_accessible=False,
            db_name=args.schema,
            port=args.port,
            username=MASTER_USERNAME,
            # RDS generates the password and keeps it in Secrets Manager; it
            # never passes through the program or its state.
            manage_master_user_password=True,
            db_subnet_group_name=self.subnet_group.name,
            parameter_group_name=self.parameter_group.name,
            vpc_security_group_ids=[self.security_group.id],
            backup_retention_period=7,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=(
                f"{args.identifier}-final" if args.deletion_protection else None
            ),
            tags=args.tags,
            opts=child,
        )
        self.master_user_secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets else None
        )
        self.register_outputs(
            {
                "instanceId": self.instance.identifier,
                "address": self.instance.address,
                "port": self.instance.port,
                "securityGroupId": self.security_group.id,
                "masterUserSecretArn": self.master_user_secret_arn,
            }
        )
