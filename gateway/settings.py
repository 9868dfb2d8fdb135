"""Gateway settings, read once from the environment (see README, "Settings").

:class:`Settings` is the gateway's (``GATEWAY_*``); those of asynchronous jobs and webhooks,
reached as ``settings.jobs``, are :class:`gateway.job_settings.JobSettings`.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import contract
from contract.aggregation import Aggregation
from contract.frames import DEFAULT_MAX_SIDE
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

from .job_settings import JobSettings

#: The algorithms c2pa signs with (``GATEWAY_C2PA_SIGN_ALG``); the key must be of its kind.
SigningAlg = Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"]

#: Defaults sized for a small machine (2 cores); raise them on bigger hosts.
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: A 50-megapixel photograph decodes to 150 MB of RGB; larger ones are refused undecoded.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
DEFAULT_BATCH_SIZE = 16
#: The contract's cap, which training and evaluation decode at too.
DEFAULT_FRAME_MAX_SIDE = DEFAULT_MAX_SIDE
#: Faces are detected on every sampled frame as decoded, as ``model_export``'s evaluation
#: scores a version (its calibration and threshold are fitted so). ``2`` and ``360``, the
#: cheapest schedule that kept face recall >= 97% on the shared clips, save a fifth of the
#: graph's CPU (bench/results/face_recall.md, docs/performance.md "Finding faces for less").
DEFAULT_FACE_DETECT_EVERY = 1
DEFAULT_FACE_DETECT_SIDE = 0
#: Decoding cost per upload. Sampling seeks across long gaps, so a normal video stays far
#: below these; about 10,000 1080p frames decoded, or a minute of one core.
DEFAULT_DECODE_CPU_S = 60.0
DEFAULT_DECODE_MAX_PIXELS = 20_000_000_000
#: Validating a manifest hashes the whole file once (about a second for the largest upload).
DEFAULT_C2PA_TIMEOUT_S = 10.0
DEFAULT_C2PA_MAX_VERIFY_BYTES = 64 * 1024 * 1024


#: Live analysis (``/v1/live``, docs/live.md): a frame is one camera picture; a few in hand.
DEFAULT_LIVE_MAX_FRAME_BYTES = 2 * 1024 * 1024
DEFAULT_LIVE_VIDEO_BUFFER_BYTES = 8 * 1024 * 1024


class Settings(BaseSettings):
    """Everything the gateway can be told, from ``GATEWAY_*``, ``SERVING_*`` and ``MODEL_*``."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", alias="GATEWAY_HOST")
    port: int = Field(8443, alias="GATEWAY_PORT")
    #: Comma-separated API keys; an entry ``sha256:<hex>`` is a key given by its hash.
    api_keys: str = Field("", alias="GATEWAY_API_KEYS")
    tls_cert: Path | None = Field(None, alias="GATEWAY_TLS_CERT")
    tls_key: Path | None = Field(None, alias="GATEWAY_TLS_KEY")
    #: CA bundle for client certificates; when set, clients must present one.
    tls_client_ca: Path | None = Field(None, alias="GATEWAY_TLS_CLIENT_CA")
    var_dir: Path = Field(Path("var"), alias="GATEWAY_VAR_DIR")

    serving_port: int = Field(8500, alias="SERVING_PORT")
    #: Where to reach Serving: ``host:port``; several comma-separated for round-robin.
    serving_target: str | None = Field(None, alias="SERVING_TARGET")
    serving_timeout_s: float = Field(30.0, alias="SERVING_TIMEOUT_S", gt=0)
    serving_retries: int = Field(2, alias="SERVING_RETRIES", ge=0)
    #: A DNS name in ``SERVING_TARGET`` is resolved again at most this often (gRPC's default).
    serving_dns_min_interval_s: float = Field(30.0, alias="SERVING_DNS_MIN_INTERVAL_S", gt=0)
    #: PEM CA bundle to reach Serving over TLS; client cert/key for mutual TLS.
    serving_tls_ca: Path | None = Field(None, alias="SERVING_TLS_CA")
    serving_tls_cert: Path | None = Field(None, alias="SERVING_TLS_CERT")
    serving_tls_key: Path | None = Field(None, alias="SERVING_TLS_KEY")
    model_name: str = Field(contract.DEFAULT_MODEL_NAME, alias="MODEL_NAME")
    #: Version labels to look up for ``GET /v1/models`` (TF Serving has no call that lists them).
    model_labels: str = Field("stable,canary", alias="GATEWAY_MODEL_LABELS")

    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD_BYTES, alias="GATEWAY_MAX_UPLOAD_BYTES", gt=0)
    max_duration_s: float = Field(600.0, alias="GATEWAY_MAX_DURATION_S", gt=0)
    max_frames: int = Field(100_000, alias="GATEWAY_MAX_FRAMES", gt=0)
    max_pixels: int = Field(3840 * 2160, alias="GATEWAY_MAX_PIXELS", gt=0)
    #: Pixels of a still image (JPEG, PNG, WebP), read from its header before any decoding.
    #: Pillow itself refuses over about 179 million (twice its ``MAX_IMAGE_PIXELS``).
    max_image_pixels: int = Field(DEFAULT_MAX_IMAGE_PIXELS, alias="GATEWAY_MAX_IMAGE_PIXELS", gt=0)
    frames: int = Field(DEFAULT_FRAMES_PER_VIDEO, alias="GATEWAY_FRAMES", gt=0, le=256)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, alias="GATEWAY_BATCH_SIZE", gt=0)
    frame_max_side: int = Field(DEFAULT_FRAME_MAX_SIDE, alias="GATEWAY_FRAME_MAX_SIDE", ge=32)
    #: Letterbox every frame into a square of this side (for TF Serving's batching,
    #: which merges only same-shaped requests). Meant for face-aware models: a
    #: whole-frame classifier would see the padding.
    frame_canvas: int | None = Field(None, alias="GATEWAY_FRAME_CANVAS", ge=32)
    #: Unset: ``sequence`` for versions with a sequence head, ``confident`` otherwise.
    aggregation: Aggregation | None = Field(None, alias="GATEWAY_AGGREGATION")
    #: Used only when the answering model version ships no threshold.
    default_threshold: float = Field(0.5, alias="GATEWAY_DEFAULT_THRESHOLD", ge=0, le=1)
    #: With ``explain=true``: faces explained per track (its most suspicious frames), and the
    #: side in pixels of their PNG images.
    explain_per_track: int = Field(3, alias="GATEWAY_EXPLAIN_PER_TRACK", ge=1, le=16)
    explain_side: int = Field(112, alias="GATEWAY_EXPLAIN_SIDE", ge=16, le=512)
    #: ``robustness=true``: the longest video it re-encodes, and how long its copies may
    #: take after the detection (past it the answer says ``complete: false``).
    robustness_max_duration_s: float = Field(60.0, alias="GATEWAY_ROBUSTNESS_MAX_DURATION_S", gt=0)
    robustness_timeout_s: float = Field(180.0, alias="GATEWAY_ROBUSTNESS_TIMEOUT_S", gt=0)
    #: Face-aware versions with ``detect_faces``: detect on every k-th sampled frame (and the
    #: last), on copies whose shorter side is at most this many pixels (0: as decoded); the
    #: frames between get boxes from the detections around them (gateway.pipeline.keyframes).
    face_detect_every: int = Field(
        DEFAULT_FACE_DETECT_EVERY, alias="GATEWAY_FACE_DETECT_EVERY", ge=1, le=64
    )
    face_detect_side: int = Field(DEFAULT_FACE_DETECT_SIDE, alias="GATEWAY_FACE_DETECT_SIDE", ge=0)
    max_in_flight: int = Field(2, alias="GATEWAY_MAX_IN_FLIGHT", gt=0)
    max_queue: int = Field(8, alias="GATEWAY_MAX_QUEUE", ge=0)
    request_timeout_s: float = Field(120.0, alias="GATEWAY_REQUEST_TIMEOUT_S", gt=0)
    #: What decoding one upload may cost: CPU seconds of its decode thread, the pixels of
    #: every frame decoded, and wall-clock seconds (never past the request timeout).
    decode_cpu_s: float = Field(DEFAULT_DECODE_CPU_S, alias="GATEWAY_DECODE_CPU_S", gt=0)
    decode_max_pixels: int = Field(
        DEFAULT_DECODE_MAX_PIXELS, alias="GATEWAY_DECODE_MAX_PIXELS", gt=0
    )
    decode_timeout_s: float | None = Field(None, alias="GATEWAY_DECODE_TIMEOUT_S", gt=0)
    log_level: str = Field("INFO", alias="GATEWAY_LOG_LEVEL")
    #: Where the Ed25519 keys that sign receipts live (gateway.receipt_keys); unset:
    #: ``$GATEWAY_VAR_DIR/receipt_keys``. Every process that signs must share it.
    receipt_keys_dir: Path | None = Field(None, alias="GATEWAY_RECEIPT_KEYS_DIR")

    # Content credentials (C2PA), reported beside the verdict (see gateway.pipeline.provenance).
    #: PEM bundle of the CA certificates whose signers are trusted; unset: ``trusted`` is null.
    c2pa_trust_anchors: Path | None = Field(None, alias="GATEWAY_C2PA_TRUST_ANCHORS")
    #: Longest wait for an upload's manifest store to be read and validated (never more
    #: than half of ``request_timeout_s``).
    c2pa_timeout_s: float = Field(DEFAULT_C2PA_TIMEOUT_S, alias="GATEWAY_C2PA_TIMEOUT_S", gt=0)
    #: Larger uploads have their manifest read but not validated (validating holds about
    #: the file's size in memory).
    c2pa_max_verify_bytes: int = Field(
        DEFAULT_C2PA_MAX_VERIFY_BYTES, alias="GATEWAY_C2PA_MAX_VERIFY_BYTES", gt=0
    )
    #: PEM certificate chain (signer first) and PEM private key that sign a job's verdict
    #: as a C2PA manifest (``GET /v1/jobs/{id}/manifest``); both unset: that route is off.
    c2pa_sign_cert: Path | None = Field(None, alias="GATEWAY_C2PA_SIGN_CERT")
    c2pa_sign_key: Path | None = Field(None, alias="GATEWAY_C2PA_SIGN_KEY")
    c2pa_sign_alg: SigningAlg = Field("es256", alias="GATEWAY_C2PA_SIGN_ALG")
    #: RFC 3161 time-stamp authority asked to countersign each verdict manifest; unset: none.
    c2pa_sign_tsa_url: str | None = Field(None, alias="GATEWAY_C2PA_SIGN_TSA_URL")

    # Request hygiene: slow clients, oversized headers and forms, per-key quotas.
    #: Longest wait for the next chunk of an upload body (408 past it).
    upload_idle_timeout_s: float = Field(10.0, alias="GATEWAY_UPLOAD_IDLE_TIMEOUT_S", gt=0)
    #: Slowest average upload rate accepted once the grace period is over (408 below it).
    upload_min_bytes_per_s: int = Field(16384, alias="GATEWAY_UPLOAD_MIN_BYTES_PER_S", ge=0)
    upload_grace_s: float = Field(5.0, alias="GATEWAY_UPLOAD_GRACE_S", ge=0)
    #: Uploads received at once; receiving holds no analysis slot (429 past it).
    max_receiving: int = Field(16, alias="GATEWAY_MAX_RECEIVING", gt=0)
    #: Request line plus headers (431 past it; uvicorn closes past twice that).
    max_header_bytes: int = Field(8192, alias="GATEWAY_MAX_HEADER_BYTES", ge=1024)
    max_form_parts: int = Field(16, alias="GATEWAY_MAX_FORM_PARTS", gt=0)
    max_part_header_bytes: int = Field(8192, alias="GATEWAY_MAX_PART_HEADER_BYTES", ge=256)
    #: Detect requests per minute per API key (token bucket, burst of the same size); 0: off.
    rate_limit_per_min: int = Field(600, alias="GATEWAY_RATE_LIMIT_PER_MIN", ge=0)
    #: Detect requests in progress (receiving, waiting or processing) per API key.
    max_in_flight_per_key: int = Field(8, alias="GATEWAY_MAX_IN_FLIGHT_PER_KEY", gt=0)

    # Shadow canary (gateway.pipeline.shadow): sampled detections scored again, after their answer.
    #: A version number or a label; unset: no shadow.
    shadow_model: str | None = Field(None, alias="GATEWAY_SHADOW_MODEL", pattern=r"^[A-Za-z0-9_]+$")
    shadow_sample_rate: float = Field(1.0, alias="GATEWAY_SHADOW_SAMPLE_RATE", ge=0, le=1)
    #: Sampled uploads and jobs waiting for a shadow run; past it they are dropped (and counted).
    shadow_queue: int = Field(4, alias="GATEWAY_SHADOW_QUEUE", ge=1)
    #: Video scores further apart than this disagree, even with the same verdict.
    shadow_score_delta: float = Field(0.1, alias="GATEWAY_SHADOW_SCORE_DELTA", ge=0, le=1)
    shadow_workers: int = Field(1, alias="GATEWAY_SHADOW_WORKERS", ge=1, le=8)
    #: Serving hosts for the shadow alone (as ``SERVING_TARGET``); unset: the same Serving.
    shadow_serving_target: str | None = Field(None, alias="GATEWAY_SHADOW_SERVING_TARGET")

    # Live analysis over a WebSocket (gateway.api.live, docs/live.md).
    #: Live sessions one API key may hold open at once (4429 past it).
    live_streams_per_key: int = Field(2, alias="GATEWAY_LIVE_STREAMS_PER_KEY", ge=1)
    #: Frames scored per second of one session; frames above the rate are dropped.
    live_max_fps: float = Field(5.0, alias="GATEWAY_LIVE_MAX_FPS", gt=0, le=60)
    #: Longest session (4408 session_too_long after its summary).
    live_max_seconds: float = Field(600.0, alias="GATEWAY_LIVE_MAX_SECONDS", gt=0)
    #: A session without a frame for this long is closed (4408 idle); also the ping period.
    live_idle_seconds: float = Field(10.0, alias="GATEWAY_LIVE_IDLE_SECONDS", gt=0)
    #: Time to send the hello (and with it the key, when not in the subprotocol).
    live_hello_seconds: float = Field(5.0, alias="GATEWAY_LIVE_HELLO_SECONDS", gt=0)
    #: Largest binary message (4413 frame_too_large).
    live_max_frame_bytes: int = Field(
        DEFAULT_LIVE_MAX_FRAME_BYTES, alias="GATEWAY_LIVE_MAX_FRAME_BYTES", ge=1024
    )
    #: Frames a session may have granted or in hand at once.
    live_credit: int = Field(4, alias="GATEWAY_LIVE_CREDIT", ge=1, le=64)
    #: Frames sent without credit in a row before 4429; unset: 4 x GATEWAY_LIVE_CREDIT.
    live_max_overrun: int | None = Field(None, alias="GATEWAY_LIVE_MAX_OVERRUN", ge=1)
    #: Video chunks held for the decoder (``input: "video"``); no message is read past it.
    live_video_buffer_bytes: int = Field(
        DEFAULT_LIVE_VIDEO_BUFFER_BYTES, alias="GATEWAY_LIVE_VIDEO_BUFFER_BYTES", ge=65536
    )

    @field_validator(
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "c2pa_trust_anchors",
        "c2pa_sign_cert",
        "c2pa_sign_key",
        "c2pa_sign_tsa_url",
        "receipt_keys_dir",
        mode="before",
    )
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _signing_needs_cert_and_key(self) -> Settings:
        if (self.c2pa_sign_cert is None) != (self.c2pa_sign_key is None):
            raise ValueError("GATEWAY_C2PA_SIGN_CERT and GATEWAY_C2PA_SIGN_KEY go together")
        return self

    @model_validator(mode="after")
    def _a_chunk_fits_the_video_buffer(self) -> Settings:
        if self.live_video_buffer_bytes < self.live_max_frame_bytes:
            raise ValueError(
                "GATEWAY_LIVE_VIDEO_BUFFER_BYTES must hold at least one message of "
                "GATEWAY_LIVE_MAX_FRAME_BYTES"
            )
        return self

    @property
    def live_overrun_limit(self) -> int:
        """Frames sent without credit in a row before a live session is closed (4429)."""
        return self.live_max_overrun or 4 * self.live_credit

    @property
    def signs_manifests(self) -> bool:
        """A job's verdict can be downloaded as a signed C2PA manifest."""
        return self.c2pa_sign_cert is not None and self.c2pa_sign_key is not None

    @property
    def serving_targets(self) -> list[str]:
        """Serving addresses to round-robin over."""
        raw = self.serving_target or f"127.0.0.1:{self.serving_port}"
        return [t.strip() for t in raw.split(",") if t.strip()]

    @property
    def shadow_serving_targets(self) -> list[str]:
        """Serving addresses of the shadow's own client; empty: the gateway's client."""
        raw = self.shadow_serving_target or ""
        return [t.strip() for t in raw.split(",") if t.strip()]

    @property
    def decode_deadline_s(self) -> float:
        """Wall-clock seconds a decode may take: its own limit, within the request's."""
        if self.decode_timeout_s is None:
            return self.request_timeout_s
        return min(self.decode_timeout_s, self.request_timeout_s)

    @property
    def label_names(self) -> list[str]:
        return [x.strip() for x in self.model_labels.split(",") if x.strip()]

    @property
    def cert_path(self) -> Path:
        return self.tls_cert or self.var_dir / "tls" / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.tls_key or self.var_dir / "tls" / "key.pem"

    @property
    def api_key_file(self) -> Path:
        return self.var_dir / "api_key"

    @property
    def receipt_keys_path(self) -> Path:
        """The directory of the receipt signing keys."""
        return self.receipt_keys_dir or self.var_dir / "receipt_keys"

    @cached_property
    def jobs(self) -> JobSettings:
        """Job store, workers, encryption at rest and webhooks (``GATEWAY_JOB_*``,
        ``GATEWAY_WEBHOOK_*``), read from the environment on first use."""
        return JobSettings()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
