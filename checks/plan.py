"""The check plan: which checks prove a configuration's exchanges, and from where.

Each exchange is proven from the vantage point of the party that uses it:
the customer's client host (`onprem`) reaches the app databases and the
file storage, the platform's app host (`platform`) reaches the customer's
databases and web services, and the outsider (`outsider`) and a customer
host outside the client networks (`onprem-other`) must reach nothing that is
not theirs. Checks of the cloud's API state run from `cloud-api`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.config.model import ExchangeConfig, WhitelistTarget

CLOUD_API = "cloud-api"
ONPREM = "onprem"
ONPREM_OTHER = "onprem-other"
PLATFORM = "platform"
OUTSIDER = "outsider"
ROLES = (ONPREM, ONPREM_OTHER, PLATFORM, OUTSIDER)

# Each check's own timeout; one that has no verdict by then is an error.
API_TIMEOUT_S = 10.0
REACH_TIMEOUT_S = 3.0
ROUND_TRIP_TIMEOUT_S = 12.0
FILES_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class PlannedCheck:
    id: str
    kind: str  # the name users see, a key of checks.registry.CHECKS_BY_KIND
    title: str
    vantage: str
    exchange: str | None = None
    timeout_s: float = API_TIMEOUT_S
    # What the kind needs to know beyond the exchange: an aspect, an endpoint.
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def probe_timeout_s(self, margin_s: float = 1.0) -> float:
        """A probe's own timeout: the check's, less `margin_s` for its verdict."""
        return max(0.5, self.timeout_s - margin_s)


def plan_checks(config: ExchangeConfig, *, soak_s: float = 0.0) -> list[PlannedCheck]:
    """Every check that proves `config`'s exchanges, each at its vantage point.

    With `soak_s`, the database round trips also query again after an idle
    gap of that many seconds (and their timeouts grow by as much).
    """
    planned = [
        PlannedCheck(
            "vpn.connection",
            "cloud.state",
            "VPN connection exists and matches the configuration",
            CLOUD_API,
            params={"aspect": "vpn-connection"},
        ),
        PlannedCheck(
            "vpn.tunnels",
            "vpn.tunnels",
            "both tunnels are up",
            CLOUD_API,
        ),
        PlannedCheck(
            "vpn.routes",
            "cloud.state",
            "a route to every on-premises network leads into the VPN",
            CLOUD_API,
            params={"aspect": "vpn-routes"},
        ),
    ]
    for exchange in config.app_databases():
        planned += _app_database(exchange, soak_s)
    for exchange in config.remote_databases():
        planned += _remote_database(exchange)
    if config.whitelist is not None:
        planned += _whitelist(config)
    buckets: set[str] = set()
    for exchange in config.file_storages():
        bucket = config.bucket_name(exchange)
        if bucket not in buckets:
            buckets.add(bucket)
            planned += _bucket(bucket)
        planned.append(
            PlannedCheck(
                f"files.{exchange.name}.round-trip",
                "files.roundtrip",
                f"{exchange.name}: a file sent with a ticket arrives identical "
                f"({exchange.direction})",
                ONPREM,
                exchange.name,
                timeout_s=FILES_TIMEOUT_S,
            )
        )
    for exchange in config.web_services():
        planned.append(
            PlannedCheck(
                f"web.{exchange.name}.round-trip",
                "http.roundtrip",
                f"{exchange.name}: {exchange.method} {exchange.url} answers as "
                "the exchange expects",
                PLATFORM,
                exchange.name,
                # The exchange's own timeouts bound the call (EXC-07); the
                # token request may take as long again.
                timeout_s=2
                * (exchange.connect_timeout_seconds + exchange.read_timeout_seconds)
                + 2,
            )
        )
    return planned


def _app_database(exchange: Any, soak_s: float) -> list[PlannedCheck]:
    name, prefix = exchange.name, f"db.{exchange.name}"
    checks = [
        PlannedCheck(
            f"{prefix}.security-group",
            "cloud.state",
            f"{name}: port {exchange.port} open to the client networks only",
            CLOUD_API,
            name,
            params={"aspect": "db-security-group"},
        ),
        PlannedCheck(
            f"{prefix}.private",
            "security",
            f"{name}: database is private and encrypted",
            CLOUD_API,
            name,
            params={"aspect": "db-private"},
        ),
        PlannedCheck(
            f"{prefix}.path",
            "cloud.path",
            f"{name}: the cloud's configuration lets the client networks reach "
            f"port {exchange.port}",
            CLOUD_API,
            name,
        ),
        PlannedCheck(
            f"{prefix}.reach",
            "net.reach",
            f"{name}: the client host connects to port {exchange.port}",
            ONPREM,
            name,
            timeout_s=REACH_TIMEOUT_S,
            params={"endpoint": "database"},
        ),
        PlannedCheck(
            f"{prefix}.round-trip",
            "mysql.roundtrip",
            f"{name}: a row written reads back identical, a 1 MiB result arrives",
            ONPREM,
            name,
            timeout_s=ROUND_TRIP_TIMEOUT_S + soak_s,
            params={"soak_s": soak_s},
        ),
    ]
    if exchange.tls_required:
        checks.append(
            PlannedCheck(
                f"{prefix}.tls-required",
                "security",
                f"{name}: a connection without TLS is refused",
                ONPREM,
                name,
                timeout_s=ROUND_TRIP_TIMEOUT_S,
                params={"aspect": "plaintext-refused"},
            )
        )
    for vantage, who in ((OUTSIDER, "the outsider"), (ONPREM_OTHER, "other hosts")):
        checks.append(
            PlannedCheck(
                f"{prefix}.closed-to-{vantage}",
                "security",
                f"{name}: {who} cannot connect to the database",
                vantage,
                name,
                timeout_s=REACH_TIMEOUT_S + 1,
                params={"aspect": "closed", "endpoint": "database"},
            )
        )
    return checks


def _remote_database(exchange: Any) -> list[PlannedCheck]:
    name, prefix = exchange.name, f"remote.{exchange.name}"
    target = exchange.target
    if isinstance(target, WhitelistTarget):
        return [
            PlannedCheck(
                f"{prefix}.reach",
                "net.reach",
                f"{name}: the platform connects to {target.host}:{target.port} "
                "from its egress IPs",
                PLATFORM,
                name,
                timeout_s=REACH_TIMEOUT_S,
                params={"endpoint": "remote-database"},
            ),
            PlannedCheck(
                f"{prefix}.closed-to-outsider",
                "security",
                f"{name}: the customer's firewall keeps the outsider from "
                f"{target.host}:{target.port}",
                OUTSIDER,
                name,
                timeout_s=REACH_TIMEOUT_S + 1,
                params={"aspect": "closed", "endpoint": "remote-database"},
            ),
        ]
    return [
        PlannedCheck(
            f"{prefix}.path",
            "cloud.path",
            f"{name}: the cloud's configuration lets the load balancer reach "
            f"{target.address}:{target.port} through the VPN",
            CLOUD_API,
            name,
        ),
        PlannedCheck(
            f"{prefix}.target-health",
            "cloud.state",
            f"{name}: the load balancer's health checks reach the database",
            CLOUD_API,
            name,
            params={"aspect": "target-health"},
        ),
        # No soak here: without credentials the probe does not log in, and a
        # server ends a handshake left idle by itself.
        PlannedCheck(
            f"{prefix}.round-trip",
            "mysql.roundtrip",
            f"{name}: the platform reaches the database through the load balancer",
            PLATFORM,
            name,
            timeout_s=ROUND_TRIP_TIMEOUT_S,
        ),
        PlannedCheck(
            f"{prefix}.closed-to-outsider",
            "security",
            f"{name}: the outsider cannot connect to the load balancer",
            OUTSIDER,
            name,
            timeout_s=REACH_TIMEOUT_S + 1,
            params={"aspect": "closed", "endpoint": "load-balancer"},
        ),
    ]


def _whitelist(config: ExchangeConfig) -> list[PlannedCheck]:
    checks = [
        PlannedCheck(
            "whitelist.egress-ips",
            "whitelist",
            "the platform leaves from the egress IPs the customer whitelisted",
            CLOUD_API,
            params={"aspect": "egress-ips"},
        ),
        PlannedCheck(
            "whitelist.egress-ip-seen",
            "whitelist",
            "the internet sees the platform's traffic come from a whitelisted IP",
            PLATFORM,
            timeout_s=REACH_TIMEOUT_S + 1,
            params={"aspect": "egress-ip-seen"},
        ),
    ]
    for host, port in whitelisted_endpoints(config):
        checks += [
            PlannedCheck(
                f"whitelist.{host}:{port}.platform",
                "whitelist",
                f"the platform's egress IP is admitted to {host}:{port}",
                PLATFORM,
                params={"aspect": "admitted", "host": host, "port": port},
                timeout_s=REACH_TIMEOUT_S + 1,
            ),
            PlannedCheck(
                f"whitelist.{host}:{port}.outsider",
                "whitelist",
                f"the outsider is not admitted to {host}:{port}",
                OUTSIDER,
                params={"aspect": "refused", "host": host, "port": port},
                timeout_s=REACH_TIMEOUT_S + 1,
            ),
        ]
    return checks


def whitelisted_endpoints(config: ExchangeConfig) -> list[tuple[str, int]]:
    """The customer's web service sites the platform reaches, once each.

    A database reached over the internet has its own reach and
    closed-to-outsider checks (remote.NAME), which probe the same.
    """
    from urllib.parse import urlsplit

    ports = set(config.whitelist.ports) if config.whitelist else set()
    endpoints: dict[tuple[str, int], None] = {}
    for exchange in config.web_services():
        url = urlsplit(exchange.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.hostname and port in ports:
            endpoints[(url.hostname, port)] = None
    return list(endpoints)


def _bucket(bucket: str) -> list[PlannedCheck]:
    return [
        PlannedCheck(
            f"files.{bucket}.not-public",
            "security",
            f"bucket {bucket} blocks public access",
            CLOUD_API,
            params={"aspect": "bucket-private", "bucket": bucket},
        ),
        PlannedCheck(
            f"files.{bucket}.closed-to-outsider",
            "security",
            f"the outsider cannot read bucket {bucket} without a ticket",
            OUTSIDER,
            timeout_s=REACH_TIMEOUT_S + 2,
            params={"aspect": "bucket-anonymous", "bucket": bucket},
        ),
    ]


def from_vantage(planned: list[PlannedCheck], vantage: str) -> list[PlannedCheck]:
    """The checks `--from vantage` runs: the cloud's API ones and that role's."""
    return [c for c in planned if c.vantage in (CLOUD_API, vantage)]
