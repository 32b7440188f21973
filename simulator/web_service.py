"""The customer's REST web services (option 5), served over HTTPS.

The platform calls a customer's services on a schedule: GET to poll, POST
(or PUT, PATCH) to deliver results, each with the customer's auth. In the
simulator the customer's site answers those calls with a real HTTPS server,
one process per site (a host and port of the configured URLs), run in the
site's network namespace or, without root, on loopback:

    spec = write_spec(folder, config.web_services(), listen=("127.0.0.1", 8443),
                      cert=cert, key=key, secrets={"shipments": secret},
                      schema_folder=config.source.parent)
    process = start(None, spec, on_started=track)
    set_fault(spec, "slow", delay_s=25)

The spec is a JSON file (mode 0600: it holds the credentials the service
accepts) that the server reads once at start. What it serves per exchange:

- the exchange's path and method, behind the exchange's auth (basic,
  bearer, API key, or a bearer token from an OAuth2 client-credentials
  token endpoint, which the site of the token URL serves); wrong or missing
  auth is 401 with a `WWW-Authenticate` challenge, an unknown path 404;
- a GET answers a small example document that satisfies the exchange's
  `responseSchema`, made by `example_document`;
- a POST, PUT or PATCH answers a receipt: the same kind of document, with
  the size and SHA-256 of the body received added where the schema admits
  them, and always in the `X-Received-Sha256` header, so that a check can
  prove the round trip.

Faults are switched at run time through a small control file beside the
spec (`set_fault`), which the server reads on every request: `slow` answers
after a delay, `errors` answers 503 (or 500), `normal` serves again. Each
request is logged as one JSON line to the site's log, with what was asked,
the auth outcome and the status, never a credential or token.

The server imports nothing of the project, so that it starts fast; the
configuration model and jsonschema are loaded only to write a spec.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote_plus, urlsplit
from xml.sax.saxutils import quoteattr

from simulator.server_process import READY_LINE, start_server

if TYPE_CHECKING:
    from exchange.config.model import Secret, WebService

log = logging.getLogger("simulator")

READY_TIMEOUT_S = 3.0
# How long a connection may take for its TLS handshake, and then sit idle
# between requests, before the server drops it.
HANDSHAKE_TIMEOUT_S = 5.0
IDLE_TIMEOUT_S = 30.0
ACCESS_TOKEN_LIFETIME_S = 3600
# A token request is a short form; anything longer is refused unread.
LONGEST_TOKEN_REQUEST = 64 * 1024
READ_CHUNK = 64 * 1024

FAULT_KINDS = ("normal", "slow", "errors")
# Where the project's packages are, for the server process's PYTHONPATH.
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the server process inherits: enough to run, and none of the caller's
# variables, which may hold the very credentials the service checks.
SERVER_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONPATH": str(_PROJECT_ROOT),
}


class SpecError(ValueError):
    """A web service spec cannot be written from these exchanges; says why."""


class WebServiceFailed(Exception):
    """The web service did not start or was not ready in time; says why."""


class Site(NamedTuple):
    """Where the platform calls: the host and port of a configured URL."""

    host: str
    port: int


@dataclass(frozen=True)
class ExpectedAuth:
    """The credential a service accepts.

    `kind` is the configuration's auth type. `secret` is the password
    (basic), the token (bearer), the key (api-key) or, for
    oauth2-client-credentials, the access token that the token endpoint
    issues.
    """

    kind: str = "none"
    secret: str | None = field(default=None, repr=False)
    username: str | None = None  # basic
    header: str | None = None  # api-key
    token_url: str | None = None  # oauth2-client-credentials, for the record


@dataclass(frozen=True)
class Endpoint:
    """One exchange's path and method on the site, and what it answers."""

    exchange: str
    method: str
    path: str
    auth: ExpectedAuth
    content_type: str
    # "json" (then `document` is the example), "xml" or "text".
    body_format: str
    document: Any = None
    # Whether the receipt fields fit into `document` under the schema.
    receipt_in_body: bool = False


@dataclass(frozen=True)
class TokenClient:
    """An OAuth2 client the token endpoint knows, and the token it issues."""

    client_id: str
    client_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenEndpoint:
    path: str
    clients: tuple[TokenClient, ...]


