"""The site-to-site VPN: gateway, customer gateway, connection, routes.

Both tunnels get every option the configuration sets; an option it leaves
out is not sent, so AWS applies its documented default (VPN-14..31) and the
customer's device configuration is written from what AWS then describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pulumi
import pulumi_aws as aws

from exchange.config.model import Tunnel

# The configuration's tunnel options: each is the VpnConnection input
# tunnelN_<option> of the same name.
TUNNEL_OPTIONS = (
    "ike_versions",
    "phase1_encryption_algorithms",
    "phase1_integrity_algorithms",
    "phase1_dh_group_numbers",
    "phase1_lifetime_seconds",
    "phase2_encryption_algorithms",
    "phase2_integrity_algorithms",
    "phase2_dh_group_numbers",
    "phase2_lifetime_seconds",
    "rekey_margin_time_seconds",
    "rekey_fuzz_percentage",
    "replay_window_size",
    "dpd_timeout_seconds",
    "dpd_timeout_action",
    "startup_action",
)


@dataclass
class TunnelArgs:
    options: Tunnel
    pre_shared_key: pulumi.Output[str]

    def inputs(self, number: int) -> dict[str, Any]:
        """The VpnConnection inputs for this tunnel as tunnel `number`."""
        inputs: dict[str, Any] = {
            f"tunnel{number}_inside_cidr": str(self.options.inside_cidr),
            f"tunnel{number}_preshared_key": self.pre_shared_key,
        }
        for option in TUNNEL_OPTIONS:
            value = getattr(self.options, option)
            if value is not None:
                inputs[f"tunnel{number}_{option}"] = (
                    list(value) if isinstance(value, tuple) else value
                )
        return inputs


@dataclass
class VpnLinkArgs:
    vpc_id: pulumi.Input[str]
    route_table_ids: list[pulumi.Input[str]]
    customer_gateway_ip: IPv4Address
    on_premises_networks: tuple[IPv4Network, ...]
    tunnels: tuple[TunnelArgs, TunnelArgs]
    static_routing: bool
    bgp_asn: int | None
    tags: dict[str, str]
    amazon_side_asn: int | None = None


class VpnLink(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: VpnLinkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("exchange:infra:VpnLink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.vpn_gateway = aws.ec2.VpnGateway(
            f"{name}-vgw",
            # Left out, AWS picks 64512 (VGW-01); with BGP it must differ
            # from the customer's ASN, which the rules check.
            amazon_side_asn=(
                str(args.amazon_side_asn) if args.amazon_side_asn is not None else None
            ),
            tags={**args.tags, "Name": f"{name}-vgw"},
            opts=child,
        )
        attachment = aws.ec2.VpnGatewayAttachment(
            f"{name}-vgw-attachment",
            vpc_id=args.vpc_id,
            vpn_gateway_id=self.vpn_gateway.id,
            opts=child,
        )
        self.customer_gateway = aws.ec2.CustomerGateway(
            f"{name}-cgw",
            type="ipsec.1",
            ip_address=str(args.customer_gateway_ip),
            # A customer gateway always has an ASN; with static routing AWS
            # does not use it, and 65000 is its documented default (CGW-06).
            bgp_asn=str(args.bgp_asn or 65000),
            tags={**args.tags, "Name": f"{name}-cgw"},
            opts=child,
        )
        first, second = args.tunnels
        self.connection = aws.ec2.VpnConnection(
            f"{name}-vpn",
            type="ipsec.1",
            vpn_gateway_id=self.vpn_gateway.id,
            customer_gateway_id=self.customer_gateway.id,
            static_routes_only=args.static_routing,
            **first.inputs(1),
            **second.inputs(2),
            tags={**args.tags, "Name": f"{name}-vpn"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        if args.static_routing:
            for network in args.on_premises_networks:
                aws.ec2.VpnConnectionRoute(
                    f"{name}-route-{network.network_address}-{network.prefixlen}",
                    vpn_connection_id=self.connection.id,
                    destination_cidr_block=str(network),
                    opts=child,
                )
        for index, route_table_id in enumerate(args.route_table_ids):
            aws.ec2.VpnGatewayRoutePropagation(
                f"{name}-propagation-{index}",
                vpn_gateway_id=self.vpn_gateway.id,
                route_table_id=route_table_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
            )

        self.tunnel_outside_ips = pulumi.Output.all(
            self.connection.tunnel1_address, self.connection.tunnel2_address
        )
        self.register_outputs(
            {
                "vpnGatewayId": self.vpn_gateway.id,
                "customerGatewayId": self.customer_gateway.id,
                "vpnConnectionId": self.connection.id,
                "tunnelOutsideIps": self.tunnel_outside_ips,
            }
        )
