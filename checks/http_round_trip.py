"""Live check: the platform's call to a customer's web service (option 5) works.

From the platform's vantage point the check makes the call the exchange's
schedule makes, once, and says which layer stopped it:

1. TCP to the URL's host, over the internet from the platform's egress IPs
   (`checks.probe.open_connection`: a silent drop is the customer's
   whitelist);
2. TLS for an https URL, verified against the vantage point's trust for the
   URL's host name: the version, and the days until the certificate expires;
3. the configured auth; for OAuth2 client credentials first a token from the
   token URL (a second host, reached the same way), then that token as bearer;
4. the call itself: a GET must answer 2xx with the configured content type
   and a document that `responseSchema` accepts; a POST, PUT or PATCH sends
   a small probe document, marked as one, and compares the SHA-256 the
   service says it received (`X-Received-Sha256`) with the one sent;
5. the time it all took against the schedule's interval.

Only the connection is retried, on a transient error (checks.retry), and
every step is bounded by the exchange's own timeouts, within the check's
timeout. Credentials go in headers only: evidence and hints name a
credential by where it is kept, never by its value.

`connect` and `send` are the HTTP client of the live checks: the file
storage's round trip sends its tickets through them too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import urllib3
from jsonschema import exceptions as schema_errors
from jsonschema import validators
from urllib3.connection import HTTPConnection

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.probe import OVER_INTERNET, Blocked, open_connection
from checks.result import Outcome, errored, failed, passed, warned
from checks.target import Target
from exchange.config.model import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ExchangeConfig,
    OAuth2ClientCredentials,
    Secret,
    SecretRef,
    SecretUnavailable,
    WebService,
)

log = logging.getLogger("checks")

# A certificate closer to its end than this is a warning (CERT-EXPIRING).
CERT_WARNING_DAYS = 14
# An answer longer than this is not read to its end: no poll needs more.
LONGEST_ANSWER_BYTES = 8 * 1024 * 1024
READ_CHUNK = 64 * 1024
# Kept back from the check's timeout, so that the verdict is made in time.
_MARGIN_S = 0.5
# The digest the simulator's stand-in (and any service that cares to) echoes.
DIGEST_HEADER = "X-Received-Sha256"
_WRITE_METHODS = ("POST", "PUT", "PATCH")


# --- the HTTP client of the live checks -------------------------------------


@dataclass(frozen=True)
class Site:
    """Where a URL is served, and what a request to it names."""

    scheme: str
    host: str
    port: int
    # The path with its query: what the request line asks for.
    request_target: str

    @classmethod
    def of(cls, url: str) -> Site:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        request_target = (parts.path or "/") + (
            f"?{parts.query}" if parts.query else ""
        )
        return cls(scheme, (parts.hostname or "").lower(), port, request_target)

    @property
    def authority(self) -> str:
        """The Host header: the host, and the port unless it is the scheme's own."""
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass
class Link:
    """A connection from a vantage point, TLS set up when the site wants it."""

    sock: Any  # socket.socket or ssl.SSLSocket
    where: str
    host: str
    connect_ms: float
    tls_version: str | None = None
    certificate_days: float | None = None

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    # From the request's first byte to the answer's last.
    elapsed_ms: float
    # False when the answer was longer than the reader would take.
    complete: bool = True

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("Content-Type", ""))


