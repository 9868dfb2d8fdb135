"""Benchmark clips: deterministic 10-second H.264 clips, plus a few labelled real clips.

Long clips (:func:`length_clip`, 10 s to 10 min of 720p, for cost against length) are a
few seconds of the same scene encoded once with a keyframe every two seconds, as phones and
editors write them, then repeated packet by packet with shifted timestamps: a real H.264
stream of any length for the cost of encoding its first seconds.

The synthetic clips imitate a filmed face rather than noise: a textured background
panned by a virtual camera, a face photograph (scikit-image's ``astronaut``) that
drifts and breathes, a slow lighting change and mild sensor noise.  They are
encoded with libx264's defaults for GOP and B-frames (keyint 250, 3 B-frames), as
FFmpeg writes them and as the DFDC and FaceForensics++ clips were written, so that
decode costs are representative.  Clips are cached under ``var/bench/``; a file
name carries every setting, so a change of settings makes a new file.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Bump when the generator changes, so that cached clips are rebuilt.
GENERATOR_VERSION = 2
DURATION_S = 10
FPS = 30
#: Synthetic resolutions, landscape, by label.
RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
#: Labelled real clips used when ``../shared/data`` exists: a few, to stay within time.
SHARED_CLIPS = (
    "dfdc_icpr2020dfdc/lynaeydofd.mp4",  # DFDC, 1920x1080, 10 s
    "ffpp-c23_icpr2020dfdc/ffpp_NeuralTextures_004_982.mp4",  # FF++ c23, 1280x720, 12 s
    "dfdc_icpr2020dfdc/yhffcuhhjy.mp4",  # DFDC portrait, 720x1280, 10 s
)
_NOISE_PLANES = 7


@dataclass(frozen=True)
class BenchClip:
    """One clip of the benchmark."""

    name: str
    path: Path
    width: int
    height: int
    frames: int
    fps: float
    synthetic: bool

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    @property
    def bitrate_mbps(self) -> float:
        return self.size_bytes * 8 / self.duration_s / 1e6 if self.duration_s else 0.0


def _face_photo() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())[0:300, 110:390]  # head and shoulders


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth, textured canvas a bit larger than the frame, for the camera to pan over."""
    big_w, big_h = width + width // 4, height + height // 4
    coarse = rng.integers(40, 220, (big_h // 24 + 2, big_w // 24 + 2, 3), dtype=np.uint8)
    canvas = cv2.resize(coarse, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    fine = rng.integers(-12, 13, (big_h, big_w, 1), dtype=np.int16)
    return np.clip(canvas.astype(np.int16) + fine, 0, 255).astype(np.uint8)


def _frames(width: int, height: int, count: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``count`` RGB frames of the synthetic scene (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    canvas = _background(width, height, rng)
    noise = rng.integers(-4, 5, (_NOISE_PLANES, height, width, 3), dtype=np.int8)
    photo = _face_photo()
    pan_x = (canvas.shape[1] - width) / 2
    pan_y = (canvas.shape[0] - height) / 2
    for i in range(count):
        phase = i / count
        x0 = int(pan_x * (1 + 0.9 * np.sin(2 * np.pi * phase)))
        y0 = int(pan_y * (1 + 0.5 * np.sin(4 * np.pi * phase)))
        frame = canvas[y0 : y0 + height, x0 : x0 + width].copy()
        face_h = int(height * (0.6 + 0.04 * np.sin(2 * np.pi * 3 * phase)))
        face_w = int(face_h * photo.shape[1] / photo.shape[0])
        fy = (height - face_h) // 2 + int(0.03 * height * np.sin(2 * np.pi * 2 * phase))
        fx = (width - face_w) // 2 + int(0.08 * width * np.sin(2 * np.pi * phase))
        frame[fy : fy + face_h, fx : fx + face_w] = cv2.resize(
            photo, (face_w, face_h), interpolation=cv2.INTER_AREA
        )
        light = 0.85 + 0.25 * np.sin(np.pi * phase)
        frame = frame.astype(np.int16)
        frame = frame * light + noise[i % _NOISE_PLANES]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def synth_clip(directory: Path, label: str, seed: int = 0) -> BenchClip:
    """The cached synthetic clip ``label`` (``480p``, ``720p``, ``1080p``), encoded once."""
    width, height = RESOLUTIONS[label]
    frames = DURATION_S * FPS
    name = f"synthetic-{label}-{width}x{height}-{frames}f-{FPS}fps-s{seed}-v{GENERATOR_VERSION}.mp4"
    path = directory / name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.mp4")
        log.info("encoding %s", name)
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=FPS)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            # libx264's defaults for keyint and B-frames; a single thread keeps the
            # bitstream identical from run to run.
            stream.options = {"preset": "veryfast", "crf": "23", "threads": "1"}
            for image in _frames(width, height, frames, seed):
                # Convert to I420 here: FFmpeg's threaded swscale does not give the same
                # bytes from run to run, and the clips must be identical every time.
                yuv = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
                for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        tmp.rename(path)  # a half-written clip is never picked up from the cache
    return BenchClip(label, path, width, height, frames, float(FPS), synthetic=True)


#: Keyframe interval of the long clips, seconds: within the 1-5 s of phone and editor files.
LENGTH_GOP_S = 2
#: libx264 quality of the long clips: a low bitrate (about 0.5 Mb/s at 720p), as uploads
#: of long videos are usually compressed harder than short ones.
LENGTH_CRF = 32
#: Seconds of scene encoded for the long clips, then repeated (a whole number of GOPs).
LENGTH_CYCLE_S = 2


def _encode_cycle(path: Path, width: int, height: int, fps: int, seed: int) -> None:
    """Encode :data:`LENGTH_CYCLE_S` seconds of the scene with closed GOPs of fixed length."""
    gop = str(LENGTH_GOP_S * fps)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # Fixed GOP (no scene-cut keyframes) so every repeat starts on an IDR frame; B-frames
        # and CABAC as libx264 writes by default.
        stream.options = {
            "preset": "veryfast",
            "crf": str(LENGTH_CRF),
            "g": gop,
            "keyint_min": gop,
            "sc_threshold": "0",
            "threads": "1",
        }
        for image in _frames(width, height, LENGTH_CYCLE_S * fps, seed):
            yuv = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
            for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _repeat_cycle(cycle: Path, out_path: Path, repeats: int) -> None:
    """Write ``cycle``'s video packets ``repeats`` times, each repeat shifted by its duration."""
    with av.open(str(cycle)) as src, av.open(str(out_path), mode="w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        packets = [p for p in src.demux(in_stream) if p.size]
        # The cycle's length in its time base: one frame after the last presentation time.
        pts = sorted(p.pts for p in packets if p.pts is not None)
        span = pts[-1] - pts[0] + (pts[1] - pts[0])
        for k in range(repeats):
            for p in packets:
                copy = av.Packet(bytes(p))
                copy.pts = None if p.pts is None else p.pts + k * span
                copy.dts = None if p.dts is None else p.dts + k * span
                copy.is_keyframe = p.is_keyframe
                copy.time_base = in_stream.time_base
                copy.stream = out_stream
                dst.mux(copy)


def length_clip(
    directory: Path,
    duration_s: int,
    label: str | None = None,
    size: tuple[int, int] = RESOLUTIONS["720p"],
    fps: int = FPS,
    seed: int = 0,
) -> BenchClip:
    """A cached ``duration_s``-second clip (a multiple of :data:`LENGTH_CYCLE_S`), 720p by default.

    The first :data:`LENGTH_CYCLE_S` seconds of the synthetic scene, encoded once with a
    keyframe every :data:`LENGTH_GOP_S` seconds, repeated; the scene loops seamlessly (its
    motion is periodic), so a long clip costs to decode what a filmed one of that length does.
    """
    if duration_s % LENGTH_CYCLE_S:
        raise ValueError(f"duration must be a multiple of {LENGTH_CYCLE_S} s, not {duration_s}")
    width, height = size
    stem = (
        f"long-{width}x{height}-{fps}fps-gop{LENGTH_GOP_S}s-crf{LENGTH_CRF}"
        f"-s{seed}-v{GENERATOR_VERSION}"
    )
    path = directory / f"{stem}-{duration_s}s.mp4"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        cycle = directory / f"{stem}-cycle.mp4"
        if not cycle.exists():
            tmp = cycle.with_suffix(f".tmp-{os.getpid()}.mp4")
            log.info("encoding %s", cycle.name)
            _encode_cycle(tmp, width, height, fps, seed)
            tmp.rename(cycle)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.mp4")
        log.info("writing %s", path.name)
        _repeat_cycle(cycle, tmp, duration_s // LENGTH_CYCLE_S)
        tmp.rename(path)
    frames = duration_s * fps
    return BenchClip(
        label or f"720p {duration_s} s", path, width, height, frames, float(fps), synthetic=True
    )


def _shared_clip(data_dir: Path, relative: str) -> BenchClip | None:
    path = data_dir / relative
    labels = path.parent / "labels.csv"
    if not path.exists() or not labels.exists():
        return None
    with labels.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["file"] == path.name:
                return BenchClip(
                    name=f"{path.stem} ({row['label']})",
                    path=path,
                    width=int(row["width"]),
                    height=int(row["height"]),
                    frames=int(row["frames"]),
                    fps=float(row["fps"]),
                    synthetic=False,
                )
    return None


def shared_clips(data_dir: Path) -> list[BenchClip]:
    """The labelled real clips of :data:`SHARED_CLIPS` found under ``data_dir`` (may be none)."""
    if not data_dir.is_dir():
        return []
    return [c for c in (_shared_clip(data_dir, rel) for rel in SHARED_CLIPS) if c is not None]


def all_clips(cache_dir: Path, data_dir: Path | None) -> list[BenchClip]:
    """Synthetic clips (480p, 720p, 1080p) first, then the real clips found in ``data_dir``."""
    synthetic = [synth_clip(cache_dir, label) for label in RESOLUTIONS]
    return synthetic + (shared_clips(data_dir) if data_dir is not None else [])
