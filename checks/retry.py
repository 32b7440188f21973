"""The one way a check tries again: only on errors known to be transient.

A refused or dropped connection, a wrong password or a failing service is
a verdict, and is never retried: retrying would only hide it, and cost the
run its timeout again. What is retried is what goes away by itself: a
connection reset or aborted while it was being made, a name server's "try
again". At most three attempts, within the probe's own time.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import TypeVar

import tenacity

log = logging.getLogger("checks")

T = TypeVar("T")

ATTEMPTS = 3
_TRANSIENT_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EAGAIN}


def is_transient(error: BaseException) -> bool:
    if isinstance(error, socket.gaierror):
        return error.errno == socket.EAI_AGAIN
    if isinstance(error, TimeoutError | ConnectionRefusedError):
        return False
    return isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS


def retrying(call: Callable[[], T], *, within_s: float, what: str) -> T:
    """`call()`, tried again on a transient error, for at most `within_s` seconds."""

    def note(state: tenacity.RetryCallState) -> None:
        log.debug(
            "%s: attempt %d failed transiently (%s); trying again",
            what,
            state.attempt_number,
            state.outcome.exception() if state.outcome else "?",
        )

    retryer = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(ATTEMPTS)
        | tenacity.stop_after_delay(within_s),
        wait=tenacity.wait_exponential(multiplier=0.1, max=1.0),
        before_sleep=note,
        reraise=True,
    )
    return retryer(call)
