"""One customer's cloud side of the data exchanges.

Reads the customer's exchange configuration (stack config `exchange:config`),
refuses to run on an invalid one, wires one component per concern and
exports the outputs the checks read. The same program runs under the Pulumi
CLI against AWS and in-process under the simulator's mocks.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from exchange.config import InvalidConfig, load_config
from exchange.config.model import Secret, SecretRef, SecretUnavailable, VpnTarget
from infra import outputs
from infra.database import MASTER_USERNAME, AppDatabase, AppDatabaseArgs
from infra.egress import Egress, EgressArgs
from infra.load_balancer import RemoteDatabaseGateway, RemoteDatabaseGatewayArgs
from infra.network import Network, NetworkArgs
from infra.storage import FileStorage, FileStorageArgs
from infra.vpn import TunnelArgs, VpnLink, VpnLinkArgs

PROJECT_ROOT = Path(__file__).resolve().parent.parent

stack_config = pulumi.Config("exchange")
# A relative path means the same file whichever folder the CLI runs from:
# it is relative to the project (the folder of Pulumi.yaml).
config_path = PROJECT_ROOT / stack_config.require("config")
try:
    config = load_config(config_path)
except InvalidConfig as invalid:
    raise pulumi.RunError(str(invalid)) from None

# Deletion protection guards a customer's data on AWS; the simulator turns it
# off so that its stacks can be thrown away.
deletion_protection = stack_config.get_bool("deletionProtection")
if deletion_protection is None:
    deletion_protection = True

slug = config.customer.slug
tags = {"exchange:customer": slug, "managed-by": "exchange-proof"}

# An explicit provider pins the region to the configuration's, whatever the
# stack's aws:region says; every component inherits it from its parent.
provider = aws.Provider(slug, region=config.region)
in_region = pulumi.ResourceOptions(providers=[provider])


def secret_value(reference: SecretRef | Secret) -> pulumi.Output[str]:
    """A secret from the environment, or read from Secrets Manager at deploy time."""
    if isinstance(reference, SecretRef) and reference.secret_name is not None:
        version = aws.secretsmanager.get_secret_version_output(
            secret_id=reference.secret_name,
            opts=pulumi.InvokeOptions(provider=provider),
        )
        return pulumi.Output.secret(version.secret_string)
    try:
        return pulumi.Output.secret(reference.resolve().reveal())
    except SecretUnavailable as missing:
        raise pulumi.RunError(str(missing)) from None


pre_shared_keys = [secret_value(tunnel.pre_shared_key) for tunnel in config.vpn.tunnels]
zones = aws.get_availability_zones(
    state="available", opts=pulumi.InvokeOptions(provider=provider)
).names[:2]
try:
    public_subnets = config.vpc.public_subnets() if config.needs_egress() else None
except ValueError as small:
    raise pulumi.RunError(f"{config.source}: vpc.cidr: {small}") from None
network = Network(
    slug,
    NetworkArgs(
        cidr=config.vpc.cidr,
        private_subnets=config.vpc.private_subnets(),
        public_subnets=public_subnets,
        availability_zones=zones,
        tags=tags,
    ),
    opts=in_region,
)
private_subnet_ids = [subnet.id for subnet in network.private_subnets]
private_route_table_ids = [table.id for table in network.private_route_tables]
vpn = VpnLink(
    slug,
    VpnLinkArgs(
        vpc_id=network.vpc.id,
        route_table_ids=private_route_table_ids,
        customer_gateway_ip=config.on_premises.customer_gateway_ip,
        on_premises_networks=config.on_premises.networks,
        tunnels=tuple(
            TunnelArgs(options=tunnel, pre_shared_key=key)
            for tunnel, key in zip(config.vpn.tunnels, pre_shared_keys, strict=True)
        ),
        static_routing=config.on_premises.routing == "static",
        bgp_asn=config.on_premises.bgp_asn,
        amazon_side_asn=config.vpn.amazon_side_asn,
        tags=tags,
    ),
    opts=in_region,
)

egress = None
if public_subnets is not None:
    egress = Egress(
        f"{slug}-egress",
        EgressArgs(
            public_subnet_ids=[subnet.id for subnet in network.public_subnets],
            private_route_table_ids=private_route_table_ids,
            availability_zones=zones,
            internet_gateway=network.internet_gateway,
            tags=tags,
        ),
        opts=in_region,
    )

databases = {}
for exchange in config.app_databases():
    identifier = config.database_identifier(exchange)
    database = AppDatabase(
        identifier,
        AppDatabaseArgs(
            identifier=identifier,
            vpc_id=network.vpc.id,
            subnet_ids=private_subnet_ids,
            engine_version=exchange.engine_version,
            instance_class=exchange.instance_class,
            storage_gb=exchange.storage_gb,
            schema=exchange.schema,
            port=exchange.port,
            tls_required=exchange.tls_required,
            client_networks=exchange.client_networks,
            deletion_protection=deletion_protection,
            tags={**tags, "exchange:exchange": exchange.name},
        ),
        opts=in_region,
    )
    databases[exchange.name] = {
        outputs.DB_INSTANCE_ID: database.instance.identifier,
        outputs.DB_ADDRESS: database.instance.address,
        outputs.DB_PORT: database.instance.port,
        outputs.DB_SCHEMA: exchange.schema,
        outputs.DB_SECURITY_GROUP_ID: database.security_group.id,
        outputs.DB_MASTER_USERNAME: MASTER_USERNAME,
        outputs.DB_MASTER_SECRET_ARN: database.master_user_secret_arn,
    }

remote_databases = {}
for exchange in config.remote_databases():
    if not isinstance(exchange.target, VpnTarget):
        continue  # via whitelist: the platform goes out through Egress
    gateway = RemoteDatabaseGateway(
        f"{slug}-{exchange.name}",
        RemoteDatabaseGatewayArgs(
            vpc_id=network.vpc.id,
            vpc_cidr=config.vpc.cidr,
            subnet_ids=private_subnet_ids,
            target_address=exchange.target.address,
            port=exchange.target.port,
            health_check=exchange.target.health_check,
            idle_timeout_seconds=exchange.target.idle_timeout_seconds,
            client_networks=(config.vpc.cidr,),
            tags={**tags, "exchange:exchange": exchange.name},
        ),
        opts=in_region,
    )
    remote_databases[exchange.name] = {
        outputs.NLB_DNS_NAME: gateway.dns_name,
        outputs.NLB_PORT: gateway.listener_port,
        outputs.NLB_TARGET_GROUP_ARN: gateway.target_group_arn,
        outputs.NLB_SECURITY_GROUP_ID: gateway.security_group_id,
        outputs.NLB_TARGET: f"{exchange.target.address}:{exchange.target.port}",
    }

# One bucket may serve several file-storage exchanges, each in its folder.
buckets: dict[str, list] = {}
for exchange in config.file_storages():
    buckets.setdefault(config.bucket_name(exchange), []).append(exchange)
file_storages = {}
for bucket_name, exchanges in buckets.items():
    storage = FileStorage(
        bucket_name,
        FileStorageArgs(
            bucket_name=bucket_name,
            folders=tuple(exchange.folder for exchange in exchanges),
            force_destroy=not deletion_protection,
            tags=tags,
        ),
        opts=in_region,
    )
    for exchange in exchanges:
        file_storages[exchange.name] = {
            outputs.BUCKET_NAME: storage.bucket_name,
            outputs.BUCKET_PREFIX: exchange.folder,
        }

pulumi.export(outputs.REGION, config.region)
pulumi.export(outputs.CUSTOMER, slug)
pulumi.export(outputs.VPC_ID, network.vpc.id)
pulumi.export(outputs.VPC_CIDR, str(config.vpc.cidr))
pulumi.export(outputs.PRIVATE_SUBNET_IDS, private_subnet_ids)
pulumi.export(outputs.PRIVATE_ROUTE_TABLE_IDS, private_route_table_ids)
pulumi.export(outputs.PUBLIC_SUBNET_IDS, [s.id for s in network.public_subnets])
pulumi.export(outputs.VPN_GATEWAY_ID, vpn.vpn_gateway.id)
pulumi.export(outputs.AMAZON_SIDE_ASN, vpn.vpn_gateway.amazon_side_asn)
pulumi.export(outputs.CUSTOMER_GATEWAY_ID, vpn.customer_gateway.id)
pulumi.export(outputs.VPN_CONNECTION_ID, vpn.connection.id)
pulumi.export(outputs.TUNNEL_OUTSIDE_IPS, vpn.tunnel_outside_ips)
pulumi.export(
    outputs.TUNNEL_PRESHARED_KEYS,
    pulumi.Output.secret(
        pulumi.Output.all(
            vpn.connection.tunnel1_preshared_key, vpn.connection.tunnel2_preshared_key
        )
    ),
)
pulumi.export(outputs.EGRESS_IPS, egress.egress_ips if egress else [])
pulumi.export(
    outputs.NAT_GATEWAY_IDS, [g.id for g in egress.nat_gateways] if egress else []
)
pulumi.export(outputs.DATABASES, databases)
pulumi.export(outputs.REMOTE_DATABASES, remote_databases)
pulumi.export(outputs.FILE_STORAGES, file_storages)