class NoAnswer(Exception):
    """The server did not answer in time (`timed_out`), or hung up instead."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """Verifying context: the system's CAs, and `cafile`'s where one is given.

    A host trusts the public CAs and whatever its operators added
    (the vantage point's bundle: in the simulator, its test CA).
    """
    context = ssl.create_default_context()
    if cafile is not None:
        context.load_verify_locations(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(
    target: Target,
    vantage: str,
    site: Site,
    *,
    timeout_s: float,
    path: str,
    context: ssl.SSLContext | None,
) -> Link:
    """A connection to `site` from `vantage`, TLS for https; raises Blocked.

    The socket is opened inside the vantage point (`open_connection`); the
    TLS handshake names the URL's host and is bounded by `timeout_s` too.
    """
    connected = open_connection(
        target, vantage, site.host, site.port, timeout_s=timeout_s, path=path
    )
    # Headers and body go out in separate writes; without this, Nagle's
    # algorithm holds the body back for the server's delayed ACK (40 ms).
    connected.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    link = Link(connected.sock, connected.where, site.host, connected.connect_ms)
    if site.scheme != "https":
        return link
    assert context is not None, "an https site needs a TLS context"
    try:
        tls = context.wrap_socket(connected.sock, server_hostname=site.host)
    except ssl.SSLCertVerificationError as error:
        connected.sock.close()
        raise Blocked(_certificate_refused(error, connected.where, site.host)) from None
    except ssl.SSLError as error:
        connected.sock.close()
        raise Blocked(
            failed(
                f"{connected.where}: TLS handshake failed ({error.reason or error})",
                f"{site.host} must speak TLS 1.2 or later on port {site.port}",
                dx.TLS_FAILED,
            )
        ) from None
    except TimeoutError:
        connected.sock.close()
        raise Blocked(
            failed(
                f"{connected.where}: connected, but no TLS handshake within "
                f"{timeout_s:g} s",
                "",
                dx.NO_ANSWER,
            )
        ) from None
    except OSError as error:
        connected.sock.close()
        raise Blocked(
            failed(
                f"{connected.where}: the connection ended during the TLS handshake "
                f"({error.strerror or type(error).__name__})",
                f"{site.host}:{site.port} must serve TLS; a middlebox may cut it",
                dx.TLS_FAILED,
            )
        ) from None
    link.sock = tls
    link.tls_version = tls.version()
    not_after = (tls.getpeercert() or {}).get("notAfter")
    if not_after:
        link.certificate_days = (
            ssl.cert_time_to_seconds(not_after) - time.time()
        ) / 86400
    return link


def send(
    link: Link,
    method: str,
    request_target: str,
    *,
    authority: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float,
    longest_answer: int = LONGEST_ANSWER_BYTES,
) -> Answer:
    """One request over `link`, its whole answer read within `timeout_s`.

    Raises NoAnswer when the answer does not come, or not all of it, in
    time, or the server hangs up first. An answer longer than
    `longest_answer` is read that far (`complete` False).
    """
    connection = HTTPConnection(authority.rsplit(":", 1)[0], timeout=timeout_s)
    # The socket is the one opened at the vantage point: urllib3 speaks HTTP
    # over it and never opens one of its own.
    connection.sock = link.sock
    watchdog = _Watchdog(link.sock, timeout_s)
    started = time.perf_counter()
    chunks: list[bytes] = []
    size = 0
    try:
        connection.request(
            method,
            request_target,
            body=body,
            headers={"Host": authority, **(headers or {})},
            preload_content=False,
        )
        response = connection.getresponse()
        # read1 returns what has arrived: the watchdog bounds the whole answer.
        while size <= longest_answer and (chunk := response.read1(READ_CHUNK)):
            chunks.append(chunk)
            size += len(chunk)
        response.close()
    except (TimeoutError, urllib3.exceptions.TimeoutError):
        raise NoAnswer(
            f"no complete answer within {timeout_s:g} s", timed_out=True
        ) from None
    except (OSError, urllib3.exceptions.HTTPError, ValueError) as error:
        if watchdog.expired:
            raise NoAnswer(
                f"no complete answer within {timeout_s:g} s", timed_out=True
            ) from None
        # http.client's RemoteDisconnected is an OSError; a broken answer is
        # urllib3's ProtocolError.
        raise NoAnswer(
            f"the connection ended before the answer was complete "
            f"({type(error).__name__})",
            timed_out=False,
        ) from None
    finally:
        watchdog.close()
    if watchdog.expired and size <= longest_answer:
        # Cut off at the deadline: what arrived is not the whole answer.
        raise NoAnswer(f"no complete answer within {timeout_s:g} s", timed_out=True)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Answer(
        response.status,
        response.reason or "",
        response.headers,
        b"".join(chunks)[:longest_answer],
        elapsed_ms,
        complete=size <= longest_answer,
    )


class _Watchdog:
    """Shuts a connection down at its deadline, whatever read waits then.

    A socket's timeout bounds each read, not the answer: a server that
    trickles its answer would keep the check past its own timeout.
    """

    def __init__(self, sock: Any, seconds: float) -> None:
        # Shutting down a duplicate of the descriptor ends the connection
        # itself, even after http.client has let go of the socket object.
        self._guard = socket.socket(fileno=os.dup(sock.fileno()))
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        # Already closed when the answer was complete just in time.
        with contextlib.suppress(OSError):
            self._guard.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        self._guard.close()


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


# --- the check ---------------------------------------------------------------


@dataclass
class _Budget:
    """What is left of the check's timeout; every step takes at most that."""

    deadline: float

    def cap(self, seconds: float) -> float:
        return max(0.05, min(seconds, self.deadline - time.monotonic()))


@dataclass
class _Findings:
    """What passed along the way, for the evidence, and what deserves a warning."""

    notes: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str, dx.Diagnosis]] = field(default_factory=list)

    def tls(self, link: Link, what: str = "") -> None:
        if link.tls_version is None:
            self.notes.append(f"{what}plain HTTP (allowPlainHttp)")
            return
        days = link.certificate_days
        if days is None:
            self.notes.append(f"{what}{link.tls_version}")
            return
        self.notes.append(
            f"{what}{link.tls_version}, certificate valid {days:.0f} days"
        )
        if days < CERT_WARNING_DAYS:
            self.warnings.append(
                (
                    f"the certificate of {link.host} expires in {days:.1f} days",
                    f"renew the certificate of {link.host} within {days:.0f} days",
                    dx.CERTIFICATE_EXPIRING,
                )
            )


