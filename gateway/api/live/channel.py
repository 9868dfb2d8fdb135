"""How a live session talks back: serialised sends with a deadline, and how it closes.

Every server message goes through one :class:`Channel`, one at a time. A send that cannot
complete within the idle time (the client reads nothing and its buffers are full) ends the
session as ``not_reading``; nothing more is queued for such a client, so what the gateway
holds for it stays bounded.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from ...errors import GatewayError
from . import protocol

log = logging.getLogger(__name__)


class Close(Exception):
    """How a session ends: the close code (None: the connection is gone, nothing to send),
    the reason counted in ``gateway_live_closed_total``, the ``error`` to send first, and
    whether a ``summary`` goes out before it."""

    def __init__(
        self,
        code: int | None,
        reason: str,
        error: tuple[str, str] | None = None,
        *,
        summary: bool = False,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error
        self.summary = summary

    @classmethod
    def of_error(cls, code: int, exc: GatewayError, reason: str | None = None) -> Close:
        """The close for a gateway error: its code is the ``error``'s (and the reason's)."""
        return cls(code, reason or exc.code, (exc.code, exc.message))

    @classmethod
    def of_protocol(cls, exc: protocol.ProtocolError) -> Close:
        """The close for a client message that broke the protocol."""
        reason = "overrun" if exc.close_code == protocol.CLOSE_TOO_MANY else exc.code
        return cls(exc.close_code, reason, (exc.code, exc.message))


class Channel:
    """The server's side of one WebSocket: one message at a time, each within ``timeout_s``."""

    def __init__(self, websocket: WebSocket, timeout_s: float) -> None:
        self.ws = websocket
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        #: Set once a send failed: nothing more is sent.
        self.broken = False

    async def send(self, message: BaseModel) -> None:
        """Send ``message`` as JSON; :class:`Close` when the client is gone or not reading."""
        if self.broken:
            raise Close(None, "disconnected")
        try:
            async with asyncio.timeout(self.timeout_s), self._lock:
                await self.ws.send_text(message.model_dump_json())
        except TimeoutError:
            self.broken = True
            raise Close(None, "not_reading") from None
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            # RuntimeError: Starlette's word for a send after the close.
            self.broken = True
            raise Close(None, "disconnected") from exc

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (quietly when the connection is gone already)."""
        if self.broken:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.ws.close(code=code, reason=reason)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            log.info("live close not sent", extra={"error": repr(exc)})
        self.broken = True
