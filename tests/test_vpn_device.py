"""The customer's VPN device configuration, written from the described tunnels.

Most tests provision each example's connection in moto (completed by the
simulator, so that describe returns the tunnel options AWS would), once a
module, and render what it describes; a few use hand-built connections for
edge cases.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import stat
import subprocess
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from moto import mock_aws

from exchange.config import load_config
from exchange.config.model import ExchangeConfig
from exchange.vpn_device import (
    DEVICES,
    FIREWALL_NFT,
    GENERIC_TEXT,
    SWANCTL_CONF,
    SWANCTL_SECRETS,
    DeviceFile,
    describe_connection,
    device_tunnels,
    esp_mtu,
    render,
    write_files,
)
from simulator.aws import complete_moto
from tests.config.samples import ROOT, TUNNEL_KEYS

REGION = "eu-central-1"
STATIC = ROOT / "examples" / "multi-option.yaml"
BGP = ROOT / "examples" / "bgp-tunnel-options.yaml"
DEFAULTS = ROOT / "examples" / "app-database.yaml"

# The configuration's tunnel options and the names CreateVpnConnection takes
# them by (VpnTunnelOptionsSpecification).
_LIST_OPTIONS = {
    "ike_versions": "IKEVersions",
    "phase1_encryption_algorithms": "Phase1EncryptionAlgorithms",
    "phase2_encryption_algorithms": "Phase2EncryptionAlgorithms",
    "phase1_integrity_algorithms": "Phase1IntegrityAlgorithms",
    "phase2_integrity_algorithms": "Phase2IntegrityAlgorithms",
    "phase1_dh_group_numbers": "Phase1DHGroupNumbers",
    "phase2_dh_group_numbers": "Phase2DHGroupNumbers",
}
_SCALAR_OPTIONS = {
    "phase1_lifetime_seconds": "Phase1LifetimeSeconds",
    "phase2_lifetime_seconds": "Phase2LifetimeSeconds",
    "rekey_margin_time_seconds": "RekeyMarginTimeSeconds",
    "rekey_fuzz_percentage": "RekeyFuzzPercentage",
    "replay_window_size": "ReplayWindowSize",
    "dpd_timeout_seconds": "DPDTimeoutSeconds",
    "dpd_timeout_action": "DPDTimeoutAction",
    "startup_action": "StartupAction",
}

# AWS's default proposals (VPN-16..20) in strongSwan's words.
DEFAULT_IKE_DH = (
    "modp1024-modp2048-modp3072-modp4096-modp6144-modp8192-ecp256-ecp384-ecp521-"
    "modp1024s160-modp2048s224-modp2048s256"
)
DEFAULT_ESP_DH = (
    "modp1024-modp1536-modp2048-modp3072-modp4096-modp6144-modp8192-ecp256-ecp384-"
    "ecp521-modp1024s160-modp2048s224-modp2048s256"
)


def config_of(path: Path) -> ExchangeConfig:
    return load_config(path, environ=TUNNEL_KEYS)


def gcm_only(tmp_path: Path) -> ExchangeConfig:
    """The defaults example with AES-GCM alone in both phases."""
    text = DEFAULTS.read_text()
    pinned = (
        "      ikeVersions: [ikev2]\n"
        "      phase1EncryptionAlgorithms: [AES128-GCM-16, AES256-GCM-16]\n"
        "      phase2EncryptionAlgorithms: [AES128-GCM-16, AES256-GCM-16]\n"
    )
    assert text.count("      ikeVersions: [ikev2]\n") == 2
    path = tmp_path / "gcm-only.yaml"
    path.write_text(text.replace("      ikeVersions: [ikev2]\n", pinned))
    return config_of(path)


class Stack(NamedTuple):
    """A configuration and its VPN connection, as AWS describes it."""

    config: ExchangeConfig
    connection: dict[str, Any]
    amazon_side_asn: int


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """Each example's connection, provisioned once.

    The simulator's pool of tunnel outside addresses serves the whole test
    session, so the module takes eight of them, not two a test.
    """
    configs = {
        "static": config_of(STATIC),
        "bgp": config_of(BGP),
        "defaults": config_of(DEFAULTS),
        "gcm": gcm_only(tmp_path_factory.mktemp("gcm")),
    }
    complete_moto()
    with pytest.MonkeyPatch.context() as environment:
        # As tests/conftest.py's no_real_aws, which is per test.
        environment.setenv("AWS_ACCESS_KEY_ID", "testing")
        environment.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        environment.setenv("AWS_EC2_METADATA_DISABLED", "true")
        environment.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            return {
                name: Stack(config, *provision(ec2, config))
                for name, config in configs.items()
            }


@pytest.fixture
def stacks(provisioned: dict[str, Stack]) -> dict[str, Stack]:
    """The provisioned stacks, their connections copied for each test."""
    return {
        name: stack._replace(connection=copy.deepcopy(stack.connection))
        for name, stack in provisioned.items()
    }


def provision(ec2: Any, config: ExchangeConfig) -> tuple[dict[str, Any], int]:
    """The VPN connection of `config`, made through the EC2 API and described."""
    ec2.create_vpc(CidrBlock=str(config.vpc.cidr))
    customer_gateway = ec2.create_customer_gateway(
        Type="ipsec.1",
        PublicIp=str(config.on_premises.customer_gateway_ip),
        BgpAsn=config.on_premises.bgp_asn or 65000,
    )["CustomerGateway"]
    asn = config.vpn.amazon_side_asn
    vpn_gateway = ec2.create_vpn_gateway(
        Type="ipsec.1", **({"AmazonSideAsn": asn} if asn else {})
    )["VpnGateway"]
    specifications = []
    for tunnel in config.vpn.tunnels:
        specification: dict[str, Any] = {
            "TunnelInsideCidr": str(tunnel.inside_cidr),
            "PreSharedKey": tunnel.pre_shared_key.resolve(TUNNEL_KEYS).reveal(),
        }
        for option, name in _LIST_OPTIONS.items():
            if getattr(tunnel, option) is not None:
                specification[name] = [{"Value": v} for v in getattr(tunnel, option)]
        for option, name in _SCALAR_OPTIONS.items():
            if getattr(tunnel, option) is not None:
                specification[name] = getattr(tunnel, option)
        specifications.append(specification)
    static = config.on_premises.routing == "static"
    vpn_id = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=customer_gateway["CustomerGatewayId"],
        VpnGatewayId=vpn_gateway["VpnGatewayId"],
        Options={"StaticRoutesOnly": static, "TunnelOptions": specifications},
    )["VpnConnection"]["VpnConnectionId"]
    if static:
        for network in config.on_premises.networks:
            ec2.create_vpn_connection_route(
                VpnConnectionId=vpn_id, DestinationCidrBlock=str(network)
            )
    return describe_connection(ec2, vpn_id)


def files_by_name(files: list[DeviceFile]) -> dict[str, DeviceFile]:
    return {f.name: f for f in files}


def parse_swanctl(text: str) -> dict[str, Any]:
    """swanctl.conf's sections and key = value pairs, as nested dicts.

    Strict where strongSwan's parser is: balanced braces, one value a key,
    one section a name.
    """
    root: dict[str, Any] = {}
    stack = [root]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            assert name and " " not in name, f"line {number}: section {name!r}"
            assert name not in stack[-1], f"line {number}: {name} twice"
            stack[-1][name] = {}
            stack.append(stack[-1][name])
        elif line == "}":
            stack.pop()
            assert stack, f"line {number}: unbalanced }}"
        elif line.startswith("include "):
            stack[-1].setdefault("include", []).append(line.split(None, 1)[1])
        else:
            key, equals, value = line.partition("=")
            assert equals, f"line {number}: neither section nor key: {line!r}"
            assert key.strip() not in stack[-1], f"line {number}: {key} twice"
            stack[-1][key.strip()] = value.strip()
    assert len(stack) == 1, "unclosed section"
    return root


def swanctl(files: list[DeviceFile]) -> dict[str, Any]:
    return parse_swanctl(files_by_name(files)[SWANCTL_CONF].text)


def children(conf: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: child
        for connection in conf["connections"].values()
        for name, child in connection["children"].items()
    }


def test_both_tunnels_have_their_own_outside_ip_key_and_inside_addresses(stacks):
    config, connection, _ = stacks["static"]
    described = connection["Options"]["TunnelOptions"]

    first, second = device_tunnels(connection, config.on_premises.customer_gateway_ip)

    assert [t.aws_outside_ip for t in (first, second)] == [
        IPv4Address(t["OutsideIpAddress"]) for t in described
    ]
    assert first.aws_outside_ip != second.aws_outside_ip, "VPN-01"
    assert [t.pre_shared_key.reveal() for t in (first, second)] == [
        TUNNEL_KEYS["NORDWIND_TUNNEL1_PSK"],
        TUNNEL_KEYS["NORDWIND_TUNNEL2_PSK"],
    ]
    assert (first.aws_inside_ip, first.customer_inside_ip) == (
        IPv4Address("169.254.21.1"),
        IPv4Address("169.254.21.2"),
    ), "DEV-08: AWS .1, customer .2"
    assert (second.aws_inside_ip, second.customer_inside_ip) == (
        IPv4Address("169.254.21.5"),
        IPv4Address("169.254.21.6"),
    )

    files = render("strongswan", config, connection)
    conf = swanctl(files)
    assert list(conf["connections"]) == [first.name, second.name]
    for tunnel in (first, second):
        section = conf["connections"][tunnel.name]
        assert section["local_addrs"] == "203.0.113.10"
        assert section["remote_addrs"] == str(tunnel.aws_outside_ip)
        assert section["local"] == {"auth": "psk", "id": "203.0.113.10"}
        assert section["remote"] == {"auth": "psk", "id": str(tunnel.aws_outside_ip)}
        assert section["children"][tunnel.name]["mode"] == "tunnel"
    assert conf["include"] == [SWANCTL_SECRETS]

    secrets = parse_swanctl(files_by_name(files)[SWANCTL_SECRETS].text)["secrets"]
    assert secrets == {
        f"ike-{tunnel.name}": {
            "id-local": "203.0.113.10",
            "id-remote": str(tunnel.aws_outside_ip),
            "secret": f'"{tunnel.pre_shared_key.reveal()}"',
        }
        for tunnel in (first, second)
    }


def test_configured_proposals_map_to_strongswan_keywords(stacks):
    # AES256, SHA2-256 and DH group 14 in both phases, IKEv2 only.
    config, connection, _ = stacks["bgp"]
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert section["version"] == "2"
        assert section["proposals"] == "aes256-sha256-modp2048"
        (child,) = section["children"].values()
        assert child["esp_proposals"] == "aes256-sha256-modp2048"


def test_default_proposals_keep_gcm_apart_from_integrity_algorithms(stacks):
    config, connection, _ = stacks["defaults"]
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert section["proposals"] == (
            f"aes128-aes256-sha1-sha256-sha384-sha512-{DEFAULT_IKE_DH},"
            "aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-"
            f"{DEFAULT_IKE_DH}"
        )
        (child,) = section["children"].values()
        assert child["esp_proposals"] == (
            f"aes128-aes256-sha1-sha256-sha384-sha512-{DEFAULT_ESP_DH},"
            f"aes128gcm16-aes256gcm16-{DEFAULT_ESP_DH}"
        )


def test_gcm_only_proposals_carry_no_integrity_algorithm(stacks):
    config, connection, _ = stacks["gcm"]
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert section["proposals"] == (
            "aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-"
            f"{DEFAULT_IKE_DH}"
        )
        (child,) = section["children"].values()
        assert child["esp_proposals"] == f"aes128gcm16-aes256gcm16-{DEFAULT_ESP_DH}"


def hand_built(**tunnel_options: Any) -> dict[str, Any]:
    """A described connection with just the keys given, both tunnels alike."""
    tunnels = [
        {
            "OutsideIpAddress": f"198.51.100.{200 + number}",
            "TunnelInsideCidr": f"169.254.40.{4 * number}/30",
            "PreSharedKey": f"Hand{number}BuiltKey_x",
            **tunnel_options,
        }
        for number in (0, 1)
    ]
    return {
        "VpnConnectionId": "vpn-0handbuilt",
        "VpnGatewayId": "vgw-0handbuilt",
        "CustomerGatewayId": "cgw-0handbuilt",
        "Options": {"StaticRoutesOnly": False, "TunnelOptions": tunnels},
        "Routes": [],
    }


def test_options_a_described_tunnel_leaves_out_take_aws_defaults():
    first, _ = device_tunnels(hand_built(), "203.0.113.10")
    assert first.ike_versions == ("ikev1", "ikev2"), "VPN-14"
    assert first.ike_version == 0
    assert first.phase2_encryption_algorithms == (
        "AES128",
        "AES256",
        "AES128-GCM-16",
        "AES256-GCM-16",
    ), "VPN-17"
    assert first.phase1_dh_group_numbers[0] == 2, "VPN-19"
    assert 5 not in first.phase1_dh_group_numbers, "VPN-20: group 5 phase 2 only"
    assert 5 in first.phase2_dh_group_numbers
    assert (first.phase1_lifetime_seconds, first.phase2_lifetime_seconds) == (
        28800,
        3600,
    ), "VPN-22, VPN-23"
    assert first.rekey_margin_time_seconds == 270, "VPN-25"
    assert first.rekey_fuzz_percentage == 100, "VPN-26"
    assert first.replay_window_size == 1024, "VPN-27"
    assert first.dpd_timeout_seconds == 30, "VPN-29"
    assert first.startup_action == "add", "VPN-31"


def test_ikev1_only_offers_one_proposal_per_combination():
    config = config_of(BGP)  # one selector pair: 0.0.0.0/0 both ways
    connection = hand_built(
        IkeVersions=[{"Value": "ikev1"}],
        Phase1EncryptionAlgorithms=[{"Value": "AES128"}, {"Value": "AES256"}],
        Phase1IntegrityAlgorithms=[{"Value": "SHA1"}, {"Value": "SHA2-256"}],
        Phase1DHGroupNumbers=[{"Value": 2}, {"Value": 14}],
        Phase2EncryptionAlgorithms=[{"Value": "AES128"}],
        Phase2IntegrityAlgorithms=[{"Value": "SHA1"}],
        Phase2DHGroupNumbers=[{"Value": 2}, {"Value": 5}],
    )
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert section["version"] == "1"
        assert section["proposals"].split(",") == [
            "aes128-sha1-modp1024",
            "aes128-sha1-modp2048",
            "aes128-sha256-modp1024",
            "aes128-sha256-modp2048",
            "aes256-sha1-modp1024",
            "aes256-sha1-modp2048",
            "aes256-sha256-modp1024",
            "aes256-sha256-modp2048",
        ]
        assert section["dpd_timeout"] == "30s", "IKEv1 takes DPD's timeout"
        (child,) = section["children"].values()
        assert child["esp_proposals"] == "aes128-sha1-modp1024,aes128-sha1-modp1536"


def test_ikev1_only_refuses_several_on_premises_networks():
    # IKEv1 negotiates one selector pair per SA, AWS one SA pair per tunnel.
    config = config_of(STATIC)
    connection = hand_built(IkeVersions=[{"Value": "ikev1"}])
    connection["Options"]["StaticRoutesOnly"] = True
    with pytest.raises(ValueError, match="VPN-48"):
        render("strongswan", config, connection)


def test_pre_shared_keys_are_only_in_secret_files(stacks):
    config, connection, asn = stacks["static"]
    keys = list(TUNNEL_KEYS.values())
    tunnels = device_tunnels(connection, config.on_premises.customer_gateway_ip)

    for tunnel in tunnels:
        for text in (repr(tunnel), str(tunnel), repr(tunnel.pre_shared_key)):
            assert not any(key in text for key in keys)
    for device in DEVICES:
        files = render(device, config, connection, amazon_side_asn=asn)
        secret = [f for f in files if f.secret]
        assert secret, f"{device} writes its keys somewhere"
        for device_file in files:
            assert not any(key in repr(device_file) for key in keys)
            if device_file.secret:
                assert all(key in device_file.text for key in keys)
            else:
                assert not any(key in device_file.text for key in keys), (
                    f"{device_file.name} holds a pre-shared key"
                )
    assert {f.name for f in render("strongswan", config, connection) if f.secret} == {
        SWANCTL_SECRETS
    }
    generic = render("generic", config, connection)
    assert [(f.name, f.secret) for f in generic] == [(GENERIC_TEXT, True)]


def test_write_files_keeps_secrets_private(stacks, tmp_path):
    config, connection, _ = stacks["static"]
    folder = tmp_path / "gateway" / "vpn"
    files = render("strongswan", config, connection)

    paths = write_files(folder, files)

    assert [p.name for p in paths] == [SWANCTL_CONF, SWANCTL_SECRETS, FIREWALL_NFT]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {SWANCTL_CONF: 0o644, SWANCTL_SECRETS: 0o600, FIREWALL_NFT: 0o644}
    for path, device_file in zip(paths, files, strict=True):
        assert path.read_text() == device_file.text

    # A world-readable copy left behind does not stay readable.
    (folder / SWANCTL_SECRETS).chmod(0o644)
    write_files(folder, files)
    assert stat.S_IMODE((folder / SWANCTL_SECRETS).stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted(modes), "no temp left"


def test_write_files_leaves_an_existing_folder_as_it_is(tmp_path):
    tmp_path.chmod(0o755)
    write_files(tmp_path, [DeviceFile("vpn-connection.txt", "# keys\n", secret=True)])
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "vpn-connection.txt").stat().st_mode) == 0o600


# MTU-02: (MTU, MSS IPv4, MSS IPv6-in-IPv4), as RULES.md gives them.
@pytest.mark.parametrize(
    ("encryption", "integrity", "nat_traversal", "figures"),
    [
        (["AES128-GCM-16"], [], False, (1446, 1406, 1386)),
        (["AES256-GCM-16"], ["SHA2-512"], True, (1438, 1398, 1378)),
        (["AES128"], ["SHA1"], False, (1438, 1398, 1378)),
        (["AES256"], ["SHA2-256"], True, (1422, 1382, 1362)),
        (["AES128"], ["SHA2-384"], False, (1422, 1382, 1362)),
        (["AES128"], ["SHA2-384"], True, (1422, 1382, 1362)),
        (["AES128"], ["SHA2-512"], False, (1422, 1382, 1362)),
        (["AES128"], ["SHA2-512"], True, (1406, 1366, 1346)),
        # Any allowed proposal may be chosen: the costliest one counts.
        (["AES128-GCM-16", "AES128"], ["SHA1", "SHA2-512"], True, (1406, 1366, 1346)),
    ],
)
def test_esp_mtu_follows_mtu_02(encryption, integrity, nat_traversal, figures):
    result = esp_mtu(encryption, integrity, nat_traversal=nat_traversal)
    assert (result.mtu, result.mss, result.mss_ipv6) == figures


def mss_clamps(files: list[DeviceFile]) -> set[str]:
    firewall = files_by_name(files)[FIREWALL_NFT].text
    return {
        line.rsplit(" ", 1)[1]
        for line in firewall.splitlines()
        if "maxseg size set" in line and not line.lstrip().startswith("#")
    }


def test_mss_and_mtu_for_cbc_with_sha2_256_match_mtu_01_02(stacks):
    config, connection, asn = stacks["bgp"]
    # strongSwan's user-space ESP always uses NAT-T: 1422/1382.
    assert mss_clamps(render("strongswan", config, connection)) == {"1382", "mtu"}
    generic = render("generic", config, connection, amazon_side_asn=asn)[0].text
    assert generic.count("TCP MSS Adjustment                  : 1398 bytes") == 2
    assert generic.count("(1382 with NAT-T, UDP 4500)") == 2
    assert generic.count("Tunnel Interface MTU                : 1438 bytes") == 2
    assert generic.count("(1422 with NAT-T, UDP 4500)") == 2


def test_mss_and_mtu_for_gcm_only_match_mtu_01_02(stacks):
    config, connection, _ = stacks["gcm"]
    assert mss_clamps(render("strongswan", config, connection)) == {"1398", "mtu"}
    generic = render("generic", config, connection)[0].text
    assert generic.count("TCP MSS Adjustment                  : 1406 bytes") == 2
    assert generic.count("(1398 with NAT-T, UDP 4500)") == 2
    assert generic.count("Tunnel Interface MTU                : 1446 bytes") == 2
    assert generic.count("(1438 with NAT-T, UDP 4500)") == 2


def test_firewall_opens_ike_nat_t_and_esp_to_both_endpoints_and_clamps_the_vpc(stacks):
    config, connection, _ = stacks["static"]
    firewall = files_by_name(render("strongswan", config, connection))[FIREWALL_NFT]
    lines = [line.strip() for line in firewall.text.splitlines()]
    endpoints = ", ".join(
        t["OutsideIpAddress"] for t in connection["Options"]["TunnelOptions"]
    )
    assert f"elements = {{ {endpoints} }}" in lines
    assert "table ip exchange_nordwind {" in lines
    for direction in ("saddr", "daddr"):
        assert (
            f"ip {direction} @aws_tunnel_endpoints udp dport {{ 500, 4500 }} "
            "counter accept" in lines
        ), "VPN-49"
        assert (
            f"ip {direction} @aws_tunnel_endpoints ip protocol esp counter accept"
            in lines
        ), "VPN-49"
        # Defaults allow AES-CBC with SHA2-512: 1406/1366 with NAT-T.
        assert (
            f"ip {direction} 10.42.0.0/16 tcp flags syn tcp option maxseg size > 1366 "
            "tcp option maxseg size set 1366" in lines
        )
    assert "MTU-07" in firewall.text


def test_static_routing_carries_the_on_premises_networks_to_the_vpc(stacks):
    config, connection, _ = stacks["static"]
    for child in children(swanctl(render("strongswan", config, connection))).values():
        assert child["local_ts"] == "192.168.10.0/24,192.168.20.0/24,192.168.30.0/24"
        assert child["remote_ts"] == "10.42.0.0/16"
    conf_text = files_by_name(render("strongswan", config, connection))[SWANCTL_CONF]
    assert "neighbour" not in conf_text.text

    generic = render("generic", config, connection)[0].text
    assert "Next Hop                            : 169.254.21.1" in generic
    assert "Next Hop                            : 169.254.21.5" in generic, "DEV-09"
    assert "Neighbor IP Address" not in generic
    assert "  - 192.168.30.0/24" in generic, "the connection's static routes"


def test_bgp_carries_everything_and_names_the_neighbours(stacks):
    config, connection, asn = stacks["bgp"]
    assert asn == 64600, "the VGW's AmazonSideAsn"
    files = render("strongswan", config, connection, amazon_side_asn=asn)
    for child in children(swanctl(files)).values():
        assert (child["local_ts"], child["remote_ts"]) == ("0.0.0.0/0", "0.0.0.0/0")
    text = files_by_name(files)[SWANCTL_CONF].text
    for aws_inside, customer_inside in (
        ("169.254.21.1", "169.254.21.2"),
        ("169.254.21.5", "169.254.21.6"),
    ):
        assert (
            f"address {customer_inside}/30 on this gateway, neighbour\n"
            f"#     {aws_inside} remote-as 64600, local-as 65010, hold time 30 s"
        ) in text, "DEV-09"

    generic = render("generic", config, connection, amazon_side_asn=asn)[0].text
    assert generic.count("Virtual Private Gateway ASN         : 64600") == 2
    assert generic.count("Customer Gateway ASN                : 65010") == 2
    assert "Neighbor IP Address                 : 169.254.21.5" in generic
    assert generic.count("Neighbor Hold Time                  : 30 seconds") == 2
    assert "Next Hop" not in generic


def test_amazon_side_asn_defaults_to_the_configuration_then_64512(stacks):
    config, connection, _ = stacks["bgp"]
    text = render("generic", config, connection)[0].text
    assert "Virtual Private Gateway ASN         : 64600" in text
    text = render("generic", config, connection, amazon_side_asn=64512)[0].text
    assert "Virtual Private Gateway ASN         : 64512" in text


def test_a_connection_routed_otherwise_than_the_file_says_is_refused(stacks):
    config = config_of(STATIC)
    _, connection, _ = stacks["bgp"]
    with pytest.raises(ValueError, match="routing: static"):
        render("strongswan", config, connection)


def test_selectors_outside_what_the_connection_accepts_are_refused(stacks):
    config, connection, _ = stacks["static"]
    connection["Options"]["LocalIpv4NetworkCidr"] = "192.168.10.0/24"
    with pytest.raises(ValueError, match=r"192\.168\.20\.0/24.*VPN-36"):
        render("strongswan", config, connection)


def test_the_gateway_initiates_unless_aws_does(stacks):
    # The static example has AWS start both tunnels (StartupAction start).
    config, connection, _ = stacks["static"]
    for child in children(swanctl(render("strongswan", config, connection))).values():
        assert child["start_action"] == "trap"
        assert "close_action" not in child

    config, connection, _ = stacks["defaults"]  # StartupAction add: AWS only answers
    for child in children(swanctl(render("strongswan", config, connection))).values():
        assert child["start_action"] == "start"
        assert child["close_action"] == "start"


def test_lifetimes_dpd_and_replay_window_follow_the_tunnel_options(stacks):
    # Margin 540 s, fuzz 100 %, DPD timeout 30 s, replay window 1024.
    config, connection, _ = stacks["bgp"]
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert (section["rekey_time"], section["over_time"]) == ("28260s", "540s")
        assert section["rand_time"] == "540s"
        assert section["dpd_delay"] == "10s", "DEV-07: 3 probes in AWS's 30 s"
        assert "dpd_timeout" not in section, "IKEv2 has no DPD timeout setting"
        (child,) = section["children"].values()
        assert (child["rekey_time"], child["life_time"]) == ("3060s", "3600s")
        assert child["rand_time"] == "540s"
        assert child["replay_window"] == "1024"
        assert child["dpd_action"] == "restart"


def test_rand_time_is_the_fuzzed_part_of_the_margin():
    config = config_of(BGP)
    connection = hand_built(
        IkeVersions=[{"Value": "ikev2"}],
        RekeyMarginTimeSeconds=300,
        RekeyFuzzPercentage=50,
        Phase2LifetimeSeconds=1800,
        DpdTimeoutSeconds=45,
    )
    conf = swanctl(render("strongswan", config, connection))
    for section in conf["connections"].values():
        assert (section["rekey_time"], section["rand_time"]) == ("28500s", "150s")
        assert section["dpd_delay"] == "15s"
        (child,) = section["children"].values()
        assert (child["rekey_time"], child["life_time"]) == ("1500s", "1800s")
        assert child["rand_time"] == "150s"


def test_every_file_says_what_it_is_for_whom_and_on_which_rules(stacks):
    config, connection, _ = stacks["static"]
    vpn_id = connection["VpnConnectionId"]
    for device in DEVICES:
        for device_file in render(device, config, connection):
            lines = device_file.text.splitlines()
            header = []
            for line in lines:
                if not line.startswith("#"):
                    break
                header.append(line.lstrip("# "))
            about = " ".join(header)
            assert lines[0].startswith("# "), device_file.name
            assert "Nordwind Logistik GmbH (nordwind)" in about
            assert vpn_id in about
            assert "from the stack's tunnel options" in about
            assert "RULES.md" in about
            assert "VPN-" in about


def test_generic_text_lists_the_connection_and_each_tunnel(stacks):
    config, connection, _ = stacks["static"]
    text = render("generic", config, connection)[0].text
    for key in ("VpnConnectionId", "VpnGatewayId", "CustomerGatewayId"):
        assert connection[key] in text, "DEV-05"
    assert "IPSec Tunnel #1" in text and "IPSec Tunnel #2" in text
    first, second = connection["Options"]["TunnelOptions"]
    assert "Pre-Shared Key                      : Kq7vTunnelOneKey_4711" in text
    assert "Pre-Shared Key                      : Zr2mTunnelTwoKey.0815" in text
    assert text.count("Authentication Method               : Pre-Shared Key") == 2
    assert "Virtual Private Gateway             : 169.254.21.1/30" in text
    assert "Customer Gateway                    : 169.254.21.6/30" in text
    assert f"Virtual Private Gateway             : {second['OutsideIpAddress']}" in text
    assert (
        "Encryption Algorithms               : AES128, AES256, AES128-GCM-16, "
        "AES256-GCM-16" in text
    )
    assert "Diffie-Hellman Groups               : 2, 14, 15" in text
    assert (
        f"UDP 500 (IKE), to and from {first['OutsideIpAddress']} and "
        f"{second['OutsideIpAddress']}" in text
    ), "VPN-49"
    assert "IP protocol 50 (ESP)" in text


def test_same_input_gives_the_same_bytes(stacks, tmp_path):
    config, connection, asn = stacks["bgp"]
    for device in DEVICES:
        first = render(device, config, connection, amazon_side_asn=asn)
        again = render(device, config_of(BGP), dict(connection), amazon_side_asn=asn)
        assert [(f.name, f.text, f.secret) for f in first] == [
            (f.name, f.text, f.secret) for f in again
        ]
        one = [p.read_bytes() for p in write_files(tmp_path / device / "1", first)]
        two = [p.read_bytes() for p in write_files(tmp_path / device / "2", again)]
        assert one == two


def test_unknown_devices_and_odd_connections_are_refused():
    config = config_of(BGP)
    with pytest.raises(ValueError, match="strongswan, generic"):
        render("cisco-asa", config, hand_built())
    one_tunnel = hand_built()
    one_tunnel["Options"]["TunnelOptions"].pop()
    with pytest.raises(ValueError, match="VPN-01"):
        render("strongswan", config, one_tunnel)
    bad_key = hand_built(PreSharedKey='Bad"Key#1')
    with pytest.raises(ValueError, match="VPN-04") as refused:
        render("strongswan", config, bad_key)
    assert "Bad" not in str(refused.value)


# --- strongSwan's and nftables' own parsers ---------------------------------

_CHARON = shutil.which("charon-systemd")
_SWANCTL = shutil.which("swanctl")
_UNSHARE = shutil.which("unshare")
_NFT = shutil.which("nft")
_ROOT = os.geteuid() == 0
SWANCTL_CREDENTIAL_FOLDERS = [
    "x509",
    "x509ca",
    "x509ocsp",
    "x509aa",
    "x509ac",
    "x509crl",
    "pubkey",
    "private",
    "rsa",
    "ecdsa",
    "bliss",
    "pkcs8",
    "pkcs12",
]


@pytest.mark.skipif(
    not (_CHARON and _SWANCTL and _UNSHARE and _ROOT),
    reason="needs strongSwan's charon-systemd and swanctl, unshare, and root "
    "(a private charon in a network namespace of its own)",
)
def test_strongswan_loads_both_tunnels_and_their_keys(stacks, tmp_path):
    """swanctl --load-all into a private charon in an empty network namespace.

    charon parses every connection and proposal itself, so a key or value it
    does not take fails the load. The namespace has no interface but a
    downed loopback: nothing the charon tries to initiate can leave it.
    """
    config, connection, _ = stacks["static"]
    tunnels = device_tunnels(connection, config.on_premises.customer_gateway_ip)
    folder = tmp_path / "swanctl"
    write_files(folder, render("strongswan", config, connection))
    # swanctl also loads credentials from the folders beside the file.
    for credentials in SWANCTL_CREDENTIAL_FOLDERS:
        (folder / credentials).mkdir()
    socket = f"unix://{tmp_path / 'charon.vici'}"
    strongswan_conf = tmp_path / "strongswan.conf"
    strongswan_conf.write_text(
        "charon {\n"
        "    load_modular = no\n"
        "    load = random nonce openssl pem pkcs1 x509 pubkey aes sha1 sha2 hmac "
        "gcm gmp kdf kernel-netlink socket-default vici\n"
        f"    plugins {{\n        vici {{\n            socket = {socket}\n"
        "        }\n    }\n"
        "}\n"
        "swanctl {\n    load = pem pkcs1 x509 pubkey\n"
        f"    socket = {socket}\n}}\n"
    )
    environment = {**os.environ, "STRONGSWAN_CONF": str(strongswan_conf)}
    charon = subprocess.Popen(
        [_UNSHARE, "--net", _CHARON],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "charon.vici").exists():
            assert charon.poll() is None, "charon exited"
            assert time.monotonic() < deadline, "charon opened no VICI socket"
            time.sleep(0.05)
        loaded = subprocess.run(
            [_SWANCTL, "--load-all", "--file", str(folder / SWANCTL_CONF)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
        )
        listed = subprocess.run(
            [_SWANCTL, "--list-conns"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        charon.send_signal(signal.SIGTERM)
        try:
            charon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            charon.kill()
            charon.wait()
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    for tunnel in tunnels:
        assert f"loaded ike secret 'ike-{tunnel.name}'" in loaded.stdout
        assert f"loaded connection '{tunnel.name}'" in loaded.stdout
        assert f"remote: {tunnel.aws_outside_ip}" in listed.stdout
    assert (
        listed.stdout.count("local:  192.168.10.0/24 192.168.20.0/24 192.168.30.0/24")
        == 2
    )
    assert listed.stdout.count("remote: 10.42.0.0/16") == 2
    assert "successfully loaded 2 connections" in loaded.stdout
    assert "failed" not in loaded.stdout + loaded.stderr
    assert not any(key in loaded.stdout + listed.stdout for key in TUNNEL_KEYS.values())


@pytest.mark.skipif(
    not (_NFT and _UNSHARE and _ROOT),
    reason="needs nft, unshare and root (checked in a network namespace of its own)",
)
def test_nftables_accepts_the_firewall(stacks, tmp_path):
    config, connection, _ = stacks["bgp"]
    (path,) = [
        p
        for p in write_files(tmp_path, render("strongswan", config, connection))
        if p.name == FIREWALL_NFT
    ]
    # Loaded twice: the file replaces its own table rather than failing.
    checked = subprocess.run(
        [_UNSHARE, "--net", "sh", "-c", f"nft -f {path} && nft -f {path}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr


def test_tunnel_inside_addresses_come_from_the_described_cidr():
    first, second = device_tunnels(hand_built(), IPv4Address("203.0.113.10"))
    assert first.inside_cidr == IPv4Network("169.254.40.0/30")
    assert (str(first.aws_inside_ip), str(first.customer_inside_ip)) == (
        "169.254.40.1",
        "169.254.40.2",
    )
    assert str(second.customer_inside_ip) == "169.254.40.6"
    assert first.name == "vpn-0handbuilt-tunnel1"
