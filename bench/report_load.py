"""The report's sections on the service under load: throughput and peak memory."""

from __future__ import annotations

from .markdown import ms as _ms
from .markdown import table as _table
from .measurements import BenchResults, median, percentile

__all__ = ["memory", "throughput"]


def throughput(results: BenchResults) -> list[str]:
    """Throughput of the load clip at each concurrency, beside the naive pipeline."""
    out: list[str] = []
    out += ["", f"## Throughput, {results.load_clip} clip", ""]
    out += [
        "Clients send the clip without pause, one connection each. *CPU ms per video*: "
        "gateway, Serving and client together, so 2 cores can finish at most "
        "120,000 / that many videos a minute. *CPU used by other programs*: the share of "
        "the machine's cores that programs outside the bench used meanwhile.",
        "",
    ]
    rows = []
    for run in results.load:
        lat = [r.latency_ms for r in run.ok]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(run.non_200.items())) or "0"
        rows.append(
            [
                f"service, concurrency {run.concurrency}",
                str(len(run.results)),
                errors,
                f"{run.wall_s:.1f}",
                f"{run.videos_per_min:.1f}",
                f"{run.frames_per_s:.0f}",
                _ms(percentile(lat, 50)),
                _ms(percentile(lat, 95)),
                _ms(run.cpu_ms_per_video),
                f"{run.others_share * 100:.0f}%",
            ]
        )
    load_clip = next((c for c in results.clips if c.clip.name == results.load_clip), None)
    if load_clip is not None and load_clip.naive:
        naive_s = load_clip.naive_ms / 1000.0
        rows.append(
            [
                "naive, one video at a time",
                str(len(load_clip.naive)),
                "0",
                "",
                f"{60.0 / naive_s:.1f}",
                f"{load_clip.naive[0].frames_classified / naive_s:.0f}",
                _ms(load_clip.naive_ms),
                "",
                _ms(median([r.cpu_ms for r in load_clip.naive])),
                "",
            ]
        )
    out += _table(
        [
            "pipeline",
            "requests",
            "non-200",
            "wall s",
            "videos/min",
            "frames/s",
            "latency p50",
            "latency p95",
            "CPU ms per video",
            "CPU used by other programs",
        ],
        rows,
    )
    return out


def memory(results: BenchResults) -> list[str]:
    """Peak memory of the service's processes."""
    out: list[str] = []
    out += ["", "## Peak memory (RSS, MiB)", ""]
    out += _table(
        ["process", "after start", "peak while measured (sampled)", "VmHWM (lifetime peak)"],
        [
            [name, f"{m.after_start:.0f}", f"{m.peak_sampled:.0f}", f"{m.vm_hwm:.0f}"]
            for name, m in results.memory.items()
        ],
    )
    return out
