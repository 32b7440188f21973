"""The typed exchange configuration that provisioning and checks read.

Built only from a document that passed the schema, so the constructors here
trust shapes and types; the semantic rules run on these objects afterwards.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

# A path into the document, as the loader indexes positions:
# ("vpn", "tunnels", 0, "insideCidr").
DocPath = tuple[str | int, ...]


class SecretUnavailable(Exception):
    """A secret reference cannot be resolved (its variable is not set)."""

    def __init__(self, ref: SecretRef) -> None:
        super().__init__(
            f"environment variable {ref.env} is not set; export it with the "
            f"value of {ref.purpose}"
        )
        self.ref = ref


@dataclass(frozen=True)
class Secret:
    """A secret value that never prints itself."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def resolve(self, environ: dict[str, str] | None = None) -> Secret:
        """A literal secret resolves to itself (same interface as SecretRef)."""
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
    """A reference to a secret kept outside the file (an environment variable)."""

    env: str
    purpose: str = "the secret"
    path: DocPath = ()

    def resolve(
        self, environ: os._Environ[str] | dict[str, str] | None = None
    ) -> Secret:
        environ = os.environ if environ is None else environ
        value = environ.get(self.env)
        if value is None:
            raise SecretUnavailable(self)
        return Secret(value)

    def is_set(self, environ: dict[str, str] | None = None) -> bool:
        environ = os.environ if environ is None else environ
        return self.env in environ


@dataclass(frozen=True)
class Customer:
    slug: str
    name: str


@dataclass(frozen=True)
class Vpc:
    cidr: IPv4Network

    def private_subnets(self) -> tuple[IPv4Network, IPv4Network]:
        """The two private subnets, one per availability zone.

        /24s where the VPC is large enough, else a quarter of the VPC, and
        never smaller than /28 (VPC-09): a /27 VPC splits into two /28s.
        """
        prefix = min(28, max(24, self.cidr.prefixlen + 2))
        first, second, *_ = self.cidr.subnets(new_prefix=prefix)
        return first, second


@dataclass(frozen=True)
class OnPremises:
    networks: tuple[IPv4Network, ...]
    customer_gateway_ip: IPv4Address
    routing: str  # "static" or "bgp"
    bgp_asn: int | None = None


@dataclass(frozen=True)
class Tunnel:
    inside_cidr: IPv4Network
    pre_shared_key: SecretRef | Secret


@dataclass(frozen=True)
class Vpn:
    tunnels: tuple[Tunnel, ...]


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


# The union of the exchange kinds; only option 2 exists so far.
Exchange = AppDatabase


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

    def secret_refs(self) -> list[SecretRef]:
        return [
            t.pre_shared_key
            for t in self.vpn.tunnels
            if isinstance(t.pre_shared_key, SecretRef)
        ]

    def app_databases(self) -> list[AppDatabase]:
        return [e for e in self.exchanges if isinstance(e, AppDatabase)]

    def database_identifier(self, exchange: AppDatabase) -> str:
        """The RDS instance identifier of an app-database exchange (RDS-01)."""
        return f"{self.customer.slug}-{exchange.name}"


def _secret(value: Any, purpose: str, path: DocPath) -> SecretRef | Secret:
    if isinstance(value, dict):
        return SecretRef(env=value["env"], purpose=purpose, path=path)
    return Secret(str(value))


def _networks(values: list[str]) -> tuple[IPv4Network, ...]:
    # strict=False: a host address with a prefix is a rule violation (VPC-08),
    # reported by the rules with its position, not an exception here.
    return tuple(IPv4Network(v, strict=False) for v in values)


def build_config(data: dict[str, Any], source: Path) -> ExchangeConfig:
    """Turn a schema-valid document into the typed model."""
    onprem = data["onPremises"]
    tunnels = tuple(
        Tunnel(
            inside_cidr=IPv4Network(t["insideCidr"], strict=False),
            pre_shared_key=_secret(
                t["preSharedKey"],
                f"tunnel {i + 1}'s pre-shared key",
                ("vpn", "tunnels", i, "preSharedKey"),
            ),
        )
        for i, t in enumerate(data["vpn"]["tunnels"])
    )
    exchanges = []
    for i, item in enumerate(data.get("exchanges", [])):
        if item["option"] == "app-database":
            exchanges.append(
                AppDatabase(
                    name=item["name"],
                    engine=item.get("engine", "mysql"),
                    engine_version=str(item.get("engineVersion", "8.0")),
                    schema=item["schema"],
                    port=int(item.get("port", 3306)),
                    instance_class=item.get("instanceClass", "db.t3.micro"),
                    storage_gb=int(item.get("storageGb", 20)),
                    tls_required=item.get("tls", "required") == "required",
                    client_networks=_networks(item["clientNetworks"]),
                    path=("exchanges", i),
                )
            )
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
        vpn=Vpn(tunnels=tunnels),
        exchanges=tuple(exchanges),
    )
