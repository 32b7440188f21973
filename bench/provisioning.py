"""Provisioning on a running simulator: one multi-option customer, then fifty.

Targets (issue 4): `exchange up` of the multi-option example on a running
simulator ≤ 3 s; fifty customers one after another in one simulator ≤ 60 s.
The fifty are provisioned without their data planes (no MariaDB stand-ins),
since the figure is about the program and the simulated AWS; the single
customer is measured as the whole command, with the data plane this
machine builds (namespaces as root) and with the loopback one.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.customers import EXAMPLE, SECRETS, customer_file, exchange

CUSTOMERS = 50


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as scratch:
        folder = Path(scratch)
        # The response schemas the example names, relative to the file.
        shutil.copytree(EXAMPLE.parent / "responses", folder / "responses")
        env = {**os.environ, **SECRETS, "EXCHANGE_SIM_HOME": str(folder / "sim")}
        os.environ.update(env)
        try:
            exchange("sim", "start", env=env)
            first = exchange("up", str(EXAMPLE), env=env)
            again = exchange("up", str(EXAMPLE), env=env)
            down = exchange("down", str(EXAMPLE), env=env)
            print(
                f"{'exchange up multi-option (command, new stack)':<52} {first:6.2f} s"
            )
            print(f"{'exchange up multi-option again (no changes)':<52} {again:6.2f} s")
            print(f"{'exchange down multi-option':<52} {down:6.2f} s")
            # The same with the loopback data plane: the program and the
            # simulated AWS, without building the namespaces.
            loopback = {**env, "EXCHANGE_SIM_DATA_PLANE": "loopback"}
            first = exchange("up", str(EXAMPLE), env=loopback)
            exchange("down", str(EXAMPLE), env=loopback)
            print(
                f"{'exchange up multi-option (loopback data plane)':<52} {first:6.2f} s"
            )

            from exchange.config import load_config
            from simulator.cloud import SimulatedCloud

            cloud = SimulatedCloud(folder / "sim")
            durations = []
            started = time.perf_counter()
            for number in range(CUSTOMERS):
                path = customer_file(folder, number, "bench")
                began = time.perf_counter()
                cloud.provision(load_config(path), config_path=path, data_plane=False)
                durations.append(time.perf_counter() - began)
            total = time.perf_counter() - started
            print(
                f"{CUSTOMERS} customers one after another (in-process)".ljust(52)
                + f" {total:6.2f} s   median {statistics.median(durations):.2f} s"
                f"   first {durations[0]:.2f} s   last {durations[-1]:.2f} s"
            )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{'peak RSS of the provisioning process':<52} {peak:6.0f} MiB")
        finally:
            exchange("sim", "stop", env=env)
