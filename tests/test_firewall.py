"""The data plane's firewalls as nftables rulesets (simulator/firewall.py).

The rendered text is tested without root. What the rules do is tested in
network namespaces of the tests' own ("exst" and random hex; marked netns,
skipped without root or nft): a fixture builds them and removes them even
when a test fails, asserting that none is left. Traffic runs only between
those namespaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from exchange.config import load_config
from exchange.vpn_device import FIREWALL_NFT, render
from simulator import firewall as fw
from simulator import netns
from tests.config.samples import ROOT, TUNNEL_KEYS

CLIENT_NETWORK = "192.168.10.0/24"
OTHER_NETWORK = "192.168.20.0/24"
VPC_CIDR = "10.42.0.0/16"
EGRESS_IP = "203.0.113.130"
OTHER_SOURCE = "203.0.113.140"
ON_PREMISES_DATABASE = "192.168.10.20"
AWS_ENDPOINTS = ("198.51.100.130", "198.51.100.131")

# The app database's group as the simulator describes it: one ingress rule
# per client network, and no egress rule (the provider removes AWS's
# allow-all unless the program declares egress).
DB_GROUP = {
    "GroupId": "sg-0a1b2c3d4e5f60718",
    "GroupName": "nordwind-appdb-sg",
    "IpPermissions": [
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "IpRanges": [{"CidrIp": CLIENT_NETWORK, "Description": "client network"}],
            "UserIdGroupPairs": [],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
        }
    ],
    "IpPermissionsEgress": [],
}
APP_GROUP_ID = "sg-0fedcba9876543210"


def group(*ingress: dict, egress: list[dict] | None = None, **fields) -> dict:
    return {
        "GroupId": "sg-0123456789abcdef0",
        "GroupName": "test-sg",
        "IpPermissions": list(ingress),
        "IpPermissionsEgress": egress if egress is not None else [],
        **fields,
    }


def permission(protocol: str, low: int | None = None, high: int | None = None, **kw):
    rule: dict = {"IpProtocol": protocol, "IpRanges": [], "UserIdGroupPairs": []}
    if low is not None:
        rule["FromPort"], rule["ToPort"] = low, high
    rule.update(kw)
    return rule


def chain(ruleset: str, name: str) -> str:
    """The text of one chain of a rendered ruleset."""
    found = re.search(
        rf"^    chain {re.escape(name)} \{{\n(.*?)^    \}}", ruleset, re.M | re.S
    )
    assert found, f"no chain {name} in:\n{ruleset}"
    return found.group(1)


def customer_firewall(**changes) -> str:
    arguments = {
        "outside_if": "out0",
        "tunnel_if": "tun0",
        "site_networks": [CLIENT_NETWORK, OTHER_NETWORK],
        "vpc_cidr": VPC_CIDR,
        "whitelist": [(f"{EGRESS_IP}/32", ON_PREMISES_DATABASE, 3306)],
        "aws_tunnel_endpoints": AWS_ENDPOINTS,
        **changes,
    }
    return fw.customer_firewall_ruleset(**arguments)


def rendered() -> dict[str, str]:
    """One ruleset of each kind, as the simulator would render them."""
    return {
        "security groups": fw.security_group_ruleset(
            [
                DB_GROUP,
                group(
                    permission("-1", IpRanges=[{"CidrIp": VPC_CIDR}]),
                    permission("icmp", 3, 4, IpRanges=[{"CidrIp": "0.0.0.0/0"}]),
                    permission("udp", 1000, 2000, IpRanges=[{"CidrIp": "10.0.0.0/8"}]),
                    permission(
                        "tcp", 3306, 3306, UserIdGroupPairs=[{"GroupId": APP_GROUP_ID}]
                    ),
                    egress=[permission("-1", IpRanges=[{"CidrIp": "0.0.0.0/0"}])],
                ),
            ],
            members={APP_GROUP_ID: ["10.42.1.5", "10.42.2.5"]},
        ),
        "customer firewall": customer_firewall(),
        "customer firewall without VPN": customer_firewall(aws_tunnel_endpoints=()),
        "NAT gateway": fw.nat_gateway_ruleset(
            outside_if="out0",
            elastic_ip="203.0.113.131",
            private_networks=["10.42.1.0/24", "10.42.2.0/24"],
        ),
        "MSS clamp to the route": fw.mss_clamp_ruleset(interfaces=["ipsec0"]),
        "MSS clamp to a value": fw.mss_clamp_ruleset(
            interfaces=["ipsec0", "eth1"], mss=1366
        ),
        "MTU black hole": fw.mtu_black_hole_ruleset(
            clamp_tables=(fw.MSS_CLAMP_TABLE, "exchange_nordwind")
        ),
    }


# --- the rendered text ---------------------------------------------------------


@pytest.mark.parametrize("kind", list(rendered()))
def test_every_table_is_an_exchange_table_that_replaces_itself(kind):
    ruleset = rendered()[kind]
    defined = re.findall(r"^table ip (\S+) \{", ruleset, re.M)
    assert defined, ruleset
    for table in re.findall(r"^table ip (\S+)", ruleset, re.M):
        assert table.startswith("exchange_"), table
    for table in defined:
        # Declared and deleted before the definition, all in one file: one
        # transaction replaces the table, whether it was loaded before or not.
        replaced = f"table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
        assert replaced in ruleset, ruleset


@pytest.mark.parametrize("kind", list(rendered()))
def test_every_rule_says_where_it_comes_from(kind):
    ruleset = rendered()[kind]
    verdicts = [
        line
        for line in ruleset.splitlines()
        if re.search(r"\b(accept|drop|snat to|set rt mtu|size set \d+)\b", line)
        and "policy" not in line
    ]
    assert verdicts, ruleset
    for line in verdicts:
        assert re.search(r'comment "[^"]+"$', line), line


def test_security_groups_drop_silently_what_they_do_not_admit_both_ways():
    ruleset = fw.security_group_ruleset([DB_GROUP])
    assert "type filter hook input priority filter; policy drop;" in chain(
        ruleset, "input"
    )
    assert "type filter hook output priority filter; policy drop;" in chain(
        ruleset, "output"
    )
    # Silently, as AWS does: a client times out, it is not refused.
    assert "reject" not in ruleset


def test_security_groups_admit_replies_and_loopback_whatever_the_rules():
    ruleset = fw.security_group_ruleset([group()])
    for name, interface in (("input", "iifname"), ("output", "oifname")):
        text = chain(ruleset, name)
        assert "ct state established,related accept" in text, "SG-05"
        assert f'{interface} "lo" accept' in text


def test_an_ingress_rule_admits_its_network_to_its_port_naming_group_and_rule():
    ruleset = fw.security_group_ruleset([DB_GROUP])
    group_id = DB_GROUP["GroupId"]
    assert f"jump {group_id}_ingress" in chain(ruleset, "input")
    assert (
        f"ip saddr {CLIENT_NETWORK} tcp dport 3306 counter accept comment "
        f'"{group_id} ingress: tcp 3306 from {CLIENT_NETWORK} (client network)"'
    ) in chain(ruleset, f"{group_id}_ingress")
    assert f"{group_id} (nordwind-appdb-sg)" in chain(ruleset, f"{group_id}_ingress")


def test_a_group_without_egress_rules_lets_only_replies_out():
    ruleset = fw.security_group_ruleset([DB_GROUP])
    egress = chain(ruleset, f"{DB_GROUP['GroupId']}_egress")
    assert "accept" not in egress


def test_all_traffic_matches_no_protocol_or_port():
    ruleset = fw.security_group_ruleset(
        [group(egress=[permission("-1", IpRanges=[{"CidrIp": "0.0.0.0/0"}])])]
    )
    assert (
        "ip daddr 0.0.0.0/0 counter accept comment "
        '"sg-0123456789abcdef0 egress: all traffic to 0.0.0.0/0"'
    ) in chain(ruleset, "sg-0123456789abcdef0_egress")


@pytest.mark.parametrize(
    ("low", "high", "match"),
    [
        (8, -1, "icmp type 8 counter accept"),
        (3, 4, "icmp type 3 icmp code 4 counter accept"),
        (-1, -1, "meta l4proto icmp counter accept"),
    ],
)
def test_icmp_rules_match_type_and_code(low, high, match):
    rule = permission("icmp", low, high, IpRanges=[{"CidrIp": "10.0.0.0/8"}])
    ruleset = fw.security_group_ruleset([group(rule)])
    assert f"ip saddr 10.0.0.0/8 {match}" in ruleset


@pytest.mark.parametrize(
    ("protocol", "low", "high", "match"),
    [
        ("tcp", 3306, 3306, "tcp dport 3306"),
        ("6", 3306, 3306, "tcp dport 3306"),
        ("udp", 1000, 2000, "udp dport 1000-2000"),
        ("tcp", 0, 65535, "meta l4proto tcp"),
        ("50", None, None, "meta l4proto 50"),
    ],
)
def test_ports_and_protocols_follow_the_rule(protocol, low, high, match):
    rule = permission(protocol, low, high, IpRanges=[{"CidrIp": "10.0.0.0/8"}])
    assert f"ip saddr 10.0.0.0/8 {match} counter accept" in (
        fw.security_group_ruleset([group(rule)])
    )


def test_a_referenced_group_admits_its_members_addresses():
    rule = permission("tcp", 3306, 3306, UserIdGroupPairs=[{"GroupId": APP_GROUP_ID}])
    ruleset = fw.security_group_ruleset(
        [group(rule)], members={APP_GROUP_ID: ["10.42.2.5", "10.42.1.5"]}
    )
    assert (
        "ip saddr { 10.42.1.5, 10.42.2.5 } tcp dport 3306 counter accept comment "
        f'"sg-0123456789abcdef0 ingress: tcp 3306 from members of {APP_GROUP_ID}"'
    ) in ruleset


def test_a_referenced_group_without_members_admits_nothing():
    rule = permission("tcp", 3306, 3306, UserIdGroupPairs=[{"GroupId": APP_GROUP_ID}])
    ruleset = fw.security_group_ruleset([group(rule)], members={APP_GROUP_ID: []})
    assert "accept" not in chain(ruleset, "sg-0123456789abcdef0_ingress")
    assert f"members of {APP_GROUP_ID}: it has none" in ruleset


def test_a_referenced_group_of_unknown_members_is_refused():
    rule = permission("tcp", 3306, 3306, UserIdGroupPairs=[{"GroupId": APP_GROUP_ID}])
    with pytest.raises(ValueError, match=f"members={{'{APP_GROUP_ID}'"):
        fw.security_group_ruleset([group(rule)])


def test_several_groups_on_one_interface_admit_the_union_of_their_rules():
    other = group(
        permission("tcp", 3306, 3306, IpRanges=[{"CidrIp": OTHER_NETWORK}]),
        GroupId="sg-0other",
    )
    ruleset = fw.security_group_ruleset([DB_GROUP, other, DB_GROUP])
    jumps = re.findall(r"jump (\S+)_ingress", chain(ruleset, "input"))
    assert jumps == [DB_GROUP["GroupId"], "sg-0other"]
    assert f"ip saddr {CLIENT_NETWORK} tcp dport 3306" in ruleset
    assert f"ip saddr {OTHER_NETWORK} tcp dport 3306" in ruleset


def test_prefix_lists_and_unknown_protocols_are_refused():
    listed = permission("tcp", 443, 443, PrefixListIds=[{"PrefixListId": "pl-0abc"}])
    with pytest.raises(ValueError, match="pl-0abc"):
        fw.security_group_ruleset([group(listed)])
    odd = permission("gre", IpRanges=[{"CidrIp": "10.0.0.0/8"}])
    with pytest.raises(ValueError, match="'gre'"):
        fw.security_group_ruleset([group(odd)])


def test_ipv6_only_rules_are_left_out():
    rule = permission("icmpv6", -1, -1, Ipv6Ranges=[{"CidrIpv6": "::/0"}])
    ruleset = fw.security_group_ruleset([group(rule)])
    assert "accept" not in chain(ruleset, "sg-0123456789abcdef0_ingress")


def test_without_ingress_from_revokes_exactly_that_network():
    wider = dict(DB_GROUP["IpPermissions"][0])
    wider["IpRanges"] = [
        {"CidrIp": CLIENT_NETWORK},
        {"CidrIp": "192.168.0.0/16"},
        {"CidrIp": OTHER_NETWORK},
    ]
    groups = [dict(DB_GROUP, IpPermissions=[wider])]
    (revoked,) = fw.without_ingress_from(groups, CLIENT_NETWORK)
    assert [r["CidrIp"] for r in revoked["IpPermissions"][0]["IpRanges"]] == [
        "192.168.0.0/16",
        OTHER_NETWORK,
    ]
    # The groups given are left as they were.
    assert len(groups[0]["IpPermissions"][0]["IpRanges"]) == 3
    assert f"ip saddr {CLIENT_NETWORK} " not in fw.security_group_ruleset([revoked])


def test_comments_hold_no_quotes_and_fit_what_nftables_keeps():
    described = permission(
        "tcp",
        3306,
        3306,
        IpRanges=[{"CidrIp": CLIENT_NETWORK, "Description": 'the "ERP" ' + "x" * 300}],
    )
    ruleset = fw.security_group_ruleset([group(described)])
    (comment,) = [
        text for text in re.findall(r'comment "([^"\n]*)"', ruleset) if "ERP" in text
    ]
    assert "'ERP'" in comment
    assert len(comment.encode()) <= fw.COMMENT_LIMIT
    assert ruleset.count('"') % 2 == 0


def test_the_customer_firewall_drops_forwarding_unless_whitelisted_or_a_reply():
    forward = chain(customer_firewall(), "forward")
    assert "type filter hook forward priority filter; policy drop;" in forward
    assert "ct state established,related accept" in forward
    assert (
        f'iifname "out0" ip saddr {EGRESS_IP}/32 ip daddr {ON_PREMISES_DATABASE} '
        "tcp dport 3306 counter accept comment "
        f'"whitelist: {EGRESS_IP}/32 to {ON_PREMISES_DATABASE} tcp 3306"'
    ) in forward
    assert "reject" not in forward


def test_a_whitelist_without_an_entry_admits_nothing_from_the_internet():
    forward = chain(customer_firewall(whitelist=[]), "forward")
    admitted_inbound = [
        line
        for line in forward.splitlines()
        if line.strip().startswith('iifname "out0"')
    ]
    assert admitted_inbound == []


def test_the_vpc_reaches_the_site_only_through_the_tunnel_interface():
    forward = chain(customer_firewall(), "forward")
    assert (
        f'iifname "tun0" ip saddr {VPC_CIDR} ip daddr @site_networks counter accept'
    ) in forward
    assert (
        f'iifname != "out0" oifname "tun0" ip saddr @site_networks ip daddr {VPC_CIDR}'
    ) in forward
    assert "elements = { 192.168.10.0/24, 192.168.20.0/24 }" in customer_firewall()


def test_the_gateway_takes_only_ike_and_esp_from_the_aws_endpoints():
    ruleset = customer_firewall()
    assert "elements = { 198.51.100.130, 198.51.100.131 }" in ruleset
    gateway = chain(ruleset, "input")
    assert (
        'iifname "out0" ip saddr @aws_tunnel_endpoints udp dport { 500, 4500 }'
    ) in gateway, "VPN-49"
    assert 'iifname "out0" ip saddr @aws_tunnel_endpoints ip protocol esp' in gateway
    assert (
        gateway.rstrip()
        .splitlines()[-1]
        .strip()
        .startswith('iifname "out0" counter drop')
    )
    assert "aws_tunnel_endpoints" not in customer_firewall(aws_tunnel_endpoints=())


def test_the_nat_gateway_rewrites_the_private_subnets_to_its_elastic_ip():
    ruleset = fw.nat_gateway_ruleset(
        outside_if="out0", elastic_ip="203.0.113.131", private_networks=["10.42.1.0/24"]
    )
    assert "type nat hook postrouting priority srcnat" in chain(ruleset, "postrouting")
    assert (
        'oifname "out0" ip saddr @private_networks counter snat to 203.0.113.131'
    ) in chain(ruleset, "postrouting"), "NAT-01"
    assert 'iifname "out0" counter drop' in chain(ruleset, "forward")


def test_the_mss_clamp_follows_the_route_or_a_value():
    to_route = fw.mss_clamp_ruleset(interfaces=["ipsec0"])
    assert (
        'oifname { "ipsec0" } tcp flags syn / syn,rst tcp option maxseg size set rt mtu'
    ) in to_route
    to_value = fw.mss_clamp_ruleset(interfaces=["ipsec0"], mss=1366)
    for direction in ("oifname", "iifname"):
        assert (
            f'{direction} {{ "ipsec0" }} tcp flags syn / syn,rst '
            "tcp option maxseg size > 1366 tcp option maxseg size set 1366"
        ) in to_value
    with pytest.raises(ValueError, match="MSS"):
        fw.mss_clamp_ruleset(interfaces=["ipsec0"], mss=100)
    with pytest.raises(ValueError, match="interface"):
        fw.mss_clamp_ruleset(interfaces=[])


def test_the_mtu_black_hole_removes_the_clamps_and_drops_fragmentation_needed():
    ruleset = fw.mtu_black_hole_ruleset(
        clamp_tables=(fw.MSS_CLAMP_TABLE, "exchange_nordwind")
    )
    for table in (fw.MSS_CLAMP_TABLE, "exchange_nordwind"):
        assert f"table ip {table}\ndelete table ip {table}\n" in ruleset
        assert f"table ip {table} {{" not in ruleset
    drop = "icmp type destination-unreachable icmp code frag-needed counter drop"
    for hook in ("forward", "output"):
        assert drop in chain(ruleset, hook)
    assert "maxseg" not in ruleset


def test_tables_and_names_outside_the_simulators_are_refused():
    with pytest.raises(ValueError, match="exchange_"):
        fw.mtu_black_hole_ruleset(clamp_tables=("filter",))
    with pytest.raises(ValueError, match="exchange_"):
        fw.flush("exst-unused", "nat")
    with pytest.raises(ValueError, match="interface name"):
        customer_firewall(outside_if='out0" accept')


# --- in network namespaces -------------------------------------------------------

needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft", path=fw.NFT_ENVIRONMENT["PATH"]) is None,
    reason="needs root (network namespaces) and nft (Debian's nftables)",
)

CONNECT_TIMEOUT_S = 1.0
PAYLOAD = os.urandom(256 * 1024)


class Lab:
    """Namespaces of one test, wired by veth pairs; removed by the fixture."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.made: list[netns.Namespace] = []

    def host(self, role: str, *, router: bool = False) -> netns.Namespace:
        namespace = netns.Namespace.create(f"{self.prefix}{role}", router=router)
        self.made.append(namespace)
        return namespace

    def wire(self, a, a_if, a_cidr, b, b_if, b_cidr, *, mtu=None) -> None:
        netns.veth(a, a_if, b, b_if, mtu=mtu)
        netns.add_address(a, a_if, a_cidr)
        netns.add_address(b, b_if, b_cidr)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(f"exst{secrets.token_hex(3)}-")
    try:
        yield lab
    finally:
        for namespace in lab.made:
            namespace.delete()
        # Also what a failure halfway through creating one may have left.
        left = netns.remove_namespaces(lab.prefix)
        assert left == [], f"namespaces left behind: {left}"


