"""The platform's public file-storage endpoint, on each customer's internet.

The simulated S3 is moto, on this machine's loopback; the hosts that use it
live in network namespaces, where that loopback does not exist. A relay,
running as threads in the AWS API's process, listens at the endpoint's
public address inside a customer's `internet` namespace and passes each
connection on to moto's port: a socket keeps the namespace it was opened
in, so the listener is opened there and the upstream connection here. No
packet leaves for the machine's network: the far end is 127.0.0.1.

The data plane says where to listen in `relays.json` in the simulator's
folder; a relay whose entry disappears (`exchange down`) is closed.
"""

from __future__ import annotations

import json
import logging
import socket
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


def write_relays(home: Path, relays: list[dict[str, Any]]) -> None:
    """Publish where to listen: [{netns, address, port}]."""
    path = home / RELAYS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(relays, indent=2) + "\n")
    tmp.replace(path)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # either side closed or reset: the other pump ends it too
    finally:
        source.close()


def _serve(listener: socket.socket, upstream_port: int) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the listener was closed: the relay is gone
        try:
            upstream = socket.create_connection(("127.0.0.1", upstream_port), 5)
        except OSError:
            client.close()
            continue
        for sock in (client, upstream):
            sock.settimeout(IDLE_TIMEOUT_S)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def relay_forever(home: Path, upstream_port: int, stopped: threading.Event) -> None:
    """Keep the listeners that `relays.json` asks for, until `stopped`."""
    listeners: dict[tuple[str, str, int], socket.socket] = {}
    path = home / RELAYS_FILE
    while not stopped.wait(POLL_INTERVAL_S):
        try:
            wanted = {
                (r["netns"], r["address"], int(r["port"]))
                for r in (json.loads(path.read_text()) if path.exists() else [])
            }
        except (OSError, ValueError):
            continue  # being replaced: read it next time
        for key in set(listeners) - wanted:
            listeners.pop(key).close()
        for key in wanted - set(listeners):
            netns, address, port = key
            try:
                with entered(netns):
                    listener = socket.create_server((address, port))
            except (OSError, LookupError) as error:
                log.warning("relay at %s:%d in %s: %s", address, port, netns, error)
                continue
            listeners[key] = listener
            threading.Thread(
                target=_serve, args=(listener, upstream_port), daemon=True
            ).start()
    for listener in listeners.values():
        listener.close()
