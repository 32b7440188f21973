"""The files.roundtrip check against moto, from a loopback stand-in of `onprem`.

Moto runs in-process on loopback (the session's `aws_endpoint`); each test
has a versioned bucket of its own. The vantage point reaches the file
storage as the simulator publishes it: S3's regional name on port 80,
mapped to moto's port. The buckets here have no TLS-only policy: moto
applies a bucket policy's Deny even when its condition does not hold, so
that policy would refuse every request in plain HTTP.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from checks import diagnosis as dx
from checks import files_round_trip as files_round_trip_module
from checks.files_round_trip import PROBE_BYTES, PROBE_FOLDER, files_round_trip
from checks.plan import PlannedCheck, plan_checks
from checks.result import Outcome, Status
from checks.target import MissingOutput, Target
from exchange.config import load_config
from exchange.config.model import ExchangeConfig, FileStorage
from exchange.environment import VantagePoint, simulator_session
from infra import outputs as keys
from tests.conftest import ROOT

REGION = "eu-central-1"
S3_SITE = f"s3.{REGION}.amazonaws.com:80"
FOLDER = "invoices/incoming/"


@pytest.fixture(scope="module")
def config() -> ExchangeConfig:
    return load_config(ROOT / "examples" / "multi-option.yaml")


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    return simulator_session(REGION).client("s3", endpoint_url=aws_endpoint)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A versioned bucket of the test's own, removed with whatever it holds."""
    name = f"probe-test-{secrets.token_hex(6)}"
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    try:
        yield name
    finally:
        s3.delete_bucket_policy(Bucket=name)
        listed = s3.list_object_versions(Bucket=name)
        for item in (*listed.get("Versions", []), *listed.get("DeleteMarkers", [])):
            s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
        s3.delete_bucket(Bucket=name)


def moto_port(aws_endpoint: str) -> int:
    return int(aws_endpoint.rsplit(":", 1)[1])


def onprem(port: int) -> VantagePoint:
    return VantagePoint(
        name="onprem",
        description="on-premises stand-in",
        connect_to={S3_SITE: f"127.0.0.1:{port}"},
    )


def target_for(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, point: VantagePoint
) -> Target:
    outputs = {
        keys.FILE_STORAGES: {
            "invoices": {keys.BUCKET_NAME: bucket, keys.BUCKET_PREFIX: FOLDER}
        }
    }
    return Target(
        config,
        outputs,
        {"onprem": point},
        aws_endpoint_url=aws_endpoint,
        session=simulator_session(REGION),
    )


def planned(config: ExchangeConfig) -> PlannedCheck:
    """The check as checks.plan plans it for `config`."""
    (check,) = [c for c in plan_checks(config) if c.id == "files.invoices.round-trip"]
    assert (check.kind, check.vantage, check.exchange) == (
        "files.roundtrip",
        "onprem",
        "invoices",
    )
    return check


def with_storage(config: ExchangeConfig, **changes: object) -> ExchangeConfig:
    exchanges = tuple(
        replace(e, **changes)
        if isinstance(e, FileStorage) and e.name == "invoices"
        else e
        for e in config.exchanges
    )
    return replace(config, exchanges=exchanges)


def probe_objects(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every version and delete marker under the product's probe prefix."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=f"{FOLDER}{PROBE_FOLDER}")
    return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]


def assert_no_ticket(outcome: Outcome) -> None:
    """A ticket is a credential while it lives: no part of one may be shown."""
    written = outcome.evidence + outcome.hint
    for part in ("X-Amz-Signature", "X-Amz-Credential", "Signature="):
        assert part not in written


def run(target: Target) -> Outcome:
    outcome = files_round_trip(target, planned(target.config))
    assert_no_ticket(outcome)
    return outcome


# --- passes ---------------------------------------------------------------------


def test_a_probe_file_goes_up_and_down_identical_and_leaves_nothing(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, s3: Any
) -> None:
    target = target_for(config, aws_endpoint, bucket, onprem(moto_port(aws_endpoint)))
    outcome = run(target)
    assert outcome.status is Status.PASS, outcome.evidence
    evidence = outcome.evidence
    assert f"s3://{bucket}/{FOLDER}{PROBE_FOLDER}" in evidence
    assert f"{S3_SITE} via on-premises stand-in" in evidence
    assert f"{PROBE_BYTES} bytes written with a ticket and read back identical" in (
        evidence
    )
    assert "up " in evidence and "down " in evidence and " MB/s" in evidence
    assert "the largest file (200 MB) takes" in evidence
    assert "a ticket lives 900 s" in evidence
    assert probe_objects(s3, bucket) == []


