"""strongSwan in network namespaces: both ends of a customer's VPN tunnels.

Each end runs its own charon in its own namespace. The customer gateway's
loads the files `exchange vpn-config --device strongswan` wrote, so that a
wrong generated file shows up as a tunnel that does not come up. The AWS
side's, one charon for both tunnels in the namespace that holds both
outside IPs, loads their mirror, which `aws_side` writes from the same
described connection (describe_vpn_connections):

    side = aws_side(connection, "203.0.113.10", on_premises_networks=networks,
                    vpc_cidr=vpc_cidr, routing="static")
    write_files(aws_folder, side.files())
    aws = Charon.start("exs3f2a-1-aws", Path("/run/exs3f2a/1a"), on_started=track)
    customer = Charon.start("exs3f2a-1-cgw", Path("/run/exs3f2a/1c"), on_started=track)
    aws.load(aws_folder / SWANCTL_CONF)
    customer.load(customer_folder / SWANCTL_CONF)
    bring_up(aws, side, customer)
    customer.tunnels()[tunnel_name(connection_id, 1)].up

This kernel has no ESP, so every charon does ESP in user space
(kernel-libipsec, a TUN device `ipsec0` per namespace). A charon reads only
its private strongswan.conf (STRONGSWAN_CONF), answers VICI on a socket in
its own folder and logs to a file there: nothing in /etc or /run, nothing in
the machine's journal. The caller tracks each charon by its pid; `stop`
ends it by pid.

The faults (`break_tunnel`, `restore_tunnel`, `wrong_key`, `restore_key`)
act on the AWS side, one tunnel at a time, over VICI: swanctl would replace
every connection and key with what its file holds, and so undo a fault on
the other tunnel.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import IO, Any

import vici
import vici.exception

from exchange.vpn_device import (
    SWANCTL_CONF,
    SWANCTL_SECRETS,
    DeviceFile,
    DeviceTunnel,
    _proposals,
    _rand_time,
    device_tunnels,
)
from simulator import netns

log = logging.getLogger("simulator")

# Debian puts charon-systemd and swanctl in /usr/sbin, which a non-root PATH
# often lacks.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"]
)

STRONGSWAN_CONF = "strongswan.conf"
VICI_SOCKET = "charon.vici"
CHARON_LOG = "charon.log"
CHARON_PID = "charon.pid"

# A unix socket's path holds at most 107 bytes (sun_path is 108 with the NUL).
_UNIX_PATH_MAX = 107

READY_TIMEOUT_S = 3.0
SWANCTL_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# How long a VICI command may take beyond its own timeout.
_VICI_SLACK_S = 2.0

# charon's plugins, loaded in this order and no others (load_modular = no):
# kernel-libipsec must come before kernel-netlink, or the SA fails to install
# and the initiator sees a misleading NO_PROPOSAL_CHOSEN; strongSwan 5.9.8
# derives no keys without kdf.
CHARON_PLUGINS = (
    "random",
    "nonce",
    "openssl",
    "pem",
    "pkcs1",
    "x509",
    "pubkey",
    "aes",
    "sha1",
    "sha2",
    "hmac",
    "gcm",
    "gmp",
    "kdf",
    "kernel-libipsec",
    "kernel-netlink",
    "socket-default",
    "vici",
)
# swanctl reads pre-shared keys only, but parses the credential folders.
SWANCTL_PLUGINS = ("pem", "pkcs1", "x509", "pubkey")
# The folders `swanctl --load-all` reads credentials from, beside its file.
SWANCTL_CREDENTIAL_FOLDERS = (
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
)

# Fast failover, as measured on these machines (LAB-NOTES): a silent peer is
# given up after retransmit_tries retransmissions, the first after
# retransmit_timeout seconds and each later one 1.8 times longer (12 s), once
# dead peer detection has noticed the silence: 15-18 s in all, against about
# 165 s with charon's defaults. A peer that closes the tunnel says so at once.
RETRANSMIT_TIMEOUT_S = 1.0
RETRANSMIT_TRIES = 3
# The AWS side probes a quiet peer at least this often.
AWS_DPD_DELAY_MAX_S = 5

# charon's own routing table, and a rule priority after the main table's
# (32766), for a charon that must not decide the routes.
_ROUTING_TABLE = 220
_ROUTING_TABLE_AFTER_MAIN = 32768

# AWS's DpdTimeoutAction (VPN-30) as strongSwan's dpd_action.
_DPD_ACTIONS = {"clear": "clear", "restart": "restart", "none": "none"}


def _dpd_action(tunnel: DeviceTunnel) -> str:
    if tunnel.dpd_timeout_action not in _DPD_ACTIONS:
        raise ValueError(
            f"tunnel {tunnel.number} has DPD timeout action "
            f"{tunnel.dpd_timeout_action!r}; AWS takes clear, none or restart "
            "(VPN-30)"
        )
    return _DPD_ACTIONS[tunnel.dpd_timeout_action]


class StrongSwanUnavailable(Exception):
    """charon-systemd or swanctl is not installed."""


class CharonFailed(Exception):
    """A charon did not start, or refused a command; carries strongSwan's words."""


