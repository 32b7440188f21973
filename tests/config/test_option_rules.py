"""The options beyond app-database: their schemas, typed model and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config.loader import parse_text
from exchange.config.model import (
    ApiKeyAuth,
    AppDatabase,
    ScnavigatorDatabase,
    VpnTarget,
    WhitelistTarget,
    build_config,
)
from exchange.config.schema import check_schema

from .samples import ROOT, TUNNEL_KEYS, changed, found, line_of, validate_text

SECRETS = {
    **TUNNEL_KEYS,
    "NORDWIND_SHIPMENTS_TOKEN": "not-a-real-token",
}

# VALID with one exchange of each further option, each free of problems.
OPTIONS = changed(
    "    - 192.168.20.0/24\n", "    - 192.168.20.0/24\n    - 192.168.30.0/24\n"
)
OPTIONS += """\
  - option: scnavigator-database
    name: catalogue
    schema: scnavigator
    clientNetworks:
      - 192.168.10.0/24
    tables:
      entity: sc_entity
      attribute: sc_attribute
      value: sc_value
    etl:
      schedule: { dailyAt: "02:30" }
  - option: remote-database
    name: warehouse
    via: vpn
    engine: mysql
    address: 192.168.30.15
    port: 3306
    poolMaxIdleSeconds: 300
    firewallAllowlist:
      - 10.42.0.0/16
  - option: remote-database
    name: finance
    via: whitelist
    engine: postgres
    host: 80.120.7.20
    port: 5432
  - option: file-storage
    name: invoices
    bucket: nordwind-invoices
    folder: invoices/incoming/
    direction: upload
    formats: [xml]
    largestFileMb: 100
    ticketLifetimeSeconds: 900
    schedule: { everyMinutes: 60 }
  - option: web-service
    name: shipments
    url: https://api.nordwind.example/v1/shipments
    auth:
      type: bearer
      token: { env: NORDWIND_SHIPMENTS_TOKEN }
    responseSchema: { type: array }
    connectTimeoutSeconds: 5
    readTimeoutSeconds: 30
    retries: 2
    schedule: { everyMinutes: 5 }
