"""The gateway to a remote database (option 3 via VPN): an internal NLB.

The platform's apps connect to the load balancer's DNS name inside the VPC;
the load balancer forwards each TCP connection through the tunnels to the
database's on-premises address, registered as an IP target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import pulumi
import pulumi_aws as aws

from exchange.config.model import HealthCheck

# How long a deregistered target keeps its open connections (NLB-19; AWS's
# default is 300 s). The target is deregistered only when the database's
# address or port changes, and the old address then no longer is the
# database the apps mean: a minute lets statements in flight finish, and
# connection termination then resets what is left, so that the apps' pools
# reconnect to the new target instead of holding flows that, without it,
# would live on until the listener's idle timeout (NLB-18).
DEREGISTRATION_DELAY_SECONDS = 60

# pulumi-aws names a load balancer or target group "<resource name>-" and 7
# random hex digits, and AWS allows 32 characters (CreateLoadBalancer,
# CreateTargetGroup); the provider refuses a resource name that leaves no
# room for the suffix.
AWS_NAME_LIMIT = 32
AUTONAME_SUFFIX_LENGTH = 8


def autonamed(name: str, role: str) -> str:
    """A child's resource name, `<name>-<role>`, short enough to be autonamed.

    A long parent name keeps its start and gains a digest of the whole, so
    that two long names with the same start still differ.
    """
    resource_name = f"{name}-{role}"
    room = AWS_NAME_LIMIT - AUTONAME_SUFFIX_LENGTH
    if len(resource_name) <= room:
        return resource_name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    start = name[: room - len(role) - len(digest) - 2].rstrip("-")
    return f"{start}-{digest}-{role}"


@dataclass
class RemoteDatabaseGatewayArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: IPv4Network
    # The private subnets, one per zone: the load balancer gets a node in each.
    subnet_ids: list[pulumi.Input[str]]
    # The database's on-premises address and port; the listener uses the port.
    target_address: IPv4Address
    port: int
    health_check: HealthCheck
    idle_timeout_seconds: int
    tags: dict[str, str]
    # Who in the VPC may connect; None admits the whole VPC.
    client_networks: tuple[IPv4Network, ...] | None = None

    def admitted_networks(self) -> tuple[IPv4Network, ...]:
        return self.client_networks or (self.vpc_cidr,)

    def health_check_port(self) -> int:
        return self.health_check.port or self.port


class RemoteDatabaseGateway(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: RemoteDatabaseGatewayArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("exchange:infra:RemoteDatabaseGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        target = IPv4Network(f"{args.target_address}/32")  # one address: /32 (SG-04)

        # The load balancer's own security group. It can be attached only
        # when the load balancer is created (NLB-20). No inline rules: one
        # rule per client network and per port, so that a check can name the
        # one that is missing.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-nlb-sg",
            vpc_id=args.vpc_id,
            description=f"NLB to {args.target_address}:{args.port} over the VPN",
            tags={**args.tags, "Name": f"{name}-nlb-sg"},
            opts=child,
        )
        for network in args.admitted_networks():
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nlb-from-{network.network_address}-{network.prefixlen}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=args.port,
                to_port=args.port,
                cidr_ipv4=str(network),
                description=f"database clients in {network}",
                tags=args.tags,
                opts=child,
            )
        # With client IP preservation off the load balancer opens its own
        # connections to the target, so its outbound rules decide: the
        # traffic port and the health-check port, to the database only.
        for port in sorted({args.port, args.health_check_port()}):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-nlb-to-target-{port}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=str(target),
                description=f"on-premises database {args.target_address}, port {port}",
                tags=args.tags,
                opts=child,
            )

        self.load_balancer = aws.lb.LoadBalancer(
            autonamed(name, "nlb"),
            load_balancer_type="network",
            internal=True,
            subnets=args.subnet_ids,
            security_groups=[self.security_group.id],
            # Every node forwards to the one target whatever its zone; with
            # cross-zone off, a zone's node would count the target group as
            # unhealthy when the target is not registered in its zone (NLB-16).
            enable_cross_zone_load_balancing=True,
            # enforce_security_group_inbound_rules_on_private_link_traffic is
            # left alone: it concerns only traffic from a VPC endpoint, and
            # this load balancer backs no endpoint service.
            tags={**args.tags, "Name": f"{name}-nlb"},
            opts=child,
        )
        check = args.health_check
        self.target_group = aws.lb.TargetGroup(
            autonamed(name, "tg"),
            vpc_id=args.vpc_id,
            target_type="ip",  # immutable (NLB-01)
            protocol="TCP",
            port=args.port,
            # The database is not in the VPC, so the load balancer must
            # present its own address to it (NLB-07, NLB-08); the customer's
            # firewall admits the VPC CIDR instead (NLB-21).
            preserve_client_ip="false",
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol=check.protocol,  # NLB-10
                port=str(check.port) if check.port else "traffic-port",
                interval=check.interval_seconds,  # NLB-11
                timeout=check.timeout_seconds,  # NLB-12
                healthy_threshold=check.healthy_threshold,  # NLB-13
                unhealthy_threshold=check.unhealthy_threshold,  # NLB-13
            ),
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            connection_termination=True,
            tags={**args.tags, "Name": f"{name}-tg"},
            opts=child,
        )
        self.attachment = aws.lb.TargetGroupAttachment(
            f"{name}-target",
            target_group_arn=self.target_group.arn,
            target_id=str(args.target_address),
            port=args.port,
            # An IP outside the VPC must be registered in every zone (NLB-04,
            # NLB-17).
            availability_zone="all",
            opts=child,
        )
        self.listener = aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.load_balancer.arn,
            protocol="TCP",
            port=args.port,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="forward", target_group_arn=self.target_group.arn
                )
            ],
            # How long an idle connection survives (NLB-18); the apps' pools
            # must drop idle connections sooner (MY-09).
            tcp_idle_timeout_seconds=args.idle_timeout_seconds,
            tags={**args.tags, "Name": f"{name}-listener"},
            opts=child,
        )

        self.dns_name = self.load_balancer.dns_name
        self.listener_port = self.listener.port
        self.target_group_arn = self.target_group.arn
        self.security_group_id = self.security_group.id
        self.register_outputs(
            {
                "dnsName": self.dns_name,
                "listenerPort": self.listener_port,
                "targetGroupArn": self.target_group_arn,
                "securityGroupId": self.security_group_id,
            }
        )
