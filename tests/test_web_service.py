"""The customer's REST web service stand-in (option 5), on loopback.

Each test starts the server as the simulator does, from the example
configurations' web services, and talks HTTPS to it on 127.0.0.1 with the
test CA; one test runs it inside a network namespace (root only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
import trustme

from exchange.config import load_config
from exchange.config.model import WebService
from simulator import web_service
from simulator.web_service import Site, SpecError, WebServiceFailed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# Stand-ins for the customer's secrets, by exchange; none may reach a log.
SECRETS = {
    "shipments": "Oa2clientSecret-5f1c",  # OAuth2 client secret
    "results": "Ak9erpApiKey-77d2",  # API key
    "tracking": "Pw3trackingPassword-0e4",  # basic auth password
    "rates": "Bt6ratesToken-c3a9",  # bearer token
}
# One exchange of the examples per auth kind.
BY_AUTH_KIND = {
    "basic": "tracking",
    "bearer": "rates",
    "api-key": "results",
    "oauth2-client-credentials": "shipments",
}


@pytest.fixture(scope="module")
def services() -> dict[str, WebService]:
    """The web services of the examples, by name."""
    found = [
        *load_config(EXAMPLES / "multi-option.yaml").web_services(),
        *load_config(EXAMPLES / "web-service-basic-and-bearer.yaml").web_services(),
    ]
    assert {s.auth.kind for s in found} == set(BY_AUTH_KIND)
    return {service.name: service for service in found}


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA(organization_name="web service test CA")


@dataclass
class RunningService:
    """A started server, and a client that trusts the test CA."""

    spec: Path
    process: subprocess.Popen[bytes]
    base: str
    http: requests.Session
    started: list[tuple[int, str]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.spec.with_suffix(".log")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def certificate(folder: Path, authority: trustme.CA, *hosts: str) -> tuple[Path, Path]:
    issued = authority.issue_cert("127.0.0.1", "localhost", *hosts)
    cert, key = folder / "server.pem", folder / "server.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def start_service(
    folder: Path,
    authority: trustme.CA,
    exchanges: list[WebService],
    *,
    site: Site | None = None,
) -> RunningService:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = certificate(folder, authority)
    port = free_port()
    spec = web_service.write_spec(
        folder,
        exchanges,
        listen=("127.0.0.1", port),
        cert=cert,
        key=key,
        secrets=SECRETS,
        site=site,
        schema_folder=EXAMPLES,
    )
    started: list[tuple[int, str]] = []
    process = web_service.start(
        None, spec, on_started=lambda pid, what: started.append((pid, what))
    )
    http = requests.Session()
    http.trust_env = False  # never through a proxy from the environment
    ca = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    http.verify = str(ca)
    return RunningService(spec, process, f"https://127.0.0.1:{port}", http, started)


def stop_service(service: RunningService) -> None:
    """Stop the server by its pid, and prove that nothing of it is left."""
    service.http.close()
    pid = service.process.pid
    if service.process.poll() is None:
        os.kill(pid, signal.SIGTERM)
    assert service.process.wait(timeout=5) == 0
    assert not Path(f"/proc/{pid}").exists()
    port = int(service.base.rsplit(":", 1)[1])
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


@pytest.fixture
def service(
    tmp_path: Path, authority: trustme.CA, services: dict[str, WebService]
) -> Iterator[RunningService]:
    """One server for every web service of the examples."""
    running = start_service(tmp_path / "site", authority, list(services.values()))
    try:
        yield running
    finally:
        stop_service(running)


def url(service: RunningService, exchange: WebService) -> str:
    return service.base + urlsplit(exchange.url).path


def access_token(service: RunningService, exchange: WebService) -> str:
    auth = exchange.auth
    response = service.http.post(
        service.base + urlsplit(auth.token_url).path,
        data={"grant_type": "client_credentials", "scope": " ".join(auth.scopes)},
        auth=(auth.client_id, SECRETS[exchange.name]),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    return response.json()["access_token"]


def credentials(
    service: RunningService, exchange: WebService, how: str = "right"
) -> dict[str, Any]:
    """The request arguments that carry the exchange's auth: right, wrong or none."""
    if how == "missing":
        return {}
    auth = exchange.auth
    secret = SECRETS[exchange.name] if how == "right" else "Wr0ngValue-1234"
    if auth.kind == "basic":
        return {"auth": (auth.username, secret)}
    if auth.kind == "api-key":
        return {"headers": {auth.header: secret}}
    if auth.kind == "oauth2-client-credentials" and how == "right":
        secret = access_token(service, exchange)
    return {"headers": {"Authorization": f"Bearer {secret}"}}


