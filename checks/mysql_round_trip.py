"""mysql.roundtrip: data written to a MySQL database reads back identical.

Step by step, each bounded in time, so that a failure names its layer: the
TCP connection (checks.probe), the server's greeting, TLS (verified, when
the exchange requires it), the login as the master user (from the secret
RDS manages), a write-read-compare-delete in the product's own table
(`exchange_probe`, created when missing), and a result of 1 MiB. That last
one exposes a path MTU black hole: small packets pass, full-size ones
vanish, so the greeting and the small round trip succeed and the large
result never arrives. With a soak time the connection then idles that long
and must still answer, which a middlebox's idle timeout would break.

It writes only its own table and removes the row it wrote, whatever
happens after the write. The payload mixes binary bytes with multi-byte
UTF-8 text, so that a wrong character set or a truncating path shows up as
a mismatch, not as a pass.

A remote database (option 3) is the customer's: the configuration names no
credentials for it, so through the load balancer the check proves the path
and the server's greeting, and logs in nowhere.
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

from checks import diagnosis as dx
from checks.net_reach import database_not_running
from checks.plan import PlannedCheck
from checks.probe import Blocked, Connected, open_connection
from checks.result import Outcome, failed, passed
from checks.target import MissingOutput, Target
from infra import outputs as keys

log = logging.getLogger("checks")

PROBE_TABLE = "exchange_probe"
PAYLOAD_BYTES = 4096
PROBE_TEXT = "Grüße aus Lübeck — 東京 ✓"
LARGE_RESULT_BYTES = 1024 * 1024
# Each step's own bound: a step that stalls longer is dropped on the way.
STEP_TIMEOUT_S = 3.0

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
class Database:
    """What a probe connects to, and as whom (None: no login)."""

    host: str
    port: int
    schema: str | None
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def database_of(target: Target, planned: PlannedCheck) -> Database:
    databases = target.outputs.get(keys.DATABASES) or {}
    if planned.exchange in databases:
        exchange, database = target.database(planned.exchange)
        username, password = _master_credentials(target, database)
        return Database(
            database[keys.DB_ADDRESS],
            int(database[keys.DB_PORT]),
            database[keys.DB_SCHEMA],
            exchange.tls_required,
            username,
            password,
        )
    gateways = target.outputs.get(keys.REMOTE_DATABASES) or {}
    if planned.exchange in gateways:
        gateway = gateways[planned.exchange]
        return Database(
            gateway[keys.NLB_DNS_NAME], int(gateway[keys.NLB_PORT]), None, tls=False
        )
    raise MissingOutput(f"the stack has no database output for {planned.exchange!r}")


def connect(
    target: Target,
    planned: PlannedCheck,
    database: Database,
    *,
    tls: bool,
    plaintext: bool = False,
) -> tuple[pymysql.connections.Connection, Connected]:
    """A logged-in session from the check's vantage point; raises Blocked.

    `tls` verifies the server's certificate; `plaintext` forbids TLS.
    Without either, PyMySQL still upgrades to TLS when the server offers it,
    without verifying the certificate.
    """
    try:
        connected = open_connection(
            target,
            planned.vantage,
            database.host,
            database.port,
            timeout_s=STEP_TIMEOUT_S,
        )
    except Blocked as blocked:
        if blocked.outcome.diagnosis is dx.REFUSED:
            stopped = database_not_running(target, planned)
            if stopped is not None:
                raise Blocked(stopped) from None
        raise
    session = pymysql.connect(
        host=database.host,
        port=database.port,
        user=database.username or "",
        password=database.password or "",
        database=database.schema,
        read_timeout=STEP_TIMEOUT_S,
        write_timeout=STEP_TIMEOUT_S,
        ssl=_tls_context(target, planned.vantage) if tls else None,
        ssl_disabled=plaintext,
        charset="utf8mb4",
        autocommit=False,
        defer_connect=True,
    )
    log.debug(
        "%s: session on %s as %s (tls=%s, plaintext=%s)",
        planned.id,
        connected.where,
        database.username,
        tls,
        plaintext,
    )
    try:
        session.connect(connected.sock)
    except pymysql.MySQLError as error:
        connected.sock.close()
        raise Blocked(
            session_failure(error, connected.where, greeted=_greeting(session))
        ) from None
    return session, connected


def mysql_round_trip(target: Target, planned: PlannedCheck) -> Outcome:
    database = database_of(target, planned)
    if database.username is None:
        return _greeting_only(target, planned, database)
    try:
        session, connected = connect(target, planned, database, tls=database.tls)
    except Blocked as blocked:
        return blocked.outcome
    try:
        return _round_trips(session, connected, planned.param("soak_s", 0.0))
    except pymysql.MySQLError as error:
        return session_failure(error, connected.where, greeted=True, logged_in=True)
    finally:
        if session.open:
            session.close()


def _round_trips(
    session: pymysql.connections.Connection, connected: Connected, soak_s: float
) -> Outcome:
    where = connected.where
    version = session.get_server_info()
    started = time.perf_counter()
    written = _write_read_remove(session, where)
    if isinstance(written, Outcome):
        return written
    round_trip_ms = (time.perf_counter() - started) * 1000
    large = _large_result(session, where)
    if isinstance(large, Outcome):
        return large
    with session.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        tls_row = cursor.fetchone()
    tls_version = tls_row[1] if tls_row and tls_row[1] else "no TLS"
    soaked = ""
    if soak_s > 0:
        time.sleep(soak_s)
        try:
            with session.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except pymysql.err.OperationalError as error:
            return failed(
                f"{where}: the session answered, then after {soak_s:g} s idle it did "
                f"not ({_message(error)})",
                "",
                dx.IDLE_TIMEOUT,
            )
        soaked = f"; answered again after {soak_s:g} s idle"
    return passed(
        f"{where}: {version}, {tls_version}; {PAYLOAD_BYTES} bytes + UTF-8 text "
        f"written, read back identical (sha256 {written[:12]}…) and removed in "
        f"{round_trip_ms:.1f} ms; {LARGE_RESULT_BYTES // 1024} KiB result in "
        f"{large:.0f} ms; connect {connected.connect_ms:.1f} ms{soaked}"
    )


def _write_read_remove(
    session: pymysql.connections.Connection, where: str
) -> str | Outcome:
    """The digest of what was written and read back identical, or the failure."""
    token = secrets.token_hex(16)
    payload = secrets.token_bytes(PAYLOAD_BYTES)
    digest = hashlib.sha256(payload + PROBE_TEXT.encode()).hexdigest()
    with session.cursor() as cursor:
        cursor.execute(_CREATE_TABLE)
        # Rows of probes that were cut off before they could remove theirs.
        cursor.execute(
            f"DELETE FROM `{PROBE_TABLE}` WHERE written_at < NOW(6) - INTERVAL 1 HOUR"
        )
        session.commit()
        try:
            cursor.execute(
                f"INSERT INTO `{PROBE_TABLE}` (token, payload, note) "
                "VALUES (%s, %s, %s)",
                (token, payload, PROBE_TEXT),
            )
            session.commit()
            cursor.execute(
                f"SELECT payload, note FROM `{PROBE_TABLE}` WHERE token = %s", (token,)
            )
            rows = cursor.fetchall()
        except pymysql.err.OperationalError as error:
            if not _timed_out(error):
                raise
            # The small statements before passed; the first full-size packet
            # (the 4 KiB row) did not.
            return failed(
                f"{where}: the session answers small statements, but writing a "
                f"{PAYLOAD_BYTES // 1024} KiB row stalled for {STEP_TIMEOUT_S:g} s",
                "",
                dx.MTU_BLACK_HOLE,
            )
        finally:
            _remove(session, token)
    if len(rows) != 1:
        return failed(
            f"{where}: wrote 1 row with token {token[:8]}…, read back {len(rows)}",
            "the database lost or duplicated the write; look for replication or a "
            "proxy between client and server",
            dx.DATA_MISMATCH,
        )
    read_payload, read_note = rows[0]
    read_digest = hashlib.sha256(bytes(read_payload) + read_note.encode()).hexdigest()
    if read_digest != digest:
        return failed(
            f"{where}: read back differs "
            f"(sha256 {read_digest[:12]}… != {digest[:12]}…)",
            "check the character set (utf8mb4) and max_allowed_packet on both ends",
            dx.DATA_MISMATCH,
        )
    return digest


def _large_result(
    session: pymysql.connections.Connection, where: str
) -> float | Outcome:
    """Milliseconds a 1 MiB result took to arrive, or the failure."""
    chunk = secrets.token_hex(32)
    repeats = LARGE_RESULT_BYTES // len(chunk)
    expected = hashlib.sha256((chunk * repeats).encode()).hexdigest()
    started = time.perf_counter()
    try:
        with session.cursor() as cursor:
            cursor.execute("SELECT REPEAT(%s, %s)", (chunk, repeats))
            (value,) = cursor.fetchone()
    except pymysql.err.OperationalError as error:
        if not _timed_out(error):
            raise
        return failed(
            f"{where}: the small round trip passed, a {LARGE_RESULT_BYTES // 1024} KiB "
            f"result did not arrive within {STEP_TIMEOUT_S:g} s ({_message(error)})",
            "",
            dx.MTU_BLACK_HOLE,
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    if value is None:
        return failed(
            f"{where}: the server returned NULL for a "
            f"{LARGE_RESULT_BYTES // 1024} KiB result",
            "raise max_allowed_packet above 1 MiB in the parameter group",
            dx.DATA_MISMATCH,
        )
    if isinstance(value, bytes):
        value = value.decode()
    if hashlib.sha256(value.encode()).hexdigest() != expected:
        return failed(
            f"{where}: the {LARGE_RESULT_BYTES // 1024} KiB result arrived altered "
            f"({len(value)} characters)",
            "",
            dx.DATA_MISMATCH,
        )
    return elapsed_ms


def _greeting_only(
    target: Target, planned: PlannedCheck, database: Database
) -> Outcome:
    try:
        connected = open_connection(
            target,
            planned.vantage,
            database.host,
            database.port,
            timeout_s=STEP_TIMEOUT_S,
        )
    except Blocked as blocked:
        return blocked.outcome
    with connected.sock:
        greeting = _read_greeting(connected.sock)
    if isinstance(greeting, Outcome):
        unhealthy = _unhealthy_targets(target, planned)
        if unhealthy and greeting.diagnosis is not dx.AUTH_REJECTED:
            # Whether the balancer then resets or holds the connection, the
            # cause is the same: its target fails the health checks.
            return failed(
                f"{connected.where}: connected, but {greeting.evidence}; the load "
                f"balancer reports {unhealthy}",
                "see the target-health check: the health checks cross the VPN",
                dx.TARGET_UNHEALTHY,
            )
        return failed(
            f"{connected.where}: connected, but {greeting.evidence}",
            greeting.hint,
            greeting.diagnosis or dx.NO_ANSWER,
        )
    return passed(
        f"{connected.where}: the server greets as MySQL {greeting} "
        f"(connect {connected.connect_ms:.1f} ms); no login: the configuration names "
        "no credentials for the customer's database"
    )


def _unhealthy_targets(target: Target, planned: PlannedCheck) -> str:
    """The load balancer's targets that are not healthy, in words ("" if none)."""
    gateway = (target.outputs.get(keys.REMOTE_DATABASES) or {}).get(planned.exchange)
    if gateway is None:
        return ""
    descriptions = target.client("elbv2").describe_target_health(
        TargetGroupArn=gateway[keys.NLB_TARGET_GROUP_ARN]
    )["TargetHealthDescriptions"]
    return ", ".join(
        f"{d['Target']['Id']}:{d['Target']['Port']} {d['TargetHealth']['State']}"
        for d in descriptions
        if d.get("TargetHealth", {}).get("State") != "healthy"
    )


