"""Validation against check-jsonschema, on the same files with the same schema.

Two figures, each as a ratio to check-jsonschema (the tool a team would
otherwise use, which checks the schema only):
- cold start: one `exchange validate FILE` process, against one
  `check-jsonschema` process, on the example (target: at most 0.5 s, and no
  slower than check-jsonschema);
- 1,000 generated configurations in one invocation of each (target: at most
  3 s for exchange, semantic rules included).

check-jsonschema gets the schema bundled into one file, its parts embedded
by `$id`, so that it never tries to fetch them over the network; as root it
also runs in a network namespace of its own, where there is no network to
reach at all.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLE = ROOT / "examples" / "app-database.yaml"
KEYS = {
    "NORDWIND_TUNNEL1_PSK": "BenchTunnelOneKey01",
    "NORDWIND_TUNNEL2_PSK": "BenchTunnelTwoKey02",
}
FILES = 1000
COLD_RUNS = 7
BULK_RUNS = 3


def bundled_schema(folder: Path) -> Path:
    """The exchange schema with every other schema file embedded by its $id."""
    root = json.loads((SCHEMAS / "exchange.schema.json").read_text())
    parts = {
        path.stem: json.loads(path.read_text())
        for path in sorted(SCHEMAS.glob("*.schema.json"))
        if path.name != "exchange.schema.json"
    }
    root.setdefault("$defs", {}).update({f"embedded-{k}": v for k, v in parts.items()})
    target = folder / "exchange.bundled.schema.json"
    target.write_text(json.dumps(root))
    return target


def generate(folder: Path, count: int) -> list[Path]:
    """`count` valid configurations: the example with its numbers varied."""
    text = EXAMPLE.read_text()
    files = []
    for n in range(count):
        second, third = divmod(n, 200)
        varied = (
            text.replace("slug: nordwind", f"slug: customer-{n}")
            .replace("10.42.0.0/16", f"10.{third}.0.0/16")
            .replace("192.168.10.0/24", f"192.168.{second * 2 + 10}.0/24")
            .replace("192.168.20.0/24", f"192.168.{second * 2 + 11}.0/24")
        )
        path = folder / f"customer-{n:04d}.yaml"
        path.write_text(varied)
        files.append(path)
    return files


def _timed(command: list[str], runs: int) -> list[float]:
    env = {**os.environ, **KEYS}
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, env=env, timeout=600)
        durations.append(time.perf_counter() - started)
        if result.returncode != 0:
            tail = result.stdout.decode(errors="replace")[-400:]
            raise SystemExit(f"{command[0]} failed ({result.returncode}): {tail}")
    return durations


def _offline(command: list[str]) -> list[str]:
    """The command in a network namespace of its own, where that can be had."""
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        return [unshare, "--net", "--", *command]
    return command


def _row(label: str, ours: list[float], theirs: list[float]) -> None:
    mine, other = statistics.median(ours), statistics.median(theirs)
    print(
        f"{label:<34} exchange {mine:7.3f} s   check-jsonschema {other:7.3f} s   "
        f"ratio {mine / other:5.2f}"
    )


def main() -> None:
    exchange = [sys.executable, "-m", "exchange.cli", "validate"]
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if checker is None:
        raise SystemExit("check-jsonschema is not installed: run `make setup`")
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as scratch:
        folder = Path(scratch)
        schema = bundled_schema(folder)
        theirs_base = _offline([checker, "--schemafile", str(schema)])
        # Each tool has to accept the example, or the comparison means nothing.
        cold_ours = _timed([*exchange, str(EXAMPLE)], COLD_RUNS)
        cold_theirs = _timed([*theirs_base, str(EXAMPLE)], COLD_RUNS)
        _row("cold start, one file", cold_ours, cold_theirs)

        configs = folder / "configs"
        configs.mkdir()
        files = generate(configs, FILES)
        bulk_ours = _timed([*exchange, str(configs)], BULK_RUNS)
        bulk_theirs = _timed([*theirs_base, *map(str, files)], BULK_RUNS)
        _row(f"{FILES} files, one invocation", bulk_ours, bulk_theirs)
    print(
        "targets: cold start <= 0.5 s and ratio <= 1; "
        f"{FILES} files <= 3 s (exchange includes the semantic rules)"
    )
