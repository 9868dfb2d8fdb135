"""The soak's mix of requests: valid uploads, invalid ones and hostile ones, and their bodies."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

#: Uploads over this many bytes get 413 during the soak (the default is 200 MiB: too big
#: to send many times over loopback on a small machine).
MAX_UPLOAD_BYTES = 1024 * 1024
#: Kinds of request and their weights in the mix.
MIX: dict[str, int] = {
    "valid": 8,
    "valid_multipart": 2,
    "image": 2,
    "not_video": 1,
    "truncated": 1,
    "wrong_content_type": 1,
    "oversize": 1,
    "hls_playlist": 1,
    "concat_script": 1,
    "huge_resolution": 1,
    "random_bytes": 1,
}
VALID_KINDS = frozenset({"valid", "valid_multipart", "image"})


def encode_clip(width: int, height: int, frames: int, seed: int = 0, flat: bool = False) -> bytes:
    """A small H.264 MP4 of moving noise (or one flat grey, which compresses to little)."""
    import av

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        base = (
            np.full((height, width, 3), 128, dtype=np.uint8)
            if flat
            else rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        )
        for i in range(frames):
            image = np.roll(base, 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def encode_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A JPEG of noise (no face: scored as a whole frame, as a faceless video frame is)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@dataclass(frozen=True)
class Payload:
    """One request body and how it is sent."""

    body: bytes
    content_type: str
    multipart: bool = False


def payloads(seed: int = 0) -> dict[str, Payload]:
    """The bodies of every kind in :data:`MIX`, built once."""
    rng = random.Random(seed)
    clip = encode_clip(320, 240, 25, seed)
    huge = encode_clip(7680, 4320, 2, seed, flat=True)  # 8K: over the default GATEWAY_MAX_PIXELS
    playlist = (
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
        b"http://127.0.0.1:9/segment.ts\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    concat = (
        b"ffconcat version 1.0\nfile '/etc/passwd'\nfile 'subfile,,start,0,end,1,,:/etc/hosts'\n"
    )
    return {
        "valid": Payload(clip, "video/mp4"),
        "valid_multipart": Payload(clip, "video/mp4", multipart=True),
        "image": Payload(encode_jpeg(320, 240, seed), "image/jpeg"),
        "not_video": Payload(b"this is a text file, not a video\n" * 64, "video/mp4"),
        "truncated": Payload(clip[: len(clip) // 3], "video/mp4"),
        "wrong_content_type": Payload(clip, "text/plain"),
        "oversize": Payload(clip * (MAX_UPLOAD_BYTES // len(clip) + 2), "video/mp4"),
        "hls_playlist": Payload(playlist, "video/mp4"),
        "concat_script": Payload(concat, "video/mp4"),
        "huge_resolution": Payload(huge, "video/mp4"),
        "random_bytes": Payload(rng.randbytes(64 * 1024), "video/mp4"),
    }
