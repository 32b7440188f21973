"""Live check: a file sent with a ticket arrives identical (option 4, file storage).

The customer's systems move files with tickets: presigned URLs that the
platform's API issues for one object, each valid for the exchange's ticket
lifetime. The check does the same from the customer's side:

1. through the cloud's API, from this machine, it issues a PUT and a GET
   ticket for a probe object of its own, `<folder>exchange-probe/<token>.bin`
   in the exchange's folder;
2. from the vantage point it sends 1 MiB of random bytes with the PUT
   ticket, reads them back with the GET ticket and compares their SHA-256,
   timing both directions;
3. it removes the probe object through the API, every version of it (the
   bucket is versioned), whatever happened before;
4. it says whether a ticket lives long enough for the largest file at the
   slower of the two measured rates.

A ticket is a credential for as long as it lives: evidence names the
bucket and key, never the ticket's URL.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from checks import diagnosis as dx
from checks.http_round_trip import (
    Answer,
    NoAnswer,
    Site,
    connect,
    send,
    tls_context,
)
from checks.plan import PlannedCheck
from checks.probe import OUTBOUND, Blocked
from checks.result import Outcome, Status, errored, failed, passed, warned
from checks.target import MissingOutput, Target
from exchange.config.model import FileStorage
from infra import outputs as keys

log = logging.getLogger("checks")

PROBE_BYTES = 1024 * 1024
# The product's own prefix inside an exchange's folder.
PROBE_FOLDER = "exchange-probe/"
# Megabytes as largestFileMb counts them (and a megabyte is 8 megabits).
MEGABYTE = 1_000_000
CONNECT_TIMEOUT_S = 5.0
# Kept back from the check's timeout for removing the probe object.
_CLEANUP_RESERVE_S = 4.0
# A probe object this old was left by a probe that was cut off.
STALE_AFTER = timedelta(hours=1)
_S3_ERROR = re.compile(rb"<(Code|Message)>([^<]{1,200})</\1>")


def files_round_trip(target: Target, planned: PlannedCheck) -> Outcome:
    exchange = _file_storage(target, planned.exchange)
    bucket, key = _probe_object(target, exchange)
    s3 = target.client("s3")
    lifetime = exchange.ticket_lifetime_seconds
    object_params = {"Bucket": bucket, "Key": key}
    put_ticket = s3.generate_presigned_url(
        "put_object", Params=object_params, ExpiresIn=lifetime, HttpMethod="PUT"
    )
    get_ticket = s3.generate_presigned_url(
        "get_object", Params=object_params, ExpiresIn=lifetime, HttpMethod="GET"
    )
    _sweep_stale(s3, bucket, key.rsplit("/", 1)[0] + "/")
    deadline = time.monotonic() + planned.timeout_s - _CLEANUP_RESERVE_S
    where = f"s3://{bucket}/{key}"
    try:
        outcome = _round_trip(
            target, planned.vantage, exchange, where, put_ticket, get_ticket, deadline
        )
    finally:
        left = _remove_probe(s3, bucket, key)
    if left is None:
        return outcome
    if outcome.status in (Status.PASS, Status.WARN):
        return errored(
            f"{outcome.evidence}; but the probe object could not be removed: {left}",
            f"remove every version of {where} (aws s3api delete-object --version-id)",
            dx.API_ERROR,
        )
    return replace(
        outcome, evidence=f"{outcome.evidence}; the probe object may be left: {left}"
    )


def _file_storage(target: Target, name: str | None) -> FileStorage:
    for exchange in target.config.file_storages():
        if exchange.name == name:
            return exchange
    raise LookupError(f"the configuration has no file storage {name!r}")


def _probe_object(target: Target, exchange: FileStorage) -> tuple[str, str]:
    """The bucket, and a key in the product's own prefix of the exchange's folder."""
    storages = target.output(keys.FILE_STORAGES)
    if exchange.name not in storages:
        raise MissingOutput(
            f"the stack has no file storage output for {exchange.name!r}"
        )
    storage = storages[exchange.name]
    folder = storage.get(keys.BUCKET_PREFIX) or exchange.folder
    if not folder.endswith("/"):
        folder += "/"
    key = f"{folder}{PROBE_FOLDER}{secrets.token_hex(16)}.bin"
    return storage[keys.BUCKET_NAME], key


def _round_trip(
    target: Target,
    vantage: str,
    exchange: FileStorage,
    where: str,
    put_ticket: str,
    get_ticket: str,
    deadline: float,
) -> Outcome:
    payload = secrets.token_bytes(PROBE_BYTES)
    digest = hashlib.sha256(payload).hexdigest()
    try:
        put, put_via = _with_ticket(
            target, vantage, "PUT", put_ticket, payload, deadline
        )
        if not 200 <= put.status < 300:
            return _refused("PUT", where, put_via, put)
        got, get_via = _with_ticket(target, vantage, "GET", get_ticket, None, deadline)
        if not 200 <= got.status < 300:
            return _refused("GET", where, get_via, got)
    except Blocked as blocked:
        return blocked.outcome
    read_digest = hashlib.sha256(got.body).hexdigest()
    if read_digest != digest:
        return failed(
            f"{where} ({get_via}): wrote {len(payload)} bytes (sha256 {digest[:12]}…), "
            f"read back {len(got.body)} bytes (sha256 {read_digest[:12]}…)",
            "",
            dx.DATA_MISMATCH,
        )
    up = _rate(len(payload), put.elapsed_ms)
    down = _rate(len(got.body), got.elapsed_ms)
    slower = min(up, down)
    largest_s = exchange.largest_file_mb / slower
    lifetime = exchange.ticket_lifetime_seconds
    evidence = (
        f"{where} ({put_via}): {len(payload)} bytes written with a ticket and read "
        f"back identical (sha256 {digest[:12]}…), then removed; up {up:.1f} MB/s, "
        f"down {down:.1f} MB/s; the largest file ({_megabytes(exchange)} MB) "
        f"takes {largest_s:.1f} s at {slower:.1f} MB/s, a ticket lives {lifetime} s"
    )
    if largest_s > lifetime:
        return warned(
            evidence,
            f"raise ticketLifetimeSeconds to at least {largest_s * 1.5:.0f} "
            f"(the largest file's {largest_s:.0f} s, and half as long again), or "
            "lower largestFileMb (EXC-05)",
            dx.TICKET_TOO_SHORT,
        )
    return passed(evidence)


def _with_ticket(
    target: Target,
    vantage: str,
    method: str,
    ticket: str,
    body: bytes | None,
    deadline: float,
) -> tuple[Answer, str]:
    """Send one request with `ticket` from `vantage`; the answer and the way taken.

    Only where the request connects changes: the ticket's path, query and
    Host stay as they were signed.
    """
    signed = Site.of(ticket)
    site = signed
    endpoint = target.file_storage_endpoint(vantage)
    if endpoint is not None:
        scheme, host, port = endpoint
        site = Site(scheme, host, port, signed.request_target)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Blocked(
            failed(
                f"no time was left for the {method} of the probe object",
                "",
                dx.TOO_SLOW,
            )
        )
    try:
        link = connect(
            target,
            vantage,
            site,
            timeout_s=min(CONNECT_TIMEOUT_S, remaining),
            path=OUTBOUND,
            context=tls_context(target.ca_bundle(vantage))
            if site.scheme == "https"
            else None,
        )
    except Blocked as blocked:
        raise Blocked(_connect_outcome(blocked.outcome, site)) from None
    try:
        timeout_s = max(0.05, deadline - time.monotonic())
        try:
            answer = send(
                link,
                method,
                site.request_target,
                authority=urlsplit(ticket).netloc,
                body=body,
                timeout_s=timeout_s,
                longest_answer=PROBE_BYTES + 1,
            )
        except NoAnswer as no_answer:
            diagnosis = dx.TOO_SLOW if no_answer.timed_out else dx.NO_ANSWER
            raise Blocked(
                failed(
                    f"{method} of the probe object ({link.where}): {no_answer}",
                    "the file storage accepted the connection, but the transfer "
                    "did not complete: a slow or cut path",
                    diagnosis,
                )
            ) from None
    finally:
        link.close()
    log.debug(
        "%s of the probe object via %s: %d in %.1f ms",
        method,
        link.where,
        answer.status,
        answer.elapsed_ms,
    )
    return answer, link.where


def _connect_outcome(outcome: Outcome, site: Site) -> Outcome:
    """A blocked connection to the file storage, in the customer's terms."""
    if outcome.diagnosis is dx.OUTBOUND_DROPPED:
        return replace(
            outcome,
            hint=f"the customer's network drops the way to the file storage: let "
            f"the client host reach {site.host}:{site.port} (outbound firewall, "
            "proxy)",
        )
    return outcome


