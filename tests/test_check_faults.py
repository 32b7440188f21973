"""Each fault the simulator injects fails its own checks, with its own diagnosis.

One simulator for the module, with the multi-option example in network
namespaces (root only). First every check passes; then each fault kind is
injected in turn, `exchange check --format json` runs from every vantage
point, and the test asserts exactly which checks fail (or warn) and with
which diagnosis code: the check that names the cause, the checks that fail
because of it, and that every other check still passes. Each fault is healed
before the next, also when its test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from exchange.environment import Environment, simulator_session
from tests.conftest import MULTI, multi_option_simulator

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

# The checks that see the database whose client network, security group or
# server a fault takes away (the first app database, catalogue) ...
CATALOGUE_LIVE = ("reach", "round-trip", "tls-required")
# ... and what the platform reaches over the internet, through the whitelist.
WHITELISTED = (
    "remote.finance.reach",
    "whitelist.api.nordwind.example:443.platform",
    "whitelist.erp.nordwind.example:443.platform",
    "web.shipments.round-trip",
    "web.results.round-trip",
)


def _databases(code: str, names=("catalogue", "orders"), checks=CATALOGUE_LIVE):
    return {f"db.{n}.{c}": code for n in names for c in checks}


# fault -> {check id: the diagnosis code it must carry}; every check not
# named here must pass.
EXPECTED: dict[str, dict[str, str]] = {
    "tunnel-down": {"vpn.tunnels": "TUNNEL-REDUNDANCY-LOST"},
    "wrong-key": {"vpn.tunnels": "IKE-AUTH-FAILED"},
    "tunnels-down": {
        "vpn.tunnels": "TUNNELS-DOWN",
        "db.catalogue.path": "TUNNELS-DOWN",
        "db.orders.path": "TUNNELS-DOWN",
        "remote.warehouse.path": "TUNNELS-DOWN",
        **_databases("CONNECT-TIMEOUT"),
        "remote.warehouse.target-health": "TARGET-UNHEALTHY",
        "remote.warehouse.round-trip": "TARGET-UNHEALTHY",
    },
    "sg-missing-client-network": {
        "db.catalogue.security-group": "SG-DENIES",
        "db.catalogue.path": "SG-DENIES",
        **_databases("CONNECT-TIMEOUT", names=("catalogue",)),
    },
    "route-removed": {
        "vpn.routes": "ROUTE-MISSING",
        "db.catalogue.path": "ROUTE-MISSING",
        "db.orders.path": "ROUTE-MISSING",
        **_databases("CONNECT-TIMEOUT"),
    },
    "mtu-black-hole": _databases(
        "MTU-BLACK-HOLE", checks=("round-trip", "tls-required")
    ),
    "database-stopped": _databases("DB-NOT-RUNNING", names=("catalogue",)),
    "whitelist-missing-egress-ip": dict.fromkeys(WHITELISTED, "WHITELIST-DROPS"),
    "nat-ip-changed": {
        "whitelist.egress-ip-seen": "EGRESS-IP-NOT-WHITELISTED",
        **dict.fromkeys(WHITELISTED, "WHITELIST-DROPS"),
    },
    "web-service-slow": {"web.shipments.round-trip": "TOO-SLOW"},
    "web-service-errors": {"web.shipments.round-trip": "HTTP-STATUS"},
}


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("faults") / "sim"
    with multi_option_simulator(home) as run:
        environment = Environment.load(home / "environment.json")
        yield {"run": run, "environment": environment, "home": home}


def _check(simulator, junit: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """Run every check: the exit code and the JSON report's checks by id.

    The JUnit file written beside it must parse, and count as many failures
    and errors as the report has.
    """
    result = simulator["run"](
        "check", str(MULTI), "--format", "json", "--junit", str(junit)
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    (suite,) = JUnitXml.fromfile(str(junit))
    assert suite.tests == len(report["checks"])
    assert suite.failures == report["totals"]["fail"]
    assert suite.errors == report["totals"]["error"]
    return result.returncode, {c["id"]: c for c in report["checks"]}


def _not_passed(checks: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    return {i: c["code"] for i, c in checks.items() if c["status"] != "pass"}


def _differing(checks: dict[str, dict[str, Any]], fault: str) -> str:
    """What each check that is not as expected saw, for the failure's message."""
    expected = EXPECTED.get(fault, {})
    lines = []
    for check_id, check in checks.items():
        wanted = expected.get(check_id)
        seen = check["code"] if check["status"] != "pass" else None
        if (check["status"] == "pass") != (wanted is None) or seen != wanted:
            lines.append(
                f"{check_id}: {check['status']} {seen} (expected {wanted}): "
                f"{check['evidence']}"
            )
    return "\n".join(lines)


