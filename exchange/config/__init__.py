"""The exchange configuration: load, validate and type one customer's file.

    validation = validate_file("customer.yaml")
    for problem in validation.problems:
        print(problem.format(validation.path))

`validate_file` reports every problem at once: the loader's, then the
schema's (which stop the rules, since they need a well-formed document),
then the semantic rules'. `load_config` is for code that provisions: it
returns the typed configuration or raises `InvalidConfig`.

This package imports nothing from infra, simulator or checks, nor any
cloud SDK: validating must stay fast and work offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exchange.config.loader import Document, LoadError, UnreadableFile, load_document
from exchange.config.model import ExchangeConfig, build_config
from exchange.config.problems import Problem, render_path, sort_problems
from exchange.config.rules import RULES_BY_ID, run_rules
from exchange.config.schema import check_schema

__all__ = [
    "RULES_BY_ID",
    "Document",
    "ExchangeConfig",
    "InvalidConfig",
    "LoadError",
    "Problem",
    "UnreadableFile",
    "Validation",
    "load_config",
    "load_document",
    "render_path",
    "validate_document",
    "validate_file",
]


@dataclass
class Validation:
    """The outcome of validating one configuration file."""

    path: Path
    document: Document | None
    config: ExchangeConfig | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def report(self) -> list[str]:
        """One line per problem, in file order."""
        return [problem.format(self.path) for problem in self.problems]


class InvalidConfig(Exception):
    """A configuration has errors; nothing may be provisioned from it."""

    def __init__(self, validation: Validation) -> None:
        self.validation = validation
        count = len(validation.errors)
        lines = [
            f"{validation.path} has {count} {'error' if count == 1 else 'errors'}:",
            *(problem.format(validation.path) for problem in validation.errors),
        ]
        super().__init__("\n".join(lines))


def validate_file(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    resolve_secrets: bool = False,
) -> Validation:
    """Load and validate a configuration file, collecting every problem.

    `environ` is where secret references are looked up (default: the
    process environment); with `resolve_secrets`, a reference that cannot
    be resolved is an error rather than a warning. Raises `UnreadableFile`
    when the file cannot be read; every other problem is in the returned
    `Validation`.
    """
    path = Path(path)
    try:
        document = load_document(path)
    except LoadError as error:
        return Validation(path, None, None, [error.problem()])
    return validate_document(document, environ, resolve_secrets=resolve_secrets)


def validate_document(
    document: Document,
    environ: Mapping[str, str] | None = None,
    *,
    resolve_secrets: bool = False,
) -> Validation:
    """Validate an already loaded document (schema, then semantic rules)."""
    problems = list(document.warnings)
    schema_problems = check_schema(document)
    if schema_problems:
        problems += schema_problems
        return Validation(document.path, document, None, sort_problems(problems))
    config = build_config(document.data, document.path)
    problems += run_rules(config, document, environ, resolve_secrets=resolve_secrets)
    problems = sort_problems(problems)
    valid = not any(p.is_error for p in problems)
    return Validation(document.path, document, config if valid else None, problems)


def load_config(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> ExchangeConfig:
    """The typed configuration of a valid file.

    Raises `InvalidConfig` (carrying the `Validation`) when the file has
    errors, and `UnreadableFile` when it cannot be read. Warnings pass.
    """
    validation = validate_file(path, environ)
    if validation.config is None:
        raise InvalidConfig(validation)
    return validation.config
