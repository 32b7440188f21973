"""What every service's handlers share: the clients, secrets on the wire, tags.

A handler does the provider's part for one resource type: `create` turns
the resource's inputs (camelCase wire names, numbers as floats, secrets
already revealed) into AWS API calls and answers with the outputs the
provider would return; `delete` undoes it from the id and the outputs that
`create` returned, as the provider does on `pulumi destroy`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exchange.environment import simulator_session

# How the Pulumi SDK marks a secret value on the wire.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"

# The account moto answers for.
ACCOUNT_ID = "123456789012"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def reveal(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def secret(value: Any) -> dict[str, Any]:
    """`value` marked secret, as the provider marks its secret outputs."""
    return {SECRET_SIG: SECRET_MARK, "value": value}


class ProvisioningError(Exception):
    """The simulated AWS refused a resource, as AWS would have."""

    def __init__(self, type_: str, name: str, reason: str) -> None:
        super().__init__(f"{type_} {name!r}: {reason}")
        self.type_ = type_
        self.name = name
        self.reason = reason


class PolicyRefused(Exception):
    """The policy pack refused the stack; nothing it refused was created."""

    def __init__(self, violations: list[Any]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


class Clients:
    """boto3 clients for the simulated AWS, made once (they are thread-safe).

    Use `Clients.of(endpoint_url, region)`: making a client loads its service
    model, a tenth of a second each, so one process keeps one set per
    endpoint and region.
    """

    @classmethod
    @functools.cache
    def of(cls, endpoint_url: str, region: str) -> Clients:
        return cls(endpoint_url, region)

    def __init__(self, endpoint_url: str, region: str) -> None:
        session = simulator_session(region)
        self.region = region
        self.ec2 = session.client("ec2", endpoint_url=endpoint_url)
        self.rds = session.client("rds", endpoint_url=endpoint_url)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint_url)
        self.s3 = session.client("s3", endpoint_url=endpoint_url)
        self.secretsmanager = session.client(
            "secretsmanager", endpoint_url=endpoint_url
        )

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"


Create = Callable[[Clients, str, dict[str, Any]], tuple[str, dict[str, Any]]]
Delete = Callable[[Clients, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Handler:
    create: Create
    delete: Delete


def ec2_tags(resource_type: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    """EC2's TagSpecifications for a create call."""
    if not tags:
        return []
    return [
        {
            "ResourceType": resource_type,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
    ]


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    """RDS's, ELB's and S3's tag list."""
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
