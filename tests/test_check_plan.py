"""The check plan: which checks prove a configuration, and what is not proven yet."""

from __future__ import annotations

import pytest

from checks.plan import CLOUD_API, plan_checks
from checks.result import Status
from checks.runner import run_checks
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


def test_an_app_database_is_proven_by_six_checks(tunnel_keys):
    planned = plan_checks(load_config(EXAMPLE), live_from="onprem")
    assert [p.id for p in planned] == [
        "vpn.connection",
        "vpn.routes",
        "db.orders.security-group",
        "db.orders.private",
        "db.orders.round-trip",
        "db.orders.tls-required",
    ]
    live = [p for p in planned if p.vantage != CLOUD_API]
    assert {p.vantage for p in live} == {"onprem"}
    assert all(p.timeout_s > 0 for p in planned)


def test_every_database_of_options_1_and_2_gets_its_own_checks(multi_option):
    ids = [p.id for p in plan_checks(multi_option, live_from="onprem")]
    for database in multi_option.app_databases():
        assert f"db.{database.name}.round-trip" in ids


def test_options_3_to_5_are_reported_as_skipped_not_left_out(multi_option):
    planned = [
        p
        for p in plan_checks(multi_option, live_from="onprem")
        if p.kind == "not-built-yet"
    ]
    names = {e.name for e in multi_option.remote_databases()}
    names |= {e.name for e in multi_option.file_storages()}
    names |= {e.name for e in multi_option.web_services()}
    assert {p.exchange for p in planned} == names
    # The skip needs no cloud: the check says what is missing and stops.
    results = run_checks(target=None, planned=planned)  # type: ignore[arg-type]
    assert {r.status for r in results} == {Status.SKIP}
    assert all("neither provisioned nor checked yet" in r.evidence for r in results)
