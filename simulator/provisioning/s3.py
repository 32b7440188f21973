"""S3: the file storage bucket for option 4 and its configurations.

The bucket's settings are separate resources in pulumi-aws (public access
block, ownership controls, encryption, versioning, lifecycle, policy), each
with the bucket's name as its id, as the provider does.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from botocore.exceptions import ClientError

from simulator.provisioning.base import Clients, Handler, ProvisioningError, tag_list

BUCKET = "aws:s3/bucket:Bucket"

# The Route 53 hosted zone of S3's website endpoints, by region: the
# provider's `hostedZoneId` (AWS publishes these; they cannot be asked for).
HOSTED_ZONE_IDS = {
    "ap-northeast-1": "Z2M4EHUR26P7ZW",
    "ap-northeast-2": "Z3W03O7B5YMIYP",
    "ap-northeast-3": "Z2YQB5RD63NC85",
    "ap-south-1": "Z11RGJOFQNVJUP",
    "ap-southeast-1": "Z3O0J2DXBE1FTB",
    "ap-southeast-2": "Z1WCIGYICN2BYD",
    "ca-central-1": "Z1QDHH18159H29",
    "eu-central-1": "Z21DNDUVLTQW6Q",
    "eu-north-1": "Z3BAZG2TWCNX0D",
    "eu-west-1": "Z1BKCTXD74EZPE",
    "eu-west-2": "Z3GKZC51ZF0DB4",
    "eu-west-3": "Z3R1K369G5AVDG",
    "sa-east-1": "Z7KQH4QJS55SO",
    "us-east-1": "Z3AQBSTGFYJSTF",
    "us-east-2": "Z2O1EMRO9K5GLX",
    "us-west-1": "Z2F56UZL2M1ACD",
    "us-west-2": "Z3BJ6K6RIION7M",
}


@contextlib.contextmanager
def _gone_is_fine(*codes: str):
    """Deleting what is already gone succeeds, as the provider's delete does.

    `codes` are the service's ways of saying that the configuration is not
    there; a missing bucket means that none of its configurations is.
    """
    try:
        yield
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("NoSuchBucket", *codes):
            raise


# -- the bucket -----------------------------------------------------------------


def _bucket_name(name: str, inputs: dict[str, Any]) -> str:
    """The bucket's name, or one made up as the provider makes it up.

    Pulumi auto-names a bucket from its resource name, in lowercase, with a
    random suffix of 7 characters; a prefix gets a unique suffix of 26.
    """
    if inputs.get("bucket"):
        return inputs["bucket"]
    if inputs.get("bucketPrefix"):
        return f"{inputs['bucketPrefix']}{secrets.token_hex(13)}"
    return f"{name.lower()}-{secrets.token_hex(4)[:7]}"


def create_bucket(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    bucket = _bucket_name(name, inputs)
    # moto keeps buckets account-wide, and every stack of the simulator
    # runs in the one account: a name another customer took must be
    # refused here, as AWS refuses a taken name (S3-08). In us-east-1,
    # CreateBucket on a bucket the account owns answers 200 (and moto does
    # too), so the existence is asked first.
    if c.region == "us-east-1" and _exists(c, bucket):
        raise _name_taken(
            name,
            bucket,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you "
            "already own it.",
        )
    request: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 is the default location and refuses to be named as one.
    if c.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": c.region}
    if inputs.get("objectLockEnabled"):
        request["ObjectLockEnabledForBucket"] = True
    try:
        c.s3.create_bucket(**request)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise _name_taken(
                name, bucket, code, error.response["Error"]["Message"]
            ) from None
        raise
    if inputs.get("tags"):
        c.s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": tag_list(inputs["tags"])}
        )
    return bucket, {
        **inputs,
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{c.region}.amazonaws.com",
        "region": c.region,
        "bucketRegion": c.region,
        "hostedZoneId": HOSTED_ZONE_IDS.get(c.region, ""),
        "forceDestroy": bool(inputs.get("forceDestroy", False)),
        "objectLockEnabled": bool(inputs.get("objectLockEnabled", False)),
        "requestPayer": "BucketOwner",
        "tagsAll": dict(inputs.get("tags") or {}),
    }


def _exists(c: Clients, bucket: str) -> bool:
    try:
        c.s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return False
        raise
    return True


def _name_taken(name: str, bucket: str, code: str, message: str) -> ProvisioningError:
    return ProvisioningError(
        BUCKET,
        name,
        f"{code}: {message} Bucket {bucket!r} already exists: bucket names are "
        "unique across all accounts (S3-08), and in the simulator every "
        "customer's stack shares one account; choose another bucket name",
    )


def delete_bucket(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    if outputs.get("forceDestroy"):
        _empty(c, id_)
    try:
        c.s3.delete_bucket(Bucket=id_)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "NoSuchBucket":
            return
        if code == "BucketNotEmpty":
            # The provider refuses too, with S3's own error.
            raise ProvisioningError(
                BUCKET,
                id_,
                "BucketNotEmpty: the bucket you tried to delete is not empty: it "
                "still holds objects, object versions or delete markers; empty "
                "it, or set forceDestroy and apply before destroying",
            ) from None
        raise


def _empty(c: Clients, bucket: str) -> None:
    """Delete every object version, delete marker and unfinished upload."""
    with _gone_is_fine():
        # The versioning resource is deleted first, which suspends it; and
        # moto (5.2) deletes a version of a suspended bucket by dropping the
        # whole key, failing (500) on a key with a delete marker. The bucket
        # goes right after, so it is emptied with versioning on.
        versioning = c.s3.get_bucket_versioning(Bucket=bucket)
        if versioning.get("Status") == "Suspended":
            c.s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        for page in c.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            # A page has at most 1000 entries of each kind, and
            # DeleteObjects takes at most 1000 keys.
            for entries in (page.get("Versions", []), page.get("DeleteMarkers", [])):
                if not entries:
                    continue
                answer = c.s3.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Objects": [
                            {"Key": e["Key"], "VersionId": e["VersionId"]}
                            for e in entries
                        ],
                        "Quiet": True,
                    },
                )
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise ProvisioningError(
                        BUCKET,
                        bucket,
                        f"emptying the bucket failed for {len(answer['Errors'])} "
                        f"object versions, the first {first['Key']!r}: "
                        f"{first.get('Code')}: {first.get('Message')}",
                    )
        for page in c.s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket
        ):
            for upload in page.get("Uploads", []):
                with _gone_is_fine("NoSuchUpload"):
                    c.s3.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )


# -- the bucket's configurations --------------------------------------------------


def create_public_access_block(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    flags = {
        "BlockPublicAcls": "blockPublicAcls",
        "IgnorePublicAcls": "ignorePublicAcls",
        "BlockPublicPolicy": "blockPublicPolicy",
        "RestrictPublicBuckets": "restrictPublicBuckets",
    }
    c.s3.put_public_access_block(
        Bucket=inputs["bucket"],
        PublicAccessBlockConfiguration={
            flag: bool(inputs.get(key, False)) for flag, key in flags.items()
        },
    )
    return inputs["bucket"], {**inputs, "region": c.region}


def delete_public_access_block(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    if outputs.get("skipDestroy"):
        return  # left to go with the bucket
    with _gone_is_fine("NoSuchPublicAccessBlockConfiguration"):
        c.s3.delete_public_access_block(Bucket=id_)


def create_ownership_controls(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    c.s3.put_bucket_ownership_controls(
        Bucket=inputs["bucket"],
        OwnershipControls={
            "Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]
        },
    )
    return inputs["bucket"], {**inputs, "region": c.region}


def delete_ownership_controls(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine("OwnershipControlsNotFoundError"):
        c.s3.delete_bucket_ownership_controls(Bucket=id_)


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    default = rule.get("applyServerSideEncryptionByDefault")
    if default:
        request["ApplyServerSideEncryptionByDefault"] = {
            "SSEAlgorithm": default["sseAlgorithm"]
        }
        if default.get("kmsMasterKeyId"):
            request["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default[
                "kmsMasterKeyId"
            ]
    if "bucketKeyEnabled" in rule:
        request["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
    return request


def _configuration_id(inputs: dict[str, Any]) -> str:
    """The provider's id: the bucket, with the expected owner when given."""
    owner = inputs.get("expectedBucketOwner")
    return f"{inputs['bucket']},{owner}" if owner else inputs["bucket"]


