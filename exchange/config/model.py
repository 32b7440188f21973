"""The typed exchange configuration that provisioning and checks read.

Built only from a document that passed the schema, so the constructors here
trust shapes and types; the semantic rules run on these objects afterwards.
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

# A path into the document, as the loader indexes positions:
# ("vpn", "tunnels", 0, "insideCidr").
DocPath = tuple[str | int, ...]

# Keys whose values are secrets, or say where one is kept: no message
# echoes what is written under them.
SECRET_KEYS = frozenset({"preSharedKey", "password", "token", "apiKey", "clientSecret"})


def is_secret_path(path: DocPath) -> bool:
    return any(part in SECRET_KEYS for part in path)


class SecretUnavailable(Exception):
    """A secret reference cannot be resolved here.

    Its environment variable is not set, or it names a Secrets Manager
    secret, which only provisioning reads.
    """

    def __init__(self, ref: SecretRef) -> None:
        if ref.secret_name is not None:
            message = (
                f"Secrets Manager secret {ref.secret_name} holds {ref.purpose}; "
                "it is read at provisioning, with AWS credentials, and cannot be "
                "resolved here"
            )
        else:
            message = (
                f"environment variable {ref.env} is not set; export it with the "
                f"value of {ref.purpose}"
            )
        super().__init__(message)
        self.ref = ref


@dataclass(frozen=True)
class Secret:
    """A secret value that never prints itself."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret:
        """The secret itself: a literal needs no environment.

        `environ` is accepted, and ignored, so that a value that is either a
        literal or a `SecretRef` (a tunnel's key) resolves the same way.
        """
        return self

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret(********)"


