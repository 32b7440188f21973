"""Probes are tried again only on errors known to be transient."""

from __future__ import annotations

import errno
import socket

import pytest

from checks.retry import ATTEMPTS, is_transient, retrying


def failing(*errors: BaseException):
    """A call that raises `errors` in turn, then answers "ok"; counts its calls."""
    calls = []

    def call() -> str:
        calls.append(None)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return call, calls


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(errno.ECONNRESET, "reset"),
        socket.gaierror(socket.EAI_AGAIN, "try again"),
    ],
)
def test_a_transient_error_is_tried_again(error):
    call, calls = failing(error)
    assert retrying(call, within_s=5, what="probe") == "ok"
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("timed out"),
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        socket.gaierror(socket.EAI_NONAME, "unknown name"),
        OSError(errno.EHOSTUNREACH, "no route"),
    ],
)
def test_a_verdict_is_not_tried_again(error):
    assert not is_transient(error)
    call, calls = failing(error)
    with pytest.raises(type(error)):
        retrying(call, within_s=5, what="probe")
    assert len(calls) == 1


def test_attempts_are_bounded():
    resets = [ConnectionResetError(errno.ECONNRESET, "reset")] * (ATTEMPTS + 2)
    call, calls = failing(*resets)
    with pytest.raises(ConnectionResetError):
        retrying(call, within_s=5, what="probe")
    assert len(calls) == ATTEMPTS
