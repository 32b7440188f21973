"""The simulated AWS API: moto, completed where it falls short of AWS.

moto 5.2.5 accepts a VPN connection's options and forgets them, leaves out
its tunnels' telemetry and routes, and has no VPN static routes or route
propagation at all (see PULUMI-NOTES.md). It hands out Elastic IPs from
loopback, gives NAT gateways private IPs outside their subnets, and reports
every load balancer target healthy in no availability zone. A check that read
that state would prove nothing, so this module teaches moto's models and
responses to answer the way AWS does:

- VPN connections keep their tunnel options (outside IP per tunnel, inside
  CIDR, pre-shared key), static routes and VGW telemetry; deleting one frees
  its outside IPs. VGW route propagation shows in `describe_route_tables`.
  VPN gateways get AWS's default Amazon-side ASN.
- Elastic IPs and tunnel outside IPs come from documentation ranges
  (`EIP_POOL`, `TUNNEL_OUTSIDE_POOL`), distinct across the whole server.
- NAT gateways' private IPs lie in their subnet; deleting one frees its
  private IP and disassociates its Elastic IP.
- Load balancer IP targets keep their availability zone, and their health is
  `unavailable` until the data plane reports a probe (`set_target_health`).
- RDS-managed master secrets hold a random password for the real user.
- A policy statement whose conditions do not hold does not apply (moto
  denies), and requests count as made over TLS (the relay ends it), so
  that a bucket's TLS-only Deny leaves tickets working; a bucket refuses
  a request without signature unless its ACL makes it public.

The patches are installed once per process by `complete_moto()`, before the
first request, and work the same in-process (`mock_aws`, in tests) and in the
simulator's moto server.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import secrets
import string
import threading
from collections.abc import Iterator
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend
from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.subnets import Subnet
from moto.ec2.models.vpn_connections import VPNConnection
from moto.ec2.models.vpn_gateway import VpnGatewayBackend
from moto.ec2.responses.vpn_connections import VPNConnections
from moto.ec2.utils import generate_dns_from_ip
from moto.elbv2.exceptions import ValidationError
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.rds.models import MasterUserSecret
from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response

from exchange.config.model import generate_pre_shared_key

log = logging.getLogger("simulator")

# AWS takes Elastic IPs and tunnel outside IPs from Amazon's public space. The
# simulator takes them from documentation ranges, which exist only inside its
# network namespaces: the upper half of each, so that the lower halves stay
# free for customers' example addresses (a customer gateway at 203.0.113.10,
# an on-premises host at 198.51.100.20). The first host of each pool is kept
# for the simulated internet's router on that network.
EIP_POOL = ipaddress.IPv4Network("203.0.113.128/25")
TUNNEL_OUTSIDE_POOL = ipaddress.IPv4Network("198.51.100.128/25")

# Held while an address is picked and until the resource that holds it is in
# moto's state, so that concurrent requests to the server never pick the same.
_pool_lock = threading.RLock()

# AWS's default Amazon-side ASN for a VPN gateway created without one (VGW-01).
DEFAULT_AMAZON_SIDE_ASN = 64512

# AWS's documented defaults for tunnel options left unset (RULES.md
# VPN-14..31); describe returns them, so the simulator does too.
TUNNEL_DEFAULTS: dict[str, Any] = {
    "Phase1LifetimeSeconds": 28800,
    "Phase2LifetimeSeconds": 3600,
    "RekeyMarginTimeSeconds": 270,
    "RekeyFuzzPercentage": 100,
    "ReplayWindowSize": 1024,
    "DpdTimeoutSeconds": 30,
    "DpdTimeoutAction": "clear",
    "StartupAction": "add",
    "IkeVersions": [{"Value": "ikev1"}, {"Value": "ikev2"}],
    "Phase1EncryptionAlgorithms": [
        {"Value": v} for v in ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
    ],
    "Phase2EncryptionAlgorithms": [
        {"Value": v} for v in ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
    ],
    "Phase1IntegrityAlgorithms": [
        {"Value": v} for v in ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
    ],
    "Phase2IntegrityAlgorithms": [
        {"Value": v} for v in ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
    ],
    "Phase1DHGroupNumbers": [
        {"Value": v} for v in (2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
    ],
    "Phase2DHGroupNumbers": [
        {"Value": v} for v in (2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
    ],
}

# Request option names that arrive as lists of {"Value": x} wrappers.
_LIST_OPTIONS = {
    "IKEVersions": "IkeVersions",
    "Phase1EncryptionAlgorithms": "Phase1EncryptionAlgorithms",
    "Phase2EncryptionAlgorithms": "Phase2EncryptionAlgorithms",
    "Phase1IntegrityAlgorithms": "Phase1IntegrityAlgorithms",
    "Phase2IntegrityAlgorithms": "Phase2IntegrityAlgorithms",
    "Phase1DHGroupNumbers": "Phase1DHGroupNumbers",
    "Phase2DHGroupNumbers": "Phase2DHGroupNumbers",
}

# The states DescribeTargetHealth can report (TargetHealthStateEnum).
TARGET_HEALTH_STATES = frozenset(
    {
        "initial",
        "healthy",
        "unhealthy",
        "unhealthy.draining",
        "unused",
        "draining",
        "unavailable",
    }
)

# Before any health check result exists AWS says `initial` /
# Elb.InitialHealthChecking, which would promise that checks are running.
# None run until the data plane probes, so the simulator says `unavailable`,
# whose documented reason for "target health is unavailable" is
# Elb.InternalError, and says why in the description.
NO_PROBE_YET = {
    "State": "unavailable",
    "Reason": "Elb.InternalError",
    "Description": "no health probe has run yet in the simulator",
}

_installed = False


def _ec2_backends() -> Iterator[Any]:
    """Every EC2 backend in use, across accounts and regions (the whole server)."""
    for account in list(ec2_backends.values()):
        yield from list(account.values())


def _free_in_pool(
    pool: ipaddress.IPv4Network, taken: set[str], count: int
) -> list[str]:
    """Up to `count` free addresses of `pool`, lowest first, past its router."""
    free = (str(a) for a in itertools.islice(pool.hosts(), 1, None))
    return list(itertools.islice((a for a in free if a not in taken), count))


# -- VPN connections ---------------------------------------------------------------


def _tunnel_outside_ips_in_use() -> set[str]:
    # A deleted connection stays visible (state "deleted"), as on AWS, but its
    # outside IPs go back to the pool.
    return {
        tunnel["OutsideIpAddress"]
        for backend in _ec2_backends()
        for connection in list(backend.vpn_connections.values())
        if connection.state != "deleted" and connection.options
        for tunnel in connection.options.get("TunnelOptions", ())
    }


def _random_inside_cidr(taken: set[str]) -> str:
    # AWS picks a free /30 from 169.254.0.0/16 outside the reserved ones
    # (VPN-09); a fixed walk is enough for a simulator.
    for third in range(10, 250):
        for fourth in range(0, 256, 4):
            cidr = f"169.254.{third}.{fourth}/30"
            if cidr not in taken:
                return cidr
    raise RuntimeError("no free inside /30 left")


def _generated_key() -> str:
    # What AWS generates when no key is given (VPN-06).
    return generate_pre_shared_key(32)


def _tunnel_options(
    requested: list[dict[str, Any]], outside_ips: list[str]
) -> list[dict[str, Any]]:
    tunnels = []
    taken = {t.get("TunnelInsideCidr") for t in requested if t.get("TunnelInsideCidr")}
    for index, outside_ip in enumerate(outside_ips):
        spec = requested[index] if index < len(requested) else {}
        options = dict(TUNNEL_DEFAULTS)
        for key, value in spec.items():
            if key in _LIST_OPTIONS:
                options[_LIST_OPTIONS[key]] = [
                    {"Value": item["Value"] if isinstance(item, dict) else item}
                    for item in value
                ]
            elif key in ("TunnelInsideCidr", "PreSharedKey", "DPDTimeoutAction"):
                continue
            else:
                options[key] = value
        if "DPDTimeoutAction" in spec:
            options["DpdTimeoutAction"] = spec["DPDTimeoutAction"]
        if "DPDTimeoutSeconds" in spec:
            options["DpdTimeoutSeconds"] = int(spec["DPDTimeoutSeconds"])
            options.pop("DPDTimeoutSeconds", None)
        inside = spec.get("TunnelInsideCidr") or _random_inside_cidr(taken)
        taken.add(inside)
        options["TunnelInsideCidr"] = inside
        # AWS generates a 32-character key when none is given (VPN-06).
        options["PreSharedKey"] = spec.get("PreSharedKey") or _generated_key()
        options["OutsideIpAddress"] = outside_ip
        tunnels.append(options)
    return tunnels


def _complete_connection(
    connection: VPNConnection, requested: dict[str, Any], outside_ips: list[str]
) -> None:
    tunnels = _tunnel_options(requested.get("TunnelOptions") or [], outside_ips)
    connection.options = {
        "EnableAcceleration": _as_bool(requested.get("EnableAcceleration", False)),
        "StaticRoutesOnly": _as_bool(requested.get("StaticRoutesOnly", False)),
        "LocalIpv4NetworkCidr": requested.get("LocalIpv4NetworkCidr", "0.0.0.0/0"),
        "RemoteIpv4NetworkCidr": requested.get("RemoteIpv4NetworkCidr", "0.0.0.0/0"),
        "OutsideIpAddressType": requested.get("OutsideIpAddressType", "PublicIpv4"),
        "TunnelInsideIpVersion": requested.get("TunnelInsideIpVersion", "ipv4"),
        "TunnelOptions": tunnels,
    }
    # No data plane has brought a tunnel up yet: AWS reports DOWN until IKE
    # completes. The data plane drives this through set_tunnel_status().
    connection.vgw_telemetry = [
        {
            "OutsideIpAddress": t["OutsideIpAddress"],
            "Status": "DOWN",
            "StatusMessage": "",
            "AcceptedRouteCount": 0,
            "CertificateArn": "",
        }
        for t in tunnels
    ]
    connection.routes = []
    connection.category = "VPN"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _find_connection(backend: Any, vpn_connection_id: str) -> VPNConnection:
    (connection,) = backend.describe_vpn_connections(
        vpn_connection_ids=[vpn_connection_id]
    )
    return connection


def set_tunnel_status(
    backend: Any,
    vpn_connection_id: str,
    outside_ip: str,
    status: str,
    message: str = "",
) -> None:
    """Record a tunnel's real state (UP or DOWN) in its VGW telemetry."""
    connection = _find_connection(backend, vpn_connection_id)
    for telemetry in connection.vgw_telemetry:
        if telemetry["OutsideIpAddress"] == outside_ip:
            telemetry["Status"] = status
            telemetry["StatusMessage"] = message
            telemetry["AcceptedRouteCount"] = (
                len(connection.routes) if status == "UP" else 0
            )
            return
    raise KeyError(f"{vpn_connection_id} has no tunnel with outside IP {outside_ip}")


