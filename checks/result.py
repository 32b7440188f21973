"""What a check returns, and the one status ordering every reporter uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from checks.diagnosis import Diagnosis


class Status(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"  # the check itself could not run to a verdict


@dataclass(frozen=True)
class Outcome:
    """A check function's verdict; the runner adds identity and timing.

    A warning, failure or error carries its diagnosis: the code and layer
    from `checks.diagnosis`, and a hint made concrete for what was seen.
    """

    status: Status
    evidence: str
    hint: str = ""
    diagnosis: Diagnosis | None = None


def passed(evidence: str) -> Outcome:
    return Outcome(Status.PASS, evidence)


def failed(evidence: str, hint: str, diagnosis: Diagnosis) -> Outcome:
    return Outcome(Status.FAIL, evidence, hint or diagnosis.fix, diagnosis)


def warned(evidence: str, hint: str, diagnosis: Diagnosis) -> Outcome:
    return Outcome(Status.WARN, evidence, hint or diagnosis.fix, diagnosis)


def errored(evidence: str, hint: str, diagnosis: Diagnosis) -> Outcome:
    return Outcome(Status.ERROR, evidence, hint or diagnosis.fix, diagnosis)


def skipped(evidence: str, hint: str = "") -> Outcome:
    return Outcome(Status.SKIP, evidence, hint)


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    kind: str
    exchange: str | None
    vantage: str
    status: Status
    evidence: str
    hint: str
    duration_s: float
    code: str | None = None
    layer: str | None = None
