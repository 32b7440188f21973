"""Start one of the simulator's server processes, here or in a namespace, and wait.

The load balancer and the web services are Python programs of the
simulator (`python -m simulator.nlb`, `python -m simulator.web_service`),
each run from a spec file. Starting one is the same for all: a bare
environment, stderr to a file beside the spec, the pid reported at once
(so that the caller tracks it even if the wait fails), then a readiness
wait of the server's own; a server that does not get ready is ended.
"""

from __future__ import annotations

import selectors
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What a server prints on its stdout once it answers.
READY_LINE = b"ready\n"


def start_server(
    ns_name: str | None,
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str],
    stderr_path: Path,
    on_started: Callable[[int, str], None],
    name: str,
    not_ready: str,
    ready_timeout_s: float,
    failure: type[Exception],
) -> subprocess.Popen[bytes]:
    """Start `argv` in namespace `ns_name` (None: here) and wait until it is ready.

    Ready is READY_LINE on the server's stdout within `ready_timeout_s`.
    Otherwise the process is ended and `failure` raised: "<name> <not_ready>
    within N s", or "<name> exited with N", each with the tail of stderr.
    """
    with stderr_path.open("ab") as stderr:
        options: dict[str, Any] = {
            "env": dict(env),
            "stdout": subprocess.PIPE,
            "stderr": stderr,
            "cwd": PROJECT_ROOT,
        }
        if ns_name is None:
            process = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, start_new_session=True, **options
            )
            on_started(process.pid, what)
        else:
            # Imported here: netlink (pyroute2) is needed only for a namespace.
            from simulator import netns

            try:
                process = netns.spawn(
                    netns.Namespace(ns_name),
                    argv,
                    on_started=on_started,
                    what=what,
                    **options,
                )
            except (netns.TopologyError, OSError) as error:
                raise failure(f"{what} did not start: {error}") from None
    try:
        _wait_ready(process, stderr_path, name, not_ready, ready_timeout_s, failure)
    except failure:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)
        raise
    finally:
        assert process.stdout is not None
        process.stdout.close()
    return process


def _wait_ready(
    process: subprocess.Popen[bytes],
    stderr_path: Path,
    name: str,
    not_ready: str,
    timeout_s: float,
    failure: type[Exception],
) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=remaining):
                continue
            line = process.stdout.readline()
            if line == READY_LINE:
                return
            if not line:  # the process closed its output: it is ending
                break
    try:
        returncode = process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        raise failure(
            f"{name} {not_ready} within {timeout_s:.0f} s: {_errors_tail(stderr_path)}"
        ) from None
    raise failure(f"{name} exited with {returncode}: {_errors_tail(stderr_path)}")


def _errors_tail(stderr_path: Path, lines: int = 3) -> str:
    try:
        text = stderr_path.read_text(errors="replace").strip()
    except FileNotFoundError:
        text = ""
    return " | ".join(text.splitlines()[-lines:]) or "no error output"