"""
# AWS starts the tunnels that the warehouse database is called through
# (VPN-35), and the firewall admits the internet exchanges' ports (EXC-09).
for _key in ("NORDWIND_TUNNEL1_PSK", "NORDWIND_TUNNEL2_PSK"):
    _line = f"      preSharedKey: {{ env: {_key} }}\n"
    OPTIONS = changed(_line, _line + "      startupAction: start\n", OPTIONS)
OPTIONS = changed(
    "exchanges:\n", "whitelist:\n  ports: [443, 5432]\nexchanges:\n", OPTIONS
)


def validate(tmp_path: Path, text: str, environ=None):
    return validate_text(tmp_path, text, SECRETS if environ is None else environ)


def config_of(text: str):
    document = parse_text(text, Path("customer.yaml"))
    assert check_schema(document) == []
    return build_config(document.data, document.path)


def schema_problems(text: str):
    return check_schema(parse_text(text, Path("customer.yaml")))


def test_sample_with_every_option_has_no_problem(tmp_path):
    validation = validate(tmp_path, OPTIONS)
    assert validation.problems == [], validation.report()


@pytest.mark.parametrize(
    "file",
    [
        "scnavigator-database.yaml",
        "remote-database-vpn.yaml",
        "remote-database-whitelist.yaml",
        "file-storage.yaml",
        "web-service.yaml",
        "multi-option.yaml",
    ],
)
def test_option_example_is_valid(file):
    from exchange.config import validate_file

    validation = validate_file(ROOT / "examples" / file, environ=SECRETS)
    assert validation.ok, validation.report()


class TestModel:
    def test_scnavigator_database_is_provisioned_as_an_app_database(self):
        config = config_of(OPTIONS)
        (catalogue,) = config.scnavigator_databases()
        assert isinstance(catalogue, AppDatabase)
        assert catalogue in config.app_databases()
        assert catalogue.tables.value == "sc_value"
        assert catalogue.etl.schedule.daily_at.strftime("%H:%M") == "02:30"

    def test_scnavigator_tables_default_to_the_schema_defaults(self):
        config = config_of(
            changed("    tables:\n", "    tablesx:\n", OPTIONS).replace(
                "    tablesx:\n      entity: sc_entity\n      attribute: sc_attribute\n"
                "      value: sc_value\n",
                "",
            )
        )
        (catalogue,) = config.scnavigator_databases()
        assert isinstance(catalogue, ScnavigatorDatabase)
        assert (catalogue.tables.entity, catalogue.tables.value) == (
            "eav_entity",
            "eav_value",
        )

    def test_remote_databases_carry_their_target(self):
        warehouse, finance = config_of(OPTIONS).remote_databases()
        assert isinstance(warehouse.target, VpnTarget)
        assert warehouse.target.health_check.interval_seconds == 30
        assert isinstance(finance.target, WhitelistTarget)
        assert finance.via == "whitelist"

    def test_web_service_secrets_are_among_the_secret_refs(self):
        config = config_of(OPTIONS)
        names = [ref.env for ref in config.secret_refs()]
        assert names == [
            "NORDWIND_TUNNEL1_PSK",
            "NORDWIND_TUNNEL2_PSK",
            "NORDWIND_SHIPMENTS_TOKEN",
        ]

    def test_api_key_auth_is_typed(self):
        text = changed(
            "      type: bearer\n      token: { env: NORDWIND_SHIPMENTS_TOKEN }\n",
            "      type: api-key\n      header: X-Api-Key\n"
            "      apiKey: { env: NORDWIND_SHIPMENTS_TOKEN }\n",
            OPTIONS,
        )
        (service,) = config_of(text).web_services()
        assert isinstance(service.auth, ApiKeyAuth)
        assert service.auth.header == "X-Api-Key"

    @pytest.mark.parametrize(
        ("schedule", "seconds"),
        [
            ("{ everyMinutes: 5 }", 300),
            ('{ dailyAt: "22:30" }', 86400),
            ('{ cron: "*/15 6-20 * * 1-5" }', 900),
            ("{ onDemand: true }", None),
        ],
    )
    def test_schedule_knows_its_shortest_interval(self, schedule, seconds):
        text = changed(
            "schedule: { everyMinutes: 5 }", f"schedule: {schedule}", OPTIONS
        )
        (service,) = config_of(text).web_services()
        assert service.schedule.shortest_interval_seconds() == seconds

    def test_cron_schedule_is_parsed(self):
        text = changed(
            "schedule: { everyMinutes: 5 }",
            'schedule: { cron: "0 6 * * 1-5" }',
            OPTIONS,
        )
        (service,) = config_of(text).web_services()
        assert service.schedule.cron.expression == "0 6 * * 1-5"
        assert service.schedule.shortest_interval_seconds() == 24 * 60 * 60


class TestSchemaDiscrimination:
    @pytest.mark.parametrize(
        ("old", "new", "allowed"),
        [
            ("    schema: scnavigator\n", "    schema: scnavigator\n    bucket: x\n",
             "tables"),
            ("    via: vpn\n", "    via: vpn\n    host: db.example\n", "healthCheck"),
            ("    via: whitelist\n", "    via: whitelist\n    address: 80.1.2.3\n",
             "host"),
            ("    direction: upload\n", "    direction: upload\n    port: 1\n",
             "ticketLifetimeSeconds"),
            ("    retries: 2\n", "    retries: 2\n    folder: x/\n",
             "readTimeoutSeconds"),
        ],
    )  # fmt: skip
    def test_unknown_key_is_reported_against_its_option_only(self, old, new, allowed):
        text = changed(old, new, OPTIONS)
        (problem,) = schema_problems(text)
        assert problem.message.startswith("unknown key")
        assert allowed in problem.hint
        assert "not valid under any" not in problem.message
        assert problem.line == line_of(text, new.splitlines()[-1].strip())

    def test_error_inside_auth_names_only_that_kind_of_auth(self):
        text = changed(
            "      token: { env: NORDWIND_SHIPMENTS_TOKEN }\n",
            "      password: { env: NORDWIND_SHIPMENTS_TOKEN }\n",
            OPTIONS,
        )
        problems = schema_problems(text)
        messages = sorted(p.message for p in problems)
        assert messages == [
            'the required key "token" is missing',
            'unknown key "password"',
        ]

    def test_literal_secret_of_the_wrong_type_is_never_echoed(self):
        text = changed(
            "token: { env: NORDWIND_SHIPMENTS_TOKEN }",
            "token: 4711081547110815",
            OPTIONS,
        )
        (problem,) = schema_problems(text)
        assert "4711081547110815" not in problem.format("customer.yaml")

    def test_health_check_interval_is_bounded(self):
        text = changed(
            "    port: 3306\n",
            "    port: 3306\n    healthCheck: { intervalSeconds: 3 }\n",
            OPTIONS,
        )
        (problem,) = schema_problems(text)
        assert problem.path[-1] == "intervalSeconds"
        assert "NLB-11" in problem.hint

    def test_invalid_cron_is_refused_by_the_schema(self):
        text = changed(
            "schedule: { everyMinutes: 5 }", 'schedule: { cron: "* * *" }', OPTIONS
        )
        (problem,) = schema_problems(text)
        assert problem.message == '"* * *" is not a valid cron expression'

    def test_ticket_lifetime_is_bounded_to_seven_days(self):
        text = changed(
            "ticketLifetimeSeconds: 900", "ticketLifetimeSeconds: 604801", OPTIONS
        )
        (problem,) = schema_problems(text)
        assert problem.path[-1] == "ticketLifetimeSeconds"


# (rule, fragment of OPTIONS, replacement, fragment on the reported line, severity)
FAILING = [
    ("MY-02", "entity: sc_entity", "entity: " + "e" * 65, "entity: eee", "error"),
    ("EXC-08", "value: sc_value", "value: sc_entity", "value: sc_entity", "error"),
    ("NLB-02", "address: 192.168.30.15", "address: 80.120.7.9", "address:", "error"),
    ("EXC-03", "address: 192.168.30.15", "address: 10.42.7.9", "address:", "error"),
    ("EXC-03", "address: 192.168.30.15", "address: 172.16.0.9", "address:", "error"),
    ("NLB-21", "      - 10.42.0.0/16\n", "      - 10.42.0.0/24\n", "firewallAllowlist",
     "error"),
    ("MY-09", "poolMaxIdleSeconds: 300", "poolMaxIdleSeconds: 350", "poolMaxIdle",
     "warning"),
    ("EXC-04", "host: 80.120.7.20", "host: 192.168.1.20", "host:", "error"),
    ("EXC-04", "host: 80.120.7.20", "host: 192.0.2.20", "host:", "warning"),
    ("S3-01", "bucket: nordwind-invoices", "bucket: " + "n" * 64, "bucket:", "error"),
    ("S3-08", "bucket: nordwind-invoices", "bucket: invoices", "bucket:", "warning"),
    ("S3-02", "bucket: nordwind-invoices", "bucket: nordwind_invoices", "bucket:",
     "error"),
    ("S3-03", "bucket: nordwind-invoices", "bucket: -nordwind", "bucket:", "error"),
    ("S3-04", "bucket: nordwind-invoices", "bucket: nordwind..x", "bucket:", "error"),
    ("S3-05", "bucket: nordwind-invoices", 'bucket: "10.0.0.1"', "bucket:", "error"),
    ("S3-06", "bucket: nordwind-invoices", "bucket: sthree-nordwind", "bucket:",
     "error"),
    ("S3-07", "bucket: nordwind-invoices", "bucket: nordwind--ol-s3", "bucket:",
     "error"),
    ("S3-10", "bucket: nordwind-invoices", "bucket: nordwind.invoices", "bucket:",
     "warning"),
    ("EXC-05", "largestFileMb: 100", "largestFileMb: 1200", "ticketLifetime",
     "warning"),
    ("SEC-03", "url: https://", "url: http://", "url:", "error"),
    ("SEC-01", "token: { env: NORDWIND_SHIPMENTS_TOKEN }", "token: Xy7qToken1234",
     "token:", "error"),
    ("SEC-04", "url: https://", "url: https://me:pw@", "url:", "error"),
    ("EXC-06", "responseSchema: { type: array }", "responseSchema: { type: 1 }",
     "responseSchema", "error"),
    ("EXC-06", "responseSchema: { type: array }", "responseSchema: none.json",
     "responseSchema", "error"),
    ("EXC-07", "readTimeoutSeconds: 30", "readTimeoutSeconds: 100", "everyMinutes: 5",
     "error"),
]  # fmt: skip

# (rule, fragment of OPTIONS, replacement): near misses that must pass.
PASSING = [
    ("MY-02", "entity: sc_entity", "entity: " + "e" * 64),
    ("EXC-08", "value: sc_value", "value: sc_values"),
    ("NLB-02", "address: 192.168.30.15", "address: 192.168.30.255"),
    ("EXC-03", "address: 192.168.30.15", "address: 192.168.30.1"),
    ("NLB-21", "      - 10.42.0.0/16\n", "      - 10.0.0.0/8\n"),
    ("MY-09", "poolMaxIdleSeconds: 300", "poolMaxIdleSeconds: 349"),
    ("EXC-04", "host: 80.120.7.20", "host: db.nordwind.example"),
    ("S3-01", "bucket: nordwind-invoices", "bucket: " + "n" * 63),
    ("S3-08", "bucket: nordwind-invoices", "bucket: archive-nordwind"),
    ("S3-02", "bucket: nordwind-invoices", "bucket: nordwind-2024"),
    ("S3-03", "bucket: nordwind-invoices", "bucket: 9nordwind9"),
    ("S3-04", "bucket: nordwind-invoices", "bucket: nordwind-x"),
    ("S3-05", "bucket: nordwind-invoices", "bucket: nordwind-10-0-0-1"),
    ("S3-06", "bucket: nordwind-invoices", "bucket: nordwind-xn--"),
    ("S3-07", "bucket: nordwind-invoices", "bucket: nordwind-s3aliases"),
    ("S3-10", "bucket: nordwind-invoices", "bucket: nordwind-invoices"),
    ("EXC-05", "largestFileMb: 100", "largestFileMb: 1125"),
    ("SEC-03", "url: https://", "url: HTTPS://"),
    ("SEC-04", "/v1/shipments", "/v1/shipments?page=2&monkey=1&keys_only=no"),
    ("EXC-06", "responseSchema: { type: array }", "responseSchema: { type: [array] }"),
    ("EXC-07", "readTimeoutSeconds: 30", "readTimeoutSeconds: 94"),
]


@pytest.mark.parametrize(
    ("rule", "old", "new", "at", "severity"), FAILING, ids=lambda v: str(v)[:24]
)
def test_rule_reports_its_problem_on_its_line(tmp_path, rule, old, new, at, severity):
    text = changed(old, new, OPTIONS)
    validation = validate(tmp_path, text)
    assert found(validation, rule) == [(severity, line_of(text, at))]
    if severity == "error":
        assert [p.rule for p in validation.errors] == [rule], validation.report()


@pytest.mark.parametrize(("rule", "old", "new"), PASSING, ids=lambda v: str(v)[:24])
def test_rule_passes_a_near_miss(tmp_path, rule, old, new):
    validation = validate(tmp_path, changed(old, new, OPTIONS))
    assert found(validation, rule) == []


class TestSecrets:
    def test_unset_web_service_secret_is_a_warning(self, tmp_path):
        validation = validate(tmp_path, OPTIONS, environ=TUNNEL_KEYS)
        line = line_of(OPTIONS, "token: { env")
        assert found(validation, "SEC-02") == [("warning", line)]
        assert validation.ok

    def test_unset_web_service_secret_is_an_error_when_resolving(self, tmp_path):
        path = tmp_path / "customer.yaml"
        path.write_text(OPTIONS, encoding="utf-8")
        from exchange.config import validate_file

        validation = validate_file(path, environ=TUNNEL_KEYS, resolve_secrets=True)
        assert [p.rule for p in validation.errors] == ["SEC-02"]

    def test_literal_secret_is_never_echoed(self, tmp_path):
        text = changed(
            "token: { env: NORDWIND_SHIPMENTS_TOKEN }", "token: Xy7qToken1234", OPTIONS
        )
        validation = validate(tmp_path, text)
        assert "Xy7qToken1234" not in "\n".join(validation.report())

    def test_plain_http_with_credentials_warns_even_when_allowed(self, tmp_path):
        text = changed(
            "url: https://", "allowPlainHttp: true\n    url: http://", OPTIONS
        )
        validation = validate(tmp_path, text)
        assert found(validation, "SEC-03") == [
            ("warning", line_of(text, "allowPlainHttp"))
        ]


class TestResponseSchemaFile:
    def test_schema_file_beside_the_configuration_passes(self, tmp_path):
        (tmp_path / "shipments.schema.json").write_text('{"type": "array"}')
        text = changed(
            "responseSchema: { type: array }",
            "responseSchema: shipments.schema.json",
            OPTIONS,
        )
        assert found(validate(tmp_path, text), "EXC-06") == []

    def test_schema_file_that_is_not_json_fails(self, tmp_path):
        (tmp_path / "shipments.schema.json").write_text("type: array")
        text = changed(
            "responseSchema: { type: array }",
            "responseSchema: shipments.schema.json",
            OPTIONS,
        )
        validation = validate(tmp_path, text)
        assert found(validation, "EXC-06") == [
            ("error", line_of(text, "responseSchema"))
        ]
        assert "not readable JSON" in validation.errors[0].message


def test_exchange_names_are_unique_across_options(tmp_path):
    text = changed("    name: invoices\n", "    name: warehouse  # again\n", OPTIONS)
    validation = validate(tmp_path, text)
    assert found(validation, "EXC-02") == [
        ("error", line_of(text, "name: warehouse  # again"))
    ]
