"""Rules that the schema reports under their RULES.md ids, and the checks
that complete the coverage: private VPC ranges, reserved database names,
routing and tunnel start-up advice, NAT gateway egress IPs, allowlist
forms and the whitelist's ports.

Each rule has a passing case and a failing one that names its id and line.
"""

from __future__ import annotations

import pytest

from .samples import VALID, changed, found, line_of, validate_text

TUNNEL1 = "      preSharedKey: { env: NORDWIND_TUNNEL1_PSK }\n"
TUNNEL2 = "      preSharedKey: { env: NORDWIND_TUNNEL2_PSK }\n"
APP_DATABASE = "    schema: orders\n"
SECRETS = {
    "NORDWIND_TUNNEL1_PSK": "Kq7vTunnelOneKey_4711",
    "NORDWIND_TUNNEL2_PSK": "Zr2mTunnelTwoKey.0815",
}


def started(text: str = VALID, *tunnels: str) -> str:
    """`text` with AWS starting the given tunnels (both by default)."""
    for tunnel in tunnels or (TUNNEL1, TUNNEL2):
        text = changed(tunnel, tunnel + "      startupAction: start\n", text)
    return text


def with_remote_database(*options: str, text: str = VALID) -> str:
    """`text` with a remote database through the VPN, AWS starting the tunnels."""
    extra = "".join(f"    {option}\n" for option in options)
    return started(text) + (
        "  - option: remote-database\n"
        "    name: warehouse\n"
        "    via: vpn\n"
        "    engine: mysql\n"
        "    address: 192.168.20.15\n"
        "    port: 3306\n" + extra
    )


def with_whitelist(*lines: str, text: str = VALID) -> str:
    section = "whitelist:\n" + "".join(f"  {line}\n" for line in lines)
    return changed("exchanges:\n", section + "exchanges:\n", text)


def with_web_service(url: str, *options: str, text: str = VALID) -> str:
    extra = "".join(f"    {option}\n" for option in options)
    return text + (
        "  - option: web-service\n"
        "    name: shipments\n"
        f"    url: {url}\n" + extra + "    schedule: { everyMinutes: 5 }\n"
    )


def with_whitelist_database(port: int, text: str = VALID) -> str:
    return text + (
        "  - option: remote-database\n"
        "    name: finance\n"
        "    via: whitelist\n"
        "    engine: postgres\n"
        "    host: db.nordwind.example\n"
        f"    port: {port}\n"
    )


def validate(tmp_path, text: str):
    return validate_text(tmp_path, text, SECRETS)


# Ranges the schema holds, each reported under its row: (rule, valid, invalid).
APP_DATABASE_VALUES = [
    ("RDS-09", "port: 1150", "port: 1149"),
    ("RDS-10", "storageGb: 20", "storageGb: 19"),
    ("RDS-10", "storageGb: 65536", "storageGb: 65537"),
]
HEALTH_CHECK_VALUES = [
    ("NLB-10", "protocol: TCP", "protocol: UDP"),
    ("NLB-11", "intervalSeconds: 5", "intervalSeconds: 4"),
    ("NLB-11", "intervalSeconds: 300", "intervalSeconds: 301"),
    ("NLB-12", "timeoutSeconds: 2", "timeoutSeconds: 1"),
    ("NLB-12", "timeoutSeconds: 120", "timeoutSeconds: 121"),
    ("NLB-13", "healthyThreshold: 10", "healthyThreshold: 11"),
    ("NLB-13", "unhealthyThreshold: 2", "unhealthyThreshold: 1"),
]


