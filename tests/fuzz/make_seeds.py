"""The fuzz targets' seeds: text seeds committed, media seeds made where they are used.

Small valid inputs of every shape each parser accepts, a few it must refuse (truncated,
garbled, a playlist, a file of the wrong kind), made with PyAV, Pillow and c2pa's own
signer, so that libFuzzer starts from the parser's interesting paths. Deterministic but
for the C2PA signatures (new throw-away keys each time).

Two kinds, by their bytes: **text seeds** (JSON bodies, live messages, a playlist, text
multipart bodies) are committed under ``corpus/<target>/``, written by
``python -m tests.fuzz.make_seeds [target ...]`` (every target when none is named);
**binary seeds** (clips, images, signed files, request bodies that carry them) are never
committed: :func:`generated` makes them on first use into ``var/fuzz/seeds/<target>/``
and again whenever this module changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.content_credentials import (
    TRAINED,
    SigningCredentials,
    garble_manifest,
    make_credentials,
)
from tests.fuzz.registry import CORPUS, GENERATED

#: (container format, codec, pixel format, suffix) of the tiny clips.
CLIPS = (
    ("mp4", "libx264", "yuv420p", "mp4"),
    ("mov", "mjpeg", "yuvj420p", "mov"),
    ("webm", "libvpx", "yuv420p", "webm"),
    ("matroska", "libvpx-vp9", "yuv420p", "mkv"),
    ("avi", "mpeg4", "yuv420p", "avi"),
    ("mpegts", "libx264", "yuv420p", "ts"),
)


def _pattern(index: int, width: int, height: int) -> np.ndarray:
    """A small RGB gradient that moves with ``index``."""
    x = (np.arange(width)[None, :] * 16 + index * 8) % 256
    y = (np.arange(height)[:, None] * 16) % 256
    return np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), index * 40 % 256),
        ],
        axis=2,
    ).astype(np.uint8)


def clip(
    fmt: str,
    codec: str,
    pix_fmt: str,
    *,
    frames: int = 3,
    side: int = 16,
    rotation: int | None = None,
) -> bytes:
    """A tiny clip of ``frames`` frames of ``side`` x ``side`` pixels."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width = stream.height = side
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "40"}
        stream.codec_context.time_base = Fraction(1, 10)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_pattern(i, side, side), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return out.getvalue()


def image(fmt: str, mode: str = "RGB", side: int = 16, **save: object) -> bytes:
    """A tiny picture in Pillow format ``fmt`` and ``mode``."""
    picture = Image.fromarray(_pattern(0, side, side)).convert(mode)
    out = io.BytesIO()
    picture.save(out, fmt, **save)
    return out.getvalue()


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return image("JPEG", exif=exif.tobytes())


