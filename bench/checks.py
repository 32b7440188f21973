"""The checks' running time: many endpoints with dead ones among them, and the suite.

Two figures:
- 200 endpoints, 100 MySQL servers and 100 HTTP services, of which 20 are
  black-holed (their SYNs are dropped), each check with a timeout of 3 s:
  the whole run must take at most 3 s x 1.5 = 4.5 s, not 20 x 3 s. The
  endpoints are served on loopback by this process; a black hole is a
  listener whose accept queue is full and never drained, so that the
  kernel drops every further SYN, exactly what a silent firewall does.
- the full check suite of the multi-option example against the simulator
  (as root, in network namespaces): at most 10 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bench.customers import EXAMPLE as MULTI
from bench.customers import ROOT
from bench.customers import SECRETS as KEYS

ENDPOINTS = 200
BLACK_HOLED = 20
CHECK_TIMEOUT_S = 3.0
TARGET_S = CHECK_TIMEOUT_S * 1.5
SUITE_TARGET_S = 10.0
SUITE_RUNS = 3
EXCHANGE = [sys.executable, "-m", "exchange.cli"]

# A MySQL protocol-10 greeting: what a server sends first.
_VERSION = b"8.0.36-bench"
_GREETING_BODY = (
    b"\x0a" + _VERSION + b"\0" + (1).to_bytes(4, "little") + b"abcdefgh\0" + b"\0" * 20
)
GREETING = len(_GREETING_BODY).to_bytes(3, "little") + b"\0" + _GREETING_BODY
_HTTP_BODY = b'[{"id": 1, "status": "ok"}]'
HTTP_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_HTTP_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _HTTP_BODY
)


class Endpoints:
    """Loopback listeners: MySQL greeters, HTTP services and black holes."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._listeners: list[socket.socket] = []
        self._parked: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def listen(self, answer: bytes) -> int:
        listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, answer)
        self._listeners.append(listener)
        return listener.getsockname()[1]

    def black_hole(self) -> int:
        """A port whose accept queue is full: the kernel drops further SYNs."""
        listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        self._listeners.append(listener)
        port = listener.getsockname()[1]
        # Fill the queue (one place, with backlog 0) with a connection nobody
        # accepts; the next SYN finds it full and is dropped, as a silent
        # firewall would.
        self._parked.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        return port

    def _serve(self) -> None:
        while not self._stopped.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    client, _ = key.fileobj.accept()
                    client.setblocking(True)
                    threading.Thread(
                        target=self._answer, args=(client, key.data), daemon=True
                    ).start()

    @staticmethod
    def _answer(client: socket.socket, answer: bytes) -> None:
        with client:
            client.settimeout(5)
            with contextlib.suppress(OSError):
                if answer.startswith(b"HTTP"):
                    request = b""
                    while b"\r\n\r\n" not in request and len(request) < 65536:
                        chunk = client.recv(4096)
                        if not chunk:
                            return
                        request += chunk
                client.sendall(answer)
                if not answer.startswith(b"HTTP"):
                    client.recv(1)  # hold it until the probe closes

    def __enter__(self) -> Endpoints:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join(2)
        for sock in self._parked + self._listeners:
            sock.close()
        self._selector.close()


def _black_hole_drops(port: int) -> bool:
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
    except TimeoutError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False


