"""Opening a connection from a vantage point, and naming what stopped it.

Every live check starts here: the socket is opened at the vantage point
(inside its namespace, in the simulator), with a timeout, and a failure to
connect becomes a `Blocked` that carries its diagnosis:

- refused: the host answered, nothing listens (PORT-CLOSED);
- timed out: dropped on the way, silently; on a path over the VPN that is a
  security group, ACL or tunnel (CONNECT-TIMEOUT), on a path over the
  internet to a customer's endpoint the customer's whitelist
  (WHITELIST-DROPS);
- unreachable: no route (NET-UNREACHABLE);
- the name does not resolve (DNS-FAILURE).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from dataclasses import dataclass

from checks import diagnosis as dx
from checks.result import Outcome, Status, errored, failed, passed, skipped
from checks.retry import retrying
from checks.target import NameNotResolved, NoStandIn, Target, Unreachable

log = logging.getLogger("checks")

# How a vantage point reaches an endpoint, which decides what a silent drop
# most likely is.
OVER_VPN = "vpn"
# To a customer's endpoint, through the customer's whitelist.
OVER_INTERNET = "internet"
# From the customer's site out to a public service (the file storage).
OUTBOUND = "outbound"

_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH}


class Blocked(Exception):
    """A probe did not get through; `outcome` is the check's verdict on it."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.evidence)
        self.outcome = outcome


@dataclass(frozen=True)
class Connected:
    sock: socket.socket
    where: str  # what the report names: the endpoint and the way there
    connect_ms: float


def open_connection(
    target: Target,
    vantage: str,
    host: str,
    port: int,
    *,
    timeout_s: float,
    path: str = OVER_VPN,
) -> Connected:
    """A TCP connection to `host:port` as `vantage` reaches it; raises Blocked."""
    try:
        address, connect_port, via = target.endpoint(vantage, host, port)
    except NameNotResolved as unresolved:
        raise Blocked(failed(str(unresolved), "", dx.DNS_FAILURE)) from None
    except NoStandIn as reason:
        raise Blocked(skipped(f"{host}:{port}: {reason}")) from None
    except Unreachable as unreachable:
        raise Blocked(
            failed(
                str(unreachable),
                "run the check from a vantage point that has a path",
                dx.UNREACHABLE,
            )
        ) from None
    where = f"{host}:{port}" if via == "direct" else f"{host}:{port} via {via}"
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    try:
        sock = retrying(
            lambda: _connect(target, vantage, address, connect_port, deadline),
            within_s=timeout_s,
            what=f"connect to {where}",
        )
    except VantageUnavailable as unavailable:
        raise Blocked(errored(str(unavailable), "", dx.CHECK_ERROR)) from None
    except OSError as error:
        raise Blocked(
            connect_failure(error, where, timeout_s=timeout_s, path=path)
        ) from None
    connect_ms = (time.perf_counter() - started) * 1000
    log.debug("connected to %s in %.1f ms", where, connect_ms)
    return Connected(sock, where, connect_ms)


class VantageUnavailable(Exception):
    """The probe cannot start at its vantage point (its namespace is gone)."""


def _connect(
    target: Target, vantage: str, address: str, port: int, deadline: float
) -> socket.socket:
    try:
        with target.at_vantage(vantage):
            # Opened inside the vantage point's namespace, it stays there.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except (LookupError, OSError) as error:
        raise VantageUnavailable(
            f"cannot open a socket at {vantage}: {error}; is the simulator running?"
        ) from None
    # Each attempt has only what is left of the probe's time.
    sock.settimeout(max(0.05, deadline - time.monotonic()))
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def connect_failure(
    error: OSError, where: str, *, timeout_s: float, path: str
) -> Outcome:
    """The verdict on a TCP connect that failed with `error`."""
    if isinstance(error, TimeoutError):
        if path == OUTBOUND:
            return failed(
                f"{where}: no answer to the connection attempt within "
                f"{timeout_s:g} s (dropped on the way)",
                "the caller's own firewall or proxy drops connections to this "
                "public endpoint: allow it outbound",
                dx.OUTBOUND_DROPPED,
            )
        if path == OVER_INTERNET:
            return failed(
                f"{where}: no answer to the connection attempt within "
                f"{timeout_s:g} s (dropped on the way)",
                "the customer's firewall drops the caller: whitelist the platform's "
                "egress IPs on this port (exchange outputs lists them)",
                dx.WHITELIST_DROPS,
            )
        return failed(
            f"{where}: no answer to the connection attempt within {timeout_s:g} s "
            "(dropped on the way)",
            "a security group or network ACL drops the caller, or no tunnel is up: "
            "see the cloud.path and vpn.tunnels checks",
            dx.CONNECT_TIMEOUT,
        )
    if isinstance(error, ConnectionRefusedError):
        return failed(f"{where}: connection refused", "", dx.REFUSED)
    if isinstance(error, socket.gaierror):
        return failed(
            f"{where}: the name does not resolve ({error})", "", dx.DNS_FAILURE
        )
    if error.errno in _UNREACHABLE_ERRNOS:
        return failed(
            f"{where}: {error.strerror or error} (no route, or a firewall that "
            "rejects)",
            "no route to the endpoint: a route table, the VPN's routes or a "
            "default route is missing, or a firewall rejects with ICMP",
            dx.UNREACHABLE,
        )
    return failed(f"{where}: {error.strerror or error}", "", dx.UNREACHABLE)


def reached(
    target: Target,
    vantage: str,
    host: str,
    port: int,
    *,
    timeout_s: float,
    path: str = OVER_VPN,
    what: str = "connected",
) -> Outcome:
    """PASS when `vantage` gets a TCP connection to `host:port`, else why not."""
    try:
        connected = open_connection(
            target, vantage, host, port, timeout_s=timeout_s, path=path
        )
    except Blocked as blocked:
        return blocked.outcome
    connected.sock.close()
    return passed(f"{connected.where}: {what} in {connected.connect_ms:.1f} ms")


def kept_out(
    target: Target,
    vantage: str,
    host: str,
    port: int,
    *,
    timeout_s: float,
    path: str = OVER_VPN,
    hint: str,
) -> Outcome:
    """PASS when `vantage` gets no connection to `host:port`, whatever stops it."""
    try:
        connected = open_connection(
            target, vantage, host, port, timeout_s=timeout_s, path=path
        )
    except Blocked as blocked:
        if blocked.outcome.status is Status.SKIP:
            return blocked.outcome
        return passed(f"kept out: {blocked.outcome.evidence}")
    connected.sock.close()
    return failed(
        f"{connected.where}: connected, from a vantage point that must be kept out",
        hint,
        dx.EXPOSED,
    )
