"""security: what must stay closed is closed.

- `db-private`: the database is not publicly accessible, its storage is
  encrypted, its subnets span two zones, and it is in the stack's group;
- `plaintext-refused`: with `tls: required`, a connection without TLS is
  turned away while the same credentials are accepted with TLS;
- `closed`: a vantage point that must be kept out (the outsider, a customer
  host outside the client networks) gets no connection to the endpoint;
- `bucket-private`: the file storage blocks public access and has no public
  policy or grant;
- `bucket-anonymous`: a request without a ticket, from the internet, is
  refused.
"""

from __future__ import annotations

from typing import Any

from checks import diagnosis as dx
from checks import http_round_trip as http
from checks import mysql_round_trip as mysql
from checks.net_reach import endpoint_of
from checks.plan import PlannedCheck
from checks.probe import OVER_INTERNET, Blocked, kept_out
from checks.result import Outcome, Status, errored, failed, passed
from checks.target import MissingOutput, Target
from infra import outputs as keys

_PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def security(target: Target, planned: PlannedCheck) -> Outcome:
    aspects = {
        "db-private": db_private,
        "plaintext-refused": plaintext_refused,
        "closed": closed,
        "bucket-private": bucket_private,
        "bucket-anonymous": bucket_anonymous,
    }
    return aspects[planned.param("aspect")](target, planned)


def db_private(target: Target, planned: PlannedCheck) -> Outcome:
    _, database = target.database(planned.exchange)
    instance = target.db_instance(database)
    name = instance["DBInstanceIdentifier"]
    problems, hints = [], []
    if instance.get("PubliclyAccessible"):
        problems.append("publicly accessible")
        hints.append("turn PubliclyAccessible off; reach it over the VPN (RDS-14)")
    if not instance.get("StorageEncrypted"):
        problems.append("storage not encrypted")
        hints.append(
            "encryption can only be set at creation: restore an encrypted copy (RDS-15)"
        )
    group = instance.get("DBSubnetGroup", {})
    zones = {s["SubnetAvailabilityZone"]["Name"] for s in group.get("Subnets", [])}
    if len(zones) < 2:
        problems.append(f"subnet group covers {len(zones)} zone(s)")
        hints.append("the DB subnet group needs subnets in two zones (RDS-17)")
    vpc_groups = {
        g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])
    }
    if database[keys.DB_SECURITY_GROUP_ID] not in vpc_groups:
        problems.append(f"not in security group {database[keys.DB_SECURITY_GROUP_ID]}")
        hints.append("attach the stack's database security group")
    if problems:
        return failed(
            f"{name}: " + "; ".join(problems), "; ".join(hints), dx.PUBLIC_DATABASE
        )
    engine = f"{instance['Engine']} {instance.get('EngineVersion', '')}".strip()
    return passed(
        f"{name}: not publicly accessible, storage encrypted, subnets in "
        f"{', '.join(sorted(zones))}, {engine}"
    )


def plaintext_refused(target: Target, planned: PlannedCheck) -> Outcome:
    """With `tls: required`, a connection without TLS must be turned away."""
    database = mysql.database_of(target, planned)
    try:
        session, connected = mysql.connect(
            target, planned, database, tls=False, plaintext=True
        )
    except Blocked as blocked:
        refusal = blocked.outcome
        # MySQL says why (3159, "insecure transport"); MariaDB answers a plain
        # "access denied" (1045). Either is a refusal only if the same
        # credentials are accepted with TLS.
        if refusal.diagnosis not in (dx.AUTH_REJECTED, dx.TLS_FAILED):
            return refusal
        try:
            with_tls, _ = mysql.connect(target, planned, database, tls=True)
        except Blocked as blocked_with_tls:
            return blocked_with_tls.outcome
        with_tls.close()
        return passed(
            f"{database.host}:{database.port}: refused without TLS, accepted with "
            "TLS and the same credentials"
        )
    session.close()
    return failed(
        f"{connected.where}: the server accepted a connection without TLS",
        "set require_secure_transport=1 in the instance's parameter group "
        "(RDS-SSL, MY-08); the exchange says tls: required",
        dx.TLS_NOT_ENFORCED,
    )


