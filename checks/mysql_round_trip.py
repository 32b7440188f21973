"""Live check: a row written to the MySQL database reads back identical.

It writes only to the product's own table (`exchange_probe`, created when
missing), removes the row it wrote, and never touches the customer's tables.
The payload mixes binary bytes with multi-byte UTF-8 text, so that a wrong
character set or a truncating path shows up as a mismatch, not as a pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field

import pymysql

from checks.plan import PlannedCheck
from checks.result import Outcome, failed, passed, skipped
from checks.target import NoStandIn, Target, Unreachable
from infra import outputs as keys

log = logging.getLogger("checks")

PROBE_TABLE = "exchange_probe"
PAYLOAD_BYTES = 4096
PROBE_TEXT = "Grüße aus Lübeck — 東京 ✓"

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS `{PROBE_TABLE}` (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    token CHAR(32) NOT NULL,
    payload BLOB NOT NULL,
    note VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL,
    written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY (token)
) ENGINE=InnoDB COMMENT='written and removed by exchange check'
"""


@dataclass
class _Endpoint:
    """Where a probe connects, and as whom (the master user from its secret)."""

    where: str  # what the report names: the cloud's address and the path taken
    host: str
    port: int
    username: str
    password: str = field(repr=False)


def _endpoint(target: Target, planned: PlannedCheck) -> _Endpoint | Outcome:
    _, database = target.database(planned.exchange)
    address, port = database[keys.DB_ADDRESS], int(database[keys.DB_PORT])
    try:
        host, connect_port, via = target.endpoint(planned.vantage, address, port)
    except Unreachable as unreachable:
        return failed(
            str(unreachable), "run the check from a vantage point that has a path"
        )
    except NoStandIn as reason:
        return skipped(f"{address}:{port}: {reason}")
    username, password = _master_credentials(target, database)
    return _Endpoint(
        f"{address}:{port} via {via}", host, connect_port, username, password
    )


def _connect(
    target: Target,
    planned: PlannedCheck,
    endpoint: _Endpoint,
    *,
    tls: bool,
    plaintext: bool = False,
) -> pymysql.connections.Connection:
    """Connect as the master user; `tls` verifies the server, `plaintext` forbids TLS.

    Without either, PyMySQL still upgrades to TLS when the server offers it,
    without verifying the certificate.
    """
    _, database = target.database(planned.exchange)
    timeout = max(1, int(planned.timeout_s / 3))
    log.debug(
        "%s: connecting to %s as %s (tls=%s, plaintext=%s, timeout %d s)",
        planned.id,
        endpoint.where,
        endpoint.username,
        tls,
        plaintext,
        timeout,
    )
    ssl_context = _tls_context(target, planned.vantage) if tls else None
    # Only the socket is opened at the vantage point; it keeps that namespace,
    # while the API calls of the check stay on this machine's network.
    with target.at_vantage(planned.vantage):
        return pymysql.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.username,
            password=endpoint.password,
            database=database[keys.DB_SCHEMA],
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            ssl=ssl_context,
            ssl_disabled=plaintext,
            charset="utf8mb4",
            autocommit=False,
        )


def mysql_round_trip(target: Target, planned: PlannedCheck) -> Outcome:
    exchange, _ = target.database(planned.exchange)
    endpoint = _endpoint(target, planned)
    if isinstance(endpoint, Outcome):
        return endpoint
    started = time.perf_counter()
    try:
        connection = _connect(target, planned, endpoint, tls=exchange.tls_required)
    except pymysql.err.OperationalError as error:
        return _connect_failure(error, endpoint.where)
    connect_ms = (time.perf_counter() - started) * 1000
    try:
        return _write_read_remove(connection, endpoint.where, connect_ms)
    finally:
        connection.close()


def mysql_plaintext_refused(target: Target, planned: PlannedCheck) -> Outcome:
    """With `tls: required`, a connection without TLS must be turned away."""
    endpoint = _endpoint(target, planned)
    if isinstance(endpoint, Outcome):
        return endpoint
    try:
        connection = _connect(target, planned, endpoint, tls=False, plaintext=True)
    except pymysql.err.OperationalError as error:
        code = error.args[0] if error.args else None
        # MySQL says why (3159, "insecure transport"); MariaDB answers a plain
        # "access denied" (1045). Either is a refusal only if the same
        # credentials are accepted with TLS.
        if code not in (1045, 3159):
            return _connect_failure(error, endpoint.where)
        try:
            _connect(target, planned, endpoint, tls=True).close()
        except pymysql.err.OperationalError as with_tls:
            return _connect_failure(with_tls, endpoint.where)
        return passed(
            f"{endpoint.where}: refused without TLS (MySQL error {code}), "
            "accepted with TLS and the same credentials"
        )
    connection.close()
    return failed(
        f"{endpoint.where}: the server accepted a connection without TLS",
        "set require_secure_transport=1 in the instance's parameter group "
        "(RDS-SSL, MY-08); the exchange says tls: required",
    )


