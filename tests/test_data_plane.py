"""The data plane in network namespaces: real tunnels, firewalls and a database.

Needs root (namespaces, nftables, strongSwan): skipped otherwise, with the
reason. One simulator for the module, with the app-database example; each
fault is injected through the command line, its symptom observed from the
customer's client host, and healed before the next.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from exchange.environment import Environment, entered, simulator_session
from tests.conftest import ROOT, TUNNEL_KEYS, multi_option_simulator

EXAMPLE = ROOT / "examples" / "app-database.yaml"

pytestmark = [
    pytest.mark.netns,
    pytest.mark.simulator,
    pytest.mark.pulumi,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(
        not (shutil.which("nft") and shutil.which("swanctl")),
        reason="nftables and strongSwan not installed (make installs them as root)",
    ),
    pytest.mark.skipif(
        shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists(),
        reason="mariadbd not installed",
    ),
]


def exchange(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **TUNNEL_KEYS, "EXCHANGE_SIM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("dataplane") / "sim"
    started = time.monotonic()
    up = exchange("up", str(EXAMPLE), home=home)
    up_seconds = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        environment = Environment.load(home / "environment.json")
        stack = environment.stacks["nordwind"]
        yield {
            "home": home,
            "environment": environment,
            "stack": stack,
            "up_seconds": up_seconds,
            "prefix": _prefix(home),
        }
    finally:
        stop = exchange("sim", "stop", home=home)
        assert stop.returncode == 0, stop.stdout + stop.stderr


def _prefix(home: Path) -> str:
    from simulator.cloud import SimulatedCloud

    return SimulatedCloud(home).namespace_prefix


def _telemetry(network: dict[str, Any]) -> list[str]:
    outputs = network["stack"].outputs
    ec2 = simulator_session("eu-central-1").client(
        "ec2", endpoint_url=network["environment"].aws_endpoint_url
    )
    (connection,) = ec2.describe_vpn_connections(
        VpnConnectionIds=[outputs["vpnConnectionId"]]
    )["VpnConnections"]
    return [t["Status"] for t in connection["VgwTelemetry"]]


def _wait_telemetry(network, expected: list[str], timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    seen = _telemetry(network)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = _telemetry(network)
    return seen


def _database(network) -> tuple[str, int, str]:
    stack = network["stack"]
    database = stack.outputs["databases"]["orders"]
    point = stack.vantage_points["onprem"]
    return point.hosts[database["address"]], int(database["port"]), database["address"]


def _connect(network, vantage: str = "onprem", timeout: int = 3) -> Any:
    """A MySQL connection from the vantage point's namespace, as the checks make it."""

    stack = network["stack"]
    address, port, _ = _database(network)
    secrets = simulator_session("eu-central-1").client(
        "secretsmanager", endpoint_url=network["environment"].aws_endpoint_url
    )
    arn = stack.outputs["databases"]["orders"]["masterUserSecretArn"]
    credentials = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    context = ssl.create_default_context(cafile=stack.vantage_points[vantage].ca_bundle)
    with entered(stack.vantage_points[vantage].netns):
        return pymysql.connect(
            host=address,
            port=port,
            user=credentials["username"],
            password=credentials["password"],
            database="orders",
            connect_timeout=timeout,
            read_timeout=timeout,
            ssl=context,
        )


def _tcp(network, vantage: str, timeout: float = 2.0) -> str:
    """What a TCP connect to the database from `vantage` meets."""
    address, port, _ = _database(network)
    with entered(network["stack"].vantage_points[vantage].netns):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect((address, port))
        return "connected"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as error:
        return f"unreachable ({error.strerror})"
    finally:
        probe.close()


def _check(network) -> subprocess.CompletedProcess:
    return exchange("check", str(EXAMPLE), home=network["home"])


def test_both_tunnels_are_established_and_reported_up(network):
    assert _wait_telemetry(network, ["UP", "UP"]) == ["UP", "UP"]


def test_a_row_written_from_the_client_host_reads_back_through_the_tunnel(network):
    result = _check(network)
    assert result.returncode == 0, result.stdout
    assert "via the customer's client host 192.168.10.10" in result.stdout
    assert "read back identical" in result.stdout