class _PropagatedRoute(Route):
    """A route the VGW propagates into a route table."""

    @property
    def origin(self) -> str:
        return "EnableVgwRoutePropagation"


def _route_table_routes(self: RouteTable) -> list[Route]:
    routes = list(self._routes.values())
    propagating = getattr(self, "_propagating_vgws", set())
    if not propagating:
        return routes
    # AWS propagates a connection's static routes only while at least one of
    # its tunnels is UP (VGW-09).
    backend = self.ec2_backend
    for connection in backend.vpn_connections.values():
        if connection.vpn_gateway_id not in propagating:
            continue
        if connection.state != "available":
            continue
        telemetry = getattr(connection, "vgw_telemetry", None) or []
        if not any(t["Status"] == "UP" for t in telemetry):
            continue
        gateway = backend.get_vpn_gateway(connection.vpn_gateway_id)
        for vpn_route in getattr(connection, "routes", None) or []:
            routes.append(
                _PropagatedRoute(
                    self,
                    vpn_route["DestinationCidrBlock"],
                    None,
                    gateway=gateway,
                )
            )
    return routes


def _propagating_vgws(self: RouteTable) -> list[dict[str, str]]:
    return [{"GatewayId": g} for g in sorted(getattr(self, "_propagating_vgws", ()))]