def http_round_trip(target: Target, planned: PlannedCheck) -> Outcome:
    exchange = _web_service(target.config, planned.exchange)
    budget = _Budget(time.monotonic() + planned.timeout_s - _MARGIN_S)
    started = time.perf_counter()
    findings = _Findings()
    try:
        secret = _secret(exchange)
        schema = _response_schema(target.config, exchange)
        context = _vantage_tls(target, planned.vantage)
        auth = exchange.auth
        if isinstance(auth, OAuth2ClientCredentials):
            assert secret is not None
            token = _access_token(
                target, planned, exchange, auth, secret, context, budget, findings
            )
            auth_headers = {"Authorization": f"Bearer {token.reveal()}"}
        else:
            auth_headers = _auth_headers(exchange, secret)
        site = Site.of(exchange.url)
        link = connect(
            target,
            planned.vantage,
            site,
            timeout_s=budget.cap(exchange.connect_timeout_seconds),
            path=OVER_INTERNET,
            context=context,
        )
        try:
            findings.tls(link)
            answer, sent_digest = _call(exchange, site, link, auth_headers, budget)
        finally:
            link.close()
    except Blocked as blocked:
        return blocked.outcome
    total_s = time.perf_counter() - started
    return _verdict(exchange, link, answer, sent_digest, schema, findings, total_s)


def _vantage_tls(target: Target, vantage: str) -> ssl.SSLContext:
    bundle = target.ca_bundle(vantage)
    try:
        return tls_context(bundle)
    except (OSError, ssl.SSLError) as error:
        raise Blocked(
            errored(
                f"the CA bundle of vantage point {vantage} ({bundle}) cannot be "
                f"loaded: {error}",
                "publish a readable PEM bundle for the vantage point",
                dx.CHECK_ERROR,
            )
        ) from None


def _web_service(config: ExchangeConfig, name: str | None) -> WebService:
    for exchange in config.web_services():
        if exchange.name == name:
            return exchange
    raise LookupError(f"the configuration has no web service {name!r}")


def _call(
    exchange: WebService,
    site: Site,
    link: Link,
    auth_headers: dict[str, str],
    budget: _Budget,
) -> tuple[Answer, str | None]:
    """The exchange's own request; a write carries the probe document."""
    method = exchange.method.upper()
    headers = {"Accept": exchange.content_type, **auth_headers}
    body = None
    sent_digest = None
    if method in _WRITE_METHODS:
        probe = {
            "exchangeProbe": secrets.token_hex(16),
            "note": "connectivity probe of exchange check; not data, safe to discard",
        }
        body = json.dumps(probe).encode()
        sent_digest = hashlib.sha256(body).hexdigest()
        headers["Content-Type"] = "application/json"
    read_timeout = budget.cap(exchange.read_timeout_seconds)
    try:
        answer = send(
            link,
            method,
            site.request_target,
            authority=site.authority,
            headers=headers,
            body=body,
            timeout_s=read_timeout,
        )
    except NoAnswer as no_answer:
        what = f"{method} {exchange.url} ({link.where})"
        raise Blocked(_no_answer(no_answer, what, exchange, read_timeout)) from None
    log.debug(
        "%s %s via %s: %d in %.1f ms",
        method,
        exchange.url,
        link.where,
        answer.status,
        answer.elapsed_ms,
    )
    return answer, sent_digest