def _read_greeting(sock: socket.socket) -> str | Outcome:
    """The server version from a MySQL handshake packet (protocol 10)."""
    sock.settimeout(STEP_TIMEOUT_S)
    data = b""
    try:
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:3], "little"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if len(data) > 65536:
                break
    except TimeoutError:
        return failed(
            f"no greeting within {STEP_TIMEOUT_S:g} s",
            "the load balancer accepts, but its target does not answer: a tunnel, "
            "the customer's firewall or the database itself",
            dx.NO_ANSWER,
        )
    except OSError as error:
        return failed(
            f"the connection broke before the greeting ({error.strerror or error})",
            "the load balancer found no healthy target: see target-health",
            dx.TARGET_UNHEALTHY,
        )
    if len(data) >= 7 and data[4] == 0xFF:
        # An error packet instead of the greeting: the server refuses the
        # client's address (1130) or has too many connections (1040).
        code = int.from_bytes(data[5:7], "little")
        message = data[7:].decode("utf-8", errors="replace").lstrip("#").strip()
        return failed(
            f"the server answers with MySQL error {code} ({message[:120]})",
            "the database must admit the network the load balancer connects from "
            "(the VPC's, as client IP preservation is off)"
            if code == 1130
            else "",
            dx.AUTH_REJECTED if code == 1130 else dx.DATABASE_ERROR,
        )
    if len(data) < 6 or data[4] != 10:
        return failed(
            f"{len(data)} bytes that are no MySQL greeting",
            "another service listens on this port",
            dx.NO_ANSWER,
        )
    return data[5:].split(b"\0", 1)[0].decode("latin1")


