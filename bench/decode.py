"""Ways to decode the uniformly sampled frames of a clip, timed side by side.

* ``opencv``: ``cv2.VideoCapture``, ``grab()`` every frame and ``retrieve()`` only the
  sampled ones (the DFDC winners' loop), then RGB and the gateway's downscale.
* ``pyav (gateway)``: the gateway's own ``gateway.video.iter_frames``, as it is.
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

Every variant returns the timestamps it picked, so the bench can check that each
one samples the same frames as the gateway.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import av
import cv2

import gateway.video
from contract.frames import upright
from gateway.probe import VideoInfo, probe
from gateway.video import iter_frames, sample_times, scaled_size

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

    Counted on a separate, untimed run by wrapping the gateway's packet decoder.
    """
    count = 0
    real_decode = gateway.video._decode

    def counting(*args: object, **kwargs: object) -> Iterator[av.VideoFrame]:
        nonlocal count
        for frame in real_decode(*args, **kwargs):  # type: ignore[arg-type]
            count += 1
            yield frame

    with mock.patch.object(gateway.video, "_decode", counting):
        for _ in iter_frames(path, info, times, max_side=sizing[0], min_side=sizing[1]):
            pass
    return count


def opencv_decode(path: Path, info: VideoInfo, times: list[float], sizing: Sizing) -> Sampled:
    """``grab()`` through the clip, ``retrieve()`` the frame nearest each sample time."""
    cap = cv2.VideoCapture(str(path))
    fps = info.fps or cap.get(cv2.CAP_PROP_FPS)
    wanted = [min(info.frame_count - 1, round(t * fps)) for t in times]
    picked: list[float] = []
    shape: tuple[int, ...] = ()
    index, k, decoded = 0, 0, 0
    try:
        while k < len(wanted) and cap.grab():
            decoded += 1
            if index == wanted[k]:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                size = scaled_size(rgb.shape[1], rgb.shape[0], *sizing)
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                while k < len(wanted) and wanted[k] == index:
                    picked.append(round(index / fps, 4))
                    shape = rgb.shape
                    k += 1
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
    """The gateway's sampling rule (first frame reaching each time) with the candidate changes.

    No seeking: on these short clips (one or two keyframes in 10 s) the gateway seeks at
    most once, to a keyframe that falls between two samples.
    """
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
        half = 0.5 * frame_s
        # The frame picked for target T is the first one with t >= T - half; at a
        # constant rate it lies in [T - half, T + half).  A quarter frame of slack
        # on both sides covers timestamp rounding.
        lo_pad, hi_pad = half + 0.25 * frame_s, half + 0.25 * frame_s
        size: tuple[int, int] | None = None
        target = 0

        def take(frame: av.VideoFrame) -> None:
            nonlocal size, target, shape
            t = float((frame.pts - start) * time_base)
            if target >= len(times) or t + half < times[target]:
                return
            if size is None:
                size = scaled_size(frame.width, frame.height, *sizing)
            image = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
            image = upright(image, info.rotation)
            while target < len(times) and times[target] <= t + half:
                picked.append(round(t, 4))
                shape = image.shape
                target += 1

        for packet in container.demux(stream):
            if target >= len(times):
                break
            if skip_nonref and packet.pts is not None:
                t = float((packet.pts - start) * time_base)
                i = bisect.bisect_left(times, t - hi_pad)
                near = i < len(times) and times[i] <= t + lo_pad
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
    times = sample_times(info, defaults.frames)
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
