"""Check results as JSON and JUnit XML, and the progress display while they run."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from junitparser import JUnitXml

from checks.diagnosis import CATALOGUE
from checks.plan import CLOUD_API, PlannedCheck
from checks.report import print_results
from checks.reporters import Progress, UnwritableFile, render_json, write_junit
from checks.result import CheckResult, Status
from tests.conftest import ROOT

REPORT_SCHEMA = json.loads(
    (ROOT / "schemas" / "check-report.schema.json").read_text(encoding="utf-8")
)
STARTED = datetime(2026, 3, 2, 9, 15, 0, 250000, tzinfo=UTC)
WARN_NOTE = "warning: passed with a warning (JUnit has no warning status)"


def result(
    id: str,
    status: Status,
    *,
    evidence: str = "",
    hint: str = "",
    ms: int = 10,
    code: str | None = None,
) -> CheckResult:
    failing = status in (Status.WARN, Status.FAIL, Status.ERROR)
    code = code or ("CHECK-ERROR" if failing else None)
    return CheckResult(
        id=id,
        title=f"title of {id}",
        kind="cloud.state",
        exchange=id.split(".")[1] if id.startswith("db.") else None,
        vantage=CLOUD_API if status is not Status.WARN else "onprem",
        status=status,
        evidence=evidence or f"evidence of {id}",
        hint=hint,
        duration_s=ms / 1000,
        code=code,
        layer=CATALOGUE[code].layer.value if code else None,
    )


# One of each status, with durations in whole milliseconds so that the JSON
# document (which keeps milliseconds) gives back exactly these results.
RESULTS = [
    result("vpn.connection", Status.PASS, ms=38),
    result(
        "vpn.routes",
        Status.WARN,
        hint="add a second route",
        ms=41,
        code="TUNNEL-REDUNDANCY-LOST",
    ),
    result(
        "db.orders.security-group",
        Status.FAIL,
        evidence="port 3306 open to 0.0.0.0/0 (DB-05)",
        hint="allow only the client networks",
        ms=52,
        code="SG-TOO-OPEN",
    ),
    result("db.orders.private", Status.PASS, ms=7),
    result(
        "db.orders.round-trip",
        Status.ERROR,
        evidence="no verdict within 10 s",
        hint="the endpoint or the cloud API does not answer; run again with -v",
        ms=10000,
    ),
    result("files.invoices.upload", Status.SKIP, evidence="not built yet", ms=0),
]

# Quotes, markup, an ampersand, non-ASCII and a line break: all must survive.
AWKWARD = '"quoted" \'single\' <tag attr="x"> & &amp; Zürich 東京 ✓\nsecond line'


def render(results=RESULTS, **overrides) -> str:
    arguments = {
        "customer": "nordwind",
        "config_file": "examples/app-database.yaml",
        "started_at": STARTED,
        "duration_s": 10.0126,
    }
    return render_json(results, **arguments | overrides)


def junit(tmp_path: Path, results=RESULTS, **keywords) -> Path:
    path = tmp_path / "report.xml"
    write_junit(results, path, customer="nordwind", **keywords)
    return path


class TestJson:
    def test_report_is_valid_against_its_schema(self):
        Draft202012Validator.check_schema(REPORT_SCHEMA)
        validator = Draft202012Validator(
            REPORT_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = [
            error.message for error in validator.iter_errors(json.loads(render()))
        ]
        assert errors == []

    def test_schema_refuses_a_report_with_an_unknown_status(self):
        # So that the test above can fail: the schema does constrain checks.
        document = json.loads(render())
        document["checks"][0]["status"] = "passed"
        assert not Draft202012Validator(REPORT_SCHEMA).is_valid(document)

    def test_report_round_trips_to_the_same_results(self):
        document = json.loads(render())
        rebuilt = [
            CheckResult(
                id=entry["id"],
                title=entry["title"],
                kind=entry["kind"],
                exchange=entry["exchange"],
                vantage=entry["vantage"],
                status=Status(entry["status"]),
                evidence=entry["evidence"],
                hint=entry["hint"],
                duration_s=entry["duration_ms"] / 1000,
                code=entry["code"],
                layer=entry["layer"],
            )
            for entry in document["checks"]
        ]
        assert rebuilt == RESULTS
        # The printed text is already in its canonical form.
        assert json.dumps(document, indent=2, ensure_ascii=False) + "\n" == render()

    def test_report_says_what_was_checked_and_when(self):
        document = json.loads(render())
        assert document["schema_version"] == 1
        assert document["customer"] == "nordwind"
        assert document["file"] == "examples/app-database.yaml"
        assert document["started_at"] == "2026-03-02T09:15:00.250Z"
        assert document["duration_ms"] == 10013

    def test_keys_come_in_the_documented_order_every_time(self):
        document = json.loads(render())
        assert list(document) == REPORT_SCHEMA["required"]
        check_keys = REPORT_SCHEMA["$defs"]["check"]["required"]
        assert all(list(entry) == check_keys for entry in document["checks"])
        assert render() == render(list(RESULTS))

    def test_totals_name_every_status_even_when_none_had_it(self):
        only_passes = [r for r in RESULTS if r.status is Status.PASS]
        totals = json.loads(render(only_passes))["totals"]
        assert totals == {"pass": 2, "warn": 0, "fail": 0, "skip": 0, "error": 0}
        all_totals = json.loads(render())["totals"]
        assert sum(all_totals.values()) == len(RESULTS)
        assert all_totals["fail"] == all_totals["error"] == all_totals["skip"] == 1

    def test_start_time_is_written_in_utc(self):
        vienna = timezone(timedelta(hours=1))
        started = datetime(2026, 3, 2, 10, 15, tzinfo=vienna)
        document = json.loads(render(started_at=started))
        assert document["started_at"] == "2026-03-02T09:15:00.000Z"

    def test_a_start_time_without_time_zone_is_refused(self):
        with pytest.raises(ValueError, match="time zone"):
            render(started_at=datetime(2026, 3, 2, 9, 15))

    def test_quotes_markup_and_non_ascii_survive(self):
        awkward = replace(RESULTS[2], title=AWKWARD, evidence=AWKWARD, hint=AWKWARD)
        text = render([awkward], customer="nordwind", config_file="Zürich <1>.yaml")
        assert "Zürich 東京 ✓" in text  # readable, not \u-escaped
        document = json.loads(text)
        entry = document["checks"][0]
        assert entry["title"] == entry["evidence"] == entry["hint"] == AWKWARD
        assert document["file"] == "Zürich <1>.yaml"


class TestJunit:
    def test_library_reads_the_counts_and_times(self, tmp_path):
        report = JUnitXml.fromfile(str(junit(tmp_path)))
        (suite,) = list(report)
        assert suite.name == "exchange check nordwind"
        assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (
            6,
            1,
            1,
            1,
        )
        # The suite's time is the sum of its cases': 38+41+52+7+10000+0 ms.
        assert suite.time == pytest.approx(10.138)
        times = {case.name: case.time for case in suite}
        assert times["db.orders.round-trip"] == pytest.approx(10.0)
        assert times["vpn.connection"] == pytest.approx(0.038)

    def test_each_status_becomes_the_matching_element(self, tmp_path):
        root = ET.parse(junit(tmp_path)).getroot()
        assert root.tag == "testsuites"
        (suite,) = root.findall("testsuite")
        assert suite.attrib["name"] == "exchange check nordwind"
        assert {
            key: suite.attrib[key] for key in ("tests", "failures", "errors", "skipped")
        } == {"tests": "6", "failures": "1", "errors": "1", "skipped": "1"}
        assert float(suite.attrib["time"]) == pytest.approx(10.138)
        cases = {case.attrib["name"]: case for case in suite.findall("testcase")}
        assert list(cases) == [r.id for r in RESULTS]
        verdicts = {
            name: [child.tag for child in case if child.tag != "system-out"]
            for name, case in cases.items()
        }
        assert verdicts == {
            "vpn.connection": [],
            "vpn.routes": [],
            "db.orders.security-group": ["failure"],
            "db.orders.private": [],
            "db.orders.round-trip": ["error"],
            "files.invoices.upload": ["skipped"],
        }
        failure = cases["db.orders.security-group"].find("failure")
        assert failure.attrib["message"] == "port 3306 open to 0.0.0.0/0 (DB-05)"
        # The diagnosis code is the failure's type.
        assert failure.attrib["type"] == "SG-TOO-OPEN"
        assert failure.text == "allow only the client networks"
        error = cases["db.orders.round-trip"].find("error")
        assert error.attrib["message"] == "no verdict within 10 s"
        assert cases["files.invoices.upload"].find("skipped").attrib["message"] == (
            "not built yet"
        )
        assert float(cases["db.orders.private"].attrib["time"]) == pytest.approx(0.007)

    def test_classname_is_the_id_without_its_last_part(self, tmp_path):
        root = ET.parse(junit(tmp_path)).getroot()
        classnames = {
            case.attrib["name"]: case.attrib["classname"]
            for case in root.iter("testcase")
        }
        assert classnames["vpn.routes"] == "vpn"
        assert classnames["db.orders.round-trip"] == "db.orders"
        assert classnames["files.invoices.upload"] == "files.invoices"

    def test_a_warning_passes_with_a_note(self, tmp_path):
        (suite,) = list(JUnitXml.fromfile(str(junit(tmp_path))))
        (warned,) = [case for case in suite if case.name == "vpn.routes"]
        assert warned.is_passed
        assert warned.system_out.splitlines()[0] == WARN_NOTE
        assert "hint: add a second route" in warned.system_out.splitlines()
        (passed,) = [case for case in suite if case.name == "vpn.connection"]
        assert WARN_NOTE not in passed.system_out

    def test_suite_name_and_start_time_can_be_given(self, tmp_path):
        path = junit(tmp_path, suite_name="nightly", started_at=STARTED)
        suite = ET.parse(path).getroot().find("testsuite")
        assert suite.attrib["name"] == "nightly nordwind"
        assert suite.attrib["timestamp"] == "2026-03-02T09:15:00+00:00"

    def test_quotes_markup_and_non_ascii_survive(self, tmp_path):
        awkward = replace(
            RESULTS[2], id=f"db.{AWKWARD}", evidence=AWKWARD, hint=AWKWARD
        )
        root = ET.parse(junit(tmp_path, [awkward])).getroot()
        case = root.find("testsuite/testcase")
        assert case.attrib["name"] == f"db.{AWKWARD}"
        assert case.find("failure").attrib["message"] == AWKWARD
        assert case.find("failure").text == AWKWARD
        (parsed,) = list(next(iter(JUnitXml.fromfile(str(tmp_path / "report.xml")))))
        assert parsed.result[0].message == AWKWARD

    def test_characters_xml_cannot_hold_are_replaced_not_fatal(self, tmp_path):
        garbled = replace(RESULTS[2], evidence="handshake: \x00\x07\x1b[0m bytes")
        root = ET.parse(junit(tmp_path, [garbled])).getroot()
        message = root.find("testsuite/testcase/failure").attrib["message"]
        assert message == "handshake: \ufffd\ufffd\ufffd[0m bytes"

    def test_no_results_give_an_empty_suite(self, tmp_path):
        suite = ET.parse(junit(tmp_path, [])).getroot().find("testsuite")
        assert suite.attrib["tests"] == "0"
        assert suite.findall("testcase") == []


class TestJunitFile:
    def test_write_leaves_only_the_report_behind(self, tmp_path):
        junit(tmp_path)
        assert os.listdir(tmp_path) == ["report.xml"]
        assert (tmp_path / "report.xml").stat().st_mode & 0o777 == 0o644

    def test_rewrite_replaces_the_previous_report(self, tmp_path):
        junit(tmp_path)
        junit(tmp_path, RESULTS[:1])
        assert ET.parse(tmp_path / "report.xml").getroot().find("testsuite").attrib[
            "tests"
        ] == ("1")
        assert os.listdir(tmp_path) == ["report.xml"]

    def test_a_failed_write_keeps_the_old_report_and_no_temporary_file(
        self, tmp_path, monkeypatch
    ):
        junit(tmp_path)
        before = (tmp_path / "report.xml").read_bytes()

        def disk_full(source, destination):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", disk_full)
        with pytest.raises(UnwritableFile, match="No space left on device"):
            junit(tmp_path, RESULTS[:1])
        assert os.listdir(tmp_path) == ["report.xml"]
        assert (tmp_path / "report.xml").read_bytes() == before

    def test_a_missing_folder_is_named_in_the_error(self, tmp_path):
        path = tmp_path / "no-such-folder" / "report.xml"
        with pytest.raises(UnwritableFile) as raised:
            write_junit(RESULTS, path, customer="nordwind")
        assert str(path) in str(raised.value)
        assert "no-such-folder does not exist" in str(raised.value)
        assert not path.parent.exists()

    def test_a_folder_in_place_of_the_file_is_refused(self, tmp_path):
        (tmp_path / "report.xml").mkdir()
        with pytest.raises(UnwritableFile, match=r"report\.xml"):
            junit(tmp_path)
        assert os.listdir(tmp_path) == ["report.xml"]


class TestNothingAdded:
    """The reporters print the results' own text and the names passed in: no
    environment, no configuration value, so nothing secret they were not given."""

    PSK = "Tunnel1Psk.abcdefgh12345678"

    @pytest.fixture(autouse=True)
    def secret_in_the_environment(self, monkeypatch):
        monkeypatch.setenv("NORDWIND_TUNNEL1_PSK", self.PSK)
        monkeypatch.setenv("MYSQL_PWD", "db-password-for-tests")

    def own_text(self) -> set[str]:
        texts = {"nordwind", "examples/app-database.yaml"}
        for r in RESULTS:
            texts |= {r.id, r.id.rsplit(".", 1)[0], r.title, r.vantage, r.status.value}
            texts |= {r.evidence, r.hint, r.kind}
            texts |= {t for t in (r.exchange, r.code, r.layer) if t}
            if r.code:
                texts.add(f"{r.code} ({r.layer})")
        return texts

    def test_json_holds_only_the_results_and_the_names_given(self):
        strings = []

        def collect(value):
            if isinstance(value, dict):
                strings.extend(value)  # the keys, checked against the schema
                for item in value.values():
                    collect(item)
            elif isinstance(value, list):
                for item in value:
                    collect(item)
            elif isinstance(value, str):
                strings.append(value)

        text = render()
        collect(json.loads(text))
        keys = set(REPORT_SCHEMA["properties"]) | set(
            REPORT_SCHEMA["$defs"]["check"]["properties"]
        )
        keys |= {status.value for status in Status}
        allowed = self.own_text() | keys | {"2026-03-02T09:15:00.250Z"}
        assert [s for s in strings if s not in allowed] == []
        assert self.PSK not in text

    def test_junit_holds_only_the_results_and_the_names_given(self, tmp_path):
        path = junit(tmp_path, started_at=STARTED)
        allowed = self.own_text() | {
            "exchange check nordwind",
            STARTED.isoformat(timespec="seconds"),
        }
        extra = []
        for element in ET.parse(path).getroot().iter():
            values = list(element.attrib.values())
            if element.tag == "system-out":
                for line in element.text.splitlines():
                    if line != WARN_NOTE:
                        label, _, value = line.partition(": ")
                        assert label in {
                            "title",
                            "kind",
                            "vantage",
                            "diagnosis",
                            "evidence",
                            "hint",
                        }
                        values.append(value)
            elif element.text and element.text.strip():
                values.append(element.text)
            for value in values:
                try:
                    float(value)  # counts and times
                except ValueError:
                    if value not in allowed:
                        extra.append(value)
        assert extra == []
        assert self.PSK.encode() not in path.read_bytes()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(written: str) -> str:
    """What a terminal shows on its one line after `written`: \r returns to the
    start, and what follows overwrites."""
    line: list[str] = []
    column = 0
    for character in written:
        if character == "\r":
            column = 0
            continue
        if column < len(line):
            line[column] = character
        else:
            line.append(character)
        column += 1
    return "".join(line)


def planned(id: str) -> PlannedCheck:
    return PlannedCheck(id, "vpn-routes", f"title of {id}", CLOUD_API)


class TestProgress:
    def test_a_log_gets_one_line_per_finished_check_in_finishing_order(self):
        stream = io.StringIO()
        with Progress(stream, total=3) as progress:
            for check in RESULTS[:3]:
                progress.started(planned(check.id))
            progress.finished(RESULTS[2])
            progress.finished(RESULTS[0])
            progress.finished(RESULTS[1])
        assert stream.getvalue().splitlines() == [
            "[1/3] FAIL  db.orders.security-group (52 ms)",
            "[2/3] PASS  vpn.connection (38 ms)",
            "[3/3] WARN  vpn.routes (41 ms)",
        ]

    def test_a_log_gets_nothing_when_checks_only_start(self):
        stream = io.StringIO()
        with Progress(stream, total=2) as progress:
            progress.started(planned("vpn.connection"))
        assert stream.getvalue() == ""

    def test_a_terminal_gets_one_line_rewritten_in_place(self):
        stream = FakeTerminal()
        progress = Progress(stream, total=2)
        progress.started(planned("vpn.connection"))
        progress.started(planned("db.orders.security-group"))
        assert screen(stream.getvalue()) == (
            "checks: 0/2 done; running vpn.connection, db.orders.security-group"
        )
        progress.finished(RESULTS[2])
        assert screen(stream.getvalue()).rstrip() == (
            "checks: 1/2 done, 1 failed; running vpn.connection"
        )
        progress.finished(RESULTS[0])
        assert screen(stream.getvalue()).rstrip() == "checks: 2/2 done, 1 failed"
        assert "\n" not in stream.getvalue()

    def test_closing_erases_the_line_on_a_terminal(self):
        stream = FakeTerminal()
        with Progress(stream, total=1) as progress:
            progress.started(planned("vpn.connection"))
            progress.finished(RESULTS[0])
        assert stream.getvalue().endswith("\r")
        assert screen(stream.getvalue()).strip() == ""

    def test_a_terminal_line_never_wraps(self):
        stream = FakeTerminal()  # no real terminal behind it: 80 columns assumed
        progress = Progress(stream, total=20)
        for number in range(20):
            progress.started(planned(f"db.orders-{number}.round-trip"))
        shown = screen(stream.getvalue())
        assert len(shown) == 79
        assert shown.endswith("…")


class TestTerminal:
    def test_each_check_shows_where_it_ran_and_a_failure_its_diagnosis(self):
        out = io.StringIO()
        print_results(RESULTS, out)
        lines = out.getvalue().splitlines()
        (row,) = [line for line in lines if " db.orders.security-group " in line]
        assert row.startswith("FAIL") and " cloud-api " in row and " 52 ms " in row
        assert (
            "       [SG-TOO-OPEN, security group/ACL] hint: allow only the client"
            in (lines[lines.index(row) + 2])
        )

    def test_the_summary_says_per_exchange_whether_it_is_proven_and_from_where(self):
        proven = replace(RESULTS[0], id="db.shop.round-trip", exchange="shop")
        proven_too = replace(proven, id="db.shop.reach", vantage="onprem")
        out = io.StringIO()
        print_results([*RESULTS, proven, proven_too], out)
        text = out.getvalue()
        assert "  shop    proven, from cloud-api, onprem\n" in text
        # db.orders has a failure and an error among its three checks.
        assert (
            "  orders  NOT proven (2 of 3 checks did not pass), from cloud-api\n"
            in (text)
        )
