"""The file storage of option 4: a private, encrypted, versioned S3 bucket.

Files go up or come down over HTTPS, each transfer with a short-lived ticket
(a presigned URL) scoped to one exchange's folder. Nobody reaches the bucket
without such a ticket or the platform's own credentials: public access is
blocked, ACLs are off and plain HTTP is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# S3 refuses a lifecycle rule ID longer than this; a folder may have 512
# characters.
RULE_ID_LENGTH = 255


@dataclass
class FileStorageArgs:
    bucket_name: str
    # The exchanges' folders, e.g. "invoices/incoming/".
    folders: tuple[str, ...]
    tags: dict[str, str]
    # How long an overwritten or deleted file can still be restored.
    noncurrent_version_days: int = 30
    # How long an interrupted upload may be resumed before its parts go.
    incomplete_upload_days: int = 1
    # Lets `pulumi destroy` delete a bucket that still holds files (and every
    # version of them): for the simulator's throw-away stacks, not for AWS.
    force_destroy: bool = False

    def __post_init__(self) -> None:
        if not self.folders:
            raise ValueError(f"bucket {self.bucket_name}: no folder to store files in")
        for field in ("noncurrent_version_days", "incomplete_upload_days"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1 day")

    @property
    def folder_prefixes(self) -> tuple[str, ...]:
        """The key prefix of each folder, ending in "/", each once.

        Without the slash, folder "invoices" would also cover the keys of
        "invoices-archive/", for lifecycle rules and for tickets alike.
        """
        prefixes = (f if f.endswith("/") else f"{f}/" for f in self.folders)
        return tuple(dict.fromkeys(prefixes))


def lifecycle_rule_id(prefix: str) -> str:
    """The folder's prefix itself, so that ops recognise the rule in the console.

    A prefix too long for an ID is cut, and a digest of the whole keeps two
    long prefixes that start alike apart.
    """
    if len(prefix) <= RULE_ID_LENGTH:
        return prefix
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
    return f"{prefix[: RULE_ID_LENGTH - len(digest) - 1]}~{digest}"


class FileStorage(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: FileStorageArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("exchange:infra:FileStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=args.force_destroy,
            tags=args.tags,
            opts=child,
        )
        bucket = self.bucket.bucket
        # Kept on destroy: when the bucket cannot be deleted (it still holds
        # files and force_destroy is off), it must not stay behind without
        # its block. Deleting the bucket removes the block with it.
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket,
            block_public_acls=True,
            ignore_public_acls=True,
            block_public_policy=True,
            restrict_public_buckets=True,
            skip_destroy=True,
            opts=child,
        )
        # ACLs off: the bucket owns every object, whoever uploaded it, and
        # only the policy and IAM decide access.
        self.ownership_controls = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        # SSE-KMS, the only encryption with a bucket key, under the account's
        # AWS-managed key (aws/s3): no key to manage here, and a customer
        # managed key (kms_master_key_id) can replace it to limit who may
        # decrypt. With the bucket key, S3 derives each object's key from
        # one bucket-level key instead of asking KMS every time. Tickets for
        # KMS-encrypted objects must be signed with SigV4.
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms"
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        # A file overwritten or deleted by mistake (or by a bad import) can be
        # restored until the lifecycle rules expire its old version.
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        # One rule per folder, so that each exchange's retention reads on its
        # own. Current files never expire: they are the customer's data, and
        # when they go is the exchange's decision, not the bucket's.
        self.folder_prefixes = args.folder_prefixes
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket,
            rules=[
                {
                    "id": lifecycle_rule_id(prefix),
                    "status": "Enabled",
                    "filter": {"prefix": prefix},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.noncurrent_version_days
                    },
                    # Parts of an interrupted upload are billed but invisible
                    # in a listing.
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": args.incomplete_upload_days
                    },
                    # A deleted file leaves a delete marker; once its old
                    # versions have expired the marker hides nothing, and
                    # S3 removes it instead of listing it forever.
                    "expiration": {"expired_object_delete_marker": True},
                }
                for prefix in self.folder_prefixes
            ],
            # Rules on noncurrent versions presume versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        # After the public access block: S3 refuses a policy change while
        # another configuration change of the same bucket is in progress
        # (OperationAborted), and the bucket never has a policy without
        # the block.
        self.tls_only_policy = aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyPlainHttp",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                self.bucket.arn,
                                pulumi.Output.concat(self.bucket.arn, "/*"),
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.public_access_block]
            ),
        )
        # S3 has no folders: a key "invoices/incoming/a.xml" can be written
        # whether or not anything else starts with "invoices/incoming/". So
        # no empty "folder" object is created; it would be one more object
        # that listings of a download exchange return as a file, that gets
        # versions, and that a customer can delete, "deleting the folder".

        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.bucket_arn: pulumi.Output[str] = self.bucket.arn
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "folderPrefixes": list(self.folder_prefixes),
            }
        )
