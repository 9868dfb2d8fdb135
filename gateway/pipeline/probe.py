"""Probe stage: is the upload a video within the limits, and what does it hold.

Reads the container's metadata and decodes only the first frame (for its real size and
display rotation); streams without a usable duration are demuxed, not decoded, to count
their frames (the stream timing is :func:`contract.sampling.stream_timing`, shared with
``model_export``).

FFmpeg is confined to what an upload is: one local file in a container format that a
phone, camera or editor writes. Its demuxers can otherwise follow references to other
files and URLs (HLS playlists, ffconcat lists, SDP/RTP sessions) or read other kinds of
data (image sequences, raw streams); :func:`open_video` allows the ``file`` protocol
only and the formats in :data:`ALLOWED_FORMATS`, before anything is decoded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av

from contract import sampling
from contract.frames import display_rotation

from ..errors import InvalidVideo, VideoLimitExceeded
from ..schemas import MediaKind
from ..settings import DEFAULT_MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

#: FFmpeg demuxers an upload may be read with (their names as FFmpeg gives them):
#: MP4/MOV/3GP, Matroska/WebM, AVI and MPEG-TS. Nothing that reads playlists, lists
#: of files, network sessions, image sequences or raw data.
ALLOWED_FORMATS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts")
#: FFmpeg's own options for opening an upload: no protocol but the local file (so no
#: nested URL is ever fetched), and no demuxer but the allowed ones.
_OPEN_OPTIONS = {
    "protocol_whitelist": "file",
    "format_whitelist": ",".join(ALLOWED_FORMATS),
}
#: Client-facing reasons; FFmpeg's text (which names the server's path) goes to the log.
NOT_A_VIDEO = (
    "the upload is neither a JPEG, PNG or WebP image nor a video in a supported container "
    "(MP4, MOV, 3GP, Matroska, WebM, AVI or MPEG-TS)"
)
UNDECODABLE = "the video stream cannot be decoded"


@dataclass(frozen=True)
class VideoLimits:
    """What the gateway accepts; a video over any of them gets a 422 naming it."""

    max_duration_s: float
    max_frames: int
    max_pixels: int
    #: Pixels of a still image, read from its header before decoding (413 past it).
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learnt about an upload. Width and height are as displayed."""

    duration_s: float
    fps: float
    width: int
    height: int
    rotation: int  # degrees clockwise applied for display: 0, 90, 180 or 270
    frame_count: int
    codec: str
    #: Bits per second of the video stream: the stream's own figure, else the container's,
    #: else the file size over the duration; None when none is known.
    bitrate: float | None = None
    #: ``image`` for a still image (:mod:`gateway.pipeline.image`): one frame, no duration.
    kind: MediaKind = "video"
    #: The MIME type sniffed from an image's bytes; None for videos.
    media_type: str | None = None


def open_video(path: Path) -> av.container.InputContainer:
    """Open the local file ``path`` in an allowed container format.

    :class:`InvalidVideo` when it is none: FFmpeg refuses other formats and protocols
    itself (``format_whitelist``, ``protocol_whitelist``), and the format it picked is
    checked again here.
    """
    try:
        container = av.open(
            str(path), mode="r", container_options=dict(_OPEN_OPTIONS), metadata_errors="ignore"
        )
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        log.info("upload refused: not openable", extra={"error": str(exc)})
        raise InvalidVideo(NOT_A_VIDEO) from exc
    if container.format.name not in ALLOWED_FORMATS:
        container.close()
        log.warning("upload refused: container format", extra={"format": container.format.name})
        raise InvalidVideo(NOT_A_VIDEO)
    return container


def probe(path: Path, limits: VideoLimits) -> VideoInfo:
    """Check that ``path`` holds a decodable video stream within ``limits``."""
    try:
        return _probe(path, limits)
    except av.error.FFmpegError as exc:
        log.info("upload refused: demuxing", extra={"error": str(exc)})
        raise InvalidVideo(UNDECODABLE) from exc


def _probe(path: Path, limits: VideoLimits) -> VideoInfo:
    with open_video(path) as container:
        if not container.streams.video:
            raise InvalidVideo("the upload has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.name:
            raise InvalidVideo("the video stream has an unknown codec")
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width > 0 and height > 0 and width * height > limits.max_pixels:
            raise VideoLimitExceeded(
                f"resolution {width}x{height} exceeds the limit of {limits.max_pixels} pixels"
            )
        first = _first_frame(container, stream)
        if first is None:
            raise InvalidVideo("the video stream holds no decodable frame")
        width, height = first.width, first.height
        if width * height > limits.max_pixels:
            raise VideoLimitExceeded(
                f"resolution {width}x{height} exceeds the limit of {limits.max_pixels} pixels"
            )
        timing = sampling.stream_timing(container, stream, max_frames=limits.max_frames)
        if timing.counted and timing.frame_count > limits.max_frames:
            raise VideoLimitExceeded(f"more than {limits.max_frames} frames: over the frame limit")
        duration_s, fps, frames = timing.duration_s, timing.fps, timing.frame_count
        rotation = display_rotation(stream, first)
        bitrate = _bitrate(path, container, stream, duration_s)
    if duration_s > limits.max_duration_s:
        raise VideoLimitExceeded(
            f"duration {duration_s:.1f} s exceeds the limit of {limits.max_duration_s:g} s"
        )
    if frames > limits.max_frames:
        raise VideoLimitExceeded(f"{frames} frames exceed the limit of {limits.max_frames} frames")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        duration_s=duration_s,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        frame_count=frames,
        codec=str(ctx.name),
        bitrate=bitrate,
    )


def _bitrate(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    duration_s: float,
) -> float | None:
    # The container's and the file's figures include audio, so they overstate the video's.
    for value in (stream.bit_rate, container.bit_rate):
        if value and value > 0:
            return float(value)
    if duration_s > 0:
        return path.stat().st_size * 8.0 / duration_s
    return None


def _first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.VideoFrame | None:
    try:
        # Not container.decode(): closing that generator would leave its inner demux
        # suspended, which leaks (see sampling.demuxed).
        with sampling.demuxed(container, stream) as packets:
            for packet in packets:
                for frame in stream.decode(packet):
                    return frame
    except av.error.FFmpegError as exc:
        log.info("upload refused: first frame", extra={"error": str(exc)})
        raise InvalidVideo(UNDECODABLE) from exc
    return None
