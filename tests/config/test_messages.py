"""What problems say: a message that names what is wrong, a hint that fixes it.

A line reads `path: message; hint (RULE-ID)`, so a message holds no `;` of
its own, and every schema problem carries a hint, from the schema's
`x-hint` or, failing that, from the bounds the schema sets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.config import Validation, validate_file
from exchange.config.problems import Problem

from .samples import ROOT, TUNNEL_KEYS, VALID, changed, validate_text

MULTI_OPTION = ROOT / "examples" / "multi-option.yaml"
BASIC_AND_BEARER = ROOT / "examples" / "web-service-basic-and-bearer.yaml"
SECRETS_MANAGER_KEY = "preSharedKey: { secret: nordwind/tunnel2-psk }"


def validate_example(
    tmp_path: Path,
    example: Path,
    old: str,
    new: str,
    environ: dict[str, str] | None = None,
    *,
    resolve_secrets: bool = False,
) -> Validation:
    """`example` with one fragment replaced, validated beside its response schemas."""
    shutil.copytree(example.parent / "responses", tmp_path / "responses")
    path = tmp_path / example.name
    path.write_text(changed(old, new, example.read_text(encoding="utf-8")))
    return validate_file(
        path,
        environ=TUNNEL_KEYS if environ is None else environ,
        resolve_secrets=resolve_secrets,
    )


def only_error(validation: Validation) -> Problem:
    [problem] = validation.errors
    return problem


# (fragment of multi-option.yaml, replacement, message, hint)
SCHEMA_BOUNDS = [
    ("connectTimeoutSeconds: 5", "connectTimeoutSeconds: 500",
     "500 is above the maximum of 120", "use a value more than 0 and at most 120"),
    ("readTimeoutSeconds: 20", "readTimeoutSeconds: 0",
     "must be more than 0, got 0", "use a value more than 0 and at most 3600"),
    ("largestFileMb: 200", "largestFileMb: 0",
     "must be more than 0, got 0", "use a value more than 0 and at most 5000000"),
    ("minimumBandwidthMbps: 10", "minimumBandwidthMbps: -1",
     "must be more than 0, got -1", "use a value more than 0 and at most 100000"),
    ("retries: 2", "retries: 11",
     "11 is above the maximum of 10", "use a value from 0 to 10"),
    ("database: wms", 'database: ""',
     "is empty", "write at least 1 character"),
    ("clientId: platform-shipments", 'clientId: ""',
     "is empty", "write at least 1 character"),
    ("name: Nordwind Logistik GmbH", "name: " + "N" * 201,
     f'"{"N" * 201}" is 201 characters long, longer than 200',
     "shorten it to at most 200 characters"),
    ("note: opened by firewall change CHG-4711", "note: " + "n" * 501,
     f'"{"n" * 501}" is 501 characters long, longer than 500',
     "shorten it to at most 500 characters"),
]  # fmt: skip


class TestSchemaHints:
    @pytest.mark.parametrize(
        ("old", "new", "message", "hint"), SCHEMA_BOUNDS, ids=lambda v: str(v)[:24]
    )
    def test_a_field_without_x_hint_gets_one_from_its_bounds(
        self, tmp_path, old, new, message, hint
    ):
        problem = only_error(validate_example(tmp_path, MULTI_OPTION, old, new))
        assert problem.rule == "SCHEMA"
        assert problem.message == message
        assert problem.hint == hint

    def test_an_empty_list_says_how_many_items_it_needs(self, tmp_path):
        validation = validate_example(
            tmp_path, MULTI_OPTION, "formats: [pdf, xlsx]", "formats: []"
        )
        problem = only_error(validation)
        assert problem.message == "is empty, but at least 1 is needed"
        assert problem.hint == "list at least 1 item"

    def test_a_text_field_that_gets_a_number_says_to_write_text(self, tmp_path):
        validation = validate_example(
            tmp_path, MULTI_OPTION, "database: wms", "database: 42"
        )
        problem = only_error(validation)
        assert problem.message == "expected text, got the number 42"
        assert problem.hint == "put the value in quotes so that it stays text"

    def test_a_schedule_of_two_kinds_names_both_without_a_semicolon(self, tmp_path):
        validation = validate_example(
            tmp_path,
            MULTI_OPTION,
            "schedule: { everyMinutes: 60 }",
            'schedule: { everyMinutes: 60, dailyAt: "06:00" }',
        )
        problem = only_error(validation)
        assert (
            problem.message
            == "gives everyMinutes and dailyAt, but at most 1 may be given"
        )
        assert (
            problem.hint
            == "give exactly one of everyMinutes, dailyAt, cron or onDemand"
        )

    @pytest.mark.parametrize(("old", "new", "_message", "_hint"), SCHEMA_BOUNDS)
    def test_no_schema_message_holds_the_separator_of_the_hint(
        self, tmp_path, old, new, _message, _hint
    ):
        problem = only_error(validate_example(tmp_path, MULTI_OPTION, old, new))
        assert ";" not in problem.message
        assert problem.hint


class TestCronThatNeverRuns:
    @pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *"])
    def test_the_message_says_it_never_runs(self, tmp_path, expression):
        validation = validate_example(
            tmp_path,
            MULTI_OPTION,
            'schedule: { cron: "0 18 * * 1-5" }',
            f'schedule: {{ cron: "{expression}" }}',
        )
        problem = only_error(validation)
        assert problem.message == f'"{expression}" never runs: no date matches it'
        assert problem.hint.startswith("write five fields")

    def test_a_malformed_cron_is_not_said_to_never_run(self, tmp_path):
        validation = validate_example(
            tmp_path,
            MULTI_OPTION,
            'schedule: { cron: "0 18 * * 1-5" }',
            'schedule: { cron: "0 18 * *" }',
        )
        problem = only_error(validation)
        assert problem.message == '"0 18 * *" is not a valid cron expression'


class TestSecretMessages:
    def test_an_unset_tunnel_key_says_its_format_waits_without_a_semicolon(
        self, tmp_path
    ):
        validation = validate_text(tmp_path, VALID, environ={})
        problem = next(p for p in validation.warnings if p.rule == "SEC-02")
        assert problem.message == (
            "NORDWIND_TUNNEL1_PSK is not set, so the key's format is not checked yet"
        )
        assert problem.hint == (
            "export NORDWIND_TUNNEL1_PSK with tunnel 1's pre-shared key "
            "before provisioning"
        )

    def test_an_unset_web_service_secret_is_sec_02_too(self, tmp_path):
        environ = {**TUNNEL_KEYS, "NORDWIND_TRACKING_PASSWORD": "x"}
        validation = validate_example(
            tmp_path, BASIC_AND_BEARER, "retries: 1", "retries: 1", environ
        )
        [unset] = [p for p in validation.warnings if p.rule == "SEC-02"]
        assert unset.path == ("exchanges", 1, "auth", "token")
        assert unset.message == "NORDWIND_RATES_TOKEN is not set"
        assert unset.hint == (
            "export NORDWIND_RATES_TOKEN with the bearer token of web service rates "
            "before provisioning"
        )

    def test_a_secrets_manager_key_is_a_warning_offline(self, tmp_path):
        text = changed(
            "preSharedKey: { env: NORDWIND_TUNNEL2_PSK }", SECRETS_MANAGER_KEY
        )
        validation = validate_text(tmp_path, text)
        [problem] = validation.warnings
        assert problem.rule == "SEC-02"
        assert problem.message == (
            "Secrets Manager secret nordwind/tunnel2-psk is read only at "
            "provisioning, so the key's format (VPN-03 to VPN-05) is not checked here"
        )
        assert problem.hint.startswith("make sure the secret exists")

    @pytest.mark.parametrize(
        ("old", "new", "path_end", "message", "hint"),
        [
            (
                "preSharedKey: { env: NORDWIND_TUNNEL1_PSK }",
                "preSharedKey: Kq7vTunnelOneKey4711",
                ("vpn", "tunnels", 0, "preSharedKey"),
                "tunnel 1's pre-shared key is written in the file, where version "
                "control keeps it",
                "move it to an environment variable and write preSharedKey: "
                "{ env: NAME }, or to Secrets Manager and write preSharedKey: "
                "{ secret: NAME }",
            ),
            (
                "apiKey: { env: NORDWIND_ERP_API_KEY }",
                "apiKey: Ak9ErpKey4711",
                ("exchanges", 7, "auth", "apiKey"),
                "the API key of web service results is written in the file, where "
                "version control keeps it",
                "move it to an environment variable and write apiKey: { env: NAME }, "
                "or to Secrets Manager and write apiKey: { secret: NAME }",
            ),
        ],
        ids=["pre-shared-key", "web-service-api-key"],
    )
    def test_a_literal_secret_is_sec_01_wherever_it_is(
        self, tmp_path, old, new, path_end, message, hint
    ):
        validation = validate_example(tmp_path, MULTI_OPTION, old, new)
        [problem] = [p for p in validation.errors if p.rule == "SEC-01"]
        assert problem.path == path_end
        assert problem.message == message
        assert problem.hint == hint
