"""Run planned checks concurrently, each within its own timeout."""

from __future__ import annotations

import concurrent.futures
import logging
import time

from botocore.exceptions import BotoCoreError, ClientError

from checks.plan import PlannedCheck
from checks.registry import CHECKS_BY_KIND
from checks.result import CheckResult, Outcome, Status
from checks.target import Target

log = logging.getLogger("checks")

MAX_WORKERS = 8


def run_checks(target: Target, planned: list[PlannedCheck]) -> list[CheckResult]:
    """Results in plan order; a check that hangs costs at most its timeout."""
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=MAX_WORKERS, thread_name_prefix="check"
    )
    submitted = time.perf_counter()
    futures = {p.id: pool.submit(_timed, target, p) for p in planned}
    results = []
    for check in planned:
        # Every deadline counts from the moment all checks were submitted
        # together, so a hung check costs at most its own timeout overall.
        remaining = check.timeout_s - (time.perf_counter() - submitted)
        try:
            outcome, duration = futures[check.id].result(timeout=max(0.0, remaining))
        except concurrent.futures.TimeoutError:
            outcome = Outcome(
                Status.ERROR,
                f"no verdict within {check.timeout_s:.0f} s",
                "the endpoint or the cloud API hangs; run again with -v for details",
            )
            duration = time.perf_counter() - submitted
        results.append(
            CheckResult(
                id=check.id,
                title=check.title,
                vantage=check.vantage,
                status=outcome.status,
                evidence=outcome.evidence,
                hint=outcome.hint,
                duration_s=duration,
            )
        )
        log.debug("%s: %s in %.3f s", check.id, outcome.status.value, duration)
    # Do not wait for a hung check's thread: its socket timeouts end it.
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(target: Target, check: PlannedCheck) -> tuple[Outcome, float]:
    started = time.perf_counter()
    outcome = _run_one(target, check)
    return outcome, time.perf_counter() - started


def _run_one(target: Target, check: PlannedCheck) -> Outcome:
    function = CHECKS_BY_KIND[check.kind]
    try:
        return function(target, check)
    except KeyError as missing:
        return Outcome(
            Status.ERROR,
            f"missing stack output: {missing.args[0]}",
            "provision the stack (exchange up) before checking it",
        )
    except (ClientError, BotoCoreError) as error:
        return Outcome(
            Status.ERROR,
            f"the cloud API refused: {error}",
            "check the credentials and region, or that the simulator is running",
        )
    except NotImplementedError as gap:
        return Outcome(Status.SKIP, str(gap))
