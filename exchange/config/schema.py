"""Check a loaded document against the JSON Schema in `schemas/`.

The schemas are read from local files into a `referencing` registry; a
reference to anything outside it fails instead of reaching the network.
Each jsonschema error becomes a `Problem` that says, in words, what was
seen and how to write it instead. Messages take a field's `title` and
`x-hint` from the schema, and never echo a value marked `x-secret`, nor a
value or key below a secret's key (`preSharedKey`, `password`, ..., or a
near miss such as `passwd`). A value marked `x-url` is shown without its
user name, password, query and fragment.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from exchange.config.loader import Document
from exchange.config.model import DocPath, cron_never_runs
from exchange.config.problems import (
    SCHEMA,
    Problem,
    hides_secret,
    public_path,
    render_path,
    secret_key_in,
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
EXCHANGE_SCHEMA_ID = "https://schemas.exchange-proof.dev/exchange.schema.json"

_TYPE_WORDS = {
    "object": "a mapping of keys",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


@functools.cache
def schema_registry() -> Registry:
    """Every schema in `schemas/`, by its `$id`."""
    resources = []
    for file in sorted(SCHEMA_DIR.glob("*.schema.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((contents["$id"], resource))
    return Registry().with_resources(resources).crawl()


def exchange_schema() -> dict[str, Any]:
    """The top-level schema of an exchange configuration."""
    return schema_registry().contents(EXCHANGE_SCHEMA_ID)


def _is_cron(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _is_valid_cron_syntax(value):
        return False
    return not cron_never_runs(value)  # "0 0 30 2 *" is valid but never runs


# Only the formats the schemas rely on for more than a pattern; `ipv4` and
# the others stay annotations.
_FORMATS = FormatChecker(formats=())
_FORMATS.checks("cron")(_is_cron)


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(
        exchange_schema(), registry=schema_registry(), format_checker=_FORMATS
    )


# Keywords whose problems are about the key or item they name, not the value
# at the error's own location; those all stand.
_ABOUT_CHILDREN = {"additionalProperties", "required", "uniqueItems"}


def check_schema(document: Document) -> list[Problem]:
    """Every schema problem of the document, each once."""
    problems: dict[tuple[DocPath, str], Problem] = {}
    for error in _one_per_value(_validator().iter_errors(document.data)):
        for problem in _problems_for(error, document):
            problems.setdefault((problem.path, problem.message), problem)
    return list(problems.values())


def _one_per_value(errors: Iterable[ValidationError]) -> list[ValidationError]:
    """Keep the most relevant error about each value.

    An empty slug breaks both minLength and pattern; saying one of them,
    with the hint on how to write it, is clearer than saying both.
    """
    kept: list[ValidationError] = []
    best_at: dict[tuple[Any, ...], ValidationError] = {}
    for error in errors:
        if error.validator in _ABOUT_CHILDREN:
            kept.append(error)
            continue
        path = tuple(error.absolute_path)
        current = best_at.get(path)
        if current is None or relevance(error) > relevance(current):
            best_at[path] = error
    return kept + list(best_at.values())


def _problems_for(error: ValidationError, document: Document) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    if error.validator in ("anyOf", "oneOf") and error.context:
        branch = _matching_branch(error)
        if branch:
            for sub_error in branch:
                yield from _problems_for(sub_error, document)
        else:
            yield _no_matching_branch(error, path, document)
        return
    explain = _EXPLAINERS.get(str(error.validator), _explain_other)
    for problem_path, message, hint, at_key in explain(error, path):
        line, col = document.position(problem_path, key=at_key)
        yield Problem(
            # Located at the full path, but named only up to a secret's key:
            # a key below it may be the secret itself.
            path=public_path(problem_path),
            message=message,
            hint=hint,
            rule=_rule(error),
            line=line,
            col=col,
        )


# What an explainer yields: the problem's path, its message and hint, and
# whether it points at the mapping key rather than the value.
Explained = Iterator[tuple[DocPath, str, str, bool]]


def _explain_additional_properties(error: ValidationError, path: DocPath) -> Explained:
    allowed = sorted(_schema(error).get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        if hides_secret(path):
            # `preSharedKey: {Kq7v...}` is a mapping whose one key is the
            # secret: never name it, nor guess at what it was meant to be.
            owner = secret_key_in(path)
            message = f"{owner} has an unknown key"
            hint = (
                f"write {owner}: {{ env: NAME }} with the environment variable "
                "that holds the secret; allowed keys here: " + ", ".join(allowed)
            )
            yield (*path, key), message, hint, True
            continue
        suggestion = _closest(key, allowed)
        hint = f'did you mean "{suggestion}"? ' if suggestion else ""
        hint += "allowed keys here: " + ", ".join(allowed)
        yield (*path, key), f'unknown key "{key}"', hint, True


def _explain_required(error: ValidationError, path: DocPath) -> Explained:
    schema = _schema(error)
    where = render_path(path) if path else "the top level"
    for key in error.validator_value:
        if key in error.instance:
            continue
        hint = schema.get("x-hint")
        if not hint:
            hint = f"add `{key}:` under {where}"
            about = _first_sentence(schema.get("properties", {}).get(key, {}))
            if about:
                hint += f" ({about})"
        yield (*path, key), f'the required key "{key}" is missing', hint, False


def _explain_type(error: ValidationError, path: DocPath) -> Explained:
    expected = _type_words(error.validator_value)
    seen = _describe(_instance(error), _is_secret(error, path))
    hint = _hint(error)
    if not hint:
        if "text" in expected and isinstance(error.instance, (int, float)):
            hint = "put the value in quotes so that it stays text"
        elif error.instance is None:
            hint = "write the value after the colon, or its entries indented below"
    yield path, f"expected {expected}, got {seen}", hint or f"write {expected}", False


def _explain_enum(error: ValidationError, path: DocPath) -> Explained:
    allowed = [str(value) for value in error.validator_value]
    shown = _show(_instance(error), _is_secret(error, path))
    message = f"{shown} is not one of: {', '.join(allowed)}"
    hints = []
    if isinstance(error.instance, str):
        suggestion = _closest(error.instance, allowed)
        if suggestion:
            hints.append(f'did you mean "{suggestion}"?')
    if _hint(error):
        hints.append(_hint(error))
    hint = " ".join(hints) or f"use one of: {', '.join(allowed)}"
    yield path, message, hint, False


def _explain_const(error: ValidationError, path: DocPath) -> Explained:
    expected = json.dumps(error.validator_value)
    seen = _describe(_instance(error), _is_secret(error, path))
    hint = _hint(error) or f"write {expected}"
    yield path, f"must be {expected}, got {seen}", hint, False


def _explain_pattern(error: ValidationError, path: DocPath) -> Explained:
    what = _schema(error).get("title", "value")
    shown = _show(_instance(error), _is_secret(error, path))
    hint = _hint(error) or f"it must match {error.validator_value}"
    yield path, f"{shown} is not a valid {what}", hint, False


def _explain_length(error: ValidationError, path: DocPath) -> Explained:
    length = len(error.instance)
    shown = _show(_instance(error), _is_secret(error, path))
    if error.validator == "minLength":
        if length == 0:
            message = "is empty"
        else:
            message = f"{shown} is {length} characters long, shorter than "
            message += f"{error.validator_value}"
    else:
        message = f"{shown} is {length} characters long, longer than "
        message += f"{error.validator_value}"
    yield path, message, _hint(error) or _length_hint(error), False


def _length_hint(error: ValidationError) -> str:
    limit = error.validator_value
    unit = "character" if limit == 1 else "characters"
    if error.validator == "maxLength":
        return f"shorten it to at most {limit} {unit}"
    return f"write at least {limit} {unit}"


def _explain_bound(error: ValidationError, path: DocPath) -> Explained:
    shown = _show(_instance(error), _is_secret(error, path))
    limit = error.validator_value
    if error.validator == "exclusiveMinimum":
        message = f"must be more than {limit}, got {shown}"
    elif error.validator == "exclusiveMaximum":
        message = f"must be less than {limit}, got {shown}"
    else:
        below = error.validator == "minimum"
        side = "below the minimum" if below else "above the maximum"
        message = f"{shown} is {side} of {limit}"
    yield path, message, _hint(error) or _range_hint(_schema(error)), False


def _range_hint(schema: dict[str, Any]) -> str:
    """How to write a value within the schema's bounds: "use a value from 1 to 300"."""
    if "minimum" in schema and "maximum" in schema:
        return f"use a value from {schema['minimum']} to {schema['maximum']}"
    words = {
        "minimum": "at least",
        "exclusiveMinimum": "more than",
        "maximum": "at most",
        "exclusiveMaximum": "less than",
    }
    bounds = [f"{words[key]} {schema[key]}" for key in words if key in schema]
    if not bounds:
        return ""
    of = "of " if bounds[0].startswith("at ") else ""
    return f"use a value {of}{' and '.join(bounds)}"