def many_endpoints() -> tuple[float, Counter]:
    """Run 200 checks, 20 of them against black holes; (seconds, verdicts)."""
    from checks.plan import PLATFORM, PlannedCheck
    from checks.runner import run_checks
    from checks.target import Target
    from exchange.config import load_config
    from exchange.config.model import NoAuth, Schedule, WebService
    from exchange.environment import VantagePoint, simulator_session
    from infra import outputs as keys

    for name, value in KEYS.items():
        os.environ.setdefault(name, value)
    base = load_config(ROOT / "examples" / "app-database.yaml")
    half = ENDPOINTS // 2
    with Endpoints() as endpoints:
        holes = [endpoints.black_hole() for _ in range(BLACK_HOLED // 2)]
        if not _black_hole_drops(holes[0]):
            raise SystemExit(
                "this kernel accepts SYNs past a full queue: no black hole"
            )
        connect_to: dict[str, str] = {}
        databases, services, planned = {}, [], []
        for number in range(half):
            name = f"db{number}"
            dead = number < BLACK_HOLED // 2
            port = holes[number] if dead else endpoints.listen(GREETING)
            host = f"{name}.bench.example"
            connect_to[f"{host}:3306"] = f"127.0.0.1:{port}"
            databases[name] = {keys.NLB_DNS_NAME: host, keys.NLB_PORT: 3306}
            planned.append(
                PlannedCheck(
                    f"remote.{name}.round-trip",
                    "mysql.roundtrip",
                    f"{name} greets",
                    PLATFORM,
                    name,
                    timeout_s=CHECK_TIMEOUT_S,
                )
            )
        for number in range(half):
            name = f"svc{number}"
            dead = number < BLACK_HOLED // 2
            port = holes[number] if dead else endpoints.listen(HTTP_ANSWER)
            host = f"{name}.bench.example"
            connect_to[f"{host}:80"] = f"127.0.0.1:{port}"
            services.append(
                WebService(
                    name=name,
                    url=f"http://{host}/v1/items",
                    schedule=Schedule(every_minutes=5),
                    auth=NoAuth(),
                    content_type="application/json",
                    response_schema={"type": "array"},
                    connect_timeout_seconds=CHECK_TIMEOUT_S,
                    read_timeout_seconds=CHECK_TIMEOUT_S,
                    allow_plain_http=True,
                )
            )
            planned.append(
                PlannedCheck(
                    f"web.{name}.round-trip",
                    "http.roundtrip",
                    f"{name} answers",
                    PLATFORM,
                    name,
                    timeout_s=CHECK_TIMEOUT_S,
                )
            )
        config = replace(base, exchanges=tuple(services))
        platform = VantagePoint(
            name=PLATFORM, description="loopback stand-in", connect_to=connect_to
        )
        target = Target(
            config,
            {keys.REMOTE_DATABASES: databases},
            {PLATFORM: platform},
            "http://127.0.0.1:1",  # no API call is made
            simulator_session(config.region),
        )
        started = time.perf_counter()
        results = run_checks(target, planned)
        elapsed = time.perf_counter() - started
    return elapsed, Counter(r.status.value for r in results)


@contextlib.contextmanager
def _simulator() -> Iterator[dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="exchange-bench-checks-"))
    env = {**os.environ, **KEYS, "EXCHANGE_SIM_HOME": str(home / "sim")}
    try:
        up = subprocess.run(
            [*EXCHANGE, "up", str(MULTI)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if up.returncode != 0:
            raise SystemExit(f"exchange up failed:\n{up.stdout}{up.stderr}")
        yield env
    finally:
        subprocess.run(
            [*EXCHANGE, "sim", "stop"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(home, ignore_errors=True)


def suite() -> tuple[list[float], Counter] | None:
    """The multi-option example's checks against the simulator, timed."""
    if os.geteuid() != 0:
        return None
    times, verdicts = [], Counter()
    with _simulator() as env:
        for _ in range(SUITE_RUNS):
            started = time.perf_counter()
            check = subprocess.run(
                [*EXCHANGE, "check", str(MULTI), "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            times.append(time.perf_counter() - started)
            report = json.loads(check.stdout)
            verdicts = Counter(c["status"] for c in report["checks"])
    return times, verdicts


def main() -> None:
    elapsed, verdicts = many_endpoints()
    verdict = "ok" if elapsed <= TARGET_S else "OVER TARGET"
    print(
        f"{ENDPOINTS} endpoints, {BLACK_HOLED} black-holed, timeout "
        f"{CHECK_TIMEOUT_S:g} s each: {elapsed:.2f} s (target {TARGET_S:g} s: "
        f"{verdict}); verdicts {dict(verdicts)}"
    )
    timed = suite()
    if timed is None:
        print("multi-option suite: skipped (the namespace data plane needs root)")
        return
    times, verdicts = timed
    median = statistics.median(times)
    verdict = "ok" if median <= SUITE_TARGET_S else "OVER TARGET"
    print(
        f"multi-option suite on the simulator: median {median:.2f} s of "
        f"{SUITE_RUNS} runs ({', '.join(f'{t:.2f}' for t in times)}; target "
        f"{SUITE_TARGET_S:g} s: {verdict}); verdicts {dict(verdicts)}"
    )


if __name__ == "__main__":
    main()
