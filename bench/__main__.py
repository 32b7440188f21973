"""Benchmarks, run by `make bench` (never by the tests): `python -m bench [NAME]`."""

from __future__ import annotations

import sys

from bench import checks, dataplane, main_job, netns, provisioning, validation

BENCHMARKS = {
    "validation": validation.main,
    "main-job": main_job.main,
    "provisioning": provisioning.main,
    "netns": netns.main,
    "dataplane": dataplane.main,
    "checks": checks.main,
}


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        sys.exit(
            f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}"
        )
    for name in chosen:
        print(f"== {name}")
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
