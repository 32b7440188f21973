"""The http.roundtrip check against the simulator's web service stand-in.

The stand-in serves the web services of examples/multi-option.yaml on
loopback, with a certificate from a test CA naming their hosts: shipments
(GET, OAuth2 client credentials, its token endpoint on the login host) and
results (POST, API key). The platform's vantage point is a loopback stand-in
that maps each host's port 443 to that server.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from checks import diagnosis as dx
from checks.http_round_trip import http_round_trip
from checks.plan import PlannedCheck, plan_checks
from checks.result import Outcome, Status
from checks.target import Target
from exchange.config import load_config
from exchange.config.model import ExchangeConfig, WebService
from exchange.environment import VantagePoint, simulator_session
from simulator import web_service

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HOSTS = ("api.nordwind.example", "login.nordwind.example", "erp.nordwind.example")
# What the service accepts, by exchange, and the variables the config names.
SECRETS = {
    "shipments": "Oa2clientSecret-5f1c",
    "results": "Ak9erpApiKey-77d2",
}
ENVIRONMENT = {
    "NORDWIND_SHIPMENTS_CLIENT_SECRET": SECRETS["shipments"],
    "NORDWIND_ERP_API_KEY": SECRETS["results"],
}
WRONG_SECRET = "Wr0ngValue-1234"


@dataclass
class Site:
    """A running stand-in and what a check needs to reach it."""

    spec: Path
    process: subprocess.Popen[bytes]
    port: int
    ca: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_site(
    folder: Path,
    authority: trustme.CA,
    exchanges: list[WebService],
    *,
    not_after: datetime | None = None,
) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    issued = authority.issue_cert(*HOSTS, not_after=not_after)
    cert, key, ca = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    port = free_port()
    spec = web_service.write_spec(
        folder,
        exchanges,
        listen=("127.0.0.1", port),
        cert=cert,
        key=key,
        secrets=SECRETS,
        schema_folder=EXAMPLES,
    )
    started: list[int] = []
    try:
        process = web_service.start(
            None, spec, on_started=lambda pid, what: started.append(pid)
        )
    except BaseException:
        for pid in started:  # ended by start() already; never left running
            assert not Path(f"/proc/{pid}").exists()
        raise
    return Site(spec, process, port, ca)


def stop_site(site: Site) -> None:
    if site.process.poll() is None:
        os.kill(site.process.pid, signal.SIGTERM)
    site.process.wait(timeout=5)


@pytest.fixture(scope="module")
def config() -> ExchangeConfig:
    return load_config(EXAMPLES / "multi-option.yaml")


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA(organization_name="http round trip test CA")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    authority: trustme.CA,
    config: ExchangeConfig,
) -> Iterator[Site]:
    running = start_site(
        tmp_path_factory.mktemp("site"), authority, config.web_services()
    )
    try:
        yield running
    finally:
        stop_site(running)


@pytest.fixture(autouse=True)
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def healthy(site: Site) -> Iterator[Site]:
    """The site serving normally again after the test, whatever it switched."""
    try:
        yield site
    finally:
        web_service.set_fault(site.spec, "normal")


def platform(port: int, ca: Path | None) -> VantagePoint:
    return VantagePoint(
        name="platform",
        description="platform stand-in",
        connect_to={f"{host}:443": f"127.0.0.1:{port}" for host in HOSTS},
        ca_bundle=None if ca is None else str(ca),
    )


def target_for(config: ExchangeConfig, point: VantagePoint) -> Target:
    return Target(
        config,
        {},
        {"platform": point},
        aws_endpoint_url=None,
        session=simulator_session(config.region),
    )


def with_service(
    config: ExchangeConfig, name: str, **changes: object
) -> ExchangeConfig:
    """`config` with web service `name` changed."""
    exchanges = tuple(
        replace(e, **changes) if isinstance(e, WebService) and e.name == name else e
        for e in config.exchanges
    )
    return replace(config, exchanges=exchanges)


def planned(config: ExchangeConfig, name: str) -> PlannedCheck:
    """The check as checks.plan plans it for `config`."""
    (check,) = [c for c in plan_checks(config) if c.id == f"web.{name}.round-trip"]
    assert (check.kind, check.vantage, check.exchange) == (
        "http.roundtrip",
        "platform",
        name,
    )
    return check


def run(config: ExchangeConfig, name: str, point: VantagePoint) -> Outcome:
    outcome = http_round_trip(target_for(config, point), planned(config, name))
    assert_no_secret(outcome)
    return outcome


def assert_no_secret(outcome: Outcome) -> None:
    written = outcome.evidence + outcome.hint
    for secret in [*SECRETS.values(), WRONG_SECRET]:
        assert secret not in written


# --- passes ---------------------------------------------------------------------


def test_a_get_with_an_oauth2_token_passes_with_schema_and_tls(
    healthy: Site, config: ExchangeConfig
) -> None:
    outcome = run(config, "shipments", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.PASS, outcome.evidence
    evidence = outcome.evidence
    assert "GET https://api.nordwind.example/v1/shipments" in evidence
    assert "via platform stand-in" in evidence
    assert "200, application/json, schema ok" in evidence
    assert "token from login.nordwind.example:443" in evidence
    assert "auth oauth2-client-credentials" in evidence
    assert "TLSv1.3, certificate valid" in evidence
    assert " ms (connect " in evidence


def test_a_post_passes_with_the_digest_the_service_echoes(
    healthy: Site, config: ExchangeConfig
) -> None:
    outcome = run(config, "results", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.PASS, outcome.evidence
    assert "POST https://erp.nordwind.example/api/results" in outcome.evidence
    assert "digest echoed and equal (sha256 " in outcome.evidence
    assert "schema ok" in outcome.evidence  # the receipt, against results.schema.json
    assert "auth api-key" in outcome.evidence


# --- authentication -------------------------------------------------------------


def test_a_wrong_client_secret_is_rejected_by_the_token_endpoint(
    healthy: Site, config: ExchangeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORDWIND_SHIPMENTS_CLIENT_SECRET", WRONG_SECRET)
    outcome = run(config, "shipments", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.AUTH_REJECTED
    assert "token endpoint https://login.nordwind.example/oauth2/token" in (
        outcome.evidence
    )
    assert "401" in outcome.evidence and "invalid_client" in outcome.evidence
    assert "client platform-shipments" in outcome.hint
    assert "environment variable NORDWIND_SHIPMENTS_CLIENT_SECRET" in outcome.hint


def test_a_wrong_api_key_is_rejected_by_the_service(
    healthy: Site, config: ExchangeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORDWIND_ERP_API_KEY", WRONG_SECRET)
    outcome = run(config, "results", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.AUTH_REJECTED
    assert "401" in outcome.evidence
    assert "the API key in header X-Api-Key" in outcome.hint
    assert "environment variable NORDWIND_ERP_API_KEY" in outcome.hint


def test_a_secret_that_is_not_set_is_an_error_naming_its_variable(
    healthy: Site, config: ExchangeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NORDWIND_ERP_API_KEY")
    outcome = run(config, "results", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.ERROR
    assert outcome.diagnosis is dx.CHECK_ERROR
    assert "environment variable NORDWIND_ERP_API_KEY is not set" in outcome.evidence


# --- the service's answers ------------------------------------------------------


def test_a_failing_service_is_reported_with_its_status(
    healthy: Site, config: ExchangeConfig
) -> None:
    web_service.set_fault(healthy.spec, "errors")
    outcome = run(config, "results", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.HTTP_STATUS
    assert "answered 503" in outcome.evidence
    assert "retry after 60 s" in outcome.hint


def test_a_service_slower_than_the_read_timeout_is_too_slow(
    healthy: Site, config: ExchangeConfig
) -> None:
    web_service.set_fault(healthy.spec, "slow", delay_s=4)
    impatient = with_service(config, "results", read_timeout_seconds=1.0)
    started = time.monotonic()
    outcome = run(impatient, "results", platform(healthy.port, healthy.ca))
    waited = time.monotonic() - started
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.TOO_SLOW
    assert "no complete answer within readTimeoutSeconds 1" in outcome.evidence
    assert waited < 2.5, f"the check waited {waited:.1f} s"


def test_an_answer_the_schema_refuses_breaks_the_contract_at_its_path(
    healthy: Site, config: ExchangeConfig
) -> None:
    # The service answers what the example's schema says; the check expects
    # one more property of each item.
    stricter = with_service(
        config,
        "shipments",
        response_schema={
            "type": "array",
            "items": {"type": "object", "required": ["id", "status", "eta"]},
        },
    )
    outcome = run(stricter, "shipments", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.HTTP_CONTRACT
    assert "fails responseSchema at /0: the 'required' rule" in outcome.evidence
    # The validator's message would quote the service's data: it stays out.
    assert "'eta'" not in outcome.evidence


def test_another_content_type_breaks_the_contract(
    healthy: Site, config: ExchangeConfig
) -> None:
    xml = with_service(
        config, "shipments", content_type="application/xml", response_schema=None
    )
    outcome = run(xml, "shipments", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.HTTP_CONTRACT
    assert "Content-Type is application/json" in outcome.evidence
    assert "expects application/xml" in outcome.evidence


class EveryInstant:
    """A schedule that runs again at once: any call is slower than its interval."""

    def shortest_interval_seconds(self) -> int:
        return 0


def test_a_call_slower_than_the_schedule_s_interval_is_a_warning(
    healthy: Site, config: ExchangeConfig
) -> None:
    hurried = with_service(config, "results", schedule=EveryInstant())
    outcome = run(hurried, "results", platform(healthy.port, healthy.ca))
    assert outcome.status is Status.WARN, outcome.evidence
    assert outcome.diagnosis is dx.TOO_SLOW
    assert "longer than the schedule's interval of 0 s" in outcome.evidence
    assert "digest echoed and equal" in outcome.evidence


# --- TLS and the way there ------------------------------------------------------


def test_a_certificate_from_an_untrusted_ca_fails_tls(
    healthy: Site, config: ExchangeConfig, tmp_path: Path
) -> None:
    stranger = tmp_path / "other-ca.pem"
    trustme.CA(organization_name="a CA nobody trusts").cert_pem.write_to_path(
        str(stranger)
    )
    outcome = run(config, "results", platform(healthy.port, stranger))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.TLS_FAILED
    assert "certificate not accepted" in outcome.evidence
    assert "a CA the platform trusts" in outcome.hint


def test_a_certificate_that_does_not_name_the_host_fails_tls(
    healthy: Site, config: ExchangeConfig
) -> None:
    elsewhere = with_service(
        config, "results", url="https://erp2.nordwind.example/api/results"
    )
    point = platform(healthy.port, healthy.ca)
    point.connect_to["erp2.nordwind.example:443"] = f"127.0.0.1:{healthy.port}"
    outcome = run(elsewhere, "results", point)
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.TLS_FAILED
    assert "the certificate must name erp2.nordwind.example" in outcome.hint


def test_a_certificate_about_to_expire_is_a_warning(
    tmp_path: Path, authority: trustme.CA, config: ExchangeConfig
) -> None:
    soon = datetime.now(UTC) + timedelta(days=5)
    expiring = start_site(
        tmp_path / "expiring", authority, config.web_services(), not_after=soon
    )
    try:
        outcome = run(config, "results", platform(expiring.port, expiring.ca))
    finally:
        stop_site(expiring)
    assert outcome.status is Status.WARN, outcome.evidence
    assert outcome.diagnosis is dx.CERTIFICATE_EXPIRING
    assert re.search(
        r"the certificate of erp\.nordwind\.example expires in [45]\.\d days",
        outcome.evidence,
    )
    assert "digest echoed and equal" in outcome.evidence


def test_nothing_listening_is_a_closed_port(config: ExchangeConfig) -> None:
    outcome = run(config, "results", platform(free_port(), None))
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.REFUSED
    assert "erp.nordwind.example:443 via platform stand-in" in outcome.evidence


def test_a_service_the_stand_in_has_no_route_to_is_unreachable(
    config: ExchangeConfig,
) -> None:
    point = VantagePoint(name="platform", description="platform stand-in")
    outcome = run(config, "results", point)
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.UNREACHABLE
