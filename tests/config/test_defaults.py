"""The model's defaults are the ones the schema documents."""

from __future__ import annotations

import dataclasses

import pytest

from exchange.config.model import (
    FileStorage,
    HealthCheck,
    RemoteDatabase,
    VpnTarget,
    WebService,
)
from exchange.config.schema import schema_registry

BASE = "https://schemas.exchange-proof.dev/"


def schema_default(schema_file: str, *pointer: str) -> object:
    node = schema_registry().contents(BASE + schema_file)
    for key in pointer:
        node = node[key]
    return node["default"]


def field_default(cls: type, name: str) -> object:
    [field] = [f for f in dataclasses.fields(cls) if f.name == name]
    return field.default


@pytest.mark.parametrize(
    ("cls", "name", "schema_file", "pointer"),
    [
        (
            HealthCheck,
            "protocol",
            "remote-database.schema.json",
            ("$defs", "healthCheck", "properties", "protocol"),
        ),
        (
            HealthCheck,
            "interval_seconds",
            "remote-database.schema.json",
            ("$defs", "healthCheck", "properties", "intervalSeconds"),
        ),
        (
            HealthCheck,
            "timeout_seconds",
            "remote-database.schema.json",
            ("$defs", "healthCheck", "properties", "timeoutSeconds"),
        ),
        (
            HealthCheck,
            "healthy_threshold",
            "remote-database.schema.json",
            ("$defs", "healthCheck", "properties", "healthyThreshold"),
        ),
        (
            HealthCheck,
            "unhealthy_threshold",
            "remote-database.schema.json",
            ("$defs", "healthCheck", "properties", "unhealthyThreshold"),
        ),
        (
            VpnTarget,
            "idle_timeout_seconds",
            "remote-database.schema.json",
            ("$defs", "viaVpn", "properties", "idleTimeoutSeconds"),
        ),
        (
            RemoteDatabase,
            "pool_max_idle_seconds",
            "remote-database.schema.json",
            ("$defs", "poolMaxIdleSeconds"),
        ),
        (
            FileStorage,
            "minimum_bandwidth_mbps",
            "file-storage.schema.json",
            ("properties", "minimumBandwidthMbps"),
        ),
        (
            FileStorage,
            "ticket_lifetime_seconds",
            "file-storage.schema.json",
            ("properties", "ticketLifetimeSeconds"),
        ),
        (WebService, "method", "web-service.schema.json", ("properties", "method")),
        (
            WebService,
            "content_type",
            "web-service.schema.json",
            ("properties", "contentType"),
        ),
        (
            WebService,
            "connect_timeout_seconds",
            "web-service.schema.json",
            ("properties", "connectTimeoutSeconds"),
        ),
        (
            WebService,
            "read_timeout_seconds",
            "web-service.schema.json",
            ("properties", "readTimeoutSeconds"),
        ),
        (WebService, "retries", "web-service.schema.json", ("properties", "retries")),
        (
            WebService,
            "allow_plain_http",
            "web-service.schema.json",
            ("properties", "allowPlainHttp"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_model_default_matches_the_schema(cls, name, schema_file, pointer):
    assert field_default(cls, name) == schema_default(schema_file, *pointer)
