"""Rules about secrets, wherever the file holds them: tunnels and web services.

A secret is written as a reference, `{ env: NAME }` or `{ secret: NAME }`,
never as its value (SEC-01), and a reference can be resolved (SEC-02).
No message names a secret, only where it is kept; a variable "name" that
looks like the secret itself is not named either.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from exchange.config.model import DocPath, Secret, SecretRef
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

# The key under which each kind of web-service auth holds its secret.
AUTH_SECRET_KEYS = {
    "basic": "password",
    "bearer": "token",
    "api-key": "apiKey",
    "oauth2-client-credentials": "clientSecret",
}
_PRE_SHARED_KEY = "preSharedKey"


def _literal_secrets(context: RuleContext) -> Iterator[tuple[DocPath, str]]:
    """(path, what it is) of every secret written as its value in the file."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        if isinstance(tunnel.pre_shared_key, Secret):
            path = ("vpn", "tunnels", index, _PRE_SHARED_KEY)
            yield path, f"tunnel {index + 1}'s pre-shared key"
    for service in context.config.web_services():
        auth = service.auth
        if any(isinstance(secret, Secret) for secret in auth.secrets()):
            key = AUTH_SECRET_KEYS[auth.kind]
            what = {"apiKey": "API key", "clientSecret": "client secret"}.get(key, key)
            yield (
                (*service.path, "auth", key),
                f"the {what} of web service {service.name}",
            )


@rule("SEC-01")
def secrets_stay_out_of_the_file(context: RuleContext) -> Iterator[Problem]:
    """Secrets are kept outside the file, never written in it."""
    for path, what in _literal_secrets(context):
        key = path[-1]
        yield _error(
            path,
            f"{what} is written in the file, where version control keeps it",
            f"move it to an environment variable and write {key}: {{ env: NAME }}, "
            f"or to Secrets Manager and write {key}: {{ secret: NAME }}",
            "SEC-01",
        )


@rule("SEC-02")
def secret_references_resolve(context: RuleContext) -> Iterator[Problem]:
    """Every secret reference can be resolved (warning; error when resolving).

    Offline a Secrets Manager secret cannot be, and only provisioning reads
    it; with --resolve-secrets its existence is asked of AWS (its value is
    never fetched here).
    """
    report = _error if context.resolve_secrets else _warning
    for ref in context.config.secret_refs():
        is_key = ref.path[-1:] == (_PRE_SHARED_KEY,)
        if ref.secret_name is not None:
            problem = _unreadable_secret(
                ref,
                is_key,
                resolving=context.resolve_secrets,
                region=context.config.region,
            )
            if problem is not None:
                yield problem
        elif ref.env is not None and ref.env not in context.environ:
            message, hint = describe_unset_variable(
                ref.env,
                str(ref.path[-1]),
                "key" if is_key else "secret",
                ref.purpose,
                note=", so the key's format is not checked yet" if is_key else "",
            )
            yield report(ref.path, message, hint, "SEC-02")


def _unreadable_secret(
    ref: SecretRef, is_key: bool, *, resolving: bool, region: str
) -> Problem | None:
    if resolving:
        missing = _missing_in_secrets_manager(ref.secret_name or "", region)
        if missing is None:
            return None
        return _error(
            ref.path,
            f"{ref.where} cannot be resolved in {region}: {missing}",
            "create the secret in the stack's account and region, or run with "
            "that account's AWS credentials",
            "SEC-02",
        )
    checked = "the key's format (VPN-03 to VPN-05)" if is_key else "it"
    holds = (
        " and holds a key of 8 to 64 letters, digits, '.' or '_', not starting with 0"
        if is_key
        else ""
    )
    return _warning(
        ref.path,
        f"{ref.where} is read only at provisioning, so {checked} is not checked here",
        f"make sure the secret exists in the stack's account and region{holds}",
        "SEC-02",
    )


# What AWS accepts as a pre-shared key (VPN-03 to VPN-05).
_KEY_LIKE = re.compile(r"^[A-Za-z1-9][A-Za-z0-9._]{7,63}$")


def _looks_like_a_secret(name: str) -> bool:
    """Whether a variable "name" is more likely the secret itself.

    Names are words joined by underscores (NORDWIND_TUNNEL1_PSK); a long
    run without one (KQ7VTUNNELONEKEY4711), or a word that keeps switching
    between letters and digits (K7Q2X9M4), reads as a key pasted in.
    """
    if "_" not in name and len(name) >= 16:
        return True
    if not _KEY_LIKE.match(name):
        return False
    for word in name.split("_"):
        pairs = itertools.pairwise(word)
        switches = sum(1 for a, b in pairs if a.isdigit() != b.isdigit())
        if len(word) >= 16 or switches >= 4:
            return True
    return False


def describe_unset_variable(
    name: str, key: str, what: str, purpose: str, note: str = ""
) -> tuple[str, str]:
    """The message and hint for `key: { env: name }` when `name` is not set.

    `what` is the kind of secret ("key", "secret"), `purpose` whose it is,
    and `note` what the plain message adds. The variable is named, unless
    the "name" looks like the secret itself, which then appears nowhere.
    """
    if _looks_like_a_secret(name):
        return (
            f"the variable named in {key}.env is not set",
            f"did you write the {what} itself instead of a variable name? Write "
            f"{key}: {{ env: NAME }} with the name of the variable that holds "
            f"{purpose}, and export that variable",
        )
    return (
        f"{name} is not set{note}",
        f"export {name} with {purpose} before provisioning",
    )


def _missing_in_secrets_manager(name: str, region: str) -> str | None:
    """Why the secret cannot be found in the region's Secrets Manager, or None.

    boto3 is loaded only here, for --resolve-secrets: validating must not
    load it otherwise.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "secretsmanager",
        region_name=region,
        config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2}),
    )
    try:
        client.describe_secret(SecretId=name)
    except ClientError as error:
        code = error.response["Error"].get("Code", "")
        if code == "ResourceNotFoundException":
            return "no such secret"
        return f"AWS refused the lookup ({code})"
    except BotoCoreError as error:
        return f"AWS could not be asked ({type(error).__name__})"
    return None
