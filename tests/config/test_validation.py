"""The public API: validate_file, load_config and the Validation they give."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exchange.config import (
    InvalidConfig,
    UnreadableFile,
    load_config,
    validate_file,
)
from exchange.config.model import ExchangeConfig

from .samples import EXAMPLE, ROOT, TUNNEL_KEYS, VALID, changed, validate_text


def test_valid_file_gives_the_typed_configuration(tmp_path):
    validation = validate_text(tmp_path, VALID)
    assert validation.ok
    assert validation.problems == []
    assert isinstance(validation.config, ExchangeConfig)
    assert validation.document is not None


def test_invalid_file_gives_no_configuration(tmp_path):
    validation = validate_text(tmp_path, changed("169.254.21.4/30", "169.254.21.0/30"))
    assert not validation.ok
    assert validation.config is None
    assert [p.rule for p in validation.errors] == ["VPN-11"]


def test_schema_problems_stop_the_rules(tmp_path):
    text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.1/16\n  extra: 1")
    validation = validate_text(tmp_path, text)
    assert {p.rule for p in validation.problems} == {"SCHEMA"}


def test_load_error_is_the_only_problem(tmp_path):
    validation = validate_text(tmp_path, "a: 1\na: 2\n")
    assert [(p.rule, p.line) for p in validation.problems] == [("YAML", 2)]
    assert validation.document is None


def test_yaml_1_1_warnings_come_with_the_other_problems(tmp_path):
    text = changed("  routing: static", "  routing: static\n  bgpAsn: 065001")
    validation = validate_text(tmp_path, text)
    assert validation.ok
    assert [p.rule for p in validation.warnings] == ["YAML-1.1"]


def test_problems_are_sorted_by_position(tmp_path):
    text = changed("169.254.21.4/30", "169.254.21.0/30")
    text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.1/16", text)
    validation = validate_text(tmp_path, text, environ={})
    positions = [(p.line, p.col) for p in validation.problems]
    assert positions == sorted(positions)
    assert len(positions) == 4


def test_report_formats_each_problem_against_the_file(tmp_path):
    validation = validate_text(tmp_path, changed("80.120.5.10", "10.0.0.1"))
    (line,) = validation.report()
    assert line.startswith(f"{tmp_path / 'customer.yaml'}:12:22: ")
    assert line.endswith("(CGW-01)")


def test_missing_file_raises_unreadable_file(tmp_path):
    with pytest.raises(UnreadableFile):
        validate_file(tmp_path / "absent.yaml")


def test_load_config_returns_the_configuration_of_a_valid_file():
    config = load_config(EXAMPLE, environ=TUNNEL_KEYS)
    assert config.customer.slug == "nordwind"
    assert config.app_databases()[0].port == 3306


def test_load_config_raises_invalid_config_with_the_validation(tmp_path):
    path = tmp_path / "customer.yaml"
    path.write_text(changed("80.120.5.10", "10.0.0.1"))
    with pytest.raises(InvalidConfig) as caught:
        load_config(path, environ=TUNNEL_KEYS)
    assert caught.value.validation.errors[0].rule == "CGW-01"
    assert "has 1 error:" in str(caught.value)
    assert "(CGW-01)" in str(caught.value)


def test_load_config_accepts_warnings():
    assert load_config(EXAMPLE, environ={}).vpc.private_subnets()


def test_validating_imports_no_cloud_sdk_and_no_other_part():
    script = (
        "import sys; from exchange.config import validate_file; "
        f"validate_file({str(EXAMPLE)!r}); "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'pulumi', 'pulumi_aws', 'boto3', 'botocore', "
        "'moto', 'infra', 'simulator', 'checks'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
