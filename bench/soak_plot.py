"""The soak's plot: RSS of both processes and the latency of valid uploads over time,
with the hot swaps and restarts marked."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.soak_result import SoakResult

#: Width of the latency bins, seconds.
BIN_S = 30.0


def _latency_bins(result: SoakResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin centres (minutes) and the p50 and p95 latency (ms) of the valid 200s in each."""
    from bench.soak_mix import VALID_KINDS

    done = [
        (o.start_s - result.t0 + o.latency_ms / 1000.0, o.latency_ms)
        for o in result.outcomes
        if o.kind in VALID_KINDS and o.status == 200
    ]
    if not done:
        return np.array([]), np.array([]), np.array([])
    t = np.array([d[0] for d in done])
    ms = np.array([d[1] for d in done])
    edges = np.arange(0.0, max(float(t.max()), BIN_S) + BIN_S, BIN_S)
    centres, p50, p95 = [], [], []
    for lo, hi in itertools.pairwise(edges):
        inside = ms[(t >= lo) & (t < hi)]
        if inside.size:
            centres.append((lo + hi) / 2 / 60.0)
            p50.append(np.percentile(inside, 50))
            p95.append(np.percentile(inside, 95))
    return np.array(centres), np.array(p50), np.array(p95)


def plot(result: SoakResult, path: Path) -> Path:
    """Write the PNG to ``path`` (through a temporary file and a rename); return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rss_ax, lat_ax) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name in ("gateway", "serving"):
        points = [
            (s.t / 60.0, getattr(s, name).rss_mib) for s in result.samples if getattr(s, name)
        ]
        if points:
            rss_ax.plot([p[0] for p in points], [p[1] for p in points], label=f"{name} RSS")
    rss_ax.set_ylabel("RSS (MiB)")
    rss_ax.axvspan(0, result.warmup_s / 60.0, color="0.9", label="warm-up (not in the slopes)")
    centres, p50, p95 = _latency_bins(result)
    lat_ax.plot(centres, p50, label="p50")
    lat_ax.plot(centres, p95, label="p95")
    lat_ax.set_ylabel(f"valid uploads' latency (ms, {BIN_S:.0f} s bins)")
    lat_ax.set_xlabel("minutes into the load")
    styles = {"hot swap": ("tab:green", ":"), "Serving restart": ("tab:red", "--")}
    styles["PostgreSQL restart"] = ("tab:purple", "-.")
    seen: set[str] = set()
    for at_s, what in result.events:
        kind = next((k for k in styles if what.startswith(k)), None)
        if kind is None:
            continue
        color, style = styles[kind]
        for ax in (rss_ax, lat_ax):
            ax.axvline(
                at_s / 60.0,
                color=color,
                linestyle=style,
                label=kind if ax is rss_ax and kind not in seen else None,
            )
        seen.add(kind)
    rss_ax.legend(loc="upper left", fontsize="small")
    lat_ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(f"soak: {result.wall_s / 60.0:.0f} min, {result.clients} upload clients")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.rename(path)
    return path
