"""The report's sections on the clips, the frames decoded and classified, and the scores."""

from __future__ import annotations

from .markdown import ms as _ms
from .markdown import table as _table
from .measurements import BenchResults, median

__all__ = ["clips", "decoding", "frames", "scores", "size_drift"]


def clips(results: BenchResults) -> list[str]:
    """The clips measured: size, length, bitrate and where they come from."""
    out: list[str] = []
    out += ["## Clips", ""]
    out += _table(
        ["clip", "size (WxH)", "frames", "duration s", "bitrate Mb/s", "source"],
        [
            [
                c.clip.name,
                f"{c.clip.width}x{c.clip.height}",
                str(c.clip.frames),
                f"{c.clip.duration_s:.1f}",
                f"{c.clip.bitrate_mbps:.2f}",
                "synthetic (bench/clips.py)" if c.clip.synthetic else "../shared/data",
            ]
            for c in results.clips
        ],
    )
    return out


def frames(results: BenchResults) -> list[str]:
    """How many frames each pipeline decodes and classifies."""
    out: list[str] = []
    out += ["", "## Frames", ""]
    out += _table(
        [
            "clip",
            "naive: decoded and classified",
            "service: sampled and classified",
            "service: H.264 frames its decoder decodes",
        ],
        [
            [
                c.clip.name,
                str(c.naive[0].frames_classified) if c.naive else "n/a",
                str(c.ok[0].frames) if c.ok else "n/a",
                str(c.gateway_decoded) if c.gateway_decoded >= 0 else "n/a",
            ]
            for c in results.clips
        ],
    )
    return out


def decoding(results: BenchResults) -> list[str]:
    """Decoding the sampled frames: OpenCV against PyAV, and PyAV tuned."""
    out: list[str] = []
    out += ["", "## Decoding the 32 sampled frames: OpenCV vs PyAV, and PyAV tuned (ms)", ""]
    out += [
        "Wall-clock time (median and best of the runs) and CPU time, ms. Frames out are RGB "
        "at the gateway's size. *same frames* compares the picked timestamps with the "
        "gateway's decoder's. *speed* is the gateway's best wall time over the variant's "
        "(above 1 = faster); *CPU saving* the same ratio for CPU time (above 1 = less work). "
        "Threads only shorten the wall time when a core is idle.",
        "",
    ]
    rows = []
    for c in results.clips:
        base = next((d for d in c.decode if d.variant == "pyav (gateway)"), None)
        for d in c.decode:
            same = "-" if d.same_frames is None else ("yes" if d.same_frames else "NO")
            rows.append(
                [
                    c.clip.name,
                    d.variant,
                    _ms(median(d.runs_ms)),
                    _ms(min(d.runs_ms)),
                    _ms(median(d.cpu_ms)),
                    str(d.decoded) if d.decoded >= 0 else "n/a",
                    str(d.frames_out),
                    same,
                    f"{min(base.runs_ms) / min(d.runs_ms):.2f}x" if base else "n/a",
                    f"{median(base.cpu_ms) / median(d.cpu_ms):.2f}x" if base else "n/a",
                ]
            )
    out += _table(
        [
            "clip",
            "decoder",
            "wall median",
            "wall best",
            "CPU median",
            "H.264 frames decoded",
            "frames out",
            "same frames",
            "speed vs gateway (best wall)",
            "CPU saving vs gateway",
        ],
        rows,
    )
    return out


def scores(results: BenchResults) -> list[str]:
    """The scores each pipeline gave, and which versions answered."""
    out: list[str] = []
    out += ["", "## Scores", ""]
    out += _table(
        ["clip", "naive (mean of all frames)", "reference", "service", "versions that answered"],
        [
            [
                c.clip.name,
                f"{c.naive[0].score:.4f}" if c.naive else "n/a",
                f"{c.reference[0].score:.4f}" if c.reference else "n/a",
                f"{c.ok[0].body['score']:.4f}" if c.ok else "n/a",
                ", ".join(sorted({str(r.body["model"]["version"]) for r in c.ok})) or "n/a",
            ]
            for c in results.clips
        ],
    )
    return out


def size_drift(results: BenchResults) -> list[str]:
    """Scores by the size frames are sent at (clips where it was measured)."""
    out: list[str] = []
    drifts = [(c.clip.name, c.drift) for c in results.clips if c.drift is not None]
    if not drifts:
        return []
    out += ["", "## Scores by the size frames are sent at", ""]
    out += [
        "The 32 sampled frames classified in process at full size, at the gateway's cap, "
        "and at the size the version asks for in `model_info` (what the service sends). "
        "*frame MAE*: mean absolute difference of the per-frame fake probability from "
        "full size; *video Δ*: difference of the aggregated video score.",
        "",
    ]
    rows = []
    for name, drift in drifts:
        for variant, size in drift.sizes.items():
            rows.append(
                [
                    name,
                    variant,
                    f"{size[0]}x{size[1]}",
                    f"{drift.frame_mae[variant]:.4f}",
                    f"{drift.video_delta[variant]:.4f}",
                ]
            )
    out += _table(["clip", "frames", "size", "frame MAE", "video Δ"], rows)
    return out