def _verdict(
    exchange: WebService,
    link: Link,
    answer: Answer,
    sent_digest: str | None,
    schema: Any,
    findings: _Findings,
    total_s: float,
) -> Outcome:
    what = f"{exchange.method.upper()} {exchange.url} ({link.where})"
    status = _clip(f"{answer.status} {answer.reason}".strip(), 80)
    if answer.status in (401, 403):
        # The challenge's scheme only: its parameters may describe the error.
        challenge = (answer.headers.get("WWW-Authenticate") or "").split(" ", 1)[0]
        return failed(
            f"{what}: {status}"
            + (f" (WWW-Authenticate: {_clip(challenge, 40)})" if challenge else ""),
            f"the service refuses {_credential(exchange)}: renew it, or have the "
            "service accept it",
            dx.AUTH_REJECTED,
        )
    if not 200 <= answer.status < 300:
        return failed(
            f"{what}: answered {status}", _status_hint(answer), dx.HTTP_STATUS
        )
    checked: list[str] = [str(answer.status)]
    if sent_digest is not None:
        echoed = answer.headers.get(DIGEST_HEADER)
        if echoed is None:
            checked.append("service does not echo a digest")
        elif echoed.strip().lower() != sent_digest:
            return failed(
                f"{what}: the service received other bytes than were sent "
                f"({DIGEST_HEADER} {_clip(echoed, 16)}… != sha256 {sent_digest[:16]}…)",
                "",
                dx.DATA_MISMATCH,
            )
        else:
            checked.append(f"digest echoed and equal (sha256 {sent_digest[:12]}…)")
    contract = _contract(exchange, answer, schema)
    if isinstance(contract, Outcome):
        return replace(contract, evidence=f"{what}: {contract.evidence}")
    checked += contract
    findings.notes.insert(
        0,
        f"answered in {answer.elapsed_ms:.0f} ms (connect {link.connect_ms:.1f} ms)",
    )
    findings.notes.append(f"auth {exchange.auth.kind}")
    evidence = f"{what}: {', '.join(checked)}; {'; '.join(findings.notes)}"
    interval = exchange.schedule.shortest_interval_seconds()
    if interval is not None and total_s > interval:
        findings.warnings.append(
            (
                f"the call took {total_s:.1f} s, longer than the schedule's "
                f"interval of {interval} s",
                "",
                dx.TOO_SLOW,
            )
        )
    if findings.warnings:
        said, hint, diagnosis = findings.warnings[0]
        also = [w[0] for w in findings.warnings[1:]]
        return warned(f"{evidence}; {'; '.join([said, *also])}", hint, diagnosis)
    return passed(evidence)


def _contract(exchange: WebService, answer: Answer, schema: Any) -> list[str] | Outcome:
    """What the answer satisfies of the exchange's contract, or the failure."""
    expected = media_type(exchange.content_type)
    got = answer.media_type
    writes = exchange.method.upper() in _WRITE_METHODS
    if not answer.complete:
        return failed(
            f"the answer is longer than {LONGEST_ANSWER_BYTES // 2**20} MiB, more "
            "than a scheduled call should fetch at once",
            "page the answer, or poll more often for less",
            dx.HTTP_CONTRACT,
        )
    if writes and not answer.body:
        return ["no body"]
    if got != expected:
        return failed(
            f"the answer's Content-Type is {got or 'missing'}, the exchange expects "
            f"{expected}",
            "",
            dx.HTTP_CONTRACT,
        )
    checked = [got]
    is_json = expected == "application/json" or expected.endswith("+json")
    if schema is None and not is_json:
        return checked
    try:
        document = json.loads(answer.body)
    except ValueError:
        return failed(
            f"the {len(answer.body)}-byte answer is not a JSON document",
            "",
            dx.HTTP_CONTRACT,
        )
    if schema is None:
        return [*checked, "JSON (no responseSchema)"]
    validator = validators.validator_for(schema)(schema)
    error = schema_errors.best_match(validator.iter_errors(document))
    if error is not None:
        at = "/" + "/".join(str(part) for part in error.absolute_path)
        # The validator's own message quotes the service's data; the path and
        # the keyword that failed say where, and nothing of the data.
        return failed(
            f"the answer fails responseSchema at {at}: the {error.validator!r} "
            "rule does not hold",
            f"the service must answer what responseSchema says at {at}, or the "
            "schema must say what the service answers",
            dx.HTTP_CONTRACT,
        )
    return [*checked, "schema ok"]


