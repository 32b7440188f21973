"""Check functions by the kind name a plan uses."""

from __future__ import annotations

from collections.abc import Callable

from checks import cloud_state, mysql_round_trip
from checks.plan import PlannedCheck
from checks.result import Outcome
from checks.target import Target

CheckFunction = Callable[[Target, PlannedCheck], Outcome]


def not_built_yet(target: Target, planned: PlannedCheck) -> Outcome:
    raise NotImplementedError(
        f"{planned.exchange} is validated, but this option is neither provisioned "
        "nor checked yet"
    )


CHECKS_BY_KIND: dict[str, CheckFunction] = {
    "vpn-connection": cloud_state.vpn_connection,
    "vpn-routes": cloud_state.vpn_routes,
    "db-security-group": cloud_state.db_security_group,
    "db-private": cloud_state.db_private,
    "mysql-round-trip": mysql_round_trip.mysql_round_trip,
    "mysql-plaintext-refused": mysql_round_trip.mysql_plaintext_refused,
    "not-built-yet": not_built_yet,
}
