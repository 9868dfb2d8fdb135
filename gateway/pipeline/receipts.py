"""Signed receipts: a compact JWS (EdDSA, Ed25519) over what one answer said about which bytes.

A receipt's claims (:func:`receipt_claims`) are the media's SHA-256 (computed while the upload
streamed in), the model that answered and its digest (:func:`model_digest`), the sampling
and aggregation settings, the sampled frame times, the video and track scores, the verdict,
threshold and operating point, the gateway's version and the signing time (``iat``); the
header names the key (``kid``, see :mod:`gateway.receipt_keys`). Signing and encoding are
PyJWT's, so the token is what any JOSE library reads.

What a receipt proves: that this service, holding this key, gave this answer about these
bytes with this model version. Not that the answer is right.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any

import jwt

from ..receipt_keys import ReceiptKeys
from ..schemas import DetectionResponse
from ..upstream.serving_types import VersionDescription
from .detection_types import DetectOptions
from .pipeline_config import PipelineConfig

__all__ = [
    "DIGEST_OF_MODEL_INFO",
    "DIGEST_OF_SAVEDMODEL",
    "RECEIPT_ALGORITHM",
    "RECEIPT_TYPE",
    "gateway_version",
    "model_digest",
    "receipt_claims",
    "sign_receipt",
    "with_receipt",
]

#: The JWS algorithm (RFC 8037): Ed25519 signatures.
RECEIPT_ALGORITHM = "EdDSA"
#: The JWS ``typ`` header, so that a receipt cannot pass for another kind of token.
RECEIPT_TYPE = "deepfake-receipt+jwt"
#: What a receipt's model digest is of (``digest_of``): the version's SavedModel files, as
#: its export wrote their digest into ``model_info``; else, for versions that report none,
#: the gateway's own hash of their ``model_info`` answer.
DIGEST_OF_SAVEDMODEL = "savedmodel"
DIGEST_OF_MODEL_INFO = "model_info"


@cache
def gateway_version() -> str:
    """The installed version of this service's package (``0+unknown`` when not installed)."""
    try:
        return metadata.version("deepfake-service")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def model_digest(description: VersionDescription | None) -> tuple[str | None, str | None]:
    """The digest identifying the answering version, and what it is of.

    The SavedModel's own digest when its ``model_info`` reports one (written at export,
    ``model_export.digest``: it names the files that answered). Otherwise, Serving giving no
    digest of a version's files, ``sha256:<hex>`` of what the version's ``model_info`` said
    as canonical JSON: it changes when the threshold, operating points, kind, frame side,
    sequence window, face side or member names change, not when only the weights do (the
    version number tells those apart). ``(None, None)`` for versions without ``model_info``.
    """
    if description is None:
        return None, None
    if description.digest is not None:
        return description.digest, DIGEST_OF_SAVEDMODEL
    fields = dataclasses.asdict(description)
    # Stated beside the digest in the receipt; the digest describes the version's content.
    fields.pop("name", None)
    fields.pop("version", None)
    canonical = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), default=dict, ensure_ascii=True
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(), DIGEST_OF_MODEL_INFO


def receipt_claims(
    body: DetectionResponse,
    opts: DetectOptions,
    *,
    config: PipelineConfig,
    media_sha256: str,
    description: VersionDescription | None,
    issued_at: int | None = None,
) -> dict[str, Any]:
    """The claims a receipt signs for ``body``, the answer about the media ``media_sha256``.

    Scores, thresholds and times are the answer's own (rounded) values, so a verifier can
    compare the claims with the answer field by field.
    """
    digest, digest_of = model_digest(description)
    return {
        "iat": int(time.time()) if issued_at is None else issued_at,
        "request_id": body.request_id,
        "media": {"sha256": media_sha256},
        "model": {
            "name": body.model.name,
            "version": body.model.version,
            "kind": body.model.kind,
            "digest": digest,
            "digest_of": digest_of,
        },
        "sampling": {
            "frames": opts.frames,
            "fps": opts.rate,
            "max_side": config.max_side,
            "face_detect_every": config.keyframes.every,
            "face_detect_side": config.keyframes.side,
            "frame_times_s": [point.t_s for point in body.timeline],
        },
        "aggregation": body.aggregation,
        "score": body.score,
        "tracks": [{"id": t.id, "score": t.score} for t in body.tracks],
        "verdict": body.verdict,
        "threshold": body.threshold,
        "operating_point": body.operating_point.name if body.operating_point else None,
        "gateway": {"version": gateway_version()},
    }


def sign_receipt(claims: Mapping[str, Any], keys: ReceiptKeys) -> str:
    """``claims`` as a compact JWS signed by the newest key, its ``kid`` in the header."""
    key = keys.signing_key()
    assert key.private is not None  # the newest key always has its private half
    return jwt.encode(
        dict(claims),
        key.private,
        algorithm=RECEIPT_ALGORITHM,
        headers={"kid": key.kid, "typ": RECEIPT_TYPE},
    )


def with_receipt(
    body: DetectionResponse,
    opts: DetectOptions,
    *,
    config: PipelineConfig,
    media_sha256: str,
    description: VersionDescription | None,
    keys: ReceiptKeys,
) -> DetectionResponse:
    """``body`` with its signed ``receipt``."""
    claims = receipt_claims(
        body, opts, config=config, media_sha256=media_sha256, description=description
    )
    return body.model_copy(update={"receipt": sign_receipt(claims, keys)})
