"""Settings of asynchronous jobs and webhooks (``GATEWAY_JOB_*`` / ``GATEWAY_WEBHOOK_*``), read
once from the environment; the gateway reaches them as ``settings.jobs`` and ``python -m
gateway worker`` reads them too (see README, "Settings")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RETENTION = timedelta(days=7)


class JobSettings(BaseSettings):
    """Job store, workers, encryption at rest and webhook delivery."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    #: ``sqlite`` (a WAL-mode database under GATEWAY_VAR_DIR), ``sqlite:///path`` or a
    #: ``postgresql://`` connection URL.
    store: str = Field("sqlite", alias="GATEWAY_JOB_STORE")
    #: Base64 of a 32-byte key-encryption key; unset: generated once into var/job_kek (0600),
    #: which only a SQLite store allows (replicas sharing PostgreSQL must share the KEK).
    kek: str | None = Field(None, alias="GATEWAY_JOB_KEK")
    #: KEK rotation: comma-separated base64 KEKs used before GATEWAY_JOB_KEK. Media keys and
    #: webhook secrets they protect are still read, and at start-up wrapped or sealed again
    #: under GATEWAY_JOB_KEK; everything new uses GATEWAY_JOB_KEK only.
    kek_previous: str | None = Field(None, alias="GATEWAY_JOB_KEK_PREVIOUS")
    #: How long results (and job records) are kept after a job ends: seconds or ISO 8601 (P7D).
    retention: timedelta = Field(DEFAULT_RETENTION, alias="GATEWAY_JOB_RETENTION")
    #: Keep a succeeded job's encrypted media until the job expires, so that it can be
    #: replayed with another version (``POST /v1/jobs/{id}/replay``); off: removed at its end.
    keep_media: bool = Field(False, alias="GATEWAY_JOB_KEEP_MEDIA")
    #: Job workers inside the gateway process; 0 leaves the work to ``python -m gateway worker``.
    workers: int = Field(2, alias="GATEWAY_JOB_WORKERS", ge=0)
    #: A claimed job is the worker's for this long; heartbeats renew it.
    lease_s: float = Field(30.0, alias="GATEWAY_JOB_LEASE_S", gt=0)
    #: Claims of one job (the first run and retries after a lost worker) before it fails.
    max_attempts: int = Field(3, alias="GATEWAY_JOB_MAX_ATTEMPTS", ge=1)
    #: How often idle workers look for queued jobs.
    poll_s: float = Field(0.5, alias="GATEWAY_JOB_POLL_S", gt=0)
    #: Queued and running jobs one API key may have at once (0: no cap). The store counts
    #: them, so the cap holds across every replica sharing it.
    max_active_per_key: int = Field(100, alias="GATEWAY_JOB_MAX_ACTIVE_PER_KEY", ge=0)
    #: Idempotency keys are remembered this long (at least 24 h).
    idempotency_ttl: timedelta = Field(timedelta(hours=24), alias="GATEWAY_IDEMPOTENCY_TTL")

    #: Callback ports allowed besides 443 (comma-separated).
    webhook_ports: str = Field("", alias="GATEWAY_WEBHOOK_PORTS")
    #: Tests only: let callbacks reach 127.0.0.0/8 and ::1 (nothing else private).
    webhook_allow_loopback: bool = Field(False, alias="GATEWAY_WEBHOOK_ALLOW_LOOPBACK")
    #: PEM bundle to verify receivers with instead of the system's CAs.
    webhook_ca_file: Path | None = Field(None, alias="GATEWAY_WEBHOOK_CA_FILE")
    webhook_timeout_s: float = Field(10.0, alias="GATEWAY_WEBHOOK_TIMEOUT_S", gt=0)
    #: Attempts per delivery; retries back off exponentially from the base, capped at 1 h.
    webhook_max_attempts: int = Field(8, alias="GATEWAY_WEBHOOK_MAX_ATTEMPTS", ge=1)
    webhook_retry_base_s: float = Field(5.0, alias="GATEWAY_WEBHOOK_RETRY_BASE_S", gt=0)

    #: Redirects a media URL may take; each hop is checked again (0: none followed).
    media_max_redirects: int = Field(3, alias="GATEWAY_MEDIA_MAX_REDIRECTS", ge=0, le=20)
    #: Longest a job may spend fetching its media URL, redirects included. The size,
    #: stall and rate limits are the upload's (GATEWAY_MAX_UPLOAD_BYTES, GATEWAY_UPLOAD_*).
    media_fetch_timeout_s: float = Field(300.0, alias="GATEWAY_MEDIA_FETCH_TIMEOUT_S", gt=0)

    @field_validator("retention", "idempotency_ttl", mode="before")
    @classmethod
    def _seconds_or_iso(cls, value: object) -> object:
        # Environment values are strings; a plain number means seconds.
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return value  # ISO 8601 (P7D, PT24H) is pydantic's own
        return value

    @field_validator("idempotency_ttl")
    @classmethod
    def _at_least_a_day(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=24):
            raise ValueError("idempotency keys must be kept at least 24 h")
        return value

    @field_validator("webhook_ca_file", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _shared_store_needs_a_shared_kek(self) -> JobSettings:
        # Every process on a PostgreSQL store unwraps media keys and webhook secrets that
        # other processes sealed: a KEK generated per process would lock them out.
        if self.uses_shared_store and not self.kek:
            raise ValueError(
                "GATEWAY_JOB_KEK must be set with a PostgreSQL job store: every gateway "
                "and worker on that store needs the same key-encryption key"
            )
        return self

    @property
    def uses_shared_store(self) -> bool:
        """Whether the store is PostgreSQL, shared by processes on several hosts."""
        return self.store.startswith(("postgresql://", "postgres://"))

    @property
    def allowed_ports(self) -> frozenset[int]:
        """443 and the configured extra ports."""
        extra = {int(p) for p in self.webhook_ports.split(",") if p.strip()}
        return frozenset({443, *extra})

    def kek_path(self, var_dir: Path) -> Path:
        return var_dir / "job_kek"

    def sqlite_path(self, var_dir: Path) -> Path:
        """Where the SQLite store lives."""
        if self.store.startswith("sqlite:///"):
            return Path(self.store[len("sqlite:///") :])
        return var_dir / "jobs" / "jobs.sqlite3"
