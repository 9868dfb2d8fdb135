"""Typed messages of a live session (``/v1/live``, ``docs/live.md``).

Written by hand: the WebSocket's messages are not in the OpenAPI document the other
models are generated from. As there, unknown fields are kept (``extra="allow"``), so that a
newer gateway does not break an older client.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LiveFace",
    "LiveLatency",
    "LiveModel",
    "LiveReady",
    "LiveSummary",
    "LiveTrack",
    "LiveVerdict",
]

#: What the frames of a session are: still images, or the chunks of one video stream.
LiveInput = Literal["images", "video"]
#: The video containers a ``video`` session may name.
LiveContainer = Literal["webm", "matroska", "mp4", "mpegts", "ivf"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")


class LiveModel(_Message):
    """The model version that scores the session."""

    name: str
    version: int


class LiveReady(_Message):
    """The gateway's answer to the ``hello``: the session is open."""

    session: str
    model: LiveModel
    max_fps: float
    max_seconds: float
    window: float
    #: Frames the client may send before the first ``credit`` message.
    credit: int


class LiveLatency(_Message):
    """Milliseconds from a frame's arrival at the gateway to its score being known."""

    last: float | None = None
    p95: float | None = None


class LiveTrack(_Message):
    """One face track's score over the window (its id is stable for the whole stream)."""

    id: int
    score: float
    verdict: str
    frames: int
    #: ``[x0, y0, x1, y1]`` in the pixels of the last frame, or None when not in it.
    box: list[float] | None = None


class LiveFace(_Message):
    """A face of the last scored frame: its box (frame pixels) and its score."""

    box: list[float]
    score: float | None = None
    track: int | None = None


class LiveVerdict(_Message):
    """A rolling verdict over the session's window, sent at least once a second.

    ``frames_seen`` counts frames received (images) or decoded from the stream (video).
    """

    type: Literal["verdict", "summary"] = "verdict"
    #: Seconds since ``ready``.
    t: float
    frames_seen: int
    frames_scored: int
    #: Frames not scored: sent without credit, over the rate, or undecodable.
    frames_dropped: int
    #: The window's score and verdict; None before the first frame is scored.
    score: float | None = None
    verdict: str | None = None
    threshold: float
    aggregation: str | None = None
    tracks: list[LiveTrack] = Field(default_factory=list)
    faces: list[LiveFace] = Field(default_factory=list)
    #: ``[width, height]`` of the last scored frame.
    frame_size: list[int] | None = None
    latency_ms: LiveLatency = Field(default_factory=LiveLatency)


class LiveSummary(LiveVerdict):
    """The verdict over the whole stream, with its signed receipt.

    The receipt's ``media.sha256`` is over the frames' bytes as the gateway received them,
    in order: for a video file, the file's; check it with
    :func:`deepfake_client.verify_receipt`.
    """

    type: Literal["verdict", "summary"] = "summary"
    #: SHA-256 of every binary message's bytes as received, in order (the receipt's media).
    sha256: str | None = None
    #: None when no frame was scored, or the gateway signs no receipts.
    receipt: str | None = None