@dataclass(frozen=True)
class Fault:
    """What the service does to every request; `normal` serves them."""

    kind: str = "normal"
    delay_s: float = 0.0
    status: int = 503


# --- the simulator's side: write the spec, start, switch faults ------------


def sites(exchanges: Iterable[WebService]) -> list[Site]:
    """Every site the exchanges call: their URLs' and their token URLs'.

    One server per site: the caller gives each its own certificate (naming
    the host) and address, and writes its spec with `site=`.
    """
    found: dict[Site, None] = {}
    for exchange in exchanges:
        found[_site_of(exchange.url)] = None
        token_url = getattr(exchange.auth, "token_url", None)
        if token_url is not None:
            found[_site_of(token_url)] = None
    return list(found)


def write_spec(
    folder: Path,
    exchanges: Iterable[WebService],
    *,
    listen: tuple[str, int],
    cert: Path,
    key: Path,
    secrets: Mapping[str, str | Secret],
    site: Site | None = None,
    schema_folder: Path | None = None,
) -> Path:
    """Write the spec of one web service server; returns its path.

    The server listens on `listen` with the certificate `cert` and its key
    `key`, and serves the endpoints of `exchanges` that lie on `site`
    (every one of them when `site` is None), including the OAuth2 token
    endpoints whose token URL lies there. `secrets` maps an exchange's name
    to the resolved value of its auth's secret (password, token, API key or
    client secret); a literal secret in the configuration needs no entry.
    `schema_folder` is where a `responseSchema` given as a file path is
    read from: the configuration file's folder.

    Raises SpecError when a secret is missing, a response schema cannot be
    read or exemplified, two exchanges claim the same path and method, or
    nothing lies on `site`. The file is private (0600).
    """
    endpoints: list[Endpoint] = []
    token_clients: dict[str, dict[str, TokenClient]] = {}
    for exchange in exchanges:
        token_url = getattr(exchange.auth, "token_url", None)
        serves_api = site is None or _site_of(exchange.url) == site
        serves_token = token_url is not None and (
            site is None or _site_of(token_url) == site
        )
        if not (serves_api or serves_token):
            continue
        secret = _secret_of(exchange, secrets) if exchange.auth.secrets() else None
        if serves_token:
            assert token_url is not None and secret is not None
            client = _token_client(exchange, secret)
            clients = token_clients.setdefault(_path_of(token_url), {})
            known = clients.setdefault(client.client_id, client)
            if not hmac.compare_digest(known.client_secret, client.client_secret):
                raise SpecError(
                    f"web service {exchange.name} gives OAuth2 client "
                    f"{client.client_id} at {token_url} another client secret than "
                    "an earlier exchange does; one client has one secret"
                )
        if serves_api:
            endpoints.append(
                _endpoint(exchange, secret, token_url, schema_folder=schema_folder)
            )
    where = "" if site is None else f" on {site.host}:{site.port}"
    if not endpoints and not token_clients:
        raise SpecError(f"no web service or token endpoint lies{where}")
    claimed: dict[tuple[str, str], str] = {}
    for endpoint in endpoints:
        if endpoint.path in token_clients:
            raise SpecError(
                f"web service {endpoint.exchange} answers at {endpoint.path}{where}, "
                "which is an OAuth2 token endpoint too"
            )
        earlier = claimed.setdefault(
            (endpoint.path, endpoint.method), endpoint.exchange
        )
        if earlier != endpoint.exchange:
            raise SpecError(
                f"web services {earlier} and {endpoint.exchange} both answer "
                f"{endpoint.method} {endpoint.path}{where}; one server cannot tell "
                "them apart"
            )
    name = "web-service" if site is None else f"web-service-{site.host}"
    if site is not None and site.port != 443:
        name += f"-{site.port}"
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"{name}.json"
    address, port = listen
    spec = {
        "listen": {"address": address, "port": port},
        "certificate": str(cert),
        "key": str(key),
        "log": str(folder / f"{name}.log"),
        "endpoints": [asdict(endpoint) for endpoint in endpoints],
        "token_endpoints": [
            asdict(TokenEndpoint(path, tuple(clients.values())))
            for path, clients in token_clients.items()
        ],
    }
    _write_private(spec_path, json.dumps(spec, indent=2) + "\n")
    return spec_path