def _bucket_of(id_: str) -> str:
    return id_.split(",", 1)[0]


def create_encryption(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    c.s3.put_bucket_encryption(
        Bucket=inputs["bucket"],
        ServerSideEncryptionConfiguration={
            "Rules": [_encryption_rule(rule) for rule in inputs["rules"]]
        },
    )
    return _configuration_id(inputs), {**inputs, "region": c.region}


def delete_encryption(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    # S3 falls back to its default encryption (SSE-S3), as on AWS.
    with _gone_is_fine("ServerSideEncryptionConfigurationNotFoundError"):
        c.s3.delete_bucket_encryption(Bucket=_bucket_of(id_))


def create_versioning(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    configuration = inputs["versioningConfiguration"]
    # "Disabled" declares a bucket that was never versioned: nothing to put.
    if configuration["status"] != "Disabled":
        request: dict[str, Any] = {"Status": configuration["status"]}
        extra: dict[str, Any] = {}
        if configuration.get("mfaDelete"):
            # Changing MFA delete needs the device's serial number and code.
            request["MFADelete"] = configuration["mfaDelete"]
            extra["MFA"] = inputs["mfa"]
        c.s3.put_bucket_versioning(
            Bucket=inputs["bucket"], VersioningConfiguration=request, **extra
        )
    return _configuration_id(inputs), {**inputs, "region": c.region}


def delete_versioning(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    # Versioning cannot be turned off, only suspended: the provider's delete.
    if outputs["versioningConfiguration"]["status"] == "Disabled":
        return
    with _gone_is_fine():
        c.s3.put_bucket_versioning(
            Bucket=_bucket_of(id_), VersioningConfiguration={"Status": "Suspended"}
        )


# A lifecycle rule's wire names and S3's names for them.
_LIFECYCLE_FIELDS = {
    "id": "ID",
    "status": "Status",
    "prefix": "Prefix",
    "filter": "Filter",
    "and": "And",
    "tag": "Tag",
    "tags": "Tags",
    "key": "Key",
    "value": "Value",
    "objectSizeGreaterThan": "ObjectSizeGreaterThan",
    "objectSizeLessThan": "ObjectSizeLessThan",
    "expiration": "Expiration",
    "date": "Date",
    "days": "Days",
    "expiredObjectDeleteMarker": "ExpiredObjectDeleteMarker",
    "noncurrentVersionExpiration": "NoncurrentVersionExpiration",
    "noncurrentDays": "NoncurrentDays",
    "newerNoncurrentVersions": "NewerNoncurrentVersions",
    "abortIncompleteMultipartUpload": "AbortIncompleteMultipartUpload",
    "daysAfterInitiation": "DaysAfterInitiation",
    "transitions": "Transitions",
    "noncurrentVersionTransitions": "NoncurrentVersionTransitions",
    "storageClass": "StorageClass",
}


def _lifecycle_request(value: Any, field: str = "") -> Any:
    """A lifecycle rule from its wire form (camelCase, numbers as floats)."""
    if field == "tags":  # a map in the program, a list of tags in S3
        return [{"Key": k, "Value": v} for k, v in value.items()]
    if isinstance(value, dict):
        request = {}
        for key, item in value.items():
            if key not in _LIFECYCLE_FIELDS:
                raise NotImplementedError(
                    f"the simulator cannot translate lifecycle field {key!r} yet"
                )
            request[_LIFECYCLE_FIELDS[key]] = _lifecycle_request(item, key)
        return request
    if isinstance(value, list):
        return [_lifecycle_request(item) for item in value]
    if isinstance(value, float):
        return int(value)
    return value


def create_lifecycle(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    rules = []
    for rule in inputs["rules"]:
        request = _lifecycle_request(rule)
        # A rule without a filter covers the whole bucket (the provider
        # sends an empty prefix).
        if "Filter" not in request:
            request["Filter"] = {"Prefix": request.pop("Prefix", "")}
        rules.append(request)
    c.s3.put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
    )
    return _configuration_id(inputs), {**inputs, "region": c.region}


def delete_lifecycle(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine("NoSuchLifecycleConfiguration"):
        c.s3.delete_bucket_lifecycle(Bucket=_bucket_of(id_))


def create_policy(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    policy = inputs["policy"]
    if not isinstance(policy, str):  # a policy document given as an object
        policy = json.dumps(policy)
    c.s3.put_bucket_policy(Bucket=inputs["bucket"], Policy=policy)
    return inputs["bucket"], {**inputs, "policy": policy, "region": c.region}


def delete_policy(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    with _gone_is_fine("NoSuchBucketPolicy"):
        c.s3.delete_bucket_policy(Bucket=id_)


HANDLERS = {
    BUCKET: Handler(create_bucket, delete_bucket),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Handler(
        create_public_access_block, delete_public_access_block
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Handler(
        create_ownership_controls, delete_ownership_controls
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration": Handler(
        create_encryption, delete_encryption
    ),
    "aws:s3/bucketVersioning:BucketVersioning": Handler(
        create_versioning, delete_versioning
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Handler(
        create_lifecycle, delete_lifecycle
    ),
    "aws:s3/bucketPolicy:BucketPolicy": Handler(create_policy, delete_policy),
}