def listen(namespace: netns.Namespace, port: int) -> socket.socket:
    with netns.entered(namespace):
        listener = socket.create_server(("0.0.0.0", port))
    listener.settimeout(CONNECT_TIMEOUT_S)
    return listener


def connect(
    namespace: netns.Namespace, address: str, port: int, *, source: str | None = None
) -> socket.socket:
    """A TCP connection from inside `namespace` (a socket keeps its namespace)."""
    with netns.entered(namespace):
        client = socket.socket()
    try:
        client.settimeout(CONNECT_TIMEOUT_S)
        if source:
            client.bind((source, 0))
        client.connect((address, port))
    except BaseException:
        client.close()
        raise
    return client


def outcome(namespace, address, port, *, source=None) -> str:
    """What a client sees: connected, refused, or timed out."""
    try:
        with connect(namespace, address, port, source=source):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timed out"


def nft_tables(namespace: netns.Namespace) -> list[str]:
    with netns.entered(namespace):
        listed = subprocess.run(
            ["nft", "list", "tables"], capture_output=True, text=True, check=True
        )
    return [line.split()[-1] for line in listed.stdout.splitlines()]


@pytest.fixture
def database_lan(lab: Lab) -> dict[str, netns.Namespace]:
    """A database host with a client in the client network and one outside it."""
    db, client, other = lab.host("db"), lab.host("client"), lab.host("other")
    lab.wire(client, "eth0", "192.168.10.10/24", db, "cli0", "192.168.10.1/24")
    lab.wire(other, "eth0", "192.168.20.10/24", db, "oth0", "192.168.20.1/24")
    return {"db": db, "client": client, "other": other}


