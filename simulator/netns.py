"""Network namespaces and the wires between them: the simulated hosts.

Each simulated host (the customer's gateway, an AWS tunnel endpoint, the
app database...) is a named network namespace under /run/netns, the same
place `ip netns` uses, so `ip netns list` and `ip -n NAME ...` show them.
Everything here happens inside those namespaces and never in the machine's
own: a veth pair is created in one namespace with its peer placed straight
into the other, and addresses, routes and sysctls are set from a thread
that has entered the namespace.

Entering is per thread: setns(2) moves only the calling thread, and so
does `entered()`, which is how the simulator configures a namespace and
how an in-process probe runs from a vantage point while other threads stay
where they are. A socket keeps the namespace it was created in, and a child
process starts in the namespace of the thread that forks it; both are used
below instead of forking helpers.

Netlink goes through pyroute2. Its own `netns.create()` and
`IPRoute(netns=...)` fork a child process per call, which is slow and
unsafe in a program with threads, so namespaces are made with unshare(2)
in the calling thread and pyroute2's sockets are opened after entering.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pyroute2 import IPRoute, NetlinkError, netns
from pyroute2.netlink.rtnl.rtmsg import RTNH_F_ONLINK

from exchange.environment import entered as enter_namespace

NAMESPACES_DIR = Path(netns.NETNS_RUN_DIR)
# `ip netns exec NAME` bind-mounts each file in /etc/netns/NAME over the
# file of that name in /etc, in a mount namespace of the process's own.
ETC_NETNS_DIR = Path("/etc/netns")
THREAD_NAMESPACE = "/proc/thread-self/ns/net"

CLONE_NEWNET = 0x40000000
IFNAMSIZ = 16
RT_SCOPE_LINK = 253

# Namespaces that forward: packets arriving on one interface for another
# network, often with the reply taking a different path (two tunnels, a
# NAT gateway), which strict reverse-path filtering would drop. "default"
# covers the interfaces created afterwards, "all" the effective maximum.
ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
}

# What a spawned process inherits when the caller says nothing: enough to
# run, and none of the caller's variables, which may hold pre-shared keys.
SPAWN_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}

_NAMESPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_libc = ctypes.CDLL(None, use_errno=True)


class TopologyError(Exception):
    """A namespace, link, address, route or sysctl could not be set up."""


@dataclass(frozen=True)
class Namespace:
    """A named network namespace: one simulated host or network segment."""

    name: str

    @property
    def path(self) -> Path:
        return NAMESPACES_DIR / self.name

    @classmethod
    def create(cls, name: str, *, router: bool = False) -> Namespace:
        """A new namespace with `lo` up; forwarding (and no rp_filter) if `router`.

        The calling thread unshares into a fresh namespace, pins it under
        /run/netns by a bind mount and comes back, so no child process is
        needed.
        """
        if not _NAMESPACE_NAME.fullmatch(name):
            raise ValueError(
                f"namespace name {name!r} must be 1-64 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        namespace = cls(name)
        if namespace.path.exists():
            # Checked first so that a failure below never unpins another's.
            raise TopologyError(f"namespace {name} exists already")
        home = os.open(THREAD_NAMESPACE, os.O_RDONLY)
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise TopologyError(f"{name}: unshare: {os.strerror(code)}")
            try:
                # Attach the namespace this thread is now in: pyroute2 makes
                # /run/netns a shared mount, as iproute2 does, and bind-mounts
                # /proc/thread-self/ns/net onto /run/netns/NAME.
                netns.attach(name, "thread-self")
            except FileExistsError:
                raise TopologyError(f"namespace {name} exists already") from None
            except OSError as error:
                _unpin(name)
                raise TopologyError(f"{name}: create: {error}") from error
            try:
                with IPRoute() as ipr:
                    ipr.link("set", index=_index(ipr, namespace, "lo"), state="up")
                if router:
                    for key, value in ROUTER_SYSCTLS.items():
                        _write_sysctl(key, value)
            except BaseException:
                _unpin(name)
                raise
        finally:
            netns.setns(home, flags=0)
            os.close(home)
        return namespace

    @staticmethod
    def exists(name: str) -> bool:
        return (NAMESPACES_DIR / name).exists()

    def delete(self) -> None:
        """Unpin the namespace and remove its /etc/netns files; idempotent.

        The kernel frees the namespace, and with it its interfaces and the
        veth peers in other namespaces, once nothing holds it: stop the
        processes running in it first (by pid) and close its sockets.
        """
        if self.path.exists():
            _unpin(self.name)
        _remove_hosts_folder(self.name)


def _unpin(name: str) -> None:
    # umount2(MNT_DETACH) and unlink, in-process.
    with suppress(FileNotFoundError):
        netns.remove(name)


def namespaces_with_prefix(prefix: str) -> list[str]:
    """The names under /run/netns that start with `prefix`, sorted."""
    _check_prefix(prefix)
    return sorted(name for name in netns.listnetns() if name.startswith(prefix))


def remove_namespaces(prefix: str) -> list[str]:
    """Delete every namespace whose name starts with `prefix`; return their names.

    For cleaning up after a crash. Also removes /etc/netns folders left with
    that prefix whose namespace is already gone.
    """
    removed = namespaces_with_prefix(prefix)
    for name in removed:
        Namespace(name).delete()
    if ETC_NETNS_DIR.is_dir():
        for folder in ETC_NETNS_DIR.iterdir():
            if folder.name.startswith(prefix):
                _remove_hosts_folder(folder.name)
    return removed


def _check_prefix(prefix: str) -> None:
    # An empty prefix would match every namespace on the machine.
    if not prefix:
        raise ValueError("a namespace prefix must not be empty")


@contextmanager
def entered(namespace: Namespace) -> Iterator[Namespace]:
    """Run the body with the current thread in `namespace`, other threads unmoved.

    On exit, also by an exception, the thread returns to the namespace it
    was in before (not necessarily the machine's own: entering nests).
    Sockets opened in the body stay in `namespace` after it ends.
    """
    if not namespace.path.exists():
        raise TopologyError(f"there is no namespace {namespace.name}")
    # The same setns the checks use to probe from a vantage point.
    with enter_namespace(namespace.name):
        yield namespace


@contextmanager
def _netlink(namespace: Namespace, doing: str) -> Iterator[IPRoute]:
    """An rtnetlink socket inside `namespace`, for this thread only."""
    try:
        with entered(namespace), IPRoute() as ipr:
            yield ipr
    except NetlinkError as error:
        raise TopologyError(
            f"{namespace.name}: {doing}: {os.strerror(error.code)}"
        ) from error


def _index(ipr: IPRoute, namespace: Namespace, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise TopologyError(f"{namespace.name}: there is no interface {ifname!r}")
    return found[0]


def _check_ifname(ifname: str) -> None:
    if not 0 < len(ifname) < IFNAMSIZ or "/" in ifname or ifname.strip() != ifname:
        raise ValueError(
            f"interface name {ifname!r} must be 1-{IFNAMSIZ - 1} characters "
            "without '/' or spaces"
        )


def veth(
    a: Namespace, a_if: str, b: Namespace, b_if: str, *, mtu: int | None = None
) -> None:
    """A veth pair, `a_if` in `a` and `b_if` in `b`, both up (and both at `mtu`).

    The pair is created in `a` with its peer placed straight into `b`, so
    neither end ever exists in the machine's own namespace.
    """
    _check_ifname(a_if)
    _check_ifname(b_if)
    size = {"mtu": mtu} if mtu is not None else {}
    with _netlink(a, f"veth {a_if} to {b.name}/{b_if}") as ipr:
        ipr.link(
            "add",
            ifname=a_if,
            kind="veth",
            peer={"ifname": b_if, "net_ns_fd": str(b.path), **size},
            **size,
        )
        ipr.link("set", index=_index(ipr, a, a_if), state="up")
    # The peer arrives down; only a socket in its own namespace sees it.
    link_up(b, b_if)


def bridge(namespace: Namespace, name: str) -> None:
    """A bridge (one L2 segment) named `name` in `namespace`, up."""
    _check_ifname(name)
    with _netlink(namespace, f"bridge {name}") as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        ipr.link("set", index=_index(ipr, namespace, name), state="up")


def enslave(namespace: Namespace, ifname: str, bridge: str) -> None:
    """Make `ifname` a port of `bridge` (both in `namespace`) and bring it up."""
    with _netlink(namespace, f"enslave {ifname} to {bridge}") as ipr:
        ipr.link(
            "set",
            index=_index(ipr, namespace, ifname),
            master=_index(ipr, namespace, bridge),
            state="up",
        )


def add_address(namespace: Namespace, ifname: str, cidr: str) -> None:
    """Add `cidr` (e.g. "10.0.1.5/24", or "/32" for a lone address) to `ifname`."""
    interface = ipaddress.ip_interface(cidr)
    with _netlink(namespace, f"address {cidr} on {ifname}") as ipr:
        ipr.addr(
            "add",
            index=_index(ipr, namespace, ifname),
            address=str(interface.ip),
            prefixlen=interface.network.prefixlen,
        )


def delete_address(namespace: Namespace, ifname: str, cidr: str) -> None:
    """Remove `cidr` from `ifname` (a changed Elastic IP, for instance)."""
    interface = ipaddress.ip_interface(cidr)
    with _netlink(namespace, f"address {cidr} off {ifname}") as ipr:
        ipr.addr(
            "del",
            index=_index(ipr, namespace, ifname),
            address=str(interface.ip),
            prefixlen=interface.network.prefixlen,
        )


def _destination(destination: str) -> dict[str, Any]:
    network = ipaddress.ip_network(
        "0.0.0.0/0" if destination == "default" else destination
    )
    return {
        "family": socket.AF_INET if network.version == 4 else socket.AF_INET6,
        "dst": str(network.network_address),
        "dst_len": network.prefixlen,
    }


def add_route(
    namespace: Namespace,
    destination: str,
    *,
    via: str | None = None,
    dev: str | None = None,
    onlink: bool = False,
) -> None:
    """Route `destination` ("default" or a CIDR) through `via` and/or out of `dev`.

    With `dev` alone the destination is taken as directly attached (resolved
    by ARP on `dev`), as on a flat segment of /32 hosts; `onlink` with both
    says that the gateway is reachable on `dev` though no address there
    covers it.
    """
    if via is None and dev is None:
        raise ValueError(f"a route to {destination} needs a gateway or a device")
    if onlink and (via is None or dev is None):
        raise ValueError("an on-link route needs both a gateway and a device")
    spec = _destination(destination)
    if via is not None:
        spec["gateway"] = str(ipaddress.ip_address(via))
    else:
        spec["scope"] = RT_SCOPE_LINK
    if onlink:
        spec["flags"] = RTNH_F_ONLINK
    with _netlink(namespace, f"route {destination}") as ipr:
        if dev is not None:
            spec["oif"] = _index(ipr, namespace, dev)
        ipr.route("add", **spec)


def delete_route(
    namespace: Namespace,
    destination: str,
    *,
    via: str | None = None,
    dev: str | None = None,
) -> None:
    """Remove the route to `destination` (narrowed by `via`/`dev` when given)."""
    spec = _destination(destination)
    if via is not None:
        spec["gateway"] = str(ipaddress.ip_address(via))
    with _netlink(namespace, f"delete route {destination}") as ipr:
        if dev is not None:
            spec["oif"] = _index(ipr, namespace, dev)
            if via is None:
                # A route straight onto a link was added with link scope,
                # and the kernel matches the scope on deletion too.
                spec["scope"] = RT_SCOPE_LINK
        ipr.route("del", **spec)


def set_mtu(namespace: Namespace, ifname: str, mtu: int) -> None:
    with _netlink(namespace, f"mtu {mtu} on {ifname}") as ipr:
        ipr.link("set", index=_index(ipr, namespace, ifname), mtu=mtu)


def link_up(namespace: Namespace, ifname: str) -> None:
    with _netlink(namespace, f"{ifname} up") as ipr:
        ipr.link("set", index=_index(ipr, namespace, ifname), state="up")


def link_down(namespace: Namespace, ifname: str) -> None:
    """Take `ifname` down (a fault: a cut wire); its peer loses its carrier."""
    with _netlink(namespace, f"{ifname} down") as ipr:
        ipr.link("set", index=_index(ipr, namespace, ifname), state="down")


def set_sysctl(namespace: Namespace, key: str, value: str | int) -> None:
    """Set a per-namespace sysctl, e.g. "net.ipv4.conf.eth0.rp_filter", to `value`.

    Only keys under "net." are accepted: the others (kernel.*, vm.*) are
    the machine's own even when written from inside a namespace.
    """
    if not key.startswith("net.") or "/" in key:
        raise ValueError(f"{key}: only per-namespace net.* sysctls may be set")
    with entered(namespace):
        try:
            _write_sysctl(key, str(value))
        except OSError as error:
            raise TopologyError(f"{namespace.name}: {key}: {error}") from error


def _write_sysctl(key: str, value: str) -> None:
    # /proc/sys/net shows the namespace of the thread that opens it.
    Path("/proc/sys", *key.split(".")).write_text(value)


def spawn(
    namespace: Namespace,
    argv: Sequence[str],
    *,
    on_started: Callable[[int, str], None],
    what: str | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    hosts: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` inside `namespace`; report its pid to `on_started(pid, what)`.

    Without a hosts file the child is forked from a thread that has entered
    the namespace, so it starts there: no shell, no helper, no preexec_fn
    (which is unsafe with threads). `env` defaults to a bare PATH and LANG,
    never the caller's environment.

    `hosts` ({hostname: address}) gives the namespace its own /etc/hosts,
    the cleanest way to make names resolve as on a real host: the file goes
    to /etc/netns/NAME/hosts, iproute2's convention, and every process
    spawned into a namespace that has one runs through `ip netns exec`,
    which bind-mounts it over /etc/hosts in a mount namespace of the
    process's own (and mounts the namespace's /sys) before it execs `argv`,
    so the pid is still the program's. Nothing else on the machine sees the
    file; `Namespace.delete()` removes it. Replacing it later affects only
    processes started afterwards.
    """
    environment = dict(SPAWN_ENVIRONMENT if env is None else env)
    if hosts is not None:
        _write_hosts(namespace, hosts)
    options: dict[str, Any] = {
        "env": environment,
        "stdin": subprocess.DEVNULL,
        "stdout": stdout,
        "stderr": stderr,
        "cwd": cwd,
    }
    if not namespace.path.exists():
        raise TopologyError(f"there is no namespace {namespace.name}")
    if (ETC_NETNS_DIR / namespace.name / "hosts").exists():
        program = shutil.which(argv[0], path=environment.get("PATH"))
        if program is None:
            # `ip netns exec` would only say so on stderr and exit 255.
            raise FileNotFoundError(f"{argv[0]}: not found on the given PATH")
        ip = shutil.which("ip", path=SPAWN_ENVIRONMENT["PATH"])
        if ip is None:
            raise TopologyError("`ip` (iproute2) is needed for a namespace's hosts")
        process = subprocess.Popen(
            [ip, "netns", "exec", namespace.name, program, *argv[1:]], **options
        )
    else:
        with entered(namespace):
            process = subprocess.Popen(list(argv), **options)
    on_started(process.pid, what or Path(argv[0]).name)
    return process


def _write_hosts(namespace: Namespace, hosts: Mapping[str, str]) -> None:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for hostname, address in hosts.items():
        if not hostname or any(character.isspace() for character in hostname):
            raise ValueError(f"host name {hostname!r} must be one word")
        lines.append(f"{ipaddress.ip_address(address)}\t{hostname}")
    folder = ETC_NETNS_DIR / namespace.name
    folder.mkdir(parents=True, exist_ok=True)
    # Replaced, not rewritten: a running process keeps the file it mounted.
    draft = folder / ".hosts.new"
    draft.write_text("\n".join(lines) + "\n")
    draft.chmod(0o644)
    draft.replace(folder / "hosts")


def _remove_hosts_folder(name: str) -> None:
    shutil.rmtree(ETC_NETNS_DIR / name, ignore_errors=True)
    # /etc/netns is made on demand; leave it only if someone else uses it.
    with suppress(OSError):
        ETC_NETNS_DIR.rmdir()
