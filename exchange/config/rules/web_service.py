"""Rules about web-service exchanges (option 5): transport, URLs, timing.

Their secrets are the secrets rules' (SEC-01, SEC-02).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from exchange.config.loader import MAX_FILE_BYTES
from exchange.config.model import DocPath, OAuth2ClientCredentials, WebService
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule


def _split(url: str) -> SplitResult | None:
    """The parts of `url`, or None when urlsplit refuses it (a stray `[`)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _is_plain_http(url: str) -> bool:
    # Only the scheme: an unreadable host is reported on its own.
    return url.partition(":")[0].lower() == "http"


def _urls(service: WebService) -> Iterator[tuple[DocPath, str]]:
    """(path, URL) of the service's address and, for OAuth2, its token endpoint."""
    yield (*service.path, "url"), service.url
    if isinstance(service.auth, OAuth2ClientCredentials):
        yield (*service.path, "auth", "tokenUrl"), service.auth.token_url


@rule("SEC-03")
def web_services_use_https(context: RuleContext) -> Iterator[Problem]:
    """A web service is called over HTTPS unless plain HTTP is explicitly allowed."""
    for service in context.config.web_services():
        for path, url in _urls(service):
            if _split(url) is None:
                # Whether the request would go out encrypted, and where,
                # cannot be told.
                yield _error(
                    path,
                    "the address cannot be read: its host has an unmatched [ or ], "
                    "or brackets around something that is not an IPv6 address",
                    "write a host name, or an IPv6 address in brackets such as "
                    "https://[2001:db8::1]/v1",
                    "SEC-03",
                )
        auth = service.auth
        if _is_plain_http(service.url) and not service.allow_plain_http:
            yield _error(
                (*service.path, "url"),
                "the URL is plain http://, so requests, responses and credentials "
                "travel unencrypted",
                "use https://, or set allowPlainHttp: true if the service is "
                "reachable no other way",
                "SEC-03",
            )
        elif _is_plain_http(service.url) and auth.secrets():
            yield _warning(
                (*service.path, "allowPlainHttp"),
                f"plain HTTP is allowed, and the {auth.kind} credentials are sent "
                "with every request, unencrypted",
                "use https:// for a service that needs credentials",
                "SEC-03",
            )
        if isinstance(auth, OAuth2ClientCredentials) and _is_plain_http(auth.token_url):
            yield _error(
                (*service.path, "auth", "tokenUrl"),
                "the token endpoint is plain http://, so the client secret would "
                "travel unencrypted",
                "use the https:// address of the token endpoint",
                "SEC-03",
            )


@rule("SEC-04")
def urls_carry_no_credentials(context: RuleContext) -> Iterator[Problem]:
    """A web service's URLs carry no credentials (secrets in auth are SEC-01's)."""
    for service in context.config.web_services():
        for path, url in _urls(service):
            yield from _credentials_in_url(path, url)


# Words of a query parameter's name that say it carries a credential: `key`,
# `token`, `secret`, `password` and signatures, alone or joined to others
# (api_key, accessToken, X-Amz-Signature, client_secret, sig).
_CREDENTIAL_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "sig"}
)
_CREDENTIAL_PARTS = ("token", "secret", "passw", "apikey", "signature", "credential")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")


def _is_credential_parameter(name: str) -> bool:
    words = {word.lower() for word in _WORD.findall(name)}
    lowered = name.lower()
    return bool(words & _CREDENTIAL_WORDS) or any(
        part in lowered for part in _CREDENTIAL_PARTS
    )


def _credentials_in_url(path: DocPath, url: str) -> Iterator[Problem]:
    """SEC-04 for one URL; names where the credential is, never the credential."""
    parts = _split(url)
    if parts is None:
        return  # SEC-03 reports the unreadable address
    if parts.password is not None:
        yield _error(
            path,
            "the URL contains a user name and password",
            "remove them from the URL and use auth: { type: basic, username: "
            "..., password: { env: NAME } }",
            "SEC-04",
        )
    elif parts.username is not None:
        yield _error(
            path,
            "the URL contains a user name (before the @), which is sent as a "
            "credential and is often a token",
            "remove it from the URL and give the credential under auth, e.g. "
            "auth: { type: bearer, token: { env: NAME } }",
            "SEC-04",
        )
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    for name in dict.fromkeys(names):
        if _is_credential_parameter(name):
            yield _error(
                path,
                f'the URL\'s query parameter "{name}" carries a credential, which '
                "then sits in the file and in every log of the address",
                "remove it from the URL and give it under auth, e.g. auth: { type: "
                "api-key, header: X-Api-Key, apiKey: { env: NAME } }",
                "SEC-04",
            )


