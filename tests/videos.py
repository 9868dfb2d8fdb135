"""Encode real H.264 test clips with PyAV (libx264), deterministically."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _faces() -> list[np.ndarray]:
    """Two real face photographs that ship inside installed packages."""
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()[0:300, 100:400]  # her face and shoulders
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))[0:400, 100:450]
    return [astronaut, hopper]


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def frame_pattern(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A moving gradient with noise and a bright square in the top-left (for orientation)."""
    rng = np.random.default_rng(seed * 100_003 + index)
    # The noise first, then the gradients added onto it by broadcasting: the same pixels as
    # stacking full gradient planes and adding the noise, in about half the time.
    image = rng.integers(-8, 9, (height, width, 3))
    image[..., 0] += (np.arange(width) + 3 * index) % 256
    image[..., 1] += ((np.arange(height) + 2 * index) % 256)[:, None]
    image[..., 2] += (index * 5) % 256
    image = np.clip(image, 0, 255).astype(np.uint8)
    side = max(4, min(width, height) // 6)
    image[:side, :side] = 255
    return image


def face_frames(
    count: int,
    width: int = 320,
    height: int = 240,
    *,
    faces: int = 0,
    seed: int = 0,
    still: bool = False,
    static_background: bool = False,
) -> list[np.ndarray]:
    """The RGB frames :func:`write_clip` encodes: ``faces`` photographs side by side over
    :func:`frame_pattern`, bobbing by a few pixels (``still``: not moving). The pattern moves
    and its noise changes from frame to frame, as a camera's picture does, unless
    ``static_background`` (one frame of it throughout, as a one-photo animation's)."""
    return list(
        _iter_face_frames(
            count, width, height, faces=faces, seed=seed, still=still,
            static_background=static_background,
        )
    )  # fmt: skip


def _iter_face_frames(
    count: int,
    width: int,
    height: int,
    *,
    faces: int,
    seed: int,
    still: bool = False,
    static_background: bool = False,
) -> Iterator[np.ndarray]:
    """The frames of :func:`face_frames` one at a time (a long clip never sits in memory)."""
    photos = _faces()[:faces] if faces else []
    for i in range(count):
        image = frame_pattern(0 if static_background else i, width, height, seed)
        if photos:
            slot = width // len(photos)
            for k, photo in enumerate(photos):
                fh = int(height * 0.8)
                fw = min(slot - 4, int(fh * photo.shape[1] / photo.shape[0]))
                y0 = (height - fh) // 2 + (0 if still else int(3 * np.sin(i / 5)))
                x0 = k * slot + (slot - fw) // 2
                image[y0 : y0 + fh, x0 : x0 + fw] = _resize(photo, fw, fh)
        yield image


def encode_frames(path: Path, images: list[np.ndarray], fps: int = 30) -> Path:
    """Encode RGB frames as an H.264 MP4, as :func:`write_clip` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = images[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "30", "bf": "2", "crf": "20"}
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 240,
    frames: int = 30,
    fps: int = 30,
    rotation: int | None = None,
    faces: int = 0,
    frame_times: list[float] | None = None,
    seed: int = 0,
    gop: int = 30,
    fixed_gop: bool = False,
    crf: int = 23,
    bitrate: int | None = None,
) -> Path:
    """Write an H.264 MP4.

    ``faces`` puts that many real face photographs side by side over the pattern;
    ``rotation`` stores a display rotation (degrees counter-clockwise, as the display
    matrix holds it); ``frame_times`` gives explicit timestamps (variable frame rate).
    ``gop`` is the longest keyframe interval; with ``fixed_gop`` x264 places no keyframe
    at scene changes, so keyframes are exactly every ``gop`` frames. ``crf`` is x264's
    constant rate factor (51: the heaviest compression); ``bitrate`` (bits per second)
    encodes at that average rate instead, for a clip compressed harder than any CRF can
    compress the noisy test pattern.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(gop), "bf": "2", "crf": str(crf)}
        if fixed_gop:
            stream.options = {**stream.options, "sc_threshold": "0"}
        if bitrate is not None:
            stream.options = {k: v for k, v in stream.options.items() if k != "crf"}
            stream.bit_rate = bitrate
        if frame_times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(_iter_face_frames(frames, width, height, faces=faces, seed=seed)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if frame_times is not None:
                frame.pts = round(frame_times[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_frames(path: Path) -> int:
    """Number of video frames, from the header or, failing that, by demuxing packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)


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
