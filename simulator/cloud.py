"""The simulated cloud's lifecycle: start, provision a stack, stop.

State lives in one folder (`exchange.environment.simulator_home()`), marked
as the simulator's by a marker file, and guarded by a lock for the commands
that change it: `processes.json` lists every process the simulator started,
by pid and start time, so that `stop` ends exactly those and nothing else;
`environment.json` is what the checks read. The data plane is built from
the control plane's state (the describe calls), never from the
configuration directly: a setting the program failed to declare is missing
from the simulated data plane too.

As root the data plane is the customer's network in namespaces
(`simulator/dataplane.py`); otherwise it is the loopback subset: the AWS
API, and a private MariaDB per RDS instance on 127.0.0.1, and the published
environment says what that leaves unproven.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trustme

from exchange.config.model import ExchangeConfig
from exchange.environment import (
    ENVIRONMENT_FILE,
    Environment,
    StackState,
    VantagePoint,
    simulator_home,
    simulator_session,
)
from infra import outputs as keys
from simulator import mariadb

if TYPE_CHECKING:
    from simulator.dataplane import CustomerNetwork, DataPlaneRecord
    from simulator.provisioning import Recorded
    from simulator.provisioning.preview import Plan
    from simulator.pulumi_runner import StackRun

log = logging.getLogger("simulator")

START_TIMEOUT_S = 30.0
# The grace a process gets after SIGTERM before SIGKILL: servers here stop in
# well under a second; a charon still talking to its peers may take longer,
# and losing its state does no harm.
STOP_TIMEOUT_S = 3.0
MARKER = ".exchange-simulator"
# Unix sockets go to a short folder of their own (a socket's path is limited
# to 107 bytes); `sockets` in the home folder links to it.
SOCKET_PREFIX = "exsim-"
# Every network namespace the simulator makes starts with this, then a digest
# of its folder: two simulators never touch each other's.
NAMESPACE_PREFIX = "exs"
LOOPBACK_LIMITATIONS = [
    "the data plane runs on loopback (not root, or EXCHANGE_SIM_DATA_PLANE="
    "loopback): each database is served on 127.0.0.1, and no packet crosses a VPN "
    "tunnel, a security group, a route, a NAT gateway or a whitelist, so those are "
    "proven from the cloud's API state only; as root the simulator builds them in "
    "network namespaces",
]
# Set to "loopback" to keep the loopback data plane even as root.
DATA_PLANE_VARIABLE = "EXCHANGE_SIM_DATA_PLANE"


class SimulatorError(Exception):
    """The simulator could not do what was asked; the message says why."""


@dataclass
class StackRecord:
    """The simulator's state of one stack: what it made, in creation order.

    The simulator's counterpart of a Pulumi state file; `down` deletes from
    it, newest first. Secrets are masked in it.
    """

    customer: str
    region: str
    resources: list[Recorded] = field(default_factory=list)
    # The program failed part-way: the resources are there, the stack not.
    failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "region": self.region,
            "failed": self.failed,
            "resources": [r.to_json() for r in self.resources],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackRecord:
        from simulator.provisioning import Recorded

        return cls(
            customer=data["customer"],
            region=data["region"],
            failed=data.get("failed", False),
            resources=[Recorded.from_json(r) for r in data["resources"]],
        )


@dataclass
class Provisioned:
    """What `provision` did: created, replaced or left unchanged, and why."""

    customer: str
    action: str  # "created", "replaced" or "unchanged"
    plan: Plan
    outputs: dict[str, Any]  # secrets masked
    run: StackRun | None


@dataclass
class TrackedProcess:
    pid: int
    what: str
    # The kernel's start time of the process (clock ticks since boot): a pid
    # reused by another program after a crash has a different one.
    start_ticks: int
    # The customer whose data plane it serves; empty for the AWS API.
    customer: str = ""

    @classmethod
    def of(cls, pid: int, what: str, customer: str = "") -> TrackedProcess:
        return cls(pid=pid, what=what, start_ticks=_start_ticks(pid), customer=customer)

    def is_ours(self) -> bool:
        try:
            return _start_ticks(self.pid) == self.start_ticks
        except (OSError, IndexError, ValueError):
            return False


def _start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces; fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[19])


class SimulatedCloud:
    def __init__(
        self, home: Path | None = None, *, program: Path | None = None
    ) -> None:
        self.home = home or simulator_home()
        # The Pulumi program to run: infra/ unless a test brings its own.
        self.program = program
        # Data-plane servers start side by side and report their pids, and
        # the test CA is made once, by whichever thread needs it first.
        self._ledger_lock = threading.Lock()
        self._authority_lock = threading.Lock()

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

    def _track(self, pid: int, what: str, customer: str = "") -> None:
        with self._ledger_lock:
            self._save_processes(
                [*self._processes(), TrackedProcess.of(pid, what, customer)]
            )

    def _save_processes(self, tracked: list[TrackedProcess]) -> None:
        tmp = self._processes_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(p) for p in tracked], indent=2))
        tmp.replace(self._processes_file)

    def _stack_file(self, customer: str) -> Path:
        return self.home / "stacks" / f"{customer}.json"

    def recorded_customers(self) -> list[str]:
        """Customers with resources in the simulator, failed stacks included."""
        return sorted(path.stem for path in (self.home / "stacks").glob("*.json"))

    def stack_record(self, customer: str) -> StackRecord | None:
        """The resources the simulator made for `customer`, if any."""
        path = self._stack_file(customer)
        if not path.exists():
            return None
        return StackRecord.from_json(json.loads(path.read_text()))

    def _save_record(self, record: StackRecord) -> None:
        path = self._stack_file(record.customer)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        tmp.replace(path)

    def _fingerprint_key(self) -> bytes:
        path = self.home / "fingerprint.key"
        if not path.exists():
            path.write_bytes(os.urandom(32))
            path.chmod(0o600)
        return path.read_bytes()

    def environment(self) -> Environment:
        return Environment.load(self.environment_file)

    @property
    def socket_dir(self) -> Path:
        """The short folder for this simulator's unix sockets, made on first use."""
        link = self.home / "sockets"
        if not link.is_symlink():
            link.symlink_to(tempfile.mkdtemp(prefix=SOCKET_PREFIX))
        # The short path itself: through the link it would be long again.
        return link.readlink()

    def _remove_socket_dir(self) -> None:
        link = self.home / "sockets"
        if not link.is_symlink():
            return
        target = link.readlink()
        # Only a folder this user made for sockets: the link is in a folder
        # that passed _check_home, but its target is followed with care.
        if (
            target.name.startswith(SOCKET_PREFIX)
            and target.is_dir()
            and not target.is_symlink()
            and target.stat().st_uid == os.geteuid()
        ):
            shutil.rmtree(target, ignore_errors=True)

    def _check_home(self) -> None:
        """Refuse a folder that is not one this user's simulator made.

        `stop` deletes the folder and ends the processes it lists, so a
        folder anyone else could have prepared must never be trusted.
        """
        if not self.home.exists():
            return
        if self.home.is_symlink() or not (self.home / MARKER).is_file():
            raise SimulatorError(
                f"{self.home} exists but is not a simulator's folder; point "
                "EXCHANGE_SIM_HOME at a new or simulator-made folder"
            )
        status = self.home.stat()
        if status.st_uid != os.geteuid() or status.st_mode & 0o077:
            raise SimulatorError(
                f"{self.home} belongs to another user or is open to others; "
                "remove it or point EXCHANGE_SIM_HOME elsewhere"
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One command at a time changes the simulator's state."""
        self._check_home()
        self.home.mkdir(parents=True, mode=0o700, exist_ok=True)
        (self.home / MARKER).touch()
        with (self.home / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- lifecycle ------------------------------------------------------------

    def is_running(self) -> bool:
        if not self.environment_file.exists():
            return False
        return any(p.what == "aws-api" and p.is_ours() for p in self._processes())

    def start(self, *, meanwhile: Callable[[], None] | None = None) -> Environment:
        """Start the AWS API server; clear what a crashed run left behind first.

        `meanwhile` runs while the server boots (a second or so), such as
        loading what the caller needs next.
        """
        self._check_home()
        if self.is_running():
            if meanwhile is not None:
                meanwhile()
            return self.environment()
        if self.home.exists():
            log.info("clearing leftovers of an earlier simulator in %s", self.home)
            self.stop()
        with self._locked():
            return self._start_api(meanwhile)

    def _start_api(self, meanwhile: Callable[[], None] | None = None) -> Environment:
        ready = self.home / "aws-api.json"
        with (self.home / "aws-api.log").open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulator.aws_server",
                    "--ready-file",
                    str(ready),
                    "--home",
                    str(self.home),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=_server_environment(),
            )
        self._track(process.pid, "aws-api")
        if meanwhile is not None:
            meanwhile()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None:
                raise SimulatorError(
                    f"the AWS API server exited with {process.returncode}; "
                    f"see {self.home / 'aws-api.log'}"
                )
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise SimulatorError(
                    f"the AWS API server was not ready after {START_TIMEOUT_S:.0f} s; "
                    f"see {self.home / 'aws-api.log'}"
                )
            time.sleep(0.05)
        endpoint = json.loads(ready.read_text())["endpoint_url"]
        namespaces = namespaces_available()
        environment = Environment(
            aws_endpoint_url=endpoint,
            data_plane="namespaces" if namespaces else "loopback",
            limitations=[] if namespaces else list(LOOPBACK_LIMITATIONS),
        )
        environment.save(self.environment_file)
        log.info("simulated AWS API at %s (pid %d)", endpoint, process.pid)
        return environment

    def stop(self) -> list[TrackedProcess]:
        """End every process the simulator started and remove its folder."""
        self._check_home()
        if not self.home.exists():
            return []
        stopped = _end_processes(self._processes())
        if os.geteuid() == 0 and Path("/run/netns").is_dir():
            from simulator import netns

            # Every namespace of this simulator, listed or left by a crash:
            # they all carry its prefix, and no other's.
            removed = netns.remove_namespaces(self.namespace_prefix + "-")
            if removed:
                log.info("removed %d network namespaces", len(removed))
        self._remove_socket_dir()
        shutil.rmtree(self.home, ignore_errors=True)
        return stopped

    # -- provisioning ---------------------------------------------------------

    def provision(
        self,
        config: ExchangeConfig,
        *,
        config_path: Path,
        enforce_policies: bool = True,
        data_plane: bool = True,
    ) -> Provisioned:
        """Bring `config`'s stack to what the program declares; build its data plane.

        Like `pulumi up`: a preview first (resource policies through
        `validate`, and the difference with the stack as recorded), then the
        update; a policy violation (PolicyRefused) stops it before anything
        is created. A stack that would not change is left as it is. Without
        `data_plane`, only the control plane is provisioned (benchmarks of
        the program itself). A changed
        one is replaced as a whole, since the simulator has no provider to
        update resources in place; the result says so.
        """
        # Imported here: pulumi-aws takes a second or more to load.
        from simulator.provisioning import CloudMocks
        from simulator.provisioning.preview import PreviewMocks

        # The program's imports (pulumi-aws: a second) load while the AWS API
        # server boots.
        environment = self.start(meanwhile=_load_the_program)
        customer = config.customer.slug
        with self._locked():
            environment = self.environment()
            key = self._fingerprint_key()
            program_config = {
                "exchange:config": str(config_path.resolve()),
                "exchange:deletionProtection": "false",
                "aws:region": config.region,
            }
            if data_plane and config.app_databases():
                self._prepare_database_template()
            previous = self.stack_record(customer)
            validate = _resource_policies if enforce_policies else None
            preview = PreviewMocks(
                endpoint_url=environment.aws_endpoint_url,
                region=config.region,
                validate=validate,
                fingerprint_key=key,
                previous=previous.resources if previous else [],
            )
            planned = self._run(preview, program_config, customer, preview=True)
            plan = preview.finish()
            log.debug("%s: preview: %s", customer, plan.summary()[:200])
            if enforce_policies:
                _stack_policies(plan.declared, planned)
            if previous is not None and not previous.failed and plan.unchanged:
                stack = environment.stacks[customer]
                return Provisioned(customer, "unchanged", plan, stack.outputs, None)
            if previous is not None:
                log.info("replacing the stack of %s: %s", customer, plan.summary())
                self._tear_down(previous, environment)
            mocks = CloudMocks(
                endpoint_url=environment.aws_endpoint_url,
                region=config.region,
                validate=validate,
                fingerprint_key=key,
            )
            log.info("running the Pulumi program for %s under the mocks", customer)
            record = StackRecord(customer, config.region, failed=True)
            try:
                run = self._run(mocks, program_config, customer)
            finally:
                # Whatever was made is recorded, so that `down` can remove a
                # stack that failed half-way.
                record.resources = list(mocks.recorded)
                self._save_record(record)
                if record.failed and customer not in environment.failed_stacks:
                    environment.failed_stacks.append(customer)
                    environment.save(self.environment_file)
            log.debug("%s: %d resources created", customer, len(record.resources))
            if enforce_policies:
                # As under `pulumi up`, stack policies see the real outputs
                # too; a violation leaves the stack recorded as failed.
                _stack_policies(record.resources, run)
            stack = StackState(
                customer=customer,
                config_path=str(config_path.resolve()),
                # Secret outputs stay masked in the published state.
                outputs=run.masked_outputs(),
            )
            if data_plane and namespaces_available():
                stack.vantage_points = self._build_namespaces(
                    config, stack, environment
                )
            elif data_plane:
                stack.vantage_points = self._build_data_plane(
                    config, stack, environment
                )
            record.failed = False
            self._save_record(record)
            if customer in environment.failed_stacks:
                environment.failed_stacks.remove(customer)
            environment.stacks[customer] = stack
            environment.save(self.environment_file)
            action = "created" if previous is None else "replaced"
            return Provisioned(customer, action, plan, stack.outputs, run)

    def _prepare_database_template(self) -> None:
        """Initialise the MariaDB template while the program runs (a second saved)."""

        def prepare() -> None:
            # A failure is said again, and handled, when a server starts.
            with contextlib.suppress(mariadb.MariaDBUnavailable, mariadb.MariaDBFailed):
                mariadb.prepare_template(self.home / "mariadb")

        threading.Thread(target=prepare, name="mariadb template", daemon=True).start()

    def _run(
        self,
        mocks: Any,
        program_config: dict[str, str],
        customer: str,
        *,
        preview: bool = False,
    ) -> StackRun:
        from simulator.pulumi_runner import PROGRAM, run_program

        return run_program(
            mocks,
            program_config,
            stack_name=customer,
            preview=preview,
            program=self.program or PROGRAM,
        )

    def stack_outputs(self, customer: str, *, show_secrets: bool = False) -> dict:
        """A stack's outputs; secret ones masked unless `show_secrets`.

        The published state keeps secrets masked, so revealing one asks the
        simulated AWS again, as `pulumi stack output --show-secrets` reads
        them from its encrypted state.
        """
        if not self.is_running():
            raise SimulatorError("no simulator is running: run `exchange up FILE`")
        environment = self.environment()
        stack = environment.stacks.get(customer)
        if stack is None:
            raise SimulatorError(
                f"customer {customer!r} has no stack in this simulator"
            )
        outputs = dict(stack.outputs)
        if show_secrets and keys.TUNNEL_PRESHARED_KEYS in outputs:
            ec2 = simulator_session(outputs[keys.REGION]).client(
                "ec2", endpoint_url=environment.aws_endpoint_url
            )
            (connection,) = ec2.describe_vpn_connections(
                VpnConnectionIds=[outputs[keys.VPN_CONNECTION_ID]]
            )["VpnConnections"]
            outputs[keys.TUNNEL_PRESHARED_KEYS] = [
                tunnel["PreSharedKey"]
                for tunnel in connection["Options"]["TunnelOptions"]
            ]
        return outputs

    def deprovision(self, customer: str) -> int:
        """Remove everything of `customer`'s stack, like `pulumi destroy`.

        Returns how many resources were deleted. Nothing of another
        customer is touched: only what the customer's record lists is
        deleted, and only the processes started for the customer are ended.
        """
        if not self.is_running():
            raise SimulatorError("no simulator is running; nothing to remove")
        with self._locked():
            environment = self.environment()
            record = self.stack_record(customer)
            if record is None:
                raise SimulatorError(
                    f"customer {customer!r} has no stack in this simulator"
                )
            deleted = self._tear_down(record, environment)
            environment.save(self.environment_file)
            return deleted

    def _tear_down(self, record: StackRecord, environment: Environment) -> int:
        from simulator.provisioning import destroy

        customer = record.customer
        tracked = self._processes()
        _end_processes([p for p in tracked if p.customer == customer])
        self._save_processes([p for p in tracked if p.customer != customer])
        self._remove_namespaces_of(customer)
        for resource in record.resources:
            if resource.type_ == "aws:rds/instance:Instance":
                identifier = resource.outputs.get("identifier", "")
                shutil.rmtree(self.home / "mariadb" / identifier, ignore_errors=True)
                shutil.rmtree(self.home / "tls" / identifier, ignore_errors=True)
        # The customer's servers' own files: load balancers, web services, the
        # on-premises databases.
        for folder in (
            self.home / "nlb" / customer,
            *(self.home / "web").glob(f"{customer}-*"),
            *(self.home / "mariadb").glob(f"{customer}-onprem-*"),
        ):
            shutil.rmtree(folder, ignore_errors=True)
        deleted = destroy(environment.aws_endpoint_url, record.region, record.resources)
        self._stack_file(customer).unlink(missing_ok=True)
        environment.stacks.pop(customer, None)
        if customer in environment.failed_stacks:
            environment.failed_stacks.remove(customer)
        log.info("removed %d resources of %s", deleted, customer)
        return deleted

    @property
    def namespace_prefix(self) -> str:
        """The prefix of every namespace this simulator makes: ours, and no other's."""
        digest = hashlib.sha1(str(self.home.resolve()).encode()).hexdigest()[:4]
        return f"{NAMESPACE_PREFIX}{digest}"

    def _dataplane_file(self, customer: str) -> Path:
        return self.home / "dataplane" / f"{customer}.json"

    def _dataplane_records(self) -> list[DataPlaneRecord]:
        from simulator.dataplane import DataPlaneRecord

        return [
            DataPlaneRecord.load(path)
            for path in sorted((self.home / "dataplane").glob("*.json"))
        ]

    def _publish_watches(self) -> None:
        from simulator.relay import write_relays
        from simulator.telemetry import write_watches

        write_relays(
            self.home,
            [relay for record in self._dataplane_records() for relay in record.relays],
        )

        write_watches(
            self.home,
            [
                {
                    "region": record.region,
                    "vpn_connection_id": record.tunnels[0]["vpn_connection_id"],
                    "tunnels": [
                        {**tunnel, "vici": record.vici} for tunnel in record.tunnels
                    ],
                    "bgp_routes": record.bgp_routes,
                    "targets": [
                        {
                            "target_group_arn": arn,
                            "target": balancer["target"],
                            "port": balancer["target_port"],
                            "health": balancer["health"],
                        }
                        for arn, balancer in record.load_balancers.items()
                    ],
                }
                for record in self._dataplane_records()
                if record.tunnels and record.vici
            ],
        )

    def _build_namespaces(
        self, config: ExchangeConfig, stack: StackState, environment: Environment
    ) -> dict[str, VantagePoint]:
        """The customer's network in namespaces: real tunnels, firewalls, servers."""
        from simulator.dataplane import DATA_PLANE_FAILURES, CustomerNetwork

        customer = stack.customer
        index = len(self._dataplane_records()) + 1
        session = simulator_session(config.region)
        clients = {
            name: session.client(name, endpoint_url=environment.aws_endpoint_url)
            for name in ("ec2", "rds", "secretsmanager", "elbv2")
        }
        authority = self._certificate_authority()
        network = CustomerNetwork(
            home=self.home,
            prefix=f"{self.namespace_prefix}-{index}",
            config=config,
            outputs=stack.outputs,
            clients=clients,
            track=lambda pid, what: self._track(pid, what, customer),
            socket_dir=self.socket_dir,
            server_tls=lambda name, address, ip: self._server_certificate(
                authority, name, address, ip
            ),
            publish_watches=lambda record: (
                record.save(self._dataplane_file(customer)),
                self._publish_watches(),
            ),
        )
        try:
            points = network.build()
        except DATA_PLANE_FAILURES as failure:
            raise SimulatorError(
                f"the network of {customer} could not be built: {failure}; what was "
                f"built is recorded, `exchange down` or `exchange sim stop` removes it"
            ) from None
        finally:
            # Recorded even when the build fails half-way: `down` and `stop`
            # remove what is listed.
            network.record.save(self._dataplane_file(customer))
        environment.data_plane = "namespaces"
        environment.limitations = [
            item for item in environment.limitations if item not in LOOPBACK_LIMITATIONS
        ]
        return points

    def customer_network(self, customer: str) -> CustomerNetwork:
        """The built network of `customer`, to change it (faults) or look at it."""
        from exchange.config import load_config
        from simulator.dataplane import CustomerNetwork, DataPlaneRecord

        environment = self.environment()
        stack = environment.stacks.get(customer)
        path = self._dataplane_file(customer)
        if stack is None or not path.exists():
            raise SimulatorError(
                f"customer {customer!r} has no network in namespaces in this "
                "simulator (run `exchange up FILE` as root first)"
            )
        config = load_config(Path(stack.config_path))
        session = simulator_session(config.region)
        authority = self._certificate_authority()
        return CustomerNetwork(
            home=self.home,
            prefix=self.namespace_prefix,
            config=config,
            outputs=stack.outputs,
            clients={
                name: session.client(name, endpoint_url=environment.aws_endpoint_url)
                for name in ("ec2", "rds", "secretsmanager", "elbv2")
            },
            track=lambda pid, what: self._track(pid, what, customer),
            socket_dir=self.socket_dir,
            server_tls=lambda name, address, ip: self._server_certificate(
                authority, name, address, ip
            ),
            publish_watches=lambda record: self.save_dataplane_record(record),
            record=DataPlaneRecord.load(path),
        )

    def save_dataplane_record(self, record: DataPlaneRecord) -> None:
        record.save(self._dataplane_file(record.customer))
        self._publish_watches()

    def stop_tracked(self, what: str) -> list[TrackedProcess]:
        """End the tracked processes described as `what`, and forget them."""
        with self._ledger_lock:
            tracked = self._processes()
            ended = _end_processes([p for p in tracked if p.what == what])
            self._save_processes([p for p in tracked if p.what != what])
        return ended

    def _remove_namespaces_of(self, customer: str) -> None:
        from simulator import netns
        from simulator.dataplane import DataPlaneRecord

        path = self._dataplane_file(customer)
        if not path.exists():
            return
        record = DataPlaneRecord.load(path)
        for name in reversed(record.namespaces):
            netns.Namespace(name).delete()
        for folder in record.charon_folders.values():
            shutil.rmtree(folder, ignore_errors=True)
        path.unlink()
        self._publish_watches()

    def _build_data_plane(
        self, config: ExchangeConfig, stack: StackState, environment: Environment
    ) -> dict[str, VantagePoint]:
        onprem = VantagePoint(
            name="onprem",
            description="loopback stand-in for the customer's client host",
            ca_bundle=str(self.home / "ca.pem"),
        )
        databases = list(stack.outputs.get(keys.DATABASES, {}).values())
        self._certificate_authority()  # made here, not raced for by threads
        _ = self.socket_dir
        # Each stand-in takes a second to initialise and start, most of it
        # waiting on mariadbd: start them side by side.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            started = list(
                pool.map(
                    lambda database: self._database_stand_in(
                        config, stack, environment, database
                    ),
                    databases,
                )
            )
        for endpoint, address, problem in started:
            if problem is not None:
                onprem.missing[endpoint] = problem
                if problem not in environment.limitations:
                    environment.limitations.append(problem)
            else:
                onprem.connect_to[endpoint] = address
        if config.file_storages() and environment.aws_endpoint_url:
            # The file storage is the simulated S3 itself, on loopback.
            s3 = environment.aws_endpoint_url.split("://", 1)[-1].rstrip("/")
            onprem.connect_to[f"s3.{config.region}.amazonaws.com:80"] = s3
        return {onprem.name: onprem}

    def _database_stand_in(
        self,
        config: ExchangeConfig,
        stack: StackState,
        environment: Environment,
        database: dict[str, Any],
    ) -> tuple[str, str | None, str | None]:
        """Start the MariaDB for one RDS instance: (endpoint, address, problem)."""
        session = simulator_session(config.region)
        rds = session.client("rds", endpoint_url=environment.aws_endpoint_url)
        secrets = session.client(
            "secretsmanager", endpoint_url=environment.aws_endpoint_url
        )
        (instance,) = rds.describe_db_instances(
            DBInstanceIdentifier=database[keys.DB_INSTANCE_ID]
        )["DBInstances"]
        name = instance["DBInstanceIdentifier"]
        address = instance["Endpoint"]["Address"]
        endpoint = f"{address}:{instance['Endpoint']['Port']}"
        try:
            server = mariadb.start_instance(
                name,
                self.home / "mariadb",
                tls=self._server_certificate(
                    self._certificate_authority(), name, address
                ),
                require_tls=mariadb.requires_tls(rds, instance),
                on_started=lambda pid: self._track(
                    pid, f"mariadb {name}", stack.customer
                ),
                socket_dir=self.socket_dir,
            )
        except mariadb.MariaDBUnavailable as unavailable:
            return endpoint, None, str(unavailable)
        except mariadb.MariaDBFailed as failed:
            raise SimulatorError(
                f"the stand-in for {name} did not start: {failed}"
            ) from None
        mariadb.create_rds_master_user(server, instance, secrets)
        log.info(
            "MariaDB stand-in for %s on 127.0.0.1:%d (pid %d)",
            endpoint,
            server.port,
            server.pid,
        )
        return endpoint, f"127.0.0.1:{server.port}", None

    def _certificate_authority(self) -> trustme.CA:
        """The simulator's test CA, made once per simulator and kept with it."""
        with self._authority_lock:
            return self._load_or_make_authority()

    def _load_or_make_authority(self) -> trustme.CA:
        cert, key = self.home / "ca.pem", self.home / "ca.key"
        if cert.exists() and key.exists():
            return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
        authority = trustme.CA(organization_name="exchange simulator test CA")
        authority.cert_pem.write_to_path(str(cert))
        authority.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)
        return authority

    def _server_certificate(
        self, authority: trustme.CA, name: str, address: str, ip: str = "127.0.0.1"
    ) -> mariadb.TlsFiles:
        folder = self.home / "tls" / name
        folder.mkdir(parents=True, exist_ok=True)
        # A probe resolves the endpoint's name itself (from the vantage
        # point's hosts) and connects to the address, which the client then
        # verifies: the certificate names the address beside the RDS name.
        issued = authority.issue_cert(address, ip, "localhost")
        files = mariadb.TlsFiles(
            ca=self.home / "ca.pem",
            cert=folder / "server.pem",
            key=folder / "server.key",
        )
        issued.cert_chain_pems[0].write_to_path(str(files.cert))
        issued.private_key_pem.write_to_path(str(files.key))
        return files


