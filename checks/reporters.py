"""Check results for programs and CI, and the progress line while checks run.

`render_json` is the document `exchange check --format json` prints, laid out
by `schemas/check-report.schema.json`; `write_junit` the JUnit XML file for
CI; `Progress` what a person sees until the terminal table (`checks.report`)
follows. Each reads only the results it is given, plus the few names its
caller passes: nothing from the environment or the configuration, so no
secret can get in that the checks did not already put in their evidence
(and they put none).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from checks.result import CheckResult, Status

if TYPE_CHECKING:
    from checks.plan import PlannedCheck

JSON_SCHEMA_VERSION = 1

# What XML 1.0 cannot hold at all, not even escaped: most control characters,
# lone surrogates, U+FFFE and U+FFFF. A server's error message can carry them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class UnwritableFile(Exception):
    """A report file cannot be written where it was asked for."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason


# -- JSON ---------------------------------------------------------------------


def render_json(
    results: Sequence[CheckResult],
    *,
    customer: str,
    config_file: str,
    started_at: datetime,
    duration_s: float,
) -> str:
    """The report as a JSON document, keys in schema order, ending in a newline.

    `started_at` must carry a time zone; it is written in UTC.
    """
    if started_at.tzinfo is None:
        raise ValueError("started_at needs a time zone, e.g. datetime.now(UTC)")
    counts = Counter(result.status for result in results)
    document = {
        "schema_version": JSON_SCHEMA_VERSION,
        "customer": customer,
        "file": config_file,
        "started_at": started_at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "duration_ms": _milliseconds(duration_s),
        "totals": {status.value: counts[status] for status in Status},
        "checks": [_check_entry(result) for result in results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _check_entry(result: CheckResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "title": result.title,
        "kind": result.kind,
        "exchange": result.exchange,
        "status": result.status.value,
        "code": result.code,
        "layer": result.layer,
        "vantage": result.vantage,
        "duration_ms": _milliseconds(result.duration_s),
        "evidence": result.evidence,
        "hint": result.hint,
    }


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


# -- JUnit XML ----------------------------------------------------------------


def write_junit(
    results: Sequence[CheckResult],
    path: str | os.PathLike[str],
    *,
    customer: str,
    suite_name: str = "exchange check",
    started_at: datetime | None = None,
) -> None:
    """Write one testsuite for the customer, one testcase per check, to `path`.

    The file appears whole or not at all: it is written beside its final
    name and renamed over it, so a CI job never reads half a report.
    Raises `UnwritableFile` when the folder is missing or not writable.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise UnwritableFile(path, f"the folder {folder} does not exist")
    suite = TestSuite(_xml_text(f"{suite_name} {customer}"))
    if started_at is not None:
        suite.timestamp = started_at.isoformat(timespec="seconds")
    suite.add_testcases([_testcase(result) for result in results])
    report = JUnitXml()
    report.add_testsuite(suite)
    # The counts, and the suite's time as the sum of its cases' (as JUnit tools
    # expect; the checks ran concurrently, so the run itself took less).
    report.update_statistics()
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=folder, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise UnwritableFile(path, error.strerror or str(error)) from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            report.write(file)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private; a report is for anyone to read.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UnwritableFile(path, error.strerror or str(error)) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _testcase(result: CheckResult) -> TestCase:
    # classname groups the checks by what they are about: "vpn", "db.orders".
    classname = result.id.rsplit(".", 1)[0]
    case = TestCase(
        _xml_text(result.id), _xml_text(classname), round(result.duration_s, 3)
    )
    evidence, hint = _xml_text(result.evidence), _xml_text(result.hint)
    verdicts = {Status.FAIL: Failure, Status.ERROR: Error, Status.SKIP: Skipped}
    if result.status in verdicts:
        verdict = verdicts[result.status](evidence)
        if result.code and result.status is not Status.SKIP:
            # The diagnosis code is the failure's type, as JUnit tools show it.
            verdict.type = result.code
        if hint:
            verdict.text = hint
        case.result = verdict
    notes = []
    if result.status is Status.WARN:
        # JUnit knows no warnings: CI tools would count a failure as a broken
        # build and a skip as not run, so a warning passes and says so here.
        notes.append("warning: passed with a warning (JUnit has no warning status)")
    notes.append(f"title: {_xml_text(result.title)}")
    notes.append(f"kind: {result.kind}")
    notes.append(f"vantage: {_xml_text(result.vantage)}")
    if result.code:
        notes.append(f"diagnosis: {result.code} ({result.layer})")
    notes.append(f"evidence: {evidence}")
    if hint:
        notes.append(f"hint: {hint}")
    case.system_out = "\n".join(notes)
    return case


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


# -- progress -----------------------------------------------------------------


class Progress:
    """What a person sees while the checks run, on `stream` (stderr, say).

    On a terminal: one line, rewritten in place, with how many checks are
    done and which are still running; `close` (or leaving the `with` block)
    erases it before the table is printed. Elsewhere, such as a CI log: one
    line per finished check, in the order they finish. `started` and
    `finished` may be called from the checks' own threads.
    """

    def __init__(self, stream: TextIO, *, total: int) -> None:
        self._stream = stream
        self._total = total
        self._live = stream.isatty()
        self._lock = threading.Lock()
        self._running: dict[str, None] = {}  # ids in the order they started
        self._done = 0
        self._failed = 0
        self._shown = 0  # length of the live line on screen

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def started(self, check: PlannedCheck) -> None:
        with self._lock:
            self._running[check.id] = None
            if self._live:
                self._redraw()

    def finished(self, result: CheckResult) -> None:
        with self._lock:
            self._running.pop(result.id, None)
            self._done += 1
            if result.status in (Status.FAIL, Status.ERROR):
                self._failed += 1
            if self._live:
                self._redraw()
            else:
                self._stream.write(
                    f"[{self._done}/{self._total}] {result.status.name:<5} "
                    f"{result.id} ({_milliseconds(result.duration_s)} ms)\n"
                )
                self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._live and self._shown:
                self._stream.write("\r" + " " * self._shown + "\r")
                self._stream.flush()
                self._shown = 0

    def _redraw(self) -> None:
        line = f"checks: {self._done}/{self._total} done"
        if self._failed:
            line += f", {self._failed} failed"
        if self._running:
            line += f"; running {', '.join(self._running)}"
        # Longer than the terminal, the line would wrap and \r could no
        # longer return to its start.
        width = self._width() - 1
        if len(line) > width:
            line = line[: max(0, width - 1)] + "…"
        # Pad over what is left of a longer previous line.
        self._stream.write("\r" + line.ljust(self._shown))
        self._stream.flush()
        self._shown = len(line)

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return 80
