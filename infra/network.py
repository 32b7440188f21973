"""The customer's VPC: private subnets in two zones and their route table."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws


@dataclass
class NetworkArgs:
    cidr: IPv4Network
    private_subnets: tuple[IPv4Network, IPv4Network]
    availability_zones: list[str]
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("exchange:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**args.tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        # One route table for the private subnets: the VPN gateway propagates
        # the on-premises routes into it.
        self.private_route_table = aws.ec2.RouteTable(
            f"{name}-private",
            vpc_id=self.vpc.id,
            tags={**args.tags, "Name": f"{name}-private"},
            opts=child,
        )
        self.private_subnets: list[aws.ec2.Subnet] = []
        for cidr, zone in zip(
            args.private_subnets, args.availability_zones, strict=True
        ):
            suffix = zone[-1]
            subnet = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**args.tags, "Name": f"{name}-private-{suffix}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}",
                subnet_id=subnet.id,
                route_table_id=self.private_route_table.id,
                opts=child,
            )
            self.private_subnets.append(subnet)

        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "privateSubnetIds": [s.id for s in self.private_subnets],
                "privateRouteTableId": self.private_route_table.id,
            }
        )