def _access_token(
    target: Target,
    planned: PlannedCheck,
    exchange: WebService,
    auth: OAuth2ClientCredentials,
    client_secret: Secret,
    context: ssl.SSLContext,
    budget: _Budget,
    findings: _Findings,
) -> Secret:
    """A bearer token from the token URL (client credentials grant, RFC 6749 4.4)."""
    site = Site.of(auth.token_url)
    link = connect(
        target,
        planned.vantage,
        site,
        timeout_s=budget.cap(exchange.connect_timeout_seconds),
        path=OVER_INTERNET,
        context=context,
    )
    form = {"grant_type": "client_credentials"}
    if auth.scopes:
        form["scope"] = " ".join(auth.scopes)
    # RFC 6749, 2.3.1: both parts form-encoded, then HTTP Basic.
    pair = f"{quote_plus(auth.client_id)}:{quote_plus(client_secret.reveal())}"
    read_timeout = budget.cap(exchange.read_timeout_seconds)
    try:
        findings.tls(link, f"token endpoint {site.host}: ")
        answer = send(
            link,
            "POST",
            site.request_target,
            authority=site.authority,
            headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form).encode(),
            timeout_s=read_timeout,
        )
    except NoAnswer as no_answer:
        what = f"token endpoint {auth.token_url} ({link.where})"
        raise Blocked(_no_answer(no_answer, what, exchange, read_timeout)) from None
    finally:
        link.close()
    what = f"token endpoint {auth.token_url} ({link.where})"
    status = _clip(f"{answer.status} {answer.reason}".strip(), 80)
    document = _json_object(answer.body)
    if answer.status in (400, 401, 403):
        # Only the error code is read from the answer: never the rest of it.
        code = document.get("error") if isinstance(document.get("error"), str) else ""
        code = _clip(code, 40)
        hint = f"the token endpoint refuses {_credential(exchange)}: renew it"
        if code == "invalid_scope":
            hint = (
                f"the token endpoint does not grant client {auth.client_id} the "
                f"scopes {' '.join(auth.scopes)}: correct the scopes or the client"
            )
        raise Blocked(
            failed(
                f"{what}: {status}{f' ({code})' if code else ''} for client "
                f"{auth.client_id}",
                hint,
                dx.AUTH_REJECTED,
            )
        )
    if not 200 <= answer.status < 300:
        raise Blocked(
            failed(f"{what}: answered {status}", _status_hint(answer), dx.HTTP_STATUS)
        )
    token = document.get("access_token")
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token, str) or not token:
        raise Blocked(
            failed(
                f"{what}: {status}, but the answer carries no access_token",
                "the token endpoint must answer a JSON object with access_token",
                dx.HTTP_CONTRACT,
            )
        )
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise Blocked(
            failed(
                f"{what}: issued a token of type {_clip(str(token_type), 20)}, "
                "not Bearer",
                "the exchange sends the token as a bearer token (RFC 6750)",
                dx.HTTP_CONTRACT,
            )
        )
    findings.notes.append(
        f"token from {link.where} in {answer.elapsed_ms:.0f} ms "
        f"(connect {link.connect_ms:.1f} ms)"
    )
    return Secret(token)


def _auth_headers(exchange: WebService, secret: Secret | None) -> dict[str, str]:
    auth = exchange.auth
    if secret is None:
        return {}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{secret.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {secret.reveal()}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: secret.reveal()}
    return {}


