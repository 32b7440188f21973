"""The customer's VPN device configuration, written from the stack's tunnels.

`exchange vpn-config FILE --device strongswan|generic` calls `render` with
the customer's configuration and the VPN connection as AWS describes it
(`describe_vpn_connections`), then `write_files`. The tunnels come from
what AWS says it runs, not from its sample configuration (which AWS itself
calls an example only, DEV-03, MTU-06): outside addresses, pre-shared keys,
inside /30s, proposals, lifetimes and dead peer detection, for both tunnels
(VPN-01).

    connection, amazon_side_asn = describe_connection(ec2, vpn_connection_id)
    files = render("strongswan", config, connection, amazon_side_asn=amazon_side_asn)
    write_files(Path("vpn-config"), files)

Two devices: `strongswan` (swanctl.conf for strongSwan 5.9, its secrets in a
file of their own, and an nftables ruleset) and `generic` (the vendor-neutral
text in the layout of AWS's generic configuration, DEV-05..09). The
pre-shared keys are only ever in a file whose `secret` is set, which
`write_files` writes with mode 0600. The same input gives the same bytes.

This module reads the configuration and a described connection; it imports
no cloud SDK (`describe_connection` takes an EC2 client from the caller).
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from exchange.config.model import (
    DEFAULT_AMAZON_SIDE_ASN,
    DEFAULT_CUSTOMER_GATEWAY_ASN,
    DEFAULT_IKE_VERSIONS,
    DEFAULT_PHASE1_LIFETIME_SECONDS,
    DEFAULT_PHASE2_LIFETIME_SECONDS,
    DEFAULT_REKEY_MARGIN_TIME_SECONDS,
    DEFAULT_STARTUP_ACTION,
    ExchangeConfig,
    Secret,
)

DEVICES = ("strongswan", "generic")

SWANCTL_CONF = "swanctl.conf"
SWANCTL_SECRETS = "swanctl-secrets.conf"
FIREWALL_NFT = "firewall.nft"
GENERIC_TEXT = "vpn-connection.txt"

# AWS's names for the tunnel algorithms (VPN-16..20) and strongSwan's
# keywords for them.
STRONGSWAN_ENCRYPTION = {
    "AES128": "aes128",
    "AES256": "aes256",
    "AES128-GCM-16": "aes128gcm16",
    "AES256-GCM-16": "aes256gcm16",
}
# Authenticated encryption: such a proposal has no integrity algorithm (and,
# for IKE, names its pseudo-random function instead).
AEAD_ENCRYPTION = frozenset({"AES128-GCM-16", "AES256-GCM-16"})
STRONGSWAN_INTEGRITY = {
    "SHA1": "sha1",
    "SHA2-256": "sha256",
    "SHA2-384": "sha384",
    "SHA2-512": "sha512",
}
STRONGSWAN_DH_GROUPS = {
    2: "modp1024",
    5: "modp1536",
    14: "modp2048",
    15: "modp3072",
    16: "modp4096",
    17: "modp6144",
    18: "modp8192",
    19: "ecp256",
    20: "ecp384",
    21: "ecp521",
    22: "modp1024s160",
    23: "modp2048s224",
    24: "modp2048s256",
}

# What AWS runs for an option a described tunnel leaves out (RULES.md).
DEFAULT_ENCRYPTION_ALGORITHMS = ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
DEFAULT_INTEGRITY_ALGORITHMS = ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")  # VPN-18
DEFAULT_PHASE1_DH_GROUP_NUMBERS = (2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
DEFAULT_PHASE2_DH_GROUP_NUMBERS = (2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
DEFAULT_REKEY_FUZZ_PERCENTAGE = 100  # VPN-26
DEFAULT_REPLAY_WINDOW_SIZE = 1024  # VPN-27
DEFAULT_DPD_TIMEOUT_SECONDS = 30  # VPN-29: 30 in the 2023 guide, 40 elsewhere
DEFAULT_DPD_TIMEOUT_ACTION = "clear"  # VPN-30

# AWS's generic configuration: three dead peer detection probes within AWS's
# timeout (interval 10 s, 3 retries for the 30 s default, DEV-07), and a BGP
# hold time of 30 s (DEV-09).
DPD_RETRIES = 3
BGP_HOLD_TIME_SECONDS = 30

# What a pre-shared key may hold (VPN-04): also what keeps it safe to quote
# in swanctl's syntax.
_PRE_SHARED_KEY = re.compile(r"[A-Za-z0-9._]+")

# Comments in the written files wrap at this width.
COMMENT_WIDTH = 79


@dataclass(frozen=True)
class TunnelMtu:
    """The largest packet a tunnel carries, and the TCP MSS that fits (MTU-02)."""

    mtu: int
    mss: int
    mss_ipv6: int  # IPv6 in IPv4
    proposal: str  # the ESP proposal these figures are for, in words


# MTU-02: (MTU, MSS IPv4, MSS IPv6-in-IPv4) by ESP algorithm, without and
# with NAT traversal. SHA1 and SHA2-256 share a row; SHA2-384 is the same
# either way.
_MTU_BY_ALGORITHM: dict[str, dict[bool, tuple[int, int, int]]] = {
    "AES-GCM-16": {False: (1446, 1406, 1386), True: (1438, 1398, 1378)},
    "SHA1": {False: (1438, 1398, 1378), True: (1422, 1382, 1362)},
    "SHA2-256": {False: (1438, 1398, 1378), True: (1422, 1382, 1362)},
    "SHA2-384": {False: (1422, 1382, 1362), True: (1422, 1382, 1362)},
    "SHA2-512": {False: (1422, 1382, 1362), True: (1406, 1366, 1346)},
}


def esp_mtu(
    encryption: Iterable[str], integrity: Iterable[str], *, nat_traversal: bool
) -> TunnelMtu:
    """The MTU and MSS of the ESP proposal with the most overhead (MTU-01/02).

    Any proposal the lists allow may be the one negotiated, so the figures
    are those of the costliest: AES-GCM needs no integrity algorithm, AES-CBC
    pairs with each of `integrity`.
    """
    encryption, integrity = tuple(encryption), tuple(integrity)
    rows: list[str] = []
    if any(algorithm in AEAD_ENCRYPTION for algorithm in encryption):
        rows.append("AES-GCM-16")
    if any(algorithm not in AEAD_ENCRYPTION for algorithm in encryption):
        rows += [algorithm for algorithm in integrity if algorithm in _MTU_BY_ALGORITHM]
    if not rows:
        raise ValueError(
            "no ESP proposal: AES-CBC needs an integrity algorithm (VPN-17, VPN-18)"
        )
    row = min(rows, key=lambda name: _MTU_BY_ALGORITHM[name][nat_traversal][0])
    mtu, mss, mss_ipv6 = _MTU_BY_ALGORITHM[row][nat_traversal]
    proposal = "AES-GCM-16" if row == "AES-GCM-16" else f"AES-CBC with {row}"
    return TunnelMtu(mtu, mss, mss_ipv6, proposal)


@dataclass(frozen=True)
class DeviceTunnel:
    """One tunnel of the connection, as the customer's device must see it.

    The pre-shared key is a `Secret`, so that neither repr nor str of a
    tunnel ever shows it.
    """

    number: int
    vpn_connection_id: str
    aws_outside_ip: IPv4Address
    customer_gateway_ip: IPv4Address
    inside_cidr: IPv4Network
    pre_shared_key: Secret
    ike_versions: tuple[str, ...]
    phase1_encryption_algorithms: tuple[str, ...]
    phase1_integrity_algorithms: tuple[str, ...]
    phase1_dh_group_numbers: tuple[int, ...]
    phase2_encryption_algorithms: tuple[str, ...]
    phase2_integrity_algorithms: tuple[str, ...]
    phase2_dh_group_numbers: tuple[int, ...]
    phase1_lifetime_seconds: int
    phase2_lifetime_seconds: int
    rekey_margin_time_seconds: int
    rekey_fuzz_percentage: int
    replay_window_size: int
    dpd_timeout_seconds: int
    dpd_timeout_action: str
    startup_action: str

    @property
    def name(self) -> str:
        """The tunnel's connection and child name on the device.

        Unique even where one customer gateway serves several VPN
        connections (CGW-17).
        """
        return f"{self.vpn_connection_id}-tunnel{self.number}"

    @property
    def aws_inside_ip(self) -> IPv4Address:
        """The virtual private gateway's end of the inside /30: .1 (DEV-08)."""
        return self.inside_cidr.network_address + 1

    @property
    def customer_inside_ip(self) -> IPv4Address:
        """The customer gateway's end of the inside /30: .2 (DEV-08)."""
        return self.inside_cidr.network_address + 2

    @property
    def ike_version(self) -> int:
        """strongSwan's `version`: 1 or 2 for one IKE version, 0 for both."""
        versions = set(self.ike_versions)
        if versions == {"ikev2"}:
            return 2
        if versions == {"ikev1"}:
            return 1
        return 0

    @property
    def aws_initiates(self) -> bool:
        """Whether AWS starts the IKE negotiation (VPN-31, VPN-33)."""
        return self.startup_action == "start"

    @property
    def dpd_interval_seconds(self) -> int:
        """How often the device probes: DPD_RETRIES times within AWS's timeout."""
        return max(1, self.dpd_timeout_seconds // DPD_RETRIES)

    def mtu(self, *, nat_traversal: bool) -> TunnelMtu:
        """The tunnel's MTU and MSS for the ESP proposals it allows (MTU-02)."""
        return esp_mtu(
            self.phase2_encryption_algorithms,
            self.phase2_integrity_algorithms,
            nat_traversal=nat_traversal,
        )


def _values(options: Mapping[str, Any], key: str, default: Sequence[Any]) -> tuple:
    """A described list option ([{"Value": x}, ...]), or AWS's default."""
    if key not in options:
        return tuple(default)
    return tuple(item["Value"] for item in options[key])


def device_tunnels(
    connection: Mapping[str, Any], customer_gateway_ip: IPv4Address | str
) -> tuple[DeviceTunnel, DeviceTunnel]:
    """Both tunnels of a described VPN connection (VPN-01).

    `connection` is one element of describe_vpn_connections' answer. An
    option it leaves out is AWS's documented default. Raises ValueError for
    anything but two tunnels, or for a pre-shared key AWS could not have
    (VPN-03/04), without showing the key.
    """
    tunnels = connection.get("Options", {}).get("TunnelOptions", [])
    connection_id = connection.get("VpnConnectionId", "vpn")
    if len(tunnels) != 2:
        raise ValueError(
            f"{connection_id} describes {len(tunnels)} tunnels; a VPN connection "
            "has exactly two, and the device must configure both (VPN-01)"
        )
    parsed = []
    for number, options in enumerate(tunnels, start=1):
        key = options.get("PreSharedKey")
        if not key or not _PRE_SHARED_KEY.fullmatch(key):
            raise ValueError(
                f"tunnel {number} of {connection_id} has no pre-shared key of "
                "letters, digits, '.' and '_' (VPN-03, VPN-04)"
            )
        inside_cidr = IPv4Network(options["TunnelInsideCidr"])
        if inside_cidr.prefixlen != 30:
            raise ValueError(
                f"tunnel {number} of {connection_id} has inside CIDR {inside_cidr}; "
                "AWS gives each tunnel a /30 (VPN-08)"
            )
        parsed.append(
            DeviceTunnel(
                number=number,
                vpn_connection_id=connection_id,
                aws_outside_ip=IPv4Address(options["OutsideIpAddress"]),
                customer_gateway_ip=IPv4Address(customer_gateway_ip),
                inside_cidr=inside_cidr,
                pre_shared_key=Secret(key),
                ike_versions=_values(options, "IkeVersions", DEFAULT_IKE_VERSIONS),
                phase1_encryption_algorithms=_values(
                    options, "Phase1EncryptionAlgorithms", DEFAULT_ENCRYPTION_ALGORITHMS
                ),
                phase1_integrity_algorithms=_values(
                    options, "Phase1IntegrityAlgorithms", DEFAULT_INTEGRITY_ALGORITHMS
                ),
                phase1_dh_group_numbers=_values(
                    options, "Phase1DHGroupNumbers", DEFAULT_PHASE1_DH_GROUP_NUMBERS
                ),
                phase2_encryption_algorithms=_values(
                    options, "Phase2EncryptionAlgorithms", DEFAULT_ENCRYPTION_ALGORITHMS
                ),
                phase2_integrity_algorithms=_values(
                    options, "Phase2IntegrityAlgorithms", DEFAULT_INTEGRITY_ALGORITHMS
                ),
                phase2_dh_group_numbers=_values(
                    options, "Phase2DHGroupNumbers", DEFAULT_PHASE2_DH_GROUP_NUMBERS
                ),
                phase1_lifetime_seconds=int(
                    options.get(
                        "Phase1LifetimeSeconds", DEFAULT_PHASE1_LIFETIME_SECONDS
                    )
                ),
                phase2_lifetime_seconds=int(
                    options.get(
                        "Phase2LifetimeSeconds", DEFAULT_PHASE2_LIFETIME_SECONDS
                    )
                ),
                rekey_margin_time_seconds=int(
                    options.get(
                        "RekeyMarginTimeSeconds", DEFAULT_REKEY_MARGIN_TIME_SECONDS
                    )
                ),
                rekey_fuzz_percentage=int(
                    options.get("RekeyFuzzPercentage", DEFAULT_REKEY_FUZZ_PERCENTAGE)
                ),
                replay_window_size=int(
                    options.get("ReplayWindowSize", DEFAULT_REPLAY_WINDOW_SIZE)
                ),
                dpd_timeout_seconds=int(
                    options.get("DpdTimeoutSeconds", DEFAULT_DPD_TIMEOUT_SECONDS)
                ),
                dpd_timeout_action=options.get(
                    "DpdTimeoutAction", DEFAULT_DPD_TIMEOUT_ACTION
                ),
                startup_action=options.get("StartupAction", DEFAULT_STARTUP_ACTION),
            )
        )
    first, second = parsed
    return first, second


@dataclass(frozen=True)
class DeviceFile:
    """One file of a device configuration; `secret` files hold the keys."""

    name: str
    text: str = field(repr=False)
    secret: bool = False


def describe_connection(ec2: Any, vpn_connection_id: str) -> tuple[dict[str, Any], int]:
    """The described VPN connection and its gateway's Amazon-side ASN.

    `ec2` is a boto3 EC2 client (against AWS or the simulator). The ASN is
    the virtual private gateway's `AmazonSideAsn` (VGW-01); a connection on
    a transit gateway gets AWS's default, 64512.
    """
    (connection,) = ec2.describe_vpn_connections(VpnConnectionIds=[vpn_connection_id])[
        "VpnConnections"
    ]
    gateway_id = connection.get("VpnGatewayId")
    if not gateway_id:
        return connection, DEFAULT_AMAZON_SIDE_ASN
    (gateway,) = ec2.describe_vpn_gateways(VpnGatewayIds=[gateway_id])["VpnGateways"]
    return connection, int(gateway.get("AmazonSideAsn", DEFAULT_AMAZON_SIDE_ASN))


@dataclass(frozen=True)
class _Site:
    """What both devices need besides the tunnels."""

    config: ExchangeConfig
    connection: Mapping[str, Any]
    tunnels: tuple[DeviceTunnel, DeviceTunnel]
    bgp: bool
    amazon_side_asn: int
    customer_asn: int
    local_ts: tuple[IPv4Network, ...]  # the on-premises side (VPN-36)
    remote_ts: tuple[IPv4Network, ...]  # the AWS side

    @property
    def connection_id(self) -> str:
        return self.connection.get("VpnConnectionId", "vpn")

    def about(self) -> str:
        """Which customer and connection, in one line."""
        customer = self.config.customer
        return f"{customer.name} ({customer.slug}), VPN connection {self.connection_id}"

    def gateway_ids(self) -> list[tuple[str, str]]:
        return [
            ("VPN Connection ID", self.connection_id),
            ("Virtual Private Gateway ID", self.connection.get("VpnGatewayId", "-")),
            ("Customer Gateway ID", self.connection.get("CustomerGatewayId", "-")),
        ]

    def routes(self) -> list[str]:
        """The static routes AWS holds for the connection (VPN-38)."""
        return sorted(
            (
                route["DestinationCidrBlock"]
                for route in self.connection.get("Routes", [])
            ),
            key=lambda cidr: IPv4Network(cidr, strict=False),
        )


def _site(
    config: ExchangeConfig, connection: Mapping[str, Any], amazon_side_asn: int | None
) -> _Site:
    options = connection.get("Options", {})
    bgp = config.on_premises.routing == "bgp"
    # StaticRoutesOnly is false unless set (VPN-38).
    if bool(options.get("StaticRoutesOnly", False)) == bgp:
        raise ValueError(
            f"{connection.get('VpnConnectionId', 'the VPN connection')} is "
            f"{'statically routed' if not bgp else 'BGP-routed'}, but "
            f"{config.source} says routing: {config.on_premises.routing}; the "
            "stack was not provisioned from this file (VPN-38)"
        )
    # AWS accepts only traffic selectors within the connection's local
    # (on-premises) and remote (AWS) network CIDRs, 0.0.0.0/0 unless set
    # (VPN-36).
    local_range = IPv4Network(options.get("LocalIpv4NetworkCidr", "0.0.0.0/0"))
    remote_range = IPv4Network(options.get("RemoteIpv4NetworkCidr", "0.0.0.0/0"))
    if bgp:
        # The routes come and go with BGP: the SAs carry whatever AWS allows.
        local_ts: tuple[IPv4Network, ...] = (local_range,)
        remote_ts: tuple[IPv4Network, ...] = (remote_range,)
    else:
        local_ts = tuple(sorted(config.on_premises.networks))
        remote_ts = (config.vpc.cidr,)
        outside = [n for n in local_ts if not n.subnet_of(local_range)] + [
            n for n in remote_ts if not n.subnet_of(remote_range)
        ]
        if outside:
            raise ValueError(
                f"{', '.join(map(str, outside))} lies outside the networks the VPN "
                f"connection accepts (local {local_range}, remote {remote_range}, "
                "VPN-36)"
            )
    tunnels = device_tunnels(connection, config.on_premises.customer_gateway_ip)
    for tunnel in tunnels:
        if tunnel.ike_version == 1 and len(local_ts) > 1:
            # IKEv1 negotiates one selector pair per SA, and AWS takes one SA
            # pair per tunnel.
            raise ValueError(
                f"tunnel {tunnel.number} allows only IKEv1, which carries one "
                "on-premises network per SA, and AWS takes one SA pair per tunnel "
                "(VPN-48); allow ikev2 (VPN-15) or route one network"
            )
    if amazon_side_asn is None:
        amazon_side_asn = config.vpn.amazon_side_asn or DEFAULT_AMAZON_SIDE_ASN
    return _Site(
        config=config,
        connection=connection,
        tunnels=tunnels,
        bgp=bgp,
        amazon_side_asn=amazon_side_asn,
        customer_asn=config.on_premises.bgp_asn or DEFAULT_CUSTOMER_GATEWAY_ASN,
        local_ts=local_ts,
        remote_ts=remote_ts,
    )


def render(
    device: str,
    config: ExchangeConfig,
    connection: Mapping[str, Any],
    *,
    amazon_side_asn: int | None = None,
) -> list[DeviceFile]:
    """The files of `device`'s configuration for the customer's gateway.

    `connection` is the VPN connection as describe_vpn_connections gives it;
    `amazon_side_asn` the virtual private gateway's (describe_vpn_gateways),
    by default the configuration's amazonSideAsn, else AWS's 64512 (VGW-01).
    Raises ValueError for an unknown device, or when the connection cannot
    be the one provisioned from `config`.
    """
    if device not in DEVICES:
        raise ValueError(
            f"unknown device {device!r}; choose one of {', '.join(DEVICES)}"
        )
    site = _site(config, connection, amazon_side_asn)
    if device == "strongswan":
        return [
            DeviceFile(SWANCTL_CONF, _swanctl_conf(site)),
            DeviceFile(SWANCTL_SECRETS, _swanctl_secrets(site), secret=True),
            DeviceFile(FIREWALL_NFT, _firewall_nft(site)),
        ]
    return [DeviceFile(GENERIC_TEXT, _generic_text(site), secret=True)]


def write_files(folder: Path, files: Iterable[DeviceFile]) -> list[Path]:
    """Write the files into `folder`, secret ones 0600 and the others 0644.

    A folder that does not exist yet is created 0700. Each file is written
    to a temporary file and renamed into place, so that a key is never
    readable by others, not even for a moment, and a reader never sees half
    a file.
    """
    folder = Path(folder)
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # whatever the umask
    written = []
    for device_file in files:
        path = folder / device_file.name
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as stream:
                os.fchmod(stream.fileno(), 0o600 if device_file.secret else 0o644)
                stream.write(device_file.text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(path)
    return written


# --- strongSwan -------------------------------------------------------------


def _keywords(names: Iterable[Any], table: Mapping[Any, str], what: str) -> list[str]:
    keywords = []
    for name in names:
        if name not in table:
            raise ValueError(f"{what} {name!r} is not one AWS offers (VPN-16..20)")
        keywords.append(table[name])
    return keywords


def _proposals(
    encryption: Sequence[str],
    integrity: Sequence[str],
    dh_groups: Sequence[int],
    *,
    ike: bool,
    ike_version: int,
) -> str:
    """strongSwan proposals for what AWS allows, in AWS's order.

    AES-CBC proposals carry the integrity algorithms; AES-GCM ones carry
    none, and for IKE name the pseudo-random functions instead (one proposal
    cannot mix the two kinds). IKEv2 takes several algorithms of a kind in
    one proposal; IKEv1 only one, so there every combination is a proposal.
    """
    dh = _keywords(dh_groups, STRONGSWAN_DH_GROUPS, "DH group")
    integ = _keywords(integrity, STRONGSWAN_INTEGRITY, "integrity algorithm")
    cbc = _keywords(
        [a for a in encryption if a not in AEAD_ENCRYPTION],
        STRONGSWAN_ENCRYPTION,
        "encryption algorithm",
    )
    gcm = _keywords(
        [a for a in encryption if a in AEAD_ENCRYPTION],
        STRONGSWAN_ENCRYPTION,
        "encryption algorithm",
    )
    if ike and not integ:
        raise ValueError(
            "an IKE proposal needs an integrity algorithm or a PRF (VPN-18)"
        )
    kinds: list[list[list[str]]] = []
    if cbc and integ:
        kinds.append([cbc, integ, dh])
    if gcm:
        kinds.append([gcm, [f"prf{a}" for a in integ], dh] if ike else [gcm, dh])
    if not kinds:
        raise ValueError("AES-CBC needs an integrity algorithm (VPN-17, VPN-18)")
    proposals = []
    for kind in kinds:
        kind = [part for part in kind if part]
        if ike_version == 1:
            proposals += ["-".join(p) for p in itertools.product(*kind)]
        else:
            proposals.append("-".join(itertools.chain.from_iterable(kind)))
    return ",".join(proposals)


def _comment(text: str, indent: str = "") -> list[str]:
    """`text` as comment lines of at most COMMENT_WIDTH characters.

    Runs of lines are reflowed as one paragraph; a blank line, or one that
    starts with a space, is kept as it is.
    """
    lines: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        lines.extend(
            textwrap.wrap(
                " ".join(paragraph),
                width=COMMENT_WIDTH - len(indent) - 2,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        paragraph.clear()

    for line in text.splitlines():
        if not line or line.startswith(" "):
            flush()
            lines.append(line)
        else:
            paragraph.append(line)
    flush()
    return [f"{indent}# {line}".rstrip() for line in lines]


def _ts(networks: Iterable[IPv4Network]) -> str:
    return ",".join(str(network) for network in networks)


def _rand_time(tunnel: DeviceTunnel) -> int:
    # AWS rekeys within the margin, widened at random by up to the fuzz
    # percentage (VPN-25, VPN-26); strongSwan subtracts a random time of up
    # to rand_time from rekey_time, which is the same window.
    return tunnel.rekey_margin_time_seconds * tunnel.rekey_fuzz_percentage // 100


def _swanctl_tunnel(site: _Site, tunnel: DeviceTunnel) -> list[str]:
    version = tunnel.ike_version
    ike_proposals = _proposals(
        tunnel.phase1_encryption_algorithms,
        tunnel.phase1_integrity_algorithms,
        tunnel.phase1_dh_group_numbers,
        ike=True,
        ike_version=version,
    )
    esp_proposals = _proposals(
        tunnel.phase2_encryption_algorithms,
        tunnel.phase2_integrity_algorithms,
        tunnel.phase2_dh_group_numbers,
        ike=False,
        ike_version=version,
    )
    margin = tunnel.rekey_margin_time_seconds
    if tunnel.aws_initiates:
        start = "trap"
        start_why = (
            "AWS starts this tunnel (StartupAction start, VPN-31, VPN-33): the\n"
            "gateway answers, and its trap policy brings the tunnel up on the\n"
            "first packet should AWS not have yet. It does not initiate at load,\n"
            "which would race AWS into a second SA pair for one tunnel (VPN-48)."
        )
    else:
        start = "start"
        start_why = (
            "AWS only answers on this tunnel (StartupAction add, VPN-31): the\n"
            "gateway must initiate, at load and again whenever AWS closes the SA."
        )
    lines = [
        *_comment(
            f"Tunnel {tunnel.number}: AWS endpoint {tunnel.aws_outside_ip}, inside "
            f"{tunnel.inside_cidr} (AWS {tunnel.aws_inside_ip},\n"
            f"this gateway {tunnel.customer_inside_ip}, DEV-08).",
            "    ",
        ),
        f"    {tunnel.name} {{",
        f"        version = {version}",
        *_comment(
            "This gateway's public address, the customer gateway's (CGW-01). Behind\n"
            "NAT (CGW-02) put its own private address here and keep local.id.",
            "        ",
        ),
        f"        local_addrs = {tunnel.customer_gateway_ip}",
        f"        remote_addrs = {tunnel.aws_outside_ip}",
        *_comment(
            "ESP in UDP 4500, as strongSwan's user-space ESP (kernel-libipsec)\n"
            "always sends it: the MSS clamp in firewall.nft counts on NAT-T.",
            "        ",
        ),
        "        encap = yes",
        *_comment(
            "Phase 1 as AWS allows it (VPN-16, VPN-18, VPN-19); AWS picks the\n"
            "lowest it allows whatever the order (VPN-21).",
            "        ",
        ),
        f"        proposals = {ike_proposals}",
        *_comment(
            f"Phase 1 lifetime {tunnel.phase1_lifetime_seconds} s, rekey margin "
            f"{margin} s, fuzz {tunnel.rekey_fuzz_percentage} % (VPN-22,\n"
            "VPN-25, VPN-26): rekey at the lifetime minus the margin, less a random\n"
            "part of the fuzzed margin, and close the SA at the lifetime.",
            "        ",
        ),
        f"        rekey_time = {tunnel.phase1_lifetime_seconds - margin}s",
        f"        over_time = {margin}s",
        f"        rand_time = {_rand_time(tunnel)}s",
        *_comment(
            f"AWS declares the peer dead after {tunnel.dpd_timeout_seconds} s "
            f"(VPN-28): probe every {tunnel.dpd_interval_seconds} s\n"
            "(DEV-07). With IKEv2 the charon.retransmit_* settings of "
            "strongswan.conf\ndecide when this side gives up.",
            "        ",
        ),
        f"        dpd_delay = {tunnel.dpd_interval_seconds}s",
        *_comment(
            "Keep trying to bring the tunnel up, however long AWS takes to answer "
            "(strongSwan gives up after one try by default).",
            "        ",
        ),
        "        keyingtries = 0",
    ]
    if version != 2:
        lines.append(f"        dpd_timeout = {tunnel.dpd_timeout_seconds}s")
    lines += [
        "        local {",
        "            auth = psk",
        f"            id = {tunnel.customer_gateway_ip}",
        "        }",
        "        remote {",
        "            auth = psk",
        f"            id = {tunnel.aws_outside_ip}",
        "        }",
        "        children {",
        f"            {tunnel.name} {{",
        "                mode = tunnel",
    ]
    if site.bgp:
        lines += _comment(
            "BGP decides what goes through the tunnel: the SA carries everything\n"
            "AWS accepts (VPN-36).",
            "                ",
        )
    else:
        lines += _comment(
            "Static routing (VPN-38): the on-premises networks to the VPC, one SA "
            "pair for all of them (VPN-48). strongSwan's user-space ESP "
            "(kernel-libipsec) routes each selector with a source address of this "
            "gateway's from it: without an address in every on-premises network "
            "the SA fails to install ('error installing route with policy').",
            "                ",
        )
    lines += [
        f"                local_ts = {_ts(site.local_ts)}",
        f"                remote_ts = {_ts(site.remote_ts)}",
        *_comment(
            "Phase 2 as AWS allows it (VPN-17, VPN-18, VPN-20); the DH groups are\n"
            "for perfect forward secrecy on rekeying.",
            "                ",
        ),
        f"                esp_proposals = {esp_proposals}",
        *_comment(
            f"Phase 2 lifetime {tunnel.phase2_lifetime_seconds} s, the same margin "
            "and fuzz (VPN-23, VPN-25, VPN-26).",
            "                ",
        ),
        f"                rekey_time = {tunnel.phase2_lifetime_seconds - margin}s",
        f"                life_time = {tunnel.phase2_lifetime_seconds}s",
        f"                rand_time = {_rand_time(tunnel)}s",
        f"                replay_window = {tunnel.replay_window_size}",
        "                dpd_action = restart",
        *_comment(start_why, "                "),
        f"                start_action = {start}",
    ]
    if not tunnel.aws_initiates:
        lines.append("                close_action = start")
    lines += [
        "            }",
        "        }",
        "    }",
    ]
    return lines


def _bgp_comment(site: _Site) -> list[str]:
    text = (
        "BGP (VPN-38, DEV-09). strongSwan carries the traffic but speaks no BGP:\n"
        "run a BGP daemon (FRR, BIRD) on this gateway, with per tunnel:\n"
    )
    for tunnel in site.tunnels:
        text += (
            f"  tunnel {tunnel.number}: address {tunnel.customer_inside_ip}/30 on "
            "this gateway, neighbour\n"
            f"    {tunnel.aws_inside_ip} remote-as {site.amazon_side_asn}, local-as "
            f"{site.customer_asn}, hold time {BGP_HOLD_TIME_SECONDS} s\n"
        )
    networks = ", ".join(str(n) for n in sorted(site.config.on_premises.networks))
    text += (
        f"Advertise the on-premises networks ({networks}), at most 100 "
        "routes (VGW-06), with equal weight on both tunnels: AWS picks one "
        "tunnel for its traffic (VGW-12).\n"
        "\n"
        "The children's 0.0.0.0/0 selectors put all the gateway sends or "
        "forwards under an SA's policy: let the BGP routes pick the tunnel, not "
        "strongSwan's own (charon.install_routes = no in strongswan.conf), and "
        "keep the gateway's LAN traffic out of the tunnels (the bypass-lan "
        "plugin, or a child with mode = pass)."
    )
    return _comment(text)


def _header(site: _Site, what: str, rules: str) -> list[str]:
    return _comment(
        f"{what} for {site.about()}.\n"
        "\n"
        "Generated by exchange-proof from the stack's tunnel options, as AWS\n"
        "describes the connection, not from AWS's sample configuration, which\n"
        "AWS calls an example only (DEV-03).\n"
        f"Its advice rests on RULES.md {rules}."
    )


def _swanctl_conf(site: _Site) -> str:
    lines = [
        *_header(
            site,
            "strongSwan 5.9 swanctl.conf for the customer gateway",
            "VPN-01, VPN-14..31, VPN-36, VPN-38, VPN-48, DEV-07..09 and MTU-01/02",
        ),
        *_comment(
            "\n"
            "Both tunnels are configured (VPN-01). The pre-shared keys are in "
            f"{SWANCTL_SECRETS} (mode 0600), included at the end. Load with:\n"
            f"  swanctl --load-all --file {SWANCTL_CONF}"
        ),
        "",
    ]
    if site.bgp:
        lines += [*_bgp_comment(site), ""]
    lines.append("connections {")
    for index, tunnel in enumerate(site.tunnels):
        if index:
            lines.append("")
        lines += _swanctl_tunnel(site, tunnel)
    lines += ["}", "", f"include {SWANCTL_SECRETS}", ""]
    return "\n".join(lines)


def _swanctl_secrets(site: _Site) -> str:
    lines = [
        *_header(
            site,
            "strongSwan 5.9 swanctl secrets: the tunnels' pre-shared keys",
            "VPN-01 and VPN-03..06",
        ),
        *_comment(
            f"Included by {SWANCTL_CONF}. Keep it mode 0600 and out of version\n"
            "control."
        ),
        "",
        "secrets {",
    ]
    for tunnel in site.tunnels:
        lines += [
            f"    ike-{tunnel.name} {{",
            f"        id-local = {tunnel.customer_gateway_ip}",
            f"        id-remote = {tunnel.aws_outside_ip}",
            f'        secret = "{tunnel.pre_shared_key.reveal()}"',
            "    }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def _tunnel_mtu(site: _Site, *, nat_traversal: bool) -> TunnelMtu:
    """The smaller figures of the two tunnels: either may carry the traffic."""
    return min(
        (tunnel.mtu(nat_traversal=nat_traversal) for tunnel in site.tunnels),
        key=lambda figures: figures.mtu,
    )


def firewall_table(customer_slug: str) -> str:
    """The nftables table of the customer gateway's generated firewall.nft."""
    return "exchange_" + customer_slug.replace("-", "_")


def _nft_table(site: _Site) -> str:
    return firewall_table(site.config.customer.slug)


def _firewall_nft(site: _Site) -> str:
    table = _nft_table(site)
    endpoints = ", ".join(str(t.aws_outside_ip) for t in site.tunnels)
    figures = _tunnel_mtu(site, nat_traversal=True)
    vpc = site.config.vpc.cidr
    lines = [
        *_header(
            site,
            "nftables ruleset for the customer gateway",
            "VPN-49, MTU-01/02, MTU-03 and MTU-07",
        ),
        *_comment(
            "\n"
            "It replaces its own table and nothing else. nftables runs every "
            "table's chains: an accept here does not undo a drop in another table, "
            "so a ruleset that drops by default needs the same openings in its own "
            "chains. Load with:\n"
            f"  nft -f {FIREWALL_NFT}"
        ),
        "",
        f"table ip {table}",
        f"delete table ip {table}",
        "",
        f"table ip {table} {{",
        *_comment("The tunnels' AWS outside addresses (VPN-01).", "    "),
        "    set aws_tunnel_endpoints {",
        "        type ipv4_addr",
        f"        elements = {{ {endpoints} }}",
        "    }",
        "",
        *_comment(
            "IKE (UDP 500), NAT-T (UDP 4500) and ESP (IP protocol 50) to and from\n"
            "both tunnel endpoints (VPN-49, CGW-02).",
            "    ",
        ),
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
        "        ip saddr @aws_tunnel_endpoints udp dport { 500, 4500 } counter accept",
        "        ip saddr @aws_tunnel_endpoints ip protocol esp counter accept",
        "    }",
        "",
        "    chain output {",
        "        type filter hook output priority filter; policy accept;",
        "        ip daddr @aws_tunnel_endpoints udp dport { 500, 4500 } counter accept",
        "        ip daddr @aws_tunnel_endpoints ip protocol esp counter accept",
        "    }",
        "",
        *_comment(
            "The VPN does no path MTU discovery (MTU-03): clamp the TCP MSS of\n"
            f"connections to and from the VPC to {figures.mss}, MTU {figures.mtu}, "
            f"for {figures.proposal}\n"
            "with NAT-T, the costliest ESP proposal the tunnels allow (MTU-01/02).\n"
            "\n"
            "MTU-07: clear or override the DF bit of packets entering the tunnel, "
            "so that the gateway fragments them before encryption instead of "
            "dropping them.",
            "    ",
        ),
        "    chain forward {",
        "        type filter hook forward priority mangle; policy accept;",
        f"        ip daddr {vpc} tcp flags syn tcp option maxseg size > {figures.mss} "
        f"tcp option maxseg size set {figures.mss}",
        f"        ip saddr {vpc} tcp flags syn tcp option maxseg size > {figures.mss} "
        f"tcp option maxseg size set {figures.mss}",
        *_comment(
            "Lower still where the route into the tunnel has a smaller MTU "
            "(kernel-libipsec's ipsec0 has 1400); setting the MSS never raises it.",
            "        ",
        ),
        f"        ip daddr {vpc} tcp flags syn tcp option maxseg size set rt mtu",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


# --- generic ----------------------------------------------------------------


_IKE_VERSION_LABELS = {"ikev1": "IKEv1 (main mode, VPN-14)", "ikev2": "IKEv2"}


def _ike_version_label(tunnel: DeviceTunnel) -> str:
    return " or ".join(_IKE_VERSION_LABELS.get(v, v) for v in tunnel.ike_versions)


def _generic_tunnel(site: _Site, tunnel: DeviceTunnel) -> list[str]:
    without_nat = tunnel.mtu(nat_traversal=False)
    with_nat = tunnel.mtu(nat_traversal=True)
    margin = tunnel.rekey_margin_time_seconds

    def row(label: str, value: object) -> str:
        return f"  - {label:<36}: {value}"

    def listed(values: Iterable[object]) -> str:
        return ", ".join(str(value) for value in values)

    lines = [
        f"IPSec Tunnel #{tunnel.number}",
        "=" * 80,
        "",
        "#1: Internet Key Exchange Configuration",
        "",
        row("IKE version", _ike_version_label(tunnel)),
        row("Authentication Method", "Pre-Shared Key"),
        row("Pre-Shared Key", tunnel.pre_shared_key.reveal()),
        row("Encryption Algorithms", listed(tunnel.phase1_encryption_algorithms)),
        row("Integrity Algorithms", listed(tunnel.phase1_integrity_algorithms)),
        row("Diffie-Hellman Groups", listed(tunnel.phase1_dh_group_numbers)),
        row("Lifetime", f"{tunnel.phase1_lifetime_seconds} seconds"),
        row("Rekey Margin", f"{margin} seconds"),
        row("Rekey Fuzz", f"{tunnel.rekey_fuzz_percentage} %"),
        row("Startup", _generic_startup(tunnel)),
        "",
        *_comment(
            "AWS uses the lowest value it allows first, whatever your device "
            "proposes (VPN-21); restrict the lists to force stronger ones.",
            "  ",
        ),
        "",
        "#2: IPSec Configuration",
        "",
        row("Protocol", "esp"),
        row("Encryption Algorithms", listed(tunnel.phase2_encryption_algorithms)),
        row(
            "Integrity Algorithms (AES-CBC)",
            listed(tunnel.phase2_integrity_algorithms),
        ),
        row(
            "Perfect Forward Secrecy DH Groups", listed(tunnel.phase2_dh_group_numbers)
        ),
        row("Lifetime", f"{tunnel.phase2_lifetime_seconds} seconds"),
        row("Mode", "tunnel"),
        row("Replay Window", f"{tunnel.replay_window_size} packets"),
        row("DPD Timeout (AWS)", f"{tunnel.dpd_timeout_seconds} seconds"),
        row("DPD Action (AWS)", tunnel.dpd_timeout_action),
        row("DPD Interval (recommended)", f"{tunnel.dpd_interval_seconds} seconds"),
        row("DPD Retries (recommended)", DPD_RETRIES),
        row(
            "TCP MSS Adjustment",
            f"{without_nat.mss} bytes ({with_nat.mss} with NAT-T, UDP 4500)",
        ),
        row("Clear Don't Fragment Bit", "enabled (MTU-07)"),
        row("Fragmentation Before Encryption", "enabled (MTU-07)"),
        "",
        "#3: Tunnel Interface Configuration",
        "",
        "Outside IP Addresses:",
        row("Customer Gateway", tunnel.customer_gateway_ip),
        row("Virtual Private Gateway", tunnel.aws_outside_ip),
        "",
        "Inside IP Addresses:",
        row("Customer Gateway", f"{tunnel.customer_inside_ip}/30"),
        row("Virtual Private Gateway", f"{tunnel.aws_inside_ip}/30"),
        "",
        row(
            "Tunnel Interface MTU",
            f"{without_nat.mtu} bytes ({with_nat.mtu} with NAT-T, UDP 4500)",
        ),
        *_comment(
            f"MTU-01/02 for {without_nat.proposal}, the costliest ESP proposal\n"
            "this tunnel allows. The VPN does no path MTU discovery (MTU-03).",
            "  ",
        ),
        "",
        "#4: Routing Configuration",
        "",
    ]
    if site.bgp:
        lines += [
            row("Customer Gateway ASN", site.customer_asn),
            row("Virtual Private Gateway ASN", site.amazon_side_asn),
            row("Neighbor IP Address", tunnel.aws_inside_ip),
            row("Neighbor Hold Time", f"{BGP_HOLD_TIME_SECONDS} seconds"),
            row(
                "Advertise",
                listed(sorted(site.config.on_premises.networks)),
            ),
        ]
    else:
        lines += [
            row("Destination", site.config.vpc.cidr),
            row("Next Hop", tunnel.aws_inside_ip),
            row("Traffic Selectors (local)", _ts(site.local_ts)),
            row("Traffic Selectors (remote)", _ts(site.remote_ts)),
        ]
    return [*lines, ""]


def _generic_startup(tunnel: DeviceTunnel) -> str:
    if tunnel.aws_initiates:
        return "AWS initiates; your device answers (VPN-31, VPN-33)"
    return "your device initiates; AWS answers (VPN-31)"


def _generic_text(site: _Site) -> str:
    endpoints = " and ".join(str(t.aws_outside_ip) for t in site.tunnels)
    lines = [
        *_header(
            site,
            "Vendor-neutral VPN device configuration (it holds the pre-shared keys:\n"
            "keep it private)",
            "VPN-01, VPN-14..31, VPN-38, VPN-49, DEV-05..09, MTU-01/02, MTU-03 and\n"
            "MTU-07",
        ),
        "",
        "Amazon Web Services",
        "Virtual Private Cloud",
        "",
        "VPN Connection Configuration",
        "=" * 80,
        "",
        *(f"{label:<28}: {value}" for label, value in site.gateway_ids()),
        f"{'Customer':<28}: {site.config.customer.name} ({site.config.customer.slug})",
        f"{'VPC CIDR':<28}: {site.config.vpc.cidr}",
        f"{'On-premises networks':<28}: "
        + ", ".join(str(n) for n in sorted(site.config.on_premises.networks)),
        f"{'Routing':<28}: {'BGP' if site.bgp else 'static'}",
        "",
        "Configure both tunnels (VPN-01): AWS picks one of them for its traffic",
        "(VGW-12).",
        "",
    ]
    for tunnel in site.tunnels:
        lines += _generic_tunnel(site, tunnel)
    if not site.bgp and site.routes():
        lines += [
            "Static routes AWS holds for the on-premises networks (VPN-38):",
            *(f"  - {cidr}" for cidr in site.routes()),
            "",
        ]
    lines += [
        "Firewall between the customer gateway and the internet (VPN-49)",
        "=" * 80,
        "",
        f"  - UDP 500 (IKE), to and from {endpoints}, both directions",
        f"  - IP protocol 50 (ESP), to and from {endpoints}",
        f"  - UDP 4500 (NAT-T), to and from {endpoints}, when NAT-T is used",
        "    (always behind NAT, CGW-02)",
        "",
    ]
    return "\n".join(lines)