def _server_environment() -> dict[str, str]:
    # Servers inherit neither the caller's secrets nor its AWS settings.
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME", "VIRTUAL_ENV", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _load_the_program() -> None:
    """Import what the Pulumi program imports, so that its run need not wait."""
    for module in (
        "pulumi_aws",
        "infra.network",
        "infra.load_balancer",
        "infra.storage",
    ):
        importlib.import_module(module)


def namespaces_available() -> bool:
    """Whether the data plane is built in network namespaces here (root, tools)."""
    return (
        os.environ.get(DATA_PLANE_VARIABLE) != "loopback"
        and os.geteuid() == 0
        and shutil.which("nft") is not None
        and shutil.which("swanctl") is not None
        and Path("/usr/sbin/charon-systemd").exists()
    )


def _resource_policies(type_: str, name: str, inputs: dict[str, Any]) -> None:
    """The policy pack's resource policies, as `pulumi preview --policy-pack`."""
    from policies.exchange_policies import check_resource
    from simulator.provisioning import PolicyRefused

    violations = check_resource(type_, name, inputs)
    if violations:
        raise PolicyRefused(violations)


def _stack_policies(resources: list[Recorded], run: StackRun) -> None:
    """The policy pack's stack policies, on the resources' outputs."""
    from policies.exchange_policies import check_stack
    from simulator.provisioning import PolicyRefused

    violations = check_stack(
        [(r.type_, r.name, r.outputs) for r in resources],
        run.plain_outputs(),
        project=run.project,
        stack=run.stack,
    )
    if violations:
        raise PolicyRefused(violations)


def _end_processes(processes: list[TrackedProcess]) -> list[TrackedProcess]:
    """SIGTERM the processes that are still ours, then SIGKILL what lingers."""
    stopped = []
    for process in processes:
        if process.is_ours():
            with contextlib.suppress(ProcessLookupError):
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
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            _reap(process.pid)
    return stopped


def _reap(pid: int) -> None:
    """Collect a child's exit status so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
