"""strongSwan on both ends of a customer's tunnels (simulator/ipsec.py).

The unit tests compare the AWS side's files with the customer's, rendered
from the same described connection. The lab tests (root) build namespaces
of their own under a prefix of "exst" and random hex:

    client 192.168.10.10 ── cgw 192.168.10.1 | 203.0.113.10 ──┐
                                                               internet
    vpc 10.42.0.10 ── aws 10.42.0.1 | both outside IPs ───────┘ (a bridge)

run the customer gateway's charon with `exchange vpn-config`'s files and
the AWS side's with `aws_side_config`'s, and send TCP from the client to a
listener in the VPC. Their fixture stops every charon by pid and removes
every namespace and folder, and asserts that none is left. Traffic runs
only between the test's namespaces.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from moto import mock_aws

from exchange.config import load_config
from exchange.config.model import ExchangeConfig
from exchange.vpn_device import (
    SWANCTL_CONF,
    SWANCTL_SECRETS,
    DeviceFile,
    device_tunnels,
    render,
    write_files,
)
from simulator import ipsec, netns
from simulator.aws import complete_moto
from simulator.ipsec import Charon, CharonFailed, TunnelState
from tests.config.samples import ROOT, TUNNEL_KEYS
from tests.test_vpn_device import parse_swanctl, provision

REGION = "eu-central-1"
ADD = ROOT / "examples" / "file-storage.yaml"  # one on-premises network, add
BGP = ROOT / "examples" / "bgp-tunnel-options.yaml"  # 0.0.0.0/0, start

CUSTOMER_GATEWAY_IP = "203.0.113.10"
GATEWAY_LAN_IP = "192.168.10.1"
CLIENT_IP = "192.168.10.10"
AWS_VPC_IP = "10.42.0.1"
VPC_HOST_IP = "10.42.0.10"
PORT = 7000

TUNNELS_UP_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 3.0


class Stack(NamedTuple):
    """A configuration and its VPN connection, as AWS describes it."""

    config: ExchangeConfig
    connection: dict[str, Any]


def _config(path: Path) -> ExchangeConfig:
    return load_config(path, environ=TUNNEL_KEYS)


def _started_by_aws(tmp_path: Path) -> ExchangeConfig:
    """The one-network example with StartupAction start on both tunnels."""
    text = ADD.read_text()
    line = "      ikeVersions: [ikev2]\n"
    assert text.count(line) == 2
    path = tmp_path / "started-by-aws.yaml"
    path.write_text(text.replace(line, line + "      startupAction: start\n"))
    return _config(path)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """Each kind of connection provisioned once in moto, and described."""
    configs = {
        "add": _config(ADD),
        "start": _started_by_aws(tmp_path_factory.mktemp("start")),
        "bgp": _config(BGP),
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
                name: Stack(config, provision(ec2, config)[0])
                for name, config in configs.items()
            }


def _aws_files(stack: Stack) -> list[DeviceFile]:
    config, connection = stack
    return ipsec.aws_side_config(
        connection,
        config.on_premises.customer_gateway_ip,
        on_premises_networks=config.on_premises.networks,
        vpc_cidr=config.vpc.cidr,
        routing=config.on_premises.routing,
    )


def _side(stack: Stack) -> ipsec.AwsSide:
    config, connection = stack
    return ipsec.aws_side(
        connection,
        config.on_premises.customer_gateway_ip,
        on_premises_networks=config.on_premises.networks,
        vpc_cidr=config.vpc.cidr,
        routing=config.on_premises.routing,
    )


def _parsed(files: list[DeviceFile]) -> tuple[dict[str, Any], dict[str, Any]]:
    by_name = {f.name: f for f in files}
    return (
        parse_swanctl(by_name[SWANCTL_CONF].text)["connections"],
        parse_swanctl(by_name[SWANCTL_SECRETS].text)["secrets"],
    )


# --- the AWS side's files, against the customer's ---------------------------


@pytest.mark.parametrize("kind", ["add", "start", "bgp"])
def test_the_aws_side_mirrors_each_tunnel_of_the_customers_file(stacks, kind):
    stack = stacks[kind]
    customer, customer_keys = _parsed(render("strongswan", *stack))
    aws, aws_keys = _parsed(_aws_files(stack))
    tunnels = device_tunnels(stack.connection, CUSTOMER_GATEWAY_IP)

    assert list(aws) == list(customer) == [t.name for t in tunnels]
    for tunnel in tunnels:
        mine, theirs = aws[tunnel.name], customer[tunnel.name]
        assert (
            mine["local_addrs"] == theirs["remote_addrs"] == str(tunnel.aws_outside_ip)
        )
        assert mine["remote_addrs"] == theirs["local_addrs"] == CUSTOMER_GATEWAY_IP
        assert mine["local"] == theirs["remote"]
        assert mine["remote"] == theirs["local"]
        for key in ("version", "proposals", "rekey_time", "over_time", "rand_time"):
            assert mine[key] == theirs[key], key
        (child,) = mine["children"].values()
        (their_child,) = theirs["children"].values()
        assert list(mine["children"]) == [tunnel.name]
        assert child["local_ts"] == their_child["remote_ts"]
        assert child["remote_ts"] == their_child["local_ts"]
        for key in ("esp_proposals", "rekey_time", "life_time", "replay_window"):
            assert child[key] == their_child[key], key
        key_id = f"ike-{tunnel.name}"
        assert aws_keys[key_id]["id-local"] == customer_keys[key_id]["id-remote"]
        assert aws_keys[key_id]["id-remote"] == customer_keys[key_id]["id-local"]
        assert aws_keys[key_id]["secret"] == customer_keys[key_id]["secret"]


def test_tunnel_names_are_the_customers_on_both_sides(stacks):
    connection = stacks["add"].connection
    side = _side(stacks["add"])
    for tunnel in device_tunnels(connection, CUSTOMER_GATEWAY_IP):
        name = ipsec.tunnel_name(connection["VpnConnectionId"], tunnel.number)
        assert name == tunnel.name == side.name(tunnel.number)
        assert list(side.connection_message(tunnel.number)) == [name]


def test_startup_action_decides_whether_the_aws_side_initiates(stacks):
    """VPN-31: start, AWS brings the tunnel up and keeps it up; add, it waits."""
    for kind, action in (("start", "start"), ("add", "none")):
        aws, _ = _parsed(_aws_files(stacks[kind]))
        for connection in aws.values():
            (child,) = connection["children"].values()
            assert (child["start_action"], child["close_action"]) == (action, action)


def test_the_aws_side_probes_a_quiet_peer_within_five_seconds(stacks):
    # DPD timeout 30 s (VPN-29): the customer probes every 10 s (DEV-07).
    aws, _ = _parsed(_aws_files(stacks["add"]))
    customer, _ = _parsed(render("strongswan", *stacks["add"]))
    for name, connection in aws.items():
        assert customer[name]["dpd_delay"] == "10s"
        assert connection["dpd_delay"] == "5s"
        (child,) = connection["children"].values()
        assert child["dpd_action"] == "clear", "VPN-30's default"


def test_static_selectors_are_the_vpc_to_the_on_premises_networks(stacks):
    config, connection = stacks["add"]
    side = ipsec.aws_side(
        connection,
        CUSTOMER_GATEWAY_IP,
        on_premises_networks=["192.168.30.0/24", "192.168.10.0/24"],
        vpc_cidr="10.42.0.0/16",
        routing="static",
    )
    assert side.local_ts == (IPv4Network("10.42.0.0/16"),)
    assert side.remote_ts == (
        IPv4Network("192.168.10.0/24"),
        IPv4Network("192.168.30.0/24"),
    )
    bgp = _side(stacks["bgp"])
    assert bgp.local_ts == bgp.remote_ts == (IPv4Network("0.0.0.0/0"),)
    with pytest.raises(ValueError, match="static or bgp"):
        ipsec.aws_side(
            connection,
            CUSTOMER_GATEWAY_IP,
            on_premises_networks=config.on_premises.networks,
            vpc_cidr=config.vpc.cidr,
            routing="ospf",
        )


def test_the_keys_are_only_in_the_secrets_file(stacks):
    side = _side(stacks["add"])
    files = side.files()
    keys = set(TUNNEL_KEYS.values())
    for device_file in files:
        held = {key for key in keys if key in device_file.text}
        assert held == (keys if device_file.secret else set()), device_file.name
    assert [f.name for f in files if f.secret] == [SWANCTL_SECRETS]
    shown = repr(side) + str(side) + repr(side.connection_message(1))
    assert not any(key in shown for key in keys)


def test_a_tunnel_is_up_only_with_its_child_sa_installed():
    def state(ike: str | None, child: str | None) -> TunnelState:
        return TunnelState("vpn-1-tunnel1", ike, child, None, 0, 0)

    assert state("ESTABLISHED", "INSTALLED").up
    assert not state("ESTABLISHED", "REKEYED").up
    assert not state("ESTABLISHED", None).up
    assert not state("CONNECTING", None).up
    assert not state(None, None).up


def test_a_folder_too_long_for_the_vici_socket_is_refused(tmp_path):
    started: list[int] = []
    folder = tmp_path / ("x" * 120)
    with pytest.raises(ValueError, match="107 bytes"):
        Charon.start(
            "exst-none", folder, on_started=lambda pid, what: started.append(pid)
        )
    assert started == []
    assert not folder.exists()


# --- charons in namespaces --------------------------------------------------

try:
    ipsec.find_binaries()
    _MISSING = ""
except ipsec.StrongSwanUnavailable as unavailable:
    _MISSING = str(unavailable)


def lab_test(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test that builds namespaces and runs charons: root only."""
    for mark in (
        pytest.mark.netns,
        pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
        pytest.mark.skipif(bool(_MISSING), reason=_MISSING),
    ):
        test = mark(test)
    return test