def call(
    service: RunningService,
    exchange: WebService,
    how: str = "right",
    *,
    timeout: float | tuple[float, float] = 5,
    body: bytes = b'{"results": []}',
) -> requests.Response:
    arguments = credentials(service, exchange, how)
    if exchange.method != "GET":
        headers = arguments.setdefault("headers", {})
        headers["Content-Type"] = exchange.content_type
        arguments["data"] = body
    return service.http.request(
        exchange.method, url(service, exchange), timeout=timeout, **arguments
    )


def response_schema(exchange: WebService) -> Any:
    written = exchange.response_schema
    if isinstance(written, str):
        return json.loads((EXAMPLES / written).read_text())
    return written


# --- the example document ----------------------------------------------------


def test_the_example_response_schemas_get_documents_they_accept(
    services: dict[str, WebService],
) -> None:
    schemas = [response_schema(s) for s in services.values() if s.response_schema]
    assert len(schemas) == 2
    for schema in schemas:
        document = web_service.example_document(schema)
        jsonschema.validate(document, schema)
        assert document, "an empty document proves little"


def test_an_example_document_follows_refs_formats_bounds_and_combinations() -> None:
    schema = {
        "$defs": {"status": {"enum": ["open", "shipped", "delivered"]}},
        "type": "object",
        "required": ["status", "at", "parcels", "weight", "carrier", "note"],
        "properties": {
            "status": {"$ref": "#/$defs/status"},
            "at": {"type": "string", "format": "date-time"},
            "parcels": {
                "type": "array",
                "minItems": 2,
                "uniqueItems": True,
                "items": {"type": "integer", "minimum": 1, "multipleOf": 5},
            },
            "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
            "carrier": {
                "allOf": [
                    {"type": "object", "required": ["name"]},
                    {"required": ["code"], "properties": {"code": {"minLength": 3}}},
                ]
            },
            "note": {"oneOf": [{"type": "null"}, {"type": "string"}]},
        },
        "additionalProperties": False,
    }
    document = web_service.example_document(schema)
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    assert len(document["parcels"]) == 2


def test_a_pattern_without_examples_cannot_be_exemplified_and_says_what_to_add() -> (
    None
):
    schema = {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"pattern": "^S[0-9]{6}$"}},
    }
    with pytest.raises(SpecError, match=r"pattern.*`examples`"):
        web_service.example_document(schema)
    schema["properties"]["id"]["examples"] = ["S000042"]
    assert web_service.example_document(schema) == {"id": "S000042"}


# --- serving, per auth kind ---------------------------------------------------


@pytest.mark.parametrize("kind", BY_AUTH_KIND)
def test_the_right_auth_gets_200_and_a_document_valid_against_the_schema(
    service: RunningService, services: dict[str, WebService], kind: str
) -> None:
    exchange = services[BY_AUTH_KIND[kind]]
    response = call(service, exchange)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == exchange.content_type
    jsonschema.validate(response.json(), response_schema(exchange) or {})


@pytest.mark.parametrize("how", ["wrong", "missing"])
@pytest.mark.parametrize("kind", BY_AUTH_KIND)
def test_wrong_or_missing_auth_gets_401_with_a_challenge(
    service: RunningService, services: dict[str, WebService], kind: str, how: str
) -> None:
    response = call(service, services[BY_AUTH_KIND[kind]], how)
    assert response.status_code == 401
    scheme = {"basic": "Basic", "api-key": "ApiKey"}.get(kind, "Bearer")
    assert response.headers["WWW-Authenticate"].startswith(f"{scheme} realm=")
    if scheme == "Bearer":
        # RFC 6750: an error code only when a token was sent.
        invalid = 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert invalid == (how == "wrong")


