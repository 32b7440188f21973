"""The data plane in network namespaces: one customer with all five options, then ten.

Targets (issue 5): `sim start` with one customer using all five options to
everything up and both tunnels established ≤ 5 s, `sim stop` ≤ 5 s; ten
customers in one simulator within this machine's 2 cores and 24 GB (time
and memory reported). Needs root; says so and does nothing otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.customers import EXAMPLE, ROOT, SECRETS, customer_file, exchange

CUSTOMERS = 10


def _memory_mib(home: Path) -> tuple[float, int]:
    """The resident memory of every process the simulator runs, and their count."""
    total_kib, count = 0, 0
    for process in json.loads((home / "processes.json").read_text()):
        try:
            status = Path(f"/proc/{process['pid']}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
                count += 1
    return total_kib / 1024, count


def _tunnels_up(home: Path) -> tuple[int, int]:
    from exchange.environment import Environment, simulator_session

    environment = Environment.load(home / "environment.json")
    up = total = 0
    for stack in environment.stacks.values():
        ec2 = simulator_session(stack.outputs["region"]).client(
            "ec2", endpoint_url=environment.aws_endpoint_url
        )
        (connection,) = ec2.describe_vpn_connections(
            VpnConnectionIds=[stack.outputs["vpnConnectionId"]]
        )["VpnConnections"]
        for telemetry in connection["VgwTelemetry"]:
            total += 1
            up += telemetry["Status"] == "UP"
    return up, total


def main() -> None:
    if os.geteuid() != 0:
        print("skipped: the data plane in namespaces needs root")
        return
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as scratch:
        folder = Path(scratch)
        shutil.copytree(EXAMPLE.parent / "responses", folder / "responses")
        env = {**os.environ, **SECRETS, "EXCHANGE_SIM_HOME": str(folder / "sim")}
        try:
            start = exchange("sim", "start", env=env)
            up = exchange("up", str(EXAMPLE), env=env)
            print(
                f"{'sim start + up multi-option (tunnels UP, commands)':<56}"
                f" {start + up:6.2f} s   (start {start:.2f} s, up {up:.2f} s)"
            )
            stop = exchange("sim", "stop", env=env)
            print(f"{'sim stop (one customer, all options)':<56} {stop:6.2f} s")
            # One command from nothing: `up` starts the simulator itself and
            # loads the program while the AWS API boots.
            alone = exchange("up", str(EXAMPLE), env=env)
            print(
                f"{'up multi-option on a stopped simulator (one command)':<56}"
                f" {alone:6.2f} s"
            )
            exchange("sim", "stop", env=env)

            exchange("sim", "start", env=env)
            durations = []
            for number in range(CUSTOMERS):
                path = customer_file(folder, number, "dp")
                durations.append(exchange("up", str(path), env=env))
            up_count, total = _tunnels_up(folder / "sim")
            memory, processes = _memory_mib(folder / "sim")
            print(
                f"{CUSTOMERS} customers, one after another (commands)".ljust(56)
                + f" {sum(durations):6.2f} s   first {durations[0]:.2f} s, "
                f"last {durations[-1]:.2f} s"
            )
            print(f"{'tunnels UP after the ten':<56} {up_count} of {total}")
            print(
                f"{'resident memory of the simulator processes':<56}"
                f" {memory:6.0f} MiB in {processes} processes"
            )
            stop = exchange("sim", "stop", env=env)
            print(f"{f'sim stop ({CUSTOMERS} customers)':<56} {stop:6.2f} s")
        finally:
            subprocess.run(
                [sys.executable, "-m", "exchange.cli", "sim", "stop"],
                cwd=ROOT,
                env=env,
                capture_output=True,
            )
