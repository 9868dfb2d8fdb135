"""Stage timing: how long each named stage of one request took.

Every stage is observed into ``gateway_stage_seconds{stage=...}`` and reported in the
response's ``timings_ms``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import metrics


@dataclass
class StageTimer:
    """Milliseconds per stage for one request, also observed into the stage histogram."""

    ms: dict[str, float] = field(default_factory=dict)
    #: When the request began (``time.perf_counter()``): ``total`` is counted from it.
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        """Milliseconds since the request began."""
        return (time.perf_counter() - self.started) * 1000.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of the ``with`` block as stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to stage ``name`` (a stage timed in several pieces adds up)."""
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0
        metrics.STAGE_SECONDS.labels(stage=name).observe(seconds)