def _secret(exchange: WebService) -> Secret | None:
    """The auth's one secret, resolved; raises Blocked when it is not available."""
    kept = exchange.auth.secrets()
    if not kept:
        return None
    try:
        return kept[0].resolve()
    except SecretUnavailable as unavailable:
        raise Blocked(
            errored(
                f"{exchange.name}: cannot call with {_credential(exchange)}: "
                f"{unavailable}",
                "give the check the secret the platform uses (its environment "
                "variable), then run it again",
                dx.CHECK_ERROR,
            )
        ) from None


def _credential(exchange: WebService) -> str:
    """Which credential the call uses, and where it is kept; never its value."""
    auth = exchange.auth
    if isinstance(auth, BasicAuth):
        what = f"the password of user {auth.username}"
    elif isinstance(auth, BearerAuth):
        what = "the bearer token"
    elif isinstance(auth, ApiKeyAuth):
        what = f"the API key in header {auth.header}"
    elif isinstance(auth, OAuth2ClientCredentials):
        what = f"the OAuth2 client secret of client {auth.client_id}"
    else:
        return "the call without credentials (auth none)"
    (kept,) = auth.secrets()
    if isinstance(kept, SecretRef):
        return f"{what} ({kept.where})"
    return f"{what} (written in the configuration)"


def _response_schema(config: ExchangeConfig, exchange: WebService) -> Any:
    """The exchange's responseSchema: inline, or read from its file."""
    written = exchange.response_schema
    if not isinstance(written, str):
        schema = written
        where = "the inline responseSchema"
    else:
        path = Path(config.source).parent / written
        where = f"responseSchema {path}"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise Blocked(
                errored(
                    f"{exchange.name}: cannot read {where}: {type(error).__name__}",
                    "the schema file must lie beside the configuration file, as JSON",
                    dx.CHECK_ERROR,
                )
            ) from None
    if schema is None:
        return None
    try:
        validators.validator_for(schema).check_schema(schema)
    except schema_errors.SchemaError as error:
        raise Blocked(
            errored(
                f"{exchange.name}: {where} is not a valid JSON Schema: "
                f"{_clip(error.message)}",
                "correct the schema (JSON Schema draft 2020-12)",
                dx.CHECK_ERROR,
            )
        ) from None
    return schema


def _no_answer(
    no_answer: NoAnswer, what: str, exchange: WebService, read_timeout: float
) -> Outcome:
    if not no_answer.timed_out:
        return failed(f"{what}: {no_answer}", "", dx.NO_ANSWER)
    configured = exchange.read_timeout_seconds
    waited = (
        f"readTimeoutSeconds {configured:g}"
        if read_timeout >= configured
        else f"{read_timeout:.1f} s, what was left of the check's timeout "
        f"(readTimeoutSeconds {configured:g})"
    )
    return failed(
        f"{what}: no complete answer within {waited}",
        "",
        dx.TOO_SLOW,
    )


def _status_hint(answer: Answer) -> str:
    if answer.status >= 500:
        retry = answer.headers.get("Retry-After")
        later = f" (it asks to retry after {_clip(retry, 20)} s)" if retry else ""
        return f"the service fails on its own side{later}: look at its logs"
    if 300 <= answer.status < 400:
        # Without its query, which may carry a token.
        location = (answer.headers.get("Location") or "").split("?", 1)[0]
        to = f" to {_clip(location, 120)}" if location else ""
        return f"the service redirects{to}: configure the URL it redirects to"
    if answer.status == 404:
        return "nothing is served at the URL's path: correct url, or the service"
    if answer.status in (405, 501):
        return "the service does not take this method there: correct method"
    return "the service refuses the request: compare it with what the service expects"


def _certificate_refused(
    error: ssl.SSLCertVerificationError, where: str, host: str
) -> Outcome:
    reason = error.verify_message or error.reason or str(error)
    lowered = reason.lower()
    if "expired" in lowered:
        hint = f"the certificate of {host} has expired: renew it"
    elif "hostname" in lowered or "ip address mismatch" in lowered:
        hint = f"the certificate must name {host} (in its subject alternative names)"
    else:
        hint = (
            f"{host} must present a chain to a CA the platform trusts, "
            "intermediates included"
        )
    return failed(f"{where}: certificate not accepted: {reason}", hint, dx.TLS_FAILED)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clip(text: str, length: int = 200) -> str:
    """Text from the far end, made safe for one line of evidence."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= length else text[: length - 1] + "…"
