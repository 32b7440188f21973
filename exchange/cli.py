"""The `exchange` command.

Exit codes, for every subcommand:
  0  everything asked for holds (valid, provisioned, every check passed)
  1  it does not: the configuration is invalid, provisioning was refused,
     or a check did not pass
  2  the command was used wrongly or cannot run here: a missing or
     unreadable file, no simulator to check against, a missing server binary
  3  an internal error (a bug): one line, and the traceback with --debug
  130 interrupted (Ctrl-C)

Only the configuration package is imported up front: validating a file must
not pay for loading Pulumi or boto3.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from exchange.config import UnreadableFile, Validation, validate_file

OK, FAILED, USAGE, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 130

# Libraries that log request and response bodies at DEBUG, which carry
# pre-shared keys and the database password: never louder than WARNING,
# whatever -v says.
_QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "werkzeug", "moto", "pymysql")

log = logging.getLogger("exchange")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CONFIG = EXAMPLES / "multi-option.yaml"


class UsageError(Exception):
    """The command cannot run as asked; the message says what to do instead."""


# -- validate -----------------------------------------------------------------


def _print_validation(validation: Validation, out: TextIO) -> None:
    from exchange.config.report import Run, render_text

    out.write(render_text(Run([validation])))


def _validated(file: str, out: TextIO) -> Validation:
    try:
        validation = validate_file(Path(file))
    except UnreadableFile as unreadable:
        raise UsageError(str(unreadable)) from None
    _print_validation(validation, out)
    return validation


def cmd_validate(args: argparse.Namespace) -> int:
    from exchange.config.report import (
        config_files,
        render_json,
        render_text,
        validate_files,
    )

    files, unusable = config_files(args.files)
    run = validate_files(files, resolve_secrets=args.resolve_secrets)
    run.unreadable = unusable + run.unreadable
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(run))
    # Unreadable files are said on stderr too, where a person looks for them;
    # everything readable was still validated and reported.
    for message in run.unreadable:
        print(f"exchange: error: {message}", file=sys.stderr)
    if run.unreadable:
        return USAGE
    return FAILED if run.failed(strict=args.strict) else OK


# -- up -----------------------------------------------------------------------


def _write_outputs(outputs: dict[str, Any], out: TextIO, indent: int = 2) -> None:
    for key, value in outputs.items():
        if isinstance(value, dict):
            out.write(f"{' ' * indent}{key}:\n")
            _write_outputs(value, out, indent + 2)
        elif isinstance(value, list):
            out.write(f"{' ' * indent}{key}: {', '.join(map(str, value))}\n")
        else:
            out.write(f"{' ' * indent}{key}: {value}\n")


def _provisionable(file: str, out: TextIO, validation: Validation | None) -> Validation:
    """The validated file, when the simulator can provision it; else UsageError."""
    validation = validation or _validated(file, out)
    if not validation.ok:
        return validation
    unset = [ref for ref in validation.config.secret_refs() if not ref.is_set()]
    variables = [ref.env for ref in unset if ref.env is not None]
    if variables:
        raise UsageError(
            f"nothing provisioned: {', '.join(variables)} not set; export the "
            "secrets from your secret store first"
        )
    if unset:
        # The simulator's Secrets Manager holds only what the stack made.
        managed = ", ".join(ref.where for ref in unset)
        raise UsageError(
            f"nothing provisioned: the simulator cannot read {managed}; give "
            "the secret as { env: NAME } when provisioning on the simulator"
        )
    return validation


def _provision(
    file: str, out: TextIO, validation: Validation | None = None, notes: bool = True
) -> int:
    import pulumi

    from simulator.cloud import SimulatedCloud, SimulatorError
    from simulator.provisioning import PolicyRefused, ProvisioningError

    validation = _provisionable(file, out, validation)
    if not validation.ok:
        out.write("nothing provisioned: fix the errors above first\n")
        return FAILED
    cloud = SimulatedCloud()
    started = time.perf_counter()
    try:
        result = cloud.provision(validation.config, config_path=Path(file))
    except pulumi.RunError as stopped:
        # The program refused to run (it validates the file once more).
        out.write(f"the Pulumi program stopped: {stopped}\n")
        return FAILED
    except PolicyRefused as refused:
        for violation in refused.violations:
            out.write(f"policy violation: {violation}\n")
        out.write("nothing provisioned: the policy pack refused the stack\n")
        return FAILED
    except ProvisioningError as error:
        out.write(f"provisioning refused by the simulated AWS: {error}\n")
        out.write(f"what was created is recorded: `exchange down {file}` removes it\n")
        return FAILED
    except SimulatorError as error:
        raise UsageError(str(error)) from None
    elapsed = time.perf_counter() - started
    count = len(result.plan.declared)
    if result.action == "unchanged":
        out.write(
            f"stack {result.customer!r} on the simulator: no changes "
            f"({count} resources, checked in {elapsed:.1f} s)\n"
        )
    else:
        if result.action == "replaced":
            out.write(
                f"the stack changed ({result.plan.summary()}); the simulator "
                "cannot update in place, so it replaced the stack\n"
            )
        out.write(
            f"provisioned stack {result.customer!r} on the simulator: "
            f"{count} resources in {elapsed:.1f} s\n"
        )
    out.write("outputs (secrets masked):\n")
    _write_outputs(result.outputs, out)
    if notes:
        for limitation in cloud.environment().limitations:
            out.write(f"note: {limitation}\n")
    return OK


def cmd_up(args: argparse.Namespace) -> int:
    return _provision(args.file, sys.stdout)


def _customer_of(file: str) -> str:
    """The customer a configuration file is for (it must at least be valid)."""
    validation = validate_file(Path(file))
    if not validation.ok:
        _print_validation(validation, sys.stdout)
        raise UsageError(f"{file} is not valid; its customer cannot be known")
    return validation.config.customer.slug


def cmd_down(args: argparse.Namespace) -> int:
    from simulator.cloud import SimulatedCloud, SimulatorError
    from simulator.provisioning import ProvisioningError

    try:
        customer = _customer_of(args.file)
    except UnreadableFile as unreadable:
        raise UsageError(str(unreadable)) from None
    started = time.perf_counter()
    try:
        deleted = SimulatedCloud().deprovision(customer)
    except ProvisioningError as error:
        print(f"the simulated AWS refused to delete: {error}")
        return FAILED
    except SimulatorError as error:
        raise UsageError(str(error)) from None
    print(
        f"removed stack {customer!r} from the simulator: {deleted} resources "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return OK


def cmd_outputs(args: argparse.Namespace) -> int:
    from simulator.cloud import SimulatedCloud, SimulatorError

    try:
        customer = _customer_of(args.file)
    except UnreadableFile as unreadable:
        raise UsageError(str(unreadable)) from None
    cloud = SimulatedCloud()
    try:
        outputs = cloud.stack_outputs(customer, show_secrets=args.show_secrets)
    except SimulatorError as error:
        raise UsageError(str(error)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    else:
        _write_outputs(outputs, sys.stdout, indent=0)
    return OK


def cmd_vpn_config(args: argparse.Namespace) -> int:
    from exchange import vpn_device

    try:
        validation = validate_file(Path(args.file))
    except UnreadableFile as unreadable:
        raise UsageError(str(unreadable)) from None
    if not validation.ok:
        _print_validation(validation, sys.stdout)
        print("no device configuration written: fix the errors above first")
        return FAILED
    config = validation.config
    connection, amazon_side_asn = _described_connection(config, args.stack_outputs)
    try:
        files = vpn_device.render(
            args.device, config, connection, amazon_side_asn=amazon_side_asn
        )
    except ValueError as mismatch:
        # The stack and the file disagree (routing, tunnels, selectors).
        print(f"no device configuration written: {mismatch}")
        return FAILED
    folder = Path(args.out or f"vpn-config-{config.customer.slug}-{args.device}")
    try:
        written = vpn_device.write_files(folder, files)
    except OSError as error:
        raise UsageError(f"{folder}: cannot write: {error.strerror}") from None
    for path, file in zip(written, files, strict=True):
        note = (
            " (secret: mode 0600, keep it out of version control)"
            if file.secret
            else ""
        )
        print(f"wrote {path}{note}")
    return OK


def _described_connection(config: Any, stack_outputs: str | None) -> tuple[dict, int]:
    """The customer's VPN connection and the VGW's ASN, as AWS describes them."""
    from botocore.exceptions import BotoCoreError, ClientError

    from infra import outputs as keys

    if stack_outputs:
        import boto3

        outputs = _read_outputs(stack_outputs)
        ec2 = boto3.client("ec2", region_name=outputs.get(keys.REGION, config.region))
    else:
        from exchange.environment import simulator_session
        from simulator.cloud import SimulatedCloud

        cloud = SimulatedCloud()
        stack = (
            cloud.environment().stacks.get(config.customer.slug)
            if cloud.is_running()
            else None
        )
        if stack is None:
            raise UsageError(
                f"customer {config.customer.slug!r} is not provisioned on a running "
                f"simulator: run `exchange up {config.source}` first, or against AWS "
                "pass --stack-outputs FILE (from `pulumi stack output --json`)"
            )
        outputs = stack.outputs
        ec2 = simulator_session(config.region).client(
            "ec2", endpoint_url=cloud.environment().aws_endpoint_url
        )
    from exchange.vpn_device import describe_connection

    try:
        return describe_connection(ec2, outputs[keys.VPN_CONNECTION_ID])
    except KeyError as missing:
        raise UsageError(f"the stack outputs have no {missing}") from None
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot describe the VPN connection: {error}") from None


# -- check --------------------------------------------------------------------


def _check(
    file: str,
    out: TextIO,
    *,
    vantage: str,
    stack_outputs: str | None,
    allow_warnings: bool,
    ca_bundle: str | None = None,
    report_format: str = "text",
    junit: str | None = None,
    soak_s: float = 0.0,
) -> int:
    from checks.plan import CLOUD_API, from_vantage, plan_checks
    from checks.report import exit_code, print_results
    from checks.reporters import Progress, UnwritableFile, render_json, write_junit
    from checks.runner import run_checks
    from checks.target import HERE, Target
    from exchange.environment import Environment, simulator_home

    try:
        validation = validate_file(Path(file))
    except UnreadableFile as unreadable:
        raise UsageError(str(unreadable)) from None
    if not validation.ok:
        _print_validation(validation, out)
        out.write("nothing checked: fix the errors above first\n")
        return FAILED
    config = validation.config
    notes = sys.stderr if report_format == "json" else out
    planned = plan_checks(config, soak_s=soak_s)
    if stack_outputs:
        # A real network: the probes start on this machine, which stands for
        # the vantage point --from names; without one, only the cloud's API
        # is checked and the live checks say where to run them.
        role = None if vantage in ("auto", HERE) else vantage
        target = Target.real(
            config, _read_outputs(stack_outputs), ca_bundle, here_as=role
        )
        if role is not None:
            planned = from_vantage(planned, role)
        else:
            notes.write(
                "note: live checks run from the host whose role --from names "
                "(onprem, platform, outsider, onprem-other); this run reads the "
                "cloud's API only\n"
            )
    else:
        environment_file = simulator_home() / "environment.json"
        if not environment_file.exists():
            raise UsageError(
                "no simulator is running and no --stack-outputs were given: run "
                f"`exchange up {file}` first, or against AWS pass "
                "--stack-outputs FILE (from `pulumi stack output --json`)"
            )
        from simulator.cloud import SimulatedCloud

        if not SimulatedCloud(environment_file.parent).is_running():
            raise UsageError(
                f"the simulator in {environment_file.parent} is no longer running "
                "(it crashed or the machine restarted): run `exchange sim stop`, "
                f"then `exchange up {file}`"
            )
        environment = Environment.load(environment_file)
        stack = environment.stacks.get(config.customer.slug)
        if stack is None:
            raise UsageError(
                f"customer {config.customer.slug!r} is not provisioned in the "
                f"simulator: run `exchange up {file}` first"
            )
        if vantage == HERE:
            # The simulator's addresses exist only inside the simulator; a
            # probe from this machine's own network would leave for the real one.
            raise UsageError(
                "--from here probes a real network; against the simulator, "
                "probe from one of its vantage points: "
                + ", ".join(sorted(stack.vantage_points))
            )
        if vantage != "auto":
            if vantage not in stack.vantage_points:
                raise UsageError(
                    f"the simulator has no vantage point {vantage!r} for this stack; "
                    "it has: " + ", ".join(sorted(stack.vantage_points))
                )
            planned = from_vantage(planned, vantage)
        for limitation in environment.limitations:
            notes.write(f"note: {limitation}\n")
        target = Target.simulated(
            config, stack.outputs, stack.vantage_points, environment.aws_endpoint_url
        )
        if report_format != "json":
            points = sorted({c.vantage for c in planned} - {CLOUD_API})
            for name in points:
                point = stack.vantage_points.get(name)
                if point is not None:
                    out.write(f"{name}: {point.description}\n")
    started_at, started = datetime.now(UTC), time.perf_counter()
    if report_format == "json":
        results = run_checks(target, planned)
        out.write(
            render_json(
                results,
                customer=config.customer.slug,
                config_file=file,
                started_at=started_at,
                duration_s=time.perf_counter() - started,
            )
        )
    else:
        # The progress goes to stderr: stdout keeps only the report.
        with Progress(sys.stderr, total=len(planned)) as progress:
            results = run_checks(
                target,
                planned,
                on_start=progress.started,
                on_result=progress.finished,
            )
        print_results(results, out)
        out.write(f"finished in {time.perf_counter() - started:.1f} s\n")
    if junit:
        try:
            write_junit(results, junit, customer=config.customer.slug)
        except UnwritableFile as unwritable:
            raise UsageError(str(unwritable)) from None
    return exit_code(results, allow_warnings=allow_warnings)


def _read_outputs(file: str) -> dict[str, Any]:
    try:
        return json.loads(Path(file).read_text())
    except OSError as error:
        raise UsageError(
            f"{file}: cannot read the stack outputs: {error.strerror}"
        ) from None
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{file}:{error.lineno}:{error.colno}: not JSON ({error.msg}); write it "
            "with `pulumi stack output --json`"
        ) from None


def cmd_check(args: argparse.Namespace) -> int:
    return _check(
        args.file,
        sys.stdout,
        vantage=args.vantage,
        stack_outputs=args.stack_outputs,
        allow_warnings=args.allow_warnings,
        ca_bundle=args.ca_bundle,
        report_format=args.format,
        junit=args.junit,
        soak_s=args.soak,
    )


# -- sim ----------------------------------------------------------------------


def cmd_sim(args: argparse.Namespace) -> int:
    from simulator.cloud import SimulatedCloud, SimulatorError
    from simulator.faults import FaultError

    cloud = SimulatedCloud()
    try:
        if args.action in ("fault", "heal"):
            return _fault_action(cloud, args)
        if args.kind is not None:
            raise UsageError(f"`sim {args.action}` takes no fault kind")
        return _sim_action(cloud, args.action)
    except (SimulatorError, FaultError) as error:
        raise UsageError(str(error)) from None


def _fault_action(cloud: Any, args: argparse.Namespace) -> int:
    from simulator.faults import KINDS, Faults

    if not cloud.is_running():
        raise UsageError("no simulator is running: run `exchange up FILE` first")
    stacks = sorted(cloud.environment().stacks)
    customer = args.customer or (stacks[0] if len(stacks) == 1 else None)
    if customer is None:
        raise UsageError(
            "name the customer with --customer; the simulator has "
            + (", ".join(stacks) or "no stacks")
        )
    faults = Faults(cloud, customer)
    if args.action == "heal":
        healed = faults.heal()
        print(f"healed for {customer}: " + (", ".join(healed) or "nothing was broken"))
        return OK
    if args.kind is None:
        raise UsageError("name the fault: " + ", ".join(KINDS))
    what = faults.inject(args.kind)
    print(f"fault {args.kind} for {customer}: {what}; `exchange sim heal` undoes it")
    return OK


def _sim_action(cloud: Any, action: str) -> int:
    if action == "start":
        environment = cloud.start()
        print(f"simulator running in {cloud.home}")
        print(f"AWS API at {environment.aws_endpoint_url}")
        for limitation in environment.limitations:
            print(f"note: {limitation}")
    elif action == "stop":
        stopped = cloud.stop()
        what = (
            ", ".join(f"{p.what} (pid {p.pid})" for p in stopped)
            or "nothing was running"
        )
        print(f"simulator stopped: {what}")
    else:
        if not cloud.is_running():
            print("simulator not running")
            return FAILED
        environment = cloud.environment()
        stacks = ", ".join(sorted(environment.stacks)) or "none"
        print(
            f"simulator running in {cloud.home}; AWS API at "
            f"{environment.aws_endpoint_url}; stacks: {stacks}"
        )
    return OK


# -- demo ---------------------------------------------------------------------


def _demo_keys(out: TextIO) -> None:
    """Give the demo's secrets values when the environment has none.

    The tunnels get valid pre-shared keys; the web services' credentials
    random tokens, which the simulated services accept alike.
    """
    from exchange.config.loader import load_document
    from exchange.config.model import generate_pre_shared_key

    document = load_document(DEMO_CONFIG)
    tunnel_refs = {
        id(tunnel["preSharedKey"]) for tunnel in document.data["vpn"]["tunnels"]
    }
    for reference in _env_references(document.data):
        name = reference["env"]
        if name in os.environ:
            continue
        if id(reference) in tunnel_refs:
            os.environ[name] = generate_pre_shared_key()
        else:
            os.environ[name] = secrets.token_urlsafe(24)
        out.write(f"demo: {name} was not set; generated a value for this run\n")


def _env_references(node: Any) -> list[dict[str, Any]]:
    """Every `{ env: NAME }` secret reference in a loaded document."""
    if isinstance(node, dict):
        if isinstance(node.get("env"), str) and len(node) == 1:
            return [node]
        return [r for value in node.values() for r in _env_references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _env_references(value)]
    return []


def cmd_demo(args: argparse.Namespace) -> int:
    from simulator.cloud import SimulatedCloud

    out = sys.stdout
    file = os.path.relpath(DEMO_CONFIG)
    # A private simulator: the demo never touches one the user is running.
    home = Path(tempfile.mkdtemp(prefix="exchange-demo-"))
    os.environ["EXCHANGE_SIM_HOME"] = str(home / "sim")
    cloud = SimulatedCloud(home / "sim")
    try:
        _demo_keys(out)
        out.write(f"\n== 1/3 validate {file}\n")
        validation = _validated(file, out)
        if not validation.ok:
            return FAILED
        out.write(f"\n== 2/3 provision {file} on the simulator\n")
        code = _provision(file, out, validation, notes=False)
        if code != OK:
            return code
        out.write(f"\n== 3/3 check every exchange of {file} from its vantage points\n")
        code = _check(
            file, out, vantage="auto", stack_outputs=None, allow_warnings=False
        )
        out.write(
            "\ndemo "
            + ("passed" if code == OK else "FAILED")
            + "; stopping the simulator\n"
        )
        return code
    finally:
        cloud.stop()
        shutil.rmtree(home, ignore_errors=True)


# -- main ---------------------------------------------------------------------


def _add_common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log what each step does (-vv: every remote action)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if default == 0 else argparse.SUPPRESS,
        help="show the traceback of an internal error",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds"
        ) from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("give between 0 and 3600 seconds")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"exchange {version('exchange-proof')}"
    except PackageNotFoundError:
        return "exchange (not installed)"


def build_parser() -> argparse.ArgumentParser:
    # The vantage points only: the plan's module loads nothing of the checks.
    from checks.plan import ROLES

    parser = argparse.ArgumentParser(
        prog="exchange",
        description="Validate, provision and prove a customer's data exchanges.",
    )
    parser.add_argument("--version", action="version", version=_version())
    _add_common_options(parser, default=0)
    # The same options after the subcommand, without overriding those before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    file_help = "the customer's exchange configuration (YAML or JSON)"

    validate = commands.add_parser(
        "validate", parents=[common], help="check configuration files"
    )
    validate.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help=f"{file_help}; a folder means its *.yaml, *.yml and *.json files",
    )
    validate.add_argument(
        "--format", choices=["text", "json"], default="text", help="how to report"
    )
    validate.add_argument(
        "--strict", action="store_true", help="warnings make a file fail too"
    )
    validate.add_argument(
        "--resolve-secrets",
        action="store_true",
        help="an unresolvable secret reference is an error, not a warning; "
        "{ secret: NAME } references are looked up in AWS Secrets Manager",
    )
    validate.set_defaults(run=cmd_validate)

    up = commands.add_parser(
        "up", parents=[common], help="provision a configuration on the simulator"
    )
    up.add_argument("file", metavar="FILE", help=file_help)
    up.set_defaults(run=cmd_up)

    down = commands.add_parser(
        "down",
        parents=[common],
        help="remove a configuration's stack from the simulator",
    )
    down.add_argument("file", metavar="FILE", help=file_help)
    down.set_defaults(run=cmd_down)

    outputs = commands.add_parser(
        "outputs",
        parents=[common],
        help="print a stack's outputs on the simulator (on AWS: pulumi stack output)",
    )
    outputs.add_argument("file", metavar="FILE", help=file_help)
    outputs.add_argument(
        "--show-secrets", action="store_true", help="reveal the secret outputs"
    )
    outputs.add_argument(
        "--format", choices=["text", "json"], default="text", help="how to print"
    )
    outputs.set_defaults(run=cmd_outputs)

    vpn_config = commands.add_parser(
        "vpn-config",
        parents=[common],
        help="write the customer's VPN device configuration from the stack",
    )
    vpn_config.add_argument("file", metavar="FILE", help=file_help)
    vpn_config.add_argument(
        "--device",
        choices=["strongswan", "generic"],
        default="strongswan",
        help="the customer's VPN device (default: strongswan)",
    )
    vpn_config.add_argument(
        "--out",
        metavar="DIR",
        help="the folder to write (default: vpn-config-<customer>-<device>)",
    )
    vpn_config.add_argument(
        "--stack-outputs",
        metavar="JSON",
        help="a real stack: its outputs from `pulumi stack output --json`; the "
        "connection is then described with this machine's AWS credentials",
    )
    vpn_config.set_defaults(run=cmd_vpn_config)

    check = commands.add_parser(
        "check", parents=[common], help="prove a provisioned configuration works"
    )
    check.add_argument("file", metavar="FILE", help=file_help)
    check.add_argument(
        "--from",
        dest="vantage",
        choices=["auto", *ROLES, "here"],
        default="auto",
        help="run only the checks of this vantage point (and the cloud API's); in "
        "the simulator each runs in its namespace, on a real network from this "
        "machine (default: every vantage point in the simulator; the cloud API "
        "only with --stack-outputs)",
    )
    check.add_argument(
        "--soak",
        metavar="SECONDS",
        type=_seconds,
        default=0.0,
        help="database round trips also query again after this long idle",
    )
    check.add_argument(
        "--stack-outputs",
        metavar="JSON",
        help="check a real stack: its outputs from `pulumi stack output --json`",
    )
    check.add_argument(
        "--ca-bundle",
        metavar="PEM",
        help="CA certificates for TLS to a real database (the RDS CA bundle)",
    )
    check.add_argument(
        "--allow-warnings", action="store_true", help="exit 0 when checks only warn"
    )
    check.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="the report on stdout (json: schemas/check-report.schema.json)",
    )
    check.add_argument(
        "--junit", metavar="FILE", help="also write the results as JUnit XML, for CI"
    )
    check.set_defaults(run=cmd_check)

    sim = commands.add_parser(
        "sim", parents=[common], help="start, stop or inspect the simulator"
    )
    sim.add_argument("action", choices=["start", "stop", "status", "fault", "heal"])
    sim.add_argument(
        "kind",
        nargs="?",
        metavar="KIND",
        help="with fault: what to break (tunnel-down, tunnels-down, wrong-key, "
        "sg-missing-client-network, route-removed, mtu-black-hole, database-stopped)",
    )
    sim.add_argument(
        "--customer", help="with fault and heal: whose network (default: the only one)"
    )
    sim.set_defaults(run=cmd_sim)

    demo = commands.add_parser(
        "demo", parents=[common], help="validate, provision and check the example"
    )
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s"
    )
    for ours in ("exchange", "simulator", "checks"):
        logging.getLogger(ours).setLevel(level)
    for library in _QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as error:
        print(f"exchange: error: {error}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("exchange: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        if args.debug:
            raise
        print(
            f"exchange: internal error: {type(error).__name__}: {error} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return INTERNAL


def run() -> None:
    """The `exchange` command: main(), then an exit without the teardown.

    Once Pulumi, pulumi-aws and boto3 are loaded, the interpreter's own
    teardown takes half a second or more and does nothing the command
    needs: every file it wrote is closed, and the streams are flushed here.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    run()
