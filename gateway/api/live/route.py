"""``/v1/live``: the WebSocket route. Authentication, the ``hello``, streams per key, closes.

The key comes in the ``key.<key>`` subprotocol or the ``hello``'s ``api_key``, never the
URL, and is checked by the gateway's one :class:`~gateway.api.auth.ApiKeyVerifier`. Every
close is counted in ``gateway_live_closed_total{reason}`` and logged with the session id
(the log lines' request id, and the receipt's ``request_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator

from fastapi import APIRouter, WebSocket

from ... import metrics
from ...errors import AuthError, ModelNotFound, UnknownOperatingPoint, UpstreamError
from ...logs import request_id_var
from ...pipeline.pipeline_config import PipelineConfig
from ...settings import Settings
from ...upstream.serving_types import ModelRef
from ..auth import ApiKeyVerifier
from . import protocol
from .channel import Channel, Close
from .scoring import SessionModel, resolve_model
from .session import LiveLimits, LiveSession

log = logging.getLogger(__name__)

router = APIRouter()


class LiveStreams:
    """Live sessions open per API key (in memory: per gateway replica)."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, key_id: str) -> Iterator[None]:
        """Count one session of ``key_id`` for the block; :class:`Close` 4429 past the cap."""
        if self._open.get(key_id, 0) >= self.per_key:
            raise Close(
                protocol.CLOSE_TOO_MANY,
                "too_many_streams",
                ("too_many_streams", f"over {self.per_key} live streams open for this API key"),
            )
        self._open[key_id] = self._open.get(key_id, 0) + 1
        try:
            yield
        finally:
            self._open[key_id] -= 1
            if not self._open[key_id]:
                del self._open[key_id]


def _check_key(verifier: ApiKeyVerifier, key: str | None) -> str:
    """The key's id; :class:`Close` 4401 for a missing or wrong key."""
    try:
        return verifier.verify(f"Bearer {key}" if key else None)
    except AuthError as exc:
        code = "missing_api_key" if key is None else exc.code
        message = "send the API key in the key.<key> subprotocol or the hello's api_key"
        raise Close(
            protocol.CLOSE_UNAUTHENTICATED,
            "unauthenticated",
            (code, exc.message if key else message),
        ) from exc


async def _hello(websocket: WebSocket, timeout_s: float, authenticated: bool) -> protocol.Hello:
    """The first message, a ``hello``; :class:`Close` for anything else or nothing in time
    (4401 while no key is known: nothing else is listened to then)."""
    unauthenticated = Close(
        protocol.CLOSE_UNAUTHENTICATED,
        "unauthenticated",
        ("missing_api_key", "the first message must be a hello with a valid api_key"),
    )
    try:
        async with asyncio.timeout(timeout_s):
            message = await websocket.receive()
    except TimeoutError:
        if not authenticated:
            raise unauthenticated from None
        raise Close(
            protocol.CLOSE_TIMEOUT, "idle", ("request_timeout", "no hello in time")
        ) from None
    if message["type"] == "websocket.disconnect":
        raise Close(None, "disconnected")
    text = message.get("text")
    try:
        if text is None:
            raise protocol.ProtocolError("bad_request", "the first message must be a hello")
        hello = protocol.parse_client_text(text)
        if not isinstance(hello, protocol.Hello):
            raise protocol.ProtocolError("bad_request", "the first message must be a hello")
    except protocol.ProtocolError as exc:
        if not authenticated:
            raise unauthenticated from exc
        raise Close.of_protocol(exc) from exc
    return hello


async def _model(websocket: WebSocket, settings: Settings, hello: protocol.Hello) -> SessionModel:
    """The version that scores the session; :class:`Close` when there is none to be had."""
    ref = ModelRef(settings.model_name, version=hello.model_version, label=hello.model_label)
    try:
        return await resolve_model(
            websocket.app.state.client,
            ref,
            PipelineConfig.from_settings(settings),
            aggregation=settings.aggregation,
            operating_point=hello.operating_point,
        )
    except ModelNotFound as exc:
        raise Close.of_error(protocol.CLOSE_NOT_FOUND, exc) from exc
    except UnknownOperatingPoint as exc:
        raise Close.of_error(protocol.CLOSE_BAD_REQUEST, exc, "bad_request") from exc
    except UpstreamError as exc:
        raise Close.of_error(protocol.CLOSE_TRY_AGAIN, exc, "serving_unavailable") from exc


@router.websocket("/v1/live")
async def live(websocket: WebSocket) -> None:
    """A live session (docs/live.md)."""
    settings: Settings = websocket.app.state.settings
    offered = list(websocket.scope.get("subprotocols") or [])
    chosen = protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in offered else None
    await websocket.accept(subprotocol=chosen)
    session_id = uuid.uuid4().hex
    token = request_id_var.set(session_id)
    channel = Channel(websocket, settings.live_idle_seconds)
    metrics.LIVE_SESSIONS.inc()
    try:
        try:
            close = await _serve(websocket, channel, settings, session_id, offered)
        except Close as exc:
            close = exc
        metrics.LIVE_CLOSED.labels(reason=close.reason).inc()
        log.info("live session closed", extra={"reason": close.reason, "code": close.code})
        await _close(channel, close)
    finally:
        metrics.LIVE_SESSIONS.dec()
        request_id_var.reset(token)


async def _serve(
    websocket: WebSocket, channel: Channel, settings: Settings, session_id: str, offered: list[str]
) -> Close:
    verifier: ApiKeyVerifier = websocket.app.state.verifier
    key = protocol.key_from_subprotocols(offered)
    key_id = _check_key(verifier, key) if key is not None else None
    hello = await _hello(websocket, settings.live_hello_seconds, key_id is not None)
    if hello.api_key is not None or key_id is None:
        key_id = _check_key(verifier, hello.api_key)
    streams: LiveStreams = websocket.app.state.live_streams
    with streams.hold(key_id):
        model = await _model(websocket, settings, hello)
        session = LiveSession(
            websocket,
            channel,
            session_id=session_id,
            hello=hello,
            model=model,
            client=websocket.app.state.client,
            config=PipelineConfig.from_settings(settings),
            limits=LiveLimits.from_settings(settings),
            receipt_keys=websocket.app.state.receipt_keys,
        )
        log.info(
            "live session ready",
            extra={"key_id": key_id, "input": hello.input, "version": model.version},
        )
        close = await session.run()
        if close.summary:
            with contextlib.suppress(Close):
                await channel.send(session.summary())
        return close


async def _close(channel: Channel, close: Close) -> None:
    """Send the close's ``error`` (if any), then close with its code."""
    if close.code is None:
        return
    if close.error is not None:
        code, message = close.error
        with contextlib.suppress(Close):
            await channel.send(protocol.Error(code=code, message=message))
    await channel.close(close.code, close.reason)
