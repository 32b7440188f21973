"""vpn.tunnels: the state of both tunnels, as the VPN gateway reports it.

Reads `VgwTelemetry` of the stack's VPN connection: what AWS sees of each
tunnel, with its status message and when it last changed. One tunnel down
still carries traffic, without redundancy: a warning. Both down: a failure.
A tunnel whose status message says its IKE authentication failed is named
with the pre-shared key as the cause. The simulator's telemetry says so,
from the AWS endpoint's IKE log; AWS's own telemetry does not (its tunnel
log in CloudWatch does, which this check does not read yet), so on AWS such
a tunnel is reported as down.
"""

from __future__ import annotations

from typing import Any

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.result import Outcome, failed, passed, warned
from checks.target import Target

_AUTHENTICATION = ("authentication", "auth_failed")


def vpn_tunnels(target: Target, planned: PlannedCheck) -> Outcome:
    connection_id, connection = target.vpn_connection()
    telemetry = connection.get("VgwTelemetry", [])
    # Each tunnel's inside CIDR, by its outside IP (what the telemetry names).
    inside_by_outside = {
        t["OutsideIpAddress"]: t.get("TunnelInsideCidr")
        for t in connection.get("Options", {}).get("TunnelOptions", [])
        if t.get("OutsideIpAddress")
    }
    described = [_describe(t, inside_by_outside) for t in telemetry]
    down = [t for t in telemetry if t.get("Status") != "UP"]
    refused = [t for t in down if _authentication_failed(t)]
    evidence = f"{connection_id}: " + "; ".join(described)
    if len(telemetry) < 2:
        return failed(
            f"{connection_id} reports {len(telemetry)} tunnel(s)",
            "every VPN connection has two tunnels; provision it again",
            dx.NOT_PROVISIONED,
        )
    if refused:
        names = ", ".join(_name(t, inside_by_outside) for t in refused)
        hint = (
            f"IKE authentication fails on {names}: the customer's device holds "
            "another pre-shared key than the tunnel; write the device's "
            "configuration again (exchange vpn-config) or load the key from the stack"
        )
        verdict = failed if len(down) == len(telemetry) else warned
        return verdict(evidence, hint, dx.IKE_AUTHENTICATION)
    if len(down) == len(telemetry):
        return failed(
            evidence,
            "nothing crosses the VPN: is the customer's device running and does it "
            f"initiate to {', '.join(inside_by_outside)} from "
            f"{target.config.on_premises.customer_gateway_ip}? Its IKE log says why",
            dx.TUNNELS_DOWN,
        )
    if down:
        names = ", ".join(_name(t, inside_by_outside) for t in down)
        return warned(
            evidence,
            f"{names} is down: traffic flows over the other tunnel, without "
            "redundancy; bring it up on the customer's device (VPN-02)",
            dx.TUNNEL_REDUNDANCY_LOST,
        )
    return passed(evidence)


def _authentication_failed(telemetry: dict[str, Any]) -> bool:
    message = (telemetry.get("StatusMessage") or "").lower()
    return any(word in message for word in _AUTHENTICATION)


def _name(telemetry: dict[str, Any], inside_by_outside: dict[str, Any]) -> str:
    outside = telemetry.get("OutsideIpAddress")
    return f"the tunnel to {outside} (inside {inside_by_outside.get(outside, '?')})"


def _describe(telemetry: dict[str, Any], inside_by_outside: dict[str, Any]) -> str:
    outside = telemetry.get("OutsideIpAddress")
    inside = inside_by_outside.get(outside, "?")
    text = f"{outside} (inside {inside}) {telemetry.get('Status')}"
    message = telemetry.get("StatusMessage")
    if message:
        text += f" ({message})"
    changed = telemetry.get("LastStatusChange")
    if changed is not None and hasattr(changed, "isoformat"):
        text += f" since {changed.isoformat(timespec='seconds')}"
    routes = telemetry.get("AcceptedRouteCount")
    if telemetry.get("Status") == "UP" and routes is not None:
        text += f", {routes} routes accepted"
    return text
