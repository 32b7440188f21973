"""The check plan: which checks prove a configuration, and from where."""

from __future__ import annotations

import pytest

from checks.plan import (
    CLOUD_API,
    ONPREM,
    OUTSIDER,
    PLATFORM,
    from_vantage,
    plan_checks,
    whitelisted_endpoints,
)
from checks.registry import CHECKS_BY_KIND
from checks.result import Status
from checks.runner import run_checks
from checks.target import Target
from exchange.config import load_config
from tests.conftest import EXAMPLE, ROOT

MULTI_OPTION = ROOT / "examples" / "multi-option.yaml"
MULTI_OPTION_SECRETS = {
    "NORDWIND_SHIPMENTS_CLIENT_SECRET": "client-secret-for-tests",
    "NORDWIND_ERP_API_KEY": "api-key-for-tests",
}


@pytest.fixture
def multi_option(tunnel_keys, monkeypatch):
    for name, value in MULTI_OPTION_SECRETS.items():
        monkeypatch.setenv(name, value)
    return load_config(MULTI_OPTION)


def test_an_app_database_is_proven_from_the_client_host_and_kept_from_others(
    tunnel_keys,
):
    planned = {p.id: p.vantage for p in plan_checks(load_config(EXAMPLE))}
    assert planned == {
        "vpn.connection": CLOUD_API,
        "vpn.tunnels": CLOUD_API,
        "vpn.routes": CLOUD_API,
        "db.orders.security-group": CLOUD_API,
        "db.orders.private": CLOUD_API,
        "db.orders.path": CLOUD_API,
        "db.orders.reach": ONPREM,
        "db.orders.round-trip": ONPREM,
        "db.orders.tls-required": ONPREM,
        "db.orders.closed-to-outsider": OUTSIDER,
        "db.orders.closed-to-onprem-other": "onprem-other",
    }


def test_every_exchange_is_proven_live_by_the_party_that_uses_it(multi_option):
    live = {
        (p.exchange, p.vantage)
        for p in plan_checks(multi_option)
        if p.vantage != CLOUD_API and p.exchange
    }
    for exchange in [*multi_option.app_databases(), *multi_option.file_storages()]:
        assert (exchange.name, ONPREM) in live
    for exchange in [*multi_option.remote_databases(), *multi_option.web_services()]:
        assert (exchange.name, PLATFORM) in live


def test_every_planned_kind_is_registered_and_every_kind_is_planned(multi_option):
    kinds = {p.kind for p in plan_checks(multi_option)}
    assert kinds == set(CHECKS_BY_KIND)


def test_check_ids_are_unique(multi_option):
    ids = [p.id for p in plan_checks(multi_option)]
    assert len(ids) == len(set(ids))


def test_from_a_vantage_point_keeps_its_checks_and_the_cloud_apis(multi_option):
    planned = from_vantage(plan_checks(multi_option), OUTSIDER)
    assert {p.vantage for p in planned} == {CLOUD_API, OUTSIDER}
    assert any(p.id == "db.orders.closed-to-outsider" for p in planned)


def test_a_soak_lengthens_the_database_round_trips_by_its_time(multi_option):
    plain = {p.id: p for p in plan_checks(multi_option)}
    soaked = {p.id: p for p in plan_checks(multi_option, soak_s=30)}
    # Only where the probe logs in: the app databases, not the remote ones.
    for check_id, check in soaked.items():
        if check.kind == "mysql.roundtrip" and check_id.startswith("db."):
            assert check.timeout_s == plain[check_id].timeout_s + 30
            assert check.param("soak_s") == 30
        else:
            assert check.timeout_s == plain[check_id].timeout_s


def test_the_whitelisted_endpoints_are_the_web_service_sites_on_whitelisted_ports(
    multi_option,
):
    assert whitelisted_endpoints(multi_option) == [
        ("api.nordwind.example", 443),
        ("erp.nordwind.example", 443),
    ]
    # The database behind the whitelist is proven by its own checks.
    ids = {p.id for p in plan_checks(multi_option)}
    assert {"remote.finance.reach", "remote.finance.closed-to-outsider"} <= ids


def test_on_a_real_network_a_live_check_says_where_to_run_it(tunnel_keys):
    config = load_config(EXAMPLE)
    target = Target.real(config, {}, None)
    planned = [p for p in plan_checks(config) if p.vantage == ONPREM]
    results = run_checks(target, planned)
    assert {r.status for r in results} == {Status.SKIP}
    assert all("--from onprem" in r.evidence for r in results)
