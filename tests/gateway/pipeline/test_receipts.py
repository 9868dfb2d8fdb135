"""Receipts as the gateway signs them, checked by the SDK's verifier: the claims, the
signature over each of them, the media hash, and the model digest."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from deepfake_client import errors, verify_receipt

from gateway.pipeline.detection_types import DetectOptions
from gateway.pipeline.pipeline_config import PipelineConfig
from gateway.pipeline.receipts import (
    RECEIPT_TYPE,
    gateway_version,
    model_digest,
    receipt_claims,
    sign_receipt,
    with_receipt,
)
from gateway.receipt_keys import ReceiptKeys
from gateway.schemas import DetectionResponse
from gateway.upstream.serving_types import ModelRef, OperatingPoint, VersionDescription

DESCRIPTION = VersionDescription(
    name="deepfake", version=3, threshold=0.4, frame_min_side=0, sequence_length=0,
    kind="detector", operating_points=(OperatingPoint("balanced", 0.4, {"data": "none"}),),
)  # fmt: skip
OPTS = DetectOptions(model=ModelRef("deepfake"), frames=4, rate=None, aggregation=None)
CONFIG = PipelineConfig(batch_size=16, max_side=640, default_threshold=0.5, canvas=None)
BODY = DetectionResponse.model_validate(
    {
        "verdict": "fake", "score": 0.91, "threshold": 0.4, "aggregation": "confident",
        "operating_point": {"name": "balanced", "threshold": 0.4},
        "model": {"name": "deepfake", "version": 3, "kind": "detector"},
        "frames_analyzed": 2,
        "video": {"duration_s": 1.0, "fps": 2.0, "width": 64, "height": 64, "rotation": 0,
                  "frames_sampled": 2},
        "tracks": [{"id": 0, "score": 0.91, "frames": [0, 1]}],
        "timeline": [{"t_s": 0.0, "score": 0.9}, {"t_s": 0.5, "score": 0.92}],
        "timings_ms": {"upload": 1, "probe": 1, "decode": 1, "inference": 1, "aggregate": 1,
                       "total": 5},
        "request_id": "r-1",
    }
)  # fmt: skip


@pytest.fixture
def keys(tmp_path: Path) -> ReceiptKeys:
    return ReceiptKeys(tmp_path / "receipt_keys")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video, but bytes all the same")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _replace_payload(token: str, claims: dict[str, Any]) -> str:
    """``token`` with its payload re-encoded from ``claims`` and its signature kept."""
    header, _, signature = token.split(".")
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{signature}"


def test_the_claims_say_what_was_answered_about_which_bytes(media: Path) -> None:
    claims = receipt_claims(
        BODY,
        OPTS,
        config=CONFIG,
        media_sha256=_sha256(media),
        description=DESCRIPTION,
        issued_at=1_700_000_000,
    )
    assert claims == {
        "iat": 1_700_000_000,
        "request_id": "r-1",
        "media": {"sha256": _sha256(media)},
        "model": {"name": "deepfake", "version": 3, "kind": "detector",
                  "digest": model_digest(DESCRIPTION)[0], "digest_of": "model_info"},
        "sampling": {"frames": 4, "fps": None, "max_side": 640, "face_detect_every": 1,
                     "face_detect_side": 0, "frame_times_s": [0.0, 0.5]},
        "aggregation": "confident",
        "score": 0.91,
        "tracks": [{"id": 0, "score": 0.91}],
        "verdict": "fake",
        "threshold": 0.4,
        "operating_point": "balanced",
        "gateway": {"version": gateway_version()},
    }  # fmt: skip


def test_a_receipt_verifies_with_the_jwks_and_returns_its_claims(
    keys: ReceiptKeys, media: Path
) -> None:
    body = with_receipt(
        BODY, OPTS, config=CONFIG, media_sha256=_sha256(media), description=DESCRIPTION, keys=keys
    )
    assert body.receipt is not None
    header = jwt.get_unverified_header(body.receipt)
    assert header == {"alg": "EdDSA", "typ": RECEIPT_TYPE, "kid": keys.signing_key().kid}
    claims = verify_receipt(body.receipt, media, jwks=keys.jwks())
    assert claims["media"]["sha256"] == _sha256(media)
    assert claims["score"] == body.score and claims["verdict"] == body.verdict


@pytest.mark.parametrize(
    "change",
    [
        ("media", {"sha256": "0" * 64}),
        ("model", {"name": "deepfake", "version": 4}),
        ("sampling", {"frames": 32}),
        ("aggregation", "max"),
        ("score", 0.1),
        ("tracks", [{"id": 0, "score": 0.1}]),
        ("verdict", "real"),
        ("threshold", 0.99),
        ("operating_point", "high_recall"),
        ("gateway", {"version": "9"}),
        ("iat", 1),
        ("request_id", "r-2"),
    ],
    ids=lambda change: change[0],
)
def test_a_changed_claim_breaks_the_signature(
    keys: ReceiptKeys, media: Path, change: tuple[str, Any]
) -> None:
    token = sign_receipt(
        receipt_claims(
            BODY, OPTS, config=CONFIG, media_sha256=_sha256(media), description=DESCRIPTION
        ),
        keys,
    )
    claims = _payload(token)
    assert change[0] in claims
    forged = _replace_payload(token, {**claims, change[0]: change[1]})
    with pytest.raises(errors.ReceiptVerificationError, match="signature"):
        verify_receipt(forged, media, jwks=keys.jwks())
    # Unchanged, the same re-encoding verifies: only the change broke it.
    assert verify_receipt(_replace_payload(token, claims), media, jwks=keys.jwks())


def test_another_file_fails_the_hash_check(keys: ReceiptKeys, media: Path, tmp_path: Path) -> None:
    token = sign_receipt(
        receipt_claims(
            BODY, OPTS, config=CONFIG, media_sha256=_sha256(media), description=DESCRIPTION
        ),
        keys,
    )
    other = tmp_path / "other.mp4"
    other.write_bytes(media.read_bytes() + b"!")
    with pytest.raises(errors.ReceiptVerificationError, match="sha256"):
        verify_receipt(token, other, jwks=keys.jwks())


def test_a_key_the_jwks_does_not_list_is_refused(
    keys: ReceiptKeys, media: Path, tmp_path: Path
) -> None:
    token = sign_receipt(
        receipt_claims(
            BODY, OPTS, config=CONFIG, media_sha256=_sha256(media), description=DESCRIPTION
        ),
        keys,
    )
    others = ReceiptKeys(tmp_path / "others")
    with pytest.raises(errors.ReceiptVerificationError, match="not in the JWKS"):
        verify_receipt(token, media, jwks=others.jwks())
    # Signed by another key under this key's id: the signature fails.
    forged = sign_receipt(_payload(token), others)
    _, rest = forged.split(".", 1)
    renamed = _b64(json.dumps({**jwt.get_unverified_header(forged),
                               "kid": keys.signing_key().kid}).encode())  # fmt: skip
    with pytest.raises(errors.ReceiptVerificationError, match="signature"):
        verify_receipt(f"{renamed}.{rest}", media, jwks=keys.jwks())


def test_other_algorithms_and_types_are_refused(keys: ReceiptKeys, media: Path) -> None:
    claims = receipt_claims(
        BODY, OPTS, config=CONFIG, media_sha256=_sha256(media), description=DESCRIPTION
    )
    hs = jwt.encode(claims, "a shared secret, long enough for HS256 itself", algorithm="HS256",
                    headers={"kid": keys.signing_key().kid, "typ": RECEIPT_TYPE})  # fmt: skip
    with pytest.raises(errors.ReceiptVerificationError, match="EdDSA"):
        verify_receipt(hs, media, jwks=keys.jwks())
    key = keys.signing_key()
    plain = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    with pytest.raises(errors.ReceiptVerificationError, match="type"):
        verify_receipt(plain, media, jwks=keys.jwks())
    with pytest.raises(errors.ReceiptVerificationError, match="compact JWS"):
        verify_receipt("not.a.receipt", media, jwks=keys.jwks())


def test_the_savedmodels_own_digest_is_the_model_digest_when_the_version_reports_it() -> None:
    reported = "sha256:" + "ab" * 32
    described = VersionDescription(**{**vars(DESCRIPTION), "digest": reported})
    assert model_digest(described) == (reported, "savedmodel")
    claims = receipt_claims(BODY, OPTS, config=CONFIG, media_sha256="0" * 64, description=described)
    assert (claims["model"]["digest"], claims["model"]["digest_of"]) == (reported, "savedmodel")


def test_without_one_the_digest_follows_what_the_version_says_of_itself() -> None:
    digest, of = model_digest(DESCRIPTION)
    assert of == "model_info"
    assert digest is not None and digest.startswith("sha256:") and len(digest) == 7 + 64
    # Which version said it is stated beside the digest, not inside it.
    assert model_digest(VersionDescription(**{**vars(DESCRIPTION), "version": 9}))[0] == digest
    assert model_digest(VersionDescription(**{**vars(DESCRIPTION), "threshold": 0.41}))[0] != digest
    assert model_digest(None) == (None, None)
