"""Live sessions on ``/v1/live`` timed: one stream's frame-to-score latency, then a ramp.

Each session is the SDK's ``AsyncClient.live()`` sending JPEG frames at a camera's pace
(5 frames/s), only against the gateway's credit (docs/live.md): a frame whose time comes
with no credit in hand is not sent, and counts as dropped for lack of credit. Latency is
the gateway's own, frame received to its score known: every ``verdict`` that reports new
frames scored gives its ``latency_ms.last`` (one sample per verdict, about every other
frame at 5 frames/s), and the ``summary`` gives the gateway's p95 over the session's last
256 frames (every frame of a session up to 51 s long).

The ramp runs 1, 2, 4 ... sessions at once, each at 5 frames/s, until the worst session's
p95 passes :data:`TARGET_P95_MS`, a frame is dropped (by the client for want of credit, or
by the gateway), a session fails, the gateway's per-key stream limit refuses one, or the
bench's own clients (one event loop in this process) can no longer keep the pace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .service import Service

log = logging.getLogger("bench")

#: A camera's pace, and the gateway's default ``GATEWAY_LIVE_MAX_FPS``.
FPS = 5.0
#: The frame-to-score latency a live stream is meant to stay under.
TARGET_P95_MS = 500.0
#: Longest wait for a session's summary after its ``end``.
END_TIMEOUT_S = 60.0
#: Share of the pace every session's client must keep for a ramp step to hold.
PACE_KEPT = 0.95


@dataclass(frozen=True)
class SessionRun:
    """One live session as the client saw it and as the gateway summarised it."""

    seconds: float  # from the first frame's time to the summary
    frames_sent: int
    #: Frames whose time came with no credit in hand: not sent.
    frames_unsent: int
    frames_seen: int  # the gateway's summary: received ...
    frames_scored: int  # ... scored ...
    frames_dropped: int  # ... and dropped by the gateway
    #: ``latency_ms.last`` of every verdict that reported new frames scored, ms.
    latencies_ms: list[float] = field(default_factory=list)
    #: The gateway's p95 over the session's frames (its summary), ms; NaN without one.
    server_p95_ms: float = float("nan")
    #: Why the session failed (an SDK error), or None.
    error: str | None = None
    #: From the first frame's time to the last frame's send, seconds.
    send_s: float = float("nan")

    @property
    def send_fps(self) -> float:
        """The pace the client kept: frames over the time they took (NaN for one frame)."""
        frames = self.frames_sent + self.frames_unsent
        return (frames - 1) / self.send_s if frames > 1 and self.send_s > 0 else float("nan")

    @property
    def dropped(self) -> int:
        """Frames lost either way: not sent for want of credit, or dropped by the gateway."""
        return self.frames_unsent + self.frames_dropped

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile of the sampled latencies; NaN when there are none."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def max_latency_ms(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else float("nan")


def _sdk_client(service: Service):  # type: ignore[no-untyped-def]
    from deepfake_client import AsyncClient

    return AsyncClient(service.url, api_key=service.api_key, ca_cert=service.cafile)


async def _session(service: Service, frames: list[bytes], seconds: float, fps: float) -> SessionRun:
    """One session: ``seconds`` of ``frames`` (cycled) at ``fps``, then ``end``."""
    from deepfake_client import errors

    count = max(1, round(seconds * fps))
    sent = unsent = 0
    start = last_send = time.perf_counter()
    async with _sdk_client(service) as client:
        session = client.live()
        try:
            async with session:
                start = time.perf_counter()
                for i in range(count):
                    # The camera's clock: a late frame goes at once, the next keeps its time.
                    await asyncio.sleep(max(0.0, start + i / fps - time.perf_counter()))
                    if await session.send_frame(frames[i % len(frames)], wait=0):
                        sent += 1
                    else:
                        unsent += 1
                    last_send = time.perf_counter()
                summary = await session.end(timeout=END_TIMEOUT_S)
        except errors.DeepfakeError as exc:
            log.warning("live session failed: %s", exc)
            last = session.last_verdict
            return SessionRun(
                time.perf_counter() - start, sent, unsent,
                last.frames_seen if last else 0, last.frames_scored if last else 0,
                last.frames_dropped if last else 0, _sampled(session), error=_describe(exc),
                send_s=last_send - start,
            )  # fmt: skip
    p95 = summary.latency_ms.p95
    return SessionRun(
        time.perf_counter() - start, sent, unsent,
        summary.frames_seen, summary.frames_scored, summary.frames_dropped, _sampled(session),
        server_p95_ms=float(p95) if p95 is not None else float("nan"), send_s=last_send - start,
    )  # fmt: skip


def _describe(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code else f"{type(exc).__name__}: {exc}"


def _sampled(session) -> list[float]:  # type: ignore[no-untyped-def]
    """The ``last`` latency of each verdict that reported frames scored since the one before."""
    out, scored = [], 0
    for verdict in session.verdicts_received:
        if verdict.frames_scored > scored and verdict.latency_ms.last is not None:
            out.append(float(verdict.latency_ms.last))
        scored = max(scored, verdict.frames_scored)
    return out


def live_session(
    service: Service, frames: list[bytes], seconds: float, fps: float = FPS
) -> SessionRun:
    """One live session of ``seconds`` at ``fps`` (see the module docstring)."""
    return asyncio.run(_session(service, frames, seconds, fps))


@dataclass(frozen=True)
class RampStep:
    """``sessions`` live sessions at once, each at the same pace."""

    sessions: int
    runs: list[SessionRun]

    @property
    def failed(self) -> list[str]:
        return [r.error for r in self.runs if r.error is not None]

    @property
    def p95_ms(self) -> float:
        """The worst session's p95 (the gateway's own, else the sampled one)."""
        values = [
            r.server_p95_ms if not math.isnan(r.server_p95_ms) else r.latency_ms(95)
            for r in self.runs
            if r.error is None
        ]
        values = [v for v in values if not math.isnan(v)]
        return max(values) if values else float("nan")

    @property
    def dropped(self) -> int:
        return sum(r.dropped for r in self.runs)

    @property
    def scored(self) -> int:
        return sum(r.frames_scored for r in self.runs)

    @property
    def slowest_fps(self) -> float:
        """The slowest pace a session's client kept."""
        paces = [r.send_fps for r in self.runs if not math.isnan(r.send_fps)]
        return min(paces) if paces else float("nan")

    def stop_reason(self, target_p95_ms: float, fps: float = FPS) -> str | None:
        """Why this step did not hold, or None when it did."""
        if self.failed:
            if all(code == "too_many_streams" for code in self.failed):
                return f"the gateway's per-key stream limit refused {len(self.failed)} session(s)"
            return f"session(s) failed: {', '.join(sorted(set(self.failed)))}"
        if self.dropped:
            return f"{self.dropped} frame(s) dropped (no credit, or by the gateway)"
        if math.isnan(self.p95_ms):
            return "no frame scored"
        if self.p95_ms > target_p95_ms:
            return f"p95 {self.p95_ms:.0f} ms over {target_p95_ms:.0f} ms"
        if self.slowest_fps < fps * PACE_KEPT:
            # The bench's own clients could not keep the pace: more would measure them.
            return f"the bench's clients fell behind {fps:.0f} frames/s ({self.slowest_fps:.2f})"
        return None


