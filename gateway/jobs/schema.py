"""The one schema of both job store backends (``{blob}`` is the backend's binary type)."""

from __future__ import annotations

from collections.abc import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    expires_at DOUBLE PRECISION NOT NULL,
    params TEXT NOT NULL,
    callback_url TEXT,
    metadata TEXT NOT NULL,
    request_id TEXT NOT NULL,
    input_size BIGINT NOT NULL,
    input_sha256 TEXT NOT NULL,
    input_duration_s DOUBLE PRECISION NOT NULL,
    model_version INTEGER,
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    wrapped_key {blob}
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at, id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    log TEXT NOT NULL,
    lease_expires DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_job ON deliveries (job_id, created_at);
CREATE TABLE IF NOT EXISTS job_media (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    chunk {blob} NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS webhook_secrets (
    owner TEXT PRIMARY KEY,
    sealed {blob} NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
"""


def split_statements(schema: str) -> Iterator[str]:
    """The schema's statements one by one (drivers run one per ``execute``)."""
    for statement in schema.split(";"):
        if statement.strip():
            yield statement.strip()
