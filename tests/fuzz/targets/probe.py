"""The source sniffer and the container probe: :func:`gateway.pipeline.sources.probe_upload`.

The bytes are written to a file and probed as the gateway probes an upload: told apart by
their magic numbers as an image or a video, opened by FFmpeg with the gateway's format and
protocol whitelists, and checked against its default limits.
"""

from __future__ import annotations

from gateway.errors import ImageTooLarge, InvalidImage, InvalidVideo, VideoLimitExceeded
from gateway.pipeline.sources import probe_upload, upload_media_type
from tests.fuzz.support import default_video_limits, scratch_file

#: What the probe documents raising for an upload it refuses.
EXPECTED = (InvalidVideo, VideoLimitExceeded, InvalidImage, ImageTooLarge)
LIMITS = default_video_limits()


def TestOneInput(data: bytes) -> None:
    """Probe ``data`` as an upload; a refusal is expected, anything else is a crash."""
    path = scratch_file(data)
    media_type = upload_media_type(path)
    try:
        info = probe_upload(path, LIMITS)
    except EXPECTED:
        return
    # What the probe lets through is within the limits the pipeline relies on.
    assert info.width > 0 and info.height > 0
    assert info.rotation in (0, 90, 180, 270)
    assert info.media_type == media_type
    if info.kind == "image":
        assert info.width * info.height <= LIMITS.max_image_pixels
    else:
        assert info.width * info.height <= LIMITS.max_pixels
        assert info.frame_count <= LIMITS.max_frames
        assert info.duration_s <= LIMITS.max_duration_s