def test_the_outsider_cannot_reach_the_database(network):
    assert _tcp(network, "outsider") != "connected"


def test_a_host_outside_the_client_networks_is_dropped_by_the_security_group(network):
    assert _tcp(network, "onprem-other") == "timeout"
    assert _tcp(network, "onprem") == "connected"


def test_namespaces_carry_the_simulators_prefix(network):
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    ours = [
        line.split()[0]
        for line in listed.splitlines()
        if line.startswith(network["prefix"])
    ]
    assert len(ours) >= 9, ours


@pytest.fixture
def fault(network):
    """Inject a fault by name; heal it afterwards, even when the test fails."""
    injected = []

    def inject(kind: str) -> subprocess.CompletedProcess:
        result = exchange("sim", "fault", kind, home=network["home"])
        assert result.returncode == 0, result.stdout + result.stderr
        injected.append(kind)
        return result

    yield inject
    if injected:
        healed = exchange("sim", "heal", home=network["home"])
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert _wait_telemetry(network, ["UP", "UP"], timeout_s=30) == ["UP", "UP"]


def test_tunnel_down_leaves_one_tunnel_carrying_traffic(network, fault):
    fault("tunnel-down")
    assert _wait_telemetry(network, ["DOWN", "UP"]) == ["DOWN", "UP"]
    with _connect(network, timeout=10) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_both_tunnels_down_cut_the_database_off(network, fault):
    fault("tunnels-down")
    assert _wait_telemetry(network, ["DOWN", "DOWN"]) == ["DOWN", "DOWN"]
    assert _tcp(network, "onprem") != "connected"


def test_a_wrong_key_keeps_its_tunnel_down(network, fault):
    fault("wrong-key")
    assert _wait_telemetry(network, ["DOWN", "UP"]) == ["DOWN", "UP"]


def test_a_security_group_without_the_client_network_drops_the_client(network, fault):
    fault("sg-missing-client-network")
    assert _tcp(network, "onprem") == "timeout"


def test_a_removed_route_cuts_the_replies_off(network, fault):
    fault("route-removed")
    assert _tcp(network, "onprem") != "connected"


def test_mtu_black_hole_lets_tcp_connect_and_hangs_the_tls_handshake(network, fault):
    fault("mtu-black-hole")
    # The SYNs are small and pass; the server's certificate flight is larger
    # than the tunnel's MTU, and nobody learns it: the handshake hangs.
    assert _tcp(network, "onprem") == "connected"
    started = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError):
        _connect(network, timeout=2).close()
    assert time.monotonic() - started < 30


def test_large_results_arrive_without_the_fault(network):
    with _connect(network, timeout=5) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT REPEAT('x', 1048576)")
        assert len(cursor.fetchone()[0]) == 1048576


def test_a_stopped_database_refuses_connections(network, fault):
    fault("database-stopped")
    assert _tcp(network, "onprem") == "refused"


