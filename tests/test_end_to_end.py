"""validate -> up -> check, through the `exchange` command, on the simulator.

These start the simulator (a moto server in a subprocess) and private
MariaDB servers; every test stops what it started, also when it fails. The
failure tests break one thing in the simulated cloud, check, and repair it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pymysql
import pytest

from simulator.mariadb import MariaDBUnavailable, find_binaries
from tests.conftest import EXAMPLE, TUNNEL_KEYS

pytestmark = [pytest.mark.simulator, pytest.mark.mariadb]

EXCHANGE = [sys.executable, "-m", "exchange.cli"]
REGION = "eu-central-1"


def _mariadb_installed() -> bool:
    try:
        find_binaries()
    except MariaDBUnavailable:
        return False
    return True


requires_mariadb = pytest.mark.skipif(
    not _mariadb_installed(),
    reason="mariadbd not installed (mariadb-server; make test installs it as root)",
)


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TUNNEL_KEYS, "EXCHANGE_SIM_HOME": str(home)}
    return subprocess.run(
        [*EXCHANGE, *args], capture_output=True, text=True, env=env, timeout=240
    )


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The example validated and provisioned once, on a private simulator."""
    home = tmp_path_factory.mktemp("e2e") / "sim"
    transcript = []
    try:
        validate = run("validate", str(EXAMPLE), home=home)
        up = run("up", str(EXAMPLE), home=home)
        transcript += [validate, up]
        yield {"home": home, "validate": validate, "up": up, "transcript": transcript}
    finally:
        stop = run("sim", "stop", home=home)
        assert stop.returncode == 0, stop.stderr
        assert not home.exists(), "sim stop must remove the simulator's folder"


def _environment(home: Path) -> dict:
    return json.loads((home / "environment.json").read_text())


