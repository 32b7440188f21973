"""The diagnosis catalogue: stable codes, a layer each, and the documented table."""

from __future__ import annotations

import json
import re

from checks.diagnosis import CATALOGUE, Layer, catalogue_markdown
from tests.conftest import ROOT


def test_docs_carry_the_catalogue_as_generated():
    # Regenerate with: python -m checks.diagnosis (and paste into docs/checks.md)
    assert catalogue_markdown() in (ROOT / "docs" / "checks.md").read_text()


def test_every_code_is_upper_kebab_case_and_names_a_layer_and_a_fix():
    for code, diagnosis in CATALOGUE.items():
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)*", code), code
        assert diagnosis.code == code
        assert isinstance(diagnosis.layer, Layer)
        assert diagnosis.meaning and diagnosis.fix


def test_every_layer_the_issue_names_has_at_least_one_code():
    layers = {diagnosis.layer for diagnosis in CATALOGUE.values()}
    assert layers == set(Layer)


def test_the_report_schema_admits_every_layer():
    schema = json.loads((ROOT / "schemas" / "check-report.schema.json").read_text())
    admitted = set(schema["$defs"]["check"]["properties"]["layer"]["enum"])
    assert {layer.value for layer in Layer} <= admitted