def session_failure(
    error: pymysql.MySQLError,
    where: str,
    *,
    greeted: bool,
    logged_in: bool = False,
) -> Outcome:
    """The verdict on a MySQL session that failed after the TCP connection."""
    code = error.args[0] if error.args else None
    message = _message(error)
    log.debug("session on %s failed: %s", where, message)
    original = getattr(error, "original_exception", None)
    if code == 1045:
        return failed(
            f"{where}: access denied for the master user",
            "the password in the RDS-managed secret does not match the server's; "
            "rotate the secret or reset the master password",
            dx.AUTH_REJECTED,
        )
    if "insecure transport" in message.lower() or code == 3159:
        return failed(
            f"{where}: the server requires TLS and the client did not use it",
            "connect with TLS (the exchange says tls: required)",
            dx.TLS_FAILED,
        )
    if isinstance(original, ssl.SSLCertVerificationError):
        return failed(
            f"{where}: the server's certificate is not trusted "
            f"({original.verify_message})",
            "the client must trust the server's CA (the RDS CA bundle on AWS)",
            dx.TLS_FAILED,
        )
    timed_out = _timed_out(error)
    if timed_out and greeted and not logged_in:
        # The greeting is small; the server's certificate flight and the login
        # answers fill full-size packets. Those alone lost: a black hole.
        return failed(
            f"{where}: the server's greeting arrived, then the TLS handshake and "
            f"login stalled for {STEP_TIMEOUT_S:g} s",
            "",
            dx.MTU_BLACK_HOLE,
        )
    if timed_out or code == 2013:
        return failed(
            f"{where}: the server accepted the connection but did not answer "
            f"within {STEP_TIMEOUT_S:g} s",
            "",
            dx.NO_ANSWER,
        )
    if isinstance(original, ssl.SSLError) or "ssl" in message.lower():
        return failed(
            f"{where}: TLS handshake failed ({message})",
            "the client must trust the server's CA (the RDS CA bundle on AWS)",
            dx.TLS_FAILED,
        )
    return failed(
        f"{where}: {message}", "see the server's error log", dx.DATABASE_ERROR
    )


def _remove(session: pymysql.connections.Connection, token: str) -> None:
    """Remove what the probe wrote; a broken session leaves it to the next sweep."""
    if not session.open:
        log.debug("probe row %s… left for the next sweep: session closed", token[:8])
        return
    try:
        with session.cursor() as cursor:
            cursor.execute(f"DELETE FROM `{PROBE_TABLE}` WHERE token = %s", (token,))
        session.commit()
    except pymysql.MySQLError as error:
        log.debug("probe row %s… left for the next sweep: %s", token[:8], error)


def _timed_out(error: pymysql.MySQLError) -> bool:
    original = getattr(error, "original_exception", None)
    return isinstance(original, TimeoutError) or "timed out" in _message(error).lower()


def _greeting(session: pymysql.connections.Connection) -> bool:
    return getattr(session, "server_version", None) is not None


def _message(error: pymysql.MySQLError) -> str:
    return str(error.args[1]) if len(error.args) > 1 else str(error)


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
