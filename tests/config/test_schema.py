"""The JSON Schema and how its errors read."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

from exchange.config.loader import parse_text
from exchange.config.model import build_config
from exchange.config.schema import SCHEMA_DIR, check_schema, schema_registry

from .samples import VALID, changed, line_of

SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.schema.json"))


def schema_problems(text: str):
    return check_schema(parse_text(text, Path("customer.yaml")))


def only_problem(text: str):
    problems = schema_problems(text)
    assert len(problems) == 1, [p.format("customer.yaml") for p in problems]
    return problems[0]


class TestSchemaFiles:
    @pytest.mark.parametrize("file", SCHEMA_FILES, ids=lambda f: f.name)
    def test_schema_is_valid_draft_2020_12(self, file):
        Draft202012Validator.check_schema(json.loads(file.read_text()))

    @pytest.mark.parametrize("file", SCHEMA_FILES, ids=lambda f: f.name)
    def test_schema_has_id_title_and_description(self, file):
        schema = json.loads(file.read_text())
        assert schema["$id"] == f"https://schemas.exchange-proof.dev/{file.name}"
        assert schema["title"] and schema["description"]

    def test_schema_examples_validate(self):
        registry = schema_registry()
        for file in SCHEMA_FILES:
            schema = json.loads(file.read_text())
            validator = Draft202012Validator(schema, registry=registry)
            for example in schema.get("examples", []):
                assert not list(validator.iter_errors(example)), file.name

    def test_valid_sample_has_no_schema_problem(self):
        assert schema_problems(VALID) == []

    def test_unknown_reference_fails_without_touching_the_network(self, monkeypatch):
        def no_network(*args, **kwargs):
            raise AssertionError("the schema registry tried to open a socket")

        monkeypatch.setattr(socket, "socket", no_network)
        validator = Draft202012Validator(
            {"$ref": "https://schemas.example.com/elsewhere.json"},
            registry=schema_registry(),
        )
        with pytest.raises(Unresolvable):
            list(validator.iter_errors({}))

    def test_schema_defaults_are_the_models_defaults(self):
        app_database = schema_registry().contents(
            "https://schemas.exchange-proof.dev/app-database.schema.json"
        )
        data = parse_text(VALID, Path("customer.yaml")).data
        data["exchanges"][0] = {
            "option": "app-database",
            "name": "orders",
            "schema": "orders",
            "clientNetworks": ["192.168.10.0/24"],
        }
        del data["onPremises"]["routing"]
        config = build_config(data, Path("customer.yaml"))
        database = config.exchanges[0]
        defaults = {
            key: spec["default"]
            for key, spec in app_database["properties"].items()
            if "default" in spec
        }
        assert defaults == {
            "engine": database.engine,
            "engineVersion": database.engine_version,
            "port": database.port,
            "instanceClass": database.instance_class,
            "storageGb": database.storage_gb,
            "tls": "required" if database.tls_required else "optional",
        }
        exchange = schema_registry().contents(
            "https://schemas.exchange-proof.dev/exchange.schema.json"
        )
        routing = exchange["properties"]["onPremises"]["properties"]["routing"]
        assert routing["default"] == config.on_premises.routing


class TestMessages:
    def test_unknown_key_points_at_the_key_and_suggests_the_closest(self):
        text = changed("    schema: orders\n", "    schema: orders\n    prot: 3307\n")
        problem = only_problem(text)
        assert problem.path == ("exchanges", 0, "prot")
        assert (problem.line, problem.col) == (line_of(text, "prot:"), 5)
        assert problem.message == 'unknown key "prot"'
        assert 'did you mean "port"?' in problem.hint
        assert problem.rule == "SCHEMA"

    def test_unknown_key_lists_the_allowed_keys(self):
        problem = only_problem(
            changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.0/16\n  x: 1")
        )
        assert problem.hint.endswith("allowed keys here: cidr")

    def test_missing_key_is_named_and_points_at_its_parent(self):
        text = changed("  customerGatewayIp: 80.120.5.10\n", "")
        problem = only_problem(text)
        assert problem.path == ("onPremises", "customerGatewayIp")
        assert '"customerGatewayIp" is missing' in problem.message
        assert problem.line == line_of(text, "onPremises:")

    def test_bgp_routing_requires_an_asn(self):
        problem = only_problem(changed("routing: static", "routing: bgp"))
        assert problem.path == ("onPremises", "bgpAsn")
        assert "routing: bgp needs the ASN" in problem.hint

    def test_wrong_type_says_expected_and_seen(self):
        problem = only_problem(changed('engineVersion: "8.0"', "engineVersion: 8.0"))
        assert problem.message == "expected text, got the number 8.0"
        assert "in quotes" in problem.hint

    def test_enum_lists_allowed_values_and_suggests_one(self):
        problem = only_problem(changed("routing: static", "routing: Static"))
        assert problem.message == '"Static" is not one of: static, bgp'
        assert 'did you mean "static"?' in problem.hint

    def test_pattern_names_what_the_value_should_be(self):
        text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0/16")
        problem = only_problem(text)
        assert problem.message == '"10.42.0/16" is not a valid IPv4 CIDR block'
        assert "e.g. 10.42.0.0/16" in problem.hint
        assert problem.line == line_of(text, "cidr:")

    def test_tunnel_count_says_exactly_two(self):
        text = changed(
            "    - insideCidr: 169.254.21.4/30\n"
            "      preSharedKey: { env: NORDWIND_TUNNEL2_PSK }\n",
            "",
        )
        problem = only_problem(text)
        assert problem.message == "has 1 item, but exactly 2 are needed"
        assert "VPN-01" in problem.hint
        assert problem.line == line_of(text, "tunnels:")

    def test_repeated_network_points_at_the_repeat(self):
        text = changed("    - 192.168.20.0/24", "    - 192.168.10.0/24")
        problem = only_problem(text)
        assert problem.path == ("onPremises", "networks", 1)
        assert "listed twice" in problem.message

    def test_bound_cites_the_rule_in_the_hint(self):
        problem = only_problem(
            changed("    schema: orders\n", "    schema: orders\n    port: 80\n")
        )
        assert problem.message == "80 is below the minimum of 1150"
        assert "RDS-09" in problem.hint

    def test_version_must_be_one(self):
        problem = only_problem(changed("version: 1", "version: 2"))
        assert problem.message == "must be 1, got the number 2"

    def test_all_schema_problems_are_reported_at_once(self):
        text = changed(
            "version: 1",
            "version: 2",
            changed("region: eu-central-1", "region: Europe"),
        )
        assert {p.path for p in schema_problems(text)} == {("version",), ("region",)}


class TestDiscriminatedExchanges:
    def test_error_inside_app_database_names_only_app_database_keys(self):
        text = changed("    schema: orders\n", "    schema: orders\n    bucket: x\n")
        problem = only_problem(text)
        assert "storageGb" in problem.hint
        assert "not valid under any" not in problem.message

    def test_errors_inside_app_database_are_all_reported(self):
        text = changed(
            "    schema: orders\n",
            "    schema: 9orders\n    storageGb: 5\n    tls: maybe\n",
        )
        paths = {p.path[-1] for p in schema_problems(text)}
        assert paths == {"schema", "storageGb", "tls"}

    def test_unknown_option_suggests_the_closest_and_lists_all_five(self):
        problem = only_problem(changed("option: app-database", "option: app-databse"))
        assert problem.path == ("exchanges", 0, "option")
        assert 'did you mean "app-database"?' in problem.hint
        for option in ("scnavigator-database", "remote-database", "web-service"):
            assert option in problem.message

    def test_entry_without_option_asks_for_it(self):
        problem = only_problem(
            changed("  - option: app-database\n    name", "  - name")
        )
        assert problem.path == ("exchanges", 0, "option")
        assert "missing" in problem.message


class TestSecrets:
    def test_pre_shared_key_of_wrong_type_is_never_echoed(self):
        text = changed(
            "preSharedKey: { env: NORDWIND_TUNNEL1_PSK }", "preSharedKey: 73190000555"
        )
        problem = only_problem(text)
        assert problem.path == ("vpn", "tunnels", 0, "preSharedKey")
        assert "73190000555" not in problem.format("customer.yaml")
        assert problem.message == "expected text or a mapping of keys, got a number"

    def test_secret_reference_error_is_about_the_reference(self):
        text = changed("{ env: NORDWIND_TUNNEL1_PSK }", "{ env: nordwind_psk }")
        problem = only_problem(text)
        assert problem.path == ("vpn", "tunnels", 0, "preSharedKey", "env")
        assert "environment variable name" in problem.message

    def test_unknown_key_beside_env_names_neither_the_key_nor_its_value(self):
        # A key below preSharedKey may be the key itself, so it is not named.
        text = changed(
            "{ env: NORDWIND_TUNNEL1_PSK }",
            "{ env: NORDWIND_TUNNEL1_PSK, value: S3cretKey99 }",
        )
        problem = only_problem(text)
        assert problem.message == "preSharedKey has an unknown key"
        assert problem.path == ("vpn", "tunnels", 0, "preSharedKey")
        assert "S3cretKey99" not in problem.format("customer.yaml")