class Lab:
    """The customer's site, the internet and AWS's side, in namespaces."""

    def __init__(self, prefix: str, stack: Stack, folder: Path) -> None:
        self.prefix = prefix
        self.stack = stack
        self.folder = folder
        self.side = _side(stack)
        self.bgp = stack.config.on_premises.routing == "bgp"
        self.started: list[tuple[int, str]] = []
        self.charons: list[Charon] = []
        self.namespaces: dict[str, netns.Namespace] = {}

    def track(self, pid: int, what: str) -> None:
        self.started.append((pid, what))

    def build(self) -> None:
        def create(role: str, *, router: bool = False) -> netns.Namespace:
            namespace = netns.Namespace.create(f"{self.prefix}{role}", router=router)
            self.namespaces[role] = namespace
            return namespace

        internet = create("internet", router=True)
        cgw = create("cgw", router=True)
        client = create("client")
        aws = create("aws", router=True)
        vpc = create("vpc")
        netns.bridge(internet, "internet")
        for role, namespace in (("cgw", cgw), ("aws", aws)):
            netns.veth(internet, role, namespace, "wan")
            netns.enslave(internet, role, "internet")
        netns.add_address(internet, "internet", "203.0.113.1/24")
        netns.add_address(internet, "internet", "198.51.100.1/24")
        netns.add_address(cgw, "wan", f"{CUSTOMER_GATEWAY_IP}/24")
        netns.add_route(cgw, "default", via="203.0.113.1")
        for tunnel in self.side.tunnels:
            netns.add_address(aws, "wan", f"{tunnel.aws_outside_ip}/24")
        netns.add_route(aws, "default", via="198.51.100.1")
        netns.veth(cgw, "lan", client, "eth0")
        netns.add_address(cgw, "lan", f"{GATEWAY_LAN_IP}/24")
        netns.add_address(client, "eth0", f"{CLIENT_IP}/24")
        netns.add_route(client, "default", via=GATEWAY_LAN_IP)
        netns.veth(aws, "vpc", vpc, "eth0")
        netns.add_address(aws, "vpc", f"{AWS_VPC_IP}/24")
        netns.add_address(vpc, "eth0", f"{VPC_HOST_IP}/24")
        netns.add_route(vpc, "default", via=AWS_VPC_IP)

    def start(self) -> tuple[Charon, Charon]:
        """Both charons, loaded, tunnels initiated: (AWS side, customer)."""
        aws_files = self.folder / "aws-files"
        customer_files = self.folder / "cgw-files"
        write_files(aws_files, _aws_files(self.stack))
        write_files(customer_files, render("strongswan", *self.stack))
        aws = self.charon("aws")
        customer = self.charon("cgw")
        if self.bgp:
            # BGP would route; here, static routes into ipsec0 stand in.
            netns.add_route(self.namespaces["cgw"], "10.42.0.0/16", dev="ipsec0")
            netns.add_route(self.namespaces["aws"], "192.168.10.0/24", dev="ipsec0")
        aws.load(aws_files / SWANCTL_CONF)
        customer.load(customer_files / SWANCTL_CONF)
        ipsec.bring_up(aws, self.side, customer)
        return aws, customer

    def charon(self, role: str) -> Charon:
        charon = Charon.start(
            self.namespaces[role].name,
            self.folder / role,
            on_started=self.track,
            install_routes=not self.bgp,
        )
        self.charons.append(charon)
        return charon

    def names(self) -> list[str]:
        return [self.side.name(1), self.side.name(2)]

    def close(self) -> None:
        for charon in self.charons:
            charon.stop()
        for namespace in self.namespaces.values():
            namespace.delete()


