"""What a check returns, and the one status ordering every reporter uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"  # the check itself could not run to a verdict


@dataclass(frozen=True)
class Outcome:
    """A check function's verdict; the runner adds identity and timing."""

    status: Status
    evidence: str
    hint: str = ""


def passed(evidence: str) -> Outcome:
    return Outcome(Status.PASS, evidence)


def failed(evidence: str, hint: str) -> Outcome:
    return Outcome(Status.FAIL, evidence, hint)


def skipped(evidence: str, hint: str = "") -> Outcome:
    return Outcome(Status.SKIP, evidence, hint)


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    vantage: str
    status: Status
    evidence: str
    hint: str
    duration_s: float