def test_the_token_endpoint_refuses_a_wrong_client_secret(
    service: RunningService, services: dict[str, WebService]
) -> None:
    auth = services["shipments"].auth
    response = service.http.post(
        service.base + urlsplit(auth.token_url).path,
        data={"grant_type": "client_credentials"},
        auth=(auth.client_id, "Wr0ngSecret-99"),
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_the_token_endpoint_accepts_the_client_in_the_form_too(
    service: RunningService, services: dict[str, WebService]
) -> None:
    auth = services["shipments"].auth
    response = service.http.post(
        service.base + urlsplit(auth.token_url).path,
        data={
            "grant_type": "client_credentials",
            "client_id": auth.client_id,
            "client_secret": SECRETS["shipments"],
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "shipments.read"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_post_is_answered_with_the_digest_of_the_body_received(
    service: RunningService, services: dict[str, WebService]
) -> None:
    exchange = services["results"]
    body = json.dumps({"results": [secrets.token_hex(8) for _ in range(5000)]}).encode()
    response = call(service, exchange, body=body)
    assert response.status_code == 200
    digest = hashlib.sha256(body).hexdigest()
    assert response.headers["X-Received-Sha256"] == digest
    receipt = response.json()
    assert receipt["receivedSha256"] == digest
    assert receipt["receivedBytes"] == len(body)
    jsonschema.validate(receipt, response_schema(exchange))


def test_a_chunked_post_is_digested_whole(
    service: RunningService, services: dict[str, WebService]
) -> None:
    exchange = services["results"]
    parts = [secrets.token_bytes(70_000) for _ in range(3)]
    response = service.http.post(
        url(service, exchange),
        data=iter(parts),  # a generator body goes out chunked
        timeout=5,
        **credentials(service, exchange),
    )
    assert response.status_code == 200
    assert (
        response.json()["receivedSha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    )


def test_an_unknown_path_is_404_and_a_wrong_method_405(
    service: RunningService, services: dict[str, WebService]
) -> None:
    assert service.http.get(service.base + "/v1/nothing", timeout=5).status_code == 404
    response = service.http.get(url(service, services["results"]), timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# --- faults -------------------------------------------------------------------


def test_the_slow_fault_delays_answers_until_switched_back(
    service: RunningService, services: dict[str, WebService]
) -> None:
    exchange = services["rates"]
    web_service.set_fault(service.spec, "slow", delay_s=1.0)
    with pytest.raises(requests.ReadTimeout):
        call(service, exchange, timeout=(2, 0.3))
    started = time.monotonic()
    response = call(service, exchange, timeout=(2, 10))
    waited = time.monotonic() - started
    assert response.status_code == 200
    assert 0.9 <= waited < 5, f"answered after {waited:.2f} s"
    web_service.set_fault(service.spec, "normal")
    started = time.monotonic()
    assert call(service, exchange, timeout=(2, 0.5)).status_code == 200
    assert time.monotonic() - started < 0.5


def test_the_errors_fault_answers_5xx_until_switched_back(
    service: RunningService, services: dict[str, WebService]
) -> None:
    exchange = services["tracking"]
    web_service.set_fault(service.spec, "errors")
    response = call(service, exchange)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    web_service.set_fault(service.spec, "errors", status=500)
    assert call(service, exchange).status_code == 500
    assert web_service.current_fault(service.spec).kind == "errors"
    web_service.set_fault(service.spec, "normal")
    assert call(service, exchange).status_code == 200


def test_a_fault_is_refused_without_what_it_needs(tmp_path: Path) -> None:
    spec = tmp_path / "web-service.json"
    with pytest.raises(ValueError, match="use one of normal, slow, errors"):
        web_service.set_fault(spec, "flaky")
    with pytest.raises(ValueError, match="needs a delay"):
        web_service.set_fault(spec, "slow")
    with pytest.raises(ValueError, match="5xx"):
        web_service.set_fault(spec, "errors", status=404)
    assert not web_service._fault_file(spec).exists()


# --- what it leaves behind ----------------------------------------------------


def test_the_log_records_every_call_and_never_a_credential(
    service: RunningService, services: dict[str, WebService]
) -> None:
    for exchange in services.values():
        for how in ("right", "wrong", "missing"):
            call(service, exchange, how)
    token = access_token(service, services["shipments"])
    entries = [json.loads(line) for line in service.log.read_text().splitlines()]
    for name in services:
        outcomes = {e["auth"] for e in entries if e.get("exchange") == name}
        assert outcomes == {"accepted", "rejected", "missing"}, name
    tracking = services["tracking"].auth
    basic = f"{tracking.username}:{SECRETS['tracking']}".encode()
    leaks = [*SECRETS.values(), token, base64.b64encode(basic).decode()]
    written = service.log.read_text() + service.spec.with_suffix(".stderr").read_text()
    assert not [leak for leak in leaks if leak in written]


def test_the_spec_is_private_and_the_process_reported_by_pid(
    service: RunningService,
) -> None:
    assert service.spec.stat().st_mode & 0o777 == 0o600
    assert service.started == [(service.process.pid, "web service web-service")]
    cmdline = Path(f"/proc/{service.process.pid}/cmdline").read_bytes()
    assert b"simulator.web_service" in cmdline


def test_a_server_that_cannot_start_is_reported_and_left_running_nowhere(
    tmp_path: Path, services: dict[str, WebService]
) -> None:
    spec = web_service.write_spec(
        tmp_path,
        [services["rates"]],
        listen=("127.0.0.1", free_port()),
        cert=tmp_path / "missing.pem",
        key=tmp_path / "missing.key",
        secrets=SECRETS,
    )
    started: list[int] = []
    with pytest.raises(WebServiceFailed, match="exited with 1: cannot serve"):
        web_service.start(None, spec, on_started=lambda pid, what: started.append(pid))
    (pid,) = started
    assert not Path(f"/proc/{pid}").exists()


# --- sites --------------------------------------------------------------------


def test_sites_are_every_host_the_platform_calls_token_urls_included(
    services: dict[str, WebService],
) -> None:
    assert web_service.sites(services.values()) == [
        Site("api.nordwind.example", 443),
        Site("login.nordwind.example", 443),
        Site("erp.nordwind.example", 443),
        Site("tracking.nordwind.example", 443),
        Site("rates.nordwind.example", 443),
    ]


def test_a_token_from_the_login_site_opens_the_api_site(
    tmp_path: Path, authority: trustme.CA, services: dict[str, WebService]
) -> None:
    exchange = services["shipments"]
    login = start_service(
        tmp_path / "login",
        authority,
        [exchange],
        site=Site("login.nordwind.example", 443),
    )
    try:
        api = start_service(
            tmp_path / "api",
            authority,
            [exchange],
            site=Site("api.nordwind.example", 443),
        )
        try:
            assert login.spec.name == "web-service-login.nordwind.example.json"
            assert login.http.get(url(login, exchange), timeout=5).status_code == 404
            token = access_token(login, exchange)
            response = api.http.get(
                url(api, exchange),
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert response.status_code == 200
        finally:
            stop_service(api)
    finally:
        stop_service(login)


def test_a_missing_secret_is_named_by_where_it_is_kept(
    tmp_path: Path, services: dict[str, WebService]
) -> None:
    with pytest.raises(SpecError) as raised:
        web_service.write_spec(
            tmp_path,
            [services["tracking"], services["rates"]],
            listen=("127.0.0.1", 8443),
            cert=tmp_path / "server.pem",
            key=tmp_path / "server.key",
            secrets={"tracking": SECRETS["tracking"]},
        )
    message = str(raised.value)
    assert "web service rates" in message
    assert "environment variable NORDWIND_RATES_TOKEN" in message
    assert SECRETS["tracking"] not in message
    assert not list(tmp_path.iterdir())


# --- in a network namespace ---------------------------------------------------


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    return None


@pytest.mark.netns
def test_the_server_runs_inside_a_namespace_and_answers_there(
    tmp_path: Path, authority: trustme.CA, services: dict[str, WebService]
) -> None:
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    from simulator import netns

    namespace = netns.Namespace.create(f"exst{secrets.token_hex(3)}-site")
    process = None
    try:
        cert, key = certificate(tmp_path, authority)
        ca = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(ca))
        spec = web_service.write_spec(
            tmp_path,
            [services["rates"]],
            listen=("0.0.0.0", 443),
            cert=cert,
            key=key,
            secrets=SECRETS,
        )
        started: list[tuple[int, str]] = []
        process = web_service.start(
            namespace.name,
            spec,
            on_started=lambda pid, what: started.append((pid, what)),
        )
        what = f"web service web-service in {namespace.name}"
        assert started == [(process.pid, what)]
        assert (
            b"simulator.web_service"
            in Path(f"/proc/{process.pid}/cmdline").read_bytes()
        )
        # The client runs in the namespace too: no packet leaves it.
        client = (
            "import ssl, sys, urllib.request\n"
            "request = urllib.request.Request('https://127.0.0.1/v2/rates', "
            "headers={'Authorization': 'Bearer ' + sys.stdin.read()})\n"
            f"context = ssl.create_default_context(cafile={str(ca)!r})\n"
            "answer = urllib.request.urlopen(request, context=context, timeout=5)\n"
            "print(answer.status)\n"
        )
        with netns.entered(namespace):
            answered = subprocess.run(
                [sys.executable, "-c", client],
                input=SECRETS["rates"],
                capture_output=True,
                text=True,
                timeout=20,
                env=dict(netns.SPAWN_ENVIRONMENT),
            )
        assert answered.stdout.strip() == "200", answered.stderr
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        namespace.delete()
    assert process is not None and process.returncode == 0
    assert not netns.Namespace.exists(namespace.name)
