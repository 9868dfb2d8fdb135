"""What signing one answer's receipt costs: the claims built and signed, as the gateway does.

Measured in process, outside any timed request, on a 32-frame answer with one face track:
the mean over many signatures, so the figure is the cost itself rather than the timer's.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Signatures measured (after a few to warm up).
SIGNATURES = 2000
_WARMUP = 50


@dataclass(frozen=True)
class ReceiptCost:
    """The mean cost of one receipt, and what it was measured on."""

    mean_us: float
    signatures: int
    token_bytes: int


def _answer():  # type: ignore[no-untyped-def]
    """A 32-frame answer with one face track, its options and description."""
    from gateway.pipeline.detection_types import DetectOptions
    from gateway.pipeline.pipeline_config import PipelineConfig
    from gateway.schemas import DetectionResponse
    from gateway.upstream.serving_types import ModelRef, VersionDescription

    frames = 32
    body = DetectionResponse.model_validate(
        {
            "verdict": "fake", "score": 0.9123, "threshold": 0.5, "aggregation": "confident",
            "operating_point": {"name": "balanced", "threshold": 0.5},
            "model": {"name": "deepfake", "version": 3, "kind": "detector"},
            "frames_analyzed": frames,
            "video": {"duration_s": 10.0, "fps": 30.0, "width": 1280, "height": 720,
                      "rotation": 0, "frames_sampled": frames},
            "tracks": [{"id": 0, "score": 0.9123, "frames": list(range(frames))}],
            "timeline": [{"t_s": round(i * 10 / frames, 3), "score": 0.9} for i in range(frames)],
            "timings_ms": {"upload": 1, "probe": 1, "decode": 1, "inference": 1,
                           "aggregate": 1, "total": 5},
            "request_id": "0" * 32,
        }
    )  # fmt: skip
    opts = DetectOptions(model=ModelRef("deepfake"), frames=frames, rate=None, aggregation=None)
    description = VersionDescription(
        name="deepfake", version=3, threshold=0.5, frame_min_side=0, sequence_length=0
    )
    config = PipelineConfig(batch_size=16, max_side=640, default_threshold=0.5, canvas=None)
    return body, opts, config, description


def measure_signing(signatures: int = SIGNATURES) -> ReceiptCost:
    """Mean microseconds to build and sign one receipt (``receipts.with_receipt``)."""
    from gateway.pipeline.receipts import with_receipt
    from gateway.receipt_keys import ReceiptKeys

    body, opts, config, description = _answer()
    sha = "ab" * 32
    with tempfile.TemporaryDirectory(prefix="bench-receipts-") as tmp:
        keys = ReceiptKeys(Path(tmp) / "keys")

        def sign():  # type: ignore[no-untyped-def]
            return with_receipt(
                body, opts, config=config, media_sha256=sha, description=description, keys=keys
            )

        for _ in range(_WARMUP):
            signed = sign()
        start = time.perf_counter()
        for _ in range(signatures):
            signed = sign()
        elapsed = time.perf_counter() - start
    return ReceiptCost(elapsed / signatures * 1e6, signatures, len(signed.receipt or ""))


def section(cost: ReceiptCost) -> list[str]:
    """The report's lines on the receipt's cost."""
    return [
        "",
        "## Signing a receipt",
        "",
        f"Building the claims of a {32}-frame answer with one face track and signing them "
        "(EdDSA, Ed25519, PyJWT) with the newest key, as every answer is: "
        f"**{cost.mean_us:.0f} µs** per receipt (mean of {cost.signatures}, in process; "
        f"a {cost.token_bytes}-byte token).",
    ]