def _client(home: Path, service: str):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=_environment(home)["aws_endpoint_url"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _outputs(home: Path) -> dict:
    return _environment(home)["stacks"]["nordwind"]["outputs"]


def _report(check: subprocess.CompletedProcess[str], check_id: str) -> list[str]:
    """The report's lines for one check: status and title, evidence, hint."""
    lines = check.stdout.splitlines()
    (start,) = [i for i, line in enumerate(lines) if f"  {check_id}  " in line]
    return lines[start : start + 3]


@contextmanager
def broken(home: Path, transcript: list, break_it, repair_it) -> Iterator[list]:
    """Break the cloud, yield the check's report, then repair it."""
    break_it()
    try:
        check = run("check", str(EXAMPLE), home=home)
        transcript.append(check)
        yield check
    finally:
        repair_it()


@requires_mariadb
def test_up_provisions_the_example_and_prints_its_outputs(provisioned):
    assert provisioned["validate"].returncode == 0, provisioned["validate"].stdout
    up = provisioned["up"]
    assert up.returncode == 0, up.stdout + up.stderr
    record = json.loads((provisioned["home"] / "stacks" / "nordwind.json").read_text())
    count = len(record["resources"])
    assert f"provisioned stack 'nordwind' on the simulator: {count} resources" in (
        up.stdout
    )
    assert "vpnConnectionId: vpn-" in up.stdout
    assert "address: nordwind-orders." in up.stdout


@requires_mariadb
def test_check_passes_every_check_and_proves_the_round_trip(provisioned):
    check = run("check", str(EXAMPLE), home=provisioned["home"])
    provisioned["transcript"].append(check)
    assert check.returncode == 0, check.stdout + check.stderr
    for check_id in (
        "vpn.connection",
        "vpn.tunnels",
        "vpn.routes",
        "db.orders.security-group",
        "db.orders.private",
        "db.orders.path",
        "db.orders.reach",
        "db.orders.round-trip",
        "db.orders.tls-required",
        "db.orders.closed-to-outsider",
        "db.orders.closed-to-onprem-other",
    ):
        status = _report(check, check_id)[0]
        assert status.startswith("PASS"), f"{check_id} did not pass:\n{check.stdout}"
    assert "read back identical" in check.stdout
    assert "TLSv1" in check.stdout, "the example requires TLS"
    assert "11 checks: 11 pass" in check.stdout


@requires_mariadb
def test_a_second_security_group_admitting_the_world_fails_the_check(provisioned):
    home = provisioned["home"]
    ec2, rds = _client(home, "ec2"), _client(home, "rds")
    database = _outputs(home)["databases"]["orders"]
    vpc_id = _outputs(home)["vpcId"]
    extra = ec2.create_security_group(
        GroupName="world", Description="added by hand", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=extra,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3306,
                "ToPort": 3306,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )

    def attach(groups: list[str]) -> None:
        rds.modify_db_instance(
            DBInstanceIdentifier=database["instanceId"], VpcSecurityGroupIds=groups
        )

    with broken(
        home,
        provisioned["transcript"],
        lambda: attach([database["securityGroupId"], extra]),
        lambda: attach([database["securityGroupId"]]),
    ) as check:
        assert check.returncode == 1, check.stdout
        status, evidence, hint = _report(check, "db.orders.security-group")
    assert status.startswith("FAIL")
    assert "also admits 0.0.0.0/0" in evidence and extra in evidence
    assert "never 0.0.0.0/0" in hint


@requires_mariadb
def test_a_missing_static_route_fails_the_route_check(provisioned):
    home = provisioned["home"]
    ec2 = _client(home, "ec2")
    connection = _outputs(home)["vpnConnectionId"]
    route = {"VpnConnectionId": connection, "DestinationCidrBlock": "192.168.20.0/24"}
    with broken(
        home,
        provisioned["transcript"],
        lambda: ec2.delete_vpn_connection_route(**route),
        lambda: ec2.create_vpn_connection_route(**route),
    ) as check:
        status, evidence, hint = _report(check, "vpn.routes")
    assert status.startswith("FAIL")
    assert "192.168.20.0/24 (no static route" in evidence
    assert "CreateVpnConnectionRoute" in hint


@requires_mariadb
def test_route_propagation_turned_off_fails_the_route_check(provisioned):
    home = provisioned["home"]
    ec2 = _client(home, "ec2")
    outputs = _outputs(home)
    propagation = {
        "RouteTableId": outputs["privateRouteTableIds"][0],
        "GatewayId": outputs["vpnGatewayId"],
    }
    with broken(
        home,
        provisioned["transcript"],
        lambda: ec2.disable_vgw_route_propagation(**propagation),
        lambda: ec2.enable_vgw_route_propagation(**propagation),
    ) as check:
        status, _, hint = _report(check, "vpn.routes")
    assert status.startswith("FAIL")
    assert "enable route propagation" in hint and "VGW-09" in hint


@requires_mariadb
def test_a_publicly_accessible_database_fails_the_private_check(provisioned):
    home = provisioned["home"]
    rds = _client(home, "rds")
    instance = _outputs(home)["databases"]["orders"]["instanceId"]

    def public(flag: bool) -> None:
        rds.modify_db_instance(DBInstanceIdentifier=instance, PubliclyAccessible=flag)

    with broken(
        home, provisioned["transcript"], lambda: public(True), lambda: public(False)
    ) as check:
        status, evidence, hint = _report(check, "db.orders.private")
    assert status.startswith("FAIL")
    assert "publicly accessible" in evidence and "RDS-14" in hint


def _admin(home: Path) -> pymysql.connections.Connection:
    import pwd

    (socket_path,) = (home / "sockets").glob("*.sock")
    return pymysql.connect(
        unix_socket=str(socket_path),
        user=pwd.getpwuid(os.geteuid()).pw_name,
        autocommit=True,
    )


@requires_mariadb
def test_a_server_accepting_plaintext_fails_the_tls_check(provisioned):
    home = provisioned["home"]

    def require_tls(on: bool) -> None:
        with _admin(home) as admin, admin.cursor() as cursor:
            cursor.execute(f"SET GLOBAL require_secure_transport = {int(on)}")

    with broken(
        home,
        provisioned["transcript"],
        lambda: require_tls(False),
        lambda: require_tls(True),
    ) as check:
        status, evidence, hint = _report(check, "db.orders.tls-required")
    assert status.startswith("FAIL")
    assert "accepted a connection without TLS" in evidence
    assert "require_secure_transport" in hint


@requires_mariadb
def test_a_database_that_does_not_answer_fails_the_round_trip(provisioned):
    home = provisioned["home"]
    processes = json.loads((home / "processes.json").read_text())
    (server,) = [p for p in processes if p["what"].startswith("mariadb ")]
    # Paused, not killed: the port stays bound and nothing answers; the
    # fixture's `sim stop` still ends it by its pid.
    with broken(
        home,
        provisioned["transcript"],
        lambda: os.kill(server["pid"], signal.SIGSTOP),
        lambda: os.kill(server["pid"], signal.SIGCONT),
    ) as check:
        assert check.returncode == 1, check.stdout
        status, evidence, _ = _report(check, "db.orders.round-trip")
    assert status.startswith("FAIL"), check.stdout
    assert "did not answer" in evidence


@requires_mariadb
def test_the_probe_leaves_no_row_behind(provisioned):
    home = provisioned["home"]
    check = run("check", str(EXAMPLE), home=home)
    provisioned["transcript"].append(check)
    with _admin(home) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM orders.exchange_probe")
        (rows,) = cursor.fetchone()
    assert rows == 0


@requires_mariadb
def test_no_secret_appears_in_any_output_log_or_file(provisioned):
    home = provisioned["home"]
    transcript = provisioned["transcript"]
    # The most talkative runs, on top of everything the other tests printed.
    transcript.append(run("-vv", "check", str(EXAMPLE), home=home))
    secret_arn = _outputs(home)["databases"]["orders"]["masterUserSecretArn"]
    credentials = json.loads(
        _client(home, "secretsmanager").get_secret_value(SecretId=secret_arn)[
            "SecretString"
        ]
    )
    secrets = [*TUNNEL_KEYS.values(), credentials["password"]]
    printed = "".join(p.stdout + p.stderr for p in transcript)
    assert "DEBUG" in printed, "the -vv run must have logged at DEBUG"
    files = {
        path: path.read_bytes()
        for path in home.rglob("*")
        if path.is_file() and not path.is_socket()
    }
    for secret in secrets:
        assert secret not in printed
        for path, content in files.items():
            assert secret.encode() not in content, f"{secret[:3]}… found in {path}"


@requires_mariadb
def test_the_demo_passes_twice_and_leaves_nothing_behind(tmp_path: Path):
    """Once with generated keys; once with given keys at -vv, which must not leak."""
    bare = {**os.environ, "TMPDIR": str(tmp_path)}
    for name in TUNNEL_KEYS:
        bare.pop(name, None)
    runs = [(["demo"], bare), (["-vv", "demo"], {**bare, **TUNNEL_KEYS})]
    for attempt, (args, env) in enumerate(runs, start=1):
        demo = subprocess.run(
            [*EXCHANGE, *args], capture_output=True, text=True, env=env, timeout=240
        )
        assert demo.returncode == 0, f"run {attempt}:\n{demo.stdout}{demo.stderr}"
        assert "demo passed" in demo.stdout
        assert "PASS   db.orders.round-trip" in demo.stdout
        assert list(tmp_path.iterdir()) == [], "the demo must remove its simulator"
    assert "DEBUG" in demo.stderr
    for key in TUNNEL_KEYS.values():
        assert key not in demo.stdout + demo.stderr


def test_check_without_a_simulator_is_a_usage_error(tmp_path: Path):
    check = run("check", str(EXAMPLE), home=tmp_path / "none")
    assert check.returncode == 2
    assert "exchange up" in check.stderr
    assert "Traceback" not in check.stderr


@requires_mariadb
def test_the_loopback_data_plane_says_once_what_it_leaves_unproven(tmp_path: Path):
    """Without namespaces (no root, or asked for) the main job still proves the
    databases, and says plainly which paths it proved from the API only."""
    home = tmp_path / "sim"
    env = {
        **os.environ,
        **TUNNEL_KEYS,
        "EXCHANGE_SIM_HOME": str(home),
        "EXCHANGE_SIM_DATA_PLANE": "loopback",
    }

    def loopback(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*EXCHANGE, *args], capture_output=True, text=True, env=env, timeout=240
        )

    try:
        up = loopback("up", str(EXAMPLE))
        assert up.returncode == 0, up.stdout + up.stderr
        assert up.stdout.count("note: the data plane runs on loopback") == 1
        assert "no packet crosses a VPN tunnel, a security group" in up.stdout
        environment = _environment(home)
        assert environment["data_plane"] == "loopback"
        point = environment["stacks"]["nordwind"]["vantage_points"]["onprem"]
        assert point["netns"] is None and point["connect_to"]
        check = loopback("check", str(EXAMPLE), "--format", "json")
        # Less is proven on loopback, and the exit code says so.
        assert check.returncode == 1, check.stdout + check.stderr
        checks = {c["id"]: c for c in json.loads(check.stdout)["checks"]}
        assert checks["db.orders.round-trip"]["status"] == "pass"
        assert "loopback stand-in" in checks["db.orders.round-trip"]["evidence"]
        # No tunnel exists, and the telemetry says so.
        assert checks["vpn.tunnels"]["code"] == "TUNNELS-DOWN"
        # The vantage points that keep others out exist only in namespaces.
        for vantage in ("outsider", "onprem-other"):
            skipped = checks[f"db.orders.closed-to-{vantage}"]
            assert skipped["status"] == "skip"
            assert "loopback data plane" in skipped["evidence"]
    finally:
        assert loopback("sim", "stop").returncode == 0


