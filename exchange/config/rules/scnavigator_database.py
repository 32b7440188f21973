"""Rules about scnavigator-database exchanges (option 1): the EAV layout's tables."""

from __future__ import annotations

from collections.abc import Iterator

from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, rule

# MY-02: a MySQL table name has at most 64 characters.
MAX_TABLE_NAME = 64
TABLE_ROLES = ("entity", "attribute", "value")


@rule("MY-02")
def table_names_fit_mysql(context: RuleContext) -> Iterator[Problem]:
    """Each table name of the EAV layout has at most 64 characters."""
    for database in context.config.scnavigator_databases():
        for role in TABLE_ROLES:
            table = getattr(database.tables, role)
            if len(table) > MAX_TABLE_NAME:
                yield _error(
                    (*database.path, "tables", role),
                    f"the {role} table name has {len(table)} characters, MySQL "
                    f"accepts at most {MAX_TABLE_NAME}",
                    f"shorten it to {MAX_TABLE_NAME} characters or fewer",
                    "MY-02",
                )


@rule("EXC-08")
def table_names_differ(context: RuleContext) -> Iterator[Problem]:
    """The EAV layout's three tables have three different names."""
    for database in context.config.scnavigator_databases():
        # Compared without case: with lower_case_table_names set, MySQL folds
        # table names to lowercase, and two names that differ only in case clash.
        first_role: dict[str, str] = {}
        for role in TABLE_ROLES:
            table = getattr(database.tables, role)
            other = first_role.setdefault(table.lower(), role)
            if other != role:
                yield _error(
                    (*database.path, "tables", role),
                    f'the {role} table "{table}" has the name of the {other} table',
                    "give the entity, attribute and value tables three different names",
                    "EXC-08",
                )
