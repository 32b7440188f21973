"""Rules about the exchanges and what they refer to elsewhere in the file."""

from __future__ import annotations

from collections.abc import Iterator

from exchange.config.model import DocPath
from exchange.config.problems import Problem, render_path
from exchange.config.rules.base import RuleContext, _error, rule


@rule("EXC-01")
def client_networks_are_on_premises(context: RuleContext) -> Iterator[Problem]:
    """Every client network lies inside an on-premises network."""
    on_premises = context.config.on_premises.networks
    listed = ", ".join(str(n) for n in on_premises)
    for database in context.config.app_databases():
        for index, network in enumerate(database.client_networks):
            if any(network.subnet_of(n) for n in on_premises):
                continue
            path = (*database.path, "clientNetworks", index)
            yield _error(
                path,
                f"{context.text(path)} is not inside any of onPremises.networks "
                f"({listed}), so its traffic is never routed into the tunnel",
                "add it to onPremises.networks, or correct it",
                "EXC-01",
            )


@rule("EXC-02")
def exchange_names_are_unique(context: RuleContext) -> Iterator[Problem]:
    """No two exchanges share a name."""
    first_use: dict[str, DocPath] = {}
    for exchange in context.config.exchanges:
        if exchange.name in first_use:
            yield _error(
                (*exchange.path, "name"),
                f'the name "{exchange.name}" is already used by '
                f"{render_path(first_use[exchange.name])}",
                "give every exchange its own name",
                "EXC-02",
            )
        else:
            first_use[exchange.name] = exchange.path


# RDS-01: a DB instance identifier has at most 63 characters.
MAX_DB_IDENTIFIER = 63


@rule("RDS-01")
def database_identifier_fits(context: RuleContext) -> Iterator[Problem]:
    """The instance identifier made from customer slug and exchange name fits."""
    for exchange in context.config.app_databases():
        identifier = context.config.database_identifier(exchange)
        if len(identifier) > MAX_DB_IDENTIFIER:
            yield _error(
                (*exchange.path, "name"),
                f'the database identifier "{identifier}" (customer slug, a hyphen, '
                f"exchange name) has {len(identifier)} characters, RDS accepts "
                f"{MAX_DB_IDENTIFIER} (inferred from RDS-01)",
                f"shorten the exchange name to at most "
                f"{MAX_DB_IDENTIFIER - len(context.config.customer.slug) - 1} "
                "characters",
                "RDS-01",
            )


# RDS-08: the initial database name must not be a reserved word. RDS names
# InnoDB; the others are MySQL 8.0 reserved words (the "(R)" entries of the
# manual's Keywords and Reserved Words page) that make likely schema names.
# Not the full list of about 260: a name the list misses fails at creation.
RESERVED_DATABASE_NAMES = frozenset(
    {
        "innodb",
        "database",
        "databases",
        "delete",
        "from",
        "group",
        "groups",
        "index",
        "insert",
        "key",
        "keys",
        "order",
        "rank",
        "schema",
        "schemas",
        "select",
        "table",
        "update",
        "use",
        "where",
    }
)


@rule("RDS-08")
def database_name_is_not_reserved(context: RuleContext) -> Iterator[Problem]:
    """The MySQL database (schema) name is not a reserved word."""
    for database in context.config.app_databases():
        if database.schema.lower() not in RESERVED_DATABASE_NAMES:
            continue
        yield _error(
            (*database.path, "schema"),
            f'"{database.schema}" is a reserved word of MySQL, which RDS refuses '
            "as the initial database name",
            f"use another name, e.g. {database.name.replace('-', '_')}_data",
            "RDS-08",
        )
