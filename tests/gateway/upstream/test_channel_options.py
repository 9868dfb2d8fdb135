"""The gRPC arguments of the gateway's channels to Serving come from its settings."""

from __future__ import annotations

import asyncio

import pytest

from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient


def _channel_options(**env: str) -> dict[str, object]:
    async def build() -> dict[str, object]:
        client = ServingClient.from_settings(Settings(**env))
        try:
            return dict(client.channel_options)
        finally:
            await client.close()

    return asyncio.run(build())


def test_dns_targets_are_resolved_again_at_most_every_30_s_by_default() -> None:
    options = _channel_options(SERVING_TARGET="dns:///serving.example:8500")
    assert options["grpc.dns_min_time_between_resolutions_ms"] == 30_000


def test_the_dns_resolution_interval_is_a_setting() -> None:
    options = _channel_options(
        SERVING_TARGET="dns:///serving.example:8500", SERVING_DNS_MIN_INTERVAL_S="2.5"
    )
    assert options["grpc.dns_min_time_between_resolutions_ms"] == 2_500


def test_the_dns_resolution_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="SERVING_DNS_MIN_INTERVAL_S"):
        Settings(SERVING_DNS_MIN_INTERVAL_S="0")
