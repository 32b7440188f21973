"""Tunnel options, BGP ASNs, secret references and the whitelist.

Each rule has a passing case and a failing one that names its id and line.
"""

from __future__ import annotations

import pytest

from exchange.config import model
from exchange.config.model import SecretRef, SecretUnavailable
from exchange.config.schema import schema_registry

from .samples import TUNNEL_KEYS, VALID, changed, found, line_of, validate_text

TUNNEL1 = "      preSharedKey: { env: NORDWIND_TUNNEL1_PSK }\n"
TUNNEL2 = "      preSharedKey: { env: NORDWIND_TUNNEL2_PSK }\n"
STATIC = "  routing: static\n"


def with_options(*options: str, tunnel: str = TUNNEL1) -> str:
    """The valid sample with options added to one tunnel."""
    return changed(tunnel, tunnel + "".join(f"      {o}\n" for o in options))


def with_bgp(asn: int, region: str = "eu-central-1", text: str = VALID) -> str:
    text = changed("region: eu-central-1", f"region: {region}", text)
    return changed(STATIC, f"  routing: bgp\n  bgpAsn: {asn}\n", text)


def with_amazon_side_asn(asn: int, text: str = VALID) -> str:
    return changed("vpn:\n", f"vpn:\n  amazonSideAsn: {asn}\n", text)


def with_whitelist(*egress_ips: str) -> str:
    entries = "".join(f"    - {ip}\n" for ip in egress_ips)
    section = f"whitelist:\n  egressIps:\n{entries}  ports: [443]\n"
    return changed("exchanges:\n", section + "exchanges:\n")


# One option per rule that the schema enforces: (rule, valid, invalid).
SCHEMA_CHECKED_OPTIONS = [
    ("VPN-14", "ikeVersions: [ikev1, ikev2]", "ikeVersions: [ikev2, ikev3]"),
    (
        "VPN-16",
        "phase1EncryptionAlgorithms: [AES256-GCM-16]",
        "phase1EncryptionAlgorithms: [DES]",
    ),
    (
        "VPN-17",
        "phase2EncryptionAlgorithms: [AES128]",
        "phase2EncryptionAlgorithms: [X]",
    ),
    (
        "VPN-18",
        "phase1IntegrityAlgorithms: [SHA2-512]",
        "phase1IntegrityAlgorithms: [MD5]",
    ),
    (
        "VPN-18",
        "phase2IntegrityAlgorithms: [SHA1]",
        "phase2IntegrityAlgorithms: [SHA3]",
    ),
    ("VPN-19", "phase1DhGroupNumbers: [2, 14, 24]", "phase1DhGroupNumbers: [14, 5]"),
    ("VPN-20", "phase2DhGroupNumbers: [2, 5, 24]", "phase2DhGroupNumbers: [25]"),
    # 900 s, the lowest phase 1 lifetime, leaves no room for phase 2 (VPN-24).
    ("VPN-22", "phase1LifetimeSeconds: 3601", "phase1LifetimeSeconds: 899"),
    ("VPN-22", "phase1LifetimeSeconds: 28800", "phase1LifetimeSeconds: 28801"),
    ("VPN-23", "phase2LifetimeSeconds: 900", "phase2LifetimeSeconds: 3601"),
    ("VPN-25", "rekeyMarginTimeSeconds: 60", "rekeyMarginTimeSeconds: 59"),
    ("VPN-26", "rekeyFuzzPercentage: 0", "rekeyFuzzPercentage: 101"),
    ("VPN-27", "replayWindowSize: 2048", "replayWindowSize: 4096"),
    ("VPN-27", "replayWindowSize: 64", "replayWindowSize: 63"),
    ("VPN-28", "dpdTimeoutSeconds: 30", "dpdTimeoutSeconds: 29"),
    (
        "VPN-30",
        # With its timeout, so that VPN-29 has nothing to warn about.
        "dpdTimeoutAction: clear\n      dpdTimeoutSeconds: 40",
        "dpdTimeoutAction: reset",
    ),
    ("VPN-31", "startupAction: start", "startupAction: begin"),
]


