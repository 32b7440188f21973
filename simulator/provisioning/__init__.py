"""Pulumi mocks whose resource hook creates each resource in the simulated AWS.

No provider plugin runs here, so this package does the provider's part: per
resource type, a handler (one module per service) turns the resource's inputs
into the AWS API calls the provider would make, against the simulator's moto
server through boto3, and answers with the outputs the provider would return,
keeping secret outputs secret. It also applies the AWS validations that moto
skips and that a careful program relies on, and, like `pulumi destroy`,
deletes a recorded stack's resources in the reverse order of their creation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import ClientError
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from simulator.provisioning import ec2, elbv2, rds, s3
from simulator.provisioning.base import (
    Clients,
    Handler,
    PolicyRefused,
    ProvisioningError,
    is_secret,
    reveal,
)

__all__ = ["CloudMocks", "PolicyRefused", "ProvisioningError", "Recorded", "destroy"]

log = logging.getLogger("simulator")

HANDLERS: dict[str, Handler] = {
    **ec2.HANDLERS,
    **rds.HANDLERS,
    **elbv2.HANDLERS,
    **s3.HANDLERS,
}

# Called with (type, name, inputs) before a resource is created: the policy
# pack's resource policies, raising to refuse it.
Validate = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Recorded:
    """A resource as the program declared it and as the simulated AWS made it.

    `inputs` and `outputs` have every secret replaced by a marker, so that a
    record may be written to disk; `fingerprint` is a digest of the inputs
    with their secrets, so that a changed key shows as a changed resource.
    """

    type_: str
    name: str
    id_: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recorded:
        return cls(**data)


@dataclass
class CloudMocks(pulumi.runtime.Mocks):
    """Creates the program's resources in the simulated AWS at `endpoint_url`."""

    endpoint_url: str
    region: str
    validate: Validate | None = None
    # The key of the fingerprints' HMAC: a digest of a weak pre-shared key
    # must not be open to a dictionary attack by whoever reads the record.
    fingerprint_key: bytes = b""
    recorded: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The SDK calls new_resource from a thread pool; the clients are
        # thread-safe and made once, up front.
        self.clients = Clients.of(self.endpoint_url, self.region)
        self._lock = threading.Lock()

    # -- the Mocks interface ------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom:  # component resources only group their children
            return f"{args.name}-component", dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        handler = HANDLERS.get(args.typ)
        if handler is None:
            raise NotImplementedError(
                f"the simulator cannot create {args.typ} yet ({args.name}); "
                "add a handler in simulator/provisioning/"
            )
        inputs = {k: reveal(v) for k, v in args.inputs.items()}
        if self.validate is not None:
            self.validate(args.typ, args.name, inputs)
        try:
            id_, outputs = handler.create(self.clients, args.name, inputs)
        except ClientError as error:
            raise ProvisioningError(
                args.typ, args.name, error.response["Error"]["Message"]
            ) from None
        log.debug("created %s %s as %s", args.typ, args.name, id_)
        with self._lock:
            self.recorded.append(
                Recorded(
                    args.typ,
                    args.name,
                    id_,
                    without_secrets(args.inputs),
                    without_secrets(outputs),
                    fingerprint(inputs, self.fingerprint_key),
                )
            )
        return id_, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.clients.ec2.describe_availability_zones(
                Filters=[{"Name": "state", "Values": ["available"]}]
            )["AvailabilityZones"]
            return {
                "id": self.region,
                "names": [z["ZoneName"] for z in zones],
                "zoneIds": [z["ZoneId"] for z in zones],
                "groupNames": [z.get("GroupName", self.region) for z in zones],
            }
        raise NotImplementedError(f"the simulator cannot answer {args.token} yet")


def destroy(endpoint_url: str, region: str, resources: list[Recorded]) -> int:
    """Delete recorded resources, newest first (dependents before what they use).

    Returns how many were deleted. A resource that is already gone counts as
    deleted, as with `pulumi destroy`.
    """
    clients = Clients.of(endpoint_url, region)
    for resource in reversed(resources):
        handler = HANDLERS.get(resource.type_)
        if handler is None:
            raise NotImplementedError(
                f"the simulator cannot delete {resource.type_} ({resource.name})"
            )
        try:
            handler.delete(clients, resource.id_, resource.outputs)
        except ClientError as error:
            raise ProvisioningError(
                resource.type_, resource.name, error.response["Error"]["Message"]
            ) from None
        log.debug("deleted %s %s (%s)", resource.type_, resource.name, resource.id_)
    return len(resources)


def fingerprint(inputs: dict[str, Any], key: bytes) -> str:
    """A keyed digest of a resource's inputs, secrets included, revealing none."""
    canonical = json.dumps(
        inputs,
        sort_keys=True,
        default=lambda v: UNKNOWN if isinstance(v, Unknown) else str(v),
    ).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def without_secrets(values: dict[str, Any]) -> dict[str, Any]:
    """The values with every secret replaced by a marker, as plain JSON.

    A value not known yet (in a preview) becomes the engine's unknown
    sentinel, which the policy pack recognises.
    """
    return {key: _plain(value) for key, value in values.items()}


def _plain(value: Any) -> Any:
    if is_secret(value):
        return "[secret]"
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return json.loads(json.dumps(value, default=str))