def _clients(simulator):
    session = simulator_session("eu-central-1")
    url = simulator["environment"].aws_endpoint_url
    return session.client("ec2", endpoint_url=url), session.client(
        "elbv2", endpoint_url=url
    )


def _settled(
    simulator, *, tunnels: list[str], healthy: bool, timeout_s=30.0, steady_s=2.0
) -> bool:
    """Until the telemetry shows `tunnels` and the targets' health is `healthy`.

    Both must hold for `steady_s`: while traffic moves to the other tunnel,
    the load balancer's probes may fail once and its target flap.
    """
    ec2, elbv2 = _clients(simulator)
    outputs = simulator["environment"].stacks["nordwind"].outputs
    arn = outputs["remoteDatabases"]["warehouse"]["targetGroupArn"]
    deadline = time.monotonic() + timeout_s
    since = None
    while time.monotonic() < deadline:
        (connection,) = ec2.describe_vpn_connections(
            VpnConnectionIds=[outputs["vpnConnectionId"]]
        )["VpnConnections"]
        states = [t["Status"] for t in connection["VgwTelemetry"]]
        (target,) = elbv2.describe_target_health(TargetGroupArn=arn)[
            "TargetHealthDescriptions"
        ]
        if states == tunnels and (target["TargetHealth"]["State"] == "healthy") is (
            healthy
        ):
            since = since or time.monotonic()
            if time.monotonic() - since >= steady_s:
                return True
        else:
            since = None
        time.sleep(0.2)
    return False


# What each fault's symptoms need before the check sees them all.
SETTLED = {
    "tunnel-down": {"tunnels": ["DOWN", "UP"], "healthy": True},
    "wrong-key": {"tunnels": ["DOWN", "UP"], "healthy": True},
    "tunnels-down": {"tunnels": ["DOWN", "DOWN"], "healthy": False},
}


def test_every_check_passes_before_any_fault(simulator, tmp_path: Path):
    code, checks = _check(simulator, tmp_path / "report.xml")
    assert _not_passed(checks) == {}, _differing(checks, "none")
    assert code == 0
    # Every exchange of the example is proven live, from the party that uses it.
    live = {(c["exchange"], c["vantage"]) for c in checks.values()}
    for exchange, vantage in [
        ("catalogue", "onprem"),
        ("orders", "onprem"),
        ("warehouse", "platform"),
        ("finance", "platform"),
        ("invoices", "onprem"),
        ("reports", "onprem"),
        ("shipments", "platform"),
        ("results", "platform"),
    ]:
        assert (exchange, vantage) in live


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_a_fault_fails_its_checks_and_no_other(simulator, fault, tmp_path: Path):
    injected = simulator["run"]("sim", "fault", fault)
    assert injected.returncode == 0, injected.stdout + injected.stderr
    try:
        if fault in SETTLED:
            assert _settled(simulator, **SETTLED[fault])
        code, checks = _check(simulator, tmp_path / "report.xml")
        assert _not_passed(checks) == EXPECTED[fault], _differing(checks, fault)
        assert code == 1
        for check_id in EXPECTED[fault]:
            assert checks[check_id]["layer"], check_id
            assert checks[check_id]["hint"], check_id
    finally:
        healed = simulator["run"]("sim", "heal")
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert _settled(simulator, tunnels=["UP", "UP"], healthy=True)
