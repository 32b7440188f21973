"""Private MariaDB servers standing in for RDS MySQL instances.

Each instance has its own data folder, socket, port and TLS certificate, and
is started with `--no-defaults`, so it never reads or touches the machine's
own MariaDB (which may well be listening on 3306).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

log = logging.getLogger("simulator")

# Debian puts mariadbd in /usr/sbin, which a non-root PATH often lacks.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/bin"]
)
READY_TIMEOUT_S = 20.0

# What a server process inherits: enough to run, and none of the caller's
# variables, which may hold pre-shared keys.
SERVER_ENVIRONMENT = {"PATH": _SEARCH_PATH, "LANG": "C.UTF-8"}


class MariaDBUnavailable(Exception):
    """The MariaDB server binaries are not installed."""


class MariaDBFailed(Exception):
    """A private MariaDB server did not start; carries its error log's tail."""


def find_binaries() -> tuple[str, str]:
    """The paths of mariadb-install-db and mariadbd, or MariaDBUnavailable."""
    install_db = shutil.which("mariadb-install-db", path=_SEARCH_PATH)
    server = shutil.which("mariadbd", path=_SEARCH_PATH)
    if not (install_db and server):
        raise MariaDBUnavailable(
            "mariadbd is not installed: install Debian's mariadb-server "
            "(sudo apt-get install mariadb-server); `make demo` and `make test` "
            "do it when run as root"
        )
    return install_db, server


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@dataclass
class MariaDBInstance:
    """One running private server."""

    name: str
    datadir: Path
    socket_path: Path
    port: int
    pid: int


def _os_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


_template_lock = threading.Lock()
TEMPLATE = ".template"


def prepare_template(root: Path) -> Path:
    """An initialised, never started data folder under `root`, made once.

    Safe to call from several threads (and ahead of time, in the background,
    so that it overlaps other work); the first call initialises it.
    """
    template = root / TEMPLATE
    with _template_lock:
        if (template / "mysql").is_dir():
            return template
        install_db, _ = find_binaries()
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(parents=True)
        if os.geteuid() == 0:
            as_user = ["--user=root"]
        else:
            as_user = [f"--auth-root-socket-user={_os_user()}"]
        # --no-defaults must come first, or the system's my.cnf is read.
        # Socket authentication: the administrative account is reachable
        # only through the private socket by the OS user who started the
        # server, never over TCP without a password.
        try:
            subprocess.run(
                [
                    install_db,
                    "--no-defaults",
                    f"--datadir={template}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                    # The same InnoDB log size as the servers start with.
                    "--innodb-log-file-size=8M",
                    *as_user,
                ],
                check=True,
                capture_output=True,
                timeout=60,
                env=SERVER_ENVIRONMENT,
            )
        except subprocess.CalledProcessError as error:
            shutil.rmtree(template, ignore_errors=True)
            tail = error.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise MariaDBFailed(
                f"mariadb-install-db exited with {error.returncode}: "
                + " | ".join(tail)
            ) from None
        except subprocess.TimeoutExpired:
            shutil.rmtree(template, ignore_errors=True)
            raise MariaDBFailed("mariadb-install-db took over 60 s") from None
        return template


def start_instance(
    name: str,
    root: Path,
    *,
    tls: TlsFiles | None,
    require_tls: bool,
    on_started: Callable[[int], None],
    socket_dir: Path,
    port: int | None = None,
    bind_address: str = "127.0.0.1",
) -> MariaDBInstance:
    """Initialise a data folder under `root` and start a server on loopback.

    Or on `bind_address`, the address of a simulated host: the caller then
    starts it from a thread that has entered the host's namespace, where the
    server runs (a child starts in its parent thread's namespace).

    The socket goes to `socket_dir`, which must have a short path: a unix
    socket's path is limited to 107 bytes, and a data folder deep in a
    temporary folder can be longer.

    `on_started` receives the server's pid as soon as it exists, before it
    is ready, so that the caller can track it even if the wait is cut short.
    """
    _, server = find_binaries()
    datadir = root / name
    # A data folder that exists already is started as it is: a stopped
    # database comes back with its data (the database-stopped fault). A new
    # one is a copy of the simulator's initialised template: initialising
    # takes over a second, copying a tenth.
    if not (datadir / "mysql").is_dir():
        shutil.rmtree(datadir, ignore_errors=True)
        shutil.copytree(prepare_template(root), datadir, symlinks=True)
    port = port or free_loopback_port()
    socket_path = socket_dir / f"{name}.sock"
    args = [
        server,
        "--no-defaults",
        f"--datadir={datadir}",
        f"--socket={socket_path}",
        f"--pid-file={datadir / 'mariadbd.pid'}",
        f"--log-error={datadir / 'error.log'}",
        f"--bind-address={bind_address}",
        f"--port={port}",
        "--skip-log-bin",
        # No reverse lookups of clients: a simulated host has no DNS, and a
        # lookup that waits for none holds the connection (and the shutdown).
        "--skip-name-resolve",
        # Small and quick: a probe database, not a production one.
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=8M",
        "--performance-schema=OFF",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        *(["--user=root"] if os.geteuid() == 0 else []),
    ]
    if tls is not None:
        args += [f"--ssl-ca={tls.ca}", f"--ssl-cert={tls.cert}", f"--ssl-key={tls.key}"]
    if require_tls:
        args.append("--require-secure-transport=ON")
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=SERVER_ENVIRONMENT,
    )
    on_started(process.pid)
    instance = MariaDBInstance(
        name=name,
        datadir=datadir,
        socket_path=socket_path,
        port=port,
        pid=process.pid,
    )
    _wait_ready(instance, process)
    log.debug("mariadbd %s up on %s:%d (pid %d)", name, bind_address, port, process.pid)
    return instance


