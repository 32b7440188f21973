"""The rule registry, the context a rule reads, and the run over all rules."""

from __future__ import annotations

import os
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
        """The value at `path` exactly as written in the file; "" if it is absent.

        Rules ask only for values the model was built from, so "" means a
        rule asked for a key the file leaves out, never the text "None".
        """
        value = self.document.value(path)
        return "" if value is None else str(value)


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
