"""The `exchange` command's exit-code contract and its messages for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE, ROOT, TUNNEL_KEYS, environ_with

INVALID = ROOT / "tests" / "examples" / "invalid"
EXCHANGE_VALIDATE = [sys.executable, "-m", "exchange.cli", "validate"]


def exchange(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        capture_output=True,
        text=True,
        env=environ_with(**env),
        timeout=120,
    )


def test_validate_exits_0_on_the_valid_example():
    result = exchange("validate", str(EXAMPLE), **TUNNEL_KEYS)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].endswith("valid (0 errors, 1 warning)")


def test_validate_exits_1_and_prints_file_line_column_and_rule_id():
    broken = INVALID / "vpn-09-reserved-inside-cidr.yaml"
    result = exchange("validate", str(broken), **TUNNEL_KEYS)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if "(VPN-09)" in line]
    assert errors, result.stdout
    location, _, rest = errors[0].partition(": ")
    file, line, column = location.rsplit(":", 2)
    assert file == str(broken) and line.isdigit() and column.isdigit()
    assert rest.startswith("vpn.tunnels[")


def test_validate_reports_every_problem_of_a_file_at_once(tmp_path: Path):
    text = EXAMPLE.read_text()
    text = text.replace("10.42.0.0/16", "10.42.0.0/12")  # VPC-01
    text = text.replace("169.254.21.4/30", "169.254.169.252/30")  # VPN-09
    text = text.replace(
        "customerGatewayIp: 203.0.113.10", "customerGatewayIp: 10.9.9.9"
    )
    config = tmp_path / "many.yaml"
    config.write_text(text)
    result = exchange("validate", str(config), **TUNNEL_KEYS)
    assert result.returncode == 1
    for rule in ("(VPC-01)", "(VPN-09)", "(CGW-01)"):
        assert rule in result.stdout, f"{rule} missing from:\n{result.stdout}"


def test_validate_exits_2_on_a_missing_file_without_a_traceback(tmp_path: Path):
    result = exchange("validate", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_exits_1_on_broken_yaml_naming_the_line(tmp_path: Path):
    config = tmp_path / "broken.yaml"
    config.write_text("version: 1\ncustomer: [unclosed\n")
    result = exchange("validate", str(config))
    assert result.returncode == 1
    assert f"{config}:" in result.stdout and "(YAML)" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_a_usage_mistake_exits_2():
    assert exchange("validate").returncode == 2
    assert exchange("frobnicate").returncode == 2


def test_validate_does_not_load_pulumi_or_boto3():
    probe = (
        "import sys; from exchange.cli import main; main(['validate', sys.argv[1]]);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'boto3', 'botocore', 'moto')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=environ_with(**TUNNEL_KEYS),
        timeout=60,
    )
    assert result.stdout.strip().endswith("[]"), result.stdout


def test_check_of_a_real_stack_runs_the_checks_of_the_vantage_point_it_is_given(
    tmp_path: Path,
):
    # Empty outputs: every check stops at the missing output, before any
    # connection or API call leaves this machine.
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    result = exchange(
        "check",
        str(EXAMPLE),
        "--stack-outputs",
        str(outputs),
        "--from",
        "outsider",
        "--format",
        "json",
        **TUNNEL_KEYS,
    )
    assert result.returncode == 1
    checks = json.loads(result.stdout)["checks"]
    assert {c["vantage"] for c in checks} == {"cloud-api", "outsider"}
    assert {c["code"] for c in checks} == {"NOT-PROVISIONED"}
    assert "Traceback" not in result.stderr


def test_check_of_a_real_stack_without_a_vantage_point_skips_the_live_checks(
    tmp_path: Path,
):
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    result = exchange(
        "check",
        str(EXAMPLE),
        "--stack-outputs",
        str(outputs),
        "--format",
        "json",
        **TUNNEL_KEYS,
    )
    live = [
        c for c in json.loads(result.stdout)["checks"] if c["vantage"] != "cloud-api"
    ]
    assert live and {c["status"] for c in live} == {"skip"}
    assert all("--from" in c["evidence"] for c in live)
    assert "cloud's API only" in result.stderr


def test_check_names_the_line_of_unreadable_stack_outputs(tmp_path: Path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"vpcId": ')
    result = exchange(
        "check", str(EXAMPLE), "--stack-outputs", str(outputs), **TUNNEL_KEYS
    )
    assert result.returncode == 2
    assert f"{outputs}:1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_without_the_pre_shared_keys_exits_2_and_provisions_nothing(tmp_path: Path):
    home = tmp_path / "sim"
    env = {k: v for k, v in environ_with(EXCHANGE_SIM_HOME=str(home)).items()}
    for name in TUNNEL_KEYS:
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "up", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "NORDWIND_TUNNEL1_PSK, NORDWIND_TUNNEL2_PSK not set" in result.stderr
    assert not home.exists(), "no simulator may be started for a refused run"


def test_check_of_a_missing_file_exits_2_without_a_traceback(tmp_path: Path):
    result = exchange("check", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_verbosity_may_follow_the_subcommand():
    result = exchange("validate", "-v", str(EXAMPLE), **TUNNEL_KEYS)
    assert result.returncode == 0, result.stderr


def test_a_folder_the_simulator_did_not_make_is_never_deleted(tmp_path: Path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = exchange("sim", "stop", EXCHANGE_SIM_HOME=str(precious))
    assert result.returncode == 2
    assert "not a simulator's folder" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_validate_takes_many_files_and_folders_and_reports_each():
    broken = INVALID / "vpn-09-reserved-inside-cidr.yaml"
    result = exchange("validate", str(ROOT / "examples"), str(broken), **TUNNEL_KEYS)
    assert result.returncode == 1
    summaries = [line for line in result.stdout.splitlines() if ": valid (" in line]
    assert any("app-database.yaml" in line for line in summaries)
    assert f"{broken}: invalid (1 error" in result.stdout
    assert "valid, 1 invalid" in result.stdout.splitlines()[-1]


def test_validate_reports_a_missing_file_and_still_validates_the_others(
    tmp_path: Path,
):
    result = exchange("validate", str(EXAMPLE), str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert f"{EXAMPLE}: valid" in result.stdout
    assert "absent.yaml" in result.stderr


def test_validate_json_lists_every_problem_with_its_position():
    import json

    broken = INVALID / "vpn-09-reserved-inside-cidr.yaml"
    result = exchange("validate", "--format", "json", str(broken), **TUNNEL_KEYS)
    assert result.returncode == 1
    (report,) = json.loads(result.stdout)["files"]
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert [(p["rule"], p["line"], p["path"]) for p in errors] == [
        ("VPN-09", 23, "vpn.tunnels[1].insideCidr")
    ]


def test_strict_makes_warnings_fail():
    assert exchange("validate", str(EXAMPLE), **TUNNEL_KEYS).returncode == 0
    strict = exchange("validate", "--strict", str(EXAMPLE), **TUNNEL_KEYS)
    assert strict.returncode == 1, "the example warns about its documentation IP"


def test_resolve_secrets_makes_an_unset_key_an_error(tmp_path: Path):
    env = {k: v for k, v in environ_with().items() if k not in TUNNEL_KEYS}
    result = subprocess.run(
        [*EXCHANGE_VALIDATE, "--resolve-secrets", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "NORDWIND_TUNNEL1_PSK is not set" in result.stdout
    assert "warning: vpn.tunnels[0].preSharedKey" not in result.stdout
