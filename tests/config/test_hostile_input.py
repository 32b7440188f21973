"""Hostile or degenerate input ends as a located problem: never a crash, never a hang.

Each class covers one way a file used to break the validator: numbers that
are not finite, cron expressions that never fire, lists long enough to make
quadratic checks crawl, nesting deep enough to exhaust the stack, a named
pipe that blocks the reader, a VPC too small for the stack's subnets, a bug
met in one of several files, and numbers that only YAML 1.1 reads as such.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from exchange.config import validate_file
from exchange.config.loader import LoadError, UnreadableFile, load_document
from exchange.config.model import (
    Vpc,
    cron_never_runs,
    cron_shortest_gap_seconds,
)
from exchange.config.report import INTERNAL, validate_files
from exchange.config.rules.network import _first_overlaps

from .samples import ROOT, TUNNEL_KEYS, VALID, changed, found, line_of, validate_text

EXAMPLES = ROOT / "examples"
FILE_STORAGE = (EXAMPLES / "file-storage.yaml").read_text()
WEB_SERVICE = (EXAMPLES / "web-service.yaml").read_text()
# The web-service example's client secret, so that only the problem under
# test is reported.
WEB_SERVICE_KEYS = {**TUNNEL_KEYS, "NORDWIND_SHIPMENTS_CLIENT_SECRET": "s3cret-value"}


def only_problem(validation, rule: str):
    """The one error of the validation, which must have this rule id."""
    errors = validation.errors
    assert len(errors) == 1, validation.report()
    assert errors[0].rule == rule, validation.report()
    return errors[0]


class TestNumbersThatAreNotFinite:
    @pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "1e999"])
    def test_a_file_size_that_is_not_finite_is_refused_at_its_line(
        self, tmp_path, number
    ):
        text = changed("largestFileMb: 200", f"largestFileMb: {number}", FILE_STORAGE)
        problem = only_problem(validate_text(tmp_path, text), "YAML")
        assert problem.line == line_of(text, "largestFileMb:")
        assert "is not a finite number" in problem.message
        assert problem.hint.startswith("write a number")

    def test_a_timeout_of_nan_is_refused_rather_than_printed_as_nan_seconds(
        self, tmp_path
    ):
        text = changed(
            "readTimeoutSeconds: 20", "readTimeoutSeconds: .nan", WEB_SERVICE
        )
        problem = only_problem(
            validate_text(tmp_path, text, environ=WEB_SERVICE_KEYS), "YAML"
        )
        assert problem.line == line_of(text, "readTimeoutSeconds:")
        assert "nan s" not in problem.message

    def test_a_secret_that_is_not_finite_is_not_echoed(self, tmp_path):
        text = changed("{ env: NORDWIND_TUNNEL1_PSK }", "1e999")
        problem = only_problem(validate_text(tmp_path, text), "YAML")
        assert "1e999" not in problem.message
        assert problem.message == "the value is not a finite number"

    def test_json_number_beyond_the_float_range_is_refused(self, tmp_path):
        path = tmp_path / "customer.json"
        path.write_text('{"version": 1e400}\n', encoding="utf-8")
        with pytest.raises(LoadError, match="not a finite number"):
            load_document(path)

    def test_the_smallest_bandwidth_gives_a_warning_not_an_overflow(self, tmp_path):
        text = changed(
            "minimumBandwidthMbps: 10", "minimumBandwidthMbps: 5e-324", FILE_STORAGE
        )
        validation = validate_text(tmp_path, text)
        assert validation.ok
        (problem,) = [p for p in validation.problems if p.rule == "EXC-05"]
        assert "more than a week" in problem.message
        assert "no ticket lives that long" in problem.hint


class TestCronThatNeverRuns:
    @pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *"])
    def test_a_web_service_cron_that_never_runs_is_a_schema_problem(
        self, tmp_path, expression
    ):
        text = changed("everyMinutes: 5 }", f'cron: "{expression}" }}', WEB_SERVICE)
        validation = validate_text(tmp_path, text, environ=WEB_SERVICE_KEYS)
        problem = only_problem(validation, "SCHEMA")
        assert problem.line == line_of(text, "cron:")
        assert "never runs" in problem.hint

    def test_a_file_storage_cron_that_never_runs_does_not_pass_silently(self, tmp_path):
        text = changed("everyMinutes: 60 }", 'cron: "0 0 31 4 *" }', FILE_STORAGE)
        problem = only_problem(validate_text(tmp_path, text), "SCHEMA")
        assert problem.line == line_of(text, "cron:")

    @pytest.mark.parametrize(
        ("expression", "never"),
        [
            ("0 0 30 2 *", True),
            ("0 0 31 2,4,6,9,11 *", True),
            ("0 0 29 2 *", False),  # leap years
            ("0 0 30 2 1", False),  # day of month or day of week: Mondays
            ("0 0 L 2 *", False),
        ],
    )
    def test_never_runs_means_no_date_matches(self, expression, never):
        assert cron_never_runs(expression) is never


def sampled_shortest_gap(expression: str, runs: int = 700) -> int:
    """The shortest gap over many runs, the slow way it used to be computed."""
    times = croniter(expression, datetime(2025, 1, 1, tzinfo=UTC))
    previous = times.get_next(datetime)
    shortest = None
    for _ in range(runs):
        current = times.get_next(datetime)
        gap = int((current - previous).total_seconds())
        shortest = gap if shortest is None else min(shortest, gap)
        previous = current
    assert shortest is not None
    return shortest


class TestCronCost:
    @pytest.mark.parametrize(
        "expression",
        [
            "*/15 6-20 * * 1-5",
            "* * * * *",
            "*/7 * * * *",
            "0 0,23 * * *",
            "30 23 * * 5",
            "0 0 1 * *",
            "0 0 31 * *",
            "0 0 29 2 *",
            "0 12 * * 5#3",
            "0 9-17/4 1,15 * *",
        ],
    )
    def test_the_derived_gap_equals_the_gap_between_sampled_runs(self, expression):
        assert cron_shortest_gap_seconds(expression) == sampled_shortest_gap(expression)

    def test_the_gap_is_computed_once_per_expression(self):
        cron_shortest_gap_seconds.cache_clear()
        for _ in range(3):
            cron_shortest_gap_seconds("*/20 * * * *")
        info = cron_shortest_gap_seconds.cache_info()
        assert (info.misses, info.hits) == (1, 2)

    def test_fifty_web_services_with_distinct_crons_validate_quickly(self, tmp_path):
        cron_shortest_gap_seconds.cache_clear()
        services = "".join(
            f"  - option: web-service\n    name: s{i}\n"
            f"    url: https://api.nordwind.example/v1/s{i}\n"
            f'    schedule: {{ cron: "{i % 60} */2 * * 1-5" }}\n'
            for i in range(50)
        )
        text = WEB_SERVICE.split("exchanges:\n")[0] + "exchanges:\n" + services
        started = time.perf_counter()
        validation = validate_text(tmp_path, text)
        assert validation.ok, validation.report()
        # About 0.1 s; the old 700-run sampling took 2.4 s for these.
        assert time.perf_counter() - started < 1.5

    def test_more_than_fifty_exchanges_are_refused_at_the_list(self, tmp_path):
        extra = "".join(
            f"  - option: app-database\n    name: db{i}\n    schema: db{i}\n"
            "    clientNetworks:\n      - 192.168.10.0/24\n"
            for i in range(50)
        )
        validation = validate_text(tmp_path, VALID + extra)
        problem = only_problem(validation, "SCHEMA")
        assert problem.line == line_of(VALID, "exchanges:")
        assert "has 51 items, but at most 50 are allowed" in problem.message


class TestDeepNesting:
    def test_json_of_two_hundred_thousand_brackets_is_refused(self, tmp_path):
        path = tmp_path / "customer.json"
        path.write_text("[" * 200_000, encoding="utf-8")
        validation = validate_file(path)
        problem = only_problem(validation, "YAML")
        assert problem.line == 1
        assert "nested too deeply" in problem.message

    def test_yaml_of_two_hundred_thousand_brackets_is_refused(self, tmp_path):
        path = tmp_path / "customer.yaml"
        path.write_text("[" * 200_000, encoding="utf-8")
        only_problem(validate_file(path), "YAML")


class TestLongLists:
    def test_forty_five_thousand_networks_are_refused_quickly_under_vgw_06(
        self, tmp_path
    ):
        networks = "".join(
            f"    - 10.{i // 256}.{i % 256}.0/24\n" for i in range(45_000)
        )
        text = changed("    - 192.168.10.0/24\n    - 192.168.20.0/24\n", networks)
        started = time.perf_counter()
        validation = validate_text(tmp_path, text)
        assert time.perf_counter() - started < 30
        problem = only_problem(validation, "VGW-06")
        assert problem.line == line_of(text, "networks:")
        assert "at most 100" in problem.message

    def test_client_networks_are_capped_at_fifty(self, tmp_path):
        many = "".join(f"      - 192.168.10.{4 * i}/30\n" for i in range(51))
        text = changed("      - 192.168.10.0/24\n", many)
        problem = only_problem(validate_text(tmp_path, text), "SCHEMA")
        assert problem.line == line_of(text, "clientNetworks:")
        assert "at most 50 are allowed" in problem.message

    @pytest.mark.parametrize(("key", "limit"), [("egressIps", 20), ("ports", 50)])
    def test_whitelist_lists_are_capped(self, tmp_path, key, limit):
        if key == "egressIps":
            items = [f"198.51.100.{i}/32" for i in range(limit + 1)]
            whitelist = f"whitelist:\n  ports: [443]\n  {key}:\n"
        else:
            items = [str(1000 + i) for i in range(limit + 1)]
            whitelist = f"whitelist:\n  {key}:\n"
        whitelist += "".join(f"    - {item}\n" for item in items)
        text = changed("exchanges:\n", whitelist + "exchanges:\n")
        problem = only_problem(validate_text(tmp_path, text), "SCHEMA")
        assert problem.line == line_of(text, f"  {key}:")
        assert f"at most {limit} are allowed" in problem.message

    def test_overlap_check_of_many_networks_is_not_quadratic(self):
        networks = [IPv4Network((i << 8, 24)) for i in range(45_000)]
        started = time.perf_counter()
        assert _first_overlaps(networks) == {}
        assert time.perf_counter() - started < 5

    @given(
        st.lists(st.tuples(st.integers(0, 2**12 - 1), st.integers(18, 30)), max_size=30)
    )
    def test_overlaps_found_by_sorting_are_those_of_every_pair(self, blocks):
        # Addresses within 10.0.0.0/12 and prefixes /18 to /30 overlap often.
        networks = [
            IPv4Network(((10 << 24) | (block << 8), prefix), strict=False)
            for block, prefix in blocks
        ]
        expected = {}
        for later, network in enumerate(networks):
            for earlier in range(later):
                if network.overlaps(networks[earlier]):
                    expected[later] = earlier
                    break
        assert _first_overlaps(networks) == expected

    def test_overlap_warning_names_the_first_overlapping_network(self, tmp_path):
        networks = "    - 192.168.0.0/16\n    - 192.168.10.0/24\n    - 192.168.0.0/17\n"
        text = changed("    - 192.168.10.0/24\n    - 192.168.20.0/24\n", networks)
        validation = validate_text(tmp_path, text)
        messages = [p.message for p in validation.problems if p.rule == "VPC-12"]
        assert messages == [
            "192.168.10.0/24 overlaps onPremises.networks[0] (192.168.0.0/16)",
            "192.168.0.0/17 overlaps onPremises.networks[0] (192.168.0.0/16)",
        ]


# The command line, run as `exchange` runs it.
CLI = "import sys; from exchange.cli import main; sys.exit(main())"


class TestFilesThatAreNotRegular:
    def test_validating_a_named_pipe_fails_at_once_instead_of_waiting(self, tmp_path):
        fifo = tmp_path / "customer.yaml"
        os.mkfifo(fifo)
        # A subprocess, so that a regression fails the test instead of
        # hanging the suite.
        result = subprocess.run(
            [sys.executable, "-c", CLI, "validate", str(fifo)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert result.returncode == 2, result.stderr
        assert "not a regular file" in result.stderr

    def test_the_loader_refuses_a_named_pipe(self, tmp_path):
        fifo = tmp_path / "customer.yaml"
        os.mkfifo(fifo)
        with pytest.raises(UnreadableFile, match="not a regular file"):
            load_document(fifo)

    def test_a_directory_is_still_named_as_one(self, tmp_path):
        with pytest.raises(UnreadableFile, match="it is a directory"):
            load_document(tmp_path)


class TestVpcTooSmallForTwoSubnets:
    def test_a_slash_28_vpc_is_refused_without_an_app_database(self, tmp_path):
        text = changed("cidr: 10.42.0.0/16", "cidr: 10.42.0.0/28", FILE_STORAGE)
        problem = only_problem(validate_text(tmp_path, text), "VPC-09")
        assert problem.line == line_of(text, "cidr:")
        assert "two availability zones" in problem.message
        assert "10.42.0.0/27" in problem.hint

    def test_private_subnets_of_a_slash_28_vpc_raise_a_clear_error(self):
        with pytest.raises(ValueError, match="no room for two /28 subnets"):
            Vpc(IPv4Network("10.42.0.0/28")).private_subnets()

    def test_a_slash_27_vpc_splits_into_two_slash_28s(self):
        subnets = Vpc(IPv4Network("10.42.0.0/27")).private_subnets()
        assert subnets == (IPv4Network("10.42.0.0/28"), IPv4Network("10.42.0.16/28"))


class TestManyFiles:
    def test_a_bug_met_in_one_file_is_reported_and_the_others_validated(
        self, tmp_path, monkeypatch
    ):
        from exchange.config import report

        good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
        for path in (good, bad):
            path.write_text(VALID, encoding="utf-8")
        real = report.validate_file

        def failing_on_bad(path: Path, **options):
            if Path(path) == bad:
                raise ZeroDivisionError("a bug")
            return real(path, **options)

        monkeypatch.setattr(report, "validate_file", failing_on_bad)
        run = validate_files([bad, good])
        assert [v.path for v in run.validations] == [bad, good]
        (problem,) = run.validations[0].problems
        assert (problem.rule, problem.line) == (INTERNAL, 1)
        assert "ZeroDivisionError" in problem.message
        assert problem.hint == "this is a bug in the validator; please report it"
        assert not run.validations[0].ok
        assert run.validations[1].ok


class TestYaml12CoreNumbers:
    @pytest.mark.parametrize(
        ("written", "value"),
        [
            ("900", 900),
            ("+900", 900),
            ("-900", -900),
            ("0o17", 15),
            ("0x1F", 31),
            ("1.5e3", 1500.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("9_00", "9_00"),
            ("0b1110000100", "0b1110000100"),
            ("-0x1F", "-0x1F"),
            ("1_000.5", "1_000.5"),
        ],
    )
    def test_plain_scalars_resolve_as_yaml_1_2_core_does(
        self, tmp_path, written, value
    ):
        path = tmp_path / "customer.yaml"
        path.write_text(f"a: {written}\n", encoding="utf-8")
        assert load_document(path).data == {"a": value}

    @pytest.mark.parametrize("written", ["9_00", "0b1110000100"])
    def test_numbers_only_yaml_1_1_reads_get_a_warning(self, tmp_path, written):
        path = tmp_path / "customer.yaml"
        path.write_text(f"a: {written}\n", encoding="utf-8")
        (warning,) = load_document(path).warnings
        assert warning.rule == "YAML-1.1"
        assert "a number in YAML 1.1" in warning.message

    def test_retries_written_with_an_underscore_are_text_to_the_schema(self, tmp_path):
        text = changed("retries: 2", "retries: 1_0", WEB_SERVICE)
        validation = validate_text(tmp_path, text, environ=WEB_SERVICE_KEYS)
        assert found(validation, "SCHEMA") == [("error", line_of(text, "retries:"))]
        assert found(validation, "YAML-1.1") == [("warning", line_of(text, "retries:"))]
