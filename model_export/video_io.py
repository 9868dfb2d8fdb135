"""Encode and decode H.264 clips with PyAV.

Decoding samples frames uniformly over the clip, the way the gateway does, so that a model
trains on the frames it will see when serving.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from contract.frames import display_rotation, upright


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


def count_frames(path: Path) -> int:
    """Number of video frames, from the header or, failing that, by demuxing packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)


def uniform_indices(total: int, num: int) -> np.ndarray:
    """``num`` frame indices spread evenly over ``total`` frames (fewer if the clip is short)."""
    if total <= 0 or num <= 0:
        return np.zeros([0], np.int64)
    return np.unique(np.linspace(0, total - 1, min(num, total)).round().astype(np.int64))


def sample_frames(path: Path, num_frames: int = 32) -> np.ndarray:
    """Decode ``num_frames`` uniformly spaced RGB frames ``[n, H, W, 3]`` from ``path``.

    Every frame is decoded (H.264 needs it) but only the sampled ones are converted to RGB,
    and turned upright by the display rotation, as the gateway turns them.
    """
    wanted = set(uniform_indices(count_frames(path), num_frames).tolist())
    picked: list[np.ndarray] = []
    rotation: int | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if rotation is None:
                # Upright as the gateway shows them: phone videos are stored sideways.
                rotation = display_rotation(stream, frame)
            if index in wanted:
                picked.append(upright(frame.to_ndarray(format="rgb24"), rotation))
    if not picked:
        raise ValueError(f"no decodable video frames in {path}")
    return np.stack(picked)


def clip_info(path: Path) -> dict[str, object]:
    """Codec name, frame size and frame count of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "frames": count_frames(path),
        }
