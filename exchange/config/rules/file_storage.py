"""Rules about file-storage exchanges (option 4): bucket names and ticket lifetimes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from exchange.config.model import FileStorage
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

BUCKET_NAME_LENGTH = range(3, 64)  # S3-01
_BUCKET_CHARACTER = re.compile(r"[a-z0-9.-]")  # S3-02
_IP_ADDRESS_FORM = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")  # S3-05
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")  # S3-06
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
LONGEST_TICKET_SECONDS = 604800


def _buckets(context: RuleContext) -> Iterator[tuple[FileStorage, str]]:
    for storage in context.config.file_storages():
        if storage.bucket is not None:
            yield storage, storage.bucket


def _bucket_error(storage: FileStorage, message: str, hint: str, rule_id: str):
    return _error((*storage.path, "bucket"), message, hint, rule_id)


@rule("S3-01")
def bucket_name_length(context: RuleContext) -> Iterator[Problem]:
    """A bucket name has 3 to 63 characters."""
    for storage, bucket in _buckets(context):
        if len(bucket) not in BUCKET_NAME_LENGTH:
            yield _bucket_error(
                storage,
                f'"{bucket}" has {len(bucket)} characters, S3 accepts 3 to 63',
                "choose a bucket name of 3 to 63 characters",
                "S3-01",
            )


@rule("S3-02")
def bucket_name_characters(context: RuleContext) -> Iterator[Problem]:
    """A bucket name has only lowercase letters, digits, '.' and '-'."""
    for storage, bucket in _buckets(context):
        refused = sorted({c for c in bucket if not _BUCKET_CHARACTER.match(c)})
        if refused:
            yield _bucket_error(
                storage,
                f'"{bucket}" contains {", ".join(repr(c) for c in refused)}, which '
                "S3 refuses in a bucket name",
                "use lowercase letters, digits, '.' and '-' only",
                "S3-02",
            )


@rule("S3-03")
def bucket_name_ends(context: RuleContext) -> Iterator[Problem]:
    """A bucket name starts and ends with a letter or digit."""
    for storage, bucket in _buckets(context):
        ends = (bucket[:1], bucket[-1:])
        if bucket and not all(c.isascii() and c.isalnum() for c in ends):
            yield _bucket_error(
                storage,
                f'"{bucket}" must start and end with a letter or digit',
                "drop the leading or trailing punctuation",
                "S3-03",
            )


@rule("S3-04")
def bucket_name_periods(context: RuleContext) -> Iterator[Problem]:
    """A bucket name has no two adjacent periods."""
    for storage, bucket in _buckets(context):
        if ".." in bucket:
            yield _bucket_error(
                storage,
                f'"{bucket}" has two adjacent periods',
                "use a single '.' (or better '-') between the parts",
                "S3-04",
            )


@rule("S3-05")
def bucket_name_is_not_an_address(context: RuleContext) -> Iterator[Problem]:
    """A bucket name is not formatted like an IP address."""
    for storage, bucket in _buckets(context):
        if _IP_ADDRESS_FORM.match(bucket):
            yield _bucket_error(
                storage,
                f'"{bucket}" is formatted like an IP address, which S3 refuses',
                "choose a name with letters, e.g. the customer's slug",
                "S3-05",
            )


@rule("S3-06")
def bucket_name_prefix(context: RuleContext) -> Iterator[Problem]:
    """A bucket name avoids the reserved prefixes xn--, sthree- and amzn-s3-demo-."""
    for storage, bucket in _buckets(context):
        prefix = next((p for p in RESERVED_BUCKET_PREFIXES if bucket.startswith(p)), "")
        if prefix:
            yield _bucket_error(
                storage,
                f'"{bucket}" starts with {prefix}, which S3 reserves',
                "choose a name that starts otherwise",
                "S3-06",
            )


@rule("S3-07")
def bucket_name_suffix(context: RuleContext) -> Iterator[Problem]:
    """A bucket name avoids the reserved suffixes (-s3alias, --ol-s3, .mrap, ...)."""
    for storage, bucket in _buckets(context):
        suffix = next((s for s in RESERVED_BUCKET_SUFFIXES if bucket.endswith(s)), "")
        if suffix:
            yield _bucket_error(
                storage,
                f'"{bucket}" ends with {suffix}, which S3 reserves',
                "choose a name that ends otherwise",
                "S3-07",
            )


@rule("S3-08")
def bucket_name_is_likely_free(context: RuleContext) -> Iterator[Problem]:
    """A bucket name carries the customer's slug, so it is likely free (warning).

    Bucket names are unique across all AWS accounts (S3-08); whether a name is
    taken cannot be known offline, but a generic one very likely is.
    """
    slug = context.config.customer.slug
    for storage, bucket in _buckets(context):
        if slug not in bucket.lower():
            yield _warning(
                (*storage.path, "bucket"),
                f'"{bucket}" does not contain the customer\'s slug "{slug}"; bucket '
                "names are unique across all AWS accounts, and a generic name is "
                "likely taken already (inferred from S3-08)",
                f"start the name with the slug, e.g. {slug}-{storage.name}",
                "S3-08",
            )


@rule("S3-10")
def bucket_name_has_no_periods(context: RuleContext) -> Iterator[Problem]:
    """A bucket name avoids periods, which break HTTPS certificates (warning)."""
    for storage, bucket in _buckets(context):
        if "." in bucket:
            yield _warning(
                (*storage.path, "bucket"),
                f'"{bucket}" contains periods: the wildcard certificate of '
                "virtual-hosted-style HTTPS addresses does not match it",
                "use '-' instead of '.'",
                "S3-10",
            )


@rule("EXC-05")
def ticket_outlives_the_transfer(context: RuleContext) -> Iterator[Problem]:
    """A ticket lives long enough for the largest file at the minimum bandwidth."""
    for storage in context.config.file_storages():
        needed = storage.longest_transfer_seconds()
        if storage.ticket_lifetime_seconds >= needed:
            continue
        path = (*storage.path, "ticketLifetimeSeconds")
        if context.document.value(path) is None:
            path = (*storage.path, "largestFileMb")
        if needed <= LONGEST_TICKET_SECONDS:
            takes = f"{math.ceil(needed)} s"
            hint = f"set ticketLifetimeSeconds to at least {math.ceil(needed)}"
        else:
            # Not math.ceil: a tiny bandwidth makes `needed` infinite.
            takes = "more than a week" if math.isinf(needed) else f"{needed:.3g} s"
            hint = (
                "no ticket lives that long (at most 604800 s); split the files, "
                "or plan for a higher minimumBandwidthMbps"
            )
        yield _warning(
            path,
            f"a {storage.largest_file_mb:g} MB file takes {takes} at "
            f"{storage.minimum_bandwidth_mbps:g} Mbit/s, longer than the ticket's "
            f"{storage.ticket_lifetime_seconds} s, so a transfer resumed or retried "
            "late finds its ticket expired (inferred)",
            hint,
            "EXC-05",
        )
