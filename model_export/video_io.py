"""Encode and decode H.264 clips with PyAV.

Decoding samples frames with :mod:`contract.sampling` and :mod:`contract.frames`, the
functions the gateway samples with (the same frame for each target time, at the same size,
converted to the same RGB pixels), so that a model trains, calibrates and is evaluated on
the frames it will see when serving.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from contract import sampling
from contract.frames import DEFAULT_MAX_SIDE, Picker, display_rotation, scaled_size, to_rgb
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

log = logging.getLogger(__name__)


def encode_clip(
    frames: Iterable[np.ndarray],
    path: Path,
    *,
    fps: int = 24,
    crf: int = 23,
    preset: str = "veryfast",
) -> Path:
    """Encode ``uint8`` RGB frames (all of one even size) as an H.264 MP4 at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                height, width = frame.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps))
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset}
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError("no frames to encode")
        container.mux(stream.encode(None))
    return path


@dataclass(frozen=True)
class SampledClip:
    """The frames a clip is scored on, with the time each was shown at."""

    #: ``uint8`` RGB ``[n, H, W, 3]``, upright.
    frames: np.ndarray
    #: Seconds from the start, one per frame, rounded as the gateway reports them.
    times_s: list[float]


def decode_samples(
    path: Path,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = 0,
) -> SampledClip:
    """Decode the ``frames_per_video`` frames the gateway would score from ``path``, as sent.

    The target times are :func:`contract.sampling.sample_times` of the clip's
    :func:`contract.sampling.stream_timing`; each target gets the frame
    :class:`contract.frames.Picker` picks (the keyframe rule included), as in the gateway's
    decoder, and a decoded frame serving several targets is repeated, as the gateway
    repeats it. Picked frames are sized by :func:`contract.frames.scaled_size` with
    ``max_side`` (the gateway's default cap) and ``min_side`` (the ``frame_min_side`` of
    the version the frames are for: a whole-frame model's larger input side; 0 for
    face-aware models), and converted by :func:`contract.frames.to_rgb`, upright.
    Frames are decoded in one sequential pass, without the gateway's seeks (which give the
    same frames, only cheaper). A stream damaged midway gives the frames decoded before the
    damage, as in the gateway.
    """
    picked: list[np.ndarray] = []
    times_s: list[float] = []
    with av.open(str(path)) as index:
        # Timed in a container of its own, as the gateway probes before it decodes; the
        # same handle then serves as the keyframe index, as the gateway's second handle.
        index_stream = index.streams.video[0]
        timing = sampling.stream_timing(index, index_stream)
        targets = sampling.sample_times(
            timing.duration_s, timing.fps, timing.frame_count, frames_per_video
        )
        picker = Picker.for_stream(index, index_stream, targets, timing.fps)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start_pts, time_base = sampling.stream_clock(stream)
        rotation: int | None = None
        size: tuple[int, int] | None = None
        last_t = -math.inf
        try:
            for frame in container.decode(stream):
                if rotation is None:
                    # Upright as the gateway shows them: phone videos are stored sideways.
                    rotation = display_rotation(stream, frame)
                t = sampling.frame_time_s(
                    frame.pts, start_pts, time_base, previous_s=last_t, fps=timing.fps
                )
                last_t = max(last_t, t)
                served = picker.take(t)
                if not served:
                    continue
                if size is None:
                    # Fixed for the whole clip from its first picked frame, as the gateway.
                    size = scaled_size(frame.width, frame.height, max_side, min_side)
                image = to_rgb(frame, size, rotation)
                picked.extend([image] * served)
                times_s.extend([round(t, sampling.TIME_DIGITS)] * served)
                if picker.done:
                    break
        except av.error.FFmpegError as exc:
            log.warning("decode stopped early", extra={"path": str(path), "error": str(exc)})
    if not picked:
        raise ValueError(f"no decodable video frames in {path}")
    return SampledClip(np.stack(picked), times_s)


def sample_frames(
    path: Path,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    min_side: int = 0,
) -> np.ndarray:
    """The RGB frames ``[n, H, W, 3]`` of :func:`decode_samples`, without their times."""
    return decode_samples(path, frames_per_video, max_side=max_side, min_side=min_side).frames