@pytest.mark.netns
@needs_namespaces
def test_a_security_group_admits_its_client_network_and_times_out_another(
    database_lan,
):
    db, client, other = database_lan.values()
    with listen(db, 3306):
        # Without the group, both reach the database: the path is not the cause.
        assert outcome(other, "192.168.20.1", 3306) == "connected"
        fw.apply(db.name, fw.security_group_ruleset([DB_GROUP]))
        # The SYN-ACK leaves with no egress rule: replies pass (SG-05).
        assert outcome(client, "192.168.10.1", 3306) == "connected"
        started = time.monotonic()
        assert outcome(other, "192.168.20.1", 3306) == "timed out"
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + 2


@pytest.mark.netns
@needs_namespaces
def test_a_group_missing_the_client_network_times_its_clients_out(database_lan):
    db, client, _ = database_lan.values()
    with listen(db, 3306):
        fw.apply(db.name, fw.security_group_ruleset([DB_GROUP]))
        assert outcome(client, "192.168.10.1", 3306) == "connected"
        revoked = fw.without_ingress_from([DB_GROUP], CLIENT_NETWORK)
        fw.apply(db.name, fw.security_group_ruleset(revoked))
        assert outcome(client, "192.168.10.1", 3306) == "timed out"
        assert nft_tables(db) == [fw.SECURITY_GROUPS_TABLE]


