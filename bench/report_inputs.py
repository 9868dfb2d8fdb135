"""The report's section on the other inputs (a still image, live streams) and its summary lines."""

from __future__ import annotations

import math

from .inputs import InputsResults
from .live import TARGET_P95_MS
from .markdown import ms as _ms
from .markdown import table as _table

__all__ = ["section", "summary_lines"]

#: The image's time is meant to be under this share of a 10-s clip's.
TARGET_IMAGE_SHARE = 1 / 5


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def section(results: InputsResults) -> list[str]:
    """Image against clip, one live session, and the ramp of live sessions."""
    out: list[str] = ["", "## A still image and live streams", ""]
    out += [
        f"On {results.version}, one gateway and Serving, in the same run. Requests over "
        "HTTPS as for the clips above; live sessions with the SDK's `AsyncClient.live()` "
        "on `/v1/live`, JPEG frames sent only against the gateway's credit (docs/live.md), "
        "from this process on the same machine as the service.",
    ]
    out += _image(results)
    out += _live(results)
    out += _ramp(results)
    if results.notes:
        out += ["", *(f"- {note}" for note in results.notes)]
    return out


def _image(results: InputsResults) -> list[str]:
    image = results.image
    if image is None:
        return []
    w, h = image.image_size
    out = [
        "",
        f"### Still image against the {image.clip_seconds:.0f}-s {image.clip_name} clip",
        "",
        f"`POST /v1/detect` of a {w}x{h} JPEG of a face ({image.image_bytes / 1024:.0f} KiB, "
        "the clip's middle frame) and of the clip, alternating; medians over n requests "
        f"each{f', {image.failed} not answered 200' if image.failed else ''}.",
        "",
    ]
    out += _table(
        ["input", "median (ms)", "n"],
        [
            ["image", _ms(image.image_ms), str(len(image.image))],
            [f"{image.clip_name} clip", _ms(image.clip_ms), str(len(image.clip))],
            ["image / clip", _share(image.ratio), ""],
        ],
    )
    return out


def _live(results: InputsResults) -> list[str]:
    run = results.live
    if run is None:
        return []
    out = [
        "",
        "### One live stream at 5 frames/s",
        "",
        f"{run.seconds:.0f} s; frames sent {run.frames_sent}, not sent for lack of credit "
        f"{run.frames_unsent}; the gateway saw {run.frames_seen}, scored {run.frames_scored}, "
        f"dropped {run.frames_dropped}"
        + (f"; the session failed: {run.error}" if run.error else "")
        + ". Frame-to-score latency as the gateway reports it (frame received to its score "
        f"known): p50 / p95 / max over the {len(run.latencies_ms)} verdicts that reported new "
        "frames (each one's `latency_ms.last`), and the gateway's own p95 over every frame "
        "(the summary's `latency_ms.p95`).",
        "",
    ]
    out += _table(
        ["p50 (ms)", "p95 (ms)", "max (ms)", "gateway p95, all frames (ms)"],
        [
            [
                _ms(run.latency_ms(50)),
                _ms(run.latency_ms(95)),
                _ms(run.max_latency_ms),
                _ms(run.server_p95_ms),
            ]
        ],
    )
    return out


def _ramp(results: InputsResults) -> list[str]:
    ramp = results.ramp
    if ramp is None:
        return []
    seconds = results.plan.ramp_s if results.plan else float("nan")
    out = [
        "",
        f"### Live streams at once, each at {ramp.fps:.0f} frames/s",
        "",
        f"Steps of {seconds:.0f} s; a step holds while no frame is dropped, no session "
        f"fails, the worst session's p95 stays under {TARGET_P95_MS:.0f} ms and every "
        f"session's client keeps {ramp.fps:.0f} frames/s (all clients share one event loop "
        "in the bench's process). "
        f"**{ramp.held}** held; stopped by {ramp.stopped_by}.",
        "",
    ]
    out += _table(
        [
            "sessions",
            "frames scored",
            "dropped",
            "worst p95 (ms)",
            "slowest pace (frames/s)",
            "failed",
        ],
        [
            [
                str(step.sessions),
                str(step.scored),
                str(step.dropped),
                _ms(step.p95_ms),
                "n/a" if math.isnan(step.slowest_fps) else f"{step.slowest_fps:.2f}",
                ", ".join(step.failed) or "0",
            ]
            for step in ramp.steps
        ],
    )
    return out


def summary_lines(results: InputsResults | None) -> list[str]:
    """The image, live latency and live streams ratio lines (n/a where not measured)."""
    image = results.image if results else None
    run = results.live if results else None
    ramp = results.ramp if results else None
    share = "n/a" if image is None else _share(image.ratio)
    p95 = float("nan") if run is None else run.server_p95_ms
    if run is not None and math.isnan(p95):
        p95 = run.latency_ms(95)
    return [
        f"image answered in {share} of a 10-s clip's time "
        f"(target < 1/{round(1 / TARGET_IMAGE_SHARE)})",
        f"live frame-to-score p95 {_ms(p95)} ms at 5 fps (target < {TARGET_P95_MS:.0f} ms)",
        f"live streams one gateway holds at 5 fps: {'n/a' if ramp is None else ramp.held}",
    ]