def _explain_items_count(error: ValidationError, path: DocPath) -> Explained:
    schema = _schema(error)
    count = len(error.instance)
    low, high = schema.get("minItems"), schema.get("maxItems")
    has = "is empty" if count == 0 else f"has {count} {_items(count)}"
    if low is not None and low == high:
        message = f"{has}, but exactly {low} are needed"
    elif error.validator == "minItems":
        message = f"{has}, but at least {low} {'is' if low == 1 else 'are'} needed"
    else:
        message = f"{has}, but at most {high} are allowed"
    yield path, message, _hint(error) or _items_hint(low, high, error), False


def _items_hint(low: int | None, high: int | None, error: ValidationError) -> str:
    if low is not None and low == high:
        return f"list exactly {low} {_items(low)}"
    if error.validator == "minItems":
        return f"list at least {low} {_items(low or 0)}"
    return f"remove items until at most {high} are left"


def _explain_unique_items(error: ValidationError, path: DocPath) -> Explained:
    first_index: dict[str, int] = {}
    secret = _is_secret(error, path)
    for index, item in enumerate(error.instance):
        fingerprint = json.dumps(item, sort_keys=True)
        if fingerprint not in first_index:
            first_index[fingerprint] = index
            continue
        first = first_index[fingerprint]
        message = f"{_show(item, secret)} is listed twice (also at [{first}])"
        yield (*path, index), message, "remove one of them", False


