"""RDS resources: subnet groups, parameter groups, MySQL instances."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from simulator.provisioning.base import Clients, Handler, ProvisioningError, tag_list


def _ignore_missing(error: ClientError) -> None:
    if "NotFound" not in error.response["Error"]["Code"]:
        raise error


def create_subnet_group(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    subnets = c.ec2.describe_subnets(SubnetIds=inputs["subnetIds"])["Subnets"]
    zones = {s["AvailabilityZone"] for s in subnets}
    # moto accepts a one-zone group; AWS refuses it (RDS-17).
    if len(zones) < 2:
        raise ProvisioningError(
            "aws:rds/subnetGroup:SubnetGroup",
            name,
            "DBSubnetGroupDoesNotCoverEnoughAZs: the DB subnet group must "
            f"cover at least 2 availability zones, it covers {sorted(zones)}",
        )
    group = c.rds.create_db_subnet_group(
        DBSubnetGroupName=inputs["name"],
        DBSubnetGroupDescription=inputs.get("description", "Managed by Pulumi"),
        SubnetIds=inputs["subnetIds"],
        Tags=tag_list(inputs.get("tags")),
    )["DBSubnetGroup"]
    return group["DBSubnetGroupName"], {**inputs, "arn": group["DBSubnetGroupArn"]}


def delete_subnet_group(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    try:
        c.rds.delete_db_subnet_group(DBSubnetGroupName=id_)
    except ClientError as error:
        _ignore_missing(error)


def create_parameter_group(
    c: Clients, name: str, inputs: dict[str, Any]
) -> tuple[str, dict]:
    group_name = inputs["name"]
    group = c.rds.create_db_parameter_group(
        DBParameterGroupName=group_name,
        DBParameterGroupFamily=inputs["family"],
        Description=inputs.get("description", "Managed by Pulumi"),
        Tags=tag_list(inputs.get("tags")),
    )["DBParameterGroup"]
    parameters = [
        {
            "ParameterName": p["name"],
            "ParameterValue": p["value"],
            "ApplyMethod": p.get("applyMethod", "immediate"),
        }
        for p in inputs.get("parameters", [])
    ]
    if parameters:
        c.rds.modify_db_parameter_group(
            DBParameterGroupName=group_name, Parameters=parameters
        )
    return group_name, {**inputs, "arn": group["DBParameterGroupArn"]}


def delete_parameter_group(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    try:
        c.rds.delete_db_parameter_group(DBParameterGroupName=id_)
    except ClientError as error:
        _ignore_missing(error)


def create_instance(c: Clients, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    kwargs: dict[str, Any] = {
        "DBInstanceIdentifier": inputs["identifier"],
        "Engine": inputs["engine"],
        "EngineVersion": inputs.get("engineVersion"),
        "DBInstanceClass": inputs["instanceClass"],
        "AllocatedStorage": int(inputs["allocatedStorage"]),
        "StorageType": inputs.get("storageType", "gp2"),
        "StorageEncrypted": bool(inputs.get("storageEncrypted", False)),
        "PubliclyAccessible": bool(inputs.get("publiclyAccessible", False)),
        "MultiAZ": bool(inputs.get("multiAz", False)),
        "DBName": inputs.get("dbName"),
        "Port": int(inputs.get("port", 3306)),
        "MasterUsername": inputs["username"],
        "DBSubnetGroupName": inputs["dbSubnetGroupName"],
        "DBParameterGroupName": inputs.get("parameterGroupName"),
        "VpcSecurityGroupIds": inputs.get("vpcSecurityGroupIds", []),
        "BackupRetentionPeriod": int(inputs.get("backupRetentionPeriod", 1)),
        "DeletionProtection": bool(inputs.get("deletionProtection", False)),
        "Tags": tag_list(inputs.get("tags")),
    }
    if inputs.get("manageMasterUserPassword"):
        kwargs["ManageMasterUserPassword"] = True
    else:
        kwargs["MasterUserPassword"] = inputs["password"]
    instance = c.rds.create_db_instance(
        **{k: v for k, v in kwargs.items() if v is not None}
    )["DBInstance"]
    address = instance["Endpoint"]["Address"]
    port = instance["Endpoint"]["Port"]
    secret = instance.get("MasterUserSecret")
    return instance["DbiResourceId"], {
        **{k: v for k, v in inputs.items() if k != "password"},
        "arn": instance["DBInstanceArn"],
        "address": address,
        "port": port,
        "endpoint": f"{address}:{port}",
        "resourceId": instance["DbiResourceId"],
        "status": instance.get("DBInstanceStatus", "available"),
        "masterUserSecrets": (
            [
                {
                    "secretArn": secret["SecretArn"],
                    "kmsKeyId": secret.get("KmsKeyId", ""),
                    "secretStatus": secret.get("SecretStatus", "active"),
                }
            ]
            if secret
            else []
        ),
    }


def delete_instance(c: Clients, id_: str, outputs: dict[str, Any]) -> None:
    identifier = outputs["identifier"]
    if outputs.get("deletionProtection"):
        # The provider refuses too: protection must be turned off first.
        raise ProvisioningError(
            "aws:rds/instance:Instance",
            identifier,
            "deletion protection is on; set deletionProtection to false and "
            "apply before destroying",
        )
    try:
        c.rds.delete_db_instance(
            DBInstanceIdentifier=identifier,
            SkipFinalSnapshot=bool(outputs.get("skipFinalSnapshot", False)),
            **(
                {}
                if outputs.get("skipFinalSnapshot")
                else {
                    "FinalDBSnapshotIdentifier": outputs.get("finalSnapshotIdentifier")
                    or f"{identifier}-final"
                }
            ),
            DeleteAutomatedBackups=True,
        )
    except ClientError as error:
        _ignore_missing(error)
    for secret in outputs.get("masterUserSecrets") or []:
        # RDS deletes the secret it manages with the instance.
        try:
            c.secretsmanager.delete_secret(
                SecretId=secret["secretArn"], ForceDeleteWithoutRecovery=True
            )
        except ClientError as error:
            _ignore_missing(error)


HANDLERS = {
    "aws:rds/subnetGroup:SubnetGroup": Handler(
        create_subnet_group, delete_subnet_group
    ),
    "aws:rds/parameterGroup:ParameterGroup": Handler(
        create_parameter_group, delete_parameter_group
    ),
    "aws:rds/instance:Instance": Handler(create_instance, delete_instance),
}
