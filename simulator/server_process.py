"""Start one of the simulator's server processes, here or in a namespace, and wait.

The load balancer and the web services are Python programs of the
simulator (`python -m simulator.nlb`, `python -m simulator.web_service`),
each run from a spec file. Starting one is the same for all: a bare
environment, stderr to a file beside the spec, the pid reported at once
(so that the caller tracks it even if the wait fails), then a readiness
wait of the server's own; a server that does not get ready is ended.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def start_server(
    ns_name: str | None,
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str],
    stderr_path: Path,
    on_started: Callable[[int, str], None],
    wait_ready: Callable[[subprocess.Popen[bytes]], None],
    failure: type[Exception],
) -> subprocess.Popen[bytes]:
    """Start `argv` in namespace `ns_name` (None: here) and wait until it is ready.

    `wait_ready` raises `failure` when the server does not get ready; the
    process is then ended and the exception goes on to the caller.
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
        wait_ready(process)
    except failure:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)
        raise
    finally:
        assert process.stdout is not None
        process.stdout.close()
    return process
