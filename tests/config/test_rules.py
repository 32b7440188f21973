"""The semantic rules, one behaviour per test, on top of tests/examples/invalid/."""

from __future__ import annotations

import pytest

from exchange.config import RULES_BY_ID, validate_file
from exchange.config.loader import parse_text
from exchange.config.model import build_config
from exchange.config.rules import run_rules

from .samples import TUNNEL_KEYS, VALID, changed, found, line_of, validate_text


@pytest.mark.parametrize("rule", sorted(RULES_BY_ID))
def test_valid_sample_passes_rule(tmp_path, rule):
    assert found(validate_text(tmp_path, VALID), rule) == []


def test_rules_are_registered_under_their_ids():
    expected = {
        "VPC-08", "VPC-01", "VPC-04", "RDS-01", "VPC-09", "VPC-12", "CGW-01",
        "VPN-03", "VPN-04", "VPN-05", "SEC-01", "SEC-02",
        "VPN-08", "VPN-09", "VPN-11", "VPN-12", "EXC-01", "EXC-02",
        "MY-02", "EXC-08", "NLB-02", "EXC-03", "NLB-21", "MY-09", "EXC-04",
        "S3-01", "S3-02", "S3-03", "S3-04", "S3-05", "S3-06", "S3-07", "S3-08",
        "S3-10",
        "EXC-05", "SEC-03", "SEC-04", "EXC-06", "EXC-07",
        "VPN-15", "VPN-24", "VPN-25", "VPN-29", "VPN-33",
        "VGW-01", "CGW-10", "CGW-11", "CGW-12", "CGW-13", "SG-04", "NAT-01",
        "VPC-02", "VPC-03", "RDS-08", "VPN-35", "VPN-39", "NAT-06", "EXC-09",
    }  # fmt: skip
    assert set(RULES_BY_ID) == expected


def test_run_rules_locates_every_problem(tmp_path):
    text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.9/16")
    document = parse_text(text, tmp_path / "customer.yaml")
    config = build_config(document.data, document.path)
    (problem,) = [p for p in run_rules(config, document, TUNNEL_KEYS) if p.is_error]
    assert (problem.rule, problem.line, problem.col) == ("VPC-08", 7, 9)


class TestNetworks:
    def test_client_network_with_host_bits_names_its_network(self, tmp_path):
        text = changed("      - 192.168.10.0/24", "      - 192.168.10.1/24")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPC-08") == [("error", line_of(text, "10.1/24"))]
        assert "use 192.168.10.0/24" in validation.errors[0].hint

    def test_vpc_of_slash_27_holds_an_app_database(self, tmp_path):
        text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.0/27")
        assert validate_text(tmp_path, text).ok

    def test_vpc_of_slash_28_is_too_small_for_the_two_private_subnets(self, tmp_path):
        text = changed("  cidr: 10.42.0.0/16", "  cidr: 10.42.0.0/28")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPC-09") == [("error", line_of(text, "cidr:"))]
        assert found(validation, "VPC-01") == []
        assert "two availability zones" in validation.errors[0].message

    def test_client_network_inside_the_vpc_breaks_two_rules(self, tmp_path):
        text = changed("      - 192.168.10.0/24", "      - 10.42.3.0/24")
        validation = validate_text(tmp_path, text)
        line = line_of(text, "10.42.3.0/24")
        assert found(validation, "VPC-12") == [("error", line)]
        assert found(validation, "EXC-01") == [("error", line)]

    def test_client_network_inside_a_larger_on_premises_network_passes(self, tmp_path):
        text = changed("      - 192.168.10.0/24", "      - 192.168.10.128/25")
        assert validate_text(tmp_path, text).ok

    def test_exchange_names_must_differ(self, tmp_path):
        second = (
            "  - option: app-database\n    name: orders\n    schema: reports\n"
            "    clientNetworks:\n      - 192.168.20.0/24\n"
        )
        text = VALID + second
        lines = [n for n, ln in enumerate(text.splitlines(), 1) if "name: orders" in ln]
        validation = validate_text(tmp_path, text)
        assert found(validation, "EXC-02") == [("error", lines[1])]

    def test_one_hundred_networks_are_within_the_route_quota(self, tmp_path):
        networks = "".join(f"    - 192.168.{i}.0/24\n" for i in range(100))
        text = changed("    - 192.168.10.0/24\n    - 192.168.20.0/24\n", networks)
        assert found(validate_text(tmp_path, text), "VGW-06") == []

    def test_route_quota_counts_bgp_routes_too(self, tmp_path):
        # The schema's maxItems reports the quota, under VGW-06 (x-rule).
        networks = "".join(f"    - 192.168.{i}.0/24\n" for i in range(101))
        text = changed("    - 192.168.10.0/24\n    - 192.168.20.0/24\n", networks)
        text = changed("routing: static", "routing: bgp\n  bgpAsn: 65010", text)
        validation = validate_text(tmp_path, text)
        assert found(validation, "VGW-06") == [("error", line_of(text, "networks:"))]
        assert "at most 100" in validation.errors[0].message
        assert "BGP-advertised" in validation.errors[0].hint


