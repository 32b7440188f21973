"""Run planned checks concurrently, each within its own timeout.

Every check runs in a daemon thread of its own, started together; the runner
waits for each until its deadline and then reports it as an error. A check
that hangs past its deadline is abandoned: as a daemon thread it cannot keep
the command from exiting, so one dead endpoint costs at most the longest
timeout of the plan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pymysql
from botocore.exceptions import BotoCoreError, ClientError

from checks import diagnosis as dx
from checks.plan import CLOUD_API, PlannedCheck
from checks.registry import CHECKS_BY_KIND
from checks.result import CheckResult, Outcome, errored, failed, skipped
from checks.target import MissingOutput, Target

log = logging.getLogger("checks")


@dataclass
class _Run:
    check: PlannedCheck
    thread: threading.Thread = field(init=False)
    outcome: Outcome | None = None
    duration_s: float = 0.0


def run_checks(
    target: Target,
    planned: list[PlannedCheck],
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[PlannedCheck], None] | None = None,
) -> list[CheckResult]:
    """Results in plan order; `on_result` hears of each as it is collected."""
    runs = []
    for check in planned:
        run = _Run(check)
        run.thread = threading.Thread(
            target=_execute, args=(target, run), daemon=True, name=f"check {check.id}"
        )
        runs.append(run)
    started = time.monotonic()
    for run in runs:
        if on_start is not None:
            on_start(run.check)
        run.thread.start()
    results = []
    for run in runs:
        run.thread.join(max(0.0, run.check.timeout_s - (time.monotonic() - started)))
        outcome = run.outcome
        duration = run.duration_s
        if outcome is None:
            outcome = errored(
                f"no verdict within {run.check.timeout_s:g} s", "", dx.CHECK_TIMEOUT
            )
            duration = time.monotonic() - started
        diagnosis = outcome.diagnosis
        results.append(
            CheckResult(
                id=run.check.id,
                title=run.check.title,
                kind=run.check.kind,
                exchange=run.check.exchange,
                vantage=run.check.vantage,
                status=outcome.status,
                evidence=outcome.evidence,
                hint=outcome.hint,
                duration_s=duration,
                code=diagnosis.code if diagnosis else None,
                layer=diagnosis.layer.value if diagnosis else None,
            )
        )
        log.info("%s: %s in %.3f s", run.check.id, outcome.status.value, duration)
        if on_result is not None:
            on_result(results[-1])
    return results


def _execute(target: Target, run: _Run) -> None:
    started = time.monotonic()
    outcome = _outcome(target, run.check)
    run.duration_s = time.monotonic() - started
    run.outcome = outcome


def _outcome(target: Target, check: PlannedCheck) -> Outcome:
    if check.vantage != CLOUD_API:
        unavailable = target.unavailable(check.vantage)
        if unavailable is not None:
            return skipped(unavailable)
    function = CHECKS_BY_KIND[check.kind]
    try:
        return function(target, check)
    except MissingOutput as missing:
        return errored(
            str(missing), "provision the stack (exchange up) first", dx.NOT_PROVISIONED
        )
    except (ClientError, BotoCoreError) as error:
        return errored(f"the cloud API refused: {error}", "", dx.API_ERROR)
    except pymysql.MySQLError as error:
        return failed(
            f"the database answered with an error: {error}", "", dx.DATABASE_ERROR
        )
    except NotImplementedError as gap:
        return skipped(str(gap))
    except Exception as error:
        # A check must never take the whole report down with it.
        log.debug("check %s raised", check.id, exc_info=True)
        return errored(
            f"the check itself failed: {type(error).__name__}: {error}",
            "this is a bug in the check; run with -vv for the traceback",
            dx.CHECK_ERROR,
        )