@rule("EXC-06")
def response_schema_is_a_json_schema(context: RuleContext) -> Iterator[Problem]:
    """A web service's response schema, inline or in a file, is a valid JSON Schema."""
    folder = context.config.source.parent
    for service in context.config.web_services():
        written = service.response_schema
        if written is None:
            continue
        path = (*service.path, "responseSchema")
        if isinstance(written, str):
            schema, problem = _read_schema_file(folder, written)
            if problem:
                yield _error(path, problem, SCHEMA_FILE_HINT, "EXC-06")
                continue
        else:
            schema = written
        invalid = _schema_error(schema)
        if invalid is None:
            continue
        where, message = invalid
        if isinstance(written, str):
            message = f'"{written}" {message}'
        else:
            message = f"the response schema {message}"
            if (*path, *where) in context.document.value_positions:
                path = (*path, *where)
        yield _error(
            path,
            message,
            "correct the schema (JSON Schema draft 2020-12)",
            "EXC-06",
        )


def _schema_error(schema: Any) -> tuple[DocPath, str] | None:
    """Where in `schema` the meta-schema fails, and a message; None if valid.

    The message names the failing keyword of the meta-schema and the place
    in the schema, never a value from it: the schema is the user's text.
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = tuple(error.absolute_path)
        at = "/".join(str(part) for part in where) or "its top level"
        return where, (
            f"is not a valid JSON Schema: at {at}, the value fails the "
            f'meta-schema\'s "{error.validator}" check'
        )
    except RecursionError:
        return (), "is not a valid JSON Schema: it is nested too deeply to check"
    except Exception as error:
        # Any failure is the schema's: the meta-schema check compiles its
        # patterns and follows its keywords, and whatever breaks there
        # leaves a schema that cannot be used.
        return (), (
            f"is not a valid JSON Schema: checking it fails ({type(error).__name__})"
        )
    return None


def _read_schema_file(folder: Path, written: str) -> tuple[Any, str | None]:
    """The parsed schema of the file named `written`, or a problem with it.

    The file must lie in the configuration's folder or below it, end in
    `.json` and stay within the loader's size limit; it is read once.
    """
    base = folder.resolve()
    if Path(written).is_absolute():
        return None, f'"{written}" is an absolute path'
    file = (base / written).resolve()
    if not file.is_relative_to(base):
        return None, f'"{written}" lies outside the folder of this file'
    if file.suffix.lower() != ".json":
        return None, f'"{written}" does not end in .json'
    if not file.is_file():
        return None, f'"{written}" is not a file (looked for {file})'
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return None, f'"{written}" cannot be read ({error.strerror or "error"})'
    if len(raw) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 1024
        return None, f'"{written}" is larger than {limit} KiB'
    try:
        schema = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, f'"{written}" is not readable JSON: it is not UTF-8 text'
    except json.JSONDecodeError as error:
        return None, (
            f'"{written}" is not readable JSON: {error.msg} at line {error.lineno}, '
            f"column {error.colno}"
        )
    except RecursionError:
        return None, f'"{written}" is not readable JSON: it is nested too deeply'
    except ValueError:
        # A number too long to convert, for one.
        return None, f'"{written}" is not readable JSON'
    if not isinstance(schema, (dict, bool)):
        return None, f'"{written}" holds JSON, but not a schema (an object)'
    return schema, None


SCHEMA_FILE_HINT = (
    "give the path of a .json JSON Schema file in this file's folder or below, "
    "relative to this file"
)


@rule("EXC-07")
def calls_end_before_the_next_poll(context: RuleContext) -> Iterator[Problem]:
    """A web-service call, all attempts at their timeouts, ends before the next run."""
    for service in context.config.web_services():
        interval = service.schedule.shortest_interval_seconds()
        longest = service.longest_call_seconds()
        if interval is None or longest < interval:
            continue
        attempts = 1 + service.retries
        yield _error(
            service.schedule.path,
            f"a call may take {service.connect_timeout_seconds:g} s to connect and "
            f"{service.read_timeout_seconds:g} s to read, {attempts} "
            f"{'attempt' if attempts == 1 else 'attempts'}: {longest:g} s, not "
            f"less than the {interval} s until the next run",
            "lower readTimeoutSeconds, connectTimeoutSeconds or retries, or run "
            "less often",
            "EXC-07",
        )
