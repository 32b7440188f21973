"""The main job's stages: validate, provision on a fresh simulator, check.

Each figure is the median and worst of several runs of the whole command,
plus the peak memory of one `exchange` command.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "app-database.yaml"
KEYS = {
    "NORDWIND_TUNNEL1_PSK": "BenchTunnelOneKey01",
    "NORDWIND_TUNNEL2_PSK": "BenchTunnelTwoKey02",
}


def measure(label: str, runs: int, action: Callable[[], None]) -> None:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    median, worst = statistics.median(durations), max(durations)
    unit, scale = ("ms", 1000) if worst < 1 else ("s", 1)
    print(
        f"{label:<44} median {median * scale:8.2f} {unit}   "
        f"worst {worst * scale:8.2f} {unit}   ({runs} runs)"
    )


def exchange(*args: str, home: Path) -> None:
    env = {**os.environ, **KEYS, "EXCHANGE_SIM_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def main() -> None:
    from exchange.config import validate_file

    os.environ.update(KEYS)
    measure("validate examples/app-database.yaml", 200, lambda: validate_file(EXAMPLE))

    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as folder:
        homes = iter(Path(folder) / f"sim-{n}" for n in range(100))
        current: list[Path] = []

        def up_on_fresh_simulator() -> None:
            home = next(homes)
            current.append(home)
            exchange("up", str(EXAMPLE), home=home)

        try:
            measure(
                "exchange up (new simulator, whole command)", 3, up_on_fresh_simulator
            )
            home = current[-1]
            measure(
                "exchange check (6 checks, whole command)",
                5,
                lambda: exchange("check", str(EXAMPLE), home=home),
            )
        finally:
            for home in current:
                exchange("sim", "stop", home=home)

    # The largest resident set of one `exchange` command. The simulator's
    # servers are detached from it, so they are not counted here.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{'peak memory of one exchange command':<44} {peak_kib / 1024:8.1f} MiB")