def start(
    ns_name: str | None,
    spec: Path,
    *,
    on_started: Callable[[int, str], None],
) -> subprocess.Popen[bytes]:
    """Start the server of `spec`, inside namespace `ns_name` or here.

    `on_started` receives the pid as soon as the process exists, before it
    is ready, so that the caller tracks it even if the wait fails. Returns
    once the server has accepted a TLS connection on its own address (it
    makes that connection itself, so that no packet leaves the namespace),
    within READY_TIMEOUT_S; otherwise ends the process and raises
    WebServiceFailed with the tail of its error output. A namespace is
    entered with `simulator.netns.spawn`; one made by `Namespace.create`
    has its loopback link up, which a server on 0.0.0.0 needs for that
    connection.
    """
    argv = [sys.executable, "-m", "simulator.web_service", "--spec", str(spec)]
    what = f"web service {spec.stem}" + ("" if ns_name is None else f" in {ns_name}")
    process = start_server(
        ns_name,
        argv,
        what=what,
        env=SERVER_ENVIRONMENT,
        stderr_path=_errors_file(spec),
        on_started=on_started,
        name=f"web service {spec.stem}",
        not_ready="did not accept a TLS connection",
        ready_timeout_s=READY_TIMEOUT_S,
        failure=WebServiceFailed,
    )
    log.debug("%s ready (pid %d)", what, process.pid)
    return process


def set_fault(
    spec: Path, kind: str, *, delay_s: float | None = None, status: int = 503
) -> None:
    """Switch the running service of `spec` to a fault, or back to normal.

    `slow` answers every request after `delay_s` seconds; `errors` answers
    every request with `status` (503 with a Retry-After, or another 5xx);
    `normal` serves again. It applies from the next request on.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(
            f"unknown web service fault {kind!r}; use one of {', '.join(FAULT_KINDS)}"
        )
    if kind == "slow" and (delay_s is None or delay_s <= 0):
        raise ValueError("the slow fault needs a delay: give delay_s, in seconds, > 0")
    if kind == "errors" and not 500 <= status <= 599:
        raise ValueError(f"the errors fault answers a 5xx status, not {status}")
    fault = Fault(kind, float(delay_s or 0.0), status)
    _write_private(_fault_file(spec), json.dumps(asdict(fault)) + "\n")


def current_fault(spec: Path) -> Fault:
    """The fault the service of `spec` applies now (normal without one)."""
    try:
        data = json.loads(_fault_file(spec).read_text())
    except FileNotFoundError:
        return Fault()
    return Fault(**data)


def _site_of(url: str) -> Site:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    return Site((parts.hostname or "").lower(), parts.port or default_port)


def _path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def _secret_of(exchange: WebService, secrets: Mapping[str, str | Secret]) -> str:
    from exchange.config.model import Secret

    given = secrets.get(exchange.name)
    if given is None:
        (written,) = exchange.auth.secrets()
        if isinstance(written, Secret):
            return written.reveal()
        raise SpecError(
            f"the secret of web service {exchange.name} ({written.where}) was not "
            "given: resolve it and pass it under the exchange's name"
        )
    return given.reveal() if isinstance(given, Secret) else given


def _token_client(exchange: WebService, client_secret: str) -> TokenClient:
    auth = exchange.auth
    # Derived from the client secret rather than drawn at random, so that
    # the site of the token endpoint and the site of the API agree on the
    # token without sharing state; no one without the secret can guess it.
    access_token = hmac.new(
        client_secret.encode(),
        f"access token of {auth.client_id} at {auth.token_url}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return TokenClient(auth.client_id, client_secret, access_token, auth.scopes)


def _endpoint(
    exchange: WebService,
    secret: str | None,
    token_url: str | None,
    *,
    schema_folder: Path | None,
) -> Endpoint:
    auth = exchange.auth
    if token_url is not None:
        assert secret is not None
        expected = ExpectedAuth(
            auth.kind,
            secret=_token_client(exchange, secret).access_token,
            token_url=token_url,
        )
    else:
        expected = ExpectedAuth(
            auth.kind,
            secret=secret,
            username=getattr(auth, "username", None),
            header=getattr(auth, "header", None),
        )
    schema = _response_schema(exchange, schema_folder)
    media = exchange.content_type.lower()
    document: Any = None
    receipt_in_body = False
    if schema is not None or media == "application/json" or media.endswith("+json"):
        body_format = "json"
        document = {} if schema is None else _example_for(exchange, schema)
        if isinstance(document, dict) and exchange.method != "GET":
            receipt = {**document, "receivedBytes": 0, "receivedSha256": "0" * 64}
            receipt_in_body = schema is None or _is_valid(receipt, schema)
    elif media in ("application/xml", "text/xml") or media.endswith("+xml"):
        body_format = "xml"
    else:
        body_format = "text"
    return Endpoint(
        exchange=exchange.name,
        method=exchange.method,
        path=_path_of(exchange.url),
        auth=expected,
        content_type=exchange.content_type,
        body_format=body_format,
        document=document,
        receipt_in_body=receipt_in_body,
    )


def _response_schema(exchange: WebService, schema_folder: Path | None) -> Any:
    written = exchange.response_schema
    if not isinstance(written, str):
        return written
    if schema_folder is None:
        raise SpecError(
            f"web service {exchange.name} names its response schema by file "
            f'("{written}"): give schema_folder, the configuration file\'s folder'
        )
    path = schema_folder / written
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SpecError(
            f"cannot read the response schema of web service {exchange.name} from "
            f"{path}: {error.__class__.__name__}"
        ) from None


def _example_for(exchange: WebService, schema: Any) -> Any:
    try:
        return example_document(schema)
    except SpecError as error:
        raise SpecError(f"web service {exchange.name}: {error}") from None


def _is_valid(document: Any, schema: Any) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema).is_valid(document)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing it whole.

    Through a temporary file and a rename, so that the server never reads
    half a file.
    """
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)


