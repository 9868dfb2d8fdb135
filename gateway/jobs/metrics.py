"""Prometheus metrics of jobs and webhooks, on the gateway's registry (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ..metrics import REGISTRY

JOBS = Gauge(
    "gateway_jobs",
    "Jobs in the store by status (refreshed every few seconds).",
    ["status"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("gateway_job_queue_depth", "Jobs waiting for a worker.", registry=REGISTRY)
JOB_SECONDS = Histogram(
    "gateway_job_seconds",
    "Time from a job's submission to its end, by final status.",
    ["status"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
LEASE_RECLAIMS = Counter(
    "gateway_job_lease_reclaims",
    "Jobs claimed again after their worker's lease expired (a worker died or hung).",
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "gateway_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, retry, failed, gone).",
    ["outcome"],
    registry=REGISTRY,
)
