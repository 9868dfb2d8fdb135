"""Ways to decode the uniformly sampled frames of a clip, timed side by side.

* ``opencv``: ``cv2.VideoCapture``, ``grab()`` every frame and ``retrieve()`` only the
  sampled ones (the DFDC winners' loop), then RGB and a downscale to the contract's size.
* ``pyav (gateway)``: the gateway's own ``gateway.pipeline.video.iter_frames``, as it is.
* ``pyav`` variants with the gateway's sampling rule, to measure changes to the
  gateway's decoder before anyone makes them:

  - *no skip*: every frame decoded (the gateway before it learnt to skip);
  - *skip per packet*: ``codec_context.skip_frame = "NONREF"`` for every packet whose
    own timestamp is not next to a sample time.  A non-reference frame (most
    B-frames) is never needed to decode another frame, so the decoder may drop it
    unseen.  The gateway decides from the last frame it got out of the decoder
    instead, which lags the packets going in by the decoder's reordering delay;
  - *threads*: ``stream.thread_type = "AUTO"`` (frame and slice threads); otherwise
    H.264 decodes on one thread, since x264 writes one slice per frame.

Every variant picks with :class:`contract.frames.Picker` (the keyframe rule included)
and sizes with :func:`contract.frames.scaled_size`; the PyAV ones convert with
:func:`contract.frames.to_rgb`. Each returns the timestamps it picked, so the bench can
check that each one samples the same frames as the gateway.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2

from contract.frames import Picker, scaled_size, to_rgb
from gateway.pipeline.probe import VideoInfo, probe
from gateway.pipeline.video import DecodeStats, iter_frames, sample_times_of

from .settings import GatewayDefaults

#: How the gateway sizes frames: (max_side, min_side), as :func:`scaled_size` takes them.
Sizing = tuple[int, int]


@dataclass(frozen=True)
class Sampled:
    """What one decode of the sample produced."""

    times: list[float]  # seconds, in sample order
    decoded: int  # frames the decoder produced (-1 when the variant cannot tell)
    shape: tuple[int, ...]


def gateway_decode(path: Path, info: VideoInfo, times: list[float], sizing: Sizing) -> Sampled:
    """The gateway's decoder, unchanged."""
    picked, shape = [], ()
    for frame in iter_frames(path, info, times, max_side=sizing[0], min_side=sizing[1]):
        picked.append(frame.t_s)
        shape = frame.image.shape
    return Sampled(picked, -1, shape)


def gateway_decoded_frames(path: Path, info: VideoInfo, times: list[float], sizing: Sizing) -> int:
    """How many frames the gateway's decoder gets out of the codec for this sample.

    Counted on a separate, untimed run by the decoder's own :class:`DecodeStats`.
    """
    stats = DecodeStats()
    for _ in iter_frames(path, info, times, max_side=sizing[0], min_side=sizing[1], stats=stats):
        pass
    return stats.frames


def _picker(path: Path, info: VideoInfo, times: list[float]) -> Picker:
    """The contract's picker for ``times``, its keyframes looked up on a handle of its own."""
    with av.open(str(path), metadata_errors="ignore") as index:
        return Picker.for_stream(index, index.streams.video[0], times, info.fps)


def opencv_decode(path: Path, info: VideoInfo, times: list[float], sizing: Sizing) -> Sampled:
    """``grab()`` through the clip, ``retrieve()`` the frames the contract's picker picks."""
    picker = _picker(path, info, times)
    cap = cv2.VideoCapture(str(path))
    fps = info.fps or cap.get(cv2.CAP_PROP_FPS)
    picked: list[float] = []
    shape: tuple[int, ...] = ()
    index, decoded = 0, 0
    try:
        while not picker.done and cap.grab():
            decoded += 1
            # OpenCV counts frames: a frame's time is its index over the rate (exact at CFR).
            t = index / fps
            served = picker.take(t)
            if served:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                size = scaled_size(rgb.shape[1], rgb.shape[0], *sizing)
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                picked.extend([round(t, 4)] * served)
                shape = rgb.shape
            index += 1
    finally:
        cap.release()
    return Sampled(picked, decoded, shape)


