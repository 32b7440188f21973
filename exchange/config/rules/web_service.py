"""Rules about web-service exchanges (option 5): transport, secrets, timing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from exchange.config.model import DocPath, OAuth2ClientCredentials, SecretRef
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule


def _is_plain_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "http"


@rule("SEC-03")
def web_services_use_https(context: RuleContext) -> Iterator[Problem]:
    """A web service is called over HTTPS unless plain HTTP is explicitly allowed."""
    for service in context.config.web_services():
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


def _auth_secrets(context: RuleContext) -> Iterator[tuple[DocPath, str, object]]:
    """(path, what, secret) for every secret of every web service's auth."""
    for service in context.config.web_services():
        for secret in service.auth.secrets():
            if isinstance(secret, SecretRef):
                yield secret.path, secret.purpose, secret
            else:
                key = _secret_key(service.auth.kind)
                purpose = f"the {key} of web service {service.name}"
                yield (*service.path, "auth", key), purpose, secret


def _secret_key(kind: str) -> str:
    return {
        "basic": "password",
        "bearer": "token",
        "api-key": "apiKey",
        "oauth2-client-credentials": "clientSecret",
    }[kind]


@rule("SEC-04")
def web_service_secrets_stay_out_of_the_file(context: RuleContext) -> Iterator[Problem]:
    """Web-service credentials are references, never written in the file or URL."""
    for path, purpose, secret in _auth_secrets(context):
        if not isinstance(secret, SecretRef):
            yield _error(
                path,
                f"{purpose} is written in the file, where version control keeps it",
                f"move it to an environment variable and write "
                f"{path[-1]}: {{ env: NAME }}, or to Secrets Manager and write "
                f"{path[-1]}: {{ secret: NAME }}",
                "SEC-04",
            )
    for service in context.config.web_services():
        if urlsplit(service.url).password is not None:
            yield _error(
                (*service.path, "url"),
                "the URL contains a user name and password",
                "remove them from the URL and use auth: { type: basic, username: "
                "..., password: { env: NAME } }",
                "SEC-04",
            )


@rule("SEC-05")
def web_service_secrets_are_set(context: RuleContext) -> Iterator[Problem]:
    """Web-service credentials can be read (warning; error when resolving)."""
    report = _error if context.resolve_secrets else _warning
    for path, purpose, secret in _auth_secrets(context):
        if not isinstance(secret, SecretRef):
            continue
        if secret.env is not None and secret.env not in context.environ:
            yield report(
                path,
                f"{secret.env} is not set",
                f"export {secret.env} with {purpose} before provisioning",
                "SEC-05",
            )
        elif secret.env is None and context.resolve_secrets:
            yield _error(
                path,
                f"{secret.where} cannot be resolved without AWS: validation works "
                "offline, and only provisioning reads the secret",
                "validate without --resolve-secrets, or give it as { env: NAME }",
                "SEC-05",
            )


@rule("EXC-06")
def response_schema_is_a_json_schema(context: RuleContext) -> Iterator[Problem]:
    """A web service's response schema, inline or in a file, is a valid JSON Schema."""
    for service in context.config.web_services():
        written = service.response_schema
        if written is None:
            continue
        path = (*service.path, "responseSchema")
        if isinstance(written, str):
            file = context.config.source.parent / written
            problem = _schema_file_problem(file, written)
            if problem:
                yield _error(path, problem, SCHEMA_FILE_HINT, "EXC-06")
                continue
            schema = json.loads(file.read_text(encoding="utf-8"))
        else:
            schema = written
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "its top level"
            yield _error(
                path,
                f"the response schema is not a valid JSON Schema: at {where}, "
                f"{error.message}",
                "correct the schema (JSON Schema draft 2020-12)",
                "EXC-06",
            )


def _schema_file_problem(file: Path, written: str) -> str | None:
    if not file.is_file():
        return f'"{written}" is not a file (looked for {file})'
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f'"{written}" is not readable JSON: {error}'
    if not isinstance(schema, (dict, bool)):
        return f'"{written}" holds JSON, but not a schema (an object)'
    return None


SCHEMA_FILE_HINT = (
    "give the path of a JSON Schema file, relative to this configuration file"
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
