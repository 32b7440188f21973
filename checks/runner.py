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

# The kinds that write a probe and remove it, and how long the run waits,
# after the last verdict, for those still removing theirs.
WRITES = {"mysql.roundtrip", "files.roundtrip", "http.roundtrip"}
CLEANUP_GRACE_S = 5.0


@dataclass
class _Run:
    check: PlannedCheck
    on_result: Callable[[CheckResult], None] | None
    thread: threading.Thread = field(init=False)
    result: CheckResult | None = None
    # Set once, by whichever comes first: the check's verdict or its deadline.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settle(self, outcome: Outcome, duration_s: float) -> None:
        """Record the verdict, unless the deadline came first; tell on_result."""
        with self.lock:
            if self.result is not None:
                return
            diagnosis = outcome.diagnosis
            self.result = CheckResult(
                id=self.check.id,
                title=self.check.title,
                kind=self.check.kind,
                exchange=self.check.exchange,
                vantage=self.check.vantage,
                status=outcome.status,
                evidence=outcome.evidence,
                hint=outcome.hint,
                duration_s=duration_s,
                code=diagnosis.code if diagnosis else None,
                layer=diagnosis.layer.value if diagnosis else None,
            )
        log.info("%s: %s in %.3f s", self.check.id, outcome.status.value, duration_s)
        if self.on_result is not None:
            self.on_result(self.result)


def run_checks(
    target: Target,
    planned: list[PlannedCheck],
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[PlannedCheck], None] | None = None,
) -> list[CheckResult]:
    """Results in plan order; `on_result` hears of each as it finishes.

    `on_result` may be called from the checks' threads, in the order they
    finish; a check that misses its deadline is reported when it does.
    """
    started = time.monotonic()
    runs = []
    for check in planned:
        run = _Run(check, on_result)
        run.thread = threading.Thread(
            target=_execute, args=(target, run), daemon=True, name=f"check {check.id}"
        )
        runs.append(run)
    for run in runs:
        if on_start is not None:
            on_start(run.check)
        run.thread.start()
    for run in runs:
        run.thread.join(max(0.0, run.check.timeout_s - (time.monotonic() - started)))
        run.settle(
            errored(
                f"no verdict within {run.check.timeout_s:g} s", "", dx.CHECK_TIMEOUT
            ),
            time.monotonic() - started,
        )
    # A round trip past its deadline may still be removing what it wrote:
    # give it a moment, since the command exits with its threads.
    grace_deadline = time.monotonic() + CLEANUP_GRACE_S
    for run in runs:
        if run.check.kind in WRITES and run.thread.is_alive():
            run.thread.join(max(0.0, grace_deadline - time.monotonic()))
    return [run.result for run in runs if run.result is not None]


def _execute(target: Target, run: _Run) -> None:
    started = time.monotonic()
    outcome = _outcome(target, run.check)
    run.settle(outcome, time.monotonic() - started)


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