@dataclass(frozen=True)
class Ramp:
    """The ramp's steps, the most sessions that held, and what stopped it."""

    steps: list[RampStep]
    held: int
    stopped_by: str
    fps: float = FPS
    target_p95_ms: float = TARGET_P95_MS


async def _step(
    service: Service, frames: list[bytes], sessions: int, seconds: float, fps: float
) -> RampStep:
    # Each session starts on a different frame and a little later, as independent cameras.
    async def one(i: int) -> SessionRun:
        await asyncio.sleep(i / fps / sessions)
        shifted = frames[i % len(frames) :] + frames[: i % len(frames)]
        return await _session(service, shifted, seconds, fps)

    return RampStep(sessions, list(await asyncio.gather(*(one(i) for i in range(sessions)))))


def ramp(
    service: Service,
    frames: list[bytes],
    levels: tuple[int, ...],
    seconds: float,
    *,
    stream_limit: int,
    fps: float = FPS,
    target_p95_ms: float = TARGET_P95_MS,
) -> Ramp:
    """Run the levels of concurrent sessions in order until one does not hold.

    ``stream_limit`` is the gateway's ``GATEWAY_LIVE_STREAMS_PER_KEY``: a level past it
    shows as the gateway's refusal; levels that all hold up to it end the ramp there.
    """
    steps: list[RampStep] = []
    held = 0
    for sessions in levels:
        log.info("live ramp: %d session(s) at %.0f frames/s for %.0f s", sessions, fps, seconds)
        step = asyncio.run(_step(service, frames, sessions, seconds, fps))
        steps.append(step)
        reason = step.stop_reason(target_p95_ms, fps)
        if reason is not None:
            return Ramp(steps, held, reason, fps, target_p95_ms)
        held = sessions
        # Sessions just ended may still be counted for a moment; let the gateway forget them.
        time.sleep(0.5)
    last = levels[-1] if levels else 0
    why = (
        f"the per-key stream limit ({stream_limit})"
        if last >= stream_limit
        else f"the last level tried ({last}) held"
    )
    return Ramp(steps, held, why, fps, target_p95_ms)
