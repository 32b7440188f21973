"""Fixtures shared by the unit and end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "app-database.yaml"

# Keys that satisfy VPN-03..05; never a real customer's.
TUNNEL_KEYS = {
    "NORDWIND_TUNNEL1_PSK": "Kq7vTunnelOneKey_4711",
    "NORDWIND_TUNNEL2_PSK": "Zr2mTunnelTwoKey.0815",
}


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
