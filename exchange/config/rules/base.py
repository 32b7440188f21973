"""The rule registry, the context a rule reads, and the run over all rules."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from exchange.config.loader import Document
from exchange.config.model import DocPath, ExchangeConfig
from exchange.config.problems import Problem


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read: the typed configuration, its document, the environment."""

    config: ExchangeConfig
    document: Document
    environ: Mapping[str, str]
    # With --resolve-secrets, an unresolvable secret reference is an error,
    # not a warning: the file is about to be provisioned.
    resolve_secrets: bool = False

    def text(self, path: DocPath) -> str:
        """The value at `path` exactly as written in the file."""
        return str(self.document.value(path))


Rule = Callable[[RuleContext], Iterator[Problem]]

RULES_BY_ID: dict[str, Rule] = {}


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    """Register a rule function under the id users see in its messages."""

    def register(function: Rule) -> Rule:
        if rule_id in RULES_BY_ID:
            raise ValueError(f"rule {rule_id} is registered twice")
        RULES_BY_ID[rule_id] = function
        return function

    return register


def run_rules(
    config: ExchangeConfig,
    document: Document,
    environ: Mapping[str, str] | None = None,
    *,
    resolve_secrets: bool = False,
) -> list[Problem]:
    """Every problem that any rule finds, each located in the document."""
    context = RuleContext(
        config=config,
        document=document,
        environ=os.environ if environ is None else environ,
        resolve_secrets=resolve_secrets,
    )
    problems = []
    for check in RULES_BY_ID.values():
        for problem in check(context):
            problems.append(problem.at(*document.position(problem.path)))
    return problems


def _error(path: DocPath, message: str, hint: str, rule_id: str) -> Problem:
    return Problem(path=path, message=message, hint=hint, rule=rule_id)


def _warning(path: DocPath, message: str, hint: str, rule_id: str) -> Problem:
    return Problem(
        path=path, message=message, hint=hint, rule=rule_id, severity="warning"
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
