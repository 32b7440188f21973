"""--resolve-secrets asks Secrets Manager whether `{ secret: NAME }` exists.

AWS is moto, in-process: no request leaves this machine.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from exchange.config import validate_file

from .samples import EXAMPLE, TUNNEL_KEYS

REGION = "eu-central-1"


@pytest.fixture
def simulated_aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def _with_secret_reference(tmp_path, name: str):
    text = EXAMPLE.read_text().replace(
        "{ env: NORDWIND_TUNNEL1_PSK }", "{ secret: " + name + " }"
    )
    path = tmp_path / "customer.yaml"
    path.write_text(text)
    return path


def _sec_02(validation):
    return [(p.severity, p.message) for p in validation.problems if p.rule == "SEC-02"]


def test_an_existing_secret_resolves(simulated_aws, tmp_path):
    simulated_aws.create_secret(Name="nordwind/tunnel1", SecretString="Kq7vKeyOne1")
    path = _with_secret_reference(tmp_path, "nordwind/tunnel1")
    validation = validate_file(path, environ=TUNNEL_KEYS, resolve_secrets=True)
    assert _sec_02(validation) == []


def test_a_missing_secret_is_an_error_naming_the_region(simulated_aws, tmp_path):
    path = _with_secret_reference(tmp_path, "nordwind/absent")
    validation = validate_file(path, environ=TUNNEL_KEYS, resolve_secrets=True)
    ((severity, message),) = _sec_02(validation)
    assert severity == "error"
    assert "nordwind/absent" in message and REGION in message
    assert "no such secret" in message


def test_without_resolving_a_secret_reference_only_warns(tmp_path):
    path = _with_secret_reference(tmp_path, "nordwind/tunnel1")
    validation = validate_file(path, environ=TUNNEL_KEYS)
    assert [severity for severity, _ in _sec_02(validation)] == ["warning"]
