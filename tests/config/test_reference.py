"""docs/configuration.md is generated from the schema and must not drift."""

from __future__ import annotations

import subprocess
import sys

from exchange.config.reference import render_reference
from exchange.config.schema import exchange_schema

from .samples import ROOT

REFERENCE = ROOT / "docs" / "configuration.md"


def test_committed_reference_equals_a_fresh_rendering():
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/configuration.md is stale; run "
        "`python -m exchange.config.reference > docs/configuration.md`"
    )


def test_reference_documents_every_top_level_key():
    text = render_reference()
    for key in exchange_schema()["properties"]:
        assert f"| `{key}` |" in text


def test_reference_module_prints_the_reference():
    result = subprocess.run(
        [sys.executable, "-m", "exchange.config.reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == render_reference()
