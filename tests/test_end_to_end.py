"""validate -> up -> check, through the `exchange` command, on the simulator.

These start the simulator (a moto server in a subprocess) and private
MariaDB servers; every test stops what it started, also when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import EXAMPLE, TUNNEL_KEYS

pytestmark = [pytest.mark.simulator, pytest.mark.mariadb]

EXCHANGE = [sys.executable, "-m", "exchange.cli"]


def _mariadb_installed() -> bool:
    return bool(
        shutil.which("mariadbd", path=os.environ.get("PATH", "") + ":/usr/sbin")
    )


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
    """The example provisioned once on a private simulator for this module."""
    home = tmp_path_factory.mktemp("e2e") / "sim"
    transcript = []
    try:
        up = run("up", str(EXAMPLE), home=home)
        transcript.append(up)
        yield {"home": home, "up": up, "transcript": transcript}
    finally:
        stop = run("sim", "stop", home=home)
        assert stop.returncode == 0, stop.stderr
        assert not home.exists(), "sim stop must remove the simulator's folder"


def _ec2(home: Path):
    environment = json.loads((home / "environment.json").read_text())
    return boto3.client(
        "ec2",
        region_name="eu-central-1",
        endpoint_url=environment["aws_endpoint_url"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ), environment


@requires_mariadb
def test_up_provisions_the_example_and_prints_its_outputs(provisioned):
    up = provisioned["up"]
    assert up.returncode == 0, up.stdout + up.stderr
    assert "provisioned stack 'nordwind' on the simulator: 17 resources" in up.stdout
    assert "vpnConnectionId: vpn-" in up.stdout
    assert "address: nordwind-orders." in up.stdout


@requires_mariadb
def test_check_passes_every_check_and_proves_the_round_trip(provisioned):
    check = run("check", str(EXAMPLE), home=provisioned["home"])
    provisioned["transcript"].append(check)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    for check_id in (
        "vpn.connection",
        "vpn.routes",
        "db.orders.security-group",
        "db.orders.private",
        "db.orders.round-trip",
    ):
        assert any(line.startswith("PASS") and check_id in line for line in lines), (
            f"{check_id} did not pass:\n{check.stdout}"
        )
    assert "read back identical" in check.stdout
    assert "TLSv1" in check.stdout, "the example requires TLS"
    assert "5 checks: 5 pass" in check.stdout


@requires_mariadb
def test_a_security_group_admitting_the_world_fails_its_check(provisioned):
    home = provisioned["home"]
    ec2, environment = _ec2(home)
    group_id = environment["stacks"]["nordwind"]["outputs"]["databases"]["orders"][
        "securityGroupId"
    ]
    world = [
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        }
    ]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=world)
    try:
        check = run("check", str(EXAMPLE), home=home)
        provisioned["transcript"].append(check)
    finally:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=world)
    assert check.returncode == 1, check.stdout
    (line,) = [
        i
        for i, text in enumerate(check.stdout.splitlines())
        if "db.orders.security-group" in text
    ]
    report = check.stdout.splitlines()
    assert report[line].startswith("FAIL")
    assert "also admits 0.0.0.0/0" in report[line + 1]
    assert "hint:" in report[line + 2]


@requires_mariadb
def test_a_database_that_does_not_answer_fails_the_round_trip(provisioned):
    home = provisioned["home"]
    processes = json.loads((home / "processes.json").read_text())
    (server,) = [p for p in processes if p["what"].startswith("mariadb ")]
    # Pause, not kill: the fixture's `sim stop` still ends it by its pid.
    os.kill(server["pid"], 19)  # SIGSTOP: the port stays bound, nothing answers
    try:
        check = run("check", str(EXAMPLE), home=home)
        provisioned["transcript"].append(check)
    finally:
        os.kill(server["pid"], 18)  # SIGCONT
    assert check.returncode == 1, check.stdout
    round_trip = [
        line for line in check.stdout.splitlines() if "db.orders.round-trip" in line
    ]
    assert round_trip and round_trip[0].startswith("FAIL"), check.stdout
    assert "did not answer" in check.stdout


@requires_mariadb
def test_no_secret_appears_in_any_output_or_state_file(provisioned):
    home = provisioned["home"]
    # Everything the commands printed, and every text file the simulator wrote
    # except the AWS server's own database of secrets, which is its memory.
    texts = [p.stdout + p.stderr for p in provisioned["transcript"]]
    texts.append((home / "environment.json").read_text())
    texts.append((home / "processes.json").read_text())
    for secret in TUNNEL_KEYS.values():
        for text in texts:
            assert secret not in text


def test_check_without_a_simulator_is_a_usage_error(tmp_path: Path):
    check = run("check", str(EXAMPLE), home=tmp_path / "none")
    assert check.returncode == 2
    assert "exchange up" in check.stderr
    assert "Traceback" not in check.stderr