def generate_pre_shared_key(length: int = 32) -> str:
    """A random key AWS accepts: letters and digits, no leading 0 (VPN-03..05)."""
    alphabet = string.ascii_letters + string.digits
    first = secrets.choice(string.ascii_letters)
    return first + "".join(secrets.choice(alphabet) for _ in range(length - 1))


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret kept outside the file.

    Either an environment variable (`env`) or an AWS Secrets Manager secret
    (`secret_name`); exactly one is set.
    """

    env: str | None = None
    purpose: str = "the secret"
    path: DocPath = ()
    secret_name: str | None = None

    @property
    def where(self) -> str:
        """Where the secret is kept, for messages: never the secret itself."""
        if self.secret_name is not None:
            return f"Secrets Manager secret {self.secret_name}"
        return f"environment variable {self.env}"

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret:
        """The secret from the environment.

        Raises `SecretUnavailable` when the variable is not set, and always
        for a Secrets Manager secret: only provisioning reads those.
        """
        if self.env is None:
            raise SecretUnavailable(self)
        environ = os.environ if environ is None else environ
        value = environ.get(self.env)
        if value is None:
            raise SecretUnavailable(self)
        return Secret(value)

    def is_set(self, environ: Mapping[str, str] | None = None) -> bool:
        """Whether `resolve` would succeed; never for a Secrets Manager secret."""
        if self.env is None:
            return False
        environ = os.environ if environ is None else environ
        return self.env in environ


@dataclass(frozen=True)
class Customer:
    slug: str
    name: str


# The stack puts a private subnet of at least /28 in each of two zones
# (VPC-09), which only a /27 or larger VPC holds.
SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS = 27


@dataclass(frozen=True)
class Vpc:
    cidr: IPv4Network

    def private_subnets(self) -> tuple[IPv4Network, IPv4Network]:
        """The two private subnets, one per availability zone.

        /24s where the VPC is large enough, else a quarter of the VPC, and
        never smaller than /28 (VPC-09): a /27 VPC splits into two /28s.
        Raises ValueError for a VPC smaller than /27, which the VPC-09 rule
        refuses.
        """
        first, second, *_ = self._quarters()
        return first, second

    def public_subnets(self) -> tuple[IPv4Network, IPv4Network]:
        """The two public subnets (for NAT gateways), after the private ones."""
        quarters = self._quarters()
        if len(quarters) < 4:
            raise ValueError(
                f"a /{self.cidr.prefixlen} VPC has no room for two public /28 subnets "
                "beside the private ones; egress needs a /26 or larger VPC (VPC-09)"
            )
        return quarters[2], quarters[3]

    def _quarters(self) -> list[IPv4Network]:
        if self.cidr.prefixlen > SMALLEST_VPC_PREFIX_FOR_TWO_SUBNETS:
            raise ValueError(
                f"a /{self.cidr.prefixlen} VPC has no room for two /28 subnets (VPC-09)"
            )
        prefix = min(28, max(24, self.cidr.prefixlen + 2))
        return list(itertools.islice(self.cidr.subnets(new_prefix=prefix), 4))


@dataclass(frozen=True)
class OnPremises:
    networks: tuple[IPv4Network, ...]
    customer_gateway_ip: IPv4Address
    routing: str  # "static" or "bgp"
    bgp_asn: int | None = None


# AWS's values for tunnel options that the file leaves out (RULES.md).
DEFAULT_PHASE1_LIFETIME_SECONDS = 28800  # VPN-22
DEFAULT_PHASE2_LIFETIME_SECONDS = 3600  # VPN-23
DEFAULT_REKEY_MARGIN_TIME_SECONDS = 270  # VPN-25
DEFAULT_IKE_VERSIONS = ("ikev1", "ikev2")  # VPN-14
DEFAULT_STARTUP_ACTION = "add"  # VPN-31
DEFAULT_AMAZON_SIDE_ASN = 64512  # VGW-01
# What infra gives a customer gateway without onPremises.bgpAsn (CGW-06).
DEFAULT_CUSTOMER_GATEWAY_ASN = 65000


@dataclass(frozen=True)
class Tunnel:
    """One tunnel; an option left as None takes AWS's default."""

    inside_cidr: IPv4Network
    pre_shared_key: SecretRef | Secret
    ike_versions: tuple[str, ...] | None = None
    phase1_encryption_algorithms: tuple[str, ...] | None = None
    phase2_encryption_algorithms: tuple[str, ...] | None = None
    phase1_integrity_algorithms: tuple[str, ...] | None = None
    phase2_integrity_algorithms: tuple[str, ...] | None = None
    phase1_dh_group_numbers: tuple[int, ...] | None = None
    phase2_dh_group_numbers: tuple[int, ...] | None = None
    phase1_lifetime_seconds: int | None = None
    phase2_lifetime_seconds: int | None = None
    rekey_margin_time_seconds: int | None = None
    rekey_fuzz_percentage: int | None = None
    replay_window_size: int | None = None
    dpd_timeout_seconds: int | None = None
    dpd_timeout_action: str | None = None
    startup_action: str | None = None

    @property
    def effective_phase1_lifetime_seconds(self) -> int:
        if self.phase1_lifetime_seconds is None:
            return DEFAULT_PHASE1_LIFETIME_SECONDS
        return self.phase1_lifetime_seconds

    @property
    def effective_phase2_lifetime_seconds(self) -> int:
        if self.phase2_lifetime_seconds is None:
            return DEFAULT_PHASE2_LIFETIME_SECONDS
        return self.phase2_lifetime_seconds

    @property
    def effective_ike_versions(self) -> tuple[str, ...]:
        return self.ike_versions or DEFAULT_IKE_VERSIONS


@dataclass(frozen=True)
class Vpn:
    tunnels: tuple[Tunnel, ...]
    amazon_side_asn: int | None = None


