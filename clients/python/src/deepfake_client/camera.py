"""Frames for a live session from a camera (or a video file), read with OpenCV.

OpenCV is not a dependency of the SDK: install ``opencv-python-headless`` (the ``video``
extra) to use this module; :class:`OpenCvMissing` says so otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["OpenCvMissing", "capture_frames", "video_duration"]

#: JPEG quality of the frames sent: small enough for a few per second, faces still sharp.
JPEG_QUALITY = 85


class OpenCvMissing(ImportError):
    """OpenCV (``cv2``) is needed and not installed."""


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise OpenCvMissing(
            "reading a camera or a video's duration needs OpenCV: "
            "pip install 'deepfake-client[video]'"
        ) from exc
    return cv2


def capture_frames(
    source: int | str | os.PathLike[str],
    *,
    fps: float | None = None,
    quality: int = JPEG_QUALITY,
) -> Iterator[bytes]:
    """JPEG-encoded frames of camera number ``source`` (or of a video file), as read.

    With ``fps``, frames that come sooner than ``1/fps`` s after the last one yielded are
    skipped (a camera gives 30 a second; a live session takes a few). Stops when the
    source has no more frames; a camera that cannot be opened raises :class:`OSError`.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(source if isinstance(source, int) else os.fspath(source))
    if not capture.isOpened():
        raise OSError(f"cannot open the camera or video {source!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    last = float("-inf")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            now = time.monotonic()
            if fps and now - last < 1.0 / fps:
                continue
            encoded, jpeg = cv2.imencode(".jpg", frame, params)
            if encoded:
                last = now
                yield jpeg.tobytes()
    finally:
        capture.release()


def video_duration(path: str | os.PathLike[str]) -> float | None:
    """A video file's duration in seconds (frames over frame rate), None if unknown."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(os.fspath(path))
    try:
        frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        rate = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    return frames / rate if frames > 0 and rate > 0 else None