def test_schema_defaults_are_the_models_defaults():
    vpn = schema_registry().contents(
        "https://schemas.exchange-proof.dev/vpn.schema.json"
    )
    tunnel = vpn["$defs"]["tunnel"]["properties"]
    assert tunnel["phase1LifetimeSeconds"]["default"] == (
        model.DEFAULT_PHASE1_LIFETIME_SECONDS
    )
    assert tunnel["phase2LifetimeSeconds"]["default"] == (
        model.DEFAULT_PHASE2_LIFETIME_SECONDS
    )
    assert tunnel["rekeyMarginTimeSeconds"]["default"] == (
        model.DEFAULT_REKEY_MARGIN_TIME_SECONDS
    )
    assert tuple(tunnel["ikeVersions"]["default"]) == model.DEFAULT_IKE_VERSIONS
    assert tunnel["startupAction"]["default"] == model.DEFAULT_STARTUP_ACTION
    assert vpn["properties"]["amazonSideAsn"]["default"] == (
        model.DEFAULT_AMAZON_SIDE_ASN
    )


class TestTunnelOptionValues:
    @pytest.mark.parametrize(("rule", "valid", "invalid"), SCHEMA_CHECKED_OPTIONS)
    def test_allowed_value_passes(self, tmp_path, rule, valid, invalid):
        validation = validate_text(tmp_path, with_options(valid))
        assert validation.problems == [], validation.report()

    @pytest.mark.parametrize(("rule", "valid", "invalid"), SCHEMA_CHECKED_OPTIONS)
    def test_value_outside_the_rule_is_an_error_naming_it(
        self, tmp_path, rule, valid, invalid
    ):
        text = with_options(invalid)
        validation = validate_text(tmp_path, text)
        line = line_of(text, invalid)
        assert [(p.rule, p.line) for p in validation.errors] == [(rule, line)]

    def test_dh_group_5_in_phase_1_says_it_belongs_to_phase_2(self, tmp_path):
        validation = validate_text(tmp_path, with_options("phase1DhGroupNumbers: [5]"))
        assert "phase 2 only" in validation.errors[0].hint

    def test_wrong_type_is_a_schema_problem_not_the_rule(self, tmp_path):
        validation = validate_text(
            tmp_path, with_options("phase1LifetimeSeconds: long")
        )
        assert [p.rule for p in validation.errors] == ["SCHEMA"]

    def test_options_reach_the_typed_tunnel(self, tmp_path):
        text = with_options(
            "ikeVersions: [ikev2]",
            "phase2DhGroupNumbers: [20, 21]",
            "phase2LifetimeSeconds: 1800",
            "startupAction: start",
        )
        validation = validate_text(tmp_path, text)
        first, second = validation.config.vpn.tunnels
        assert first.ike_versions == ("ikev2",)
        assert first.phase2_dh_group_numbers == (20, 21)
        assert first.phase2_lifetime_seconds == 1800
        assert first.startup_action == "start"
        assert second.ike_versions is None
        assert second.effective_phase2_lifetime_seconds == 3600


class TestIkeVersions:
    def test_ikev2_only_passes(self, tmp_path):
        text = with_options("ikeVersions: [ikev2]")
        assert validate_text(tmp_path, text).problems == []

    def test_ikev1_only_is_a_warning_recommending_ikev2(self, tmp_path):
        text = with_options("ikeVersions: [ikev1]")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPN-15") == [("warning", line_of(text, "ikev1"))]
        assert "IKEv2" in validation.warnings[0].message

    def test_aws_may_start_a_tunnel_that_allows_ikev2(self, tmp_path):
        text = with_options("ikeVersions: [ikev2]", "startupAction: start")
        assert validate_text(tmp_path, text).problems == []

    def test_aws_may_start_a_tunnel_that_keeps_the_default_versions(self, tmp_path):
        text = with_options("startupAction: start")
        assert found(validate_text(tmp_path, text), "VPN-33") == []

    def test_aws_cannot_start_an_ikev1_only_tunnel(self, tmp_path):
        text = with_options("ikeVersions: [ikev1]", "startupAction: start")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPN-33") == [
            ("error", line_of(text, "startupAction"))
        ]