def closed(target: Target, planned: PlannedCheck) -> Outcome:
    """No connection from this vantage point: any way of being stopped passes."""
    host, port, path = endpoint_of(target, planned)
    return kept_out(
        target,
        planned.vantage,
        host,
        port,
        timeout_s=planned.probe_timeout_s(),
        path=path,
        hint="admit only the exchange's networks: the security group, the subnet's "
        "ACL and the customer's firewall",
    )


def bucket_private(target: Target, planned: PlannedCheck) -> Outcome:
    bucket = _provisioned_bucket(target, planned.param("bucket"))
    s3 = target.client("s3")
    problems = []
    try:
        block = s3.get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"
        ]
    except s3.exceptions.ClientError as error:
        if _code(error) != "NoSuchPublicAccessBlockConfiguration":
            raise
        block = {}
    off = [
        name
        for name in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        if not block.get(name)
    ]
    if off:
        problems.append(f"public access block off: {', '.join(off)}")
    try:
        if s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]:
            problems.append("the bucket policy is public")
    except s3.exceptions.ClientError as error:
        if _code(error) != "NoSuchBucketPolicy":
            raise
    grants = s3.get_bucket_acl(Bucket=bucket).get("Grants", [])
    public = [
        g["Permission"]
        for g in grants
        if g.get("Grantee", {}).get("URI") in _PUBLIC_GRANTEES
    ]
    if public:
        problems.append(f"the ACL grants {', '.join(public)} to everyone")
    if problems:
        return failed(f"{bucket}: " + "; ".join(problems), "", dx.BUCKET_PUBLIC)
    return passed(
        f"{bucket}: all four public access blocks on, no public policy, no public grant"
    )


def bucket_anonymous(target: Target, planned: PlannedCheck) -> Outcome:
    """A listing of the bucket without a ticket, from the internet, is refused."""
    bucket = _provisioned_bucket(target, planned.param("bucket"))
    endpoint = target.file_storage_endpoint(planned.vantage)
    region = target.config.region
    if endpoint is None:
        # AWS: the bucket's own virtual-hosted name, over TLS.
        site = http.Site("https", f"{bucket}.s3.{region}.amazonaws.com", 443, "/")
    else:
        scheme, host, port = endpoint
        site = http.Site(scheme, host, port, f"/{bucket}")
    request_target = site.request_target + "?list-type=2&max-keys=1"
    timeout = planned.probe_timeout_s()
    try:
        link = http.connect(
            target,
            planned.vantage,
            site,
            timeout_s=timeout,
            path=OVER_INTERNET,
            context=http.tls_context(target.ca_bundle(planned.vantage)),
        )
    except Blocked as blocked:
        # The endpoint is public: not reaching it proves nothing of the bucket.
        if blocked.outcome.status is Status.SKIP:
            return blocked.outcome
        return errored(
            f"the file storage's endpoint is out of reach: {blocked.outcome.evidence}",
            "the bucket's refusal can only be seen where its endpoint answers",
            dx.CHECK_ERROR,
        )
    try:
        answer = http.send(
            link, "GET", request_target, authority=site.authority, timeout_s=timeout
        )
    except http.NoAnswer as silent:
        return errored(f"{link.where}: {silent}", "", dx.CHECK_ERROR)
    finally:
        link.close()
    if answer.status in (401, 403):
        return passed(
            f"{link.where}: listing {bucket} without a ticket is refused "
            f"({answer.status} {answer.reason})"
        )
    if 200 <= answer.status < 300:
        return failed(
            f"{link.where}: listed {bucket} without a ticket ({answer.status})",
            "",
            dx.BUCKET_PUBLIC,
        )
    return errored(
        f"{link.where}: listing {bucket} without a ticket answered "
        f"{answer.status} {answer.reason}, neither a refusal nor a listing",
        "a 301 names another region, a 404 a bucket that does not exist",
        dx.CHECK_ERROR,
    )


def _provisioned_bucket(target: Target, bucket: str) -> str:
    storages = target.output(keys.FILE_STORAGES)
    if bucket not in {s.get(keys.BUCKET_NAME) for s in storages.values()}:
        raise MissingOutput(f"the stack has no file storage in bucket {bucket!r}")
    return bucket


def _code(error: Any) -> str:
    return error.response.get("Error", {}).get("Code", "")
