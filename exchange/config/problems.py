"""Problems found in an exchange configuration, and how they are printed.

Every layer (loader, schema, semantic rules) reports what it finds as
`Problem` objects; only this module decides how one reads on a terminal:

    FILE:LINE:COL: path: what is wrong; how to fix it (RULE-ID)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from exchange.config.model import DocPath

Severity = Literal["error", "warning"]

# Rule ids of problems that do not come from RULES.md.
SCHEMA = "SCHEMA"
YAML = "YAML"
YAML_1_1 = "YAML-1.1"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration, where it is and how to fix it."""

    path: DocPath
    message: str
    hint: str
    rule: str
    severity: Severity = "error"
    line: int | None = None
    col: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def at(self, line: int, col: int) -> Problem:
        return replace(self, line=line, col=col)

    def format(self, file: str | Path) -> str:
        where = f"{file}:{self.line or 1}:{self.col or 1}:"
        if self.severity == "warning":
            where += " warning:"
        text = f"{render_path(self.path)}: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return f"{where} {text} ({self.rule})"


def render_path(path: DocPath) -> str:
    """`("vpn", "tunnels", 1, "insideCidr")` -> `vpn.tunnels[1].insideCidr`."""
    if not path:
        return "document"
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Order problems as they appear in the file, errors before warnings."""
    return sorted(
        problems,
        key=lambda p: (p.line or 0, p.col or 0, p.severity != "error", p.rule),
    )
