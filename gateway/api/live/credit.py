"""A live session's credit: how many more binary messages the client may send.

The server keeps at most ``window`` messages granted or in hand. Grants are paced by a
token bucket (``rate`` per second, a burst of ``window``), so a client that sends only with
credit never goes past the frame rate; a video stream's chunks are not paced (``rate``
None): the bounded pipe behind them is. A message without credit counts towards the
overrun, and ``overrun_limit`` of them in a row end the session (4429).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .protocol import CLOSE_TOO_MANY, ProtocolError


class CreditLedger:
    """Credit granted, messages in hand and the overrun of one session."""

    def __init__(
        self,
        window: int,
        rate: float | None,
        overrun_limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``window`` messages at most granted or in hand; grants at most ``rate`` per
        second (None: unpaced); ``overrun_limit`` messages without credit in a row."""
        self.window = window
        self.rate = rate
        self.overrun_limit = overrun_limit
        self._clock = clock
        #: Granted and not yet used by a message.
        self.granted = 0
        #: Received with credit and not yet finished (decoding, queued, scoring).
        self.in_hand = 0
        #: Messages without credit since the last one with credit.
        self.overrun = 0
        self._tokens = float(window)
        self._updated = clock()

    def take(self) -> bool:
        """Account for one message received: True when it had credit (it is then in hand
        until :meth:`done`), False when it must be dropped. Raises :class:`ProtocolError`
        (4429) past the overrun limit."""
        if self.granted > 0:
            self.granted -= 1
            self.in_hand += 1
            self.overrun = 0
            return True
        self.overrun += 1
        if self.overrun > self.overrun_limit:
            raise ProtocolError(
                "rate_limited",
                f"over {self.overrun_limit} frames sent without credit in a row",
                CLOSE_TOO_MANY,
            )
        return False

    def done(self, count: int = 1) -> None:
        """``count`` messages in hand are finished (scored, dropped, or in the pipe)."""
        self.in_hand = max(0, self.in_hand - count)

    def grant(self) -> int:
        """Credit to grant now (0: none); the caller tells the client."""
        room = self.window - self.granted - self.in_hand
        if room <= 0:
            return 0
        if self.rate is not None:
            now = self._clock()
            self._tokens = min(self.window, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            room = min(room, math.floor(self._tokens))
            if room <= 0:
                return 0
            self._tokens -= room
        self.granted += room
        return room
