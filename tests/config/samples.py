"""Configurations and helpers shared by the configuration tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from exchange.config import Validation, validate_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "app-database.yaml"
INVALID_EXAMPLES = ROOT / "tests" / "examples" / "invalid"

# Keys that satisfy VPN-03..05; never a real customer's.
TUNNEL_KEYS = {
    "NORDWIND_TUNNEL1_PSK": "Kq7vTunnelOneKey_4711",
    "NORDWIND_TUNNEL2_PSK": "Zr2mTunnelTwoKey.0815",
}

# A configuration with no problem at all: like the example, but with a
# routable customer gateway address instead of a documentation one.
VALID = """\
version: 1
customer:
  slug: nordwind
  name: Nordwind Logistik GmbH
region: eu-central-1
vpc:
  cidr: 10.42.0.0/16
onPremises:
  networks:
    - 192.168.10.0/24
    - 192.168.20.0/24
  customerGatewayIp: 80.120.5.10
  routing: static
vpn:
  tunnels:
    - insideCidr: 169.254.21.0/30
      preSharedKey: { env: NORDWIND_TUNNEL1_PSK }
    - insideCidr: 169.254.21.4/30
      preSharedKey: { env: NORDWIND_TUNNEL2_PSK }
exchanges:
  - option: app-database
    name: orders
    engineVersion: "8.0"
    schema: orders
    clientNetworks:
      - 192.168.10.0/24
"""


def changed(old: str, new: str, text: str = VALID) -> str:
    """`text` with one fragment replaced; fails loudly if the fragment is absent."""
    assert old in text, f"{old!r} is not in the sample"
    return text.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the only line that contains `fragment`."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(numbers) == 1, f"{fragment!r} is on lines {numbers}"
    return numbers[0]


def validate_text(
    tmp_path: Path,
    text: str,
    environ: Mapping[str, str] | None = None,
    name: str = "customer.yaml",
) -> Validation:
    """Write `text` to a file and validate it, with the sample keys by default."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return validate_file(path, environ=TUNNEL_KEYS if environ is None else environ)


def found(validation: Validation, rule: str) -> list[tuple[str, int | None]]:
    """(severity, line) of every problem with this rule id."""
    return [(p.severity, p.line) for p in validation.problems if p.rule == rule]
