"""net.reach: a TCP connection from a vantage point to an exchange's endpoint.

It tells apart what stops a connection (checks.probe): refused, dropped on
the way, no route, a name that does not resolve. A refusal from a database
whose instance the cloud reports as not running is said as such.
"""

from __future__ import annotations

from dataclasses import replace

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.probe import OVER_INTERNET, OVER_VPN, reached
from checks.result import Outcome, failed
from checks.target import MissingOutput, Target
from exchange.config.model import WhitelistTarget
from infra import outputs as keys


def endpoint_of(target: Target, planned: PlannedCheck) -> tuple[str, int, str]:
    """The endpoint (host, port) the check's `endpoint` param names, and the path."""
    kind = planned.param("endpoint")
    if kind == "database":
        _, database = target.database(planned.exchange)
        return database[keys.DB_ADDRESS], int(database[keys.DB_PORT]), OVER_VPN
    if kind == "load-balancer":
        gateways = target.output(keys.REMOTE_DATABASES)
        if planned.exchange not in gateways:
            raise MissingOutput(
                f"the stack has no load balancer for {planned.exchange!r}"
            )
        gateway = gateways[planned.exchange]
        return gateway[keys.NLB_DNS_NAME], int(gateway[keys.NLB_PORT]), OVER_VPN
    if kind == "remote-database":
        exchange = next(
            e for e in target.config.remote_databases() if e.name == planned.exchange
        )
        if isinstance(exchange.target, WhitelistTarget):
            return exchange.target.host, exchange.target.port, OVER_INTERNET
        return endpoint_of(
            target, replace(planned, params={"endpoint": "load-balancer"})
        )
    raise ValueError(f"{planned.id}: no endpoint kind {kind!r}")


def net_reach(target: Target, planned: PlannedCheck) -> Outcome:
    host, port, path = endpoint_of(target, planned)
    outcome = reached(
        target,
        planned.vantage,
        host,
        port,
        timeout_s=planned.probe_timeout_s(0.5),
        path=path,
    )
    if outcome.diagnosis is dx.REFUSED:
        return database_not_running(target, planned) or outcome
    return outcome


def database_not_running(target: Target, planned: PlannedCheck) -> Outcome | None:
    """FAIL DB-NOT-RUNNING when the check's app database is not `available`."""
    if planned.param("endpoint", "database") != "database":
        return None
    if planned.exchange not in (target.outputs.get(keys.DATABASES) or {}):
        return None
    _, database = target.database(planned.exchange)
    instance = target.db_instance(database)
    status = instance.get("DBInstanceStatus", "unknown")
    if status == "available":
        return None
    return failed(
        f"{database[keys.DB_ADDRESS]}:{database[keys.DB_PORT]}: connection refused; "
        f"the cloud reports {instance['DBInstanceIdentifier']} as {status}",
        f"start {instance['DBInstanceIdentifier']} (aws rds start-db-instance), or "
        "wait for it to become available",
        dx.DATABASE_DOWN,
    )