@pytest.mark.skipif(
    shutil.which("nft", path=fw.NFT_ENVIRONMENT["PATH"]) is None,
    reason="needs nft (Debian's nftables)",
)
def test_loading_into_a_namespace_that_is_not_there_raises_firewall_error():
    with pytest.raises(fw.FirewallError, match="exst-absent: there is no namespace"):
        fw.apply("exst-absent", fw.mss_clamp_ruleset(interfaces=["ipsec0"]))


@pytest.mark.netns
@needs_namespaces
def test_a_refused_ruleset_leaves_the_running_one_in_force(database_lan):
    db, _, other = database_lan.values()
    fw.apply(db.name, fw.security_group_ruleset([DB_GROUP]))
    broken = fw.security_group_ruleset([]).replace("policy drop;", "policy maybe;")
    with pytest.raises(fw.FirewallError, match=f"{db.name}: nft refused"):
        fw.apply(db.name, broken)
    with listen(db, 3306):
        assert outcome(other, "192.168.20.1", 3306) == "timed out"
    fw.flush(db.name, fw.SECURITY_GROUPS_TABLE)
    fw.flush(db.name, fw.SECURITY_GROUPS_TABLE)  # gone already: nothing to do
    assert nft_tables(db) == []


@pytest.fixture
def customer_edge(lab: Lab) -> dict[str, netns.Namespace]:
    """The internet, the customer's gateway, its site, and the VPC behind a tunnel.

    A veth named like the tunnel interface stands in for ipsec0: what the
    firewall tells apart is the interface, not IPsec.
    """
    hosts = {
        "internet": lab.host("inet"),
        "gateway": lab.host("cgw", router=True),
        "site": lab.host("site"),
        "vpc": lab.host("vpc"),
    }
    internet, gateway, site, vpc = hosts.values()
    lab.wire(internet, "eth0", f"{EGRESS_IP}/24", gateway, "out0", "203.0.113.1/24")
    netns.add_address(internet, "eth0", f"{OTHER_SOURCE}/24")
    lab.wire(
        site, "eth0", f"{ON_PREMISES_DATABASE}/24", gateway, "lan0", "192.168.10.1/24"
    )
    lab.wire(vpc, "eth0", "169.254.10.2/30", gateway, "tun0", "169.254.10.1/30")
    netns.add_address(vpc, "eth0", "10.42.0.10/32")
    netns.add_route(internet, CLIENT_NETWORK, via="203.0.113.1")
    netns.add_route(site, "default", via="192.168.10.1")
    netns.add_route(vpc, CLIENT_NETWORK, via="169.254.10.1")
    netns.add_route(gateway, VPC_CIDR, via="169.254.10.2")
    return hosts