def _refused(method: str, where: str, via: str, answer: Answer) -> Outcome:
    said = _s3_error(answer.body)
    evidence = f"{method} {where} ({via}) with a ticket: answered {answer.status}"
    if said:
        evidence += f" ({said})"
    if answer.status == 404 and said.startswith("NoSuchBucket"):
        bucket = where.removeprefix("s3://").split("/", 1)[0]
        return failed(
            evidence,
            f"the bucket {bucket} does not exist: provision the stack (exchange up)",
            dx.NOT_PROVISIONED,
        )
    if answer.status == 403:
        return failed(
            evidence,
            "the file storage refuses the ticket: the bucket policy may deny it, "
            "or it expired or was not signed with SigV4",
            dx.AUTH_REJECTED,
        )
    return failed(
        evidence,
        "the file storage refuses the request: read the error code it gave",
        dx.HTTP_STATUS,
    )


def _s3_error(body: bytes) -> str:
    """The code and message of an S3 error document; nothing else of it.

    The rest may echo the request (a signature error gives the string it
    signed, the access key ID in it).
    """
    found = dict(
        (name.decode(), value.decode("utf-8", "replace"))
        for name, value in _S3_ERROR.findall(body[:4096])
    )
    return ": ".join(part for part in (found.get("Code"), found.get("Message")) if part)