def _wait_ready(instance: MariaDBInstance, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MariaDBFailed(
                f"mariadbd {instance.name} exited with {process.returncode}: "
                f"{_log_tail(instance)}"
            )
        try:
            _admin_connection(instance, connect_timeout=1).close()
            return
        except pymysql.err.OperationalError:
            time.sleep(0.05)
    process.terminate()
    process.wait(timeout=10)
    raise MariaDBFailed(
        f"mariadbd {instance.name} was not ready after {READY_TIMEOUT_S:.0f} s: "
        f"{_log_tail(instance)}"
    )


def _log_tail(instance: MariaDBInstance, lines: int = 5) -> str:
    log_file = instance.datadir / "error.log"
    if not log_file.exists():
        return "no error log"
    return " | ".join(
        log_file.read_text(errors="replace").strip().splitlines()[-lines:]
    )


def _admin_connection(
    instance: MariaDBInstance, connect_timeout: int = 5
) -> pymysql.connections.Connection:
    # Socket authentication maps the OS user to the database account of the
    # same name (root, or whoever ran mariadb-install-db).
    return pymysql.connect(
        unix_socket=str(instance.socket_path),
        user=_os_user(),
        connect_timeout=connect_timeout,
        autocommit=True,
    )


def admit_network(instance: MariaDBInstance, network: str, username: str) -> None:
    """Let clients from `network` (a.b.c.d/nn) reach the login, as `username`.

    A MariaDB server answers a client whose address matches no account with
    an error instead of its greeting. The customer's database admits the
    platform's network so; the account has a random password and no grants.
    """
    import ipaddress
    import secrets

    parsed = ipaddress.ip_network(network)
    host = f"{parsed.network_address}/{parsed.netmask}"
    connection = _admin_connection(instance)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                (username, host, secrets.token_urlsafe(18)),
            )
    finally:
        connection.close()


def create_master_user(
    instance: MariaDBInstance, username: str, password: str, schema: str | None
) -> None:
    """Give the instance the master user and initial schema RDS would create."""
    connection = _admin_connection(instance)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s",
                (username, password),
            )
            cursor.execute(
                "GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (username,)
            )
            if schema:
                # An identifier cannot be a parameter; the schema rule (RDS-08)
                # admits only letters, digits and underscores.
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{schema}`")
    finally:
        connection.close()


def requires_tls(rds: Any, instance: dict[str, Any]) -> bool:
    """Whether an RDS instance's parameter group sets require_secure_transport.

    What the stand-in must be started with: the simulator reads it back
    through the RDS API, so a parameter the program did not declare is
    missing from the server too.
    """
    for group in instance.get("DBParameterGroups", []):
        parameters = rds.describe_db_parameters(
            DBParameterGroupName=group["DBParameterGroupName"]
        )["Parameters"]
        for parameter in parameters:
            if parameter["ParameterName"] == "require_secure_transport":
                return parameter.get("ParameterValue") in ("1", "ON", "on", "true")
    # RDS for MySQL's default is OFF (MY-08).
    return False


def create_rds_master_user(
    instance: MariaDBInstance, described: dict[str, Any], secrets: Any
) -> None:
    """The RDS instance's master user, with the password RDS keeps for it.

    `described` is the instance as describe_db_instances gives it; its
    managed secret is read through `secrets` (a Secrets Manager client).
    """
    credentials = json.loads(
        secrets.get_secret_value(SecretId=described["MasterUserSecret"]["SecretArn"])[
            "SecretString"
        ]
    )
    create_master_user(
        instance,
        credentials["username"],
        credentials["password"],
        described.get("DBName"),
    )