@requires_mariadb
def test_check_reports_json_on_stdout_and_junit_for_ci(provisioned, tmp_path: Path):
    from junitparser import JUnitXml

    junit = tmp_path / "report.xml"
    check = run(
        "check",
        str(EXAMPLE),
        "--format",
        "json",
        "--junit",
        str(junit),
        home=provisioned["home"],
    )
    provisioned["transcript"].append(check)
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)  # nothing but the report on stdout
    assert report["customer"] == "nordwind"
    assert report["totals"]["pass"] == len(report["checks"]) == 11
    (suite,) = JUnitXml.fromfile(str(junit))
    assert suite.name == "exchange check nordwind"
    assert suite.tests == 11 and suite.failures == 0 and suite.errors == 0


@requires_mariadb
def test_a_soak_queries_again_after_the_idle_gap(provisioned):
    check = run(
        "check",
        str(EXAMPLE),
        "--from",
        "onprem",
        "--soak",
        "1",
        "--format",
        "json",
        home=provisioned["home"],
    )
    assert check.returncode == 0, check.stdout + check.stderr
    checks = {c["id"]: c for c in json.loads(check.stdout)["checks"]}
    assert "answered again after 1 s idle" in checks["db.orders.round-trip"]["evidence"]
    assert {c["vantage"] for c in checks.values()} == {"cloud-api", "onprem"}


@requires_mariadb
def test_check_refuses_a_junit_file_it_cannot_write(provisioned, tmp_path: Path):
    check = run(
        "check",
        str(EXAMPLE),
        "--junit",
        str(tmp_path / "missing" / "r.xml"),
        home=provisioned["home"],
    )
    assert check.returncode == 2, check.stdout + check.stderr
    assert "cannot write" in check.stderr and "missing" in check.stderr