def _fault_file(spec: Path) -> Path:
    return spec.with_suffix(".fault.json")


def _errors_file(spec: Path) -> Path:
    return spec.with_suffix(".stderr")


# --- example documents from a JSON Schema ----------------------------------

# Values for the string formats of draft 2020-12 that a response is likely
# to use; each is valid for its format.
_FORMAT_EXAMPLES = {
    "date-time": "2025-01-01T06:00:00Z",
    "date": "2025-01-01",
    "time": "06:00:00Z",
    "duration": "PT5M",
    "email": "platform@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "uri-reference": "/",
    "uuid": "3f2a0c4e-8b1d-4e6f-9a7b-2c5d8e0f1a3b",
}
_DEEPEST_EXAMPLE = 32


def example_document(schema: Any) -> Any:
    """A small document that `schema` (JSON Schema draft 2020-12) accepts.

    Covers what response schemas commonly say: types, `properties` and
    `required` (only the required properties are filled in), `items`,
    `prefixItems`, `minItems`/`maxItems` (arrays get at least one item),
    `const`, `enum`, `default`, `examples` (the first one is used), string
    formats and lengths, numeric bounds and `multipleOf`, local `$ref`,
    `allOf`, `anyOf` and `oneOf` (the first branch). The document is
    validated against the schema before it is returned; raises SpecError
    when it fails, e.g. for a `pattern`, which cannot be exemplified in
    general: give such a schema an `examples` entry.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    try:
        document = _example(schema, schema, "value", 0, 0)
    except _CannotExemplify as reason:
        raise SpecError(
            f"cannot make an example response from the response schema: {reason}; "
            "give the schema an `examples` entry that it accepts"
        ) from None
    error = best_match(Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        at = "/".join(str(part) for part in error.absolute_path) or "its top level"
        raise SpecError(
            "cannot make an example response from the response schema: the "
            f'example made fails its "{error.validator}" check at {at}; give the '
            "schema an `examples` entry that it accepts"
        )
    return document


class _CannotExemplify(Exception):
    pass


def _example(schema: Any, root: Any, name: str, index: int, depth: int) -> Any:
    """An example for `schema`; `name` and `index` make strings readable."""
    if depth > _DEEPEST_EXAMPLE:
        raise _CannotExemplify("it nests (or refers to itself) too deeply")
    if schema is True or schema == {}:
        return f"{name}-{index + 1}"  # anything goes: a readable string
    if schema is False:
        raise _CannotExemplify(f"it admits no value at all for {name}")
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if target is False:
            raise _CannotExemplify(f"{schema['$ref']} admits no value at all")
        if not isinstance(target, Mapping):
            target = {}
        return _example({**target, **rest}, root, name, index, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        # Vary with the index, so that the items of an array can differ.
        return schema["enum"][min(index, len(schema["enum"]) - 1)]
    if "default" in schema:
        return schema["default"]
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = _merged(merged, part)
        return _example(merged, root, name, index, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        if schema.get(keyword):
            rest = {k: v for k, v in schema.items() if k != keyword}
            return _example(
                _merged(rest, schema[keyword][0]), root, name, index, depth + 1
            )
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            key: _example(properties.get(key, True), root, key, index, depth + 1)
            for key in schema.get("required", [])
        }
    if kind == "array":
        return _array_example(schema, root, name, depth)
    if kind == "string":
        return _string_example(schema, name, index)
    if kind in ("integer", "number"):
        return _number_example(schema, kind, index)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name}-{index + 1}"


def _type_of(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        others = [kind for kind in declared if kind != "null"]
        return (others or declared or [None])[0]
    if declared is not None:
        return declared
    # Without a type, the keywords say which one is meant.
    if {"properties", "required", "additionalProperties"} & schema.keys():
        return "object"
    if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
        return "array"
    if {"minLength", "maxLength", "format", "pattern"} & schema.keys():
        return "string"
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & schema.keys():
        return "number"
    return None


def _array_example(schema: Mapping[str, Any], root: Any, name: str, depth: int) -> list:
    prefix = schema.get("prefixItems", [])
    items = schema.get("items", True)
    count = max(schema.get("minItems", 0), len(prefix), 1)
    if "maxItems" in schema:
        count = min(count, schema["maxItems"])
    if items is False:
        count = min(count, len(prefix))
    return [
        _example(prefix[i] if i < len(prefix) else items, root, name, i, depth + 1)
        for i in range(count)
    ]


def _string_example(schema: Mapping[str, Any], name: str, index: int) -> str:
    if schema.get("format") in _FORMAT_EXAMPLES:
        value = _FORMAT_EXAMPLES[schema["format"]]
    elif "pattern" in schema:
        raise _CannotExemplify(f"the string {name} must match a pattern")
    else:
        value = f"{name}-{index + 1}"
    value = value.ljust(schema.get("minLength", 0), "x")
    if "maxLength" in schema:
        value = value[: schema["maxLength"]]
    return value


def _number_example(schema: Mapping[str, Any], kind: str, index: int) -> int | float:
    """The smallest admitted whole number, or the next ones for later items.

    A number whose bounds admit no whole one lies halfway between them.
    """
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if "minimum" in schema:
        value = math.ceil(schema["minimum"])
    elif "exclusiveMinimum" in schema:
        value = math.floor(schema["exclusiveMinimum"]) + 1
    else:
        value = 0
    step = schema.get("multipleOf") or 1
    value = math.ceil(value / step) * step + index * step
    if "maximum" in schema and value > schema["maximum"]:
        value = math.floor(schema["maximum"] / step) * step
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = (math.ceil(schema["exclusiveMaximum"] / step) - 1) * step
    if kind == "number" and None not in (low, high) and not _within(schema, value):
        return (low + high) / 2
    return value


def _within(schema: Mapping[str, Any], value: float) -> bool:
    return (
        value >= schema.get("minimum", value)
        and value <= schema.get("maximum", value)
        and value > schema.get("exclusiveMinimum", value - 1)
        and value < schema.get("exclusiveMaximum", value + 1)
    )


def _merged(schema: Mapping[str, Any], part: Any) -> dict[str, Any]:
    """`schema` and `part` as one schema: enough for an example, not in general."""
    if not isinstance(part, Mapping):
        return dict(schema)
    merged = {**schema, **part}
    if "properties" in schema and "properties" in part:
        merged["properties"] = {**schema["properties"], **part["properties"]}
    if "required" in schema and "required" in part:
        merged["required"] = list(
            dict.fromkeys([*schema["required"], *part["required"]])
        )
    return merged


def _resolve(root: Any, reference: str) -> Any:
    if not reference.startswith("#"):
        raise _CannotExemplify(f"it refers to another document ({reference})")
    target = root
    for part in reference[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            target = target[int(part)] if isinstance(target, list) else target[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _CannotExemplify(f"its reference {reference} leads nowhere") from None
    return target


# --- the server process ----------------------------------------------------


@dataclass(frozen=True)
class _Received:
    """What a request body was: its size and digest, and its start."""

    size: int
    sha256: str
    head: bytes  # at most LONGEST_TOKEN_REQUEST bytes


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _BadBody(Exception):
    pass


class WebServiceServer(ThreadingHTTPServer):
    """Serves a spec's endpoints over TLS, one thread per connection."""

    daemon_threads = True

    def __init__(self, spec_path: Path) -> None:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        self.spec_path = spec_path
        self.endpoints: dict[str, dict[str, Endpoint]] = {}
        for item in spec["endpoints"]:
            endpoint = Endpoint(**{**item, "auth": ExpectedAuth(**item["auth"])})
            self.endpoints.setdefault(endpoint.path, {})[endpoint.method] = endpoint
        self.token_endpoints = {
            item["path"]: TokenEndpoint(
                item["path"],
                tuple(
                    TokenClient(**{**client, "scopes": tuple(client["scopes"])})
                    for client in item["clients"]
                ),
            )
            for item in spec["token_endpoints"]
        }
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self.tls.load_cert_chain(spec["certificate"], spec["key"])
        address = spec["listen"]["address"]
        if ":" in address:
            self.address_family = socket.AF_INET6
        # Set by the readiness probe when the server never answered it.
        self.not_ready = False
        self._log_lock = threading.Lock()
        self._log = open(spec["log"], "a", encoding="utf-8")  # noqa: SIM115 (open while serving)
        super().__init__((address, spec["listen"]["port"]), _ServiceRequest)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake happens here, in the connection's own thread, rather
        # than in accept(): a client that stalls it holds up no one else.
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        # Headers and body go out in two writes; without this, Nagle's
        # algorithm holds the body back for the client's delayed ACK (40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.record({"client": client_address[0], "tls": type(error).__name__})
            return
        with connection:
            self.RequestHandlerClass(connection, client_address, self)

    def fault(self) -> Fault:
        try:
            return current_fault(self.spec_path)
        except (OSError, ValueError, TypeError):
            return Fault()

    def record(self, entry: dict[str, Any]) -> None:
        """Append one request to the log: never a header's value or a body."""
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        line = json.dumps(entry) + "\n"
        with self._log_lock:
            if self._log.closed:  # a connection's thread, after the server stopped
                return
            self._log.write(line)
            self._log.flush()

    def server_close(self) -> None:
        super().server_close()
        self._log.close()


