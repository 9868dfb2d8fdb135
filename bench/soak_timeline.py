"""What the soak samples every few seconds, and the growth rates it reads from them.

A slope is a least-squares line through the samples after the warm-up (the first ten
minutes of an hour's soak, a sixth of a shorter one): caches, pools and the allocator's
arenas fill during the warm-up, and what still grows after it is what would grow for good.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.soak_stack import ProcessStats

#: The longest warm-up left out of the slopes.
WARMUP_S = 600.0


@dataclass(frozen=True)
class Sample:
    """One moment of the soak (``t``: seconds into the load)."""

    t: float
    gateway: ProcessStats | None
    serving: ProcessStats | None
    #: Bytes of the job store (``None`` while it restarts).
    job_store_bytes: int | None
    #: Files under the gateway's ``uploads`` and ``jobs/media`` folders.
    upload_files: int
    job_media_files: int


def warmup_s(seconds: float) -> float:
    """The part of a soak of ``seconds`` that the slopes leave out."""
    return min(WARMUP_S, seconds / 6.0)


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of ``(seconds, value)`` points, per hour; ``None`` with
    fewer than three points or all at one moment."""
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points])
    v = np.array([p[1] for p in points])
    if np.ptp(t) == 0:
        return None
    return float(np.polyfit(t, v, 1)[0] * 3600.0)


@dataclass(frozen=True)
class Growth:
    """Per-hour slopes after the warm-up, and the range seen there."""

    name: str
    unit: str
    per_hour: float | None
    low: float
    high: float
    samples: int


def growth(samples: list[Sample], seconds: float, since_s: float = 0.0) -> list[Growth]:
    """The slopes of the gateway's RSS, threads and fds, Serving's RSS (after its last
    restart), the job store and the two folders, over samples after the warm-up and
    after ``since_s``."""
    start = max(warmup_s(seconds), 0.0)
    after = [s for s in samples if s.t >= start]
    serving_after = [s for s in after if s.t >= since_s]
    series: list[tuple[str, str, list[tuple[float, float]]]] = [
        ("gateway RSS", "MiB", [(s.t, s.gateway.rss_mib) for s in after if s.gateway]),
        ("gateway threads", "", [(s.t, s.gateway.threads) for s in after if s.gateway]),
        ("gateway open fds", "", [(s.t, s.gateway.fds) for s in after if s.gateway]),
        (
            "Serving RSS (since its restart)",
            "MiB",
            [(s.t, s.serving.rss_mib) for s in serving_after if s.serving],
        ),
        (
            "job store",
            "MiB",
            [(s.t, s.job_store_bytes / 2**20) for s in after if s.job_store_bytes is not None],
        ),
        ("upload files", "", [(s.t, s.upload_files) for s in after]),
        ("job media files", "", [(s.t, s.job_media_files) for s in after]),
    ]
    found = []
    for name, unit, points in series:
        values = [v for _, v in points] or [float("nan")]
        found.append(
            Growth(name, unit, slope_per_hour(points), min(values), max(values), len(points))
        )
    return found
