"""The live endpoint's messages: the client text parser and the binary frame readers.

An input is one flag byte, then the message. Flag bit 0 clear: the message is a text
message (UTF-8, as the WebSocket layer delivers only valid text) read by
:func:`gateway.api.live.protocol.parse_client_text`, and its comma-separated pieces by
:func:`gateway.api.live.protocol.key_from_subprotocols`. Bit 0 set, bit 1 clear: a binary
frame read as a still image by :class:`gateway.api.live.frames.ImageReader` at the gateway's
default limits. Bits 0 and 1 set: the chunk of a video stream, the container picked by
the flag's upper bits, read through a :class:`~gateway.api.live.frames.BytePipe` by a
:class:`~gateway.api.live.frames.StreamDecoder` on a thread, as a session reads it.
"""

from __future__ import annotations

import asyncio
import contextlib

from gateway.api.live.frames import BytePipe, FrameRule, ImageReader, LiveFrame, StreamDecoder
from gateway.api.live.protocol import (
    CONTAINERS,
    End,
    Hello,
    ProtocolError,
    key_from_subprotocols,
    parse_client_text,
)
from gateway.errors import ImageTooLarge, InvalidImage, InvalidVideo
from tests.fuzz.support import gateway_default

RULE = FrameRule(max_side=gateway_default("frame_max_side"))
READER = ImageReader(RULE, gateway_default("max_image_pixels"))
MAX_PIXELS = gateway_default("max_pixels")
NAMES = sorted(CONTAINERS)


def _text(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        message = parse_client_text(text)
    except ProtocolError as exc:
        assert exc.code == "bad_request" and exc.message
    else:
        assert isinstance(message, Hello | End)
    key = key_from_subprotocols([p.strip() for p in text.split(",")])
    assert key is None or key


def _image(data: bytes) -> None:
    try:
        live = READER.read(data, index=0, t_s=0.0, received=0.0)
    except (InvalidImage, ImageTooLarge):
        return
    image = live.frame.image
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert max(image.shape[:2]) <= RULE.max_side
    assert min(live.size) > 0


async def _video(data: bytes, container: str) -> list[LiveFrame]:
    frames: list[LiveFrame] = []
    pipe = BytePipe(max(1, len(data)))
    decoder = StreamDecoder(
        pipe,
        container,
        RULE,
        max_fps=5.0,
        max_pixels=MAX_PIXELS,
        wanted=lambda: True,
        deliver=frames.append,
    )
    await pipe.put(data)
    pipe.close()
    with contextlib.suppress(InvalidVideo, ImageTooLarge):
        await asyncio.to_thread(decoder.run)
    return frames


def TestOneInput(data: bytes) -> None:
    """Read ``data`` as one message of a live session."""
    if not data:
        return
    flags, message = data[0], data[1:]
    if not flags & 1:
        _text(message)
    elif not flags & 2:
        _image(message)
    else:
        for frame in asyncio.run(_video(message, NAMES[(flags >> 2) % len(NAMES)])):
            assert frame.frame.image.ndim == 3 and frame.frame.t_s >= 0
