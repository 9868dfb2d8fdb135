"""Fixtures of the jobs tests: an HTTPS webhook receiver (PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.jobs.webhook_receiver import Receiver, start_receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """One webhook receiver for a test module; tests clear it with ``reset()``."""
    rec, server = start_receiver(tmp_path_factory.mktemp("receiver"))
    yield rec
    server.shutdown()
    server.server_close()
