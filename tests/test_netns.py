"""Namespaces, veth pairs, bridges, addresses and routes (simulator/netns.py).

Every test builds its own namespaces under a prefix of its own ("exst" and
random hex) and the fixture removes them, asserting that none is left and
that nothing appeared in the machine's own namespace. Traffic runs only
between the test's namespaces.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import netns
from simulator.netns import Namespace, entered

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is missing"),
]

PORT = 7000
TIMEOUT_S = 3.0


def _root_interfaces() -> set[tuple[int, str]]:
    return set(socket.if_nameindex())


@pytest.fixture
def prefix() -> Iterator[str]:
    """A namespace prefix for this test; nothing under it survives the test."""
    prefix = f"exst{secrets.token_hex(3)}-"
    root_interfaces = _root_interfaces()
    try:
        yield prefix
    finally:
        netns.remove_namespaces(prefix)
        assert netns.namespaces_with_prefix(prefix) == []
        assert not [
            name
            for name in subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True, check=True
            ).stdout.split()
            if name.startswith(prefix)
        ]
        assert not list(Path("/etc").glob(f"netns/{prefix}*"))
        assert _root_interfaces() == root_interfaces


def _namespace_id(path: str | Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _listener(namespace: Namespace, address: str) -> socket.socket:
    """A listening socket inside `namespace` (a socket keeps its namespace)."""
    with entered(namespace):
        server = socket.create_server((address, PORT))
    server.settimeout(TIMEOUT_S)
    return server


def _echo_once(server: socket.socket) -> threading.Thread:
    def serve() -> None:
        with server, server.accept()[0] as connection:
            connection.sendall(connection.recv(100).upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _round_trip(namespace: Namespace, address: str) -> bytes:
    with (
        entered(namespace),
        socket.create_connection((address, PORT), timeout=TIMEOUT_S) as client,
    ):
        client.sendall(b"probe")
        return client.recv(100)


def _connect_error(namespace: Namespace, address: str) -> OSError:
    with pytest.raises(OSError) as caught, entered(namespace):
        socket.create_connection((address, PORT), timeout=1.0).close()
    return caught.value


def _mtu(namespace: Namespace, ifname: str) -> int:
    shown = subprocess.run(
        ["ip", "-n", namespace.name, "-o", "link", "show", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(shown[shown.index("mtu") + 1])


def test_veth_pair_carries_a_tcp_connection(prefix: str) -> None:
    root_interfaces = _root_interfaces()
    a = Namespace.create(f"{prefix}a")
    b = Namespace.create(f"{prefix}b")
    netns.veth(a, "eth0", b, "eth0", mtu=1400)
    assert _root_interfaces() == root_interfaces
    netns.add_address(a, "eth0", "10.0.0.1/24")
    netns.add_address(b, "eth0", "10.0.0.2/24")
    assert (_mtu(a, "eth0"), _mtu(b, "eth0")) == (1400, 1400)

    server = _echo_once(_listener(b, "10.0.0.2"))
    assert _round_trip(a, "10.0.0.2") == b"PROBE"
    server.join(TIMEOUT_S)

    netns.set_mtu(b, "eth0", 1300)
    assert _mtu(b, "eth0") == 1300


def test_router_namespace_forwards_between_two_networks(prefix: str) -> None:
    left = Namespace.create(f"{prefix}left")
    router = Namespace.create(f"{prefix}router", router=True)
    right = Namespace.create(f"{prefix}right")
    netns.veth(left, "eth0", router, "left")
    netns.veth(router, "right", right, "eth0")
    netns.add_address(left, "eth0", "10.1.0.2/24")
    netns.add_address(router, "left", "10.1.0.1/24")
    netns.add_address(router, "right", "10.2.0.1/24")
    netns.add_route(left, "default", via="10.1.0.1")
    # A lone address: the gateway is on the wire though no prefix covers it.
    netns.add_address(right, "eth0", "10.2.0.2/32")
    netns.add_route(right, "default", via="10.2.0.1", dev="eth0", onlink=True)

    server = _echo_once(_listener(right, "10.2.0.2"))
    assert _round_trip(left, "10.2.0.2") == b"PROBE"
    server.join(TIMEOUT_S)

    # Without forwarding the router answers "host unreachable", which TCP
    # takes as a soft error while it retries the SYN: the connect times out.
    netns.set_sysctl(router, "net.ipv4.ip_forward", 0)
    assert isinstance(_connect_error(left, "10.2.0.2"), TimeoutError)


def test_faults_remove_a_route_and_cut_a_link(prefix: str) -> None:
    left = Namespace.create(f"{prefix}left")
    router = Namespace.create(f"{prefix}router", router=True)
    right = Namespace.create(f"{prefix}right")
    netns.veth(left, "eth0", router, "left")
    netns.veth(router, "right", right, "eth0")
    netns.add_address(left, "eth0", "10.1.0.2/24")
    netns.add_address(router, "left", "10.1.0.1/24")
    netns.add_address(router, "right", "10.2.0.1/24")
    netns.add_address(right, "eth0", "10.2.0.2/24")
    netns.add_route(left, "10.2.0.0/24", via="10.1.0.1")
    netns.add_route(right, "default", via="10.2.0.1")

    netns.delete_route(left, "10.2.0.0/24", via="10.1.0.1")
    assert _connect_error(left, "10.2.0.2").errno == errno.ENETUNREACH

    netns.add_route(left, "10.2.0.0/24", via="10.1.0.1", dev="eth0")
    netns.link_down(right, "eth0")
    listener = _listener(right, "10.2.0.2")
    assert isinstance(_connect_error(left, "10.2.0.2"), TimeoutError)

    netns.link_up(right, "eth0")
    # Taking the link down dropped its routes; the wire is back, so is the route.
    netns.add_route(right, "default", via="10.2.0.1")
    server = _echo_once(listener)
    assert _round_trip(left, "10.2.0.2") == b"PROBE"
    server.join(TIMEOUT_S)


def test_bridge_joins_three_hosts_with_lone_addresses(prefix: str) -> None:
    """The "flat internet": /32 hosts on one bridge, default routes on-link."""
    internet = Namespace.create(f"{prefix}internet")
    netns.bridge(internet, "br0")
    addresses = {}
    for number in (1, 2, 3):
        host = Namespace.create(f"{prefix}host{number}")
        netns.veth(host, "eth0", internet, f"host{number}")
        netns.enslave(internet, f"host{number}", "br0")
        netns.add_address(host, "eth0", f"198.51.100.{number}/32")
        netns.add_route(host, "default", dev="eth0")
        addresses[host] = f"198.51.100.{number}"

    hosts = list(addresses)
    for client, server_host in ((hosts[0], hosts[1]), (hosts[1], hosts[2])):
        server = _echo_once(_listener(server_host, addresses[server_host]))
        assert _round_trip(client, addresses[server_host]) == b"PROBE"
        server.join(TIMEOUT_S)
    server = _echo_once(_listener(hosts[0], addresses[hosts[0]]))
    assert _round_trip(hosts[2], addresses[hosts[0]]) == b"PROBE"
    server.join(TIMEOUT_S)


def test_entered_moves_only_the_current_thread(prefix: str) -> None:
    first = Namespace.create(f"{prefix}first")
    second = Namespace.create(f"{prefix}second")
    own = _namespace_id(netns.THREAD_NAMESPACE)
    both_inside = threading.Barrier(3, timeout=TIMEOUT_S)
    seen: dict[str, tuple[int, int]] = {}

    def probe(namespace: Namespace) -> None:
        with entered(namespace):
            both_inside.wait()
            seen[namespace.name] = _namespace_id(netns.THREAD_NAMESPACE)
            both_inside.wait()
        seen[f"{namespace.name} after"] = _namespace_id(netns.THREAD_NAMESPACE)

    threads = [threading.Thread(target=probe, args=(ns,)) for ns in (first, second)]
    for thread in threads:
        thread.start()
    both_inside.wait()
    main_while_inside = _namespace_id(netns.THREAD_NAMESPACE)
    both_inside.wait()
    for thread in threads:
        thread.join(TIMEOUT_S)

    assert seen[first.name] == _namespace_id(first.path)
    assert seen[second.name] == _namespace_id(second.path)
    assert main_while_inside == own
    assert seen[f"{first.name} after"] == own
    assert seen[f"{second.name} after"] == own


def test_entered_returns_on_an_exception_and_nests(prefix: str) -> None:
    outer = Namespace.create(f"{prefix}outer")
    inner = Namespace.create(f"{prefix}inner")
    own = _namespace_id(netns.THREAD_NAMESPACE)
    with entered(outer):
        with pytest.raises(RuntimeError), entered(inner):
            assert _namespace_id(netns.THREAD_NAMESPACE) == _namespace_id(inner.path)
            raise RuntimeError("probe failed")
        assert _namespace_id(netns.THREAD_NAMESPACE) == _namespace_id(outer.path)
    assert _namespace_id(netns.THREAD_NAMESPACE) == own


def test_router_sysctls_stay_in_the_namespace(prefix: str) -> None:
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    before = forward.read_text()
    router = Namespace.create(f"{prefix}router", router=True)
    host = Namespace.create(f"{prefix}host")
    with entered(router):
        assert forward.read_text().strip() == "1"
        assert Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text().strip() == "0"
    with entered(host):
        assert forward.read_text().strip() == "0"
    assert forward.read_text() == before
    with pytest.raises(ValueError, match="per-namespace"):
        netns.set_sysctl(host, "kernel.hostname", "elsewhere")


def test_spawn_runs_the_process_inside_and_reports_its_pid(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORDWIND_TUNNEL1_PSK", "NeverInherited01")
    host = Namespace.create(f"{prefix}host")
    started: list[tuple[int, str]] = []
    script = (
        "import os; print(os.stat('/proc/self/ns/net').st_ino, *sorted(os.environ))"
    )
    process = netns.spawn(
        host,
        [sys.executable, "-c", script],
        on_started=lambda pid, what: started.append((pid, what)),
        what="probe",
        stdout=subprocess.PIPE,
    )
    output, _ = process.communicate(timeout=10)
    inode, *variables = output.decode().split()
    assert started == [(process.pid, "probe")]
    assert int(inode) == host.path.stat().st_ino
    assert {"PATH", "LANG"} <= set(variables)
    assert "NORDWIND_TUNNEL1_PSK" not in variables


def test_spawn_with_hosts_resolves_names_in_that_namespace_only(prefix: str) -> None:
    host = Namespace.create(f"{prefix}host")
    name = f"{prefix}db.example.internal"
    started: list[tuple[int, str]] = []
    script = textwrap.dedent(
        f"""
        import os, socket
        print(os.stat('/proc/self/ns/net').st_ino)
        print(socket.gethostbyname({name!r}))
        """
    )
    process = netns.spawn(
        host,
        ["python3", "-c", script],
        on_started=lambda pid, what: started.append((pid, what)),
        env={"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        hosts={name: "10.0.1.5"},
    )
    output, _ = process.communicate(timeout=10)
    inode, address = output.decode().split()
    assert process.returncode == 0
    assert int(inode) == host.path.stat().st_ino
    assert address == "10.0.1.5"
    # `ip netns exec` execs the program: the reported pid is the program's.
    assert started == [(process.pid, "python3")]
    assert name not in Path("/etc/hosts").read_text()
    host.delete()
    assert not (netns.ETC_NETNS_DIR / host.name).exists()


def test_remove_namespaces_removes_only_the_prefixed_ones(prefix: str) -> None:
    other_prefix = f"exst{secrets.token_hex(3)}-"
    mine = [Namespace.create(f"{prefix}{role}") for role in ("cgw", "vpc")]
    other = Namespace.create(f"{other_prefix}cgw")
    try:
        assert netns.namespaces_with_prefix(prefix) == sorted(ns.name for ns in mine)
        assert netns.remove_namespaces(prefix) == sorted(ns.name for ns in mine)
        assert not any(Namespace.exists(ns.name) for ns in mine)
        assert Namespace.exists(other.name)
        assert netns.remove_namespaces(prefix) == []
    finally:
        netns.remove_namespaces(other_prefix)
    assert not Namespace.exists(other.name)
    with pytest.raises(ValueError):
        netns.remove_namespaces("")


def test_refusals_name_the_namespace_and_the_step(prefix: str) -> None:
    first = Namespace.create(f"{prefix}cgw")
    second = Namespace.create(f"{prefix}aws")
    with pytest.raises(netns.TopologyError, match="exists already"):
        Namespace.create(first.name)
    assert Namespace.exists(first.name)

    netns.veth(first, "tunnel1", second, "outside")
    with pytest.raises(netns.TopologyError, match=rf"^{first.name}: veth tunnel1"):
        netns.veth(first, "tunnel1", second, "spare")
    with pytest.raises(netns.TopologyError, match="there is no interface 'eth9'"):
        netns.add_address(second, "eth9", "10.0.0.1/24")
    with pytest.raises(ValueError, match="1-15 characters"):
        netns.bridge(first, "a-name-too-long-for-linux")

    missing = Namespace(f"{prefix}gone")
    with pytest.raises(netns.TopologyError, match="there is no namespace"):
        netns.link_up(missing, "lo")
    with pytest.raises(netns.TopologyError, match="there is no namespace"):
        netns.spawn(missing, ["true"], on_started=lambda pid, what: None)
