"""The check plan: which checks prove a configuration's exchanges, and from where."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.config.model import ExchangeConfig

# A vantage point that reads the cloud's API rather than sending packets.
CLOUD_API = "cloud-api"


@dataclass(frozen=True)
class PlannedCheck:
    id: str
    kind: str  # key into checks.registry.CHECKS_BY_KIND
    title: str
    vantage: str
    exchange: str | None = None
    timeout_s: float = 10.0


def plan_checks(config: ExchangeConfig, *, live_from: str) -> list[PlannedCheck]:
    """The checks for `config`; live probes start at the vantage point `live_from`."""
    planned = [
        PlannedCheck(
            "vpn.connection",
            "vpn-connection",
            "VPN connection exists and is attached to the customer's VPN gateway",
            CLOUD_API,
        ),
        PlannedCheck(
            "vpn.routes",
            "vpn-routes",
            "a route to every on-premises network leads into the VPN",
            CLOUD_API,
        ),
    ]
    for exchange in config.app_databases():
        prefix = f"db.{exchange.name}"
        planned += [
            PlannedCheck(
                f"{prefix}.security-group",
                "db-security-group",
                f"{exchange.name}: port {exchange.port} open to client networks only",
                CLOUD_API,
                exchange.name,
            ),
            PlannedCheck(
                f"{prefix}.private",
                "db-private",
                f"{exchange.name}: database is private and encrypted",
                CLOUD_API,
                exchange.name,
            ),
            PlannedCheck(
                f"{prefix}.round-trip",
                "mysql-round-trip",
                f"{exchange.name}: a row written reads back identical",
                live_from,
                exchange.name,
                timeout_s=15.0,
            ),
        ]
        if exchange.tls_required:
            planned.append(
                PlannedCheck(
                    f"{prefix}.tls-required",
                    "mysql-plaintext-refused",
                    f"{exchange.name}: a connection without TLS is refused",
                    live_from,
                    exchange.name,
                )
            )
    # Options 3 to 5 are validated but not yet provisioned: say so in the
    # report, as a skip, rather than leave them out of it.
    for exchange in [
        *config.remote_databases(),
        *config.file_storages(),
        *config.web_services(),
    ]:
        planned.append(
            PlannedCheck(
                f"{exchange.option}.{exchange.name}",
                "not-built-yet",
                f"{exchange.name}: {exchange.option} exchange works",
                live_from,
                exchange.name,
            )
        )
    return planned