def find_binaries() -> tuple[str, str]:
    """The paths of charon-systemd and swanctl, or StrongSwanUnavailable."""
    charon = shutil.which("charon-systemd", path=_SEARCH_PATH)
    swanctl = shutil.which("swanctl", path=_SEARCH_PATH)
    if charon is None or swanctl is None:
        raise StrongSwanUnavailable(
            "strongSwan is not installed: install Debian's charon-systemd "
            "strongswan-swanctl libcharon-extra-plugins "
            "libstrongswan-standard-plugins (kernel-libipsec is in the extra "
            "plugins)"
        )
    return charon, swanctl


def _spawn_in_namespace(
    namespace: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    output: IO[bytes],
    on_started: Callable[[int, str], None],
) -> subprocess.Popen[bytes]:
    """Run `argv` inside the network namespace; report its pid at once."""
    return netns.spawn(
        netns.Namespace(namespace),
        argv,
        on_started=on_started,
        what=f"{Path(argv[0]).name} in {namespace}",
        env=env,
        stdout=output,
        stderr=output,
    )


def _environment(conf: Path) -> dict[str, str]:
    """What charon and swanctl inherit: enough to run, and none of the
    caller's variables, which may hold pre-shared keys."""
    return {"PATH": _SEARCH_PATH, "LANG": "C.UTF-8", "STRONGSWAN_CONF": str(conf)}


@dataclass(frozen=True)
class TunnelState:
    """One tunnel's state as its charon reports it over VICI (`Charon.tunnels`)."""

    name: str
    ike_state: str | None  # ESTABLISHED, CONNECTING, ...; None without an IKE SA
    child_state: str | None  # INSTALLED, ...; None without a CHILD SA
    established_s: int | None  # since the IKE SA was established
    bytes_in: int
    bytes_out: int

    @property
    def up(self) -> bool:
        """Whether the tunnel carries traffic: its CHILD SA is installed."""
        return self.child_state == "INSTALLED"


# Which of several SAs of one tunnel tells its state: the most advanced.
_IKE_RANK = ("ESTABLISHED", "REKEYING", "REKEYED", "CONNECTING", "PASSIVE")
_CHILD_RANK = ("INSTALLED", "REKEYING", "REKEYED", "INSTALLING", "CREATED")


def _rank(state: str, order: Sequence[str]) -> int:
    return order.index(state) if state in order else len(order)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> int:
    return int(_text(value)) if value is not None else 0


