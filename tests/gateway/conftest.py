"""Gateways started with their own settings, in front of the shared or their own Serving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import GatewayHandle, start_gateway


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., GatewayHandle]]:
    """``gateway_factory(serving_target, **env)`` starts a gateway, stopped after the test."""
    started: list[GatewayHandle] = []

    def start(
        serving_target: str, client_cert: tuple[Path, Path] | None = None, **env: str
    ) -> GatewayHandle:
        handle = start_gateway(tmp_path / f"gw{len(started)}", serving_target, env, client_cert)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.process.stop()
