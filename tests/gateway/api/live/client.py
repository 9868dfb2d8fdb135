"""A live client for the tests: the ``websockets`` library over wss, trusting the test
gateway's self-signed certificate, with every message it hears kept in order."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import GatewayHandle

SUBPROTOCOL = "deepfake-live.v1"
#: Longest wait for one message in a test: far past every deadline of the protocol.
RECEIVE_TIMEOUT_S = 30.0


def live_url(gateway: GatewayHandle) -> str:
    return gateway.url.replace("https://", "wss://", 1) + "/v1/live"


@dataclass
class Heard:
    """One server message and when the client read it (``time.monotonic()``)."""

    message: dict[str, Any]
    at: float


@dataclass
class LiveClient:
    """One connection and what it heard."""

    ws: ClientConnection
    heard: list[Heard] = field(default_factory=list)
    credit: int = 0

    async def next(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next text message (credit is added up as it comes)."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout_s)
        assert isinstance(raw, str), "the server sends only text"
        message = json.loads(raw)
        self.heard.append(Heard(message, time.monotonic()))
        if message["type"] == "ready":
            self.credit += message["credit"]
        elif message["type"] == "credit":
            self.credit += message["frames"]
        return message

    async def until(self, kind: str, timeout_s: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """Read until a message of type ``kind``."""
        deadline = time.monotonic() + timeout_s
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    async def closed(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> tuple[int | None, str]:
        """Read everything up to the close; the close code and reason."""
        try:
            while True:
                await self.next(timeout_s)
        except ConnectionClosed as exc:
            received = exc.rcvd
            return (received.code, received.reason) if received is not None else (None, "")

    async def send_with_credit(self, frame: bytes) -> None:
        """Send ``frame`` once credit allows, reading what comes meanwhile."""
        while self.credit <= 0:
            await self.next()
        self.credit -= 1
        await self.ws.send(frame)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [h.message for h in self.heard if h.message["type"] == kind]


async def open_live(
    gateway: GatewayHandle,
    *,
    key: str | None = None,
    hello: dict[str, Any] | None = None,
    subprotocols: Iterable[str] | None = None,
    **options: Any,
) -> LiveClient:
    """Connect; with ``key``, offer it as the ``key.<key>`` subprotocol; then send ``hello``
    (when given) and return without waiting for ``ready``."""
    offered = list(subprotocols) if subprotocols is not None else [SUBPROTOCOL]
    if key is not None:
        offered.append(f"key.{key}")
    ws = await connect(
        live_url(gateway),
        ssl=gateway.ssl_context(),
        subprotocols=offered,  # type: ignore[arg-type]
        open_timeout=30,
        **options,
    )
    client = LiveClient(ws)
    if hello is not None:
        await ws.send(json.dumps(hello))
    return client


def jpeg_frames(clip: Path, count: int, *, side: int = 320) -> list[bytes]:
    """The first ``count`` frames of ``clip`` as JPEG files, at most ``side`` pixels wide."""
    frames: list[bytes] = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            picture = frame.to_image()
            picture.thumbnail((side, side))
            frames.append(encode(np.asarray(picture), "JPEG"))
            if len(frames) == count:
                break
    return frames


def encode(pixels: np.ndarray, fmt: str = "JPEG") -> bytes:
    import io

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, quality=85)
    return out.getvalue()


def metric(gateway: GatewayHandle, sample: str) -> float:
    """The value of one sample of ``/metrics`` (``name{label="value"}``; 0 when absent)."""
    with gateway.client() as http:
        text = http.get("/metrics").text
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0