def pyav_decode(
    path: Path,
    info: VideoInfo,
    times: list[float],
    sizing: Sizing,
    *,
    skip_nonref: bool,
    threads: bool,
) -> Sampled:
    """The contract's picker with the candidate changes, decoding straight through.

    No seeking: on these short clips (one or two keyframes in 10 s) the gateway seeks at
    most once, to a keyframe that falls between two samples.
    """
    picker = _picker(path, info, times)
    picked: list[float] = []
    shape: tuple[int, ...] = ()
    decoded = 0
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        ctx = stream.codec_context
        time_base = stream.time_base
        start = stream.start_time or 0
        frame_s = 1.0 / info.fps if info.fps > 0 else 0.0
        # A picked frame lies within half a frame of where a target picks it (its time,
        # or its keyframe's); a quarter frame more on both sides covers rounding.
        pad = 0.75 * frame_s
        # Where each target's frame is: its keyframe, or the target itself.
        wanted = sorted(
            c.picked.t_s if c.picked else t for c, t in zip(picker.choices, times, strict=True)
        )
        size: tuple[int, int] | None = None

        def take(frame: av.VideoFrame) -> None:
            nonlocal size, shape
            t = float((frame.pts - start) * time_base)
            served = picker.take(t)
            if not served:
                return
            if size is None:
                size = scaled_size(frame.width, frame.height, *sizing)
            image = to_rgb(frame, size, info.rotation)
            picked.extend([round(t, 4)] * served)
            shape = image.shape

        for packet in container.demux(stream):
            if picker.done:
                break
            if skip_nonref and packet.pts is not None:
                t = float((packet.pts - start) * time_base)
                i = bisect.bisect_left(wanted, t - pad)
                near = i < len(wanted) and wanted[i] <= t + pad
                ctx.skip_frame = "DEFAULT" if near else "NONREF"
            for frame in ctx.decode(packet):
                decoded += 1
                take(frame)
    return Sampled(picked, decoded, shape)


Variant = Callable[[Path, VideoInfo, list[float], Sizing], Sampled]

#: Decoders compared for uniform sampling, by the name the report prints.
VARIANTS: dict[str, Variant] = {
    "opencv grab+retrieve": opencv_decode,
    "pyav (gateway)": gateway_decode,
    "pyav, no skip": lambda p, i, t, m: pyav_decode(p, i, t, m, skip_nonref=False, threads=False),
    "pyav, skip per packet": lambda p, i, t, m: pyav_decode(
        p, i, t, m, skip_nonref=True, threads=False
    ),
    "pyav, no skip + threads": lambda p, i, t, m: pyav_decode(
        p, i, t, m, skip_nonref=False, threads=True
    ),
    "pyav, skip per packet + threads": lambda p, i, t, m: pyav_decode(
        p, i, t, m, skip_nonref=True, threads=True
    ),
}


@dataclass(frozen=True)
class DecodeTiming:
    """Timings of one variant on one clip."""

    clip: str
    variant: str
    runs_ms: list[float]
    cpu_ms: list[float]  # CPU time of this process (all threads) per run
    frames_out: int
    decoded: int
    same_frames: bool | None  # equal to the gateway's picks (None for the gateway itself)


def compare_decoders(
    path: Path, clip: str, defaults: GatewayDefaults, repeats: int
) -> list[DecodeTiming]:
    """Time every variant ``repeats`` times on ``path``, round-robin to spread machine noise."""
    info = probe(path, defaults.limits)
    times = sample_times_of(info, defaults.frames)
    sizing = (defaults.max_side, defaults.min_side)
    runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    last: dict[str, Sampled] = {}
    for _ in range(repeats):
        for name, variant in VARIANTS.items():
            cpu0, start = time.process_time(), time.perf_counter()
            last[name] = variant(path, info, times, sizing)
            runs[name].append((time.perf_counter() - start) * 1000.0)
            cpu[name].append((time.process_time() - cpu0) * 1000.0)
    reference = last["pyav (gateway)"].times
    gateway_count = gateway_decoded_frames(path, info, times, sizing)
    out = []
    for name in VARIANTS:
        sampled = last[name]
        if name == "pyav (gateway)":
            sampled = Sampled(sampled.times, gateway_count, sampled.shape)
        same = None if name == "pyav (gateway)" else _same_times(sampled.times, reference, info)
        out.append(
            DecodeTiming(
                clip, name, runs[name], cpu[name], len(sampled.times), sampled.decoded, same
            )
        )
    return out


def _same_times(times: list[float], reference: list[float], info: VideoInfo) -> bool:
    """Equal picks, within half a frame (OpenCV counts frames, PyAV reads timestamps)."""
    tolerance = 0.5 / info.fps if info.fps > 0 else 1e-3
    return len(times) == len(reference) and all(
        abs(a - b) < tolerance for a, b in zip(times, reference, strict=True)
    )
