"""Where the checks run against: the environment a cloud publishes.

The simulator writes this file when it provisions a stack; `exchange check`
reads it. It is the only thing the two share, so that the checks never import
the simulator: they learn the AWS endpoint, each stack's outputs and the
vantage points to probe from, exactly as they would learn them about AWS.

A vantage point is where a probe starts: a network namespace the simulator
made (`netns`), or this machine's own network. A loopback stand-in has no
namespace: it may reach only the addresses in its `connect_to` map, which
sends an endpoint (`host:port` as the cloud names it) to a loopback address
where the simulator serves it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

ENVIRONMENT_FILE = "environment.json"


def simulator_home() -> Path:
    """The folder of the simulator's state: $EXCHANGE_SIM_HOME or one per user."""
    configured = os.environ.get("EXCHANGE_SIM_HOME")
    if configured:
        return Path(configured)
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"exchange-sim-{os.getuid()}"


def simulator_session(region: str) -> boto3.session.Session:
    """A boto3 session for the simulated AWS, which takes any credentials.

    Explicit dummy credentials, so that a real AWS profile on the machine is
    never used, or sent, against the simulator.
    """
    import boto3

    return boto3.session.Session(
        aws_access_key_id="simulator",
        aws_secret_access_key="simulator",
        region_name=region,
    )


NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def entered(netns: str) -> Iterator[None]:
    """The calling thread inside the named network namespace, and back after.

    setns(2) moves only the calling thread: a probe run in a thread of its
    own starts from the vantage point while other threads stay where they
    are. Sockets keep the namespace they were opened in.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / netns, os.O_RDONLY)
    except FileNotFoundError:
        os.close(home)
        raise LookupError(f"there is no network namespace {netns}") from None
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
        try:
            yield
        finally:
            if libc.setns(home, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(target)
        os.close(home)


@dataclass
class VantagePoint:
    name: str
    description: str
    netns: str | None = None
    connect_to: dict[str, str] = field(default_factory=dict)
    # Endpoints (`host:port`) the simulator could not stand in for, and why.
    missing: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    # How names resolve from this vantage point ({host name: address}), as
    # the host's resolver would answer; a probe looks names up here first.
    hosts: dict[str, str] = field(default_factory=dict)

    @property
    def is_stand_in(self) -> bool:
        return self.netns is None


@dataclass
class StackState:
    customer: str
    config_path: str
    outputs: dict[str, Any]
    vantage_points: dict[str, VantagePoint] = field(default_factory=dict)


@dataclass
class Environment:
    aws_endpoint_url: str | None
    data_plane: str  # "loopback" or "namespaces"
    # What the data plane cannot prove, said once to the user.
    limitations: list[str] = field(default_factory=list)
    stacks: dict[str, StackState] = field(default_factory=dict)
    # Customers whose provisioning began and did not finish.
    failed_stacks: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Environment:
        raw = json.loads(path.read_text())
        stacks = {}
        for customer, stack in raw.get("stacks", {}).items():
            points = {
                name: VantagePoint(**point)
                for name, point in stack.get("vantage_points", {}).items()
            }
            stacks[customer] = StackState(
                customer=stack["customer"],
                config_path=stack["config_path"],
                outputs=stack["outputs"],
                vantage_points=points,
            )
        return cls(
            aws_endpoint_url=raw.get("aws_endpoint_url"),
            data_plane=raw.get("data_plane", "loopback"),
            limitations=list(raw.get("limitations", [])),
            stacks=stacks,
            failed_stacks=list(raw.get("failed_stacks", [])),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