@dataclass(frozen=True)
class Whitelist:
    """What the customer's firewall admits from the platform's egress IPs."""

    ports: tuple[int, ...]
    # Empty until provisioning has given the NAT gateways their addresses.
    egress_ips: tuple[IPv4Network, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class AppDatabase:
    """Option 2: the app's own MySQL database, reached over the VPN."""

    name: str
    engine: str
    engine_version: str
    schema: str
    port: int
    instance_class: str
    storage_gb: int
    tls_required: bool
    client_networks: tuple[IPv4Network, ...]
    path: DocPath = ()
    option: str = "app-database"


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression (UTC), already checked by the schema."""

    expression: str

    @property
    def shortest_gap_seconds(self) -> int:
        """The shortest time between two runs (0 for one that never runs)."""
        return cron_shortest_gap_seconds(self.expression) or 0


# Days on which a cron runs, looked at to find the shortest gap between two
# of them: over two years of a monthly schedule, and a century and more of
# a 29 February one.
SAMPLED_RUN_DAYS = 30
_MINUTES_PER_DAY = 24 * 60


@functools.lru_cache(maxsize=1024)
def cron_shortest_gap_seconds(expression: str) -> int | None:
    """The shortest time between two runs of a valid cron expression.

    None when it never runs ("0 0 30 2 *"). The times of day at which it
    runs are the same on every day it runs, so only the days are sampled
    (SAMPLED_RUN_DAYS of them, from 2025): the gap is the shorter of the
    closest two times in a day and the step from the last time of one day
    to the first of the nearest next day. Cached, as files repeat their
    schedules.
    """
    from croniter import croniter
    from croniter.croniter import CroniterBadDateError

    expanded, _ = croniter.expand(expression)
    minutes = range(60) if expanded[0] == ["*"] else expanded[0]
    hours = range(24) if expanded[1] == ["*"] else expanded[1]
    times = sorted(60 * int(hour) + int(minute) for hour in hours for minute in minutes)
    day_fields = " ".join(expression.split()[2:])
    days = croniter(f"0 0 {day_fields}", datetime(2025, 1, 1, tzinfo=UTC))
    steps: list[int] = []  # days between consecutive run days
    try:
        previous = days.get_next(datetime)
        for _ in range(SAMPLED_RUN_DAYS):
            current = days.get_next(datetime)
            steps.append((current - previous).days)
            if steps[-1] == 1:
                break  # no two run days are closer
            previous = current
    except CroniterBadDateError:
        return None
    shortest = min(steps) * _MINUTES_PER_DAY - (times[-1] - times[0])
    for earlier, later in itertools.pairwise(times):
        shortest = min(shortest, later - earlier)
    return shortest * 60


def cron_never_runs(expression: str) -> bool:
    """Whether a valid cron expression matches no date at all ("0 0 31 4 *")."""
    return cron_shortest_gap_seconds(expression) is None


@dataclass(frozen=True)
class Schedule:
    """When an exchange runs; with none of the three set, only on demand."""

    every_minutes: int | None = None
    daily_at: time | None = None
    cron: Cron | None = None
    path: DocPath = ()

    def shortest_interval_seconds(self) -> int | None:
        """The shortest time between two runs; None when it runs on demand."""
        if self.every_minutes is not None:
            return self.every_minutes * 60
        if self.daily_at is not None:
            return 24 * 60 * 60
        if self.cron is not None:
            return self.cron.shortest_gap_seconds
        return None


@dataclass(frozen=True)
class EavTables:
    """The tables of the entity-attribute-value layout."""

    entity: str = "eav_entity"
    attribute: str = "eav_attribute"
    value: str = "eav_value"


@dataclass(frozen=True)
class Etl:
    schedule: Schedule


@dataclass(frozen=True)
class ScnavigatorDatabase(AppDatabase):
    """Option 1: the packaged app's MySQL database in the EAV layout, over the VPN.

    An AppDatabase, so that everything that provisions or checks app
    databases handles it too.
    """

    tables: EavTables = field(default_factory=EavTables)
    etl: Etl | None = None
    option: str = "scnavigator-database"


@dataclass(frozen=True)
class HealthCheck:
    """The load balancer's TCP health check of an on-premises target (NLB-10..13)."""

    protocol: str = "TCP"
    port: int | None = None  # None: the target's port
    interval_seconds: int = 30
    timeout_seconds: int = 10
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2


@dataclass(frozen=True)
class VpnTarget:
    """A remote database reached through the VPN, behind an internal NLB."""

    address: IPv4Address
    port: int
    health_check: HealthCheck = field(default_factory=HealthCheck)
    idle_timeout_seconds: int = 350  # NLB-18
    via: str = "vpn"


@dataclass(frozen=True)
class WhitelistTarget:
    """A remote database reached over the internet from the egress IPs."""

    host: str
    port: int
    via: str = "whitelist"


@dataclass(frozen=True)
class RemoteDatabase:
    """Option 3: a database the customer runs elsewhere, used by the apps."""

    name: str
    engine: str
    target: VpnTarget | WhitelistTarget
    database: str | None = None
    firewall_allowlist: tuple[IPv4Network, ...] = ()
    pool_max_idle_seconds: int = 300
    path: DocPath = ()
    option: str = "remote-database"

    @property
    def via(self) -> str:
        return self.target.via


@dataclass(frozen=True)
class FileStorage:
    """Option 4: files up to or down from the platform's file storage."""

    name: str
    folder: str
    direction: str  # "upload", "download" or "both"
    formats: tuple[str, ...]
    largest_file_mb: float
    schedule: Schedule
    bucket: str | None = None
    minimum_bandwidth_mbps: float = 10.0
    ticket_lifetime_seconds: int = 900
    path: DocPath = ()
    option: str = "file-storage"

    def longest_transfer_seconds(self) -> float:
        """The largest file at the minimum bandwidth (megabytes are 8 megabits)."""
        return self.largest_file_mb * 8 / self.minimum_bandwidth_mbps


@dataclass(frozen=True)
class NoAuth:
    kind: str = "none"

    def secrets(self) -> tuple[SecretRef | Secret, ...]:
        return ()


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: SecretRef | Secret
    kind: str = "basic"

    def secrets(self) -> tuple[SecretRef | Secret, ...]:
        return (self.password,)


@dataclass(frozen=True)
class BearerAuth:
    token: SecretRef | Secret
    kind: str = "bearer"

    def secrets(self) -> tuple[SecretRef | Secret, ...]:
        return (self.token,)


@dataclass(frozen=True)
class ApiKeyAuth:
    header: str
    api_key: SecretRef | Secret
    kind: str = "api-key"

    def secrets(self) -> tuple[SecretRef | Secret, ...]:
        return (self.api_key,)


@dataclass(frozen=True)
class OAuth2ClientCredentials:
    token_url: str
    client_id: str
    client_secret: SecretRef | Secret
    scopes: tuple[str, ...] = ()
    kind: str = "oauth2-client-credentials"

    def secrets(self) -> tuple[SecretRef | Secret, ...]:
        return (self.client_secret,)


WebServiceAuth = NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials


@dataclass(frozen=True)
class WebService:
    """Option 5: the apps call one of the customer's REST services."""

    name: str
    url: str
    schedule: Schedule
    method: str = "GET"
    auth: WebServiceAuth = field(default_factory=NoAuth)
    content_type: str = "application/json"
    # Inline, as a mapping, or the path of a JSON file relative to the
    # configuration file, as written.
    response_schema: dict[str, Any] | str | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    retries: int = 2
    allow_plain_http: bool = False
    path: DocPath = ()
    option: str = "web-service"

    def longest_call_seconds(self) -> float:
        """Every attempt waiting out both its timeouts."""
        per_attempt = self.connect_timeout_seconds + self.read_timeout_seconds
        return per_attempt * (1 + self.retries)


Exchange = AppDatabase | RemoteDatabase | FileStorage | WebService


@dataclass(frozen=True)
class ExchangeConfig:
    source: Path
    version: int
    customer: Customer
    region: str
    vpc: Vpc
    on_premises: OnPremises
    vpn: Vpn
    exchanges: tuple[Exchange, ...]
    whitelist: Whitelist | None = None

    def secret_refs(self) -> list[SecretRef]:
        keys = [t.pre_shared_key for t in self.vpn.tunnels]
        auth = [s for service in self.web_services() for s in service.auth.secrets()]
        return [secret for secret in keys + auth if isinstance(secret, SecretRef)]

    def app_databases(self) -> list[AppDatabase]:
        """Options 1 and 2: the MySQL databases in the VPC."""
        return [e for e in self.exchanges if isinstance(e, AppDatabase)]

    def scnavigator_databases(self) -> list[ScnavigatorDatabase]:
        return [e for e in self.exchanges if isinstance(e, ScnavigatorDatabase)]

    def remote_databases(self) -> list[RemoteDatabase]:
        return [e for e in self.exchanges if isinstance(e, RemoteDatabase)]

    def file_storages(self) -> list[FileStorage]:
        return [e for e in self.exchanges if isinstance(e, FileStorage)]

    def web_services(self) -> list[WebService]:
        return [e for e in self.exchanges if isinstance(e, WebService)]

    def needs_egress(self) -> bool:
        """Whether the platform calls out to the internet (NAT gateways, NAT-01)."""
        return bool(self.web_services()) or any(
            database.via == "whitelist" for database in self.remote_databases()
        )

    def bucket_name(self, storage: FileStorage) -> str:
        """A file-storage exchange's bucket: its own, or the customer's default.

        The default carries the customer's slug, so that it is unlikely to be
        taken already (S3-08).
        """
        return storage.bucket or f"{self.customer.slug}-exchange-files"

    def database_identifier(self, exchange: AppDatabase) -> str:
        """The RDS instance identifier of an app-database exchange (RDS-01)."""
        return f"{self.customer.slug}-{exchange.name}"


def _secret(value: Any, purpose: str, path: DocPath) -> SecretRef | Secret:
    if isinstance(value, dict):
        return SecretRef(
            env=value.get("env"),
            purpose=purpose,
            path=path,
            secret_name=value.get("secret"),
        )
    return Secret(str(value))


def _given(
    data: dict[str, Any], **fields: tuple[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    """The optional fields that `data` gives, converted, by field name.

    `fields` maps a field to its document key and conversion; a key the
    file leaves out is left out here too, so that the dataclass's default,
    the one source of it in Python, applies (the schema's `default` says
    the same, for people and editors; tests compare the two).
    """
    return {
        name: convert(data[key])
        for name, (key, convert) in fields.items()
        if key in data
    }


def _optional_tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def _tunnel(index: int, data: dict[str, Any]) -> Tunnel:
    return Tunnel(
        inside_cidr=IPv4Network(data["insideCidr"], strict=False),
        pre_shared_key=_secret(
            data["preSharedKey"],
            f"tunnel {index + 1}'s pre-shared key",
            ("vpn", "tunnels", index, "preSharedKey"),
        ),
        ike_versions=_optional_tuple(data.get("ikeVersions")),
        phase1_encryption_algorithms=_optional_tuple(
            data.get("phase1EncryptionAlgorithms")
        ),
        phase2_encryption_algorithms=_optional_tuple(
            data.get("phase2EncryptionAlgorithms")
        ),
        phase1_integrity_algorithms=_optional_tuple(
            data.get("phase1IntegrityAlgorithms")
        ),
        phase2_integrity_algorithms=_optional_tuple(
            data.get("phase2IntegrityAlgorithms")
        ),
        phase1_dh_group_numbers=_optional_tuple(data.get("phase1DhGroupNumbers")),
        phase2_dh_group_numbers=_optional_tuple(data.get("phase2DhGroupNumbers")),
        phase1_lifetime_seconds=data.get("phase1LifetimeSeconds"),
        phase2_lifetime_seconds=data.get("phase2LifetimeSeconds"),
        rekey_margin_time_seconds=data.get("rekeyMarginTimeSeconds"),
        rekey_fuzz_percentage=data.get("rekeyFuzzPercentage"),
        replay_window_size=data.get("replayWindowSize"),
        dpd_timeout_seconds=data.get("dpdTimeoutSeconds"),
        dpd_timeout_action=data.get("dpdTimeoutAction"),
        startup_action=data.get("startupAction"),
    )


def _whitelist(data: dict[str, Any] | None) -> Whitelist | None:
    if data is None:
        return None
    return Whitelist(
        ports=tuple(data["ports"]),
        egress_ips=_networks(data.get("egressIps", [])),
        note=data.get("note"),
    )


def _networks(values: list[str]) -> tuple[IPv4Network, ...]:
    # strict=False: a host address with a prefix is a rule violation (VPC-08),
    # reported by the rules with its position, not an exception here.
    return tuple(IPv4Network(v, strict=False) for v in values)


def _schedule(data: dict[str, Any], path: DocPath) -> Schedule:
    if "everyMinutes" in data:
        return Schedule(every_minutes=int(data["everyMinutes"]), path=path)
    if "dailyAt" in data:
        hours, minutes = data["dailyAt"].split(":")
        return Schedule(daily_at=time(int(hours), int(minutes)), path=path)
    if "cron" in data:
        return Schedule(cron=Cron(data["cron"]), path=path)
    return Schedule(path=path)


def _app_database(item: dict[str, Any], path: DocPath) -> AppDatabase:
    return AppDatabase(**_app_database_fields(item, path))


def _app_database_fields(item: dict[str, Any], path: DocPath) -> dict[str, Any]:
    return {
        "name": item["name"],
        "engine": item.get("engine", "mysql"),
        "engine_version": str(item.get("engineVersion", "8.0")),
        "schema": item["schema"],
        "port": int(item.get("port", 3306)),
        "instance_class": item.get("instanceClass", "db.t3.micro"),
        "storage_gb": int(item.get("storageGb", 20)),
        "tls_required": item.get("tls", "required") == "required",
        "client_networks": _networks(item["clientNetworks"]),
        "path": path,
    }


def _scnavigator_database(item: dict[str, Any], path: DocPath) -> ScnavigatorDatabase:
    etl = item.get("etl")
    return ScnavigatorDatabase(
        **_app_database_fields(item, path),
        tables=EavTables(**item.get("tables", {})),
        etl=None
        if etl is None
        else Etl(_schedule(etl["schedule"], (*path, "etl", "schedule"))),
    )


def _remote_database(item: dict[str, Any], path: DocPath) -> RemoteDatabase:
    target: VpnTarget | WhitelistTarget
    if item["via"] == "vpn":
        check = item.get("healthCheck", {})
        target = VpnTarget(
            address=IPv4Address(item["address"]),
            port=int(item["port"]),
            health_check=HealthCheck(
                **_given(
                    check,
                    protocol=("protocol", str),
                    port=("port", int),
                    interval_seconds=("intervalSeconds", int),
                    timeout_seconds=("timeoutSeconds", int),
                    healthy_threshold=("healthyThreshold", int),
                    unhealthy_threshold=("unhealthyThreshold", int),
                )
            ),
            **_given(item, idle_timeout_seconds=("idleTimeoutSeconds", int)),
        )
    else:
        target = WhitelistTarget(host=item["host"], port=int(item["port"]))
    return RemoteDatabase(
        name=item["name"],
        engine=item["engine"],
        target=target,
        database=item.get("database"),
        firewall_allowlist=_networks(item.get("firewallAllowlist", [])),
        path=path,
        **_given(item, pool_max_idle_seconds=("poolMaxIdleSeconds", int)),
    )


def _file_storage(item: dict[str, Any], path: DocPath) -> FileStorage:
    return FileStorage(
        name=item["name"],
        folder=item["folder"],
        direction=item["direction"],
        formats=tuple(item["formats"]),
        largest_file_mb=float(item["largestFileMb"]),
        schedule=_schedule(item["schedule"], (*path, "schedule")),
        bucket=item.get("bucket"),
        path=path,
        **_given(
            item,
            minimum_bandwidth_mbps=("minimumBandwidthMbps", float),
            ticket_lifetime_seconds=("ticketLifetimeSeconds", int),
        ),
    )


def _web_service_auth(data: dict[str, Any], path: DocPath, name: str) -> WebServiceAuth:
    def secret(key: str, what: str) -> SecretRef | Secret:
        return _secret(data[key], f"the {what} of web service {name}", (*path, key))

    kind = data["type"]
    if kind == "basic":
        return BasicAuth(data["username"], secret("password", "password"))
    if kind == "bearer":
        return BearerAuth(secret("token", "bearer token"))
    if kind == "api-key":
        return ApiKeyAuth(data["header"], secret("apiKey", "API key"))
    if kind == "oauth2-client-credentials":
        return OAuth2ClientCredentials(
            token_url=data["tokenUrl"],
            client_id=data["clientId"],
            client_secret=secret("clientSecret", "OAuth2 client secret"),
            scopes=tuple(data.get("scopes", [])),
        )
    return NoAuth()


def _web_service(item: dict[str, Any], path: DocPath) -> WebService:
    return WebService(
        name=item["name"],
        url=item["url"],
        schedule=_schedule(item["schedule"], (*path, "schedule")),
        auth=_web_service_auth(
            item.get("auth", {"type": "none"}), (*path, "auth"), item["name"]
        ),
        response_schema=item.get("responseSchema"),
        path=path,
        **_given(
            item,
            method=("method", str),
            content_type=("contentType", str),
            connect_timeout_seconds=("connectTimeoutSeconds", float),
            read_timeout_seconds=("readTimeoutSeconds", float),
            retries=("retries", int),
            allow_plain_http=("allowPlainHttp", bool),
        ),
    )


_EXCHANGE_BUILDERS: dict[str, Callable[[dict[str, Any], DocPath], Exchange]] = {
    "scnavigator-database": _scnavigator_database,
    "app-database": _app_database,
    "remote-database": _remote_database,
    "file-storage": _file_storage,
    "web-service": _web_service,
}


def build_config(data: dict[str, Any], source: Path) -> ExchangeConfig:
    """Turn a schema-valid document into the typed model."""
    onprem = data["onPremises"]
    tunnels = tuple(_tunnel(i, t) for i, t in enumerate(data["vpn"]["tunnels"]))
    exchanges = [
        _EXCHANGE_BUILDERS[item["option"]](item, ("exchanges", i))
        for i, item in enumerate(data.get("exchanges", []))
    ]
    return ExchangeConfig(
        source=source,
        version=int(data["version"]),
        customer=Customer(
            slug=data["customer"]["slug"],
            name=data["customer"].get("name", data["customer"]["slug"]),
        ),
        region=data["region"],
        vpc=Vpc(cidr=IPv4Network(data["vpc"]["cidr"], strict=False)),
        on_premises=OnPremises(
            networks=_networks(onprem["networks"]),
            customer_gateway_ip=IPv4Address(onprem["customerGatewayIp"]),
            routing=onprem.get("routing", "static"),
            bgp_asn=onprem.get("bgpAsn"),
        ),
        vpn=Vpn(tunnels=tunnels, amazon_side_asn=data["vpn"].get("amazonSideAsn")),
        exchanges=tuple(exchanges),
        whitelist=_whitelist(data.get("whitelist")),
    )
