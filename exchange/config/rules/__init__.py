"""The semantic rules: what the schema cannot say about a configuration.

Each rule is a function registered under the id it enforces (from
RULES.md, or a product rule: EXC-*, SEC-*). It reads the typed
configuration, and the document where it needs the text as written, and
yields problems located by document path; `run_rules` adds line and column.
Messages never contain a pre-shared key, only the variable that holds it.

One module per part of the file; importing them registers their rules.
"""

from exchange.config.rules import (
    exchanges,
    file_storage,
    network,
    remote_database,
    routing,
    scnavigator_database,
    secrets,
    tunnel_options,
    vpn,
    web_service,
    whitelist,
)
from exchange.config.rules.base import RULES_BY_ID, Rule, RuleContext, rule, run_rules

__all__ = [
    "RULES_BY_ID",
    "Rule",
    "RuleContext",
    "exchanges",
    "file_storage",
    "network",
    "remote_database",
    "routing",
    "rule",
    "run_rules",
    "scnavigator_database",
    "secrets",
    "tunnel_options",
    "vpn",
    "web_service",
    "whitelist",
]