@pytest.mark.netns
@needs_namespaces
def test_the_customer_firewall_passes_the_whitelisted_egress_ip_and_drops_others(
    customer_edge,
):
    internet, gateway, site, vpc = customer_edge.values()
    fw.apply(gateway.name, customer_firewall())
    with listen(site, 3306), listen(site, 8443):
        database = (ON_PREMISES_DATABASE, 3306)
        assert outcome(internet, *database, source=EGRESS_IP) == "connected"
        assert outcome(internet, *database, source=OTHER_SOURCE) == "timed out"
        # Whitelisted for one port only.
        assert (
            outcome(internet, ON_PREMISES_DATABASE, 8443, source=EGRESS_IP)
            == "timed out"
        )
        # The VPC comes in through the tunnel, whatever the whitelist.
        assert outcome(vpc, *database, source="10.42.0.10") == "connected"


@pytest.mark.netns
@needs_namespaces
def test_a_whitelist_missing_the_egress_ip_times_the_platform_out(customer_edge):
    internet, gateway, site, _ = customer_edge.values()
    whitelist = [fw.WhitelistEntry(f"{EGRESS_IP}/32", ON_PREMISES_DATABASE, 3306)]
    with listen(site, 3306):
        fw.apply(gateway.name, customer_firewall(whitelist=whitelist))
        database = (ON_PREMISES_DATABASE, 3306)
        assert outcome(internet, *database, source=EGRESS_IP) == "connected"
        missing = [entry for entry in whitelist if entry.source != f"{EGRESS_IP}/32"]
        fw.apply(gateway.name, customer_firewall(whitelist=missing))
        assert outcome(internet, *database, source=EGRESS_IP) == "timed out"


