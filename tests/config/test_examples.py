"""The shipped examples: the valid one passes, each invalid one fails as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.config import RULES_BY_ID, validate_file

from .samples import EXAMPLE, INVALID_EXAMPLES, TUNNEL_KEYS

EXPECT = re.compile(
    r"^# expect: (?P<rule>[A-Z0-9.-]+)(?P<warning> warning)? line (?P<line>\d+)$"
)
INVALID_FILES = sorted(INVALID_EXAMPLES.glob("*.yaml"))


def expectation(file: Path) -> tuple[str, str, int]:
    first_line = file.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.match(first_line)
    assert match, f"{file.name}: the first line must be '# expect: RULE-ID line N'"
    severity = "warning" if match["warning"] else "error"
    return match["rule"], severity, int(match["line"])


def test_example_is_valid_with_only_the_expected_warnings():
    validation = validate_file(EXAMPLE, environ={})
    assert validation.ok
    assert validation.config is not None
    assert sorted(p.rule for p in validation.warnings) == ["CGW-01", "SEC-02", "SEC-02"]


def test_example_with_its_keys_set_warns_only_about_the_documentation_address():
    validation = validate_file(EXAMPLE, environ=TUNNEL_KEYS)
    assert [(p.rule, p.severity) for p in validation.problems] == [
        ("CGW-01", "warning")
    ]


@pytest.mark.parametrize("file", INVALID_FILES, ids=lambda f: f.stem)
def test_invalid_example_produces_exactly_its_stated_problem(file):
    rule, severity, line = expectation(file)
    validation = validate_file(file, environ=TUNNEL_KEYS)
    errors = [(p.rule, p.line) for p in validation.errors]
    if severity == "error":
        assert errors == [(rule, line)], validation.report()
    else:
        assert errors == [], validation.report()
        warnings = [(p.rule, p.line) for p in validation.warnings]
        assert (rule, line) in warnings, validation.report()


@pytest.mark.parametrize("file", INVALID_FILES, ids=lambda f: f.stem)
def test_invalid_example_is_named_for_its_rule(file):
    rule, _, _ = expectation(file)
    assert file.name.startswith(rule.lower() + "-")


@pytest.mark.parametrize("rule", sorted(RULES_BY_ID))
def test_every_rule_has_an_invalid_example(rule):
    assert list(INVALID_EXAMPLES.glob(f"{rule.lower()}-*.yaml"))
