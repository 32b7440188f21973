"""Render the configuration reference (docs/configuration.md) from the schemas.

    python -m exchange.config.reference > docs/configuration.md

A test compares the committed file with a fresh rendering, so the
reference cannot drift from the schema it documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exchange.config.rules import RULES_BY_ID
from exchange.config.schema import EXCHANGE_SCHEMA_ID, schema_registry

if TYPE_CHECKING:
    # referencing does not re-export the class its Registry.resolver() returns.
    from referencing._core import Resolver

COMMON_SCHEMA_ID = "https://schemas.exchange-proof.dev/common.schema.json"

_TYPE_WORDS = {
    "object": "mapping",
    "array": "list",
    "string": "text",
    "integer": "whole number",
    "number": "number",
    "boolean": "true or false",
    "null": "null",
}


@dataclass(frozen=True)
class _Field:
    """A property schema with its `$ref` followed, plus where it came from."""

    schema: dict[str, Any]
    resolver: Resolver
    # The title of the shared value type (common.schema.json) it refers to.
    referenced_title: str | None


def render_reference() -> str:
    """The whole reference, as Markdown."""
    registry = schema_registry()
    root = registry.contents(EXCHANGE_SCHEMA_ID)
    resolver = registry.resolver(base_uri=EXCHANGE_SCHEMA_ID)
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from schemas/ by `python -m exchange.config.reference"
        " > docs/configuration.md`; edit the schemas, not this file. -->",
        "",
        root["description"],
        "",
        "The file is YAML 1.2, or JSON when its name ends in `.json`. Keys are",
        "camelCase; a key not listed here is an error. Validate a file with",
        "`exchange validate FILE`; a complete example is",
        "[examples/app-database.yaml](../examples/app-database.yaml).",
        "",
    ]
    for heading, schema, field_resolver in _object_sections("", root, resolver):
        lines += _object_section(heading, schema, field_resolver)
    lines += _value_types(registry.contents(COMMON_SCHEMA_ID))
    lines += _rules_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def _object_sections(
    path: str, schema: dict[str, Any], resolver: Resolver, heading: str = ""
) -> Iterator[tuple[str, dict[str, Any], Resolver]]:
    """Every object of the format, parents before children, in schema order.

    A discriminated object (`option`, `via`, `type`) gets one section per
    branch, after its own; a shared value type is documented once, under
    Value types, not wherever it is used.
    """
    heading = heading or (f"`{path}`" if path else "Top level")
    yield heading, schema, resolver
    for key, subschema in schema.get("properties", {}).items():
        field = _follow(subschema, resolver)
        if field.referenced_title:
            continue
        child = f"{path}.{key}" if path else key
        yield from _nested_sections(child, field)
    for key, value, then, then_resolver in _branches(schema, resolver):
        branch = f"{heading} with `{key}: {value}`"
        yield from _object_sections(path, then, then_resolver, branch)


def _nested_sections(path: str, field: _Field) -> Iterator[tuple[str, dict, Resolver]]:
    schema = field.schema
    if "properties" in schema:
        yield from _object_sections(path, schema, field.resolver)
    elif schema.get("type") == "array" and "items" in schema:
        items = _follow(schema["items"], field.resolver)
        yield from _nested_sections(f"{path}[]", items)


def _branches(
    schema: dict[str, Any], resolver: Resolver
) -> Iterator[tuple[str, Any, dict[str, Any], Resolver]]:
    """The if/then branches that pick a schema by one key's value (`option: ...`)."""
    for entry in schema.get("allOf", []):
        conditions = entry.get("if", {}).get("properties", {})
        if len(conditions) != 1 or "then" not in entry:
            continue
        ((key, condition),) = conditions.items()
        if "const" in condition:
            then = _follow(entry["then"], resolver)
            yield key, condition["const"], then.schema, then.resolver


def _follow(schema: dict[str, Any], resolver: Resolver) -> _Field:
    """Resolve `$ref`, letting the referring schema's own keywords win."""
    if "$ref" not in schema:
        return _Field(schema, resolver, None)
    resolved = resolver.lookup(schema["$ref"])
    # A reference may lead to another (name -> app-database's name -> slug).
    inner = _follow(resolved.contents, resolved.resolver)
    merged = {**inner.schema, **{k: v for k, v in schema.items() if k != "$ref"}}
    shared = schema["$ref"].startswith("common.schema.json")
    title = resolved.contents.get("title") if shared else inner.referenced_title
    return _Field(merged, inner.resolver, title)