@pytest.fixture
def private_subnet(lab: Lab) -> dict[str, netns.Namespace]:
    """An app host in a private subnet, a NAT gateway, and a host on the internet."""
    hosts = {
        "app": lab.host("app"),
        "nat": lab.host("nat", router=True),
        "far": lab.host("far"),
    }
    app, nat, far = hosts.values()
    lab.wire(app, "eth0", "10.42.1.10/24", nat, "lan0", "10.42.1.1/24")
    lab.wire(nat, "out0", "203.0.113.131/24", far, "eth0", "203.0.113.50/24")
    netns.add_address(nat, "out0", "203.0.113.132/24")
    netns.add_route(app, "default", via="10.42.1.1")
    return hosts


def peer_of_one_connection(app, far, port: int) -> str:
    """The source address the far side sees for a connection from the app."""
    with listen(far, port) as listener, connect(app, "203.0.113.50", port):
        accepted, (address, _) = listener.accept()
        accepted.close()
    return address


@pytest.mark.netns
@needs_namespaces
def test_nat_rewrites_the_source_to_the_elastic_ip(private_subnet):
    app, nat, far = private_subnet.values()
    fw.apply(
        nat.name,
        fw.nat_gateway_ruleset(
            outside_if="out0",
            elastic_ip="203.0.113.131",
            private_networks=["10.42.1.0/24"],
        ),
    )
    assert peer_of_one_connection(app, far, 443) == "203.0.113.131"
    # The NAT gateway's IP changed (a fault): the next connection shows it.
    fw.apply(
        nat.name,
        fw.nat_gateway_ruleset(
            outside_if="out0",
            elastic_ip="203.0.113.132",
            private_networks=["10.42.1.0/24"],
        ),
    )
    assert peer_of_one_connection(app, far, 444) == "203.0.113.132"


