"""Problems found in an exchange configuration, and how they are printed.

Every layer (loader, schema, semantic rules) reports what it finds as
`Problem` objects; only this module decides how one reads on a terminal:

    FILE:LINE:COL: path: what is wrong; how to fix it (RULE-ID)
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from exchange.config.model import SECRET_KEYS, DocPath

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


# The keys of a secret reference, `{ env: NAME }` or `{ secret: NAME }`: fixed
# names, so a path may go on through them below a secret's key.
_REFERENCE_KEYS = frozenset({"env", "secret"})


def is_secret_key(key: str | int) -> bool:
    """Whether the value under `key` is a secret: a secret's key, or a near miss.

    `passwd:` or `preSharedKy:` hold the secret just as well as the key
    they misspell; no key of the schemas is that close to a secret's.
    """
    if not isinstance(key, str):
        return False
    return _is_secret_name(key)


# Files repeat the same few keys thousands of times: the fuzzy match runs
# once per distinct key.
@functools.lru_cache(maxsize=4096)
def _is_secret_name(key: str) -> bool:
    if key in SECRET_KEYS:
        return True
    lowered = key.lower()
    return any(
        difflib.SequenceMatcher(None, lowered, name.lower()).ratio() >= 0.8
        for name in SECRET_KEYS
    )


def hides_secret(path: DocPath) -> bool:
    """Whether `path` is at or below a secret's key, so its value must not show."""
    return any(is_secret_key(part) for part in path)


def public_path(path: DocPath) -> DocPath:
    """`path`, cut at a secret's key so that what follows it is never named.

    A key written under `preSharedKey:` may be the key itself
    (`preSharedKey: {Kq7v...}` is a mapping with one key); only `env` and
    `secret`, the keys of a reference, may follow.
    """
    for index, part in enumerate(path):
        if is_secret_key(part):
            rest = path[index + 1 : index + 2]
            keep = 1 if rest and rest[0] in _REFERENCE_KEYS else 0
            return path[: index + 1 + keep]
    return path


def secret_key_in(path: DocPath) -> str:
    """The last secret's key on `path`, to name where a problem is; "" if none."""
    for part in reversed(path):
        if isinstance(part, str) and is_secret_key(part):
            return part
    return ""


def render_path(path: DocPath) -> str:
    """`("vpn", "tunnels", 1, "insideCidr")` -> `vpn.tunnels[1].insideCidr`.

    A path below a secret's key stops at that key (see `public_path`), in
    the terminal and in the JSON report alike.
    """
    if not path:
        return "document"
    text = ""
    for part in public_path(path):
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