def wait_for(
    charon: Charon, wanted: dict[str, bool], timeout_s: float = TUNNELS_UP_TIMEOUT_S
) -> float:
    """Seconds until each named tunnel's `up` is as wanted; fails after timeout_s."""
    started = time.monotonic()
    while True:
        states = charon.tunnels()
        seen = {name: name in states and states[name].up for name in wanted}
        if seen == wanted:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, (
            f"tunnels {seen}, wanted {wanted}, after {timeout_s} s in "
            f"{charon.namespace}: {charon.log_tail()}"
        )
        time.sleep(0.02)


def round_trip(
    lab: Lab, payload: bytes = b"order 4711", *, timeout_s: float = PROBE_TIMEOUT_S
) -> bytes:
    """Send `payload` from the client to the VPC host over TCP; its echo back."""
    with netns.entered(lab.namespaces["vpc"]):
        server = socket.create_server((VPC_HOST_IP, PORT))
    server.settimeout(timeout_s)

    def echo() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.sendall(connection.recv(100).upper())

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    try:
        with netns.entered(lab.namespaces["client"]):
            client = socket.socket()
        with client:
            client.settimeout(timeout_s)
            client.connect((VPC_HOST_IP, PORT))
            client.sendall(payload)
            return client.recv(100)
    finally:
        server.close()
        thread.join(timeout_s)