class TestCustomerGateway:
    @pytest.mark.parametrize(
        ("address", "what"),
        [
            ("10.1.2.3", "private"),
            ("172.20.0.1", "private"),
            ("100.100.0.1", "shared address space"),
            ("127.0.0.1", "loopback"),
            ("169.254.7.7", "link-local"),
            ("224.0.0.5", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("240.1.1.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ],
    )
    def test_unroutable_address_is_an_error(self, tmp_path, address, what):
        text = changed("80.120.5.10", address)
        validation = validate_text(tmp_path, text)
        assert found(validation, "CGW-01") == [("error", line_of(text, address))]
        assert what in validation.errors[0].message
        assert "CGW-05" in validation.errors[0].hint

    def test_documentation_address_is_only_a_warning(self, tmp_path):
        validation = validate_text(tmp_path, changed("80.120.5.10", "192.0.2.44"))
        assert validation.ok
        (warning,) = validation.warnings
        assert warning.rule == "CGW-01"
        assert "fine for the simulator" in warning.message


class TestPreSharedKeys:
    def test_key_from_the_environment_is_checked_and_never_shown(self, tmp_path):
        environ = {**TUNNEL_KEYS, "NORDWIND_TUNNEL2_PSK": "0ab-c"}
        validation = validate_text(tmp_path, VALID, environ)
        line = line_of(VALID, "NORDWIND_TUNNEL2_PSK")
        assert {p.rule for p in validation.errors} == {"VPN-03", "VPN-04", "VPN-05"}
        assert {p.line for p in validation.errors} == {line}
        for problem in validation.errors:
            shown = problem.format("customer.yaml")
            assert "NORDWIND_TUNNEL2_PSK" in shown
            assert "0ab-c" not in shown

    def test_key_of_64_characters_passes(self, tmp_path):
        environ = {**TUNNEL_KEYS, "NORDWIND_TUNNEL1_PSK": "K" * 64}
        assert validate_text(tmp_path, VALID, environ).problems == []

    def test_key_of_65_characters_is_too_long(self, tmp_path):
        environ = {**TUNNEL_KEYS, "NORDWIND_TUNNEL1_PSK": "K" * 65}
        validation = validate_text(tmp_path, VALID, environ)
        line = line_of(VALID, "NORDWIND_TUNNEL1_PSK")
        assert found(validation, "VPN-03") == [("error", line)]

    def test_empty_variable_counts_as_a_too_short_key(self, tmp_path):
        environ = {**TUNNEL_KEYS, "NORDWIND_TUNNEL1_PSK": ""}
        assert found(validate_text(tmp_path, VALID, environ), "VPN-03")

    def test_unset_variable_is_a_warning_naming_it(self, tmp_path):
        validation = validate_text(tmp_path, VALID, environ={})
        assert validation.ok
        assert found(validation, "SEC-02") == [
            ("warning", line_of(VALID, "NORDWIND_TUNNEL1_PSK")),
            ("warning", line_of(VALID, "NORDWIND_TUNNEL2_PSK")),
        ]
        assert validation.warnings[0].message.startswith(
            "NORDWIND_TUNNEL1_PSK is not set"
        )

    def test_literal_key_is_checked_refused_and_never_shown(self, tmp_path):
        text = changed("{ env: NORDWIND_TUNNEL1_PSK }", '"Tunnel-Key"')
        validation = validate_text(tmp_path, text)
        line = line_of(text, "Tunnel-Key")
        assert found(validation, "VPN-04") == [("error", line)]
        assert found(validation, "SEC-01") == [("error", line)]
        assert all("Tunnel-Key" not in line for line in validation.report())

    def test_environment_defaults_to_the_process_environment(
        self, tmp_path, monkeypatch
    ):
        monkeypatch.setenv("NORDWIND_TUNNEL1_PSK", "short")
        monkeypatch.setenv("NORDWIND_TUNNEL2_PSK", TUNNEL_KEYS["NORDWIND_TUNNEL2_PSK"])
        path = tmp_path / "customer.yaml"
        path.write_text(VALID)
        assert [p.rule for p in validate_file(path).errors] == ["VPN-03"]


class TestInsideCidrs:
    def test_non_aligned_cidr_inside_a_reserved_block_is_reserved(self, tmp_path):
        text = changed("169.254.21.4/30", "169.254.169.253/30")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPN-09") == [("error", line_of(text, "169.253"))]
        assert "lies in 169.254.169.252/30" in validation.errors[0].message

    @pytest.mark.parametrize("cidr", [f"169.254.{i}.0/30" for i in range(6)])
    def test_every_reserved_block_is_refused(self, tmp_path, cidr):
        text = changed("169.254.21.4/30", cidr)
        assert found(validate_text(tmp_path, text), "VPN-09") == [
            ("error", line_of(text, cidr))
        ]

    def test_overlapping_inside_cidrs_are_refused(self, tmp_path):
        text = changed("169.254.21.4/30", "169.254.21.0/29")
        validation = validate_text(tmp_path, text)
        assert found(validation, "VPN-11") == [("error", line_of(text, "21.0/29"))]

    def test_same_inside_cidr_suggests_a_free_one(self, tmp_path):
        text = changed("169.254.21.4/30", "169.254.21.0/30")
        (problem,) = validate_text(tmp_path, text).errors
        assert problem.hint.endswith("e.g. 169.254.21.4/30")