def _write_read_remove(
    connection: pymysql.connections.Connection, where: str, connect_ms: float
) -> Outcome:
    token = secrets.token_hex(16)
    payload = secrets.token_bytes(PAYLOAD_BYTES)
    digest = hashlib.sha256(payload + PROBE_TEXT.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_TABLE)
        started = time.perf_counter()
        try:
            cursor.execute(
                f"INSERT INTO `{PROBE_TABLE}` (token, payload, note) "
                "VALUES (%s, %s, %s)",
                (token, payload, PROBE_TEXT),
            )
            connection.commit()
            cursor.execute(
                f"SELECT payload, note FROM `{PROBE_TABLE}` WHERE token = %s", (token,)
            )
            rows = cursor.fetchall()
        finally:
            # Remove what this probe wrote, whatever happened after the write.
            cursor.execute(f"DELETE FROM `{PROBE_TABLE}` WHERE token = %s", (token,))
            connection.commit()
        round_trip_ms = (time.perf_counter() - started) * 1000
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        tls_row = cursor.fetchone()
    tls_version = tls_row[1] if tls_row and tls_row[1] else "no TLS"
    if len(rows) != 1:
        return failed(
            f"{where}: wrote 1 row with token {token[:8]}…, read back {len(rows)}",
            "the database lost or duplicated the write; look for replication or a "
            "proxy between client and server",
        )
    read_payload, read_note = rows[0]
    read_digest = hashlib.sha256(bytes(read_payload) + read_note.encode()).hexdigest()
    if read_digest != digest:
        return failed(
            f"{where}: read back differs "
            f"(sha256 {read_digest[:12]}… != {digest[:12]}…)",
            "check the character set (utf8mb4) and max_allowed_packet on both ends",
        )
    return passed(
        f"{where}: {PAYLOAD_BYTES} bytes + UTF-8 text written, read back identical "
        f"(sha256 {digest[:12]}…) and removed; round trip {round_trip_ms:.1f} ms, "
        f"connect {connect_ms:.1f} ms, {tls_version}"
    )


def _master_credentials(target: Target, database: dict) -> tuple[str, str]:
    """The master user's name and password from the secret RDS manages."""
    secret = target.client("secretsmanager").get_secret_value(
        SecretId=database[keys.DB_MASTER_SECRET_ARN]
    )
    credentials = json.loads(secret["SecretString"])
    return credentials["username"], credentials["password"]


def _tls_context(target: Target, vantage: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.ca_bundle(vantage))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _connect_failure(error: pymysql.err.OperationalError, where: str) -> Outcome:
    code = error.args[0] if error.args else None
    message = str(error.args[1]) if len(error.args) > 1 else str(error)
    log.debug("connect to %s failed: %s", where, message)
    if code == 1045:
        return failed(
            f"{where}: access denied for the master user",
            "the password in the RDS-managed secret does not match the server's; "
            "rotate the secret or reset the master password",
        )
    if code == 2013:
        return failed(
            f"{where}: the server accepted the connection but did not answer",
            "the database is hung or overloaded, or a middlebox holds the "
            "connection: look at the server before the network",
        )
    if "insecure transport" in message.lower():
        return failed(
            f"{where}: the server requires TLS and the client did not use it",
            "connect with TLS (the exchange says tls: required)",
        )
    if isinstance(error.__cause__, ssl.SSLError) or "ssl" in message.lower():
        return failed(
            f"{where}: TLS handshake failed ({message})",
            "the client must trust the server's CA (the RDS CA bundle on AWS)",
        )
    if "timed out" in message.lower() or isinstance(error.__cause__, socket.timeout):
        return failed(
            f"{where}: connect timed out",
            "packets are dropped on the way: a security group or firewall that does "
            "not admit the client, or a tunnel that is down",
        )
    if "refused" in message.lower():
        return failed(
            f"{where}: connection refused",
            "the host answers but nothing listens on the port: is the database "
            "running, and on this port?",
        )
    return failed(f"{where}: {message}", "see the server's error log")