@pytest.mark.netns
@needs_namespaces
def test_the_nat_gateway_opens_no_connection_from_the_internet(private_subnet):
    _, nat, far = private_subnet.values()
    # Nothing listens on the Elastic IP: the kernel refuses...
    assert outcome(far, "203.0.113.131", 22) == "refused"
    fw.apply(
        nat.name,
        fw.nat_gateway_ruleset(
            outside_if="out0",
            elastic_ip="203.0.113.131",
            private_networks=["10.42.1.0/24"],
        ),
    )
    # ...until the NAT gateway drops what it did not open.
    assert outcome(far, "203.0.113.131", 22) == "timed out"


class PayloadServer:
    """Sends PAYLOAD to every client that connects, from inside a namespace."""

    def __init__(self, namespace: netns.Namespace, port: int) -> None:
        self.listener = listen(namespace, port)
        self.listener.settimeout(0.1)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept)]

    def __enter__(self) -> PayloadServer:
        self.threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in list(self.threads):
            thread.join(timeout=10)
        self.listener.close()
        assert not any(thread.is_alive() for thread in self.threads)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            sender = threading.Thread(target=self._send, args=(connection,))
            self.threads.append(sender)
            sender.start()

    def _send(self, connection: socket.socket) -> None:
        with connection:
            # A transfer into the black hole stalls: give up after a while.
            connection.settimeout(3.0)
            with contextlib.suppress(OSError):
                connection.sendall(PAYLOAD)


def fetch(namespace, address: str, port: int, *, within_s: float) -> int:
    """How many bytes of PAYLOAD arrive within `within_s` seconds."""
    received = 0
    deadline = time.monotonic() + within_s
    with connect(namespace, address, port) as client:
        while received < len(PAYLOAD):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            client.settimeout(remaining)
            try:
                chunk = client.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += len(chunk)
    return received


