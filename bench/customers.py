"""What the provisioning and data-plane benchmarks share: the multi-option
example as many customers, their secrets, and a timed `exchange` command."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "multi-option.yaml"
SECRETS = {
    "NORDWIND_TUNNEL1_PSK": "BenchTunnelOneKey01",
    "NORDWIND_TUNNEL2_PSK": "BenchTunnelTwoKey02",
    "NORDWIND_SHIPMENTS_CLIENT_SECRET": "bench-client-secret-0001",
    "NORDWIND_ERP_API_KEY": "bench-api-key-0002",
}


def exchange(*args: str, env: dict[str, str]) -> float:
    """Run `exchange ARGS` to success; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def customer_file(folder: Path, number: int, prefix: str) -> Path:
    """The example as customer `<prefix><number>`, with a gateway address of its own."""
    slug = f"{prefix}{number:02d}"
    text = EXAMPLE.read_text().replace("slug: nordwind", f"slug: {slug}")
    text = text.replace(
        "customerGatewayIp: 203.0.113.10", f"customerGatewayIp: 192.0.2.{number + 1}"
    )
    path = folder / f"{slug}.yaml"
    path.write_text(text)
    return path
