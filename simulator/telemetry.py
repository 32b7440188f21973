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
        for tunnel in watch["tunnels"]:
            socket_path = tunnel["vici"]
            if socket_path not in answers:
                try:
                    answers[socket_path] = installed_children(socket_path)
                except (OSError, SessionException):
                    answers[socket_path] = None  # its charon is gone: down
            up = tunnel["name"] in (answers[socket_path] or ())
            try:
                set_tunnel_status(
                    backend,
                    watch["vpn_connection_id"],
                    tunnel["outside_ip"],
                    "UP" if up else "DOWN",
                    "" if up else "IPSEC IS DOWN",
                )
            except (KeyError, ValueError):
                continue  # the connection was deleted meanwhile


def watch_forever(home: Path, stopped: threading.Event) -> None:
    while not stopped.wait(POLL_INTERVAL_S):
        try:
            poll_once(home)
        except Exception:  # a bad cycle must not end the telemetry
            log.exception("telemetry cycle failed")