class TestLifetimes:
    def test_phase2_below_phase1_passes(self, tmp_path):
        text = with_options(
            "phase1LifetimeSeconds: 3600", "phase2LifetimeSeconds: 3000"
        )
        assert found(validate_text(tmp_path, text), "VPN-24") == []

    def test_phase2_equal_to_phase1_is_an_error_at_phase2(self, tmp_path):
        text = with_options(
            "phase1LifetimeSeconds: 3600", "phase2LifetimeSeconds: 3600"
        )
        validation = validate_text(tmp_path, text)
        line = line_of(text, "phase2LifetimeSeconds")
        assert found(validation, "VPN-24") == [("error", line)]

    def test_phase1_below_the_default_phase2_is_an_error_at_phase1(self, tmp_path):
        text = with_options("phase1LifetimeSeconds: 1800")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "phase1LifetimeSeconds")
        assert found(validation, "VPN-24") == [("error", line)]
        assert "AWS's default" in validation.errors[0].message

    def test_rekey_margin_of_half_phase2_passes(self, tmp_path):
        text = with_options("phase2LifetimeSeconds: 900", "rekeyMarginTimeSeconds: 450")
        assert validate_text(tmp_path, text).problems == []

    def test_rekey_margin_above_half_phase2_is_an_error(self, tmp_path):
        text = with_options("phase2LifetimeSeconds: 900", "rekeyMarginTimeSeconds: 451")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "rekeyMarginTimeSeconds")
        assert found(validation, "VPN-25") == [("error", line)]
        assert "60 to 450" in validation.errors[0].hint

    def test_rekey_margin_is_measured_against_the_default_phase2(self, tmp_path):
        text = with_options("rekeyMarginTimeSeconds: 1801")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "rekeyMarginTimeSeconds")
        assert found(validation, "VPN-25") == [("error", line)]


class TestDeadPeerDetection:
    def test_action_with_its_timeout_passes(self, tmp_path):
        text = with_options("dpdTimeoutSeconds: 30", "dpdTimeoutAction: restart")
        assert validate_text(tmp_path, text).problems == []

    def test_action_without_its_timeout_is_only_a_warning(self, tmp_path):
        text = with_options("dpdTimeoutAction: restart")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "dpdTimeoutAction")
        assert found(validation, "VPN-29") == [("warning", line)]
        assert validation.ok


class TestAmazonSideAsn:
    @pytest.mark.parametrize("asn", [64512, 65534, 4_200_000_000, 4_294_967_294])
    def test_private_asn_passes(self, tmp_path, asn):
        text = with_amazon_side_asn(asn)
        assert validate_text(tmp_path, text).problems == []
        assert validate_text(tmp_path, text).config.vpn.amazon_side_asn == asn

    @pytest.mark.parametrize("asn", [16509, 65535, 4_294_967_295, 0])
    def test_other_asn_is_an_error(self, tmp_path, asn):
        text = with_amazon_side_asn(asn)
        validation = validate_text(tmp_path, text)
        line = line_of(text, "amazonSideAsn")
        assert [(p.rule, p.line) for p in validation.errors] == [("VGW-01", line)]


class TestCustomerGatewayAsn:
    def test_private_asn_passes(self, tmp_path):
        assert validate_text(tmp_path, with_bgp(65010)).problems == []

    def test_asn_beyond_bgp_asn_is_an_error_naming_bgp_asn_extended(self, tmp_path):
        text = with_bgp(2_147_483_648)
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-06") == [("error", line_of(text, "bgpAsn"))]
        assert "BgpAsnExtended" in validation.errors[0].hint

    def test_7224_in_us_east_1_is_an_error(self, tmp_path):
        text = with_bgp(7224, region="us-east-1")
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-10") == [("error", line_of(text, "bgpAsn"))]

    def test_7224_elsewhere_is_a_warning(self, tmp_path):
        text = with_bgp(7224)
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-10") == [("warning", line_of(text, "bgpAsn"))]
        assert "unconfirmed" in validation.warnings[0].message

    def test_9059_in_eu_west_1_is_an_error(self, tmp_path):
        text = with_bgp(9059, region="eu-west-1")
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-11") == [("error", line_of(text, "bgpAsn"))]

    def test_9059_elsewhere_passes(self, tmp_path):
        assert validate_text(tmp_path, with_bgp(9059)).problems == []

    @pytest.mark.parametrize(
        ("asn", "region"),
        [(10124, "ap-northeast-1"), (17493, "ap-southeast-1")],
    )
    def test_legacy_amazon_asn_of_the_region_is_a_warning(self, tmp_path, asn, region):
        text = with_bgp(asn, region=region)
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-12") == [("warning", line_of(text, "bgpAsn"))]

    def test_legacy_amazon_asn_of_another_region_passes(self, tmp_path):
        assert validate_text(tmp_path, with_bgp(10124)).problems == []

    def test_asn_equal_to_the_default_amazon_side_is_an_error(self, tmp_path):
        text = with_bgp(64512)
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-13") == [("error", line_of(text, "bgpAsn"))]
        assert "default" in validation.errors[0].message

    def test_asn_equal_to_the_declared_amazon_side_is_an_error(self, tmp_path):
        text = with_amazon_side_asn(65010, with_bgp(65010))
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-13") == [("error", line_of(text, "bgpAsn"))]

    def test_amazon_side_equal_to_the_default_gateway_asn_is_an_error(self, tmp_path):
        # Without bgpAsn the customer gateway gets 65000 (CGW-06's default).
        text = with_amazon_side_asn(65000)
        validation = validate_text(tmp_path, text)
        line = line_of(text, "amazonSideAsn")
        assert found(validation, "CGW-13") == [("error", line)]

    def test_different_asns_pass(self, tmp_path):
        text = with_amazon_side_asn(64600, with_bgp(65010))
        assert validate_text(tmp_path, text).problems == []


