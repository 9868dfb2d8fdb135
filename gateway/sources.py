"""Where an upload's frames come from: a still image or a video, told apart by its bytes.

The one seam between an uploaded file and the detection pipeline: the probe stage calls
:func:`probe_upload`, the decode thread :func:`iter_upload_frames`. What the client
declared (``Content-Type``, a file name) is never consulted: the file's magic numbers
say whether :mod:`gateway.image` or :mod:`gateway.probe` and :mod:`gateway.video` read it,
and anything that is neither a supported image nor a supported video is refused as today.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .budget import DecodeBudget
from .image import iter_image_frames, probe_image, sniff_image_type
from .probe import VideoInfo, VideoLimits, probe
from .video import FrameShaper, SampledFrame, iter_frames


def upload_media_type(path: Path) -> str | None:
    """The MIME type of the upload at ``path`` when it is an image (from its bytes); None
    for anything else, videos included."""
    return sniff_image_type(path)


def probe_upload(path: Path, limits: VideoLimits) -> VideoInfo:
    """Probe the upload at ``path``: as an image when its bytes are a JPEG, PNG or WebP
    file's (``kind`` ``image``), else as a video."""
    media_type = sniff_image_type(path)
    if media_type is not None:
        return probe_image(path, media_type, limits)
    return probe(path, limits)


def iter_upload_frames(
    path: Path,
    info: VideoInfo,
    times: list[float],
    *,
    max_side: int,
    min_side: int = 0,
    canvas: int | None = None,
    threads: bool = False,
    budget: DecodeBudget | None = None,
) -> Iterator[SampledFrame]:
    """The frames at ``times`` of the upload probed as ``info``, by the same frame rule
    (:class:`~gateway.video.FrameShaper`): an image's one frame, or a video's samples."""
    if info.kind == "image":
        shaper = FrameShaper(max_side=max_side, min_side=min_side, canvas=canvas)
        return iter_image_frames(path, info, shaper=shaper, budget=budget)
    return iter_frames(
        path,
        info,
        times,
        max_side=max_side,
        min_side=min_side,
        canvas=canvas,
        threads=threads,
        budget=budget,
    )
