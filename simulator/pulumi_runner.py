"""Run the Pulumi program in-process, without the Pulumi CLI, under mocks.

The Pulumi CLI and provider plugins cannot be had on these machines, so the
program in infra/ runs here under the SDK's own mocks
(`pulumi.runtime.set_mocks`), whose resource hook (simulator.provisioning)
creates each resource in the simulated AWS. This touches semi-private parts
of the pulumi SDK (the root stack, `wait_for_rpcs`, `_sync_await`): the
pulumi version is pinned in pyproject.toml and tests/test_infra_program.py
covers it.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings, stack
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.sync_await import _sync_await

PROGRAM = Path(__file__).resolve().parent.parent / "infra" / "__main__.py"


def type_of(urn: str) -> str:
    """The resource type token a URN names (`aws:ec2/vpc:Vpc`), without parents."""
    return urn.split("::")[-2].split("$")[-1]


@dataclass
class StackOutput:
    value: Any
    secret: bool


@dataclass
class StackRun:
    """What one run of the program produced."""

    project: str
    stack: str
    outputs: dict[str, StackOutput]
    # URN -> the mock monitor's registration (urn, id, state).
    resources: dict[str, Any]

    def cloud_resources(self) -> list[str]:
        """URNs of the AWS resources: not the components, nor the provider."""
        return [urn for urn in self.resources if type_of(urn).startswith("aws:")]

    def plain_outputs(self) -> dict[str, Any]:
        return {name: out.value for name, out in self.outputs.items()}

    def masked_outputs(self) -> dict[str, Any]:
        return {
            name: "[secret]" if out.secret else out.value
            for name, out in self.outputs.items()
        }


def run_program(
    mocks: pulumi.runtime.Mocks,
    config: dict[str, str],
    *,
    project: str = "customer-exchange",
    stack_name: str = "simulator",
    program: Path = PROGRAM,
    preview: bool = False,
) -> StackRun:
    """Run `program` once under `mocks` with the given stack config.

    With `preview`, outputs the mocks leave out are unknown, as in `pulumi
    preview`; they come back as the engine's unknown sentinel.
    """
    # A fresh root stack per run, so that several runs in one process (the
    # tests) each register their own resources and exports.
    settings.reset_options(project=project, stack=stack_name)
    pulumi.runtime.set_all_config(config)
    monitor = pulumi_mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack_name, preview=preview, monitor=monitor
    )
    root = settings.get_root_resource()
    try:
        runpy.run_path(str(program), run_name="__main__")
    finally:
        # Let every outstanding registration finish (or fail) before reading.
        _sync_await(stack.wait_for_rpcs())
    outputs = {name: _resolve(value) for name, value in dict(root.outputs).items()}
    return StackRun(project, stack_name, outputs, monitor.get_registered_resources())


def _resolve(value: Any) -> StackOutput:
    output = pulumi.Output.from_input(value)
    resolved = _sync_await(output.future(with_unknowns=True))
    secret = _sync_await(output.is_secret())
    return StackOutput(_plain(resolved), bool(secret))


def _plain(value: Any) -> Any:
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
