"""The still-image reader: :func:`gateway.pipeline.image.probe_image`, then the frame decoded.

Bytes that do not start as a JPEG, PNG or WebP file are not an image to this reader
(:func:`gateway.pipeline.image.sniff_image_type` says so, and the video probe takes them); the rest
are probed with the gateway's default pixel limit and, when accepted, decoded into the
one upright, shaped frame (:func:`gateway.pipeline.image.iter_image_frames`) at the default size.
"""

from __future__ import annotations

from gateway.errors import ImageTooLarge, InvalidImage
from gateway.pipeline.image import iter_image_frames, probe_image, sniff_image_type
from gateway.pipeline.video import FrameShaper
from tests.fuzz.support import default_video_limits, gateway_default, scratch_file

#: What the image reader documents raising for a picture it refuses.
EXPECTED = (InvalidImage, ImageTooLarge)
LIMITS = default_video_limits()
MAX_SIDE = gateway_default("frame_max_side")


def TestOneInput(data: bytes) -> None:
    """Probe and decode ``data`` as an uploaded image."""
    path = scratch_file(data)
    media_type = sniff_image_type(path)
    if media_type is None:
        return
    try:
        info = probe_image(path, media_type, LIMITS)
        frames = list(iter_image_frames(path, info, shaper=FrameShaper(max_side=MAX_SIDE)))
    except EXPECTED:
        return
    assert len(frames) == 1
    image = frames[0].image
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert max(image.shape[:2]) <= MAX_SIDE