def _grey16_png() -> bytes:
    picture = Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def _animated_png() -> bytes:
    frames = [Image.fromarray(_pattern(i, 8, 8)) for i in range(2)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def images() -> dict[str, bytes]:
    """The still images: each format and mode the reader handles, and broken ones."""
    png = image("PNG")
    return {
        "rgb.jpg": image("JPEG", quality=50),
        "grey.jpg": image("JPEG", "L"),
        "progressive.jpg": image("JPEG", progressive=True),
        "exif-rotated.jpg": _exif_rotated_jpeg(),
        "rgb.png": png,
        "palette.png": image("PNG", "P"),
        "rgba.png": image("PNG", "RGBA"),
        "grey16.png": _grey16_png(),
        "animated.png": _animated_png(),
        "lossy.webp": image("WEBP", quality=30),
        "lossless.webp": image("WEBP", lossless=True),
        "truncated.png": png[: len(png) // 2],
        "huge-header.png": png[:16] + (60000).to_bytes(4, "big") * 2 + png[24:],
    }


def videos() -> dict[str, bytes]:
    """The tiny clips in each allowed container, and inputs the probe must refuse."""
    seeds = {f"tiny.{suffix}": clip(fmt, codec, pix) for fmt, codec, pix, suffix in CLIPS}
    seeds["rotated.mp4"] = clip("mp4", "libx264", "yuv420p", rotation=90)
    mp4 = seeds["tiny.mp4"]
    seeds["truncated.mp4"] = mp4[: len(mp4) // 2]
    seeds["playlist.m3u8"] = b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    seeds["ffconcat.txt"] = b"ffconcat version 1.0\nfile /etc/hostname\n"
    seeds["text.txt"] = b"not a video at all\n"
    return seeds


def signed(credentials: SigningCredentials, source: bytes, media_type: str) -> bytes:
    """``source`` with a C2PA manifest declaring AI generation, signed by ``credentials``;
    without the thumbnail c2pa adds by default, which would make the seed tens of KB."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "fuzz-seeds", "version": "1.0"}],
        "title": "seed",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": TRAINED}]},
            }
        ],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.key_pem, None
    )
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with context, c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context) as b:
        b.sign(signer, media_type, io.BytesIO(source), out)
    return out.getvalue()


def credentials_seeds() -> dict[str, bytes]:
    """Signed files in the containers c2pa reads, garbled and truncated ones, none at all."""
    creds = make_credentials("Fuzz Signer")
    mp4 = signed(creds, clip("mp4", "libx264", "yuv420p"), "video/mp4")
    jpeg = signed(creds, image("JPEG"), "image/jpeg")
    seeds = {
        "signed.mp4": mp4,
        "signed.jpg": jpeg,
        "signed.png": signed(creds, image("PNG"), "image/png"),
        "signed.webp": signed(creds, image("WEBP"), "image/webp"),
        "truncated-signed.jpg": jpeg[: len(jpeg) * 2 // 3],
        "unsigned.jpg": image("JPEG"),
        "unsigned.mp4": clip("mp4", "libx264", "yuv420p"),
    }
    with tempfile.TemporaryDirectory() as folder:
        src, dest = Path(folder) / "in.mp4", Path(folder) / "out.mp4"
        src.write_bytes(mp4)
        seeds["garbled-manifest.mp4"] = garble_manifest(src, dest).read_bytes()
    return seeds


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "fuzzbound") -> bytes:
    body = b""
    for name, content in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="x"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def uploads() -> dict[str, bytes]:
    """Request bodies as the upload target reads them: flags, header lines, body."""

    def request(flags: int, headers: dict[str, str], body: bytes) -> bytes:
        head = "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()
        return bytes([flags]) + head + b"\n\n" + body

    form = {"content-type": "multipart/form-data; boundary=fuzzbound"}
    small = clip("mp4", "libx264", "yuv420p", frames=1, side=16)
    return {
        "multipart-video": request(0x08, form, _multipart([("video", small)])),
        "multipart-image": request(
            0x02, form, _multipart([("note", b"hi"), ("image", b"\xff\xd8\xff")])
        ),
        "multipart-two-files": request(
            0x10, form, _multipart([("video", b"a" * 40), ("image", b"b")])
        ),
        "multipart-no-file": request(0x00, form, _multipart([("note", b"text")])),
        "multipart-many-parts": request(0x01, form, _multipart([("p", b"x")] * 4)),
        "multipart-tight": request(
            0x01, {**form, "content-length": "900"}, _multipart([("video", b"v" * 600)])
        ),
        "multipart-disconnect": request(0x26, form, _multipart([("video", b"abc")])[:40]),
        "multipart-quoted-boundary": request(
            0x04,
            {"content-type": 'multipart/form-data; boundary="q b"'},
            _multipart([("video", b"z")], "q b"),
        ),
        "multipart-no-boundary": request(0x00, {"content-type": "multipart/form-data"}, b"--x\r\n"),
        "raw-video": request(
            0x0C, {"content-type": "video/mp4", "content-length": str(len(small))}, small
        ),
        "raw-image": request(0x00, {"content-type": "image/png"}, image("PNG", side=4)),
        "raw-octet": request(0x03, {"content-type": "application/octet-stream"}, b"\x00" * 1500),
        "raw-empty": request(0x00, {"content-type": "video/webm"}, b""),
        "text-plain": request(0x00, {"content-type": "text/plain"}, b"hello"),
        "no-content-type": request(0x00, {}, b"body"),
    }


def jobs() -> dict[str, bytes]:
    """Job requests as the jobs target reads them: flags, query, Prefer, Idempotency-Key."""

    def request(flags: int, query: str, prefer: str | None = None, key: str | None = None) -> bytes:
        lines = [query] + [v for v in (prefer, key) if v is not None]
        return bytes([flags]) + "\n".join(lines).encode()

    def url_job(body: object, query: str = "", prefer: str = "", key: str = "k-2") -> bytes:
        """A media URL job: flag bit 1, the three lines, then the JSON body."""
        text = body if isinstance(body, str) else json.dumps(body)
        return bytes([2]) + "\n".join([query, prefer, key, text]).encode()

    cursor = "MTcwMDAwMDAwMC41OmFiYw=="  # base64 of "1700000000.5:abc"
    return {
        "submit-plain": request(0, ""),
        "submit-params": request(
            0,
            "frames=16&fps=2.5&aggregation=mean&explain=true&operating_point=balanced",
            "respond-async, wait=10",
            "k-1",
        ),
        "submit-version-and-label": request(0, "model_version=2&model_label=stable"),
        "submit-callback-literal": request(0, "callback_url=https://93.184.215.14/hook"),
        "submit-callback-private": request(0, "callback_url=https://[::ffff:10.0.0.1]/hook"),
        "submit-callback-name": request(
            0, "callback_url=https%3A%2F%2Freceiver.example.com%3A443%2Fh%3Fa%3D1"
        ),
        "submit-callback-port": request(0, "callback_url=https://example.com:8443/x"),
        "submit-callback-creds": request(0, "callback_url=https://u:p@example.com/"),
        "submit-callback-http": request(0, "callback_url=http://example.com/"),
        "submit-metadata": request(0, "metadata.case=42&metadata.src=cam-1&metadata.bad%20name=x"),
        "submit-empty-key": request(0, "", "", ""),
        "list-cursor": request(1, f"limit=5&cursor={cursor}"),
        "list-bad-cursor": request(1, "cursor=%%%%&limit=0"),
        "json-like": request(0, json.dumps({"callback_url": "https://x"})),
        "url-plain": url_job({"media_url": "https://media.example.com/clip.mp4"}),
        "url-options": url_job(
            {
                "media_url": "https://93.184.215.14/v.mp4?sig=abc",
                "callback_url": "https://93.184.215.14/hook",
                "frames": 8,
                "fps": 2.5,
                "aggregation": "mean",
                "model_version": 1,
                "metadata": {"case": "42"},
            }
        ),
        "url-private": url_job({"media_url": "http://[::ffff:10.0.0.1]:8080/x"}),
        "url-scheme": url_job({"media_url": "file:///etc/passwd"}),
        "url-creds": url_job({"media_url": "https://u:p@example.com/a.jpg"}),
        "url-unknown-field": url_job({"media_url": "https://example.com/", "frame": 3}),
        "url-both-sources": url_job({"media_url": "https://example.com/"}, "frames=4"),
        "url-not-json": url_job('{"media_url": "https://example.com/",'),
        "url-empty": url_job(""),
    }


def live() -> dict[str, bytes]:
    """Live messages as the live target reads them: a flag byte (bit 0: binary; bit 1: a
    video chunk, the container in the upper bits), then the message."""

    def text(body: object) -> bytes:
        return b"\x00" + (body if isinstance(body, str) else json.dumps(body)).encode()

    containers = sorted(("webm", "matroska", "mp4", "mpegts", "ivf"))

    def chunk(container: str, data: bytes) -> bytes:
        return bytes([3 | containers.index(container) << 2]) + data

    webm = clip("webm", "libvpx", "yuv420p")
    return {
        "hello-plain": text({"type": "hello"}),
        "hello-full": text(
            {
                "type": "hello",
                "api_key": "k",
                "model_label": "stable",
                "input": "video",
                "container": "matroska",
                "window": 5,
                "operating_point": "balanced",
            }
        ),
        "hello-unknown-field": text({"type": "hello", "fps": 30}),
        "hello-both-versions": text({"type": "hello", "model_version": 2, "model_label": "a"}),
        "end": text({"type": "end"}),
        "not-an-object": text("[1, 2]"),
        "not-json": text("{'type': 'hello'"),
        "subprotocols": text("deepfake-live.v1, key.abc"),
        "frame.jpg": b"\x01" + image("JPEG", quality=50),
        "frame-rotated.jpg": b"\x01" + _exif_rotated_jpeg(),
        "frame.png": b"\x01" + image("PNG"),
        "frame.webp": b"\x01" + image("WEBP", quality=30),
        "frame-garbage": b"\x01not an image",
        "chunk.webm": chunk("webm", webm),
        "chunk-truncated.webm": chunk("webm", webm[: len(webm) // 2]),
        "chunk.mkv": chunk("matroska", clip("matroska", "libvpx-vp9", "yuv420p")),
        "chunk.ts": chunk("mpegts", clip("mpegts", "libx264", "yuv420p")),
        "chunk-fragmented.mp4": chunk("mp4", _fragmented_mp4()),
        "chunk.ivf": chunk("ivf", clip("ivf", "libvpx", "yuv420p")),
    }


def _fragmented_mp4() -> bytes:
    out = io.BytesIO()
    with av.open(
        out, mode="w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as c:
        stream = c.add_stream("libx264", rate=10)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(_pattern(i, 16, 16), format="rgb24")
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode())
    return out.getvalue()


SEEDS: dict[str, Callable[[], dict[str, bytes]]] = {
    "upload": uploads,
    "probe": lambda: {**videos(), "rgb.jpg": image("JPEG"), "rgb.png": image("PNG")},
    "image": images,
    "provenance": credentials_seeds,
    "jobs": jobs,
    "live": live,
}


def is_text(data: bytes) -> bool:
    """Whether a seed is text (committed) rather than binary media (generated)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _source_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def generated(target: str) -> Path:
    """The folder of ``target``'s binary seeds, made now unless made by this same code.

    Test processes starting together (pytest-xdist's workers collect at once) take a file
    lock, so one makes the folder and the others wait and find it in place: without it one
    could move the folder aside while another lists it. Written to a private folder and
    renamed into place, so that an interrupted run never leaves a half-written one.
    """
    folder = GENERATED / target
    stamp = folder / ".made-by"
    digest = _source_digest()
    GENERATED.mkdir(parents=True, exist_ok=True)
    with open(GENERATED / f".{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == digest:
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{target}-", dir=GENERATED))
        for name, data in SEEDS[target]().items():
            if not is_text(data):
                (staging / name).write_bytes(data)
        (staging / ".made-by").write_text(digest)
        old = GENERATED / f".{target}-old-{os.getpid()}"
        if folder.exists():
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    return folder


def main(targets: list[str]) -> None:
    """Replace the committed (text) seeds of ``targets`` (every target when none is named)
    with freshly made ones; the binary ones are made again on their next use."""
    for target in targets or list(SEEDS):
        folder = CORPUS / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in SEEDS[target]().items():
            if is_text(data):
                (folder / name).write_bytes(data)
        shutil.rmtree(GENERATED / target, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
