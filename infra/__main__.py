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
from exchange.config.model import Secret, SecretRef, SecretUnavailable
from infra import outputs
from infra.database import MASTER_USERNAME, AppDatabase, AppDatabaseArgs
from infra.network import Network, NetworkArgs
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
network = Network(
    slug,
    NetworkArgs(
        cidr=config.vpc.cidr,
        private_subnets=config.vpc.private_subnets(),
        availability_zones=zones,
        tags=tags,
    ),
    opts=in_region,
)
vpn = VpnLink(
    slug,
    VpnLinkArgs(
        vpc_id=network.vpc.id,
        route_table_ids=[network.private_route_table.id],
        customer_gateway_ip=config.on_premises.customer_gateway_ip,
        on_premises_networks=config.on_premises.networks,
        tunnels=tuple(
            TunnelArgs(inside_cidr=tunnel.inside_cidr, pre_shared_key=key)
            for tunnel, key in zip(config.vpn.tunnels, pre_shared_keys, strict=True)
        ),
        static_routing=config.on_premises.routing == "static",
        bgp_asn=config.on_premises.bgp_asn,
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
            subnet_ids=[subnet.id for subnet in network.private_subnets],
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

pulumi.export(outputs.REGION, config.region)
pulumi.export(outputs.VPC_ID, network.vpc.id)
pulumi.export(outputs.PRIVATE_SUBNET_IDS, [s.id for s in network.private_subnets])
pulumi.export(outputs.PRIVATE_ROUTE_TABLE_ID, network.private_route_table.id)
pulumi.export(outputs.VPN_GATEWAY_ID, vpn.vpn_gateway.id)
pulumi.export(outputs.CUSTOMER_GATEWAY_ID, vpn.customer_gateway.id)
pulumi.export(outputs.VPN_CONNECTION_ID, vpn.connection.id)
pulumi.export(outputs.TUNNEL_OUTSIDE_IPS, vpn.tunnel_outside_ips)
pulumi.export(outputs.DATABASES, databases)
