"""`exchange up`, `outputs`, `vpn-config` and `down` as ops use them, and the
policy pack's gate in front of `up`.

The commands run as the user runs them (a process each) against a simulator
in a folder of the test's own; the example has no app database, so no
MariaDB is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, TUNNEL_KEYS

pytestmark = [pytest.mark.pulumi, pytest.mark.simulator]

EXAMPLE = ROOT / "examples" / "remote-database-vpn.yaml"


def exchange(*args: str, home: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    # The commands are the subject, not the network: the loopback data plane.
    env = {
        **os.environ,
        **TUNNEL_KEYS,
        "EXCHANGE_SIM_HOME": str(home),
        "EXCHANGE_SIM_DATA_PLANE": "loopback",
    }
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    """One simulator through up, outputs, vpn-config, up again and down."""
    folder = tmp_path_factory.mktemp("up-down")
    home = folder / "sim"
    steps: dict[str, Any] = {"home": home, "folder": folder}
    try:
        steps["up"] = exchange("up", str(EXAMPLE), home=home)
        steps["outputs"] = exchange(
            "outputs", str(EXAMPLE), "--format", "json", home=home
        )
        steps["revealed"] = exchange(
            "outputs", str(EXAMPLE), "--show-secrets", "--format", "json", home=home
        )
        steps["strongswan"] = exchange(
            "vpn-config", str(EXAMPLE), "--out", str(folder / "swan"), home=home
        )
        steps["generic"] = exchange(
            "vpn-config",
            str(EXAMPLE),
            "--device",
            "generic",
            "--out",
            str(folder / "generic"),
            home=home,
        )
        steps["again"] = exchange("up", str(EXAMPLE), home=home)
        steps["down"] = exchange("down", str(EXAMPLE), home=home)
        steps["outputs after down"] = exchange("outputs", str(EXAMPLE), home=home)
        yield steps
    finally:
        exchange("sim", "stop", home=home)


def _ok(step: subprocess.CompletedProcess) -> str:
    assert step.returncode == 0, step.stdout + step.stderr
    return step.stdout


def test_up_creates_the_stack_and_prints_its_outputs(session):
    out = _ok(session["up"])
    assert "provisioned stack 'nordwind' on the simulator:" in out
    assert "tunnelPresharedKeys: [secret]" in out
    assert "remoteDatabases:" in out


def test_outputs_mask_secrets_unless_asked(session):
    masked = json.loads(_ok(session["outputs"]))
    assert masked["tunnelPresharedKeys"] == "[secret]"
    for key in TUNNEL_KEYS.values():
        assert key not in session["outputs"].stdout
    revealed = json.loads(_ok(session["revealed"]))
    assert sorted(revealed["tunnelPresharedKeys"]) == sorted(TUNNEL_KEYS.values())
    assert revealed["vpnConnectionId"] == masked["vpnConnectionId"]


def test_outputs_name_the_load_balancer_for_the_remote_database(session):
    outputs = json.loads(_ok(session["outputs"]))
    (gateway,) = outputs["remoteDatabases"].values()
    assert gateway["dnsName"] and gateway["targetGroupArn"].startswith("arn:aws:")
    assert gateway["target"] == "192.168.30.15:3306"


def test_vpn_config_writes_strongswan_files_with_the_keys_kept_apart(session):
    out = _ok(session["strongswan"])
    folder = session["folder"] / "swan"
    conf = (folder / "swanctl.conf").read_text()
    outputs = json.loads(session["outputs"].stdout)
    for outside_ip in outputs["tunnelOutsideIps"]:
        assert f"remote_addrs = {outside_ip}" in conf
    for key in TUNNEL_KEYS.values():
        assert key not in conf and key not in out
    secrets = next(p for p in folder.iterdir() if "secret" in p.name)
    assert all(key in secrets.read_text() for key in TUNNEL_KEYS.values())
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert "(secret: mode 0600" in out


def test_vpn_config_generic_is_one_secret_text(session):
    _ok(session["generic"])
    (text,) = (session["folder"] / "generic").iterdir()
    body = text.read_text()
    assert "Tunnel #1" in body and "Tunnel #2" in body, body[:400]
    assert all(key in body for key in TUNNEL_KEYS.values())
    assert text.stat().st_mode & 0o777 == 0o600


def test_up_twice_reports_no_changes(session):
    out = _ok(session["again"])
    assert "no changes" in out, out
    first = json.loads(session["outputs"].stdout)
    assert first["vpnConnectionId"] in out


def test_down_removes_the_stack(session):
    out = _ok(session["down"])
    record = json.loads(session["outputs"].stdout)
    assert "removed stack 'nordwind' from the simulator:" in out
    gone = session["outputs after down"]
    assert gone.returncode == 2 and "has no stack" in gone.stderr
    assert not (session["home"] / "stacks" / "nordwind.json").exists()
    assert record["vpcId"].startswith("vpc-")


def test_down_without_a_simulator_is_a_usage_error(tmp_path: Path):
    result = exchange("down", str(EXAMPLE), home=tmp_path / "none")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no simulator is running" in result.stderr


# -- the policy pack in front of `up` --------------------------------------------

OPEN_DATABASE = """\
import pulumi
import pulumi_aws as aws

