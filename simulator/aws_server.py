"""The simulator's AWS API server: completed moto on a free loopback port.

Started by `SimulatedCloud.start()` as its own process; it writes the
endpoint to the ready file once it answers, and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from moto.server import ThreadedMotoServer

from simulator.aws import complete_moto


def serve(ready_file: Path, home: Path | None) -> None:
    complete_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # Written last and atomically: its presence means the server answers.
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"endpoint_url": f"http://{host}:{port}", "pid": os.getpid()})
    )
    tmp.replace(ready_file)
    if home is not None:
        # The data plane's tunnel state, fed back into VgwTelemetry.
        from simulator.telemetry import watch_forever

        threading.Thread(
            target=watch_forever, args=(home, stopped), name="telemetry", daemon=True
        ).start()
        # The file-storage endpoint where the data plane's hosts reach it.
        from simulator.relay import relay_forever

        threading.Thread(
            target=relay_forever,
            args=(home, port, stopped),
            name="relay",
            daemon=True,
        ).start()
    stopped.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="the simulator's AWS API server")
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument(
        "--home", type=Path, help="the simulator's folder, for the data plane's state"
    )
    args = parser.parse_args()
    serve(args.ready_file, args.home)


if __name__ == "__main__":
    main()
