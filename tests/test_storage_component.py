"""The FileStorage component (option 4), run under the simulator's mocks.

A tiny program declares one FileStorage; each test looks at what the program
declared (the recorded inputs), at what the simulated AWS then holds (boto3)
and at what `destroy` leaves. Every assertion names the resource it is about.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest

from simulator.pulumi_runner import type_of

pytestmark = pytest.mark.pulumi

REGION = "eu-central-1"
COMPONENT = "exchange:infra:FileStorage"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"

PROGRAM = """\
import pulumi

from infra.storage import FileStorage, FileStorageArgs

config = pulumi.Config("storage")
customer = config.require("customer")
storage = FileStorage(
    f"{customer}-files",
    FileStorageArgs(
        bucket_name=config.require("bucket"),
        folders=tuple(config.require_object("folders")),
        tags={"exchange:customer": customer, "managed-by": "exchange-proof"},
        noncurrent_version_days=config.get_int("noncurrentVersionDays") or 30,
        incomplete_upload_days=config.get_int("incompleteUploadDays") or 1,
        force_destroy=config.get_bool("forceDestroy") or False,
    ),
)
pulumi.export("bucketName", storage.bucket_name)
pulumi.export("bucketArn", storage.bucket_arn)
pulumi.export("folderPrefixes", storage.folder_prefixes)
"""


def _s3(endpoint: str, region: str = REGION):
    import boto3

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


class Witness:
    """Holds the public access block and versioning back a little, and notes
    what the policy and the lifecycle rules found in place when their turn
    came: were they declared without the dependency, they would find nothing.
    """

    DELAY_S = 0.3

    def __init__(self, s3) -> None:
        self.s3 = s3
        self.found: dict[str, object] = {}

    def __call__(self, type_: str, name: str, inputs: dict) -> None:
        if type_ in (PUBLIC_ACCESS_BLOCK, VERSIONING):
            time.sleep(self.DELAY_S)
        elif type_ == POLICY:
            try:
                block = self.s3.get_public_access_block(Bucket=inputs["bucket"])
                self.found[POLICY] = block["PublicAccessBlockConfiguration"]
            except self.s3.exceptions.ClientError:
                self.found[POLICY] = None
        elif type_ == LIFECYCLE:
            versioning = self.s3.get_bucket_versioning(Bucket=inputs["bucket"])
            self.found[LIFECYCLE] = versioning.get("Status")


def provision(
    endpoint: str,
    folder: Path,
    *,
    customer: str,
    bucket: str,
    folders: list[str],
    region: str = REGION,
    validate=None,
    **settings: str,
):
    from simulator.provisioning import CloudMocks
    from simulator.pulumi_runner import run_program

    program = folder / "__main__.py"
    program.write_text(PROGRAM)
    config = {
        "aws:region": region,
        "storage:customer": customer,
        "storage:bucket": bucket,
        "storage:folders": json.dumps(folders),
        **{f"storage:{key}": value for key, value in settings.items()},
    }
    mocks = CloudMocks(endpoint_url=endpoint, region=region, validate=validate)
    run = run_program(mocks, config, stack_name=customer, program=program)
    return run, mocks


@pytest.fixture(scope="module")
def stack(aws_endpoint, tmp_path_factory):
    witness = Witness(_s3(aws_endpoint))
    run, mocks = provision(
        aws_endpoint,
        tmp_path_factory.mktemp("storage"),
        customer="nordwind",
        bucket="nordwind-exchange-files",
        # A folder without its slash, and one folder named twice (two
        # exchanges, one upload and one download, may share it).
        folders=["invoices/incoming/", "reports", "invoices/incoming/"],
        validate=witness,
        noncurrentVersionDays="45",
        incompleteUploadDays="2",
    )
    return run, mocks, witness


def _one(stack, type_token):
    run, mocks, _ = stack
    urns = [urn for urn in run.resources if type_of(urn) == type_token]
    assert len(urns) == 1, f"expected one {type_token}, got {urns}"
    (urn,) = urns
    name = urn.split("::")[-1]
    (recorded,) = [r for r in mocks.recorded if (r.type_, r.name) == (type_token, name)]
    return urn, recorded


def test_the_bucket_has_the_configured_name_and_the_tags(stack, aws_endpoint):
    urn, bucket = _one(stack, BUCKET)
    assert bucket.inputs["bucket"] == "nordwind-exchange-files", urn
    assert bucket.inputs["tags"] == {
        "exchange:customer": "nordwind",
        "managed-by": "exchange-proof",
    }, urn
    assert bucket.inputs["forceDestroy"] is False, urn
    tags = _s3(aws_endpoint).get_bucket_tagging(Bucket="nordwind-exchange-files")
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]} == bucket.inputs["tags"], urn


def test_the_bucket_outputs_are_those_of_the_provider(stack):
    urn, bucket = _one(stack, BUCKET)
    assert bucket.id_ == "nordwind-exchange-files", urn
    assert bucket.outputs["arn"] == "arn:aws:s3:::nordwind-exchange-files", urn
    assert bucket.outputs["bucketRegionalDomainName"] == (
        "nordwind-exchange-files.s3.eu-central-1.amazonaws.com"
    ), urn
    assert bucket.outputs["region"] == REGION, urn
    assert bucket.outputs["hostedZoneId"] == "Z21DNDUVLTQW6Q", urn


def test_public_access_is_blocked_in_all_four_ways(stack, aws_endpoint):
    urn, block = _one(stack, PUBLIC_ACCESS_BLOCK)
    flags = (
        "blockPublicAcls",
        "ignorePublicAcls",
        "blockPublicPolicy",
        "restrictPublicBuckets",
    )
    assert {flag: block.inputs.get(flag) for flag in flags} == dict.fromkeys(
        flags, True
    ), urn
    seen = _s3(aws_endpoint).get_public_access_block(Bucket="nordwind-exchange-files")
    assert seen["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }, urn


def test_acls_are_off_the_bucket_owns_every_object(stack, aws_endpoint):
    urn, ownership = _one(stack, OWNERSHIP)
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}, urn
    seen = _s3(aws_endpoint).get_bucket_ownership_controls(
        Bucket="nordwind-exchange-files"
    )
    assert seen["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ], urn


def test_files_are_encrypted_with_kms_and_a_bucket_key(stack, aws_endpoint):
    urn, encryption = _one(stack, ENCRYPTION)
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms"}
    assert rule["bucketKeyEnabled"] is True, urn
    seen = _s3(aws_endpoint).get_bucket_encryption(Bucket="nordwind-exchange-files")
    assert seen["ServerSideEncryptionConfiguration"]["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
            "BucketKeyEnabled": True,
        }
    ], urn


def test_versioning_is_enabled(stack, aws_endpoint):
    urn, versioning = _one(stack, VERSIONING)
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}, urn
    seen = _s3(aws_endpoint).get_bucket_versioning(Bucket="nordwind-exchange-files")
    assert seen["Status"] == "Enabled", urn


def test_each_folder_has_one_lifecycle_rule_for_its_prefix(stack, aws_endpoint):
    urn, lifecycle = _one(stack, LIFECYCLE)
    rules = {rule["filter"]["prefix"]: rule for rule in lifecycle.inputs["rules"]}
    assert len(lifecycle.inputs["rules"]) == 2, f"{urn}: a folder twice, rules once"
    assert sorted(rules) == ["invoices/incoming/", "reports/"], urn
    for prefix, rule in rules.items():
        assert rule["id"] == prefix and rule["status"] == "Enabled", urn
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 45}, urn
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 2}
        # Current files never expire; only lone delete markers do.
        assert rule["expiration"] == {"expiredObjectDeleteMarker": True}, urn


def test_the_simulated_aws_holds_the_lifecycle_rules(stack, aws_endpoint):
    urn, _ = _one(stack, LIFECYCLE)
    seen = _s3(aws_endpoint).get_bucket_lifecycle_configuration(
        Bucket="nordwind-exchange-files"
    )
    by_prefix = {rule["Filter"]["Prefix"]: rule for rule in seen["Rules"]}
    assert sorted(by_prefix) == ["invoices/incoming/", "reports/"], urn
    for prefix, rule in by_prefix.items():
        assert rule["ID"] == prefix and rule["Status"] == "Enabled", urn
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 45, urn
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
        assert rule["Expiration"] == {"ExpiredObjectDeleteMarker": True}, urn


def test_lifecycle_rules_are_put_once_versioning_is_on(stack):
    urn, _ = _one(stack, LIFECYCLE)
    _, _, witness = stack
    assert witness.found[LIFECYCLE] == "Enabled", urn


def _denies_plain_http(policy: dict, bucket_arn: str) -> bool:
    return any(
        statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Action"] == "s3:*"
        and sorted(statement["Resource"]) == [bucket_arn, f"{bucket_arn}/*"]
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policy["Statement"]
    )


def test_the_policy_denies_every_request_without_tls(stack, aws_endpoint):
    urn, policy = _one(stack, POLICY)
    arn = "arn:aws:s3:::nordwind-exchange-files"
    assert _denies_plain_http(json.loads(policy.inputs["policy"]), arn), urn
    seen = _s3(aws_endpoint).get_bucket_policy(Bucket="nordwind-exchange-files")
    assert _denies_plain_http(json.loads(seen["Policy"]), arn), urn


def test_the_policy_is_put_once_public_access_is_blocked(stack):
    urn, _ = _one(stack, POLICY)
    _, _, witness = stack
    assert witness.found[POLICY] is not None, f"{urn} came before the block"
    assert all(witness.found[POLICY].values()), urn


def test_no_empty_folder_objects_are_made(stack, aws_endpoint):
    run, _, _ = stack
    assert not [u for u in run.resources if "bucketObject" in type_of(u)]
    listing = _s3(aws_endpoint).list_object_versions(Bucket="nordwind-exchange-files")
    assert not listing.get("Versions") and not listing.get("DeleteMarkers")


def test_every_cloud_resource_is_a_child_of_the_component(stack):
    run, _, _ = stack
    resources = run.cloud_resources()
    assert len(resources) == 7, resources
    for urn in resources:
        # urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>
        parents = urn.split("::")[2].split("$")[:-1]
        assert parents == [COMPONENT], urn
        assert urn.split("::")[-1].startswith("nordwind-files-"), urn


def test_outputs_name_the_bucket_its_arn_and_the_folder_prefixes(stack):
    run, _, _ = stack
    urn, bucket = _one(stack, BUCKET)
    outputs = run.plain_outputs()
    assert outputs["bucketName"] == bucket.id_, urn
    assert outputs["bucketArn"] == bucket.outputs["arn"], urn
    assert outputs["folderPrefixes"] == ["invoices/incoming/", "reports/"]


# -- destroy ----------------------------------------------------------------------


@contextlib.contextmanager
def _policy_lifted(s3, bucket: str):
    """The bucket's policy lifted while the test writes files, then put back.

    moto cannot evaluate the `Bool` condition of the TLS-only policy and so
    applies its Deny to every object request; AWS denies only plain HTTP.
    """
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    try:
        yield
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy)


def _bucket_exists(s3, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        return False
    return True


def test_destroy_leaves_no_bucket(aws_endpoint, tmp_path):
    from simulator.provisioning import destroy

    _, mocks = provision(
        aws_endpoint,
        tmp_path,
        customer="kleinfeld",
        bucket="kleinfeld-exchange-files",
        folders=["orders/"],
    )
    s3 = _s3(aws_endpoint)
    assert _bucket_exists(s3, "kleinfeld-exchange-files")
    assert destroy(aws_endpoint, REGION, mocks.recorded) == 7
    assert not _bucket_exists(s3, "kleinfeld-exchange-files")
    # Deleting what is gone succeeds, as with `pulumi destroy`.
    assert destroy(aws_endpoint, REGION, mocks.recorded) == 7


def test_force_destroy_deletes_every_version_and_delete_marker(aws_endpoint, tmp_path):
    from simulator.provisioning import destroy

    _, mocks = provision(
        aws_endpoint,
        tmp_path,
        customer="ostwerk",
        bucket="ostwerk-exchange-files",
        folders=["invoices/incoming/"],
        forceDestroy="true",
    )
    (bucket,) = [r for r in mocks.recorded if r.type_ == BUCKET]
    assert bucket.inputs["forceDestroy"] is True, bucket.name
    s3 = _s3(aws_endpoint)
    name = "ostwerk-exchange-files"
    with _policy_lifted(s3, name):
        for body in (b"<invoice>1</invoice>", b"<invoice>2</invoice>"):
            s3.put_object(Bucket=name, Key="invoices/incoming/a.xml", Body=body)
        s3.delete_object(Bucket=name, Key="invoices/incoming/a.xml")
        s3.put_object(Bucket=name, Key="invoices/incoming/b.csv", Body=b"id;total\n")
        s3.create_multipart_upload(Bucket=name, Key="invoices/incoming/big.xml")
    listing = s3.list_object_versions(Bucket=name)
    assert (len(listing["Versions"]), len(listing["DeleteMarkers"])) == (3, 1)

    destroy(aws_endpoint, REGION, mocks.recorded)
    assert not _bucket_exists(s3, name), bucket.name


def test_a_bucket_with_files_stays_without_force_destroy_and_keeps_its_block(
    aws_endpoint, tmp_path
):
    from simulator.provisioning import ProvisioningError, destroy

    _, mocks = provision(
        aws_endpoint,
        tmp_path,
        customer="suedhafen",
        bucket="suedhafen-exchange-files",
        folders=["invoices/incoming/"],
    )
    s3 = _s3(aws_endpoint)
    name = "suedhafen-exchange-files"
    # Only a deleted file's old version and its delete marker are left.
    with _policy_lifted(s3, name):
        s3.put_object(Bucket=name, Key="invoices/incoming/a.xml", Body=b"<invoice/>")
        s3.delete_object(Bucket=name, Key="invoices/incoming/a.xml")

    with pytest.raises(ProvisioningError, match="BucketNotEmpty") as refused:
        destroy(aws_endpoint, REGION, mocks.recorded)
    assert refused.value.type_ == BUCKET
    assert _bucket_exists(s3, name)
    # The bucket that stays keeps its public access block (skip_destroy).
    block = s3.get_public_access_block(Bucket=name)
    assert all(block["PublicAccessBlockConfiguration"].values()), name

    # The remedy the message names: forceDestroy applied, then destroy.
    (bucket,) = [r for r in mocks.recorded if r.type_ == BUCKET]
    bucket.outputs["forceDestroy"] = True
    destroy(aws_endpoint, REGION, mocks.recorded)
    assert not _bucket_exists(s3, name)


# -- bucket names are unique ---------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-central-1", "us-east-1"])
def test_a_bucket_name_another_customer_took_is_refused(aws_endpoint, tmp_path, region):
    from simulator.provisioning import ProvisioningError, destroy

    name = f"shared-name-{region}"
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _, mocks = provision(
        aws_endpoint,
        first,
        customer=f"first-{region}",
        bucket=name,
        folders=["in/"],
        region=region,
    )
    try:
        with pytest.raises(ProvisioningError, match="BucketAlreadyOwnedByYou"):
            provision(
                aws_endpoint,
                second,
                customer=f"second-{region}",
                bucket=name,
                folders=["out/"],
                region=region,
            )
        # The first customer's bucket is untouched.
        tags = _s3(aws_endpoint, region).get_bucket_tagging(Bucket=name)["TagSet"]
        assert {"Key": "exchange:customer", "Value": f"first-{region}"} in tags
    finally:
        destroy(aws_endpoint, region, mocks.recorded)


# -- the arguments ------------------------------------------------------------------


def test_folder_prefixes_end_in_a_slash_and_appear_once():
    from infra.storage import FileStorageArgs

    args = FileStorageArgs(
        bucket_name="nordwind-exchange-files",
        folders=("invoices", "invoices/", "invoices-archive/"),
        tags={},
    )
    assert args.folder_prefixes == ("invoices/", "invoices-archive/")


def test_a_file_storage_without_folders_is_refused():
    from infra.storage import FileStorageArgs

    with pytest.raises(ValueError, match="no folder"):
        FileStorageArgs(bucket_name="nordwind-exchange-files", folders=(), tags={})


def test_long_prefixes_get_distinct_rule_ids_that_s3_accepts():
    from infra.storage import RULE_ID_LENGTH, lifecycle_rule_id

    common = "a/" * 140
    first, second = lifecycle_rule_id(f"{common}x/"), lifecycle_rule_id(f"{common}y/")
    assert first != second
    assert len(first) <= RULE_ID_LENGTH and len(second) <= RULE_ID_LENGTH
    assert lifecycle_rule_id("invoices/incoming/") == "invoices/incoming/"