def _explain_property_count(error: ValidationError, path: DocPath) -> Explained:
    # Keys are never secret, so they may be named, unlike their values.
    allowed = list(_schema(error).get("properties", {}))
    given = [key for key in error.instance if key in allowed]
    limit = error.validator_value
    if error.validator == "maxProperties":
        if len(given) <= limit:
            return  # the excess are unknown keys, which additionalProperties names
        message = f"gives {' and '.join(given)}, but at most {limit} may be given"
    elif not error.instance:
        message = "is empty"
    else:
        message = f"has {len(given)} keys; at least {limit} are needed"
    hint = _hint(error)
    if not hint and error.validator == "maxProperties":
        hint = f"keep {limit} of {' and '.join(given)} and remove the others"
    elif not hint:
        hint = f"give at least {limit} of: {', '.join(allowed)}"
    yield path, message, hint, False


def _explain_format(error: ValidationError, path: DocPath) -> Explained:
    what = _schema(error).get("title", error.validator_value)
    shown = _show(_instance(error), _is_secret(error, path))
    if error.validator_value == "cron" and _is_valid_cron_syntax(error.instance):
        message = f"{shown} never runs: no date matches it"
    else:
        message = f"{shown} is not a valid {what}"
    yield path, message, _hint(error) or f"write a valid {what}", False


def _is_valid_cron_syntax(value: object) -> bool:
    """Whether `value` is a well-formed five-field cron (which may never run)."""
    # Imported on first use: most files have no cron schedule, and validating
    # must start fast.
    from croniter import croniter

    return (
        isinstance(value, str)
        and len(value.split()) == 5
        and bool(croniter.is_valid(value))
    )


def _explain_other(error: ValidationError, path: DocPath) -> Explained:
    if _is_secret(error, path) or _schema(error).get("x-url"):
        message = f"the value is not valid here ({error.validator})"
    else:
        message = error.message
    hint = _hint(error) or "see docs/configuration.md for what this key accepts"
    yield path, message, hint, False


_EXPLAINERS = {
    "additionalProperties": _explain_additional_properties,
    "required": _explain_required,
    "type": _explain_type,
    "enum": _explain_enum,
    "const": _explain_const,
    "pattern": _explain_pattern,
    "minLength": _explain_length,
    "maxLength": _explain_length,
    "minimum": _explain_bound,
    "maximum": _explain_bound,
    "exclusiveMinimum": _explain_bound,
    "exclusiveMaximum": _explain_bound,
    "minItems": _explain_items_count,
    "maxItems": _explain_items_count,
    "uniqueItems": _explain_unique_items,
    "minProperties": _explain_property_count,
    "maxProperties": _explain_property_count,
    "format": _explain_format,
}