def _create_vpn_connection(self: VPNConnections) -> ActionResult:
    with _pool_lock:
        outside_ips = _free_in_pool(
            TUNNEL_OUTSIDE_POOL, _tunnel_outside_ips_in_use(), count=2
        )
        if len(outside_ips) < 2:
            raise EC2ClientError(
                "VpnConnectionLimitExceeded",
                f"The simulator's tunnel outside pool {TUNNEL_OUTSIDE_POOL} has no "
                "two free addresses left.",
            )
        result = _original_create_vpn_connection(self)
        connection = result.result["VpnConnection"]
        _complete_connection(
            connection, self._get_param("Options", {}) or {}, outside_ips
        )
    return result


def _create_vpn_connection_route(self: VPNConnections) -> EmptyResult:
    connection = _find_connection(self.ec2_backend, self._get_param("VpnConnectionId"))
    cidr = self._get_param("DestinationCidrBlock")
    if not any(r["DestinationCidrBlock"] == cidr for r in connection.routes):
        connection.routes.append(
            {"DestinationCidrBlock": cidr, "Source": "static", "State": "available"}
        )
    return EmptyResult()


def _delete_vpn_connection_route(self: VPNConnections) -> EmptyResult:
    connection = _find_connection(self.ec2_backend, self._get_param("VpnConnectionId"))
    cidr = self._get_param("DestinationCidrBlock")
    connection.routes = [
        r for r in connection.routes if r["DestinationCidrBlock"] != cidr
    ]
    return EmptyResult()