class TestSchemaRangesNameTheirRule:
    @pytest.mark.parametrize(("rule", "valid", "invalid"), APP_DATABASE_VALUES)
    def test_database_value_in_range_passes(self, tmp_path, rule, valid, invalid):
        text = changed(APP_DATABASE, APP_DATABASE + f"    {valid}\n")
        assert validate(tmp_path, text).problems == []

    @pytest.mark.parametrize(("rule", "valid", "invalid"), APP_DATABASE_VALUES)
    def test_database_value_out_of_range_names_the_rule(
        self, tmp_path, rule, valid, invalid
    ):
        text = changed(APP_DATABASE, APP_DATABASE + f"    {invalid}\n")
        validation = validate(tmp_path, text)
        assert [(p.rule, p.line) for p in validation.errors] == [
            (rule, line_of(text, invalid))
        ]

    @pytest.mark.parametrize(("rule", "valid", "invalid"), HEALTH_CHECK_VALUES)
    def test_health_check_in_range_passes(self, tmp_path, rule, valid, invalid):
        text = with_remote_database("healthCheck:", f"  {valid}")
        assert validate(tmp_path, text).problems == []

    @pytest.mark.parametrize(("rule", "valid", "invalid"), HEALTH_CHECK_VALUES)
    def test_health_check_out_of_range_names_the_rule(
        self, tmp_path, rule, valid, invalid
    ):
        text = with_remote_database("healthCheck:", f"  {invalid}")
        validation = validate(tmp_path, text)
        assert [(p.rule, p.line) for p in validation.errors] == [
            (rule, line_of(text, invalid))
        ]

    def test_idle_timeout_in_range_passes(self, tmp_path):
        text = with_remote_database("idleTimeoutSeconds: 6000")
        assert validate(tmp_path, text).problems == []

    @pytest.mark.parametrize("seconds", [59, 6001])
    def test_idle_timeout_out_of_range_names_nlb_18(self, tmp_path, seconds):
        text = with_remote_database(f"idleTimeoutSeconds: {seconds}")
        validation = validate(tmp_path, text)
        line = line_of(text, "idleTimeoutSeconds")
        assert [(p.rule, p.line) for p in validation.errors] == [("NLB-18", line)]

    @pytest.mark.parametrize("name", ["orders_2024", "A" + "b" * 63])
    def test_database_name_of_letters_digits_and_underscores_passes(
        self, tmp_path, name
    ):
        text = changed(APP_DATABASE, f"    schema: {name}\n")
        assert validate(tmp_path, text).problems == []

    @pytest.mark.parametrize("name", ['"2024_orders"', "orders-eu", "A" + "b" * 64])
    def test_database_name_of_another_form_names_rds_08(self, tmp_path, name):
        text = changed(APP_DATABASE, f"    schema: {name}\n")
        validation = validate(tmp_path, text)
        line = line_of(text, "schema:")
        assert [(p.rule, p.line) for p in validation.errors] == [("RDS-08", line)]

    def test_value_of_the_wrong_type_stays_a_schema_problem(self, tmp_path):
        text = changed(APP_DATABASE, APP_DATABASE + '    port: "3306"\n')
        assert [p.rule for p in validate(tmp_path, text).errors] == ["SCHEMA"]


class TestTunnelCount:
    SECOND = "    - insideCidr: 169.254.21.4/30\n" + TUNNEL2

    def test_two_tunnels_pass(self, tmp_path):
        assert validate(tmp_path, VALID).problems == []

    def test_one_tunnel_names_vpn_01(self, tmp_path):
        text = changed(self.SECOND, "")
        validation = validate(tmp_path, text)
        line = line_of(text, "tunnels:")
        assert [(p.rule, p.line) for p in validation.errors] == [("VPN-01", line)]
        assert "exactly 2 are needed" in validation.errors[0].message

    def test_three_tunnels_name_vpn_02(self, tmp_path):
        third = "    - insideCidr: 169.254.21.8/30\n" + TUNNEL2
        text = changed(self.SECOND, self.SECOND + third)
        validation = validate(tmp_path, text)
        line = line_of(text, "tunnels:")
        assert [(p.rule, p.line) for p in validation.errors] == [("VPN-02", line)]


