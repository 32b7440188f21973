"""Private MariaDB servers standing in for RDS MySQL instances.

Each instance has its own data folder, socket, port and TLS certificate, and
is started with `--no-defaults`, so it never reads or touches the machine's
own MariaDB (which may well be listening on 3306).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

log = logging.getLogger("simulator")

# Debian puts mariadbd in /usr/sbin, which a non-root PATH often lacks.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/bin"]
)
READY_TIMEOUT_S = 20.0


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
    port: int
    pid: int

    @property
    def socket_path(self) -> Path:
        return self.datadir / "mysqld.sock"


def start_instance(
    name: str,
    root: Path,
    *,
    tls: TlsFiles | None,
    require_tls: bool,
    port: int | None = None,
) -> MariaDBInstance:
    """Initialise a data folder under `root` and start a server on loopback."""
    install_db, server = find_binaries()
    datadir = root / name
    datadir.mkdir(parents=True, exist_ok=True)
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    # --no-defaults must come first, or the system's my.cnf is read.
    subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = port or free_loopback_port()
    args = [
        server,
        "--no-defaults",
        f"--datadir={datadir}",
        f"--socket={datadir / 'mysqld.sock'}",
        f"--pid-file={datadir / 'mariadbd.pid'}",
        f"--log-error={datadir / 'error.log'}",
        "--bind-address=127.0.0.1",
        f"--port={port}",
        "--skip-log-bin",
        # Small and quick: a probe database, not a production one.
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=8M",
        "--performance-schema=OFF",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        *as_root,
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
    )
    instance = MariaDBInstance(name=name, datadir=datadir, port=port, pid=process.pid)
    _wait_ready(instance, process)
    log.debug("mariadbd %s up on 127.0.0.1:%d (pid %d)", name, port, process.pid)
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
            pymysql.connect(
                unix_socket=str(instance.socket_path), user="root", connect_timeout=1
            ).close()
            return
        except pymysql.err.OperationalError:
            time.sleep(0.05)
    process.terminate()
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


def create_master_user(
    instance: MariaDBInstance, username: str, password: str, schema: str | None
) -> None:
    """Give the instance the master user and initial schema RDS would create."""
    connection = pymysql.connect(
        unix_socket=str(instance.socket_path), user="root", autocommit=True
    )
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