def test_probe_objects_left_by_a_probe_that_was_cut_off_are_swept(
    config: ExchangeConfig,
    aws_endpoint: str,
    bucket: str,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3.put_object(Bucket=bucket, Key=f"{FOLDER}{PROBE_FOLDER}left.bin", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"{FOLDER}customer-file.xml", Body=b"<x/>")
    # Everything under the probe prefix counts as stale: none is an hour old.
    monkeypatch.setattr(files_round_trip_module, "STALE_AFTER", timedelta(seconds=-5))
    target = target_for(config, aws_endpoint, bucket, onprem(moto_port(aws_endpoint)))
    assert run(target).status is Status.PASS
    assert probe_objects(s3, bucket) == []
    # The customer's own files are never touched.
    s3.head_object(Bucket=bucket, Key=f"{FOLDER}customer-file.xml")


def test_tickets_go_to_s3_s_regional_name_only_from_simulated_vantage_points(
    config: ExchangeConfig, aws_endpoint: str, bucket: str
) -> None:
    target = target_for(config, aws_endpoint, bucket, onprem(12345))
    assert target.file_storage_endpoint("onprem") == (
        "http",
        f"s3.{REGION}.amazonaws.com",
        80,
    )
    # From this machine, and on AWS, the ticket's own address.
    assert target.file_storage_endpoint("here") is None
    on_aws = Target(
        config, {}, {}, aws_endpoint_url=None, session=simulator_session(REGION)
    )
    assert on_aws.file_storage_endpoint("onprem") is None


def test_the_ticket_is_sent_where_the_vantage_point_reaches_the_storage(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, s3: Any
) -> None:
    # The ticket names moto's own address; a vantage point that has no way
    # to S3's regional name must not use that address instead.
    nowhere = VantagePoint(name="onprem", description="on-premises stand-in")
    target = target_for(config, aws_endpoint, bucket, nowhere)
    outcome = run(target)
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.UNREACHABLE
    assert f"no route to {S3_SITE}" in outcome.evidence
    assert probe_objects(s3, bucket) == []


# --- failures -------------------------------------------------------------------


def test_a_get_that_fails_after_the_put_leaves_no_version_behind(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, s3: Any
) -> None:
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "NoReading",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    target = target_for(config, aws_endpoint, bucket, onprem(moto_port(aws_endpoint)))
    outcome = run(target)
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.AUTH_REJECTED
    assert outcome.evidence.startswith(f"GET s3://{bucket}/{FOLDER}{PROBE_FOLDER}")
    assert "answered 403" in outcome.evidence
    assert probe_objects(s3, bucket) == []


def complete(answer: bytes) -> bool:
    """Whether `answer` holds a whole HTTP answer framed by Content-Length."""
    head, found, body = bytes(answer).partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


class Relay:
    """Forwards to moto, records each request's head, and may flip a byte.

    With `corrupt`, the last byte of every answer to a GET is changed on
    the way: what a broken path would do.
    """

    def __init__(self, upstream_port: int, *, corrupt: bool = False) -> None:
        self.upstream_port = upstream_port
        self.corrupt = corrupt
        self.heads: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        # accept() wakes up to see whether the relay is to stop.
        self.listener.settimeout(0.1)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue  # look at `stopped` again
            except OSError:
                return
            client.settimeout(5)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with (
            client,
            socket.create_connection(("127.0.0.1", self.upstream_port), 5) as upstream,
        ):
            upstream.settimeout(5)
            first = client.recv(65536)
            self.heads.append(first.partition(b"\r\n\r\n")[0])
            is_get = first.startswith(b"GET ")
            upstream.sendall(first)
            threading.Thread(
                target=self._pump, args=(client, upstream), daemon=True
            ).start()
            answer = bytearray()
            while len(answer) < 4 * PROBE_BYTES and not complete(answer):
                try:
                    chunk = upstream.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                answer += chunk
            if self.corrupt and is_get and answer:
                answer[-1] ^= 0x01
            client.sendall(bytes(answer))

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


def test_bytes_changed_on_the_way_are_a_mismatch_and_leave_nothing(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, s3: Any
) -> None:
    relay = Relay(moto_port(aws_endpoint), corrupt=True)
    try:
        target = target_for(config, aws_endpoint, bucket, onprem(relay.port))
        outcome = run(target)
    finally:
        relay.close()
    assert outcome.status is Status.FAIL
    assert outcome.diagnosis is dx.DATA_MISMATCH
    assert f"wrote {PROBE_BYTES} bytes" in outcome.evidence
    assert f"read back {PROBE_BYTES} bytes" in outcome.evidence
    assert probe_objects(s3, bucket) == []


def test_a_ticket_keeps_its_signed_path_query_and_host_and_changes_only_where(
    config: ExchangeConfig,
    aws_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = Relay(moto_port(aws_endpoint))
    try:
        target = target_for(config, aws_endpoint, bucket, onprem(relay.port))
        tickets = record_tickets(target, monkeypatch)
        outcome = run(target)
    finally:
        relay.close()
    assert outcome.status is Status.PASS, outcome.evidence
    # Both requests went through the vantage point's mapping, as signed: the
    # ticket's path and query, and the Host it was signed for (moto's).
    assert len(relay.heads) == 2
    for (method, url), head in zip(tickets, relay.heads, strict=True):
        parts = urlsplit(url)
        request_line, *fields = head.decode().split("\r\n")
        assert request_line == f"{method} {parts.path}?{parts.query} HTTP/1.1"
        assert f"Host: {parts.netloc}" in fields


def record_tickets(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str]]:
    """The (method, URL) of each ticket the check has the API issue."""
    issued: list[tuple[str, str]] = []
    client = target.client("s3")
    presign = client.generate_presigned_url

    def recording(operation: str, **kwargs: Any) -> str:
        url = presign(operation, **kwargs)
        issued.append((kwargs.get("HttpMethod", "GET"), url))
        return url

    monkeypatch.setattr(client, "generate_presigned_url", recording)
    return issued


def test_a_ticket_too_short_for_the_largest_file_is_a_warning(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, s3: Any
) -> None:
    huge = with_storage(
        config, largest_file_mb=50_000_000.0, ticket_lifetime_seconds=60
    )
    target = target_for(huge, aws_endpoint, bucket, onprem(moto_port(aws_endpoint)))
    outcome = run(target)
    assert outcome.status is Status.WARN, outcome.evidence
    assert outcome.diagnosis is dx.TICKET_TOO_SHORT
    assert "the largest file (50,000,000 MB) takes" in outcome.evidence
    assert "a ticket lives 60 s" in outcome.evidence
    assert "raise ticketLifetimeSeconds to at least" in outcome.hint
    assert probe_objects(s3, bucket) == []


def test_a_ticket_carries_the_exchange_s_lifetime(
    config: ExchangeConfig, aws_endpoint: str, bucket: str, monkeypatch: Any
) -> None:
    issued: list[dict[str, Any]] = []
    target = target_for(
        with_storage(config, ticket_lifetime_seconds=321),
        aws_endpoint,
        bucket,
        onprem(moto_port(aws_endpoint)),
    )
    client = target.client("s3")
    presign = client.generate_presigned_url

    def recording(operation: str, **kwargs: Any) -> str:
        url = presign(operation, **kwargs)
        issued.append({"operation": operation, **kwargs, "url": url})
        return url

    monkeypatch.setattr(client, "generate_presigned_url", recording)
    assert run(target).status is Status.PASS
    assert [i["operation"] for i in issued] == ["put_object", "get_object"]
    for ticket in issued:
        assert ticket["ExpiresIn"] == 321
        assert ticket["Params"]["Key"].startswith(f"{FOLDER}{PROBE_FOLDER}")
        assert "X-Amz-Expires=321" in urlsplit(ticket["url"]).query


def test_a_stack_without_the_file_storage_output_is_missing_it(
    config: ExchangeConfig, aws_endpoint: str
) -> None:
    target = Target(
        config,
        {keys.FILE_STORAGES: {}},
        {"onprem": onprem(moto_port(aws_endpoint))},
        aws_endpoint_url=aws_endpoint,
        session=boto3.session.Session(region_name=REGION),
    )
    with pytest.raises(MissingOutput, match="invoices"):
        files_round_trip(target, planned(config))