class TestVpcRanges:
    @pytest.mark.parametrize(
        "cidr", ["10.42.0.0/16", "172.16.0.0/16", "192.168.64.0/20"]
    )
    def test_private_vpc_outside_172_17_passes(self, tmp_path, cidr):
        text = changed("  cidr: 10.42.0.0/16", f"  cidr: {cidr}")
        assert validate(tmp_path, text).problems == []

    def test_vpc_in_172_17_is_a_warning(self, tmp_path):
        text = changed("  cidr: 10.42.0.0/16", "  cidr: 172.17.0.0/16")
        validation = validate(tmp_path, text)
        assert validation.ok
        assert [(p.rule, p.severity) for p in validation.problems] == [
            ("VPC-03", "warning")
        ]
        assert "Cloud9" in validation.warnings[0].message

    @pytest.mark.parametrize("cidr", ["81.20.0.0/16", "100.64.0.0/16"])
    def test_vpc_outside_rfc_1918_is_only_a_warning(self, tmp_path, cidr):
        text = changed("  cidr: 10.42.0.0/16", f"  cidr: {cidr}")
        validation = validate(tmp_path, text)
        assert validation.ok
        assert found(validation, "VPC-02") == [("warning", line_of(text, "cidr:"))]

    def test_link_local_vpc_is_vpc_04_alone(self, tmp_path):
        text = changed("  cidr: 10.42.0.0/16", "  cidr: 169.254.0.0/16")
        validation = validate(tmp_path, text)
        assert found(validation, "VPC-04") == [("error", line_of(text, "cidr:"))]
        assert found(validation, "VPC-02") == []


class TestReservedDatabaseNames:
    @pytest.mark.parametrize("name", ["order", "SELECT", "Table", "InnoDB", "key"])
    def test_reserved_word_is_an_error(self, tmp_path, name):
        text = changed(APP_DATABASE, f"    schema: {name}\n")
        validation = validate(tmp_path, text)
        line = line_of(text, "schema:")
        assert [(p.rule, p.line) for p in validation.errors] == [("RDS-08", line)]
        assert "reserved word" in validation.errors[0].message

    @pytest.mark.parametrize("name", ["orders", "innodb_data", "selection"])
    def test_name_containing_a_reserved_word_passes(self, tmp_path, name):
        text = changed(APP_DATABASE, f"    schema: {name}\n")
        assert validate(tmp_path, text).problems == []

    def test_scnavigator_database_name_is_checked_too(self, tmp_path):
        text = VALID + (
            "  - option: scnavigator-database\n"
            "    name: catalogue\n"
            "    schema: database\n"
            "    clientNetworks:\n"
            "      - 192.168.10.0/24\n"
        )
        validation = validate(tmp_path, text)
        assert found(validation, "RDS-08") == [
            ("error", line_of(text, "schema: database"))
        ]


class TestRoutingAdvice:
    def test_routing_left_out_is_a_warning_recommending_bgp(self, tmp_path):
        text = changed("  routing: static\n", "")
        validation = validate(tmp_path, text)
        assert validation.ok
        assert found(validation, "VPN-39") == [
            ("warning", line_of(text, "onPremises:"))
        ]
        assert "routing: bgp" in validation.warnings[0].hint

    def test_routing_written_as_static_passes(self, tmp_path):
        assert found(validate(tmp_path, VALID), "VPN-39") == []

    def test_bgp_routing_passes(self, tmp_path):
        text = changed("  routing: static\n", "  routing: bgp\n  bgpAsn: 65010\n")
        assert found(validate(tmp_path, text), "VPN-39") == []


class TestTunnelStartup:
    def test_tunnels_aws_starts_pass(self, tmp_path):
        assert validate(tmp_path, with_remote_database()).problems == []

    def test_remote_database_through_tunnels_aws_does_not_start_warns_once(
        self, tmp_path
    ):
        text = with_remote_database().replace("      startupAction: start\n", "")
        validation = validate(tmp_path, text)
        assert found(validation, "VPN-35") == [
            ("warning", line_of(text, "169.254.21.0/30"))
        ]
        assert "both tunnels" in validation.warnings[0].message
        assert "keepalive" in validation.warnings[0].hint

    def test_one_tunnel_left_to_the_device_is_named(self, tmp_path):
        text = with_remote_database().replace(
            "      startupAction: start\n", "      startupAction: add\n", 1
        )
        (warning,) = validate(tmp_path, text).warnings
        assert (warning.rule, warning.line) == ("VPN-35", line_of(text, ": add"))
        assert warning.message.startswith("tunnel 1 waits")

    def test_exchanges_the_customer_starts_need_no_warning(self, tmp_path):
        assert found(validate(tmp_path, VALID), "VPN-35") == []