class _ServiceRequest(BaseHTTPRequestHandler):
    server: WebServiceServer
    protocol_version = "HTTP/1.1"
    server_version = "exchange-simulator-web-service"
    timeout = IDLE_TIMEOUT_S

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self) -> str:
        return self.server_version  # without the Python version

    def log_message(self, format: str, *args: Any) -> None:
        # The server writes its own log (`record`); the default line would
        # go to stderr with the whole request line, query included.
        pass

    def _serve(self) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path
        fault = self.server.fault()
        entry: dict[str, Any] = {
            "client": self.client_address[0],
            "host": self.headers.get("Host"),
            "method": self.command,
            "path": path,
            "fault": fault.kind,
        }
        try:
            received = self._read_body()
        except _BadBody as bad:
            response = _json_response(400, {"error": str(bad)})
            self.close_connection = True
        except OSError:
            entry["outcome"] = "client gone while sending"
            self.server.record(entry)
            self.close_connection = True
            return
        else:
            if received.size:
                entry["received_bytes"] = received.size
                entry["received_sha256"] = received.sha256
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
            if fault.kind == "errors":
                response = _fault_response(fault)
            else:
                response = self._answer(path, received, entry)
        try:
            self._send(response)
        except OSError:  # the client gave up waiting, e.g. under the slow fault
            entry["outcome"] = "client gone before the answer"
            self.close_connection = True
        entry["status"] = response.status
        entry["seconds"] = round(time.monotonic() - started, 3)
        self.server.record(entry)

    def _answer(
        self, path: str, received: _Received, entry: dict[str, Any]
    ) -> _Response:
        token_endpoint = self.server.token_endpoints.get(path)
        if token_endpoint is not None:
            entry["endpoint"] = "oauth2 token"
            if self.command != "POST":
                return _json_response(
                    405, {"error": "invalid_request"}, {"Allow": "POST"}
                )
            return self._issue_token(token_endpoint, received, entry)
        methods = self.server.endpoints.get(path)
        if methods is None:
            return _json_response(404, {"error": f"no service at {path}"})
        endpoint = methods.get(self.command)
        if endpoint is None:
            return _json_response(
                405,
                {"error": f"{path} does not take {self.command}"},
                {"Allow": ", ".join(sorted(methods))},
            )
        entry["exchange"] = endpoint.exchange
        entry["auth"] = outcome = self._authenticate(endpoint.auth)
        if outcome in ("missing", "rejected"):
            return _json_response(
                401,
                {"error": f"authentication {outcome}"},
                {"WWW-Authenticate": _challenge(endpoint, outcome)},
            )
        return _endpoint_response(endpoint, self.command, received)

    def _authenticate(self, auth: ExpectedAuth) -> str:
        """`not required`, `accepted`, `missing` or `rejected`."""
        if auth.kind == "none":
            return "not required"
        assert auth.secret is not None
        if auth.kind == "api-key":
            assert auth.header is not None
            given = self.headers.get(auth.header)
            if given is None:
                return "missing"
            return (
                "accepted"
                if _same(given.encode(), auth.secret.encode())
                else "rejected"
            )
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(
            " "
        )
        expected_scheme = "basic" if auth.kind == "basic" else "bearer"
        if scheme.lower() != expected_scheme or not credentials.strip():
            return "missing"
        if auth.kind == "basic":
            try:
                given_bytes = base64.b64decode(credentials.strip(), validate=True)
            except binascii.Error:
                return "rejected"
            expected = f"{auth.username}:{auth.secret}".encode()
            return "accepted" if _same(given_bytes, expected) else "rejected"
        return (
            "accepted"
            if _same(credentials.strip().encode(), auth.secret.encode())
            else "rejected"
        )

    def _issue_token(
        self, endpoint: TokenEndpoint, received: _Received, entry: dict[str, Any]
    ) -> _Response:
        """Answer a client-credentials token request (RFC 6749, 4.4)."""
        if received.size > len(received.head):
            return _json_response(413, {"error": "invalid_request"})
        form = {
            name: values[0]
            for name, values in parse_qs(
                received.head.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(
            " "
        )
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            # RFC 6749, 2.3.1: both parts are form-encoded inside the header.
            user, _, password = decoded.partition(":")
            client_id, client_secret = unquote_plus(user), unquote_plus(password)
        challenge = {"WWW-Authenticate": 'Basic realm="oauth2 token"'}
        if not client_id or client_secret is None:
            entry["auth"] = "missing"
            return _json_response(401, {"error": "invalid_client"}, challenge)
        client = next((c for c in endpoint.clients if c.client_id == client_id), None)
        if client is None or not _same(
            client_secret.encode(), client.client_secret.encode()
        ):
            entry["auth"] = "rejected"
            return _json_response(401, {"error": "invalid_client"}, challenge)
        entry["auth"] = "accepted"
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if form.get("grant_type") != "client_credentials":
            return _json_response(400, {"error": "unsupported_grant_type"}, no_store)
        requested = form.get("scope", "").split()
        if client.scopes and not set(requested) <= set(client.scopes):
            return _json_response(400, {"error": "invalid_scope"}, no_store)
        granted = requested or list(client.scopes)
        token = {
            "access_token": client.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            **({"scope": " ".join(granted)} if granted else {}),
        }
        return _json_response(200, token, no_store)

    def _read_body(self) -> _Received:
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        for chunk in self._body_chunks():
            digest.update(chunk)
            size += len(chunk)
            if len(head) < LONGEST_TOKEN_REQUEST:
                head += chunk[: LONGEST_TOKEN_REQUEST - len(head)]
        return _Received(size, digest.hexdigest(), bytes(head))

    def _body_chunks(self) -> Iterator[bytes]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            yield from self._chunked_body()
            return
        try:
            remaining = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadBody("Content-Length is not a number") from None
        if remaining < 0:
            raise _BadBody("Content-Length is negative")
        while remaining:
            chunk = self.rfile.read(min(remaining, READ_CHUNK))
            if not chunk:
                raise ConnectionResetError("the client closed the body early")
            remaining -= len(chunk)
            yield chunk

    def _chunked_body(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadBody("a chunk of the body has no valid size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields, which nothing here reads
                return
            while size:
                chunk = self.rfile.read(min(size, READ_CHUNK))
                if not chunk:
                    raise ConnectionResetError("the client closed the body early")
                size -= len(chunk)
                yield chunk
            self.rfile.readline(1024)  # the CRLF that ends the chunk

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)
        self.wfile.flush()


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


def _challenge(endpoint: Endpoint, outcome: str) -> str:
    realm = f'realm="{endpoint.exchange}"'
    kind = endpoint.auth.kind
    if kind == "basic":
        return f'Basic {realm}, charset="UTF-8"'
    if kind == "api-key":
        # No registered scheme for API keys; this one names the header to use.
        return f'ApiKey {realm}, header="{endpoint.auth.header}"'
    # RFC 6750, 3: no error code when the request carried no token at all.
    error = ', error="invalid_token"' if outcome == "rejected" else ""
    return f"Bearer {realm}{error}"


def _endpoint_response(
    endpoint: Endpoint, method: str, received: _Received
) -> _Response:
    writes = method != "GET"
    headers = {"X-Received-Sha256": received.sha256} if writes else {}
    receipt = {"receivedBytes": received.size, "receivedSha256": received.sha256}
    if endpoint.body_format == "json":
        document = endpoint.document
        if writes and endpoint.receipt_in_body:
            document = {**document, **receipt}
        body = json.dumps(document, indent=2).encode() + b"\n"
    elif endpoint.body_format == "xml":
        attributes = f"exchange={quoteattr(endpoint.exchange)}"
        if writes:
            attributes += "".join(
                f" {k}={quoteattr(str(v))}" for k, v in receipt.items()
            )
        element = "receipt" if writes else "response"
        declaration = '<?xml version="1.0" encoding="UTF-8"?>'
        body = f"{declaration}\n<{element} {attributes}/>\n".encode()
    else:
        lines = [f"exchange {endpoint.exchange}"]
        if writes:
            lines.append(f"received {received.size} bytes, sha256 {received.sha256}")
        body = ("\n".join(lines) + "\n").encode()
    return _Response(200, body, endpoint.content_type, headers)


def _json_response(
    status: int, document: Any, headers: dict[str, str] | None = None
) -> _Response:
    body = json.dumps(document).encode() + b"\n"
    return _Response(status, body, "application/json", dict(headers or {}))


def _fault_response(fault: Fault) -> _Response:
    headers = {"Retry-After": "60"} if fault.status == 503 else {}
    return _json_response(
        fault.status, {"error": "the service is failing on purpose (fault)"}, headers
    )


def _announce_when_ready(server: WebServiceServer) -> None:
    """Print READY_LINE once the server completes a TLS handshake with itself.

    The probe goes to the server's own address, so it never leaves the
    namespace; it checks that TLS is served, not whom the certificate names.
    """
    host, port = server.server_address[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with (
                socket.create_connection((host, port), timeout=0.5) as raw,
                probe.wrap_socket(raw),
            ):
                pass
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"no TLS handshake with {host}:{port}: {error}", file=sys.stderr)
                server.not_ready = True
                server.shutdown()
                return
            time.sleep(0.02)
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.web_service",
        description="Serve a customer's simulated REST web services over HTTPS.",
    )
    parser.add_argument("--spec", required=True, type=Path, help="the JSON spec")
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = WebServiceServer(arguments.spec)
    except (OSError, ValueError, KeyError, TypeError, ssl.SSLError) as error:
        print(
            f"cannot serve {arguments.spec}: {error.__class__.__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    threading.Thread(target=_announce_when_ready, args=(server,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 1 if server.not_ready else 0


if __name__ == "__main__":
    sys.exit(main())
