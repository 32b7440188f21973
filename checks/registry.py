"""Check functions by the kind name users see (`exchange check --list-kinds`)."""

from __future__ import annotations

from collections.abc import Callable

from checks import (
    cloud_path,
    cloud_state,
    files_round_trip,
    http_round_trip,
    mysql_round_trip,
    net_reach,
    security,
    vpn_tunnels,
    whitelist,
)
from checks.plan import PlannedCheck
from checks.result import Outcome
from checks.target import Target

CheckFunction = Callable[[Target, PlannedCheck], Outcome]

CHECKS_BY_KIND: dict[str, CheckFunction] = {
    "cloud.state": cloud_state.cloud_state,
    "vpn.tunnels": vpn_tunnels.vpn_tunnels,
    "net.reach": net_reach.net_reach,
    "cloud.path": cloud_path.cloud_path,
    "mysql.roundtrip": mysql_round_trip.mysql_round_trip,
    "http.roundtrip": http_round_trip.http_round_trip,
    "files.roundtrip": files_round_trip.files_round_trip,
    "whitelist": whitelist.whitelist,
    "security": security.security,
}