def test_stop_leaves_no_namespace_and_no_process(tmp_path: Path):
    home = tmp_path / "sim"
    up = exchange("up", str(EXAMPLE), home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    prefix = _prefix(home)
    processes = json.loads((home / "processes.json").read_text())
    assert exchange("sim", "stop", home=home).returncode == 0
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert prefix not in listed
    for process in processes:
        assert not Path(f"/proc/{process['pid']}").exists() or (
            Path(f"/proc/{process['pid']}/stat").read_text().split()[2] == "Z"
        ), process
    assert not home.exists()
    assert not list(Path("/etc/netns").glob(prefix + "*"))


# -- egress: NAT gateways, the whitelist, the customer's web service -------------


@pytest.fixture(scope="module")
def egress(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("egress") / "sim"
    with multi_option_simulator(home) as run:
        stack = Environment.load(home / "environment.json").stacks["nordwind"]
        yield {"run": run, "stack": stack, "home": home}


def _https_get(egress, vantage: str, timeout: float = 3.0) -> str:
    """GET the shipments service from `vantage`: the status line, or what failed."""
    point = egress["stack"].vantage_points[vantage]
    host = "api.nordwind.example"
    address = egress["stack"].vantage_points["platform"].hosts[host]
    context = ssl.create_default_context(cafile=point.ca_bundle)
    with entered(point.netns):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect((address, 443))
        with context.wrap_socket(probe, server_hostname=host) as tls:
            tls.sendall(
                f"GET /v1/shipments HTTP/1.1\r\nHost: {host}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            return tls.recv(64).split(b"\r\n", 1)[0].decode()
    except TimeoutError:
        return "timeout"
    except OSError as error:
        return f"failed ({error})"
    finally:
        probe.close()


@pytest.fixture
def egress_fault(egress):
    injected = []

    def inject(kind: str) -> None:
        result = egress["run"]("sim", "fault", kind)
        assert result.returncode == 0, result.stdout + result.stderr
        injected.append(kind)

    yield inject
    if injected:
        healed = egress["run"]("sim", "heal")
        assert healed.returncode == 0, healed.stdout + healed.stderr


def test_the_platform_reaches_the_web_service_through_its_nat_gateway(egress):
    # The service answers (401: the probe sends no credentials): TLS from
    # the simulator's CA, through the NAT and the customer's whitelist.
    assert _https_get(egress, "platform") == "HTTP/1.1 401 Unauthorized"


def test_the_outsider_is_not_whitelisted(egress):
    assert _https_get(egress, "outsider") == "timeout"


def test_a_whitelist_without_the_egress_ip_drops_the_platform(egress, egress_fault):
    egress_fault("whitelist-missing-egress-ip")
    assert _https_get(egress, "platform") == "timeout"


def test_a_changed_nat_ip_is_not_whitelisted(egress, egress_fault):
    egress_fault("nat-ip-changed")
    assert _https_get(egress, "platform") == "timeout"


def test_a_slow_web_service_answers_after_the_timeout(egress, egress_fault):
    egress_fault("web-service-slow")
    assert _https_get(egress, "platform", timeout=1.0) == "timeout"


def test_a_failing_web_service_answers_503(egress, egress_fault):
    egress_fault("web-service-errors")
    assert _https_get(egress, "platform").startswith("HTTP/1.1 503")


def test_the_load_balancer_reports_the_on_premises_database_healthy(egress):
    stack = egress["stack"]
    endpoint = Environment.load(egress["home"] / "environment.json").aws_endpoint_url
    elbv2 = simulator_session("eu-central-1").client("elbv2", endpoint_url=endpoint)
    arn = stack.outputs["remoteDatabases"]["warehouse"]["targetGroupArn"]
    deadline = time.monotonic() + 15
    state = None
    while time.monotonic() < deadline:
        (target,) = elbv2.describe_target_health(TargetGroupArn=arn)[
            "TargetHealthDescriptions"
        ]
        state = target["TargetHealth"]["State"]
        if state == "healthy":
            break
        time.sleep(0.5)
    assert state == "healthy"
    # And the platform reaches the on-premises database through it.
    gateway = stack.outputs["remoteDatabases"]["warehouse"]
    address = stack.vantage_points["platform"].hosts[gateway["dnsName"]]
    with entered(stack.vantage_points["platform"].netns):
        probe = socket.create_connection((address, int(gateway["port"])), timeout=3)
    with probe:
        assert probe.recv(64), "the MariaDB greeting through the NLB and the tunnel"


def _https_get_s3(egress, vantage: str, path: str) -> bytes:
    """GET `path` from the file storage's endpoint, over TLS, without signature."""
    point = egress["stack"].vantage_points[vantage]
    host = "s3.eu-central-1.amazonaws.com"
    context = ssl.create_default_context(cafile=point.ca_bundle)
    with entered(point.netns):
        probe = socket.create_connection((point.hosts[host], 443), timeout=3)
    with context.wrap_socket(probe, server_hostname=host) as tls:
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("vantage", ["onprem", "platform", "outsider"])
def test_the_file_storage_endpoint_is_public_on_the_internet(egress, vantage):
    # The relay's certificate names S3's regional name; the endpoint answers
    # everyone, and the bucket refuses whoever has no ticket.
    answer = _https_get_s3(egress, vantage, "/nordwind-exchange-files?list-type=2")
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"AccessDenied" in answer
