"""The network load balancer of option 3 via VPN (simulator/nlb.py).

Each test starts the load balancer as the simulator does, as a process
from a spec, in front of a stand-in for the on-premises database (a TCP
server on 127.0.0.1 in a thread of the test), and stops it by its pid.
Health checks run at a tenth of a second instead of AWS's 30 s. One test
runs the load balancer inside a network namespace (root only).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulator import nlb
from simulator.nlb import LoadBalancerFailed, SpecError, TargetHealth

MEGABYTE = 1024 * 1024
WAIT_S = 5.0
PROBE_INTERVAL_S = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"{what}: not within {timeout} s")


def echo(connection: socket.socket) -> None:
    while data := connection.recv(65536):
        connection.sendall(data)


class Target:
    """The on-premises database's stand-in: a TCP server, one thread per connection."""

    def __init__(
        self,
        handle: Callable[[socket.socket], None],
        listener: socket.socket | None = None,
    ) -> None:
        self.listener = listener or socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.address, self.port = self.listener.getsockname()[:2]
        self.handle = handle
        self.peers: list[tuple[str, int]] = []
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self.listener:
            while not self._stopping.is_set():
                try:
                    connection, peer = self.listener.accept()
                except TimeoutError:
                    continue
                connection.settimeout(WAIT_S)
                self.peers.append(peer)
                self._connections.append(connection)
                threading.Thread(
                    target=self._run, args=(connection,), daemon=True
                ).start()

    def _run(self, connection: socket.socket) -> None:
        # A connection the test or the load balancer resets ends its handler.
        with suppress(OSError):
            self.handle(connection)

    def stop(self) -> None:
        """Stop listening (new connections are refused) and close what is open."""
        self._stopping.set()
        self._thread.join(timeout=WAIT_S)
        for connection in self._connections:
            connection.close()


def kept(connections: queue.Queue[socket.socket]) -> Callable[[socket.socket], None]:
    """A handler that hands each connection to the test, which then drives it."""

    def handle(connection: socket.socket) -> None:
        connections.put(connection)

    return handle


@dataclass
class RunningBalancer:
    spec: Path
    process: subprocess.Popen[bytes]
    port: int
    started: list[tuple[int, str]] = field(default_factory=list)

    @property
    def health_file(self) -> Path:
        return nlb.health_file_of(self.spec)

    def health(self) -> dict[str, Any] | None:
        return nlb.read_health(self.health_file)

    def log(self) -> list[dict[str, Any]]:
        text = nlb.log_file_of(self.spec).read_text()
        return [json.loads(line) for line in text.splitlines()]

    def connections(self) -> list[dict[str, Any]]:
        return [entry for entry in self.log() if entry["event"] == "connection"]

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=WAIT_S)


def stop_balancer(balancer: RunningBalancer) -> int:
    """Stop the load balancer by its pid and prove that nothing of it runs."""
    pid = balancer.process.pid
    if balancer.process.poll() is None:
        os.kill(pid, signal.SIGTERM)
    returncode = balancer.process.wait(timeout=WAIT_S)
    assert not Path(f"/proc/{pid}").exists()
    return returncode


@pytest.fixture
def run_balancer(
    tmp_path: Path,
) -> Iterator[Callable[..., RunningBalancer]]:
    """Start load balancers on loopback; each is stopped by pid afterwards."""
    running: list[RunningBalancer] = []

    def run(
        target_port: int,
        *,
        health_check: dict[str, Any] | None = None,
        idle_timeout_s: int = 350,
        probe_interval_s: float | None = PROBE_INTERVAL_S,
        connect_timeout_s: float = nlb.CONNECT_TIMEOUT_S,
    ) -> RunningBalancer:
        port = free_port()
        spec = nlb.write_spec(
            tmp_path / f"lb-{len(running)}",
            listen=("127.0.0.1", port),
            target=("127.0.0.1", target_port),
            health_check=health_check or {},
            idle_timeout_s=idle_timeout_s,
            probe_interval_s=probe_interval_s,
            connect_timeout_s=connect_timeout_s,
        )
        started: list[tuple[int, str]] = []
        process = nlb.start(
            None, spec, on_started=lambda pid, what: started.append((pid, what))
        )
        balancer = RunningBalancer(spec, process, port, started)
        running.append(balancer)
        return balancer

    yield run
    for balancer in running:
        stop_balancer(balancer)


def receive_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- forwarding -----------------------------------------------------------------