def _set_propagation(self: VPNConnections, enabled: bool) -> EmptyResult:
    route_table = self.ec2_backend.get_route_table(self._get_param("RouteTableId"))
    gateway_id = self._get_param("GatewayId")
    self.ec2_backend.get_vpn_gateway(gateway_id)  # refuses an unknown gateway
    vgws = set(getattr(route_table, "_propagating_vgws", set()))
    if enabled:
        vgws.add(gateway_id)
    else:
        vgws.discard(gateway_id)
    route_table._propagating_vgws = vgws
    return EmptyResult()


def _create_vpn_gateway(self: VpnGatewayBackend, *args: Any, **kwargs: Any) -> Any:
    gateway = _original_create_vpn_gateway(self, *args, **kwargs)
    if gateway.amazon_side_asn is None:
        gateway.amazon_side_asn = DEFAULT_AMAZON_SIDE_ASN
    return gateway


_original_create_vpn_connection = VPNConnections.create_vpn_connection
_original_create_vpn_gateway = VpnGatewayBackend.create_vpn_gateway


# -- Elastic IPs -------------------------------------------------------------------


def _allocate_address(
    self: ElasticAddressBackend,
    domain: str,
    address: str | None = None,
    tags: dict[str, str] | None = None,
) -> Any:
    if address:
        # Taking back a given address (AllocateAddress Address=...) is moto's.
        return _original_allocate_address(self, domain, address=address, tags=tags)
    with _pool_lock:
        in_use = {
            eip.public_ip
            for backend in _ec2_backends()
            for eip in list(backend.addresses)
        }
        free = _free_in_pool(EIP_POOL, in_use, count=1)
        if not free:
            raise EC2ClientError(
                "AddressLimitExceeded",
                f"The maximum number of addresses has been reached: the simulator's "
                f"Elastic IP pool {EIP_POOL} is used up.",
            )
        # A released address leaves moto's list, so it is free again here.
        return _original_allocate_address(self, domain, address=free[0], tags=tags)


_original_allocate_address = ElasticAddressBackend.allocate_address


# -- NAT gateways ------------------------------------------------------------------


def _free_subnet_address(backend: Any, subnet: Subnet) -> str | None:
    taken = set(subnet._subnet_ips)
    for eni in backend.get_all_network_interfaces():
        if eni.subnet is not None and eni.subnet.id == subnet.id:
            taken.update(a.get("PrivateIpAddress") for a in eni.private_ip_addresses)
    # AWS reserves the first four addresses and the last one of every subnet
    # (VPC-10); hosts() already leaves out the network and broadcast addresses.
    for host in itertools.islice(subnet.cidr.hosts(), 3, None):
        if host not in subnet._reserved_ips and str(host) not in taken:
            return str(host)
    return None


def _move_private_ip(gateway: NatGateway, address: str) -> None:
    # moto gives the gateway, and the network interface it creates for it, a
    # random 10.x address; AWS takes a free one from the gateway's subnet.
    eni = gateway._eni
    eni.private_ip_address = address
    for entry in eni.private_ip_addresses:
        if entry.get("Primary"):
            entry["PrivateIpAddress"] = address
            if "PrivateDnsName" in entry:
                entry["PrivateDnsName"] = generate_dns_from_ip(address)
    if getattr(eni, "private_dns_name", None):
        eni.private_dns_name = generate_dns_from_ip(address)
    gateway.private_ip = address
    for entry in gateway.address_set:
        entry["privateIp"] = address


def _create_nat_gateway(
    self: NatGatewayBackend,
    subnet_id: str,
    allocation_id: str,
    tags: dict[str, str] | None = None,
    connectivity_type: str = "public",
) -> NatGateway:
    subnet = self.get_subnet(subnet_id)
    with _pool_lock:
        address = _free_subnet_address(self, subnet)
        if address is None:
            raise EC2ClientError(
                "InsufficientFreeAddressesInSubnet",
                f"Subnet {subnet_id} has no free address for a NAT gateway.",
            )
        gateway = _original_create_nat_gateway(
            self, subnet_id, allocation_id, tags, connectivity_type
        )
        _move_private_ip(gateway, address)
        subnet.request_ip(address, gateway)
    return gateway


