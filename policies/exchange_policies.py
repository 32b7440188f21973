"""What no customer stack may be: the policies of the exchange policy pack.

The policies are ordinary CrossGuard policies (`pulumi_policy`), written once
and used twice:

- against AWS, the Pulumi CLI runs them as a policy pack
  (`pulumi preview --policy-pack policies/`, see `policies/__main__.py`);
- in the simulator, where there is no CLI, `check_resource` and
  `check_stack` call the very same policy objects on the resources that the
  mocks saw, with real `pulumi_policy` argument objects.

A resource policy sees the resource's inputs as the program declared them
(camelCase wire names, numbers possibly floats); a stack policy sees every
resource's outputs (which, for pulumi-aws, carry the inputs too) and, on the
root `pulumi:pulumi:Stack` resource, the stack's exports. A secret is seen
as its plain value by the pack and as "[secret]" in the simulator's record;
messages name what is missing or wrong, never a secret's value.

Each violation is reported as one text, the message and then the fix after
`FIX_MARKER`, so that the CLI prints both and `check_resource` can split them
again.

This module imports nothing of the project: the CLI runs the pack in a
virtualenv of its own, with only `policies/` on the path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The same wrapper the pack puts around every resource's properties: it
# raises UnknownValueError on a value not known during preview. The
# simulator's checks go through it too, so that both run the same code.
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

__all__ = [
    "EGRESS_IPS",
    "POLICIES",
    "Violation",
    "check_resource",
    "check_stack",
]

# The stack output listing the NAT gateways' Elastic IPs. The program's name
# for it is infra.outputs.EGRESS_IPS; the pack cannot import infra (it runs
# in its own virtualenv), so the name is repeated here and a test keeps the
# two equal.
EGRESS_IPS = "egressIps"

# How the simulator's record shows a secret value.
SECRET_MARKER = "[secret]"

# The tag by which the program records that a customer's configuration opts
# out of TLS for a database: the parameter group then says so where the pack
# and a console reader both see it.
TLS_TAG = "exchange:tls"
TLS_OPTIONAL = "optional"

FIX_MARKER = "\nFix: "

ROOT_STACK = "pulumi:pulumi:Stack"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_INGRESS_RULE = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
)
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
ELASTIC_IP = "aws:ec2/eip:Eip"

# Database ports that must never be open to the whole internet (MY-01, RDS-09).
DATABASE_PORTS = {
    3306: "MySQL/MariaDB",
    5432: "PostgreSQL",
    1433: "SQL Server",
    1521: "Oracle",
    6379: "Redis",
    27017: "MongoDB",
}
_ALL_PROTOCOLS = {"-1", "all"}
# Every database above speaks TCP.
_TCP = {"tcp", "6"}

# The S3 public access block's four settings, with their Python argument names.
PUBLIC_ACCESS_SETTINGS = {
    "blockPublicAcls": "block_public_acls",
    "blockPublicPolicy": "block_public_policy",
    "ignorePublicAcls": "ignore_public_acls",
    "restrictPublicBuckets": "restrict_public_buckets",
}

# What each tunnel of a VPN connection needs from the exchange configuration.
TUNNEL_SETTINGS = {
    "tunnel1InsideCidr": ("tunnel 1 inside CIDR", "tunnel1_inside_cidr"),
    "tunnel1PresharedKey": ("tunnel 1 pre-shared key", "tunnel1_preshared_key"),
    "tunnel2InsideCidr": ("tunnel 2 inside CIDR", "tunnel2_inside_cidr"),
    "tunnel2PresharedKey": ("tunnel 2 pre-shared key", "tunnel2_preshared_key"),
}


@dataclass(frozen=True)
class Violation:
    """One policy violation: which policy, on which resource, what and how to fix."""

    policy: str
    resource: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.policy}: {self.resource}: {self.message}; {self.fix}"


def _report(
    report: ReportViolation, message: str, fix: str, urn: str | None = None
) -> None:
    report(f"{message}{FIX_MARKER}{fix}", urn)


# -- reading properties ------------------------------------------------------


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _is_set(value: Any) -> bool:
    """Whether a setting has a value; a masked secret ("[secret]") has one."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def _strings(value: Any) -> tuple[str, ...]:
    """A string or a list of strings as a tuple (the pack's lists are proxies)."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Sequence):
        return tuple(str(item) for item in value if item)
    return ()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _records(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [item for item in value if isinstance(item, Mapping)]
    return []


_UNKNOWN = object()


def _known(props: Mapping[str, Any], key: str) -> Any:
    """`props[key]`, None when absent, `_UNKNOWN` when not known until the update."""
    try:
        return props.get(key)
    except UnknownValueError:
        return _UNKNOWN


# -- RDS -----------------------------------------------------------------------


def _rds_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != RDS_INSTANCE:
        return
    if _is_true(args.props.get("publiclyAccessible")):
        _report(
            report,
            "the instance is publicly accessible (publiclyAccessible=true), so "
            "it gets a public address (RDS-13)",
            "set publicly_accessible=False; the customer reaches the database "
            "over the site-to-site VPN (RDS-14)",
        )


def _rds_storage_encrypted(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    if args.resource_type != RDS_INSTANCE:
        return
    if not _is_true(args.props.get("storageEncrypted")):
        _report(
            report,
            "the instance's storage is not encrypted: storageEncrypted is off, "
            "as by default (RDS-15)",
            "set storage_encrypted=True; encryption is chosen only when an "
            "instance is created, so this replaces the instance (RDS-15)",
        )


def _tls_on_by_default(mysql_version: str) -> bool:
    """RDS turns require_secure_transport on by default from MySQL 9 (RDS-21)."""
    major = re.match(r"\d+", mysql_version)
    return major is not None and int(major.group()) >= 9


def _require_secure_transport(props: Mapping[str, Any]) -> str | None:
    for parameter in _records(props.get("parameters")):
        if parameter.get("name") == "require_secure_transport":
            return str(parameter.get("value", ""))
    return None


def _rds_tls_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == RDS_PARAMETER_GROUP:
        family = str(args.props.get("family") or "")
        if not family.startswith(("mysql", "mariadb")):
            return
        if _mapping(args.props.get("tags")).get(TLS_TAG) == TLS_OPTIONAL:
            return  # the customer's configuration opts out, visibly
        value = _require_secure_transport(args.props)
        opt_out = (
            "or, if the customer's configuration opts out of TLS, tag the "
            f"parameter group {TLS_TAG}={TLS_OPTIONAL}"
        )
        if value is None:
            if family.startswith("mysql") and _tls_on_by_default(
                family.removeprefix("mysql")
            ):
                return
            _report(
                report,
                f"the {family} parameter group does not set "
                "require_secure_transport, which is off by default, so clients "
                "may connect without TLS (RDS-21, MY-08)",
                f"add the parameter require_secure_transport=1 {opt_out}",
            )
        elif value.strip().lower() not in {"1", "on", "true"}:
            _report(
                report,
                f"the parameter group sets require_secure_transport={value}, so "
                "clients may connect without TLS (RDS-21, MY-08)",
                f"set require_secure_transport=1 {opt_out}",
            )
    elif args.resource_type == RDS_INSTANCE:
        engine = str(args.props.get("engine") or "")
        if engine not in {"mysql", "mariadb"}:
            return
        if _is_set(args.props.get("parameterGroupName")):
            return
        version = str(args.props.get("engineVersion") or "")
        if engine == "mysql" and _tls_on_by_default(version):
            return
        _report(
            report,
            "the instance has no parameter group of its own, and in the "
            "engine's default one require_secure_transport is off (RDS-21)",
            "set parameter_group_name to a parameter group of the stack that "
            "sets require_secure_transport=1",
        )


def _rds_parameter_group_of_stack(
    args: StackValidationArgs, report: ReportViolation
) -> None:
    groups = {
        str(r.props.get("name"))
        for r in args.resources
        if r.resource_type == RDS_PARAMETER_GROUP
        and _known(r.props, "name") is not _UNKNOWN
        and _is_set(r.props.get("name"))
    }
    for instance in args.resources:
        if instance.resource_type != RDS_INSTANCE:
            continue
        if str(instance.props.get("engine") or "") not in {"mysql", "mariadb"}:
            continue
        name = _known(instance.props, "parameterGroupName")
        if name is _UNKNOWN or not _is_set(name) or str(name) in groups:
            continue  # no name at all is rds-tls-required's finding
        _report(
            report,
            f"the instance uses the parameter group {name}, which is not one of "
            "the stack's, so nothing here makes it require TLS (RDS-21)",
            "set parameter_group_name to the name of the stack's own parameter "
            "group (the one that sets require_secure_transport=1)",
            instance.urn,
        )


# -- security groups ---------------------------------------------------------


@dataclass(frozen=True)
class _Ingress:
    """One ingress rule, whichever resource type declares it."""

    where: str
    protocol: str
    from_port: int | None
    to_port: int | None
    sources: tuple[str, ...]


def _protocol(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value))
    return str(value if value is not None else "").strip().lower()


def _port(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _ingress_rules(args: ResourceValidationArgs) -> Iterator[_Ingress]:
    props = args.props
    if args.resource_type == SECURITY_GROUP:
        for index, rule in enumerate(_records(props.get("ingress"))):
            yield _Ingress(
                f"ingress rule {index + 1}",
                _protocol(rule.get("protocol")),
                _port(rule.get("fromPort")),
                _port(rule.get("toPort")),
                _strings(rule.get("cidrBlocks")) + _strings(rule.get("ipv6CidrBlocks")),
            )
    elif args.resource_type == SECURITY_GROUP_INGRESS_RULE:
        yield _Ingress(
            "the rule",
            _protocol(props.get("ipProtocol")),
            _port(props.get("fromPort")),
            _port(props.get("toPort")),
            _strings(props.get("cidrIpv4")) + _strings(props.get("cidrIpv6")),
        )
    elif args.resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        yield _Ingress(
            "the rule",
            _protocol(props.get("protocol")),
            _port(props.get("fromPort")),
            _port(props.get("toPort")),
            _strings(props.get("cidrBlocks")) + _strings(props.get("ipv6CidrBlocks")),
        )


def _is_anywhere(cidr: str) -> bool:
    """0.0.0.0/0 or ::/0, however written."""
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _exposed(rule: _Ingress) -> str | None:
    """What of the databases' ports a rule opens, in words; None if none."""
    if rule.protocol in _ALL_PROTOCOLS:
        return "every protocol and port"
    if rule.protocol not in _TCP:
        return None
    low = rule.from_port if rule.from_port is not None else 0
    high = rule.to_port if rule.to_port is not None else 65535
    ports = [f"{p} ({db})" for p, db in DATABASE_PORTS.items() if low <= p <= high]
    return ", ".join(ports) if ports else None


