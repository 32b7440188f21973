"""The loader: YAML 1.2 or JSON in, plain data with positions out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from exchange.config.loader import (
    MAX_FILE_BYTES,
    LoadError,
    UnreadableFile,
    load_document,
    parse_text,
)

from .samples import EXAMPLE, VALID, line_of


def load(tmp_path: Path, text: str, name: str = "customer.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_document(path)


def refusal(tmp_path: Path, text: str, name: str = "customer.yaml") -> LoadError:
    with pytest.raises(LoadError) as caught:
        load(tmp_path, text, name)
    return caught.value


def only_plain_types(value: object) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and only_plain_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(only_plain_types(item) for item in value)
    return type(value) in (str, int, float, bool, type(None))


class TestPositions:
    def test_value_position_points_at_the_value(self):
        document = load_document(EXAMPLE)
        text = EXAMPLE.read_text()
        line = line_of(text, "insideCidr: 169.254.21.4/30")
        column = text.splitlines()[line - 1].index("169.254") + 1
        path = ("vpn", "tunnels", 1, "insideCidr")
        assert document.position(path) == (line, column)

    def test_key_position_points_at_the_key(self):
        document = load_document(EXAMPLE)
        line = line_of(EXAMPLE.read_text(), "customerGatewayIp:")
        path = ("onPremises", "customerGatewayIp")
        assert document.position(path, key=True) == (line, 3)

    def test_a_list_or_mapping_is_located_at_its_key(self):
        document = load_document(EXAMPLE)
        line = line_of(EXAMPLE.read_text(), "  networks:")
        assert document.position(("onPremises", "networks")) == (line, 3)

    def test_a_missing_path_falls_back_to_its_parent_key(self):
        document = load_document(EXAMPLE)
        line = line_of(EXAMPLE.read_text(), "onPremises:")
        assert document.position(("onPremises", "bgpAsn")) == (line, 1)

    def test_an_empty_value_is_located_at_its_key(self, tmp_path):
        document = load(tmp_path, "customer:\nregion: eu-central-1\n")
        assert document.position(("customer",)) == (1, 1)


class TestData:
    def test_data_holds_only_plain_python_types(self):
        assert only_plain_types(load_document(EXAMPLE).data)

    def test_data_equals_what_a_yaml_1_2_safe_load_gives(self):
        expected = YAML(typ="safe", pure=True).load(EXAMPLE.read_text())
        assert load_document(EXAMPLE).data == expected

    def test_numbers_and_booleans_follow_yaml_1_2(self, tmp_path):
        # The core schema has no underscores in numbers (1_000 is YAML 1.1),
        # and .inf is refused as no finite number (test_hostile_input.py).
        text = "a: 0x1F\nb: 1_000\nc: 1.5e3\nd: true\ne: ~\nf: 0o17\n"
        data = load(tmp_path, text).data
        assert data == {
            "a": 31,
            "b": "1_000",
            "c": 1500.0,
            "d": True,
            "e": None,
            "f": 15,
        }

    def test_a_date_stays_the_text_it_was_written_as(self, tmp_path):
        assert load(tmp_path, "day: 2024-01-31\n").data == {"day": "2024-01-31"}


class TestRefusals:
    def test_duplicate_key_is_refused_at_the_second_occurrence(self, tmp_path):
        error = refusal(tmp_path, "customer:\n  slug: a\n  slug: b\n")
        assert (error.line, error.col) == (3, 3)
        assert "first on line 2" in error.message
        assert error.path == ("customer", "slug")

    def test_tab_in_indentation_is_refused_at_the_tab(self, tmp_path):
        error = refusal(tmp_path, "customer:\n  \tslug: a\n")
        assert (error.line, error.col) == (2, 3)
        assert "tab" in error.message
        assert "spaces" in error.hint

    def test_alias_is_refused_at_the_alias(self, tmp_path):
        error = refusal(tmp_path, "a: &net 10.0.0.0/8\nb: *net\n")
        assert (error.line, error.col) == (2, 4)
        assert "alias" in error.message

    def test_merge_key_is_refused(self, tmp_path):
        error = refusal(tmp_path, "a:\n  <<: {b: 1}\n")
        assert "merge" in error.message

    def test_broken_yaml_reports_the_parsers_position(self, tmp_path):
        error = refusal(tmp_path, "vpc:\n  cidr: a: b\n")
        assert (error.line, error.col) == (2, 10)
        assert error.message.startswith("broken YAML")

    def test_empty_file_is_refused(self, tmp_path):
        assert "empty" in refusal(tmp_path, "").message

    def test_file_of_only_comments_is_refused_as_empty(self, tmp_path):
        assert "empty" in refusal(tmp_path, "# nothing yet\n\n").message

    def test_top_level_list_is_refused(self, tmp_path):
        error = refusal(tmp_path, "- version: 1\n")
        assert "not a mapping" in error.message

    def test_non_string_key_is_refused(self, tmp_path):
        error = refusal(tmp_path, "vpc:\n  1: x\n")
        assert (error.line, error.col) == (2, 3)
        assert "not text" in error.message

    def test_second_document_is_refused(self, tmp_path):
        error = refusal(tmp_path, "a: 1\n---\nb: 2\n")
        assert "one document" in error.hint

    def test_custom_tag_is_refused(self, tmp_path):
        assert "tag" in refusal(tmp_path, "a: !secret x\n").message

    def test_yaml_1_1_directive_is_refused(self, tmp_path):
        assert "1.1" in refusal(tmp_path, "%YAML 1.1\n---\na: 1\n").message

    def test_file_over_one_mebibyte_is_refused(self, tmp_path):
        padding = "# " + "x" * 78 + "\n"
        text = "a: 1\n" + padding * (MAX_FILE_BYTES // len(padding) + 1)
        assert "larger than" in refusal(tmp_path, text).message

    def test_invalid_utf8_is_refused_at_its_line(self, tmp_path):
        path = tmp_path / "customer.yaml"
        path.write_bytes(b"a: 1\nb: \xff\n")
        with pytest.raises(LoadError) as caught:
            load_document(path)
        assert (caught.value.line, caught.value.col) == (2, 4)

    def test_load_error_becomes_a_yaml_problem(self, tmp_path):
        problem = refusal(tmp_path, "a: 1\na: 2\n").problem()
        assert problem.rule == "YAML"
        assert problem.severity == "error"
        assert problem.line == 2


class TestUnreadable:
    def test_missing_file_raises_unreadable_file(self, tmp_path):
        with pytest.raises(UnreadableFile, match="no such file"):
            load_document(tmp_path / "absent.yaml")

    def test_directory_raises_unreadable_file(self, tmp_path):
        with pytest.raises(UnreadableFile):
            load_document(tmp_path)


class TestYaml11Surprises:
    def test_unquoted_no_stays_text_with_a_warning(self, tmp_path):
        document = load(tmp_path, "tls: no\n")
        assert document.data == {"tls": "no"}
        (warning,) = document.warnings
        assert warning.rule == "YAML-1.1"
        assert warning.severity == "warning"
        assert (warning.line, warning.col) == (1, 6)
        assert 'quote it ("no")' in warning.hint

    @pytest.mark.parametrize("word", ["yes", "No", "ON", "off", "y", "N"])
    def test_yes_no_on_off_in_any_case_warn(self, tmp_path, word):
        assert load(tmp_path, f"a: {word}\n").warnings

    def test_leading_zero_number_is_777_with_a_warning(self, tmp_path):
        document = load(tmp_path, "mode: 0777\n")
        assert document.data == {"mode": 777}
        (warning,) = document.warnings
        assert "octal number 511" in warning.message

    def test_sexagesimal_stays_text_with_a_warning(self, tmp_path):
        document = load(tmp_path, "ports: 22:22\n")
        assert document.data == {"ports": "22:22"}
        assert "base-60" in document.warnings[0].message

    def test_quoted_values_do_not_warn(self, tmp_path):
        assert not load(tmp_path, "a: 'no'\nb: \"0777\"\nc: '22:22'\n").warnings

    def test_ordinary_values_do_not_warn(self):
        assert not load_document(EXAMPLE).warnings

    def test_warning_never_echoes_a_pre_shared_key(self, tmp_path):
        text = "vpn:\n  tunnels:\n    - preSharedKey: 0123456789\n"
        (warning,) = load(tmp_path, text).warnings
        shown = warning.format("customer.yaml")
        assert "0123456789" not in shown
        assert "123456789" not in shown


class TestJson:
    def test_json_gives_the_same_data_as_yaml(self, tmp_path):
        data = load(tmp_path, VALID).data
        document = load(tmp_path, json.dumps(data, indent="\t"), "customer.json")
        assert document.data == data

    def test_json_positions_point_at_values(self, tmp_path):
        text = '{\n  "vpc": {\n    "cidr": "10.42.0.0/16"\n  }\n}\n'
        document = load(tmp_path, text, "customer.json")
        assert document.position(("vpc", "cidr")) == (3, 13)
        assert document.position(("vpc", "cidr"), key=True) == (3, 5)

    def test_json_duplicate_key_is_refused(self, tmp_path):
        error = refusal(tmp_path, '{\n "a": 1,\n "a": 2\n}\n', "customer.json")
        assert (error.line, error.col) == (3, 2)

    def test_json_syntax_error_reports_its_position(self, tmp_path):
        error = refusal(tmp_path, '{\n  "a": 1,\n}\n', "customer.json")
        assert error.line == 3
        assert error.message.startswith("invalid JSON")

    def test_json_gives_no_yaml_1_1_warnings(self, tmp_path):
        assert not load(tmp_path, '{"a": "no"}', "customer.json").warnings


def test_parse_text_reads_text_without_a_file():
    document = parse_text("a: 1\n", Path("inline.yaml"))
    assert document.data == {"a": 1}
    assert document.path == Path("inline.yaml")
