"""The terminal report: one line per check, a hint under each failure."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from checks.result import CheckResult, Status

_LABELS = {
    Status.PASS: "PASS",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.SKIP: "SKIP",
    Status.ERROR: "ERROR",
}


def print_results(results: list[CheckResult], out: TextIO) -> None:
    width = max((len(r.id) for r in results), default=0)
    for result in results:
        out.write(
            f"{_LABELS[result.status]:<5}  {result.id:<{width}}  {result.title}\n"
            f"{'':<5}  {'':<{width}}  {result.evidence} "
            f"[{result.vantage}, {result.duration_s * 1000:.0f} ms]\n"
        )
        if result.hint and result.status is not Status.PASS:
            out.write(f"{'':<5}  {'':<{width}}  hint: {result.hint}\n")
    counts = Counter(r.status for r in results)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    out.write(f"{len(results)} checks: {summary}\n")


def exit_code(results: list[CheckResult], *, allow_warnings: bool = False) -> int:
    """0 when every check passed (warnings too, if allowed), else 1."""
    allowed = {Status.PASS, Status.WARN} if allow_warnings else {Status.PASS}
    return 0 if all(r.status in allowed for r in results) else 1