@pytest.mark.netns
@needs_namespaces
def test_the_mtu_black_hole_hangs_a_large_transfer_and_the_clamp_cures_it(lab):
    # server ── r1 ══ 1400 ══ r2 ── client: two gateways and a narrow tunnel.
    server, r1 = lab.host("server"), lab.host("r1", router=True)
    r2, client = lab.host("r2", router=True), lab.host("client")
    lab.wire(server, "eth0", "10.1.0.10/24", r1, "a0", "10.1.0.1/24")
    lab.wire(r1, "mid0", "10.9.0.1/30", r2, "mid0", "10.9.0.2/30", mtu=1400)
    lab.wire(r2, "b0", "10.2.0.1/24", client, "eth0", "10.2.0.10/24")
    netns.add_route(server, "default", via="10.1.0.1")
    netns.add_route(client, "default", via="10.2.0.1")
    netns.add_route(r1, "10.2.0.0/24", via="10.9.0.2")
    netns.add_route(r2, "10.1.0.0/24", via="10.9.0.1")
    gateways = (r1, r2)

    with PayloadServer(server, 5000):
        for gateway in gateways:
            fw.apply(gateway.name, fw.mtu_black_hole_ruleset())
        # The connection opens, but full-sized segments never get through.
        assert fetch(client, "10.1.0.10", 5000, within_s=1.5) < len(PAYLOAD)

        for gateway in gateways:
            fw.apply(gateway.name, fw.mss_clamp_ruleset(interfaces=["mid0"]))
        # ICMP is still dropped; the clamped MSS fits the narrow link.
        assert fetch(client, "10.1.0.10", 5000, within_s=5) == len(PAYLOAD)

        for gateway in gateways:
            fw.flush(gateway.name, fw.MTU_BLACK_HOLE_TABLE)
            fw.flush(gateway.name, fw.MSS_CLAMP_TABLE)
        # Without the fault, path MTU discovery alone copes: the drop was it.
        assert fetch(client, "10.1.0.10", 5000, within_s=5) == len(PAYLOAD)


@pytest.mark.netns
@needs_namespaces
@pytest.mark.parametrize("kind", list(rendered()))
def test_nftables_accepts_every_rendered_ruleset(lab, kind):
    namespace = lab.host("check")
    fw.check(namespace.name, rendered()[kind])
    assert nft_tables(namespace) == [], "check mode loads nothing"


@pytest.mark.netns
@needs_namespaces
def test_the_generated_device_firewall_loads_beside_the_customer_firewall(lab):
    config = load_config(ROOT / "examples" / "app-database.yaml", environ=TUNNEL_KEYS)
    connection = {
        "VpnConnectionId": "vpn-0firewalltest",
        "Options": {
            "StaticRoutesOnly": True,
            "TunnelOptions": [
                {
                    "OutsideIpAddress": address,
                    "TunnelInsideCidr": f"169.254.21.{4 * number}/30",
                    "PreSharedKey": f"Firewall{number}TestKey_x",
                }
                for number, address in enumerate(AWS_ENDPOINTS)
            ],
        },
        "Routes": [],
    }
    (device_file,) = [
        f for f in render("strongswan", config, connection) if f.name == FIREWALL_NFT
    ]
    device_table = re.search(r"^table ip (\S+) \{", device_file.text, re.M).group(1)
    gateway = lab.host("cgw")
    fw.apply(gateway.name, device_file.text)
    fw.apply(
        gateway.name,
        customer_firewall(
            tunnel_if="ipsec0",
            site_networks=[str(n) for n in config.on_premises.networks],
            vpc_cidr=str(config.vpc.cidr),
            aws_tunnel_endpoints=[IPv4Address(a) for a in AWS_ENDPOINTS],
        ),
    )
    assert sorted(nft_tables(gateway)) == sorted(
        [device_table, fw.CUSTOMER_FIREWALL_TABLE]
    )

    fw.apply(gateway.name, fw.mtu_black_hole_ruleset(clamp_tables=[device_table]))
    assert sorted(nft_tables(gateway)) == [
        fw.CUSTOMER_FIREWALL_TABLE,
        fw.MTU_BLACK_HOLE_TABLE,
    ]


def test_site_nat_hides_the_site_behind_the_gateways_address():
    ruleset = fw.site_nat_ruleset(
        outside_if="inet0",
        public_ip="203.0.113.10",
        site_networks=["192.168.20.0/24", "192.168.10.0/24"],
    )
    assert "table ip exchange_site_nat" in ruleset
    assert "elements = { 192.168.10.0/24, 192.168.20.0/24 }" in ruleset
    assert 'oifname "inet0" ip saddr @site_networks counter snat to 203.0.113.10' in (
        ruleset
    )
    assert "drop" not in ruleset, "what may come in is the customer firewall's"
