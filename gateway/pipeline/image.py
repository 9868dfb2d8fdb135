"""Still images (JPEG, PNG, WebP): probed and decoded into the one frame a video would give.

An image is told by its first bytes (:func:`sniff_image_type`), never by the type a client
declares, and is then read by Pillow with that one format's plugin only. Pillow reads the
header lazily, so the pixel count is checked (:data:`~gateway.pipeline.probe.VideoLimits`'s
``max_image_pixels``) before any pixel is decoded: a small file that declares a huge
picture (a decompression bomb) is refused without being inflated. Pillow's own bomb check
(``Image.MAX_IMAGE_PIXELS``, an error past twice it, raised inside ``Image.open``) stays as
a backstop and is answered with the same error.

The decoded picture is turned upright by its EXIF orientation (``ImageOps.exif_transpose``,
mirrored orientations included), converted to RGB and handed to the same frame rule every
video frame goes through (:class:`gateway.pipeline.video.FrameShaper`: the size cap, a version's
``frame_min_side``, one swscale call, the letterbox canvas). It becomes one
:class:`~gateway.pipeline.video.SampledFrame` at t = 0, so detection, calibration, operating points
and reasons are the video path's own.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageTooLarge, InvalidImage
from .budget import DecodeBudget
from .probe import VideoInfo, VideoLimits
from .video import FrameShaper, SampledFrame

log = logging.getLogger(__name__)

#: The image types accepted, by MIME type: Pillow's format names for each (a JPEG with a
#: multi-picture index, as many cameras and phones write, opens as MPO: its first picture).
IMAGE_FORMATS = {"image/jpeg": ("JPEG", "MPO"), "image/png": ("PNG",), "image/webp": ("WEBP",)}
#: The codec each type is reported with.
CODECS = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
#: EXIF tag of the orientation.
ORIENTATION_TAG = 0x0112
#: Clockwise degrees each EXIF orientation turns the stored picture to display it (2, 4, 5
#: and 7 are also mirrored, which ``exif_transpose`` undoes as well).
ORIENTATION_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}
#: Client-facing reason; Pillow's text (which may name the server's path) goes to the log.
UNDECODABLE = "the image cannot be decoded (truncated or corrupt)"


def sniff_image_type(path: Path) -> str | None:
    """The MIME type of the image at ``path`` from its magic numbers; None when it is not a
    JPEG, PNG or WebP file."""
    with path.open("rb") as file:
        return sniff_image_bytes(file.read(16))


def sniff_image_bytes(head: bytes) -> str | None:
    """The MIME type of the image whose first bytes are ``head`` (16 are enough); None when
    it is not a JPEG, PNG or WebP file."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _open(path: Path | BinaryIO, media_type: str, max_pixels: int) -> Image.Image:
    """Open ``path`` (a file, or bytes in memory) lazily (header only) with the plugin of
    ``media_type`` alone, refused when its header declares more than ``max_pixels`` pixels."""
    expected = IMAGE_FORMATS[media_type]
    try:
        image = Image.open(path, formats=list(expected))
    except Image.DecompressionBombError as exc:
        log.info("upload refused: decompression bomb", extra={"error": str(exc)})
        # Pillow refuses past twice its MAX_IMAGE_PIXELS, which may lie under the setting.
        ceiling = 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)
        raise ImageTooLarge(
            f"the image declares more than {min(max_pixels, ceiling)} pixels"
        ) from exc
    except Exception as exc:  # Pillow's plugins raise many types for hostile headers
        log.info("upload refused: image header", extra={"error": str(exc)})
        raise InvalidImage(UNDECODABLE) from exc
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLarge(
            f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels"
        )
    if image.format not in expected or width <= 0 or height <= 0:
        image.close()
        raise InvalidImage(UNDECODABLE)
    return image


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 when there is none, or none that is valid)."""
    value = image.getexif().get(ORIENTATION_TAG, 1)
    return value if value in ORIENTATION_ROTATION else 1


def _rgb8(image: Image.Image) -> np.ndarray:
    """``image`` as ``uint8`` RGB. Pillow's own conversion clips 16-bit grey (a 16-bit
    grey PNG) at 255, which would turn it white: its top 8 bits are kept instead."""
    if image.mode.startswith("I"):  # "I;16", "I;16B", "I" (16-bit values in 32 bits)
        grey = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _upright_rgb(path: Path | BinaryIO, media_type: str, max_pixels: int) -> np.ndarray:
    """The whole picture, decoded, upright and RGB ``uint8 [H, W, 3]``."""
    with _open(path, media_type, max_pixels) as image:
        try:
            # Only the first frame of an animated PNG or WebP: one image, one frame.
            image.load()
            # In place: an upright picture is not copied once more.
            ImageOps.exif_transpose(image, in_place=True)
            return _rgb8(image)
        except Exception as exc:  # truncated data, bad chunks, broken EXIF: all the upload's
            log.info("upload refused: image data", extra={"error": str(exc)})
            raise InvalidImage(UNDECODABLE) from exc


def probe_image(path: Path, media_type: str, limits: VideoLimits) -> VideoInfo:
    """Check that ``path`` holds a decodable ``media_type`` image within ``limits``.

    The pixel count is checked from the header before decoding (:class:`ImageTooLarge`);
    the picture is then decoded once, so a truncated or corrupt one is refused here
    (:class:`InvalidImage`), as the video probe decodes a first frame. Width and height are
    as displayed (after the EXIF orientation).
    """
    with _open(path, media_type, limits.max_image_pixels) as image:
        try:
            rotation = ORIENTATION_ROTATION[_orientation(image)]
            image.load()
        except Exception as exc:
            log.info("upload refused: image data", extra={"error": str(exc)})
            raise InvalidImage(UNDECODABLE) from exc
        width, height = image.size
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        duration_s=0.0,
        fps=0.0,
        width=width,
        height=height,
        rotation=rotation,
        frame_count=1,
        codec=CODECS[media_type],
        kind="image",
        media_type=media_type,
    )


def iter_image_frames(
    path: Path,
    info: VideoInfo,
    *,
    shaper: FrameShaper,
    budget: DecodeBudget | None = None,
) -> Iterator[SampledFrame]:
    """The image probed as ``info``, as one upright RGB frame at t = 0, shaped by ``shaper``
    (the rule every video frame follows). ``budget`` is charged for the decoded pixels."""
    assert info.media_type is not None
    if budget is not None:
        budget.check()
    # No more pixels than the probe saw and allowed: the file is the one probed.
    pixels = _upright_rgb(path, info.media_type, info.width * info.height)
    if budget is not None:
        budget.add_frame(pixels.shape[1], pixels.shape[0])
    yield shaped_frame(pixels, shaper)


def shaped_frame(
    pixels: np.ndarray, shaper: FrameShaper, *, index: int = 0, t_s: float = 0.0
) -> SampledFrame:
    """Upright RGB ``pixels`` as the frame to send, shaped by ``shaper`` (the frame rule)."""
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    del pixels  # the frame holds its own copy; a large picture is not kept twice
    # Already upright: the EXIF orientation was applied when decoding.
    image, content = shaper.shape(frame, rotation=0)
    return SampledFrame(index=index, t_s=t_s, image=image, content=content)


def decode_image_bytes(data: bytes, max_pixels: int) -> np.ndarray:
    """The JPEG, PNG or WebP image ``data`` (told by its first bytes), decoded upright in RGB
    ``uint8 [H, W, 3]``; the pixel count is checked from the header first.

    Raises :class:`InvalidImage` for anything else or a broken picture, and
    :class:`ImageTooLarge` past ``max_pixels``.
    """
    media_type = sniff_image_bytes(data[:16])
    if media_type is None:
        raise InvalidImage("the frame is not a JPEG, PNG or WebP image")
    return _upright_rgb(io.BytesIO(data), media_type, max_pixels)