def _delete_nat_gateway(self: NatGatewayBackend, nat_gateway_id: str) -> NatGateway:
    if nat_gateway_id not in self.nat_gateways:
        raise EC2ClientError(
            "NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found"
        )
    gateway = _original_delete_nat_gateway(self, nat_gateway_id)
    # AWS disassociates the Elastic IP (it stays allocated until released) and
    # deletes the gateway's network interface, which frees its private IP.
    eni = gateway._eni
    if eni.id in self.enis:
        for eip in list(self.addresses):
            if eip.eni is eni:
                self.disassociate_address(address=eip.public_ip)
        self.get_subnet(gateway.subnet_id).del_subnet_ip(gateway.private_ip)
        self.delete_network_interface(eni.id)
    return gateway


_original_create_nat_gateway = NatGatewayBackend.create_nat_gateway
_original_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway


# -- Load balancer targets ---------------------------------------------------------


def _target_zone(group: FakeTargetGroup, target: dict[str, Any]) -> str | None:
    """The availability zone AWS records for an IP target (NLB-04)."""
    if group.target_type != "ip":
        return None
    if target.get("AvailabilityZone"):
        return target["AvailabilityZone"]
    try:
        address = ipaddress.ip_address(target["Id"])
    except ValueError:
        raise ValidationError(
            f"Target {target['Id']} is not an IP address, and target group "
            f"{group.name} takes IP targets."
        ) from None
    for subnet in group.ec2_backend.describe_subnets(
        filters={"vpc-id": [group.vpc_id]}
    ):
        if address in subnet.cidr:
            return subnet.availability_zone
    raise ValidationError(
        f"IP target {address} lies outside the subnets of VPC {group.vpc_id}: give "
        "its AvailabilityZone ('all' for an on-premises address) (NLB-04)."
    )


def _register_targets(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    # Every target is checked before any is registered, as AWS refuses the call.
    zones = {target["Id"]: _target_zone(self, target) for target in targets}
    _original_register(self, targets)
    for target_id, zone in zones.items():
        if zone:
            self.targets[target_id]["AvailabilityZone"] = zone


def _target_health(
    self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
) -> FakeHealthStatus:
    status = _original_health_for(self, target, ec2_backend)
    registered = self.targets.get(target["Id"])
    # moto's answers for unregistered, draining or stopped targets are AWS's;
    # only its "healthy" for everything else is made up.
    if registered is None or status.status != "healthy":
        return status
    if not self.load_balancer_arns:
        health = {
            "State": "unused",
            "Reason": "Target.NotInUse",
            "Description": "Target group is not configured to receive traffic "
            "from the load balancer",
        }
    else:
        health = registered.get("TargetHealth") or NO_PROBE_YET
    status = FakeHealthStatus(
        registered["Id"],
        registered["Port"],
        self.health_check_port,
        health["State"],
        health.get("Reason") or None,
        health.get("Description") or None,
    )
    status.availability_zone = registered.get("AvailabilityZone")
    return status


def _health_target(self: FakeHealthStatus) -> dict[str, Any]:
    target = {"Id": self.instance_id, "Port": self.port}
    zone = getattr(self, "availability_zone", None)
    if zone:
        target["AvailabilityZone"] = zone
    return target


def set_target_health(
    backend: Any,
    target_group_arn: str,
    target_id: str,
    port: int,
    state: str,
    reason: str = "",
    description: str = "",
) -> None:
    """Record a target's real health-check result, as the data plane's probe saw it.

    `backend` is the elbv2 backend of the target group's account and region;
    `state` and `reason` are AWS's (TargetHealthStateEnum, TargetHealthReasonEnum).
    """
    if state not in TARGET_HEALTH_STATES:
        raise ValueError(f"{state!r} is not a target health state of AWS")
    group = backend.target_groups.get(target_group_arn)
    if group is None:
        raise KeyError(f"no target group {target_group_arn}")
    target = group.targets.get(target_id)
    if target is None or int(target["Port"]) != int(port):
        raise KeyError(f"{target_group_arn} has no target {target_id}:{port}")
    target["TargetHealth"] = {
        "State": state,
        "Reason": reason,
        "Description": description,
    }


_original_register = FakeTargetGroup.register
_original_health_for = FakeTargetGroup.health_for


# -- RDS ---------------------------------------------------------------------------

# Characters RDS accepts in a master password: printable ASCII without
# / ' " @ and space (RDS-06, the strictest reading).
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.,:;+=!#%^*()[]{}~"


def _managed_master_secret(self: MasterUserSecret) -> str:
    # moto stores the same fixed "admin"/"P@55w0rd!" for every instance; RDS
    # generates a random password for the instance's own master user.
    password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(28))
    username = getattr(self.resource, "master_username", None) or "admin"
    return json.dumps({"username": username, "password": password})


