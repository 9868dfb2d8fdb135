"""Backpressure: N videos processed and M waiting, K uploads received at once; 429 past."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import metrics
from .errors import Overloaded


class Admission:
    """A semaphore with a bounded waiting room."""

    def __init__(self, max_in_flight: int, max_queue: int) -> None:
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(max_in_flight)
        self._waiting = 0
        self._running = 0

    @property
    def in_flight(self) -> int:
        """Videos holding a processing slot now."""
        return self._running

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a processing slot for the duration of the block, or raise :class:`Overloaded`."""
        if self._slots.locked() and self._waiting >= self.max_queue:
            raise Overloaded(
                f"too many videos in progress ({self.max_in_flight} processing, "
                f"{self._waiting} waiting); retry later",
                retry_after_s=2,
            )
        self._waiting += 1
        metrics.VIDEOS_QUEUED.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            metrics.VIDEOS_QUEUED.set(self._waiting)
        metrics.VIDEOS_IN_FLIGHT.inc()
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            metrics.VIDEOS_IN_FLIGHT.dec()
            self._slots.release()


class ReceiveLimit:
    """At most N upload bodies being received at once; 429 past that, never a wait.

    Receiving is bounded apart from processing so that slow or stalled clients,
    which are cut off by the upload's own timeouts, never hold the slots analysis needs.
    """

    def __init__(self, max_receiving: int) -> None:
        self.max_receiving = max_receiving
        self._receiving = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a receive slot for the duration of the block, or raise :class:`Overloaded`."""
        if self._receiving >= self.max_receiving:
            raise Overloaded(
                f"too many uploads being received ({self.max_receiving}); retry later",
                retry_after_s=2,
            )
        self._receiving += 1
        metrics.UPLOADS_RECEIVING.inc()
        try:
            yield
        finally:
            self._receiving -= 1
            metrics.UPLOADS_RECEIVING.dec()
