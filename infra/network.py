"""The customer's VPC: private subnets in two zones, and a public side for egress.

Each zone's private subnet has a route table of its own, so that a NAT
gateway can serve its own zone (an outage of one zone then takes only that
zone's egress with it), and so that the VPN gateway propagates the
on-premises routes into both. Public subnets and the internet gateway exist
only when something needs egress: a VPC that only receives traffic over the
VPN has no path to the internet at all.
"""

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
    # Only when something calls out to the internet (options 3 via whitelist
    # and 5): the NAT gateways live there.
    public_subnets: tuple[IPv4Network, IPv4Network] | None = None


class Network(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("exchange:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.availability_zones = list(args.availability_zones)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**args.tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for cidr, zone in zip(
            args.private_subnets, args.availability_zones, strict=True
        ):
            subnet, table = self._subnet(name, "private", cidr, zone, args.tags)
            self.private_subnets.append(subnet)
            self.private_route_tables.append(table)

        self.internet_gateway: aws.ec2.InternetGateway | None = None
        self.public_subnets: list[aws.ec2.Subnet] = []
        if args.public_subnets is not None:
            self.internet_gateway = aws.ec2.InternetGateway(
                f"{name}-igw",
                vpc_id=self.vpc.id,
                tags={**args.tags, "Name": f"{name}-igw"},
                opts=child,
            )
            for cidr, zone in zip(
                args.public_subnets, args.availability_zones, strict=True
            ):
                subnet, table = self._subnet(name, "public", cidr, zone, args.tags)
                aws.ec2.Route(
                    f"{name}-public-{zone[-1]}-internet",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    gateway_id=self.internet_gateway.id,
                    opts=child,
                )
                self.public_subnets.append(subnet)

        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "privateSubnetIds": [s.id for s in self.private_subnets],
                "privateRouteTableIds": [t.id for t in self.private_route_tables],
                "publicSubnetIds": [s.id for s in self.public_subnets],
            }
        )

    def _subnet(
        self,
        name: str,
        kind: str,
        cidr: IPv4Network,
        zone: str,
        tags: dict[str, str],
    ) -> tuple[aws.ec2.Subnet, aws.ec2.RouteTable]:
        child = pulumi.ResourceOptions(parent=self)
        label = f"{name}-{kind}-{zone[-1]}"
        subnet = aws.ec2.Subnet(
            label,
            vpc_id=self.vpc.id,
            cidr_block=str(cidr),
            availability_zone=zone,
            # Nothing in this VPC gets a public address by accident; the NAT
            # gateways have Elastic IPs of their own.
            map_public_ip_on_launch=False,
            tags={**tags, "Name": label, "exchange:tier": kind},
            opts=child,
        )
        table = aws.ec2.RouteTable(
            label,
            vpc_id=self.vpc.id,
            tags={**tags, "Name": label, "exchange:tier": kind},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            label, subnet_id=subnet.id, route_table_id=table.id, opts=child
        )
        return subnet, table