vpc = aws.ec2.Vpc("open-vpc", cidr_block="10.9.0.0/16")
group = aws.ec2.SecurityGroup("open-db", vpc_id=vpc.id, description="db")
aws.vpc.SecurityGroupIngressRule(
    "open-db-mysql",
    security_group_id=group.id,
    ip_protocol="tcp",
    from_port=3306,
    to_port=3306,
    cidr_ipv4="0.0.0.0/0",
)
"""

UNEXPORTED_EGRESS = """\
import pulumi
import pulumi_aws as aws

vpc = aws.ec2.Vpc("egress-vpc", cidr_block="10.8.0.0/16")
subnet = aws.ec2.Subnet(
    "egress-public", vpc_id=vpc.id, cidr_block="10.8.0.0/24",
    availability_zone="eu-central-1a",
)
address = aws.ec2.Eip("egress-eip", domain="vpc")
aws.ec2.NatGateway(
    "egress-nat", allocation_id=address.allocation_id, subnet_id=subnet.id
)
"""


def _refused(tmp_path: Path, program: str, monkeypatch: pytest.MonkeyPatch):
    from exchange.config import load_config
    from simulator.cloud import SimulatedCloud
    from simulator.provisioning import PolicyRefused

    for name, value in TUNNEL_KEYS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "program.py"
    path.write_text(textwrap.dedent(program))
    cloud = SimulatedCloud(tmp_path / "sim", program=path)
    try:
        with pytest.raises(PolicyRefused) as refused:
            cloud.provision(load_config(EXAMPLE), config_path=EXAMPLE)
        ec2 = _ec2(cloud)
        created = [
            v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]
        ]
        return refused.value, created, cloud.recorded_customers()
    finally:
        cloud.stop()


def _ec2(cloud: Any) -> Any:
    from exchange.environment import simulator_session

    return simulator_session("eu-central-1").client(
        "ec2", endpoint_url=cloud.environment().aws_endpoint_url
    )


def test_a_database_port_open_to_the_world_stops_up_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    refused, created, recorded = _refused(tmp_path, OPEN_DATABASE, monkeypatch)
    (violation,) = refused.violations
    assert violation.policy == "no-open-database-port"
    assert violation.resource == "open-db-mysql"
    assert violation.fix
    assert created == [] and recorded == [], "nothing may be created"


def test_nat_gateways_without_exported_egress_ips_stop_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    refused, created, recorded = _refused(tmp_path, UNEXPORTED_EGRESS, monkeypatch)
    assert [v.policy for v in refused.violations] == ["egress-ips-exported"]
    assert "egressIps" in str(refused)
    assert created == [] and recorded == []


def test_up_prints_each_violation_with_policy_resource_and_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
):
    from exchange import cli
    from policies.exchange_policies import check_resource
    from simulator.cloud import SimulatedCloud
    from simulator.provisioning import PolicyRefused

    violations = check_resource(
        "aws:rds/instance:Instance",
        "orders-mysql",
        {"publiclyAccessible": True, "storageEncrypted": True, "engine": "mysql"},
    )

    def refuse(self, config, **kwargs):
        raise PolicyRefused(violations)

    monkeypatch.setattr(SimulatedCloud, "provision", refuse)
    monkeypatch.setenv("EXCHANGE_SIM_HOME", str(tmp_path / "sim"))
    for name, value in TUNNEL_KEYS.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["up", str(EXAMPLE)])
    out = capsys.readouterr().out
    assert code == cli.FAILED
    assert "policy violation: rds-not-public: orders-mysql:" in out
    assert "nothing provisioned: the policy pack refused the stack" in out
