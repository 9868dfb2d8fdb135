"""Prometheus metrics of the gateway, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "gateway_requests",
    "HTTP requests by route and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "gateway_request_seconds",
    "End-to-end latency of HTTP requests by route.",
    ["route"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "gateway_stage_seconds",
    "Time spent in each stage of a detection (upload, probe, decode, inference, detect, "
    "sequence, aggregate).",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
VIDEOS_IN_FLIGHT = Gauge(
    "gateway_videos_in_flight", "Videos being processed now.", registry=REGISTRY
)
VIDEOS_QUEUED = Gauge(
    "gateway_videos_queued", "Videos waiting for a processing slot.", registry=REGISTRY
)
FRAMES_ANALYZED = Counter(
    "gateway_frames_analyzed",
    "Frames sent to Serving; its rate is the frames per second the gateway sustains.",
    registry=REGISTRY,
)
VERDICTS = Counter(
    "gateway_verdicts", "Verdicts returned, by verdict.", ["verdict"], registry=REGISTRY
)
UPLOADS_RECEIVING = Gauge(
    "gateway_uploads_receiving", "Upload bodies being received now.", registry=REGISTRY
)
UPLOADS_CUT_OFF = Counter(
    "gateway_uploads_cut_off",
    "Uploads cut off for a slow client, by reason (idle, slow).",
    ["reason"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "gateway_rate_limited",
    "Requests refused by a per-key quota, by quota (rate, concurrency, jobs).",
    ["quota"],
    registry=REGISTRY,
)
SHADOW = Counter(
    "gateway_shadow",
    "Sampled detections also scored by the shadow version (GATEWAY_SHADOW_MODEL), by the "
    "version that answered, the shadow version and outcome (agree, disagree, failed, dropped).",
    ["primary", "shadow", "outcome"],
    registry=REGISTRY,
)
SHADOW_QUEUED = Gauge(
    "gateway_shadow_queued", "Shadow runs waiting for a shadow worker.", registry=REGISTRY
)
LIVE_SESSIONS = Gauge(
    "gateway_live_sessions", "Live sessions (/v1/live) open now.", registry=REGISTRY
)
LIVE_FRAMES = Counter(
    "gateway_live_frames",
    "Frames of live sessions, by outcome (scored, dropped).",
    ["outcome"],
    registry=REGISTRY,
)
LIVE_LATENCY_SECONDS = Histogram(
    "gateway_live_latency_seconds",
    "Live frames from received (or decoded, for a video stream) to their score known.",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
    registry=REGISTRY,
)
LIVE_CLOSED = Counter(
    "gateway_live_closed",
    "Live sessions closed, by reason (docs/live.md).",
    ["reason"],
    registry=REGISTRY,
)