def _megabytes(exchange: FileStorage) -> str:
    size = exchange.largest_file_mb
    return f"{size:g}" if size < 1e6 else f"{size:,.0f}"


def _rate(size: int, elapsed_ms: float) -> float:
    """MB/s, never zero or infinite."""
    return size / MEGABYTE / max(elapsed_ms / 1000, 1e-6)


def _sweep_stale(s3: Any, bucket: str, prefix: str) -> None:
    """Remove probe objects older than an hour: probes cut off before cleaning up."""
    cutoff = datetime.now(UTC) - STALE_AFTER
    try:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        for item in (*listed.get("Versions", []), *listed.get("DeleteMarkers", [])):
            if item["LastModified"] < cutoff:
                s3.delete_object(
                    Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"]
                )
                log.debug("swept stale probe s3://%s/%s", bucket, item["Key"])
    except (ClientError, BotoCoreError) as error:
        log.debug("no sweep of s3://%s/%s: %s", bucket, prefix, error)


def _remove_probe(s3: Any, bucket: str, key: str) -> str | None:
    """Delete every version and delete marker of the probe; None when all went."""
    try:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        found = [
            item
            for item in (*listed.get("Versions", []), *listed.get("DeleteMarkers", []))
            if item["Key"] == key
        ]
        for item in found:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
        log.debug("removed %d version(s) of s3://%s/%s", len(found), bucket, key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return None  # no bucket, no probe object
        return str(error)
    except BotoCoreError as error:
        return str(error)
    return None