_statement_permits = IAMPolicyStatement.is_action_permitted


def _permits_unless_conditions_fail(
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, str] | None = None,
) -> PermissionResult:
    """A statement whose conditions do not hold does not apply, as on AWS.

    moto denies instead. It also knows nothing of `aws:SecureTransport`:
    the simulator's hosts reach S3 only over TLS, through the relay that
    ends it in front of moto (simulator/relay.py), so every request counts
    as secure here, and a bucket's TLS-only Deny leaves tickets working.
    """
    values = {"aws:SecureTransport": "true", **(incoming_condition_values or {})}
    if not _conditions_hold(self, values):
        return PermissionResult.NEUTRAL
    return _statement_permits(self, action, resource, principal, values)


def _conditions_hold(statement: IAMPolicyStatement, values: dict[str, str]) -> bool:
    """Whether every condition of the statement holds for the request's values.

    moto evaluates StringEquals and takes any other operator as holding;
    `Bool` is evaluated here (a key the request lacks does not hold).
    """
    for operator, expected in (statement._statement.get("Condition") or {}).items():
        if operator == "Bool":
            for key, wanted in expected.items():
                wanted = wanted if isinstance(wanted, list) else [wanted]
                if str(values.get(key, "")).lower() not in {
                    str(w).lower() for w in wanted
                }:
                    return False
        elif not IAMPolicyStatement(
            {"Condition": {operator: expected}}
        )._check_conditions(values):
            return False
    return True


_bucket_response = S3Response._bucket_response
_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message></Error>"
)


def _bucket_response_signed_only(self: S3Response, request: Any, full_url: str) -> Any:
    """A bucket answers a request without signature only if it is public.

    moto answers every request, as if no credentials were needed; S3 refuses
    an anonymous one unless the bucket's ACL grants public read and no
    public access block ignores it. (Objects: moto checks their ACLs.)
    """
    where = getattr(request, "url", None) or getattr(request, "path", "")
    anonymous = "Authorization" not in request.headers and "Signature=" not in where
    bucket_name = self.parse_bucket_name_from_url(request, full_url)
    if anonymous and bucket_name:
        try:
            bucket = self.backend.get_bucket(bucket_name)
        except S3ClientError:
            bucket = None
        if bucket is not None and not _publicly_readable(bucket):
            return 403, {"content-type": "application/xml"}, _ACCESS_DENIED
    return _bucket_response(self, request, full_url)


def _publicly_readable(bucket: Any) -> bool:
    block = bucket.public_access_block
    if block is not None and block.ignore_public_acls:
        return False
    return bucket.acl is not None and bucket.acl.public_read


def complete_moto() -> None:
    """Install the completions into moto's classes (idempotent)."""
    global _installed
    if _installed:
        return
    VPNConnections.create_vpn_connection = _create_vpn_connection
    VPNConnections.create_vpn_connection_route = _create_vpn_connection_route
    VPNConnections.delete_vpn_connection_route = _delete_vpn_connection_route
    VPNConnections.enable_vgw_route_propagation = lambda self: _set_propagation(
        self, True
    )
    VPNConnections.disable_vgw_route_propagation = lambda self: _set_propagation(
        self, False
    )
    VpnGatewayBackend.create_vpn_gateway = _create_vpn_gateway
    RouteTable.routes = property(_route_table_routes)
    RouteTable.propagating_vgws = property(_propagating_vgws)
    ElasticAddressBackend.allocate_address = _allocate_address
    NatGatewayBackend.create_nat_gateway = _create_nat_gateway
    NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
    FakeTargetGroup.register = _register_targets
    FakeTargetGroup.health_for = _target_health
    FakeHealthStatus.target = property(_health_target)
    MasterUserSecret._generate_secret_string = _managed_master_secret
    IAMPolicyStatement.is_action_permitted = _permits_unless_conditions_fail
    S3Response._bucket_response = _bucket_response_signed_only
    _installed = True
