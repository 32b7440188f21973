"""Fixtures shared by the unit and end-to-end tests."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.config.samples import EXAMPLE, ROOT, TUNNEL_KEYS

__all__ = [
    "EXAMPLE",
    "MULTI",
    "ROOT",
    "TUNNEL_KEYS",
    "WEB_SECRETS",
    "environ_with",
    "multi_option_simulator",
]

MULTI = ROOT / "examples" / "multi-option.yaml"
# The multi-option example's web services' credentials, for the simulator.
WEB_SECRETS = {
    "NORDWIND_SHIPMENTS_CLIENT_SECRET": "Shipments-Client-Secret-7731",
    "NORDWIND_ERP_API_KEY": "Erp-Api-Key-4402-abcdef",
}


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may use, or go looking for, real AWS credentials.

    Dummy keys stop boto3 from searching the machine's profiles, and with
    the instance-metadata lookup off it never probes 169.254.169.254.
    """
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Collect the garbage a Pulumi run leaves, before pytest parses source again.

    On CPython 3.11.7 a garbage collection in the middle of `ast.parse` can
    corrupt the parser's recursion count (gh-106905, fixed in 3.11.8); a
    Pulumi run leaves much garbage with finalizers, and pytest parses source
    to report failures and at its summary ("AST constructor recursion depth
    mismatch").
    """
    if item.get_closest_marker("pulumi") is not None:
        gc.collect()


@pytest.fixture
def tunnel_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in TUNNEL_KEYS.items():
        monkeypatch.setenv(name, value)
    return dict(TUNNEL_KEYS)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """An in-process, completed moto server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    from simulator.aws import complete_moto

    complete_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def sim_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sim"
    monkeypatch.setenv("EXCHANGE_SIM_HOME", str(home))
    return home


def environ_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


Run = Callable[..., subprocess.CompletedProcess]


@contextlib.contextmanager
def multi_option_simulator(home: Path) -> Iterator[Run]:
    """The multi-option example provisioned on a simulator in `home`.

    Yields `run(*args)`, the `exchange` command with the example's secrets
    and that simulator; stops the simulator afterwards, also on failure.
    """
    env = {**os.environ, **TUNNEL_KEYS, **WEB_SECRETS, "EXCHANGE_SIM_HOME": str(home)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "exchange.cli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    up = run("up", str(MULTI))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield run
    finally:
        stop = run("sim", "stop")
        assert stop.returncode == 0, stop.stdout + stop.stderr
