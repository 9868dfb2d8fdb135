"""Job settings as the environment gives them."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from pydantic import ValidationError

from gateway.job_settings import JobSettings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("20", timedelta(seconds=20)), ("P7D", timedelta(days=7)), ("PT1H", timedelta(hours=1))],
)
def test_retention_is_seconds_or_iso_8601(raw: str, expected: timedelta) -> None:
    assert JobSettings(GATEWAY_JOB_RETENTION=raw).retention == expected


def test_defaults() -> None:
    settings = JobSettings()
    assert settings.retention == timedelta(days=7)
    assert settings.store == "sqlite"
    assert settings.allowed_ports == frozenset({443})
    assert not settings.webhook_allow_loopback


def test_idempotency_keys_are_kept_at_least_a_day() -> None:
    with pytest.raises(ValidationError, match="24 h"):
        JobSettings(GATEWAY_IDEMPOTENCY_TTL="3600")


def test_extra_callback_ports() -> None:
    assert JobSettings(GATEWAY_WEBHOOK_PORTS="8443, 9443").allowed_ports == {443, 8443, 9443}


def test_a_postgresql_store_needs_the_kek_every_replica_shares() -> None:
    url = "postgresql://gateway@db.example.internal/gateway"
    with pytest.raises(ValidationError, match="GATEWAY_JOB_KEK must be set"):
        JobSettings(GATEWAY_JOB_STORE=url)
    kek = base64.b64encode(bytes(32)).decode()
    assert JobSettings(GATEWAY_JOB_STORE=url, GATEWAY_JOB_KEK=kek).uses_shared_store
    assert not JobSettings().uses_shared_store  # SQLite may generate its own
