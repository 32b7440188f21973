"""The terminal report: a table of the checks, the evidence and hint of each."""

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
    """One row per check (status, id, where it ran from, time), then its evidence.

    A warning, failure or error adds its diagnosis code, layer and hint.
    """
    id_width = max((len(r.id) for r in results), default=0)
    vantage_width = max((len(r.vantage) for r in results), default=0)
    indent = " " * 7
    for result in results:
        out.write(
            f"{_LABELS[result.status]:<5}  {result.id:<{id_width}}  "
            f"{result.vantage:<{vantage_width}}  {result.duration_s * 1000:>6.0f} ms  "
            f"{result.title}\n"
        )
        out.write(f"{indent}{result.evidence}\n")
        if result.status is not Status.PASS and result.hint:
            code = f"[{result.code}, {result.layer}] " if result.code else ""
            out.write(f"{indent}{code}hint: {result.hint}\n")
    _print_exchanges(results, out)
    counts = Counter(r.status for r in results)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    out.write(f"{len(results)} checks: {summary}\n")


def _print_exchanges(results: list[CheckResult], out: TextIO) -> None:
    """Per exchange: proven or not, and from which vantage points."""
    by_exchange: dict[str, list[CheckResult]] = {}
    for result in results:
        if result.exchange is not None:
            by_exchange.setdefault(result.exchange, []).append(result)
    if not by_exchange:
        return
    width = max(len(name) for name in by_exchange)
    out.write("exchanges:\n")
    for name, checks in by_exchange.items():
        vantages = ", ".join(dict.fromkeys(r.vantage for r in checks))
        not_passed = [r for r in checks if r.status is not Status.PASS]
        verdict = (
            "proven"
            if not not_passed
            else f"NOT proven ({len(not_passed)} of {len(checks)} checks did not pass)"
        )
        out.write(f"  {name:<{width}}  {verdict}, from {vantages}\n")


def exit_code(results: list[CheckResult], *, allow_warnings: bool = False) -> int:
    """0 when every check passed (warnings too, if allowed), else 1.

    A skipped check proved nothing, so it does not pass.
    """
    allowed = {Status.PASS, Status.WARN} if allow_warnings else {Status.PASS}
    return 0 if all(r.status in allowed for r in results) else 1
