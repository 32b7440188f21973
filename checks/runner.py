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

from checks.plan import PlannedCheck
from checks.registry import CHECKS_BY_KIND
from checks.result import CheckResult, Outcome, Status
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
        run.thread.start()
    results = []
    for run in runs:
        run.thread.join(max(0.0, run.check.timeout_s - (time.monotonic() - started)))
        outcome = run.outcome
        duration = run.duration_s
        if outcome is None:
            outcome = Outcome(
                Status.ERROR,
                f"no verdict within {run.check.timeout_s:.0f} s",
                "the endpoint or the cloud API does not answer; run again with -v",
            )
            duration = time.monotonic() - started
        results.append(
            CheckResult(
                id=run.check.id,
                title=run.check.title,
                vantage=run.check.vantage,
                status=outcome.status,
                evidence=outcome.evidence,
                hint=outcome.hint,
                duration_s=duration,
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
    function = CHECKS_BY_KIND[check.kind]
    try:
        return function(target, check)
    except MissingOutput as missing:
        return Outcome(
            Status.ERROR, str(missing), "provision the stack (exchange up) first"
        )
    except (ClientError, BotoCoreError) as error:
        return Outcome(
            Status.ERROR,
            f"the cloud API refused: {error}",
            "check the credentials and region, or that the simulator is running",
        )
    except pymysql.MySQLError as error:
        return Outcome(
            Status.FAIL,
            f"the database answered with an error: {error}",
            "the master user may lack privileges, or the server is misconfigured",
        )
    except NotImplementedError as gap:
        return Outcome(Status.SKIP, str(gap))
    except Exception as error:
        # A check must never take the whole report down with it.
        log.debug("check %s raised", check.id, exc_info=True)
        return Outcome(
            Status.ERROR,
            f"the check itself failed: {type(error).__name__}: {error}",
            "this is a bug in the check; run with -vv for the traceback",
        )
