"""The simulated AWS API: moto, completed where it falls short of AWS.

moto 5.2.5 accepts a VPN connection's options and forgets them, leaves out
its tunnels' telemetry and routes, and has no VPN static routes or route
propagation at all (see PULUMI-NOTES.md). A check that read that state would
prove nothing, so this module teaches moto's EC2 models and responses to
answer those describe calls the way AWS does. The patches are installed once
per process by `complete_moto()`, before the first request, and work the same
in-process (`mock_aws`, in tests) and in the simulator's moto server.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import string
import threading
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.vpn_connections import VPNConnection
from moto.ec2.responses.vpn_connections import VPNConnections
from moto.rds.models import MasterUserSecret

from exchange.config.model import generate_pre_shared_key

log = logging.getLogger("simulator")

# AWS gives each tunnel an outside address of its own from Amazon's public
# space. The simulator takes them from TEST-NET-2, which exists only inside
# its network namespaces.
TUNNEL_OUTSIDE_POOL = ipaddress.IPv4Network("198.51.100.0/24")

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

_installed = False
_outside_lock = threading.Lock()
_outside_used: set[ipaddress.IPv4Address] = set()


def _allocate_outside_ip() -> str:
    with _outside_lock:
        # .1 is kept for the simulated internet's router.
        for address in list(TUNNEL_OUTSIDE_POOL.hosts())[1:]:
            if address not in _outside_used:
                _outside_used.add(address)
                return str(address)
    raise RuntimeError(f"the tunnel outside pool {TUNNEL_OUTSIDE_POOL} is used up")


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


def _tunnel_options(requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tunnels = []
    taken = {t.get("TunnelInsideCidr") for t in requested if t.get("TunnelInsideCidr")}
    for index in range(2):
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
        options["OutsideIpAddress"] = _allocate_outside_ip()
        tunnels.append(options)
    return tunnels


def _complete_connection(connection: VPNConnection, requested: dict[str, Any]) -> None:
    tunnels = _tunnel_options(requested.get("TunnelOptions") or [])
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
    result = _original_create_vpn_connection(self)
    connection = result.result["VpnConnection"]
    _complete_connection(connection, self._get_param("Options", {}) or {})
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


_original_create_vpn_connection = VPNConnections.create_vpn_connection

# Characters RDS accepts in a master password: printable ASCII without
# / ' " @ and space (RDS-06, the strictest reading).
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.,:;+=!#%^*()[]{}~"


def _managed_master_secret(self: MasterUserSecret) -> str:
    # moto stores the same fixed "admin"/"P@55w0rd!" for every instance; RDS
    # generates a random password for the instance's own master user.
    password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(28))
    username = getattr(self.resource, "master_username", None) or "admin"
    return json.dumps({"username": username, "password": password})


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
    RouteTable.routes = property(_route_table_routes)
    RouteTable.propagating_vgws = property(_propagating_vgws)
    MasterUserSecret._generate_secret_string = _managed_master_secret
    _installed = True
