"""Validating many files at once, and the two ways to report it: text and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.config import UnreadableFile, Validation, validate_file
from exchange.config.problems import Problem, render_path

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def config_files(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """The files named, a folder standing for its configuration files.

    Returns the files in order (a folder's sorted by name), and a message for
    each argument that names nothing usable.
    """
    files: list[Path] = []
    unusable: list[str] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file()
            )
            if not found:
                unusable.append(
                    f"{argument}: a folder without *.yaml, *.yml or *.json files"
                )
            files += found
        else:
            files.append(path)
    return files, unusable


@dataclass
class Run:
    """The outcome of validating several files."""

    validations: list[Validation] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def failed(self, *, strict: bool) -> bool:
        return any(not v.ok or (strict and v.warnings) for v in self.validations)


# The rule id of a problem that is the validator's fault, not the file's.
INTERNAL = "INTERNAL"


def validate_files(files: list[Path], *, resolve_secrets: bool = False) -> Run:
    """Validate each file on its own: a bug met in one leaves the others checked."""
    run = Run()
    for file in files:
        try:
            run.validations.append(validate_file(file, resolve_secrets=resolve_secrets))
        except UnreadableFile as unreadable:
            run.unreadable.append(str(unreadable))
        except Exception as error:  # a bug: reported as this file's problem
            run.validations.append(_internal_error(file, error))
    return run


def _internal_error(file: Path, error: Exception) -> Validation:
    # Only the exception's type: its text may quote the file, secrets included.
    problem = Problem(
        path=(),
        message=f"the validator failed on this file ({type(error).__name__})",
        hint="this is a bug in the validator; please report it",
        rule=INTERNAL,
        line=1,
        col=1,
    )
    return Validation(file, None, None, [problem])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def render_text(run: Run) -> str:
    lines = []
    for validation in run.validations:
        lines += validation.report()
        verdict = "valid" if validation.ok else "invalid"
        counts = (
            f"{_count(len(validation.errors), 'error')}, "
            f"{_count(len(validation.warnings), 'warning')}"
        )
        lines.append(f"{validation.path}: {verdict} ({counts})")
    if len(run.validations) + len(run.unreadable) > 1:
        valid = sum(1 for v in run.validations if v.ok)
        invalid = len(run.validations) - valid
        total = (
            f"{_count(len(run.validations), 'file')}: {valid} valid, {invalid} invalid"
        )
        if run.unreadable:
            total += f", {len(run.unreadable)} unreadable"
        lines.append(total)
    return "\n".join(lines) + "\n"


def render_json(run: Run) -> str:
    def problem(p: Any) -> dict[str, Any]:
        return {
            "line": p.line,
            "column": p.col,
            "path": render_path(p.path),
            "severity": p.severity,
            "rule": p.rule,
            "message": p.message,
            "hint": p.hint,
        }

    files = [
        {
            "file": str(v.path),
            "valid": v.ok,
            "errors": len(v.errors),
            "warnings": len(v.warnings),
            "problems": [problem(p) for p in v.problems],
        }
        for v in run.validations
    ]
    document = {
        "files": files,
        "unreadable": run.unreadable,
        "valid": sum(1 for v in run.validations if v.ok),
        "invalid": sum(1 for v in run.validations if not v.ok),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
