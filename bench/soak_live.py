"""The soak's live traffic: ``/v1/live`` sessions, one after another, beside the uploads.

Each live client opens a session (the SDK's ``AsyncClient.live()``, as
:func:`bench.live.live_session` runs it), sends JPEG frames at a camera's pace for
:data:`SESSION_S` seconds against the gateway's credit, ends it, and opens the next, until
the soak stops. A session may end early with a documented code while Serving restarts
(``serving_unavailable``) or once a hot swap unloads the version it was pinned to
(``model_not_found``); any other failure is a problem of the soak.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bench.live import FPS, SessionRun, live_session

#: How long each live session streams.
SESSION_S = 20.0
#: How a live session may end early and still be documented (docs/live.md).
DOCUMENTED_CODES = frozenset({"serving_unavailable", "model_not_found"})


@dataclass(frozen=True)
class LiveOutcome:
    """One session and when it started (seconds into the load)."""

    start_s: float
    run: SessionRun


@dataclass
class LiveTally:
    """How the soak's live sessions went."""

    sessions: int = 0
    #: Ended with their summary.
    completed: int = 0
    #: Ended early, by error code (documented or not).
    failed: Counter[str] = field(default_factory=Counter)
    frames_sent: int = 0
    frames_scored: int = 0
    #: Not sent for want of credit, or dropped by the gateway.
    frames_dropped: int = 0
    #: Every sampled frame-to-score latency of every session, ms.
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def undocumented(self) -> dict[str, int]:
        """Failures whose code :data:`DOCUMENTED_CODES` does not name."""
        return {code: n for code, n in self.failed.items() if code not in DOCUMENTED_CODES}

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile of the sampled latencies; NaN without any."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def tally(outcomes: list[LiveOutcome]) -> LiveTally:
    """The tally of ``outcomes``."""
    out = LiveTally(sessions=len(outcomes))
    for o in outcomes:
        run = o.run
        if run.error is None:
            out.completed += 1
        else:
            out.failed[run.error] += 1
        out.frames_sent += run.frames_sent
        out.frames_scored += run.frames_scored
        out.frames_dropped += run.dropped
        out.latencies_ms += run.latencies_ms
    return out


class LiveTraffic:
    """Live sessions back to back on one client, recorded until ``stop``."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.outcomes: list[LiveOutcome] = []
        self._lock = threading.Lock()

    def run_client(self, stack: object, stop: threading.Event, index: int, t0: float) -> None:
        """Sessions one after another until ``stop`` (a session under way runs to its end).

        ``stack`` has the gateway's ``url``, ``api_key`` and ``cafile``.
        """
        # Clients start apart, as independent cameras would.
        stop.wait(index * SESSION_S / 4)
        while not stop.is_set():
            start = time.monotonic() - t0
            shifted = self.frames[index % len(self.frames) :] + self.frames[:index]
            run = live_session(stack, shifted, SESSION_S, FPS)  # type: ignore[arg-type]
            with self._lock:
                self.outcomes.append(LiveOutcome(start, run))
            if run.error is not None:
                stop.wait(1.0)  # refused or cut short: do not spin

    def tally(self) -> LiveTally:
        with self._lock:
            return tally(list(self.outcomes))
