"""The platform's public file-storage endpoint, on each customer's internet.

The simulated S3 is moto, on this machine's loopback; the hosts that use it
live in network namespaces, where that loopback does not exist. A relay,
running as threads in the AWS API's process, listens at the endpoint's
public address inside a customer's `internet` namespace and passes each
connection on to moto's port: a socket keeps the namespace it was opened
in, so the listener is opened there and the upstream connection here. No
packet leaves for the machine's network: the far end is 127.0.0.1.

They also hold a bare TCP listener where the simulator stands in for a
database the platform reaches over the internet (`"accept": true`): it
accepts and closes at once, proving the path and no protocol.

The same threads answer `checkip.amazonaws.com` on each customer's
internet: an HTTP GET there returns the caller's address as the internet
sees it, as AWS's service does, so that a check on the platform's app host
learns which egress IP its traffic leaves from.

The data plane says where to listen in `relays.json` in the simulator's
folder (an entry with `"echo": true` is a checkip endpoint); a relay whose
entry disappears (`exchange down`) is closed.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from exchange.environment import entered

log = logging.getLogger("simulator")

RELAYS_FILE = "relays.json"
POLL_INTERVAL_S = 0.2
# A transfer that stalls this long is given up, so that no thread waits forever.
IDLE_TIMEOUT_S = 300.0
CHUNK = 65536
HANDSHAKE_TIMEOUT_S = 5.0


def write_relays(home: Path, relays: list[dict[str, Any]]) -> None:
    """Publish where to listen: [{netns, address, port, and tls, echo or accept}]."""
    path = home / RELAYS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(relays, indent=2) + "\n")
    tmp.replace(path)


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions of one connection, in one thread, until either side ends.

    One thread: an SSLSocket must not be read and written from two threads
    at once. A TLS record may hold more than select() sees, hence pending().
    """
    sockets = (client, upstream)
    try:
        while True:
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            ready = [client] if pending else None
            if ready is None:
                ready, _, _ = select.select(sockets, [], [], IDLE_TIMEOUT_S)
                if not ready:
                    return  # idle too long
            for source in ready:
                data = source.recv(CHUNK)
                if not data:
                    return  # either side ended: the other is closed below
                (upstream if source is client else client).sendall(data)
    except OSError:
        pass  # a reset or a timeout: both are closed
    finally:
        for sock in sockets:
            sock.close()


def _echo_address(client: socket.socket, address: str) -> None:
    """Answer one HTTP request with the caller's address, as checkip does."""
    try:
        client.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        body = f"{address}\n".encode()
        client.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
    except OSError:
        pass
    finally:
        client.close()


def _serve_echo(listener: socket.socket) -> None:
    while True:
        try:
            client, (address, _) = listener.accept()
        except OSError:
            return
        threading.Thread(
            target=_echo_address, args=(client, address), daemon=True
        ).start()


def _serve_accept(listener: socket.socket) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        client.close()


def _serve(
    listener: socket.socket, upstream_port: int, tls: ssl.SSLContext | None
) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the listener was closed: the relay is gone
        threading.Thread(
            target=_relay, args=(client, upstream_port, tls), daemon=True
        ).start()


def _relay(
    client: socket.socket, upstream_port: int, tls: ssl.SSLContext | None
) -> None:
    """One connection: TLS ended here when asked, then both ways to moto."""
    try:
        if tls is not None:
            client.settimeout(HANDSHAKE_TIMEOUT_S)
            client = tls.wrap_socket(client, server_side=True)
        upstream = socket.create_connection(("127.0.0.1", upstream_port), 5)
    except (OSError, ssl.SSLError):
        client.close()
        return
    for sock in (client, upstream):
        sock.settimeout(IDLE_TIMEOUT_S)
    _splice(client, upstream)


def _server_context(entry: dict[str, Any]) -> ssl.SSLContext | None:
    if not entry.get("tls"):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(entry["tls"]["cert"], entry["tls"]["key"])
    return context


def _kind(entry: dict[str, Any]) -> str:
    if entry.get("echo"):
        return "echo"
    return "accept" if entry.get("accept") else "relay"


def relay_forever(home: Path, upstream_port: int, stopped: threading.Event) -> None:
    """Keep the listeners that `relays.json` asks for, until `stopped`."""
    listeners: dict[tuple[str, str, int, str], socket.socket] = {}
    path = home / RELAYS_FILE
    while not stopped.wait(POLL_INTERVAL_S):
        try:
            wanted: dict[tuple[str, str, int, str], dict[str, Any]] = {
                (r["netns"], r["address"], int(r["port"]), _kind(r)): r
                for r in (json.loads(path.read_text()) if path.exists() else [])
            }
        except (OSError, ValueError):
            continue  # being replaced: read it next time
        for key in set(listeners) - set(wanted):
            listeners.pop(key).close()
        for key in set(wanted) - set(listeners):
            netns, address, port, kind = key
            try:
                tls = _server_context(wanted[key])
                with entered(netns):
                    listener = socket.create_server((address, port))
            except (OSError, ssl.SSLError, LookupError) as error:
                log.warning("relay at %s:%d in %s: %s", address, port, netns, error)
                continue
            listeners[key] = listener
            if kind == "relay":
                serve, args = _serve, (listener, upstream_port, tls)
            else:
                serve = {"echo": _serve_echo, "accept": _serve_accept}[kind]
                args = (listener,)
            threading.Thread(target=serve, args=args, daemon=True).start()
    for listener in listeners.values():
        listener.close()
