"""Per-key quotas: a request rate (token bucket) and a cap on concurrent requests.

State is in memory, so the quotas hold per gateway replica: N replicas behind a load
balancer let a key through at up to N times the configured figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import metrics
from ..errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class KeyQuotas:
    """Quotas for every API key, by key id (keys are known, so the tables stay small)."""

    def __init__(self, per_minute: int, max_in_flight: int) -> None:
        """``per_minute`` 0 turns the rate limit off; the burst is one minute's worth."""
        self.per_minute = per_minute
        self.max_in_flight = max_in_flight
        self._buckets: dict[str, _Bucket] = {}
        self._in_flight: dict[str, int] = {}

    def _take_token(self, key_id: str) -> None:
        if self.per_minute == 0:
            return
        now = time.monotonic()
        rate = self.per_minute / 60.0
        bucket = self._buckets.setdefault(key_id, _Bucket(float(self.per_minute), now))
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            metrics.RATE_LIMITED.labels(quota="rate").inc()
            raise RateLimited(
                f"over {self.per_minute} requests per minute for this API key",
                retry_after_s=max(1, math.ceil((1 - bucket.tokens) / rate)),
            )
        bucket.tokens -= 1

    @contextmanager
    def hold(self, key_id: str) -> Iterator[None]:
        """Count one request of ``key_id`` for the block, or raise :class:`RateLimited`."""
        if self._in_flight.get(key_id, 0) >= self.max_in_flight:
            metrics.RATE_LIMITED.labels(quota="concurrency").inc()
            raise RateLimited(
                f"over {self.max_in_flight} requests in progress for this API key",
                retry_after_s=1,
            )
        self._take_token(key_id)
        self._in_flight[key_id] = self._in_flight.get(key_id, 0) + 1
        try:
            yield
        finally:
            self._in_flight[key_id] -= 1
