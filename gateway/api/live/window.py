"""A live session's scored frames: the rolling window, stable track ids, the verdict message.

Every scored frame is kept (a session's length and frame rate bound them) and its faces are
linked into tracks over the whole stream as it comes (:class:`contract.tracks.TrackLinker`),
which gives each track one id for the whole stream. A verdict is
:func:`contract.aggregation.decide` over the frames of the last ``window`` seconds, exactly
as an upload's over its sampled frames; the summary is the same over every frame.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass

import numpy as np

import contract
from contract.aggregation import Aggregation, Face, FrameResult, Verdict, decide
from contract.tracks import Track, TrackLinker

from . import protocol

#: Latencies the p95 is taken over (the most recent ones).
LATENCY_SAMPLES = 256


@dataclass
class ScoredFrame:
    """One scored frame: its results, its upright size as received, its faces' track ids."""

    result: FrameResult
    size: tuple[int, int]
    #: The stream-wide track id of each of ``result.faces``, in order.
    tracks: list[int]


def _pixels(box: list[float], size: tuple[int, int]) -> list[float]:
    """A ``[y1, x1, y2, x2]`` box normalised to the picture as ``[x0, y0, x1, y1]`` pixels."""
    width, height = size
    y1, x1, y2, x2 = box
    return [round(v, 1) for v in (x1 * width, y1 * height, x2 * width, y2 * height)]


def _label(score: float, threshold: float) -> str:
    return contract.VERDICT_FAKE if score >= threshold else contract.VERDICT_REAL


class RollingWindow:
    """The scored frames of one session and what they decide."""

    def __init__(self, seconds: float, threshold: float, aggregation: Aggregation) -> None:
        self.seconds = seconds
        self.threshold = threshold
        self.aggregation = aggregation
        self.frames: list[ScoredFrame] = []
        self.face_aware = False
        self._times: list[float] = []
        self._linker = TrackLinker()
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)

    def add(
        self, results: list[FrameResult], sizes: list[tuple[int, int]], latencies: list[float],
        *, face_aware: bool,
    ) -> None:  # fmt: skip
        """Take the next scored frames, in time order, and how long each took (seconds)."""
        self.face_aware = face_aware
        for result, size in zip(results, sizes, strict=True):
            if face_aware:
                self._linker.add(len(self.frames), result)
            tracks = [face.track for face in result.faces]
            self.frames.append(ScoredFrame(result, size, tracks))
            # Times never go back, so that the window is a suffix (bisect finds it).
            self._times.append(max(result.t_s, self._times[-1] if self._times else 0.0))
        self._latencies.extend(latencies)

    def _window(self) -> list[ScoredFrame]:
        if not self.frames:
            return []
        start = bisect.bisect_left(self._times, self._times[-1] - self.seconds)
        return self.frames[start:]

    def state(self, *, t: float, seen: int, dropped: int, whole: bool = False) -> protocol.Verdict:
        """The ``verdict`` message now (``whole``: over every frame, for the summary)."""
        frames = self.frames if whole else self._window()
        latency = protocol.Latency(
            last=round(self._latencies[-1] * 1000, 1) if self._latencies else None,
            p95=(
                round(float(np.percentile(list(self._latencies), 95)) * 1000, 1)
                if self._latencies
                else None
            ),
        )
        base = {
            "t": round(t, 3),
            "frames_seen": seen,
            "frames_scored": len(self.frames),
            "frames_dropped": dropped,
            "threshold": round(self.threshold, 4),
            "aggregation": self.aggregation,
            "latency_ms": latency,
        }
        if not frames:
            return protocol.Verdict(
                **base, score=None, verdict=None, tracks=[], faces=[], frame_size=None
            )
        verdict = decide(
            [f.result for f in frames],
            face_aware=self.face_aware,
            threshold=self.threshold,
            aggregation=self.aggregation,
        )
        last = frames[-1]
        return protocol.Verdict(
            **base,
            score=round(verdict.score, 4),
            verdict=verdict.verdict,
            tracks=self._tracks(verdict, frames),
            faces=[
                protocol.FaceState(
                    box=_pixels(face.box, last.size),
                    score=round(face.score, 4),
                    detection_score=round(face.detection_score, 4),
                    track=track,
                )
                for face, track in zip(last.result.faces, last.tracks, strict=True)
            ],
            frame_size=list(last.size),
        )

    def verdict_of(self) -> Verdict | None:
        """The whole stream's :class:`~contract.aggregation.Verdict` (None before a score)."""
        if not self.frames:
            return None
        return decide(
            [f.result for f in self.frames],
            face_aware=self.face_aware,
            threshold=self.threshold,
            aggregation=self.aggregation,
        )

    def _tracks(self, verdict: Verdict, frames: list[ScoredFrame]) -> list[protocol.TrackState]:
        if not self.face_aware:
            (track,) = verdict.tracks
            return [self._track_state(track, 0, None)]
        states = []
        last = len(frames) - 1
        for track in verdict.tracks:
            index, slot = track.frames[-1], track.slots[-1]
            face, stream_id = _face_at(frames[index], slot)
            box = _pixels(face.box, frames[index].size) if index == last else None
            states.append(self._track_state(track, stream_id, box))
        return states

    def _track_state(
        self, track: Track, stream_id: int, box: list[float] | None
    ) -> protocol.TrackState:
        return protocol.TrackState(
            id=stream_id,
            score=round(track.score, 4),
            verdict=_label(track.score, self.threshold),
            frames=len(track.frames),
            box=box,
        )


def _face_at(frame: ScoredFrame, slot: int) -> tuple[Face, int]:
    """The face of ``frame`` in model output ``slot``, and its stream-wide track id."""
    for face, track in zip(frame.result.faces, frame.tracks, strict=True):
        if face.slot == slot:
            return face, track
    raise ValueError(f"no face in slot {slot}")  # a track's slots are its faces' own