def test_forwards_a_megabyte_each_way_byte_for_byte(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    upload, download = os.urandom(MEGABYTE), os.urandom(MEGABYTE)
    received: list[bytes] = []

    def database(connection: socket.socket) -> None:
        # Reads until the client's FIN arrives through the load balancer,
        # then answers on the direction that is still open.
        received.append(receive_all(connection))
        connection.sendall(download)
        connection.close()

    target = Target(database)
    health_port = Target(lambda connection: None)
    balancer = run_balancer(
        target.port, health_check={"HealthCheckPort": str(health_port.port)}
    )
    try:
        with balancer.connect() as client:
            client_end = client.getsockname()
            client.sendall(upload)
            client.shutdown(socket.SHUT_WR)
            answer = receive_all(client)
    finally:
        target.stop()
        health_port.stop()
    assert received == [upload]
    assert answer == download
    (entry,) = wait_for(balancer.connections, "the connection's log entry")
    assert entry["bytes_from_client"] == MEGABYTE
    assert entry["bytes_from_target"] == MEGABYTE
    assert entry["ended"] == "closed by client"
    assert entry["client"] == f"127.0.0.1:{client_end[1]}"
    assert entry["target"] == f"127.0.0.1:{target.port}"
    assert entry["seconds"] >= 0


def test_each_client_connection_gets_its_own_connection_to_the_target(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    target = Target(echo)
    health_port = Target(lambda connection: None)
    balancer = run_balancer(
        target.port, health_check={"HealthCheckPort": str(health_port.port)}
    )
    try:
        with balancer.connect() as first, balancer.connect() as second:
            first.sendall(b"one")
            second.sendall(b"two")
            assert first.recv(10) == b"one"
            assert second.recv(10) == b"two"
            clients = {first.getsockname(), second.getsockname()}
        # Two connections of the load balancer's own, from ports other than
        # the clients': the target never sees a client's end (NLB-08).
        assert len(set(target.peers)) == 2
        assert not clients & set(target.peers)
    finally:
        target.stop()
        health_port.stop()


def test_the_readiness_connection_is_not_forwarded(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    traffic: queue.Queue[socket.socket] = queue.Queue()
    target = Target(kept(traffic))
    # Health checks go to a port of their own, so that the target's port
    # sees only forwarded connections.
    health_port = Target(lambda connection: None)
    balancer = run_balancer(
        target.port, health_check={"HealthCheckPort": str(health_port.port)}
    )
    try:
        time.sleep(0.3)
        assert traffic.empty()
        assert balancer.connections() == []
    finally:
        target.stop()
        health_port.stop()


# --- the idle timeout (NLB-18) ----------------------------------------------------


def test_an_idle_flow_is_forgotten_and_each_side_is_reset_when_it_next_sends(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    accepted: queue.Queue[socket.socket] = queue.Queue()
    target = Target(kept(accepted))
    health_port = Target(lambda connection: None)
    balancer = run_balancer(
        target.port,
        idle_timeout_s=1,
        health_check={"HealthCheckPort": str(health_port.port)},
    )
    try:
        with balancer.connect() as client:
            database = accepted.get(timeout=WAIT_S)
            client.sendall(b"ping")
            assert database.recv(10) == b"ping"
            last_data = time.monotonic()
            # The flow expires without a word to either side...
            (entry,) = wait_for(balancer.connections, "the idle timeout")
            assert time.monotonic() - last_data >= 1.0
            assert entry["ended"] == "idle timeout"
            assert entry["bytes_from_client"] == 4
            client.settimeout(0.2)
            with pytest.raises(TimeoutError):  # no FIN, no RST
                client.recv(10)
            client.settimeout(WAIT_S)
            # ...and what the client sends now is answered with an RST and
            # never reaches the target.
            client.sendall(b"late query")
            with pytest.raises(ConnectionResetError):
                client.recv(10)
            database.settimeout(0.3)
            with pytest.raises(TimeoutError):
                database.recv(10)
            # The target learns of it only when it sends, too.
            database.sendall(b"late answer")
            database.settimeout(WAIT_S)
            with pytest.raises(ConnectionResetError):
                database.recv(10)
    finally:
        target.stop()
        health_port.stop()


def test_data_keeps_a_flow_alive_past_the_idle_timeout(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    target = Target(echo)
    balancer = run_balancer(target.port, idle_timeout_s=1)
    try:
        with balancer.connect() as client:
            for turn in range(6):  # 2.4 s in all, never 1 s without data
                client.sendall(b"%d" % turn)
                assert client.recv(10) == b"%d" % turn
                time.sleep(0.4)
            assert balancer.connections() == []
    finally:
        target.stop()


# --- a dead target ------------------------------------------------------------------


def test_a_refusing_target_gets_the_client_reset_at_once(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    balancer = run_balancer(free_port())  # nothing listens there
    with balancer.connect() as client:
        asked = time.monotonic()
        client.sendall(b"select 1")
        with pytest.raises(ConnectionResetError):
            client.recv(10)
        assert time.monotonic() - asked < 1.0
    (entry,) = wait_for(balancer.connections, "the connection's log entry")
    assert entry["ended"] == "target refused the connection"


def silent_listener() -> tuple[socket.socket, socket.socket]:
    """A listener that answers no SYN: its accept queue (backlog 0) is full.

    Returns the listener and the one connection that fills its queue.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=WAIT_S)
    return listener, filler


def test_a_silent_target_gets_the_client_reset_after_the_connect_timeout(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    listener, filler = silent_listener()
    try:
        balancer = run_balancer(listener.getsockname()[1], connect_timeout_s=0.5)
        with balancer.connect() as client:
            asked = time.monotonic()
            with pytest.raises(ConnectionResetError):
                client.recv(10)
            waited = time.monotonic() - asked
        assert 0.4 <= waited < 2.0
        (entry,) = wait_for(balancer.connections, "the connection's log entry")
        assert entry["ended"] == "target did not answer within 0.5 s"
    finally:
        filler.close()
        listener.close()


# --- health checks (NLB-10..13) -------------------------------------------------------


def health_states(
    balancer: RunningBalancer, until: str, seen: list[tuple[str, str, str]]
) -> None:
    """Record each distinct (state, reason, description) until the state is `until`."""

    def reached() -> bool:
        health = balancer.health()
        if health is None:
            return False
        reading = (health["state"], health["reason"], health["description"])
        if not seen or seen[-1] != reading:
            seen.append(reading)
        return health["state"] == until

    wait_for(reached, f"target health {until}")


def test_health_turns_healthy_after_the_threshold_and_unhealthy_when_the_target_stops(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    target = Target(lambda connection: None)
    balancer = run_balancer(
        target.port,
        health_check={"HealthyThresholdCount": 3, "UnhealthyThresholdCount": 2},
    )
    seen: list[tuple[str, str, str]] = []
    try:
        health_states(balancer, "healthy", seen)
    finally:
        target.stop()
    health_states(balancer, "unhealthy", seen)
    assert seen == [
        ("initial", "Elb.InitialHealthChecking", "Initial health checking in progress"),
        ("healthy", "", ""),
        ("unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
    ]
    health = balancer.health()
    assert health is not None
    assert health["target"] == f"127.0.0.1:{target.port}"
    assert abs(health["checked_at"] - time.time()) < WAIT_S
    changes = [entry for entry in balancer.log() if entry["event"] == "target health"]
    assert [(c["from"], c["to"]) for c in changes] == [
        ("initial", "healthy"),
        ("healthy", "unhealthy"),
    ]
    assert changes[1]["probe"] == "Connection refused"


def test_a_probe_without_answer_fails_with_the_nlb_reason_code(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    listener, filler = silent_listener()
    try:
        balancer = run_balancer(
            listener.getsockname()[1],
            health_check={
                "UnhealthyThresholdCount": 2,
                "HealthCheckTimeoutSeconds": 10,
            },
            probe_interval_s=0.2,
        )
        seen: list[tuple[str, str, str]] = []
        health_states(balancer, "unhealthy", seen)
    finally:
        filler.close()
        listener.close()
    # Target.Timeout is an ALB and GWLB reason; an NLB says FailedHealthChecks.
    assert seen[-1] == (
        "unhealthy",
        "Target.FailedHealthChecks",
        "Health checks failed",
    )
    (change,) = [entry for entry in balancer.log() if entry["event"] == "target health"]
    # With a probe interval of the simulator's, a probe times out within it.
    assert change["probe"] == "no answer within 0.2 s"


def test_fails_open_to_its_only_target_when_that_target_is_unhealthy(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    target = Target(echo)
    balancer = run_balancer(
        target.port, health_check={"HealthCheckPort": str(free_port())}
    )
    try:
        health_states(balancer, "unhealthy", [])
        with balancer.connect() as client:
            client.sendall(b"still forwarded")
            assert client.recv(100) == b"still forwarded"
    finally:
        target.stop()
    (entry,) = wait_for(balancer.connections, "the connection's log entry")
    assert entry["target_health"] == "unhealthy"
    assert entry["ended"] == "closed by client"


def test_target_health_follows_the_consecutive_thresholds() -> None:
    health = TargetHealth(healthy_threshold=3, unhealthy_threshold=2)
    # A failure in between starts the count of passes again.
    assert [health.record(passed) for passed in (True, True, False)] == [False] * 3
    assert (health.state, health.reason) == ("initial", "Elb.InitialHealthChecking")
    assert [health.record(True) for _ in range(3)] == [False, False, True]
    assert (health.state, health.reason, health.description) == ("healthy", "", "")
    assert health.record(False) is False
    assert health.record(True) is False
    assert health.state == "healthy"
    assert [health.record(False) for _ in range(2)] == [False, True]
    assert (health.state, health.reason) == ("unhealthy", "Target.FailedHealthChecks")
    assert [health.record(True) for _ in range(3)] == [False, False, True]


def test_an_initial_target_turns_unhealthy_after_the_failure_threshold() -> None:
    health = TargetHealth(healthy_threshold=5, unhealthy_threshold=3)
    assert [health.record(False) for _ in range(3)] == [False, False, True]
    assert (health.state, health.description) == ("unhealthy", "Health checks failed")


def test_no_health_is_read_before_the_first_probe(tmp_path: Path) -> None:
    assert nlb.read_health(tmp_path / "nlb.health.json") is None


# --- the spec -------------------------------------------------------------------------


def test_spec_takes_the_target_groups_health_check_as_described(
    tmp_path: Path,
) -> None:
    described = {
        "TargetGroupArn": "arn:aws:elasticloadbalancing:eu-central-1:123456789012:x",
        "HealthCheckProtocol": "TCP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 6,
        "HealthyThresholdCount": "3",  # moto gives thresholds as strings
        "UnhealthyThresholdCount": "2",
    }
    spec = nlb.write_spec(
        tmp_path,
        listen=("10.0.1.20", 3306),
        target=("192.168.10.5", 3306),
        health_check=described,
        idle_timeout_s=350,
    )
    written = json.loads(spec.read_text())
    assert written["health_check"] == {
        "HealthCheckProtocol": "TCP",
        "HealthCheckPort": 3306,
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 6,
        "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 2,
    }
    assert written["probe_interval_s"] is None
    assert written["idle_timeout_s"] == 350
    assert nlb.health_file_of(spec) == spec.with_suffix(".health.json")
    assert nlb.log_file_of(spec) == spec.with_suffix(".log")
    assert not list(tmp_path.glob(".*partial"))


def test_spec_fills_in_aws_defaults_and_a_health_check_port(tmp_path: Path) -> None:
    spec = nlb.write_spec(
        tmp_path,
        listen=("127.0.0.1", 3306),
        target=("127.0.0.1", 3306),
        health_check={"HealthCheckPort": "3307"},
        idle_timeout_s=350,
    )
    assert json.loads(spec.read_text())["health_check"] == {
        "HealthCheckProtocol": "TCP",
        "HealthCheckPort": 3307,
        "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 10,
        "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2,
    }


@pytest.mark.parametrize(
    ("health_check", "message"),
    [
        ({"HealthCheckProtocol": "HTTP"}, "TCP only (NLB-10)"),
        ({"HealthyThresholdCount": 1}, "outside 2-10, AWS's range (NLB-13)"),
        ({"UnhealthyThresholdCount": 11}, "outside 2-10, AWS's range (NLB-13)"),
        ({"HealthCheckIntervalSeconds": 4}, "outside 5-300, AWS's range (NLB-11)"),
        ({"HealthCheckTimeoutSeconds": 121}, "outside 2-120, AWS's range (NLB-12)"),
        ({"HealthCheckPort": "mysql"}, "not a whole number"),
    ],
)
def test_spec_refuses_a_health_check_aws_would_refuse(
    tmp_path: Path, health_check: dict[str, Any], message: str
) -> None:
    with pytest.raises(
        SpecError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        nlb.write_spec(
            tmp_path,
            listen=("127.0.0.1", 3306),
            target=("127.0.0.1", 3306),
            health_check=health_check,
            idle_timeout_s=350,
        )
    assert not list(tmp_path.iterdir())


# --- the process ----------------------------------------------------------------------


def test_is_stopped_by_pid_and_leaves_nothing_running(
    run_balancer: Callable[..., RunningBalancer],
) -> None:
    accepted: queue.Queue[socket.socket] = queue.Queue()
    target = Target(kept(accepted))
    health_port = Target(lambda connection: None)
    balancer = run_balancer(
        target.port, health_check={"HealthCheckPort": str(health_port.port)}
    )
    pid = balancer.process.pid
    assert balancer.started == [(pid, f"load balancer {balancer.spec.stem}")]
    wait_for(balancer.health, "the first probe")
    try:
        with balancer.connect() as client:
            client.sendall(b"open flow")
            database = accepted.get(timeout=WAIT_S)
            assert database.recv(20) == b"open flow"
            assert stop_balancer(balancer) == 0
            # The open flow is reset at both of its sides.
            with pytest.raises(ConnectionResetError):
                client.recv(10)
            with pytest.raises(ConnectionResetError):
                database.recv(10)
    finally:
        target.stop()
        health_port.stop()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", balancer.port))
    # It started no process of its own: nothing is left in its session.
    assert not [
        entry.name
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _session_of(entry) == pid
    ]
    assert sorted(path.name for path in balancer.spec.parent.iterdir()) == sorted(
        [
            balancer.spec.name,
            balancer.spec.with_suffix(".health.json").name,
            balancer.spec.with_suffix(".log").name,
            balancer.spec.with_suffix(".stderr").name,
        ]
    )
    log = balancer.log()
    assert log[-1]["event"] == "stopped"
    (entry,) = [entry for entry in log if entry["event"] == "connection"]
    assert entry["ended"] == "load balancer stopped"


def _session_of(process: Path) -> int | None:
    try:
        # Field 6 of /proc/PID/stat, after the parenthesised command name.
        return int((process / "stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def test_start_says_why_when_the_listen_port_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        spec = nlb.write_spec(
            tmp_path,
            listen=("127.0.0.1", port),
            target=("127.0.0.1", free_port()),
            health_check={},
            idle_timeout_s=350,
        )
        started: list[tuple[int, str]] = []
        began = time.monotonic()
        with pytest.raises(LoadBalancerFailed, match="address already in use"):
            nlb.start(
                None, spec, on_started=lambda pid, what: started.append((pid, what))
            )
        assert time.monotonic() - began <= nlb.READY_TIMEOUT_S + 1
    ((pid, _),) = started
    assert not Path(f"/proc/{pid}").exists()


# --- inside a network namespace -------------------------------------------------------


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_forwards_from_another_namespace_through_a_veth(tmp_path: Path) -> None:
    from simulator import netns

    prefix = f"exst{secrets.token_hex(3)}-"
    process = None
    target = None
    try:
        vpc = netns.Namespace.create(f"{prefix}vpc")
        hosts = netns.Namespace.create(f"{prefix}hosts")
        netns.veth(vpc, "nlb0", hosts, "hosts0")
        netns.add_address(vpc, "nlb0", "10.77.0.1/24")  # the NLB's private address
        netns.add_address(hosts, "hosts0", "10.77.0.2/24")  # the platform's app
        netns.add_address(hosts, "hosts0", "10.77.0.3/24")  # the on-premises database
        with netns.entered(hosts):
            listener = socket.create_server(("10.77.0.3", 3306))
        target = Target(echo, listener=listener)
        spec = nlb.write_spec(
            tmp_path,
            listen=("10.77.0.1", 3306),
            target=("10.77.0.3", 3306),
            health_check={"HealthyThresholdCount": 2},
            idle_timeout_s=350,
            probe_interval_s=PROBE_INTERVAL_S,
        )
        started: list[tuple[int, str]] = []
        process = nlb.start(
            vpc.name, spec, on_started=lambda pid, what: started.append((pid, what))
        )
        assert started == [(process.pid, f"load balancer {spec.stem} in {vpc.name}")]
        with netns.entered(hosts):
            client = socket.create_connection(
                ("10.77.0.1", 3306), timeout=WAIT_S, source_address=("10.77.0.2", 0)
            )
        with client:
            client.sendall(b"through the veth")
            assert client.recv(100) == b"through the veth"
        # The database sees the load balancer's address, not the app's (NLB-08).
        assert {peer[0] for peer in target.peers} == {"10.77.0.1"}
        health = wait_for(
            lambda: (
                (nlb.read_health(nlb.health_file_of(spec)) or {}).get("state")
                == "healthy"
            ),
            "a healthy target",
        )
        assert health
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=WAIT_S)
        if target is not None:
            target.stop()
        netns.remove_namespaces(prefix)
    assert process.returncode == 0
    assert not Path(f"/proc/{process.pid}").exists()
    assert netns.namespaces_with_prefix(prefix) == []
