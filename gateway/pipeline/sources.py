"""Where an upload's frames come from: a still image or a video, told apart by its bytes.

The one seam between an uploaded file and the detection pipeline: the probe stage calls
:func:`probe_upload`, the decode thread :func:`iter_upload_frames`. What the client
declared (``Content-Type``, a file name) is never consulted: the file's magic numbers
say whether :mod:`gateway.pipeline.image` or :mod:`gateway.pipeline.probe` and
:mod:`gateway.pipeline.video` read it, and anything that is neither a supported image nor
a supported video is refused as today.
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


#: Top-level atoms an MP4, MOV or 3GP file may open with (ISO BMFF / QuickTime).
_BMFF_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_TS_PACKET = 188


def _looks_like_video(head: bytes) -> bool:
    """Whether ``head`` opens a container of the families the probe accepts."""
    if head[4:8] in _BMFF_ATOMS:
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, WebM
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    # MPEG-TS: sync bytes one packet apart (M2TS packets carry a 4-byte prefix).
    for offset, size in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):
        if len(head) > offset + size and head[offset] == head[offset + size] == 0x47:
            return True
    return False


def sniff_media_kind(path: Path) -> str | None:
    """``"image"`` or ``"video"`` from the file's first bytes (magic numbers), or None when
    they are neither: for media whose declared type is not to be trusted (a fetched URL).

    A ``"video"`` answer only says the container looks right; the probe still decides.
    """
    if sniff_image_type(path) is not None:
        return "image"
    with open(path, "rb") as f:
        head = f.read(2 * _TS_PACKET + 8)
    return "video" if _looks_like_video(head) else None


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
    (:class:`~gateway.pipeline.video.FrameShaper`): an image's one frame, or a video's samples."""
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
