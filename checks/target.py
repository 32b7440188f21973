"""What the checks run against: one stack, its cloud's API and its vantage points.

Built from the environment the simulator publishes, or, on a real network,
from the stack's outputs (`pulumi stack output --json`) and the AWS
credentials boto3 finds. The checks read nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from exchange.config.model import AppDatabase, ExchangeConfig
from exchange.environment import VantagePoint, entered, simulator_session
from infra import outputs as keys

log = logging.getLogger("checks")

HERE = "here"

# Every API call is bounded: a dead endpoint costs seconds, not minutes. One
# attempt: what a check retries, it retries through checks.retry.
_API_CONFIG = Config(
    connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 1}
)


class Unreachable(Exception):
    """An endpoint cannot be reached from a vantage point; the message says why."""


class NameNotResolved(Unreachable):
    """The endpoint's name does not resolve at the vantage point."""


class MissingOutput(Exception):
    """The stack has no output the check needs (not provisioned, or older)."""


class NoStandIn(Exception):
    """The simulator could not serve an endpoint here; the message says why."""


@dataclass
class Target:
    config: ExchangeConfig
    outputs: dict[str, Any]
    vantage_points: dict[str, VantagePoint]
    aws_endpoint_url: str | None
    session: boto3.session.Session
    # CA bundle for TLS probes from `here` (on AWS: the RDS CA bundle).
    here_ca_bundle: str | None = None
    # On a real network: the vantage point this machine stands for
    # (`--from onprem` on a customer's client host), whose probes start here.
    here_as: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def simulated(
        cls,
        config: ExchangeConfig,
        outputs: dict[str, Any],
        vantage_points: dict[str, VantagePoint],
        aws_endpoint_url: str,
    ) -> Target:
        session = simulator_session(config.region)
        return cls(config, outputs, vantage_points, aws_endpoint_url, session)

    @classmethod
    def real(
        cls,
        config: ExchangeConfig,
        outputs: dict[str, Any],
        ca_bundle: str | None,
        *,
        here_as: str | None = None,
    ) -> Target:
        session = boto3.session.Session(region_name=config.region)
        return cls(
            config,
            outputs,
            {},
            None,
            session,
            here_ca_bundle=ca_bundle,
            here_as=here_as,
        )

    def probes_from_here(self, vantage: str) -> bool:
        return vantage == HERE or (self.here_as is not None and vantage == self.here_as)

    def unavailable(self, vantage: str) -> str | None:
        """Why probes from `vantage` cannot start here, or None when they can."""
        if self.probes_from_here(vantage) or vantage in self.vantage_points:
            return None
        if self.aws_endpoint_url is None:
            return (
                f"runs from the {vantage} vantage point: run `exchange check "
                f"--from {vantage}` on such a host"
            )
        return (
            f"this simulator has no {vantage} vantage point (the loopback data plane "
            "has only onprem; run as root for the namespaces)"
        )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                log.debug(
                    "%s API at %s", service, self.aws_endpoint_url or "AWS (default)"
                )
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.aws_endpoint_url, config=_API_CONFIG
                )
            return self._clients[service]

    def output(self, key: str) -> Any:
        if key not in self.outputs:
            raise MissingOutput(f"the stack has no output {key!r}")
        return self.outputs[key]

    def database(self, name: str) -> tuple[AppDatabase, dict[str, Any]]:
        exchange = next(e for e in self.config.app_databases() if e.name == name)
        databases = self.output(keys.DATABASES)
        if name not in databases:
            raise MissingOutput(f"the stack has no database output for {name!r}")
        return exchange, databases[name]

    def vpn_connection(self) -> tuple[str, dict[str, Any]]:
        """The stack's VPN connection, as EC2 describes it now: (id, description)."""
        connection_id = self.output(keys.VPN_CONNECTION_ID)
        (connection,) = self.client("ec2").describe_vpn_connections(
            VpnConnectionIds=[connection_id]
        )["VpnConnections"]
        return connection_id, connection

    def db_instance(self, database: dict[str, Any]) -> dict[str, Any]:
        """An app database's RDS instance, as RDS describes it now."""
        (instance,) = self.client("rds").describe_db_instances(
            DBInstanceIdentifier=database[keys.DB_INSTANCE_ID]
        )["DBInstances"]
        return instance

    def endpoint(self, vantage: str, host: str, port: int) -> tuple[str, int, str]:
        """Where a probe from `vantage` connects for `host:port`, and how it gets there.

        From `here` the probe connects directly. From a loopback stand-in it
        may connect only where the simulator mapped the endpoint: it must
        never fall back to the cloud's address, which is no host of ours.
        """
        if self.probes_from_here(vantage):
            return host, port, "direct"
        point = self.vantage_points.get(vantage)
        if point is None:
            raise Unreachable(f"the environment has no vantage point {vantage!r}")
        if f"{host}:{port}" in point.missing:
            raise NoStandIn(point.missing[f"{host}:{port}"])
        if point.netns is not None:
            # A simulated host: names resolve as its resolver answers; the
            # probe opens its socket in the namespace (checks.probe).
            address = point.hosts.get(host, host)
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise NameNotResolved(
                    f"{point.description} cannot resolve {host}"
                ) from None
            return address, port, point.description
        mapped = point.connect_to.get(f"{host}:{port}")
        if mapped is None:
            raise Unreachable(
                f"{point.description} has no route to {host}:{port} "
                "(the simulator published no stand-in for it)"
            )
        mapped_host, mapped_port = mapped.rsplit(":", 1)
        return mapped_host, int(mapped_port), point.description

    def at_vantage(self, vantage: str) -> contextlib.AbstractContextManager[None]:
        """The calling thread at `vantage`: inside its namespace, if it has one."""
        point = self.vantage_points.get(vantage)
        if point is None or point.netns is None:
            return contextlib.nullcontext()
        return entered(point.netns)

    def ca_bundle(self, vantage: str) -> str | None:
        if self.probes_from_here(vantage):
            return self.here_ca_bundle
        point = self.vantage_points.get(vantage)
        return point.ca_bundle if point else None

    def file_storage_endpoint(self, vantage: str) -> tuple[str, str, int] | None:
        """Where `vantage` sends a ticket (presigned URL): scheme, host, port.

        None means the ticket's own address: on AWS, and from this machine.
        In the simulator the ticket names moto's loopback endpoint, which a
        vantage point does not reach; it reaches the file storage as S3's
        regional name: over HTTPS from a namespace, whose `hosts` map it to
        the relay's public address, in plain HTTP from a loopback stand-in,
        whose `connect_to` maps it to moto's port.
        """
        if self.aws_endpoint_url is None or self.probes_from_here(vantage):
            return None
        host = f"s3.{self.config.region}.amazonaws.com"
        point = self.vantage_points.get(vantage)
        if point is not None and point.netns is not None:
            return "https", host, 443
        return "http", host, 80