class TestSecretsManagerReference:
    SECRET = "      preSharedKey: { secret: nordwind/tunnel2-psk }\n"

    def test_secret_reference_is_a_warning_offline(self, tmp_path):
        text = changed(TUNNEL2, self.SECRET)
        validation = validate_text(tmp_path, text)
        line = line_of(text, "nordwind/tunnel2-psk")
        assert found(validation, "SEC-02") == [("warning", line)]
        assert found(validation, "SEC-01") == []

    def test_env_reference_still_resolves(self, tmp_path):
        validation = validate_text(tmp_path, VALID)
        first = validation.config.vpn.tunnels[0].pre_shared_key
        assert first.resolve(TUNNEL_KEYS).reveal() == TUNNEL_KEYS[first.env]

    def test_secret_reference_reaches_the_model_and_refuses_to_resolve(self):
        reference = SecretRef(secret_name="nordwind/tunnel2-psk", purpose="the key")
        assert not reference.is_set({})
        with pytest.raises(SecretUnavailable, match="read at provisioning"):
            reference.resolve({})

    def test_env_and_secret_together_are_one_schema_problem(self, tmp_path):
        text = changed(
            "{ env: NORDWIND_TUNNEL2_PSK }",
            "{ env: NORDWIND_TUNNEL2_PSK, secret: nordwind/psk }",
        )
        validation = validate_text(tmp_path, text)
        assert [(p.rule, p.line) for p in validation.errors] == [
            ("SCHEMA", line_of(text, "nordwind/psk"))
        ]
        assert "env and secret" in validation.errors[0].message


class TestWhitelist:
    def test_single_public_addresses_pass(self, tmp_path):
        text = with_whitelist("198.51.100.7/32", "80.120.5.77/32")
        validation = validate_text(tmp_path, text)
        assert validation.problems == []
        assert validation.config.whitelist.ports == (443,)

    def test_whitelist_without_egress_ips_passes(self, tmp_path):
        text = changed("exchanges:\n", "whitelist:\n  ports: [443]\nexchanges:\n")
        validation = validate_text(tmp_path, text)
        assert validation.problems == []
        assert validation.config.whitelist.egress_ips == ()

    def test_a_network_is_a_warning(self, tmp_path):
        text = with_whitelist("198.51.100.0/24")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "198.51.100.0/24")
        assert found(validation, "SG-04") == [("warning", line)]
        assert "inferred" in validation.warnings[0].message

    def test_an_address_with_a_prefix_suggests_its_slash_32(self, tmp_path):
        validation = validate_text(tmp_path, with_whitelist("198.51.100.7/24"))
        assert "198.51.100.7/32" in validation.warnings[0].hint

    def test_a_private_address_is_an_error(self, tmp_path):
        text = with_whitelist("198.51.100.7/32", "10.42.0.10/32")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "10.42.0.10/32")
        assert [(p.rule, p.line) for p in validation.errors] == [("NAT-01", line)]