def _no_open_database_port(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    for rule in _ingress_rules(args):
        anywhere = [cidr for cidr in rule.sources if _is_anywhere(cidr)]
        if not anywhere:
            continue
        exposed = _exposed(rule)
        if exposed is None:
            continue
        _report(
            report,
            f"{rule.where} admits {' and '.join(anywhere)}, the whole internet, "
            f"to {exposed}; security groups only allow, so no other rule narrows "
            "this (SG-05)",
            "admit only the customer's networks, each as its own CIDR block "
            "(a single address as /32, SG-04), and reach databases over the "
            "site-to-site VPN (RDS-14)",
        )


# -- S3 ------------------------------------------------------------------------


def _s3_public_access_blocked(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    if args.resource_type != BUCKET_PUBLIC_ACCESS_BLOCK:
        return
    off = [
        python_name
        for wire_name, python_name in PUBLIC_ACCESS_SETTINGS.items()
        if not _is_true(args.props.get(wire_name))
    ]
    if off:
        _report(
            report,
            f"the public access block leaves {', '.join(off)} off, so the bucket "
            "or its objects can be made public",
            f"set {', '.join(f'{name}=True' for name in off)}",
        )


def _s3_bucket_has_public_access_block(
    args: StackValidationArgs, report: ReportViolation
) -> None:
    blocked = {
        str(r.props.get("bucket"))
        for r in args.resources
        if r.resource_type == BUCKET_PUBLIC_ACCESS_BLOCK
        and _known(r.props, "bucket") is not _UNKNOWN
        and _is_set(r.props.get("bucket"))
    }
    for bucket in args.resources:
        if bucket.resource_type != BUCKET:
            continue
        name = _known(bucket.props, "bucket")
        if name is _UNKNOWN:
            continue  # preview: auto-named, known once created
        if not _is_set(name):
            _report(
                report,
                "the bucket has no name, so no public access block can be "
                "matched to it",
                "name the bucket (bucket=...) and add an "
                "aws.s3.BucketPublicAccessBlock with bucket=<that name>",
                bucket.urn,
            )
        elif str(name) not in blocked:
            _report(
                report,
                f"no public access block names the bucket {name}, so nothing "
                "stops it or its objects from being made public",
                f"add an aws.s3.BucketPublicAccessBlock with bucket={name!r} and "
                "all four settings True",
                bucket.urn,
            )


# -- VPN -----------------------------------------------------------------------


def _vpn_both_tunnels_configured(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    if args.resource_type != VPN_CONNECTION:
        return
    # Only whether each setting is there: a pre-shared key's value is never
    # read into a message.
    missing = [
        (label, python_name)
        for wire_name, (label, python_name) in TUNNEL_SETTINGS.items()
        if not _is_set(args.props.get(wire_name))
    ]
    if missing:
        _report(
            report,
            f"not set: {', '.join(label for label, _ in missing)}; AWS would "
            "choose them itself (VPN-06, VPN-08), the customer's device would "
            "not know them, and the tunnel would not come up (VPN-01)",
            f"set {', '.join(name for _, name in missing)} on the connection "
            "from the tunnels of the exchange configuration",
        )


# -- egress IPs ----------------------------------------------------------------


def _is_public_nat(gateway: PolicyResource) -> bool:
    # A private NAT gateway has no Elastic IP and is never whitelisted (NAT-02).
    return _known(gateway.props, "connectivityType") in (None, "public", _UNKNOWN)


def _nat_addresses(args: StackValidationArgs) -> dict[str, Any]:
    """Each public NAT gateway's address by gateway name: str, None or _UNKNOWN.

    The NAT gateway's own `publicIp` if it has one, else that of the Elastic
    IP whose allocation it names (the simulator's inputs name only that).
    """
    elastic_ips: dict[Any, Any] = {}
    for eip in args.resources:
        if eip.resource_type == ELASTIC_IP:
            allocation = _known(eip.props, "allocationId")
            if allocation is not _UNKNOWN and allocation is not None:
                elastic_ips[str(allocation)] = _known(eip.props, "publicIp")
    addresses: dict[str, Any] = {}
    for gateway in args.resources:
        if gateway.resource_type != NAT_GATEWAY or not _is_public_nat(gateway):
            continue
        address = _known(gateway.props, "publicIp")
        if address is None:
            allocation = _known(gateway.props, "allocationId")
            if allocation is _UNKNOWN:
                address = _UNKNOWN
            elif allocation is not None:
                address = elastic_ips.get(str(allocation))
        addresses[gateway.name] = address
    return addresses


def _egress_ips_exported(args: StackValidationArgs, report: ReportViolation) -> None:
    nat_addresses = _nat_addresses(args)
    if not nat_addresses:
        return
    stack = next((r for r in args.resources if r.resource_type == ROOT_STACK), None)
    urn = stack.urn if stack is not None else None
    exports: Mapping[str, Any] = stack.props if stack is not None else {}
    count = len(nat_addresses)
    export_fix = (
        f"export every NAT gateway's Elastic IP: pulumi.export({EGRESS_IPS!r}, "
        "[each Eip's public_ip])"
    )
    # Iterating gives the keys without touching values unknown in preview.
    if EGRESS_IPS not in list(exports):
        _report(
            report,
            f"the stack has {count} NAT gateway(s) but does not export "
            f"{EGRESS_IPS}, so the customer cannot whitelist the platform's "
            "addresses (NAT-01, NAT-06)",
            export_fix,
            urn,
        )
        return
    listed = _known(exports, EGRESS_IPS)
    if listed is _UNKNOWN:
        return  # preview: the addresses exist only once allocated
    if listed == SECRET_MARKER:
        _report(
            report,
            f"{EGRESS_IPS} is exported as a secret, but it is what the customer "
            "must read to whitelist the platform (NAT-06)",
            f"export {EGRESS_IPS} in the clear (not through pulumi.Output.secret)",
            urn,
        )
        return
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        _report(
            report,
            f"{EGRESS_IPS} is not a list of addresses (NAT-06)",
            export_fix,
            urn,
        )
        return
    entries = [_known_item(listed, index) for index in range(len(listed))]
    known = [entry for entry in entries if entry is not _UNKNOWN]
    invalid = [str(entry) for entry in known if not _is_ip_address(entry)]
    if invalid:
        _report(
            report,
            f"{EGRESS_IPS} lists {', '.join(invalid)}, which is not an IP address",
            export_fix,
            urn,
        )
    # Addresses not known yet (preview) cannot be told apart: count them all.
    distinct = len(entries) if len(known) < len(entries) else len(set(map(str, known)))
    if distinct != count:
        _report(
            report,
            f"{EGRESS_IPS} lists {distinct} address(es) for "
            f"{count} NAT gateway(s); the customer must whitelist every NAT "
            "gateway's Elastic IP (NAT-06, NAT-10)",
            export_fix,
            urn,
        )
    exported = set(map(str, known))
    for gateway, address in sorted(nat_addresses.items()):
        if isinstance(address, str) and address and address not in exported:
            _report(
                report,
                f"{EGRESS_IPS} does not list {address}, the address of the NAT "
                f"gateway {gateway} (NAT-06)",
                export_fix,
                urn,
            )


def _known_item(items: Sequence[Any], index: int) -> Any:
    try:
        return items[index]
    except UnknownValueError:
        return _UNKNOWN


def _is_ip_address(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


# -- the policies --------------------------------------------------------------

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="rds-not-public",
        description="RDS instances are not publicly accessible; customers reach "
        "them over the site-to-site VPN (RDS-13, RDS-14).",
        validate=_rds_not_public,
        remediation_steps="Set publicly_accessible=False on the aws.rds.Instance.",
    ),
    ResourceValidationPolicy(
        name="rds-storage-encrypted",
        description="RDS instances encrypt their storage; it can only be chosen "
        "at creation (RDS-15).",
        validate=_rds_storage_encrypted,
        remediation_steps="Set storage_encrypted=True on the aws.rds.Instance.",
    ),
    ResourceValidationPolicy(
        name="rds-tls-required",
        description="MySQL databases require TLS: their parameter group sets "
        "require_secure_transport=1, unless the customer's configuration opts "
        f"out, recorded as the tag {TLS_TAG}={TLS_OPTIONAL} (RDS-21, MY-08).",
        validate=_rds_tls_required,
        remediation_steps="Give the instance a parameter group of its own with "
        "require_secure_transport=1.",
    ),
    StackValidationPolicy(
        name="rds-parameter-group-of-stack",
        description="Each MySQL instance uses a parameter group of the stack, "
        "where rds-tls-required can see that it requires TLS (RDS-21).",
        validate=_rds_parameter_group_of_stack,
        remediation_steps="Set parameter_group_name to the stack's parameter "
        "group's name.",
    ),
    ResourceValidationPolicy(
        name="no-open-database-port",
        description="No security group rule admits 0.0.0.0/0 or ::/0 to a "
        "database port (3306, 5432, 1433, 1521, 6379, 27017) or to every port "
        "(SG-04, SG-05, RDS-14).",
        validate=_no_open_database_port,
        remediation_steps="Admit only the customer's networks, one CIDR block each.",
    ),
    ResourceValidationPolicy(
        name="s3-public-access-blocked",
        description="S3 public access blocks turn on all four settings.",
        validate=_s3_public_access_blocked,
        remediation_steps="Set block_public_acls, block_public_policy, "
        "ignore_public_acls and restrict_public_buckets to True.",
    ),
    StackValidationPolicy(
        name="s3-bucket-has-public-access-block",
        description="Every S3 bucket has a public access block naming it.",
        validate=_s3_bucket_has_public_access_block,
        remediation_steps="Add an aws.s3.BucketPublicAccessBlock for each bucket.",
    ),
    ResourceValidationPolicy(
        name="vpn-both-tunnels-configured",
        description="VPN connections configure both tunnels: inside CIDR and "
        "pre-shared key of each, from the exchange configuration (VPN-01, "
        "VPN-06, VPN-08).",
        validate=_vpn_both_tunnels_configured,
        remediation_steps="Set tunnel1_inside_cidr, tunnel1_preshared_key, "
        "tunnel2_inside_cidr and tunnel2_preshared_key.",
    ),
    StackValidationPolicy(
        name="egress-ips-exported",
        description=f"A stack with NAT gateways exports {EGRESS_IPS}: one "
        "address per NAT gateway, for the customer's whitelist (NAT-01, NAT-06, "
        "NAT-10).",
        validate=_egress_ips_exported,
        remediation_steps=f"Export {EGRESS_IPS} with every NAT gateway's Elastic IP.",
    ),
]


# -- calling the policies without the CLI ------------------------------------


def _options() -> PolicyResourceOptions:
    """The options of a resource declared without any (all the mocks know)."""
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def _violation(policy: str, resource: str, text: str) -> Violation:
    message, _, fix = text.partition(FIX_MARKER)
    return Violation(policy, resource, message, fix)


def _collector(
    policy: str, into: list[Violation], resource_of: Mapping[str, str], default: str
) -> ReportViolation:
    def report(message: str, urn: str | None = None) -> None:
        into.append(_violation(policy, resource_of.get(urn or "", default), message))

    return report


def _validate(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    args: Any,
    report: ReportViolation,
) -> None:
    if policy.validate(args, report) is not None:
        raise TypeError(
            f"policy {policy.name} is asynchronous; only synchronous policies "
            "can be called directly"
        )


def check_resource(
    resource_type: str, name: str, props: Mapping[str, Any], urn: str = ""
) -> list[Violation]:
    """Run every resource policy on one resource's inputs, as the pack would."""
    violations: list[Violation] = []
    for policy in POLICIES:
        if not isinstance(policy, ResourceValidationPolicy):
            continue
        args = ResourceValidationArgs(
            resource_type,
            unknown_checking_proxy(dict(props)),
            urn,
            name,
            _options(),
            None,
        )
        _validate(policy, args, _collector(policy.name, violations, {}, name))
    return violations


def check_stack(
    resources: Sequence[tuple[str, str, Mapping[str, Any]]],
    outputs: Mapping[str, Any],
    *,
    project: str = "customer-exchange",
    stack: str = "simulator",
) -> list[Violation]:
    """Run every stack policy on a whole stack, as the pack would after an update.

    `resources` are (type, name, props) of the stack's resources, without the
    root stack; as Pulumi does, give each resource's outputs where there are
    any (they include the inputs). `outputs` are the stack's exports: they
    become the props of the root `pulumi:pulumi:Stack` resource, which is
    where the pack sees them. A violation of the stack as a whole names the
    root stack, `<project>-<stack>`.
    """
    root_name = f"{project}-{stack}"
    root = PolicyResource(
        ROOT_STACK,
        unknown_checking_proxy(dict(outputs)),
        f"urn:pulumi:{stack}::{project}::{ROOT_STACK}::{root_name}",
        root_name,
        _options(),
        None,
        None,
        [],
        {},
    )
    policy_resources = [root]
    for resource_type, name, props in resources:
        policy_resources.append(
            PolicyResource(
                resource_type,
                unknown_checking_proxy(dict(props)),
                f"urn:pulumi:{stack}::{project}::{resource_type}::{name}",
                name,
                _options(),
                None,
                root,
                [],
                {},
            )
        )
    resource_of = {r.urn: r.name for r in policy_resources}
    violations: list[Violation] = []
    for policy in POLICIES:
        if not isinstance(policy, StackValidationPolicy):
            continue
        args = StackValidationArgs(policy_resources)
        report = _collector(policy.name, violations, resource_of, root_name)
        _validate(policy, args, report)
    return violations
