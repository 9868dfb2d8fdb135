"""Encode real still images (JPEG, PNG, WebP) of a face for tests, with Pillow."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.videos import frame_pattern

#: A genuine face photograph of the shared data (an aligned face crop, 256 x 256).
FACE_IMAGE = Path("images_mesonet-test") / "real00240.jpg"
#: Pillow's format name by file suffix.
FORMATS = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
#: The EXIF orientation tag, and the value that says "turn 90 degrees clockwise to display".
ORIENTATION_TAG = 0x0112
ROTATE_90_CW = 6


def face_scene(shared_data: Path, width: int = 480, height: int = 320) -> Image.Image:
    """An upright RGB picture: the shared face photograph in the left half, over the test
    pattern (with its bright square top left), so that a box says which way is up."""
    scene = Image.fromarray(frame_pattern(0, width, height))
    side = int(height * 0.8)
    with Image.open(shared_data / FACE_IMAGE) as face:
        scene.paste(face.convert("RGB").resize((side, side)), (width // 16, (height - side) // 2))
    return scene


def write_image(path: Path, image: Image.Image, *, orientation: int | None = None) -> Path:
    """Save ``image`` in the format its suffix names; with ``orientation``, the pixels are
    stored turned so that the EXIF ``orientation`` (only ``6`` here) shows them upright."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = image
    exif = Image.Exif()
    if orientation is not None:
        if orientation != ROTATE_90_CW:
            raise ValueError("only orientation 6 is written here")
        # Orientation 6 displays the stored picture turned 90 degrees clockwise, so the
        # picture is stored turned 90 degrees counter-clockwise (Pillow's ROTATE_90).
        stored = image.transpose(Image.Transpose.ROTATE_90)
        exif[ORIENTATION_TAG] = orientation
    options: dict[str, object] = {"exif": exif.tobytes()} if orientation is not None else {}
    if FORMATS[path.suffix] == "JPEG":
        options["quality"] = 92
    stored.save(path, FORMATS[path.suffix], **options)
    return path


def png_bomb(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A valid PNG of some hundred kilobytes declaring ``width`` x ``height`` black pixels
    (one bit each): a zlib stream of zero rows inflates about a thousandfold."""
    raw = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then one bit per pixel
    data = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def encoded(image: Image.Image, fmt: str) -> bytes:
    """``image`` encoded as ``fmt`` (a Pillow format name), in memory."""
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def pixels(path: Path) -> np.ndarray:
    """The upright RGB pixels of the image at ``path``."""
    from PIL import ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
