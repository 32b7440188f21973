"""Truth flows back: the tunnels' real state drives the simulated AWS's telemetry.

Runs as a thread inside the AWS API server's process, next to moto's
backends. Five times a second it asks each watched strongSwan (its VICI
socket, a unix socket, reachable from any network namespace) whether each
tunnel's CHILD_SA is installed, and records UP or DOWN in the VPN
connection's `VgwTelemetry`, as AWS reports what its endpoints see. Route
propagation follows from it (VGW-09, `simulator.aws`).

The watches are a file the data plane writes (`telemetry.json` in the
simulator's folder): what to ask, never a secret.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Any

import vici
from vici.exception import SessionException

log = logging.getLogger("simulator")

WATCHES_FILE = "telemetry.json"
POLL_INTERVAL_S = 0.2
VICI_TIMEOUT_S = 1.0
ACCOUNT_ID = "123456789012"


def write_watches(home: Path, watches: list[dict[str, Any]]) -> None:
    """Publish what to watch: [{region, vpn_connection_id, tunnels: [...]}]."""
    path = home / WATCHES_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(watches, indent=2) + "\n")
    tmp.replace(path)


def installed_children(socket_path: str) -> set[str]:
    """Names of the CHILD_SAs that a charon has installed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(VICI_TIMEOUT_S)
        sock.connect(socket_path)
        session = vici.Session(sock)
        installed = set()
        for event in session.list_sas():
            for ike in event.values():
                for child in ike.get("child-sas", {}).values():
                    if child.get("state", b"").decode() == "INSTALLED":
                        installed.add(child.get("name", b"").decode())
        return installed


def poll_once(home: Path) -> None:
    # Imported here: the data plane's side imports this module to write the
    # watches, and must not pay for loading moto.
    from moto.ec2.models import ec2_backends

    from simulator.aws import set_tunnel_status

    path = home / WATCHES_FILE
    if not path.exists():
        return
    for watch in json.loads(path.read_text()):
        backend = ec2_backends[ACCOUNT_ID][watch["region"]]
        answers: dict[str, set[str] | None] = {}
        any_up = False
        for tunnel in watch["tunnels"]:
            socket_path = tunnel["vici"]
            if socket_path not in answers:
                try:
                    answers[socket_path] = installed_children(socket_path)
                except (OSError, SessionException):
                    answers[socket_path] = None  # its charon is gone: down
            up = tunnel["name"] in (answers[socket_path] or ())
            any_up = any_up or up
            try:
                set_tunnel_status(
                    backend,
                    watch["vpn_connection_id"],
                    tunnel["outside_ip"],
                    "UP" if up else "DOWN",
                    "" if up else _why_down(socket_path, tunnel["name"]),
                )
            except (KeyError, ValueError):
                continue  # the connection was deleted meanwhile
        if watch.get("bgp_routes") is not None:
            _learn_bgp_routes(backend, watch, any_up)
        for target in watch.get("targets", []):
            _report_target_health(watch["region"], target)


# What the AWS endpoint's IKE log says when authentication fails, either way.
_AUTHENTICATION_FAILED = re.compile(
    r"AUTHENTICATION_FAILED|MAC mismatched|authentication of .* failed"
)
_ESTABLISHED = re.compile(r"(IKE|CHILD)_SA .* established")
LOG_TAIL_BYTES = 64 * 1024
# The log simulator/ipsec.py has each charon write beside its VICI socket
# (not imported: this module loads in the AWS API's process, ipsec does not).
CHARON_LOG = "charon.log"


def _why_down(vici_socket: str, name: str) -> str:
    """A DOWN tunnel's status message: why its IKE log says it is down.

    AWS records a tunnel's IKE negotiation in its tunnel log; the simulator's
    AWS endpoint writes the same events to its charon's log, next to its VICI
    socket. A failed authentication after the last established SA means the
    two ends hold different pre-shared keys.
    """
    log_file = Path(vici_socket).parent / CHARON_LOG
    try:
        with log_file.open("rb") as file:
            file.seek(max(0, log_file.stat().st_size - LOG_TAIL_BYTES))
            tail = file.read().decode(errors="replace")
    except OSError:
        return "IPSEC IS DOWN"
    verdict = "IPSEC IS DOWN"
    for line in tail.splitlines():
        if f"<{name}|" not in line:
            continue
        if _AUTHENTICATION_FAILED.search(line):
            verdict = "IPSEC IS DOWN: IKE AUTHENTICATION FAILED"
        elif _ESTABLISHED.search(line):
            verdict = "IPSEC IS DOWN"
    return verdict


def _report_target_health(region: str, target: dict[str, Any]) -> None:
    """The load balancer's own probe result, as the target group's health."""
    from moto.elbv2.models import elbv2_backends

    from simulator.aws import set_target_health

    try:
        health = json.loads(Path(target["health"]).read_text())
    except (OSError, ValueError):
        return  # no probe has run yet: the target stays unavailable
    try:
        set_target_health(
            elbv2_backends[ACCOUNT_ID][region],
            target["target_group_arn"],
            target["target"],
            int(target["port"]),
            health["state"],
            health.get("reason", ""),
            health.get("description", ""),
        )
    except (KeyError, ValueError):
        return  # the target group was deleted meanwhile


def _learn_bgp_routes(backend: Any, watch: dict[str, Any], up: bool) -> None:
    """With BGP, the connection learns the announced networks while a tunnel is UP.

    The customer's device announces its networks over BGP; the simulator
    runs no BGP, so the data plane says what the device would announce,
    and the routes come and go with the tunnels, as learned routes do.
    """
    try:
        (connection,) = backend.describe_vpn_connections(
            vpn_connection_ids=[watch["vpn_connection_id"]]
        )
    except Exception:  # moto's own error for an unknown id
        return
    static = [r for r in connection.routes if r.get("Source") != "bgp"]
    learned = [
        {"DestinationCidrBlock": cidr, "Source": "bgp", "State": "available"}
        for cidr in watch["bgp_routes"]
    ]
    connection.routes = static + (learned if up else [])


def watch_forever(home: Path, stopped: threading.Event) -> None:
    while not stopped.wait(POLL_INTERVAL_S):
        try:
            poll_once(home)
        except Exception:  # a bad cycle must not end the telemetry
            log.exception("telemetry cycle failed")