def _object_section(
    heading: str, schema: dict[str, Any], resolver: Resolver, level: str = "##"
) -> list[str]:
    lines = [f"{level} {heading}", ""]
    if heading != "Top level" and schema.get("description"):
        lines += [schema["description"], ""]
    required = set(schema.get("required", []))
    lines += [
        "| key | required | type | default | constraints | description |",
        "|---|---|---|---|---|---|",
    ]
    for key, subschema in schema.get("properties", {}).items():
        field = _follow(subschema, resolver)
        cells = [
            f"`{key}`",
            "yes" if key in required else "no",
            _type_text(field),
            _code(field.schema["default"]) if "default" in field.schema else "",
            _constraints(field.schema, own_pattern=not field.referenced_title),
            field.schema.get("description", ""),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    then = schema.get("then", {})
    if then.get("x-hint"):
        lines += [f"Also: {then['x-hint']}.", ""]
    return lines


def _type_text(field: _Field) -> str:
    schema = field.schema
    if field.referenced_title:
        return f"[{field.referenced_title}](#{_anchor(field.referenced_title)})"
    if "const" in schema:
        return _code(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_code(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(
            _type_text(_follow(branch, field.resolver)) for branch in schema["anyOf"]
        )
    kind = schema.get("type")
    if kind == "array" and "items" in schema:
        items = _follow(schema["items"], field.resolver)
        if items.schema.get("type") == "object":
            return "list of mappings"
        return "list of " + _type_text(items)
    if isinstance(kind, str):
        return _TYPE_WORDS.get(kind, kind)
    return "value"


def _constraints(schema: dict[str, Any], own_pattern: bool = True) -> str:
    """The limits on a value; a referenced type's pattern is shown with the type."""
    parts = []
    if "exclusiveMinimum" in schema:
        parts.append(f"more than {schema['exclusiveMinimum']}")
    if "minimum" in schema or "maximum" in schema:
        low, high = schema.get("minimum", "…"), schema.get("maximum", "…")
        parts.append(f"{low} to {high}")
    if "minLength" in schema or "maxLength" in schema:
        low, high = schema.get("minLength", 0), schema.get("maxLength", "…")
        parts.append(f"{low} to {high} characters")
    if "minItems" in schema or "maxItems" in schema:
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        if low == high:
            parts.append(f"exactly {low} items")
        elif high is None:
            parts.append(f"at least {low} {'item' if low == 1 else 'items'}")
        else:
            parts.append(f"{low} to {high} items")
    if schema.get("uniqueItems"):
        parts.append("no repeats")
    if "pattern" in schema and own_pattern:
        parts.append(f"matches `{schema['pattern']}`")
    return "; ".join(parts)


def _value_types(common: dict[str, Any]) -> list[str]:
    lines = ["## Value types", "", common["description"], ""]
    resolver = schema_registry().resolver(base_uri=COMMON_SCHEMA_ID)
    for schema in common["$defs"].values():
        if "properties" in schema:
            lines += _object_section(schema["title"], schema, resolver, "###")
        else:
            lines += [f"### {schema['title']}", "", schema["description"], ""]
        constraints = _constraints(schema)
        if constraints:
            lines += [f"- constraints: {constraints}"]
        if schema.get("x-hint"):
            lines += [f"- how to write it: {schema['x-hint']}"]
        if schema.get("examples"):
            examples = ", ".join(_code(example) for example in schema["examples"])
            lines += [f"- examples: {examples}"]
        lines.append("")
    return lines


def _rules_section() -> list[str]:
    lines = [
        "## Checks beyond the schema",
        "",
        "After the schema, these rules run on the configuration. The ids are",
        "those of the rules catalogue (RULES.md) or product rules (EXC-, SEC-);",
        "each problem names its rule. Warnings do not make a file invalid.",
        "",
        "| rule | what it checks |",
        "|---|---|",
    ]
    for rule_id, check in RULES_BY_ID.items():
        summary = (check.__doc__ or check.__name__).strip().splitlines()[0]
        lines.append(f"| {rule_id} | {_cell(summary)} |")
    lines.append("")
    return lines


def _anchor(heading: str) -> str:
    """The fragment that GitHub gives a heading."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -")
    return kept.replace(" ", "-")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    print(render_reference(), end="")