class TestEgressIps:
    def test_one_egress_ip_is_a_warning(self, tmp_path):
        text = with_whitelist("egressIps:", "  - 80.120.9.7/32", "ports: [443]")
        validation = validate(tmp_path, text)
        assert validation.ok
        assert found(validation, "NAT-06") == [("warning", line_of(text, "egressIps:"))]
        assert "inferred" in validation.warnings[0].message

    def test_one_per_nat_gateway_passes(self, tmp_path):
        text = with_whitelist(
            "egressIps:", "  - 80.120.9.7/32", "  - 80.120.9.8/32", "ports: [443]"
        )
        assert validate(tmp_path, text).problems == []

    def test_egress_ips_left_out_before_provisioning_pass(self, tmp_path):
        assert validate(tmp_path, with_whitelist("ports: [443]")).problems == []

    def test_a_network_of_two_addresses_is_sg_04_alone(self, tmp_path):
        text = with_whitelist("egressIps:", "  - 80.120.9.6/31", "ports: [443]")
        validation = validate(tmp_path, text)
        assert [p.rule for p in validation.problems] == ["SG-04"]


class TestFirewallAllowlist:
    def test_network_address_passes(self, tmp_path):
        text = with_remote_database("firewallAllowlist:", "  - 10.42.0.0/16")
        assert validate(tmp_path, text).problems == []

    def test_host_bits_are_an_error_naming_the_network(self, tmp_path):
        text = with_remote_database("firewallAllowlist:", "  - 10.42.0.1/16")
        validation = validate(tmp_path, text)
        line = line_of(text, "10.42.0.1/16")
        assert [(p.rule, p.line) for p in validation.errors] == [("VPC-08", line)]
        assert "use 10.42.0.0/16" in validation.errors[0].hint


class TestWhitelistPorts:
    URL = "https://api.nordwind.example/v1/shipments"

    def test_web_service_with_443_admitted_passes(self, tmp_path):
        text = with_whitelist("ports: [443]", text=with_web_service(self.URL))
        assert validate(tmp_path, text).problems == []

    def test_web_service_without_a_whitelist_is_a_warning_saying_what_to_add(
        self, tmp_path
    ):
        text = with_whitelist_database(5432, with_web_service(self.URL))
        validation = validate(tmp_path, text)
        assert validation.ok
        assert found(validation, "EXC-09") == [
            ("warning", line_of(text, "url:")),
            ("warning", line_of(text, "port: 5432")),
        ]
        assert "ports: [443, 5432]" in validation.warnings[0].hint

    def test_database_port_missing_from_the_whitelist_is_an_error(self, tmp_path):
        text = with_whitelist("ports: [443]", text=with_whitelist_database(5432))
        validation = validate(tmp_path, text)
        line = line_of(text, "ports: [443]")
        assert [(p.rule, p.line) for p in validation.errors] == [("EXC-09", line)]
        assert "add 5432 to whitelist.ports" in validation.errors[0].hint

    def test_database_port_admitted_passes(self, tmp_path):
        text = with_whitelist("ports: [5432]", text=with_whitelist_database(5432))
        assert validate(tmp_path, text).problems == []

    def test_explicit_url_port_is_the_one_needed(self, tmp_path):
        url = "https://api.nordwind.example:8443/v1/shipments"
        text = with_whitelist("ports: [443]", text=with_web_service(url))
        validation = validate(tmp_path, text)
        assert [p.rule for p in validation.errors] == ["EXC-09"]
        assert "port 8443" in validation.errors[0].message

    def test_plain_http_allowed_needs_port_80(self, tmp_path):
        url = "http://api.nordwind.example/v1/shipments"
        service = with_web_service(url, "allowPlainHttp: true")
        validation = validate(tmp_path, with_whitelist("ports: [443]", text=service))
        assert [p.rule for p in validation.errors] == ["EXC-09"]
        assert "port 80" in validation.errors[0].message

    def test_plain_http_refused_is_left_to_sec_03(self, tmp_path):
        url = "http://api.nordwind.example/v1/shipments"
        text = with_whitelist("ports: [443]", text=with_web_service(url))
        assert [p.rule for p in validate(tmp_path, text).errors] == ["SEC-03"]

    def test_exchanges_through_the_vpn_need_no_whitelist(self, tmp_path):
        assert found(validate(tmp_path, with_remote_database()), "EXC-09") == []