def carried(charon: Charon) -> dict[str, int]:
    """Bytes each tunnel carried, both ways."""
    return {n: s.bytes_in + s.bytes_out for n, s in charon.tunnels().items()}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def make_lab(stacks) -> Iterator[Callable[[str], Lab]]:
    """Labs for the test; afterwards no process, namespace or folder of theirs."""
    prefix = f"exst{secrets.token_hex(3)}-"
    # Short: the VICI sockets live in it (107 bytes at most).
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    labs: list[Lab] = []

    def make(kind: str) -> Lab:
        lab = Lab(prefix, stacks[kind], folder / str(len(labs)))
        labs.append(lab)
        lab.build()
        return lab

    try:
        yield make
    finally:
        try:
            for lab in labs:
                lab.close()
        finally:
            netns.remove_namespaces(prefix)
            shutil.rmtree(folder, ignore_errors=True)
        assert netns.namespaces_with_prefix(prefix) == []
        assert not folder.exists()
        assert [what for lab in labs for pid, what in lab.started if _alive(pid)] == []


def _logs(lab: Lab) -> str:
    return "".join(charon.log_path.read_text() for charon in lab.charons)


@lab_test
@pytest.mark.parametrize("kind", ["add", "start", "bgp"])
def test_both_tunnels_come_up_and_carry_tcp_to_the_vpc(make_lab, kind, record_property):
    """VPN-01: both tunnels up; a client's TCP reaches the VPC through one."""
    lab = make_lab(kind)
    started = time.monotonic()
    aws, customer = lab.start()
    everything_up = dict.fromkeys(lab.names(), True)
    wait_for(customer, everything_up)
    wait_for(aws, everything_up)
    up_s = time.monotonic() - started
    record_property("tunnels_up_s", round(up_s, 3))
    print(f"{kind}: both tunnels up {up_s:.3f} s after starting the charons")
    assert up_s < TUNNELS_UP_TIMEOUT_S

    before = sum(carried(customer).values())
    assert round_trip(lab) == b"ORDER 4711"
    assert sum(carried(customer).values()) > before, "the packets took the tunnel"
    assert [what for _, what in lab.started] == [
        f"charon-systemd in {lab.prefix}aws",
        f"charon-systemd in {lab.prefix}cgw",
    ]
    assert not any(key in _logs(lab) for key in TUNNEL_KEYS.values())


@lab_test
@pytest.mark.parametrize("kind", ["add", "start"])
def test_a_broken_tunnel_moves_the_traffic_to_the_other(make_lab, kind):
    lab = make_lab(kind)
    aws, customer = lab.start()
    wait_for(customer, dict.fromkeys(lab.names(), True))
    assert round_trip(lab) == b"ORDER 4711"
    # With the same selectors on both, the gateway sends on one tunnel (AWS
    # may answer on the other).
    (busy,) = [name for name, state in customer.tunnels().items() if state.bytes_out]
    number = lab.names().index(busy) + 1
    other = lab.names()[2 - number]

    ipsec.break_tunnel(aws, lab.side, number)
    # The endpoint said DELETE: the gateway moves over at once, not after
    # its dead peer detection (15-18 s with these retransmission settings).
    wait_for(customer, {busy: False, other: True}, timeout_s=1.0)
    assert busy not in aws.tunnels(), "the AWS side forgot the tunnel"
    before = carried(customer)[other]
    assert round_trip(lab) == b"ORDER 4711"
    assert carried(customer)[other] > before
    time.sleep(1.0)
    assert not customer.tunnels()[busy].up, "a broken tunnel stays down"

    ipsec.restore_tunnel(aws, lab.side, number, customer=customer)
    wait_for(customer, {busy: True, other: True})
    wait_for(aws, {busy: True, other: True})


