"""The site-to-site VPN: gateway, customer gateway, connection, routes."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import pulumi
import pulumi_aws as aws


@dataclass
class TunnelArgs:
    inside_cidr: IPv4Network
    pre_shared_key: pulumi.Output[str]


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


class VpnLink(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: VpnLinkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("exchange:infra:VpnLink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.vpn_gateway = aws.ec2.VpnGateway(
            f"{name}-vgw",
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
            tunnel1_inside_cidr=str(first.inside_cidr),
            tunnel1_preshared_key=first.pre_shared_key,
            tunnel2_inside_cidr=str(second.inside_cidr),
            tunnel2_preshared_key=second.pre_shared_key,
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
