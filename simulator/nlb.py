"""The internal network load balancer of option 3 via VPN, as a real TCP forwarder.

The platform's apps reach a customer's on-premises database through an
internal NLB in the VPC: a TCP listener whose target group holds one IP
target outside the VPC (zone `all`), reached through the VPN tunnels, with
client IP preservation off, so that the database sees the load balancer's
address, not the app's (NLB-07, NLB-08, NLB-21). In the simulator that load
balancer is this process, one per listener, run in the VPC's network
namespace at the NLB's private address (or, without root, on loopback):

    spec = write_spec(folder, listen=("10.0.1.20", 3306),
                      target=("192.168.10.5", 3306),
                      health_check=described_target_group, idle_timeout_s=350)
    process = start("exs3f2a-1-vpc", spec, on_started=track)
    read_health(health_file_of(spec))  # {"state": "healthy", ...}

What it does, as AWS does it:

- Forwarding: every client connection gets a connection of its own from
  the load balancer's address to the target, and bytes are copied both
  ways; a FIN is passed on (the other direction stays open) and an RST
  too. A proxy has accepted the client before it knows whether the target
  answers, where AWS passes the client's SYN through: a target that
  refuses, or does not answer within `connect_timeout_s`, is answered
  with an RST to the client.
- Fail open: with its only target unhealthy the load balancer still
  forwards to it. "If all targets fail health checks at the same time in
  all enabled Availability Zones, the load balancer fails open. ... The
  effect of the fail open is to allow traffic to all targets in all
  enabled Availability Zones, regardless of their health status" (Health
  checks for Network Load Balancer target groups, NLB-HC). This target
  group has one target in zone `all`, so it always fails open when that
  target is unhealthy; what a client sees is then the target's own answer.
- TCP idle timeout (NLB-18): "If no data is sent through the connection by
  either the client or target for longer than the idle timeout, the
  connection is closed" (NLB-IDLE). The load balancer sends nothing at
  that moment: it drops the flow from its flow table, and whichever side
  sends next, data or FIN, gets an RST (AWS Networking blog, "Introducing
  NLB TCP configurable idle timeout"; the older NLB guide: "If a client or
  a target sends data after the idle timeout period elapses, it receives a
  TCP RST packet to indicate that the connection is no longer valid").
  Here too: after the timeout nothing is forwarded, and each side is reset
  when it next speaks. One difference remains: AWS counts TCP keepalive
  probes as activity, and those never reach a program (the kernel answers
  them), so here only data keeps a flow alive.
- Health checks (NLB-10..13): a TCP connect to the target's health-check
  port every interval, within the timeout, from the load balancer's
  address. The target starts `initial` (Elb.InitialHealthChecking), is
  `healthy` after HealthyThresholdCount consecutive passes and `unhealthy`
  after UnhealthyThresholdCount consecutive failures, with the reason
  Target.FailedHealthChecks whether the connect was refused or timed out:
  Target.Timeout "applies only to Application Load Balancers and Gateway
  Load Balancers" (TargetHealth, ELB API reference). After every probe the
  target's health is written to the health file, whole (write and rename),
  which the telemetry thread of the AWS server reads to call
  `simulator.aws.set_target_health`.
- The probe interval may be overridden (`probe_interval_s`), below AWS's
  minimum of 5 s (NLB-11): the simulator's clock need not wait 5 x 30 s
  for a target to turn healthy before its checks can run. A probe then
  also times out within one interval, so that a silent target turns
  unhealthy just as fast. Likewise the idle timeout is taken as given,
  also below AWS's 60 s, for tests.

Not simulated: passive health checks, the deregistration delay and
connection termination on deregistration (this process forwards to one
target for its whole life; a new target is a new process), the connection
limit without client IP preservation (NLB-09).

The process logs one JSON line per connection (client, bytes each way,
duration, how it ended, the target's health when it arrived) and per
change of the target's health, to a file beside the spec. Its spec holds
no secret: a database's credentials pass through as bytes it never reads.
It imports nothing of the project, so that it starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from simulator.server_process import READY_LINE, start_server

READY_TIMEOUT_S = 3.0
# How long the load balancer waits for the target to accept a connection
# before it resets the client's. On AWS the client's own connect timeout
# decides, its SYN passing through; ten seconds is longer than most clients
# wait, so that theirs still decides here, as a read timeout.
CONNECT_TIMEOUT_S = 10.0
READ_CHUNK = 64 * 1024

# Timeouts here use `asyncio.timeout`, never `asyncio.wait_for`: on Python
# 3.11 the latter loses a cancellation that arrives as the awaited connect
# completes (gh-86296), and a load balancer asked to stop then probes on.

# AWS's defaults for a TCP target group's health check (NLB-10..13).
HEALTH_CHECK_DEFAULTS: dict[str, Any] = {
    "HealthCheckProtocol": "TCP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 10,
    "HealthyThresholdCount": 5,
    "UnhealthyThresholdCount": 2,
}
# What AWS accepts (NLB-11, NLB-12, NLB-13); an override of the interval
# for the simulator's sake is given apart (`probe_interval_s`).
HEALTH_CHECK_RANGES = {
    "HealthCheckIntervalSeconds": (5, 300, "NLB-11"),
    "HealthCheckTimeoutSeconds": (2, 120, "NLB-12"),
    "HealthyThresholdCount": (2, 10, "NLB-13"),
    "UnhealthyThresholdCount": (2, 10, "NLB-13"),
}

# A target's health states and reason codes, as describe_target_health
# reports them (TargetHealth, ELB API reference); a healthy target has
# neither reason nor description.
INITIAL, HEALTHY, UNHEALTHY = "initial", "healthy", "unhealthy"
INITIAL_HEALTH_CHECKING = "Elb.InitialHealthChecking"
FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
_DESCRIPTIONS = {
    INITIAL_HEALTH_CHECKING: "Initial health checking in progress",
    FAILED_HEALTH_CHECKS: "Health checks failed",
}

# Where the project's packages are, for the process's PYTHONPATH.
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the process inherits: enough to run, and none of the caller's
# variables, which may hold secrets.
PROCESS_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONPATH": str(_PROJECT_ROOT),
}
# SO_LINGER on, with a zero timeout: close() then sends an RST, not a FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class SpecError(ValueError):
    """A load balancer spec cannot be written from these settings; says why."""


class LoadBalancerFailed(Exception):
    """The load balancer did not start or was not ready in time; says why."""


# --- the simulator's side: write the spec, start, read the health ----------


def write_spec(
    folder: Path,
    *,
    listen: tuple[str, int],
    target: tuple[str, int],
    health_check: Mapping[str, Any],
    idle_timeout_s: int,
    probe_interval_s: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    health_file: Path | None = None,
) -> Path:
    """Write the spec of one load balancer listener; returns its path.

    It listens on `listen` (the NLB's private address and the listener's
    port) and forwards to `target` (the on-premises address and port).
    `health_check` holds the target group's health-check settings under the
    names describe_target_groups gives them (HealthCheckProtocol,
    HealthCheckPort, HealthCheckIntervalSeconds, HealthCheckTimeoutSeconds,
    HealthyThresholdCount, UnhealthyThresholdCount; other keys are ignored,
    missing ones take AWS's defaults). `idle_timeout_s` is the listener's
    tcp.idle_timeout.seconds (NLB-18). `probe_interval_s`, when given,
    replaces the health-check interval (see the module's docstring).
    The health file defaults to `<spec>.health.json` beside the spec.

    Raises SpecError for a health check AWS would refuse, or one that is
    not TCP (the simulator's load balancer probes TCP only).
    """
    settings = _health_check_settings(health_check, traffic_port=target[1])
    if idle_timeout_s <= 0:
        raise SpecError(f"the idle timeout must be > 0 s, not {idle_timeout_s}")
    if probe_interval_s is not None and probe_interval_s <= 0:
        raise SpecError(f"the probe interval must be > 0 s, not {probe_interval_s}")
    if connect_timeout_s <= 0:
        raise SpecError(f"the connect timeout must be > 0 s, not {connect_timeout_s}")
    address, port = listen
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"nlb-{address}-{port}.json"
    spec = {
        "listen": {"address": address, "port": int(port)},
        "target": {"address": target[0], "port": int(target[1])},
        "health_check": settings,
        "probe_interval_s": probe_interval_s,
        "idle_timeout_s": idle_timeout_s,
        "connect_timeout_s": connect_timeout_s,
        "health_file": str(health_file or spec_path.with_suffix(".health.json")),
        "log": str(spec_path.with_suffix(".log")),
    }
    _write_whole(spec_path, json.dumps(spec, indent=2) + "\n")
    return spec_path


def health_file_of(spec: Path) -> Path:
    """Where the load balancer of `spec` writes its target's health."""
    return Path(json.loads(spec.read_text())["health_file"])


def log_file_of(spec: Path) -> Path:
    """Where the load balancer of `spec` logs its connections and probes."""
    return Path(json.loads(spec.read_text())["log"])


def read_health(path: Path) -> dict[str, Any] | None:
    """The target's health as last probed, or None before the first probe.

    {"target": "ip:port", "state": "initial|healthy|unhealthy", "reason":
    AWS's reason code ("" when healthy), "description": ..., "checked_at":
    unix time}. The file is always replaced whole, so it is never half read.
    """
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def start(
    ns_name: str | None,
    spec: Path,
    *,
    on_started: Callable[[int, str], None],
) -> subprocess.Popen[bytes]:
    """Start the load balancer of `spec`, inside namespace `ns_name` or here.

    `on_started` receives the pid as soon as the process exists, before it
    is ready, so that the caller tracks it even if the wait fails. Returns
    once the load balancer has accepted a TCP connection on its listen
    address (it makes that connection itself, so that no packet leaves the
    namespace, and does not forward it), within READY_TIMEOUT_S; otherwise
    ends the process and raises LoadBalancerFailed with the tail of its
    error output. A namespace is entered with `simulator.netns.spawn`; the
    listen address must already be on one of its interfaces.
    """
    argv = [sys.executable, "-m", "simulator.nlb", "--spec", str(spec)]
    what = f"load balancer {spec.stem}" + ("" if ns_name is None else f" in {ns_name}")
    process = start_server(
        ns_name,
        argv,
        what=what,
        env=PROCESS_ENVIRONMENT,
        stderr_path=_errors_file(spec),
        on_started=on_started,
        name=f"load balancer {spec.stem}",
        not_ready="did not accept a connection",
        ready_timeout_s=READY_TIMEOUT_S,
        failure=LoadBalancerFailed,
    )
    return process


def _health_check_settings(
    described: Mapping[str, Any], *, traffic_port: int
) -> dict[str, Any]:
    """The health check to run, in describe_target_groups' names, as numbers."""
    given = {
        key: value
        for key, value in described.items()
        if key in HEALTH_CHECK_DEFAULTS and value is not None
    }
    settings = {**HEALTH_CHECK_DEFAULTS, **given}
    protocol = str(settings["HealthCheckProtocol"]).upper()
    if protocol != "TCP":
        raise SpecError(
            f"health check protocol {protocol}: the simulator's load balancer "
            "probes TCP only (NLB-10)"
        )
    port = settings["HealthCheckPort"]
    port = traffic_port if port == "traffic-port" else _number(port, "HealthCheckPort")
    if not 1 <= port <= 65535:
        raise SpecError(f"HealthCheckPort {port} is not a port (1-65535)")
    resolved: dict[str, Any] = {"HealthCheckProtocol": "TCP", "HealthCheckPort": port}
    for key, (low, high, rule) in HEALTH_CHECK_RANGES.items():
        value = _number(settings[key], key)
        if not low <= value <= high:
            raise SpecError(
                f"{key} {value} is outside {low}-{high}, AWS's range ({rule})"
            )
        resolved[key] = value
    return resolved


def _number(value: Any, key: str) -> int:
    # describe_target_groups gives ports as strings, and moto its thresholds.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SpecError(f"{key} {value!r} is not a whole number") from None


def _write_whole(path: Path, text: str) -> None:
    """Replace `path` with `text` through a rename, so no reader sees half."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _errors_file(spec: Path) -> Path:
    return spec.with_suffix(".stderr")


# --- the target's health ----------------------------------------------------


@dataclass
class TargetHealth:
    """A target's health as the thresholds make it from consecutive probes."""

    healthy_threshold: int
    unhealthy_threshold: int
    state: str = INITIAL
    reason: str = INITIAL_HEALTH_CHECKING
    passes: int = 0  # consecutive
    failures: int = 0  # consecutive

    @property
    def description(self) -> str:
        return _DESCRIPTIONS.get(self.reason, "")

    def record(self, passed: bool) -> bool:
        """Count one probe's outcome; True when the state changed with it."""
        before = self.state
        if passed:
            self.passes, self.failures = self.passes + 1, 0
            if self.passes >= self.healthy_threshold:
                self.state, self.reason = HEALTHY, ""
        else:
            self.passes, self.failures = 0, self.failures + 1
            if self.failures >= self.unhealthy_threshold:
                self.state, self.reason = UNHEALTHY, FAILED_HEALTH_CHECKS
        return self.state != before


# --- the load balancer process ----------------------------------------------


@dataclass(frozen=True)
class _Settings:
    listen: tuple[str, int]
    target: tuple[str, int]
    health_port: int
    probe_interval_s: float
    probe_timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int
    idle_timeout_s: float
    connect_timeout_s: float
    health_file: Path
    log: Path

    @classmethod
    def read(cls, spec: Path) -> _Settings:
        data = json.loads(spec.read_text())
        check = data["health_check"]
        interval = float(check["HealthCheckIntervalSeconds"])
        timeout = float(check["HealthCheckTimeoutSeconds"])
        if data.get("probe_interval_s") is not None:
            interval = float(data["probe_interval_s"])
            timeout = min(timeout, interval)
        return cls(
            listen=(data["listen"]["address"], int(data["listen"]["port"])),
            target=(data["target"]["address"], int(data["target"]["port"])),
            health_port=int(check["HealthCheckPort"]),
            probe_interval_s=interval,
            probe_timeout_s=timeout,
            healthy_threshold=int(check["HealthyThresholdCount"]),
            unhealthy_threshold=int(check["UnhealthyThresholdCount"]),
            idle_timeout_s=float(data["idle_timeout_s"]),
            connect_timeout_s=float(data["connect_timeout_s"]),
            health_file=Path(data["health_file"]),
            log=Path(data["log"]),
        )

    @property
    def source(self) -> tuple[str, int] | None:
        """The load balancer's own address, which the target sees (NLB-08)."""
        address = self.listen[0]
        return None if address in ("", "0.0.0.0") else (address, 0)


class _Unreachable(Exception):
    """The target did not take a connection; says how."""


class LoadBalancer:
    """The listener, its flows and the target's health checks, in one event loop."""

    def __init__(self, settings: _Settings, log: IO[str]) -> None:
        self.settings = settings
        self.health = TargetHealth(
            settings.healthy_threshold, settings.unhealthy_threshold
        )
        self._log = log
        self._flows: set[_Flow] = set()
        self._readiness_peer: tuple[str, int] | None = None

    def record(self, entry: dict[str, Any]) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._log.write(json.dumps({"time": stamp, **entry}) + "\n")
        self._log.flush()

    async def serve(self, stopping: asyncio.Event) -> None:
        host, port = self.settings.listen
        server = await asyncio.start_server(self._accept, host, port)
        probes: asyncio.Task[None] | None = None
        try:
            await self._accept_own_connection()
            self.record(
                {
                    "event": "listening",
                    "listen": _endpoint(self.settings.listen),
                    "target": _endpoint(self.settings.target),
                }
            )
            sys.stdout.buffer.write(READY_LINE)
            sys.stdout.flush()
            probes = asyncio.create_task(self._probe_forever())
            await stopping.wait()
        finally:
            server.close()
            if probes is not None:
                probes.cancel()
                with suppress(asyncio.CancelledError):
                    await probes
            for flow in list(self._flows):
                flow.tear_down("load balancer stopped")
            self.record({"event": "stopped"})

    async def _accept_own_connection(self) -> None:
        """Prove the listener accepts, from inside its own namespace.

        The connection comes from a port bound beforehand, so that `_accept`
        knows it before it arrives and does not forward it.
        """
        host, port = self.settings.listen
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.setblocking(False)
            probe.bind((host, 0))
            self._readiness_peer = probe.getsockname()
            async with asyncio.timeout(READY_TIMEOUT_S):
                await asyncio.get_running_loop().sock_connect(probe, (host, port))
        finally:
            probe.close()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        if self._readiness_peer is not None and tuple(peer) == self._readiness_peer:
            self._readiness_peer = None
            writer.close()
            return
        flow = _Flow(self, reader, writer)
        self._flows.add(flow)
        try:
            await flow.run()
        finally:
            self._flows.discard(flow)

    async def _probe_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            failure = await self._probe()
            before = self.health.state
            if self.health.record(failure is None):
                self.record(
                    {
                        "event": "target health",
                        "from": before,
                        "to": self.health.state,
                        "reason": self.health.reason,
                        "probe": failure or "passed",
                    }
                )
            # After the log: whoever sees the new state finds its entry there.
            self._publish_health()
            await asyncio.sleep(
                max(0.0, started + self.settings.probe_interval_s - loop.time())
            )

    async def _probe(self) -> str | None:
        """One TCP health check; None when it passed, else what went wrong."""
        address = (self.settings.target[0], self.settings.health_port)
        timeout = self.settings.probe_timeout_s
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.setblocking(False)
            if self.settings.source is not None:
                probe.bind(self.settings.source)
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(probe, address)
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except OSError as error:
            return _why(error)
        finally:
            probe.close()
        return None

    def _publish_health(self) -> None:
        address, port = self.settings.target
        health = {
            "target": f"{address}:{port}",
            "state": self.health.state,
            "reason": self.health.reason,
            "description": self.health.description,
            "checked_at": round(time.time(), 3),
        }
        _write_whole(self.settings.health_file, json.dumps(health) + "\n")


class _Flow:
    """One client connection and the load balancer's own one to the target."""

    def __init__(
        self,
        balancer: LoadBalancer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.balancer = balancer
        self.sides: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {
            "client": (reader, writer)
        }
        self.client = _endpoint(writer.get_extra_info("peername"))
        self.target_health = balancer.health.state  # forwarded whatever it is
        self.opened = self.last_data = time.monotonic()
        self.bytes = {"client": 0, "target": 0}
        self.first_to_close: str | None = None
        self.ended: str | None = None  # how it ended, once it has
        # The idle timeout passed: AWS no longer tracks the flow, and its
        # answer to anything either side sends is an RST.
        self.forgotten = False

    async def run(self) -> None:
        try:
            self.sides["target"] = await self._connect()
        except _Unreachable as why:
            self._end(str(why))
            _reset(self.sides["client"][1])
            return
        watch = asyncio.create_task(self._forget_when_idle())
        try:
            await asyncio.gather(
                self._copy("client", "target"), self._copy("target", "client")
            )
        finally:
            watch.cancel()
        if self.ended is None:
            self._end(f"closed by {self.first_to_close}")
        for _, writer in self.sides.values():
            writer.close()

    def tear_down(self, why: str) -> None:
        self._end(why)
        for _, writer in self.sides.values():
            _reset(writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        settings = self.balancer.settings
        host, port = settings.target
        timeout = settings.connect_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.open_connection(
                    host, port, local_addr=settings.source
                )
        except TimeoutError:
            raise _Unreachable(f"target did not answer within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise _Unreachable("target refused the connection") from None
        except OSError as error:
            raise _Unreachable(f"target unreachable: {_why(error)}") from None

    async def _copy(self, source: str, destination: str) -> None:
        """Copy one direction until its sender closes, or the flow ends."""
        reader, source_writer = self.sides[source]
        writer = self.sides[destination][1]
        while True:
            try:
                data = await reader.read(READ_CHUNK)
            except OSError:  # the sender reset its connection
                self._reset_through(source, destination)
                return
            if self.forgotten:
                _reset(source_writer)
                return
            if self.ended is not None:  # torn down from the other side
                return
            if not data:
                # Pass the FIN on; the other direction stays open.
                self.first_to_close = self.first_to_close or source
                if writer.can_write_eof():
                    writer.write_eof()
                return
            self.last_data = time.monotonic()
            self.bytes[source] += len(data)
            writer.write(data)
            try:
                await writer.drain()
            except OSError:
                self._reset_through(destination, source)
                return

    def _reset_through(self, reset_side: str, other_side: str) -> None:
        """`reset_side` reset the connection: the RST goes on to the other side.

        Not once the flow is forgotten: the load balancer no longer knows
        the other side's connection then, and leaves it alone.
        """
        if self.forgotten:
            return
        if self.ended is None:
            self._end(f"reset by {reset_side}")
        _reset(self.sides[other_side][1])

    async def _forget_when_idle(self) -> None:
        idle_timeout = self.balancer.settings.idle_timeout_s
        while (left := self.last_data + idle_timeout - time.monotonic()) > 0:
            await asyncio.sleep(left)
        self.forgotten = True
        self._end("idle timeout")

    def _end(self, how: str) -> None:
        if self.ended is not None:
            return
        self.ended = how
        self.balancer.record(
            {
                "event": "connection",
                "client": self.client,
                "target": _endpoint(self.balancer.settings.target),
                "target_health": self.target_health,
                "bytes_from_client": self.bytes["client"],
                "bytes_from_target": self.bytes["target"],
                "seconds": round(time.monotonic() - self.opened, 3),
                "ended": how,
            }
        )


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with an RST."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    writer.transport.abort()


def _why(error: OSError) -> str:
    # asyncio's connect errors carry "Connect call failed (address)" as
    # their text; the errno says what happened.
    return os.strerror(error.errno) if error.errno else str(error)


def _endpoint(address: Any) -> str:
    return f"{address[0]}:{address[1]}"


async def _run(settings: _Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    with settings.log.open("a", encoding="utf-8") as log:
        await LoadBalancer(settings, log).serve(stopping)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.nlb",
        description="Forward TCP to an on-premises target as an internal NLB does.",
    )
    parser.add_argument("--spec", required=True, type=Path, help="the JSON spec")
    arguments = parser.parse_args(argv)
    try:
        settings = _Settings.read(arguments.spec)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(
            f"cannot read {arguments.spec}: {error.__class__.__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    try:
        asyncio.run(_run(settings))
    except TimeoutError:  # before OSError, of which it is one
        print(
            f"the listener on {_endpoint(settings.listen)} did not accept a "
            f"connection within {READY_TIMEOUT_S:g} s",
            file=sys.stderr,
        )
        return 1
    except OSError as error:  # the listen address is taken, or not here
        print(
            f"cannot listen on {_endpoint(settings.listen)}: {error}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
