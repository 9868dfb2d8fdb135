"""Re-encoded and transformed copies of a clip, with PyAV, for the stability probe.

Each :class:`Transform` is what a clip commonly goes through between its source and an
upload: an H.264 re-encode at a given constant rate factor (CRF), a downscale, a horizontal
mirror. A clip is decoded once and every transform of it encoded in the same pass
(:func:`transcode`): frames are turned upright first (so a phone clip's mirror is a mirror
of what is shown), keep their presentation times (fps and duration are kept, variable frame
rates included), and audio is dropped (no version scores it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from contract.frames import display_rotation, upright
from contract.sampling import demuxed

log = logging.getLogger(__name__)

#: x264 preset of every output: the same for all, so CRFs compare; fast enough for 150 clips.
PRESET = "veryfast"
#: CRF of the geometric transforms: near the source's quality, so their rows measure the
#: geometry more than a further generation of compression.
GEOMETRY_CRF = 18


@dataclass(frozen=True)
class Transform:
    """One way of re-encoding a clip."""

    name: str
    #: x264 constant rate factor (higher: smaller file, coarser picture).
    crf: int
    #: Factor on both sides (0.5: half size), rounded down to even sides for yuv420p.
    scale: float = 1.0
    mirror: bool = False

    def describe(self) -> str:
        """A short human-readable description for reports."""
        parts = [f"H.264 CRF {self.crf}"]
        if self.scale != 1.0:
            parts.append(f"sides x{self.scale:g}")
        if self.mirror:
            parts.append("mirrored left-right")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return {"name": self.name, "crf": self.crf, "scale": self.scale, "mirror": self.mirror,
                "preset": PRESET, "description": self.describe()}  # fmt: skip


#: The transforms of ``evaluate --robustness``, in report order.
TRANSFORMS: tuple[Transform, ...] = (
    Transform("crf23", 23),
    Transform("crf30", 30),
    Transform("crf38", 38),
    Transform("half", GEOMETRY_CRF, scale=0.5),
    Transform("mirror", GEOMETRY_CRF, mirror=True),
)


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Width and height of a ``width`` x ``height`` frame scaled by ``scale``, even, >= 2."""

    def side(n: int) -> int:
        return max(2, int(n * scale) // 2 * 2)

    return side(width), side(height)


def _open_output(
    path: Path, transform: Transform, size: tuple[int, int], rate: Fraction, time_base: Fraction
) -> tuple[av.container.OutputContainer, av.VideoStream]:
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(transform.crf), "preset": PRESET}
    # The source's clock, so every frame keeps its presentation time.
    stream.codec_context.time_base = time_base
    return container, stream


def transcode(
    source: Path,
    out_dir: Path,
    transforms: Sequence[Transform] = TRANSFORMS,
    *,
    deadline: float | None = None,
) -> dict[str, Path]:
    """Write every transform of ``source`` into ``out_dir``; returns the paths by name.

    One decoding pass feeds one encoder per transform. A stream damaged midway gives the
    frames decoded before the damage (as the gateway's decoder does). Past ``deadline``
    (a :func:`time.monotonic` value) it stops between frames with :class:`TimeoutError`,
    the partial copies left in ``out_dir`` for the caller to remove.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {t.name: out_dir / f"{Path(source).stem}.{t.name}.mp4" for t in transforms}
    outputs: dict[str, tuple[av.container.OutputContainer, av.VideoStream]] = {}
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            time_base = stream.time_base or Fraction(1, 90_000)
            first_pts: int | None = None
            last_pts = -1
            rotation: int | None = None
            try:
                with demuxed(container, stream) as packets:
                    for frame in (f for packet in packets for f in packet.decode()):
                        if deadline is not None and time.monotonic() > deadline:
                            raise TimeoutError(f"re-encoding {source} passed its deadline")
                        if rotation is None:
                            rotation = display_rotation(stream, frame)
                        image = upright(frame.to_ndarray(format="rgb24"), rotation)
                        pts = frame.pts if frame.pts is not None else last_pts + 1
                        first_pts = pts if first_pts is None else first_pts
                        # Relative to the first frame and strictly rising, as the encoder
                        # needs.
                        pts = max(pts - first_pts, last_pts + 1)
                        last_pts = pts
                        for t in transforms:
                            _encode(outputs, paths[t.name], t, image, pts, rate, time_base)
            except av.error.FFmpegError as exc:
                log.warning("decode stopped early", extra={"path": str(source), "error": str(exc)})
        if len(outputs) < len(transforms):
            raise ValueError(f"no decodable video frames in {source}")
        for out, out_stream in outputs.values():
            out.mux(out_stream.encode(None))
    finally:
        for out, _ in outputs.values():
            out.close()
    return paths


def _encode(
    outputs: dict[str, tuple[av.container.OutputContainer, av.VideoStream]],
    path: Path,
    transform: Transform,
    image: np.ndarray,
    pts: int,
    rate: Fraction,
    time_base: Fraction,
) -> None:
    """Encode one upright RGB frame into ``transform``'s output, opening it on first use."""
    height, width = image.shape[:2]
    size = output_size(width, height, transform.scale)
    if transform.name not in outputs:
        outputs[transform.name] = _open_output(path, transform, size, rate, time_base)
    container, stream = outputs[transform.name]
    if transform.mirror:
        image = image[:, ::-1]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    if (width, height) != size:
        frame = frame.reformat(width=size[0], height=size[1], interpolation="AREA")
    frame.pts = pts
    frame.time_base = time_base
    container.mux(stream.encode(frame))