def _matching_branch(error: ValidationError) -> list[ValidationError]:
    """The errors of the alternative whose type fits the value.

    For `preSharedKey: {env: lowercase}` that is the secret-reference branch,
    so the user hears about the variable name rather than "not valid under
    any of the given schemas". When several fit, the best match among
    their errors; when none does, nothing (the caller names the types).
    """
    branches: dict[Any, list[ValidationError]] = {}
    for sub_error in error.context or ():
        branches.setdefault(sub_error.relative_schema_path[0], []).append(sub_error)
    fitting = [
        errors
        for errors in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if len(fitting) > 1:
        return [best_match(e for errors in fitting for e in errors)]
    return fitting[0] if fitting else []


def _no_matching_branch(
    error: ValidationError, path: DocPath, document: Document
) -> Problem:
    expected: list[str] = []
    for sub_error in error.context or ():
        if sub_error.validator == "type" and not sub_error.relative_path:
            words = _type_words(sub_error.validator_value)
            if words not in expected:
                expected.append(words)
    seen = _describe(_instance(error), _is_secret(error, path))
    if expected:
        message = f"expected {' or '.join(expected)}, got {seen}"
        fallback = f"write {' or '.join(expected)}"
    else:
        message = f"{seen} does not fit any of the allowed forms"
        fallback = "see docs/configuration.md for the forms this key accepts"
    line, col = document.position(path)
    return Problem(
        path=public_path(path),
        message=message,
        hint=_hint(error) or fallback,
        rule=SCHEMA,
        line=line,
        col=col,
    )


def _schema(error: ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _hint(error: ValidationError) -> str:
    return str(_schema(error).get("x-hint", ""))


# Keywords that state a RULES.md row's allowed values or range; a schema
# may name that row in `x-rule`. A value of the wrong type breaks no row.
_VALUE_KEYWORDS = {
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",  # a quota on a count, such as VGW-06's 100 routes
    "pattern",  # a name's form, such as RDS-08's database name
}


def _rule(error: ValidationError) -> str:
    if error.validator not in _VALUE_KEYWORDS:
        return SCHEMA
    named = _schema(error).get("x-rule", SCHEMA)
    if isinstance(named, dict):  # a row per keyword: VPN-01 too few, VPN-02 too many
        named = named.get(error.validator, SCHEMA)
    return str(named)


def _is_secret(error: ValidationError, path: DocPath) -> bool:
    # Anywhere under a key: `preSharedKey: {env: <the key itself>}` is a
    # mistake that must not echo the key either.
    if hides_secret(path):
        return True
    return bool(_schema(error).get("x-secret"))


def _instance(error: ValidationError) -> Any:
    """The value of the error, with a URL's credentials removed if it is `x-url`."""
    if _schema(error).get("x-url") and isinstance(error.instance, str):
        return redact_url(error.instance)
    return error.instance


def redact_url(url: str) -> str:
    """`url` without the parts that may carry credentials.

    The query and fragment are dropped, and everything between `://` and
    the last `@` becomes `***`. Done on the text, not with urlsplit: the
    URL at hand has just failed the schema and may not parse. A path with
    an `@` in it loses more than it must, which errs on the safe side.
    """
    for mark in "?#":
        if mark in url:
            url = url.split(mark, 1)[0] + mark + "..."
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{separator}{rest}"


def _show(value: Any, secret: bool) -> str:
    """The value as the user wrote it, or a neutral stand-in for a secret."""
    if secret:
        return "the value"
    if isinstance(value, str):
        return f'"{value}"'
    return json.dumps(value)


def _describe(value: Any, secret: bool) -> str:
    """What kind of value this is, with the value itself unless it is secret."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean" if secret else f"the boolean {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return "a number" if secret else f"the number {value}"
    if isinstance(value, str):
        return "text" if secret else f'the text "{value}"'
    if isinstance(value, list):
        return "a list"
    return "a mapping of keys"


def _type_words(types: str | list[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(name, name) for name in names)


def _items(count: int) -> str:
    return "item" if count == 1 else "items"


def _closest(word: str, candidates: list[str]) -> str | None:
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[matches[0]] if matches else None


def _first_sentence(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    description = str(schema.get("description", ""))
    sentence = description.split(". ")[0].rstrip(".")
    if sentence[1:2].islower():
        sentence = sentence[:1].lower() + sentence[1:]
    return sentence