@lab_test
def test_both_tunnels_broken_nothing_reaches_the_vpc(make_lab):
    lab = make_lab("start")
    aws, customer = lab.start()
    wait_for(customer, dict.fromkeys(lab.names(), True))
    for number in (1, 2):
        ipsec.break_tunnel(aws, lab.side, number)
    wait_for(customer, dict.fromkeys(lab.names(), False), timeout_s=1.0)
    # The customer's trap policies try to bring them up; AWS refuses.
    with pytest.raises(OSError):
        round_trip(lab, timeout_s=1.0)
    assert not any(state.up for state in customer.tunnels().values())


@lab_test
@pytest.mark.parametrize("kind", ["add", "start"])
def test_a_wrong_key_keeps_its_tunnel_down_and_the_other_up(make_lab, kind):
    lab = make_lab(kind)
    aws, customer = lab.start()
    first, second = lab.names()
    wait_for(customer, {first: True, second: True})

    ipsec.wrong_key(aws, lab.side, 1)
    wait_for(customer, {first: False, second: True}, timeout_s=1.0)
    initiator = aws if kind == "start" else customer
    refused = "received AUTHENTICATION_FAILED notify error"
    deadline = time.monotonic() + 2.0
    while refused not in initiator.log_path.read_text():
        assert time.monotonic() < deadline, initiator.log_tail()
        time.sleep(0.02)
    assert round_trip(lab) == b"ORDER 4711", "tunnel 2 carries the traffic"
    time.sleep(1.0)
    assert not customer.tunnels()[first].up, "no attempt gets through"

    ipsec.restore_key(aws, lab.side, 1, customer=customer)
    wait_for(customer, {first: True, second: True})
    assert round_trip(lab) == b"ORDER 4711"
    assert not any(key in _logs(lab) for key in TUNNEL_KEYS.values())


@lab_test
def test_a_charon_runs_in_its_namespace_from_its_folder_only(make_lab):
    lab = make_lab("add")
    charon = lab.charon("aws")
    assert lab.started == [(charon.pid, f"charon-systemd in {lab.prefix}aws")]
    assert charon.running
    log = charon.log_path.read_text()
    # kernel-libipsec before kernel-netlink, or no SA installs (LAB-NOTES).
    assert "kernel-libipsec kernel-netlink" in log
    assert "created TUN device: ipsec0" in log
    assert Path(f"/proc/{charon.pid}/ns/net").stat().st_ino == (
        lab.namespaces["aws"].path.stat().st_ino
    )
    assert sorted(p.name for p in charon.folder.iterdir()) == sorted(
        [ipsec.STRONGSWAN_CONF, ipsec.VICI_SOCKET, ipsec.CHARON_LOG, ipsec.CHARON_PID]
    )
    assert charon.tunnels() == {}

    # Another process (a fault, a check) drives it through its folder.
    attached = Charon.attach(charon.namespace, charon.folder)
    assert attached.pid == charon.pid
    attached.stop()
    assert not _alive(charon.pid)
    charon.stop()  # reaps it
    assert not charon.running
    assert sorted(p.name for p in charon.folder.iterdir()) == sorted(
        [ipsec.STRONGSWAN_CONF, ipsec.CHARON_LOG]
    )
    with pytest.raises(CharonFailed, match="no charon was started"):
        Charon.attach(charon.namespace, charon.folder)


@lab_test
def test_a_file_charon_refuses_fails_the_load_with_its_reason(make_lab):
    """As a generated file with an algorithm strongSwan does not know would."""
    lab = make_lab("add")
    charon = lab.charon("cgw")
    files = [
        DeviceFile(
            f.name, re.sub(r"(?m)^(\s+proposals = )", r"\1aes129-", f.text), f.secret
        )
        for f in render("strongswan", *lab.stack)
    ]
    write_files(lab.folder / "refused", files)
    with pytest.raises(CharonFailed, match="swanctl could not load") as failed:
        charon.load(lab.folder / "refused" / SWANCTL_CONF)
    assert "invalid value for: proposals" in str(failed.value), "charon's words"
    assert not any(key in str(failed.value) for key in TUNNEL_KEYS.values())
    assert charon.tunnels() == {}
