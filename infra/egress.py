"""The platform's way out to the internet: a NAT gateway per zone.

Options 3 via whitelist and 5 call the customer's endpoints over the
internet; the customer admits the platform by source address, so the
addresses must be fixed and known: each NAT gateway has an Elastic IP, and
the stack exports every one of them for the customer's whitelist (NAT-..
rules in RULES.md). One gateway per zone, each the default route of its
zone's private subnet, so that losing a zone does not cut the other off.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass
class EgressArgs:
    public_subnet_ids: list[pulumi.Input[str]]
    private_route_table_ids: list[pulumi.Input[str]]
    availability_zones: list[str]
    tags: dict[str, str]
    # The internet gateway the public subnets route to: a NAT gateway is
    # created only once its subnet can reach the internet.
    internet_gateway: pulumi.Resource | None = None


class Egress(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: EgressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("exchange:infra:Egress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.elastic_ips: list[aws.ec2.Eip] = []
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for subnet_id, table_id, zone in zip(
            args.public_subnet_ids,
            args.private_route_table_ids,
            args.availability_zones,
            strict=True,
        ):
            label = f"{name}-{zone[-1]}"
            address = aws.ec2.Eip(
                f"{label}-eip",
                domain="vpc",
                tags={**args.tags, "Name": f"{label}-eip"},
                opts=child,
            )
            gateway = aws.ec2.NatGateway(
                f"{label}-nat",
                allocation_id=address.allocation_id,
                subnet_id=subnet_id,
                connectivity_type="public",
                tags={**args.tags, "Name": f"{label}-nat"},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[args.internet_gateway] if args.internet_gateway else [],
                ),
            )
            aws.ec2.Route(
                f"{label}-default",
                route_table_id=table_id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=gateway.id,
                opts=child,
            )
            self.elastic_ips.append(address)
            self.nat_gateways.append(gateway)

        # What the customer must whitelist: every address the platform's
        # traffic may come from.
        self.egress_ips = pulumi.Output.all(*[a.public_ip for a in self.elastic_ips])
        self.register_outputs(
            {
                "egressIps": self.egress_ips,
                "natGatewayIds": [g.id for g in self.nat_gateways],
            }
        )
