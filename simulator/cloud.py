"""The simulated cloud's lifecycle: start, provision a stack, stop.

State lives in one folder (`exchange.environment.simulator_home()`):
`processes.json` lists every process the simulator started, by pid and start
time, so that `stop` ends exactly those and nothing else; `environment.json`
is what the checks read. The data plane is built from the control plane's
state (the describe calls), never from the configuration directly.

This is the loopback subset: the AWS API, and a private MariaDB per RDS
instance on 127.0.0.1. Tunnels, firewalls and routes in network namespaces
are not built yet, and the published environment says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import trustme

from exchange.config.model import ExchangeConfig
from exchange.environment import (
    ENVIRONMENT_FILE,
    Environment,
    StackState,
    VantagePoint,
    simulator_home,
)
from infra import outputs as keys
from simulator import mariadb

log = logging.getLogger("simulator")

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
LOOPBACK_LIMITATIONS = [
    "no data plane yet: the simulator serves the AWS API and each database on "
    "loopback, so no packet crosses a VPN tunnel, a security group or a route; "
    "those are proven from the cloud's API state only",
]


class SimulatorError(Exception):
    """The simulator could not do what was asked; the message says why."""


@dataclass
class TrackedProcess:
    pid: int
    what: str
    # The kernel's start time of the process (clock ticks since boot): a pid
    # reused by another program after a crash has a different one.
    start_ticks: int

    @classmethod
    def of(cls, pid: int, what: str) -> TrackedProcess:
        return cls(pid=pid, what=what, start_ticks=_start_ticks(pid))

    def is_ours(self) -> bool:
        try:
            return _start_ticks(self.pid) == self.start_ticks
        except OSError:
            return False


def _start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces; fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[19])


class SimulatedCloud:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or simulator_home()

    # -- files ----------------------------------------------------------------

    @property
    def environment_file(self) -> Path:
        return self.home / ENVIRONMENT_FILE

    @property
    def _processes_file(self) -> Path:
        return self.home / "processes.json"

    def _processes(self) -> list[TrackedProcess]:
        if not self._processes_file.exists():
            return []
        return [
            TrackedProcess(**p) for p in json.loads(self._processes_file.read_text())
        ]

    def _track(self, process: TrackedProcess) -> None:
        tracked = [*self._processes(), process]
        tmp = self._processes_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(p) for p in tracked], indent=2))
        tmp.replace(self._processes_file)

    def environment(self) -> Environment:
        return Environment.load(self.environment_file)

    # -- lifecycle ------------------------------------------------------------

    def is_running(self) -> bool:
        if not self.environment_file.exists():
            return False
        return any(p.what == "aws-api" and p.is_ours() for p in self._processes())

    def start(self) -> Environment:
        """Start the AWS API server; clear what a crashed run left behind first."""
        if self.is_running():
            return self.environment()
        if self.home.exists():
            log.info("clearing leftovers of an earlier simulator in %s", self.home)
            self.stop()
        self.home.mkdir(parents=True, mode=0o700)
        ready = self.home / "aws-api.json"
        log_file = (self.home / "aws-api.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator.aws_server", "--ready-file", str(ready)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._track(TrackedProcess.of(process.pid, "aws-api"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None:
                raise SimulatorError(
                    f"the AWS API server exited with {process.returncode}; "
                    f"see {self.home / 'aws-api.log'}"
                )
            if time.monotonic() > deadline:
                raise SimulatorError(
                    f"the AWS API server was not ready after {START_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.05)
        endpoint = json.loads(ready.read_text())["endpoint_url"]
        environment = Environment(
            aws_endpoint_url=endpoint,
            data_plane="loopback",
            limitations=list(LOOPBACK_LIMITATIONS),
        )
        environment.save(self.environment_file)
        log.debug("simulated AWS API at %s (pid %d)", endpoint, process.pid)
        return environment

    def stop(self) -> list[TrackedProcess]:
        """End every process the simulator started and remove its folder."""
        stopped = []
        tracked = self._processes()
        for process in tracked:
            if process.is_ours():
                os.kill(process.pid, signal.SIGTERM)
                stopped.append(process)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in stopped:
            while process.is_ours() and time.monotonic() < deadline:
                _reap(process.pid)
                time.sleep(0.02)
            if process.is_ours():
                log.warning(
                    "%s (pid %d) ignored SIGTERM; killing it", process.what, process.pid
                )
                os.kill(process.pid, signal.SIGKILL)
                _reap(process.pid)
        shutil.rmtree(self.home, ignore_errors=True)
        return stopped

    # -- provisioning ---------------------------------------------------------

    def provision(self, config: ExchangeConfig, *, config_path: Path) -> Any:
        """Run the Pulumi program for `config` and build its data plane."""
        # Imported here: pulumi-aws takes a second or more to load.
        from simulator.provisioning import CloudMocks
        from simulator.pulumi_runner import run_program

        environment = self.start()
        customer = config.customer.slug
        if customer in environment.stacks:
            raise SimulatorError(
                f"customer {customer!r} is already provisioned in this simulator; "
                "run `exchange sim stop` to start again from an empty cloud"
            )
        mocks = CloudMocks(
            endpoint_url=environment.aws_endpoint_url, region=config.region
        )
        run = run_program(
            mocks,
            {
                "exchange:config": str(config_path.resolve()),
                "exchange:deletionProtection": "false",
                "aws:region": config.region,
            },
            stack_name=customer,
        )
        stack = StackState(
            customer=customer,
            config_path=str(config_path.resolve()),
            outputs=run.plain_outputs(),
        )
        stack.vantage_points = self._build_data_plane(config, stack, environment)
        environment.stacks[customer] = stack
        environment.save(self.environment_file)
        return run

    def _build_data_plane(
        self, config: ExchangeConfig, stack: StackState, environment: Environment
    ) -> dict[str, VantagePoint]:
        session = boto3.session.Session(
            aws_access_key_id="simulator",
            aws_secret_access_key="simulator",
            region_name=config.region,
        )
        rds = session.client("rds", endpoint_url=environment.aws_endpoint_url)
        secrets = session.client(
            "secretsmanager", endpoint_url=environment.aws_endpoint_url
        )
        authority = self._certificate_authority()
        onprem = VantagePoint(
            name="onprem",
            description="loopback stand-in for the customer's client host",
            ca_bundle=str(self.home / "ca.pem"),
        )
        for name, database in stack.outputs.get(keys.DATABASES, {}).items():
            (instance,) = rds.describe_db_instances(
                DBInstanceIdentifier=database[keys.DB_INSTANCE_ID]
            )["DBInstances"]
            credentials = json.loads(
                secrets.get_secret_value(
                    SecretId=instance["MasterUserSecret"]["SecretArn"]
                )["SecretString"]
            )
            address = instance["Endpoint"]["Address"]
            tls = self._server_certificate(
                authority, instance["DBInstanceIdentifier"], address
            )
            exchange = next(e for e in config.app_databases() if e.name == name)
            endpoint = f"{address}:{instance['Endpoint']['Port']}"
            try:
                server = mariadb.start_instance(
                    instance["DBInstanceIdentifier"],
                    self.home / "mariadb",
                    tls=tls,
                    require_tls=exchange.tls_required,
                )
            except mariadb.MariaDBUnavailable as unavailable:
                onprem.missing[endpoint] = str(unavailable)
                if str(unavailable) not in environment.limitations:
                    environment.limitations.append(str(unavailable))
                continue
            self._track(TrackedProcess.of(server.pid, f"mariadb {server.name}"))
            mariadb.create_master_user(
                server,
                credentials["username"],
                credentials["password"],
                instance.get("DBName"),
            )
            onprem.connect_to[endpoint] = f"127.0.0.1:{server.port}"
        return {onprem.name: onprem}

    def _certificate_authority(self) -> trustme.CA:
        """The simulator's test CA, made once per simulator and kept with it."""
        cert, key = self.home / "ca.pem", self.home / "ca.key"
        if cert.exists() and key.exists():
            return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
        authority = trustme.CA(organization_name="exchange simulator test CA")
        authority.cert_pem.write_to_path(str(cert))
        authority.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)
        return authority

    def _server_certificate(
        self, authority: trustme.CA, name: str, address: str
    ) -> mariadb.TlsFiles:
        folder = self.home / "tls" / name
        folder.mkdir(parents=True, exist_ok=True)
        # The loopback stand-in reaches the server at 127.0.0.1, so the
        # certificate names that address beside the RDS endpoint's name.
        issued = authority.issue_cert(address, "127.0.0.1", "localhost")
        files = mariadb.TlsFiles(
            ca=self.home / "ca.pem",
            cert=folder / "server.pem",
            key=folder / "server.key",
        )
        issued.cert_chain_pems[0].write_to_path(str(files.cert))
        issued.private_key_pem.write_to_path(str(files.key))
        return files


def _reap(pid: int) -> None:
    """Collect a child's exit status so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