class Charon:
    """One charon-systemd in one network namespace, driven over VICI.

    `start` runs one; `attach` finds one that `start` runs, from another
    process. Its folder holds its strongswan.conf, VICI socket, log and pid.
    """

    def __init__(
        self,
        namespace: str,
        folder: Path,
        pid: int,
        *,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.namespace = namespace
        self.folder = folder
        self.pid = pid
        self._process = process  # None when attached: another process's child
        _, self._swanctl = find_binaries()

    @property
    def conf(self) -> Path:
        """The charon's and its swanctl's private strongswan.conf."""
        return self.folder / STRONGSWAN_CONF

    @property
    def socket_path(self) -> Path:
        return self.folder / VICI_SOCKET

    @property
    def log_path(self) -> Path:
        return self.folder / CHARON_LOG

    @property
    def pid_path(self) -> Path:
        return self.folder / CHARON_PID

    @classmethod
    def start(
        cls,
        ns_name: str,
        folder: Path,
        *,
        on_started: Callable[[int, str], None],
        install_routes: bool = True,
    ) -> Charon:
        """Start a charon in namespace `ns_name`, its files in `folder`.

        `folder` must be short: the VICI socket's path in it is limited to
        107 bytes. The namespace must exist.

        With `install_routes` charon routes each CHILD SA's remote selectors
        into ipsec0 (static routing: kernel-libipsec carries only what is
        routed there). Without, its routes go to a table looked up after the
        main one, where they never decide, and the caller routes into ipsec0
        (there once this returns): needed where both tunnels carry 0.0.0.0/0
        (BGP), since the first tunnel's route would catch the second one's
        IKE packets and every packet the namespace forwards.

        `on_started(pid, what)` is called as soon as the process exists,
        before it answers, so that the caller tracks it even if the wait
        fails. Raises CharonFailed, with the log's tail, when the charon
        does not answer on VICI within READY_TIMEOUT_S (it is stopped then),
        and simulator.netns.TopologyError when there is no such namespace.
        """
        folder = Path(folder).absolute()
        socket_path = folder / VICI_SOCKET
        if len(os.fsencode(socket_path)) > _UNIX_PATH_MAX:
            raise ValueError(
                f"{socket_path} is longer than a unix socket's {_UNIX_PATH_MAX} "
                "bytes: give the charon a shorter folder"
            )
        charon_binary, _ = find_binaries()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        socket_path.unlink(missing_ok=True)  # a crashed charon's
        conf = folder / STRONGSWAN_CONF
        conf.write_text(
            _strongswan_conf(ns_name, folder, install_routes=install_routes)
        )
        with open(folder / CHARON_LOG, "ab") as output:
            process = _spawn_in_namespace(
                ns_name,
                [charon_binary],
                env=_environment(conf),
                output=output,
                on_started=on_started,
            )
        charon = cls(ns_name, folder, process.pid, process=process)
        try:
            # charon-systemd writes no pid file: this one is for `attach`.
            charon.pid_path.write_text(f"{process.pid}\n")
            charon._wait_ready()
        except BaseException:
            charon.stop()
            raise
        log.debug("charon in %s up (pid %d)", ns_name, process.pid)
        return charon

    @classmethod
    def attach(cls, ns_name: str, folder: Path) -> Charon:
        """The charon that `start`, maybe in another process, runs in `folder`.

        Drives it over VICI like the one `start` returned; `stop` ends it by
        the pid `start` wrote, once sure that pid is still this charon.
        Raises CharonFailed when no charon answers there.
        """
        folder = Path(folder).absolute()
        try:
            pid = int((folder / CHARON_PID).read_text())
        except (OSError, ValueError):
            raise CharonFailed(f"no charon was started in {folder}") from None
        charon = cls(ns_name, folder, pid)
        try:
            with charon._session(timeout_s=_VICI_SLACK_S) as session:
                session.version()
        except OSError as error:
            raise CharonFailed(
                f"the charon in {ns_name} does not answer on {charon.socket_path}: "
                f"{error}"
            ) from None
        return charon

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise CharonFailed(
                    f"charon in {self.namespace} exited with "
                    f"{self._process.returncode}: {self.log_tail()}"
                )
            try:
                with self._session(timeout_s=0.5) as session:
                    session.version()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise CharonFailed(
                        f"charon in {self.namespace} did not answer on "
                        f"{self.socket_path} within {READY_TIMEOUT_S:.0f} s: "
                        f"{self.log_tail()}"
                    ) from None
                time.sleep(0.02)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the charon's log, in one line (no secrets at level 1)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    @contextmanager
    def _session(self, *, timeout_s: float) -> Iterator[vici.Session]:
        connection = socket.socket(socket.AF_UNIX)
        # vici's reader lifts the timeout after a message's first byte; it
        # bounds the wait for an answer, not its transfer.
        connection.settimeout(timeout_s)
        try:
            connection.connect(str(self.socket_path))
            yield vici.Session(connection)
        finally:
            connection.close()

    def load(self, swanctl_conf: Path) -> None:
        """`swanctl --load-all --file F`: F's connections, secrets and pools.

        swanctl replaces what the charon holds with what F says: connections
        and secrets that F lacks are unloaded. The empty credential folders
        swanctl reads beside F are created. Raises CharonFailed with
        swanctl's message.
        """
        swanctl_conf = Path(swanctl_conf).absolute()
        for name in SWANCTL_CREDENTIAL_FOLDERS:
            (swanctl_conf.parent / name).mkdir(mode=0o700, exist_ok=True)
        try:
            loaded = subprocess.run(
                [
                    self._swanctl,
                    "--load-all",
                    "--noprompt",
                    "--file",
                    str(swanctl_conf),
                ],
                env=_environment(self.conf),
                capture_output=True,
                text=True,
                timeout=SWANCTL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise CharonFailed(
                f"swanctl got no answer from the charon in {self.namespace} within "
                f"{SWANCTL_TIMEOUT_S:.0f} s"
            ) from None
        if loaded.returncode != 0:
            said = " | ".join((loaded.stdout + loaded.stderr).strip().splitlines())
            raise CharonFailed(
                f"swanctl could not load {swanctl_conf} into the charon in "
                f"{self.namespace}: {said}"
            )

    def initiate(self, child: str, *, timeout_s: float) -> None:
        """Bring CHILD SA `child` up (and its IKE SA); wait at most `timeout_s`.

        Raises CharonFailed when it does not come up in time, with the
        reason charon gave (e.g. AUTHENTICATION_FAILED).
        """
        said: list[str] = []
        try:
            with self._session(timeout_s=timeout_s + _VICI_SLACK_S) as session:
                for event in session.initiate(
                    {"child": child, "timeout": int(timeout_s * 1000)}
                ):
                    said.append(_text(event.get("msg", b"")))
        except (vici.exception.CommandException, OSError) as error:
            reasons = [line for line in said if "failed" in line or "error" in line]
            raise CharonFailed(
                f"tunnel {child} did not come up in {self.namespace}: {error}"
                + (f" ({'; '.join(reasons[-3:])})" if reasons else "")
            ) from None

    def terminate(self, ike: str, *, timeout_s: float = 1.0) -> bool:
        """Close IKE SA `ike` and its CHILD SAs, telling the peer.

        Waits `timeout_s` for the peer to confirm, then removes the SAs
        anyway. False when there was no such SA.
        """
        said: list[str] = []
        try:
            with self._session(timeout_s=timeout_s + _VICI_SLACK_S) as session:
                for event in session.terminate(
                    {"ike": ike, "timeout": int(timeout_s * 1000), "force": "yes"}
                ):
                    said.append(_text(event.get("msg", b"")))
        except vici.exception.CommandException as error:
            # None there, or it went away meanwhile: closed either way.
            if "no matching SAs" in str(error) or "not found" in "; ".join(said):
                return False
            raise CharonFailed(
                f"could not terminate {ike} in {self.namespace}: {error} "
                f"({'; '.join(said[-5:])})"
            ) from None
        return True

    def unload(self, conn: str) -> None:
        """Forget connection `conn`, so that the charon neither starts nor answers it.

        strongSwan 5.9.8 also closes the connection's SAs, telling the peer.
        """
        try:
            with self._session(timeout_s=_VICI_SLACK_S) as session:
                session.unload_conn({"name": conn})
        except vici.exception.CommandException as error:
            raise CharonFailed(
                f"could not unload {conn} in {self.namespace}: {error}"
            ) from None

    def load_connection(self, message: Mapping[str, Any]) -> None:
        """Load one connection given as VICI's load-conn message ({name: {...}}).

        A connection with start_action = start is initiated at once.
        """
        try:
            with self._session(timeout_s=_VICI_SLACK_S) as session:
                session.load_conn(dict(message))
        except vici.exception.CommandException as error:
            raise CharonFailed(
                f"could not load {', '.join(message)} in {self.namespace}: {error}"
            ) from None

    def load_shared_key(self, key_id: str, owners: Sequence[str], key: str) -> None:
        """Load (or replace) the IKE pre-shared key `key_id` for the `owners` ids."""
        try:
            with self._session(timeout_s=_VICI_SLACK_S) as session:
                session.load_shared(
                    {"id": key_id, "type": "IKE", "data": key, "owners": list(owners)}
                )
        except vici.exception.CommandException:
            # charon's message names the key, never its value; keep it so.
            raise CharonFailed(
                f"could not load the pre-shared key {key_id} in {self.namespace}"
            ) from None

    def tunnels(self) -> dict[str, TunnelState]:
        """Each loaded connection's tunnel state, by connection name.

        A connection without SAs is there too, down. Of several SAs of one
        connection (during a rekeying), the most advanced tells the state.
        """
        with self._session(timeout_s=_VICI_SLACK_S) as session:
            names = [name for conn in session.list_conns() for name in conn]
            # Each list-sa event is {IKE SA's connection name: the SA}.
            sas = [item for event in session.list_sas() for item in event.items()]
        states = {}
        for name in names:
            ikes = [sa for conn, sa in sas if conn == name]
            ike = min(
                ikes, key=lambda sa: _rank(_text(sa["state"]), _IKE_RANK), default=None
            )
            children = [
                child
                for sa in ikes
                for child in sa.get("child-sas", {}).values()
                if _text(child.get("name", b"")) == name
            ]
            child = min(
                children,
                key=lambda c: _rank(_text(c["state"]), _CHILD_RANK),
                default=None,
            )
            states[name] = TunnelState(
                name=name,
                ike_state=_text(ike["state"]) if ike else None,
                child_state=_text(child["state"]) if child else None,
                established_s=(
                    _number(ike["established"])
                    if ike and "established" in ike
                    else None
                ),
                bytes_in=sum(_number(c.get("bytes-in")) for c in children),
                bytes_out=sum(_number(c.get("bytes-out")) for c in children),
            )
        return states

    @property
    def running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return self._is_this_charon()

    def _is_this_charon(self) -> bool:
        """Whether `pid` is still this charon, not a process that reused it."""
        try:
            environ = Path(f"/proc/{self.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"STRONGSWAN_CONF={self.conf}".encode() in environ

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after STOP_TIMEOUT_S; idempotent.

        A charon this process started is reaped; an attached one is only
        waited for. Removes nothing but the VICI socket a killed charon
        leaves, and the pid file.
        """
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._warn_killing()
                    self._process.kill()
                    self._process.wait(timeout=STOP_TIMEOUT_S)
        elif self._is_this_charon():
            os.kill(self.pid, signal.SIGTERM)
            if not self._gone_within(STOP_TIMEOUT_S):
                self._warn_killing()
                os.kill(self.pid, signal.SIGKILL)
                self._gone_within(STOP_TIMEOUT_S)
        self.socket_path.unlink(missing_ok=True)
        self.pid_path.unlink(missing_ok=True)

    def _gone_within(self, timeout_s: float) -> bool:
        # Identity was checked before signalling; from here what counts is
        # whether the process has finished exiting (gone, or a zombie left
        # for its parent). Its environment vanishes earlier, while it exits.
        deadline = time.monotonic() + timeout_s
        while _running(self.pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _warn_killing(self) -> None:
        log.warning(
            "charon in %s (pid %d) ignored SIGTERM; killing it",
            self.namespace,
            self.pid,
        )


def _running(pid: int) -> bool:
    """Whether `pid` exists and has not finished exiting (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _strongswan_conf(namespace: str, folder: Path, *, install_routes: bool) -> str:
    socket_uri = f"unix://{folder / VICI_SOCKET}"
    yes_no = "yes" if install_routes else "no"
    routing = ""
    if not install_routes:
        routing = (
            "    # kernel-libipsec routes every CHILD SA's remote selectors into\n"
            "    # ipsec0 whatever install_routes says; its table is looked up only\n"
            "    # after the main one, where the caller routes.\n"
            f"    routing_table = {_ROUTING_TABLE}\n"
            f"    routing_table_prio = {_ROUTING_TABLE_AFTER_MAIN}\n"
        )
    return f"""\
# strongSwan for the namespace {namespace}, written by exchange-proof's
# simulator. charon-systemd and swanctl read it through STRONGSWAN_CONF, and
# nothing else: no /etc/strongswan.conf, /etc/strongswan.d or /etc/swanctl.

charon-systemd {{
    # No journal: the log goes to {CHARON_LOG} in this folder.
    journal {{
        default = -1
    }}
}}

charon {{
    load_modular = no
    load = {" ".join(CHARON_PLUGINS)}
    # kernel-libipsec sends through ipsec0 only what is routed there.
    install_routes = {yes_no}
{routing}    install_virtual_ip = no
    retransmit_timeout = {RETRANSMIT_TIMEOUT_S}
    retransmit_tries = {RETRANSMIT_TRIES}
    filelog {{
        charon {{
            path = {folder / CHARON_LOG}
            time_format = %Y-%m-%d %H:%M:%S
            append = yes
            flush_line = yes
            # Each line names its connection: the telemetry reads why a
            # tunnel is down from here.
            ike_name = yes
            default = 1
        }}
    }}
    plugins {{
        vici {{
            socket = {socket_uri}
        }}
        socket-default {{
            use_ipv6 = no
        }}
    }}
}}

swanctl {{
    load = {" ".join(SWANCTL_PLUGINS)}
    socket = {socket_uri}
}}
"""


# --- the AWS side ---------------------------------------------------------


def tunnel_name(connection_id: str, number: int) -> str:
    """Tunnel `number`'s connection and child name, on both sides.

    The customer's file names them so (`DeviceTunnel.name`); the AWS side
    takes the same names, so that faults and states are keyed alike.
    """
    return f"{connection_id}-tunnel{number}"


@dataclass(frozen=True)
class AwsSide:
    """The AWS endpoints of one VPN connection's two tunnels, for one charon.

    Each tunnel mirrors the customer's: its outside IP to the customer
    gateway's, the pre-shared key ids those addresses, the proposals,
    lifetimes and dead peer detection the tunnel options allow (AWS accepts
    any of the configured sets, VPN-16..20), and the traffic selectors the
    other way round. AWS's StartupAction decides who initiates (VPN-31):
    `start`, the AWS side; `add`, the customer's gateway, AWS only answers.
    """

    tunnels: tuple[DeviceTunnel, DeviceTunnel]
    local_ts: tuple[IPv4Network, ...]  # the AWS side: the VPC, or everything
    remote_ts: tuple[IPv4Network, ...]  # the on-premises networks

    def tunnel(self, number: int) -> DeviceTunnel:
        for tunnel in self.tunnels:
            if tunnel.number == number:
                return tunnel
        raise ValueError(f"a VPN connection has tunnels 1 and 2, not {number}")

    def name(self, number: int) -> str:
        """Tunnel `number`'s connection and child name, as the customer's."""
        return tunnel_name(self.tunnel(number).vpn_connection_id, number)

    def connection_message(self, number: int) -> dict[str, Any]:
        """Tunnel `number` as VICI's load-conn message: {name: {...}}."""
        tunnel = self.tunnel(number)
        version = tunnel.ike_version
        margin = tunnel.rekey_margin_time_seconds
        ike: dict[str, Any] = {
            "version": str(version),
            "local_addrs": [str(tunnel.aws_outside_ip)],
            "remote_addrs": [str(tunnel.customer_gateway_ip)],
            # kernel-libipsec always sends ESP in UDP 4500.
            "encap": "yes",
            # AWS's endpoints do not move (no MOBIKE).
            "mobike": "no",
            "proposals": _proposals(
                tunnel.phase1_encryption_algorithms,
                tunnel.phase1_integrity_algorithms,
                tunnel.phase1_dh_group_numbers,
                ike=True,
                ike_version=version,
            ).split(","),
            "rekey_time": f"{tunnel.phase1_lifetime_seconds - margin}s",
            "over_time": f"{margin}s",
            "rand_time": f"{_rand_time(tunnel)}s",
            # Probe often, so that a dead peer is noticed within seconds.
            "dpd_delay": f"{min(AWS_DPD_DELAY_MAX_S, tunnel.dpd_interval_seconds)}s",
            "keyingtries": "0",
        }
        if version != 2:
            ike["dpd_timeout"] = f"{tunnel.dpd_timeout_seconds}s"
        ike["local"] = {"auth": "psk", "id": str(tunnel.aws_outside_ip)}
        ike["remote"] = {"auth": "psk", "id": str(tunnel.customer_gateway_ip)}
        child: dict[str, Any] = {
            "mode": "tunnel",
            "local_ts": [str(network) for network in self.local_ts],
            "remote_ts": [str(network) for network in self.remote_ts],
            "esp_proposals": _proposals(
                tunnel.phase2_encryption_algorithms,
                tunnel.phase2_integrity_algorithms,
                tunnel.phase2_dh_group_numbers,
                ike=False,
                ike_version=version,
            ).split(","),
            "rekey_time": f"{tunnel.phase2_lifetime_seconds - margin}s",
            "life_time": f"{tunnel.phase2_lifetime_seconds}s",
            "rand_time": f"{_rand_time(tunnel)}s",
            "replay_window": str(tunnel.replay_window_size),
            "dpd_action": _dpd_action(tunnel),
            # StartupAction (VPN-31): start, AWS brings the tunnel up and keeps
            # it up; add, it waits for the customer's gateway.
            "start_action": "start" if tunnel.aws_initiates else "none",
            "close_action": "start" if tunnel.aws_initiates else "none",
        }
        ike["children"] = {self.name(number): child}
        return {self.name(number): ike}

    def key_id(self, number: int) -> str:
        """The id of tunnel `number`'s pre-shared key, as in the customer's file."""
        return f"ike-{self.name(number)}"

    def key_owners(self, number: int) -> list[str]:
        """The IKE ids tunnel `number`'s key is for: both ends' outside IPs."""
        tunnel = self.tunnel(number)
        return [str(tunnel.aws_outside_ip), str(tunnel.customer_gateway_ip)]

    def files(self) -> list[DeviceFile]:
        """swanctl.conf for both tunnels and, apart, its secrets (mode 0600)."""
        connections: dict[str, Any] = {}
        for tunnel in self.tunnels:
            connections.update(self.connection_message(tunnel.number))
        connection_id = self.tunnels[0].vpn_connection_id
        endpoints = " and ".join(str(t.aws_outside_ip) for t in self.tunnels)
        conf = [
            "# strongSwan swanctl.conf for AWS's end of both tunnels of",
            f"# {connection_id} ({endpoints}), written by exchange-proof's",
            "# simulator from the described tunnel options: the mirror of the",
            "# customer gateway's file.",
            f"# The pre-shared keys are in {SWANCTL_SECRETS}.",
            "",
            *_swanctl_section("connections", connections),
            "",
            f"include {SWANCTL_SECRETS}",
            "",
        ]
        secrets_section = {
            self.key_id(tunnel.number): {
                "id-local": str(tunnel.aws_outside_ip),
                "id-remote": str(tunnel.customer_gateway_ip),
                "secret": f'"{tunnel.pre_shared_key.reveal()}"',
            }
            for tunnel in self.tunnels
        }
        secret_lines = [
            f"# The pre-shared keys of AWS's end of {connection_id}, included by",
            f"# {SWANCTL_CONF}. Mode 0600.",
            "",
            *_swanctl_section("secrets", secrets_section),
            "",
        ]
        return [
            DeviceFile(SWANCTL_CONF, "\n".join(conf)),
            DeviceFile(SWANCTL_SECRETS, "\n".join(secret_lines), secret=True),
        ]


def _swanctl_section(name: str, body: Mapping[str, Any], indent: str = "") -> list[str]:
    """A VICI message's section in swanctl.conf's syntax: lists comma-joined."""
    lines = [f"{indent}{name} {{"]
    for key, value in body.items():
        if isinstance(value, Mapping):
            lines += _swanctl_section(key, value, indent + "    ")
        elif isinstance(value, list):
            lines.append(f"{indent}    {key} = {','.join(value)}")
        else:
            lines.append(f"{indent}    {key} = {value}")
    lines.append(f"{indent}}}")
    return lines


def aws_side(
    connection: Mapping[str, Any],
    customer_gateway_ip: IPv4Address | str,
    *,
    on_premises_networks: Iterable[IPv4Network | str],
    vpc_cidr: IPv4Network | str,
    routing: str,
) -> AwsSide:
    """The AWS side of the described `connection` (describe_vpn_connections).

    Static routing: the VPC CIDR to the on-premises networks, as the
    customer's selectors the other way round; BGP: everything the connection
    accepts (its Remote/LocalIpv4NetworkCidr, 0.0.0.0/0 unless set, VPN-36).
    """
    tunnels = device_tunnels(connection, customer_gateway_ip)
    options = connection.get("Options", {})
    if routing == "static":
        local_ts: tuple[IPv4Network, ...] = (IPv4Network(vpc_cidr),)
        remote_ts = tuple(sorted(IPv4Network(n) for n in on_premises_networks))
        if not remote_ts:
            raise ValueError("static routing needs at least one on-premises network")
    elif routing == "bgp":
        local_ts = (IPv4Network(options.get("RemoteIpv4NetworkCidr", "0.0.0.0/0")),)
        remote_ts = (IPv4Network(options.get("LocalIpv4NetworkCidr", "0.0.0.0/0")),)
    else:
        raise ValueError(f"routing is static or bgp, not {routing!r}")
    return AwsSide(tunnels=tunnels, local_ts=local_ts, remote_ts=remote_ts)


def aws_side_config(
    connection: Mapping[str, Any],
    customer_gateway_ip: IPv4Address | str,
    *,
    on_premises_networks: Iterable[IPv4Network | str],
    vpc_cidr: IPv4Network | str,
    routing: str,
) -> list[DeviceFile]:
    """The AWS side's swanctl files for both tunnels (see `aws_side`)."""
    return aws_side(
        connection,
        customer_gateway_ip,
        on_premises_networks=on_premises_networks,
        vpc_cidr=vpc_cidr,
        routing=routing,
    ).files()


# --- bringing tunnels up, and faults on the AWS side ------------------------
#
# AWS's StartupAction decides who brings a tunnel up (VPN-31): with `start`
# the AWS side initiates, with `add` only the customer's gateway does. A
# charon initiates as a connection loads, but does not try again after its
# peer refused (NO_PROPOSAL_CHOSEN before the peer loaded its side,
# AUTHENTICATION_FAILED with a wrong key), and neither do many devices: so
# `bring_up` and the restores initiate again from the tunnel's initiator,
# the customer's charon when given, as its operator would.

INITIATE_TIMEOUT_S = 5.0


def bring_up(
    aws: Charon,
    side: AwsSide,
    customer: Charon,
    *,
    timeout_s: float = INITIATE_TIMEOUT_S,
) -> None:
    """Initiate each tunnel that is neither up nor on its way, from its initiator.

    Call it once both charons have loaded their files (either order): the
    side that loaded first had its own attempts refused. Returns once the
    attempts it made succeeded (about 30 ms each); raises CharonFailed for
    one that did not. A tunnel already underway may still be coming up:
    poll `tunnels()`.
    """
    for tunnel in side.tunnels:
        initiator = aws if tunnel.aws_initiates else customer
        _initiate_unless_underway(initiator, side.name(tunnel.number), timeout_s)


def _initiate_unless_underway(charon: Charon, name: str, timeout_s: float) -> None:
    # A second CHILD SA for the same selectors is refused as a duplicate,
    # and the refusal closes the first.
    state = charon.tunnels().get(name)
    if state is None or state.ike_state is None:
        charon.initiate(name, timeout_s=timeout_s)


def break_tunnel(charon: Charon, side: AwsSide, number: int) -> None:
    """Tunnel `number` down, and kept down: its endpoint forgets and closes it.

    The customer's gateway is told (a DELETE), so that its traffic moves to
    the other tunnel at once; its attempts to reconnect are refused.
    """
    name = side.name(number)
    # Forgotten first, so that the gateway's attempt to reconnect, which the
    # DELETE prompts, is refused; unloading closes the SAs, and terminate
    # catches any that a strongSwan of another version would leave.
    charon.unload(name)
    charon.terminate(name)


def restore_tunnel(
    charon: Charon, side: AwsSide, number: int, *, customer: Charon | None
) -> None:
    """Tunnel `number`'s endpoint back, with its configuration and key.

    With StartupAction start the AWS side initiates as the connection
    loads, and this returns before the tunnel is up (poll `tunnels()`).
    With add, `customer` (the customer gateway's charon) initiates and the
    tunnel is up on return; None leaves that to whoever runs the device.
    """
    _load_key(charon, side, number, side.tunnel(number).pre_shared_key.reveal())
    charon.load_connection(side.connection_message(number))
    if not side.tunnel(number).aws_initiates and customer is not None:
        _initiate_unless_underway(customer, side.name(number), INITIATE_TIMEOUT_S)


def wrong_key(charon: Charon, side: AwsSide, number: int) -> None:
    """Tunnel `number`'s endpoint takes another pre-shared key, and restarts.

    As when a tunnel's options change at AWS, the tunnel is closed and
    brought up again by its initiator (the customer's gateway does so on
    the DELETE), and that attempt, like every later one, fails with
    AUTHENTICATION_FAILED. The other key is random and shown nowhere.
    """
    name = side.name(number)
    _load_key(charon, side, number, secrets.token_urlsafe(24))
    charon.terminate(name)
    if side.tunnel(number).aws_initiates:
        try:
            charon.initiate(name, timeout_s=INITIATE_TIMEOUT_S)
        except CharonFailed as refused:
            log.debug("tunnel %s with the wrong key: %s", name, refused)


def restore_key(
    charon: Charon, side: AwsSide, number: int, *, customer: Charon | None
) -> None:
    """Tunnel `number`'s endpoint takes its own pre-shared key again.

    The tunnel is brought up by its initiator: the AWS side with
    StartupAction start, else `customer` (the customer gateway's charon;
    None leaves that to whoever runs the device). Raises CharonFailed if
    that attempt fails.
    """
    name = side.name(number)
    _load_key(charon, side, number, side.tunnel(number).pre_shared_key.reveal())
    initiator = charon if side.tunnel(number).aws_initiates else customer
    if initiator is not None:
        _initiate_unless_underway(initiator, name, INITIATE_TIMEOUT_S)


def _load_key(charon: Charon, side: AwsSide, number: int, key: str) -> None:
    charon.load_shared_key(side.key_id(number), side.key_owners(number), key)
