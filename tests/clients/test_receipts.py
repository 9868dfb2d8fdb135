"""Receipts end to end: the real gateway over HTTPS signs each answer, the SDK and the
``deepfake verify`` command check it against the published JWKS and the media file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from deepfake_client import Client, errors, fetch_jwks, verify_receipt

from tests.clients.conftest import cli_env, with_claim
from tests.conftest import MODEL_NAME, REPO, GatewayHandle
from tests.videos import write_clip

PARAMS = {"frames": 4}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("receipt-clip") / "clip.mp4", frames=10)


@pytest.fixture(scope="module")
def answer(gateway: GatewayHandle, clip: Path) -> dict[str, Any]:
    """The shared gateway's answer about ``clip``, as JSON."""
    response = gateway.detect(clip, params=PARAMS)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def jwks(gateway: GatewayHandle, answer: dict[str, Any]) -> dict[str, Any]:
    return fetch_jwks(gateway.url, ca_cert=gateway.cafile)


def _kid(receipt: str) -> str:
    return jwt.get_unverified_header(receipt)["kid"]


def test_a_sync_answer_verifies_against_the_jwks_and_says_what_was_answered(
    answer: dict[str, Any], jwks: dict[str, Any], clip: Path, model_base: Path
) -> None:
    claims = verify_receipt(answer["receipt"], clip, jwks=jwks)
    assert claims["media"] == {"sha256": hashlib.sha256(clip.read_bytes()).hexdigest()}
    model = claims["model"]
    assert (model["name"], model["version"], model["kind"]) == (
        answer["model"]["name"], answer["model"]["version"], answer["model"]["kind"],
    )  # fmt: skip
    # The digest the export wrote into the served version, checked against its files.
    from model_export.digest import read_digest

    served = model_base / MODEL_NAME / str(answer["model"]["version"])
    assert (model["digest"], model["digest_of"]) == (read_digest(served), "savedmodel")
    assert claims["sampling"]["frames"] == PARAMS["frames"]
    assert claims["sampling"]["frame_times_s"] == [p["t_s"] for p in answer["timeline"]]
    assert claims["aggregation"] == answer["aggregation"]
    assert claims["score"] == answer["score"]
    assert claims["tracks"] == [{"id": t["id"], "score": t["score"]} for t in answer["tracks"]]
    assert claims["verdict"] == answer["verdict"]
    assert claims["threshold"] == answer["threshold"]
    assert claims["operating_point"] == answer["operating_point"]["name"]
    assert claims["request_id"] == answer["request_id"]
    assert claims["gateway"]["version"]
    assert _kid(answer["receipt"]) == jwks["keys"][0]["kid"]


def test_the_sdk_model_carries_the_receipt(gateway: GatewayHandle, clip: Path) -> None:
    with Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as client:
        result = client.detect(clip, frames=2)
    assert result.receipt is not None
    claims = verify_receipt(
        result.receipt, clip, jwks=fetch_jwks(gateway.url, ca_cert=gateway.cafile)
    )
    assert claims["score"] == result.score and claims["sampling"]["frames"] == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("media", {"sha256": "0" * 64}),
        ("model", {"name": "deepfake", "version": 99, "kind": "detector"}),
        ("sampling", {"frames": 32}),
        ("aggregation", "max"),
        ("score", 0.0),
        ("tracks", []),
        ("verdict", "real"),
        ("threshold", 1.0),
        ("operating_point", "low_false_positive"),
        ("gateway", {"version": "0"}),
        ("iat", 1),
        ("request_id", "another"),
    ],
)
def test_changing_any_claim_fails(
    answer: dict[str, Any], jwks: dict[str, Any], clip: Path, name: str, value: object
) -> None:
    forged = with_claim(answer["receipt"], name, value)
    with pytest.raises(errors.ReceiptVerificationError, match="signature"):
        verify_receipt(forged, clip, jwks=jwks)


def test_another_file_fails_the_hash_check(
    answer: dict[str, Any], jwks: dict[str, Any], clip: Path, tmp_path: Path
) -> None:
    other = write_clip(tmp_path / "other.mp4", frames=11)
    with pytest.raises(errors.ReceiptVerificationError, match="sha256"):
        verify_receipt(answer["receipt"], other, jwks=jwks)


def test_a_job_result_carries_a_receipt_that_verifies(
    gateway: GatewayHandle, clip: Path, jwks: dict[str, Any]
) -> None:
    with Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as client:
        job = client.jobs.create(clip, frames=4)
        done = client.jobs.wait(job.id, timeout=120)
    assert done.result is not None and done.result.receipt is not None
    claims = verify_receipt(done.result.receipt, clip, jwks=jwks)
    assert claims["score"] == done.result.score
    assert claims["request_id"] == done.result.request_id


def _rotate(var_dir: Path) -> str:
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "rotate-receipt-key"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_rotation_signs_new_answers_with_the_new_key_and_old_receipts_still_verify(
    own_gateway: Callable[..., GatewayHandle], clip: Path
) -> None:
    gateway = own_gateway()
    keys_dir = gateway.var_dir / "receipt_keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in keys_dir.iterdir()] == [0o600]
    before = gateway.detect(clip, params=PARAMS).json()["receipt"]
    old_kid = _kid(before)

    new_kid = _rotate(gateway.var_dir)
    assert new_kid != old_kid
    after = gateway.detect(clip, params=PARAMS).json()["receipt"]
    assert _kid(after) == new_kid
    jwks = fetch_jwks(gateway.url, ca_cert=gateway.cafile)
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in jwks["keys"])
    assert (
        verify_receipt(before, clip, jwks=jwks)["media"]
        == verify_receipt(after, clip, jwks=jwks)["media"]
    )
    # Only the newest private key is kept; the old one's public half stays.
    assert sorted(p.name for p in keys_dir.iterdir()) == ["1.pub.pem", "2.pem"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys_dir.iterdir())
    # A JWKS from before the rotation does not know the new key.
    with pytest.raises(errors.ReceiptVerificationError, match="not in the JWKS"):
        verify_receipt(after, clip, jwks={"keys": jwks["keys"][1:]})


def test_the_command_verifies_a_saved_answer_offline_or_with_the_gateways_keys(
    gateway: GatewayHandle,
    answer: dict[str, Any],
    jwks: dict[str, Any],
    clip: Path,
    tmp_path: Path,
    deepfake: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(answer))
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks))
    offline = deepfake("verify", str(saved), str(clip), "--jwks", str(keys))
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["score"] == answer["score"]
    # The receipt itself as the argument, the keys fetched from DEEPFAKE_URL.
    fetched = deepfake("verify", answer["receipt"], str(clip))
    assert fetched.returncode == 0, fetched.stderr
    other = write_clip(tmp_path / "other.mp4", frames=11)
    refused = deepfake("verify", str(saved), str(other), "--jwks", str(keys))
    assert refused.returncode == 1 and "sha256" in refused.stderr
    no_keys = deepfake("verify", str(saved), str(clip), env=cli_env(gateway, DEEPFAKE_URL=""))
    assert no_keys.returncode == 2
