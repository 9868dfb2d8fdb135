"""Content credentials: clips signed in the test by c2pa's Builder, read by the real gateway.

Two gateways share the module (one trusts the test CA, one has no trust anchors); every
clip is a real H.264 MP4 and every manifest a real one, signed with throw-away
certificates made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.pipeline.provenance import GENERAL_ERROR, ProvenanceReader, read_provenance
from tests.conftest import GatewayHandle, ServingHandle, start_gateway
from tests.content_credentials import (
    IPTC,
    TRAINED,
    SigningCredentials,
    flip_media_bytes,
    garble_manifest,
    make_credentials,
    sign_clip,
)
from tests.videos import write_clip

pytestmark = pytest.mark.slow

CREATED_BY_MODEL = [{"action": "c2pa.created", "digitalSourceType": TRAINED}]
CAPTURED_THEN_FILLED = [
    {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"},
    {"action": "c2pa.edited", "digitalSourceType": TRAINED},
]


@pytest.fixture(scope="module")
def signer() -> SigningCredentials:
    return make_credentials("Test Signer")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, signer: SigningCredentials) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("c2pa-clips")
    plain = write_clip(folder / "plain.mp4", frames=10)
    signed = sign_clip(plain, folder / "signed.mp4", signer, CREATED_BY_MODEL)
    stranger = make_credentials("Someone Else", organization="Elsewhere")
    return {
        "plain": plain,
        "signed": signed,
        "edited": sign_clip(plain, folder / "edited.mp4", signer, CAPTURED_THEN_FILLED),
        "stranger": sign_clip(plain, folder / "stranger.mp4", stranger, CREATED_BY_MODEL),
        "tampered": flip_media_bytes(signed, folder / "tampered.mp4"),
        "garbled": garble_manifest(signed, folder / "garbled.mp4"),
    }


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory, signer: SigningCredentials) -> Path:
    path = tmp_path_factory.mktemp("c2pa-anchors") / "anchors.pem"
    path.write_bytes(signer.ca_pem)
    return path


@pytest.fixture(scope="module")
def trusting(
    serving: ServingHandle, tmp_path_factory: pytest.TempPathFactory, anchors: Path
) -> Iterator[GatewayHandle]:
    """A gateway whose trust anchors are the test CA."""
    handle = start_gateway(
        tmp_path_factory.mktemp("c2pa-gw-trust"),
        serving.target,
        {"GATEWAY_C2PA_TRUST_ANCHORS": str(anchors)},
    )
    yield handle
    handle.process.stop()


@pytest.fixture(scope="module")
def plain_gateway(
    serving: ServingHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """A gateway without trust anchors."""
    handle = start_gateway(tmp_path_factory.mktemp("c2pa-gw-plain"), serving.target)
    yield handle
    handle.process.stop()


def _detect(gateway: GatewayHandle, clip: Path) -> dict:
    response = gateway.detect(clip)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_signed_clip_is_valid_trusted_and_declared_generated(
    trusting: GatewayHandle, clips: dict[str, Path], signer: SigningCredentials
) -> None:
    body = _detect(trusting, clips["signed"])
    provenance = body["provenance"]
    assert provenance["present"] is True
    assert provenance["valid"] is True
    assert provenance["trusted"] is True
    assert provenance["signer"] == signer.common_name
    assert provenance["claim_generator"].startswith("test-generator/1.0")
    assert provenance["digital_source_types"] == [TRAINED]
    assert provenance["ai_generated"] is True
    assert provenance["ai_edited"] is False
    assert provenance["validation_errors"] == []
    assert provenance["error"] is None
    assert provenance["signed_at"] is None  # signed without a time-stamp authority
    assert body["timings_ms"]["provenance"] >= 0
    # The credentials are beside the verdict, not in it: the same frames score the same.
    unsigned = _detect(trusting, clips["plain"])
    assert (body["score"], body["verdict"]) == (unsigned["score"], unsigned["verdict"])
    assert [p["score"] for p in body["timeline"]] == [p["score"] for p in unsigned["timeline"]]


def test_without_trust_anchors_trust_is_not_judged(
    plain_gateway: GatewayHandle, clips: dict[str, Path]
) -> None:
    provenance = _detect(plain_gateway, clips["signed"])["provenance"]
    assert provenance["present"] is True
    assert provenance["valid"] is True
    assert provenance["trusted"] is None
    assert provenance["validation_errors"] == []


def test_a_signer_outside_the_trust_anchors_is_valid_but_untrusted(
    trusting: GatewayHandle, clips: dict[str, Path]
) -> None:
    provenance = _detect(trusting, clips["stranger"])["provenance"]
    assert provenance["valid"] is True
    assert provenance["trusted"] is False
    assert provenance["signer"] == "Someone Else"
    assert "signingCredential.untrusted" in provenance["validation_errors"]


def test_a_generative_edit_of_a_capture_is_ai_edited_not_generated(
    trusting: GatewayHandle, clips: dict[str, Path]
) -> None:
    provenance = _detect(trusting, clips["edited"])["provenance"]
    assert provenance["valid"] is True
    assert provenance["digital_source_types"] == [IPTC + "digitalCapture", TRAINED]
    assert provenance["ai_generated"] is False
    assert provenance["ai_edited"] is True


def test_changed_media_bytes_fail_the_hash(trusting: GatewayHandle, clips: dict[str, Path]) -> None:
    body = _detect(trusting, clips["tampered"])
    provenance = body["provenance"]
    assert provenance["present"] is True
    assert provenance["valid"] is False
    assert "assertion.bmffHash.mismatch" in provenance["validation_errors"]
    assert body["verdict"] in ("real", "fake", "inconclusive")


def test_a_clip_without_credentials_reports_none(
    trusting: GatewayHandle, clips: dict[str, Path]
) -> None:
    provenance = _detect(trusting, clips["plain"])["provenance"]
    assert provenance == {
        "present": False,
        "valid": None,
        "trusted": None,
        "signer": None,
        "claim_generator": None,
        "signed_at": None,
        "digital_source_types": [],
        "ai_generated": False,
        "ai_edited": False,
        "validation_errors": [],
        "error": None,
    }


def test_a_garbled_manifest_is_reported_invalid_and_the_detection_still_answers(
    trusting: GatewayHandle, clips: dict[str, Path]
) -> None:
    body = _detect(trusting, clips["garbled"])
    provenance = body["provenance"]
    assert provenance["present"] is True
    assert provenance["valid"] is False
    assert provenance["trusted"] is False
    assert provenance["validation_errors"] == [GENERAL_ERROR]
    assert provenance["error"]
    assert body["frames_analyzed"] > 0


def test_a_job_result_carries_the_same_provenance(
    trusting: GatewayHandle, clips: dict[str, Path]
) -> None:
    with trusting.client(headers=trusting.auth()) as client:
        accepted = client.post(
            "/v1/jobs",
            headers={"Content-Type": "video/mp4"},
            content=clips["signed"].read_bytes(),
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["result"]["provenance"] == _detect(trusting, clips["signed"])["provenance"]
    assert job["result"]["provenance"]["ai_generated"] is True


def test_a_manifest_only_at_a_url_is_not_fetched(
    tmp_path: Path, clips: dict[str, Path], signer: SigningCredentials
) -> None:
    # Port 9 (discard) on loopback: a fetch, if one were made, would fail differently.
    url = "http://127.0.0.1:9/manifest.c2pa"
    remote = sign_clip(
        clips["plain"], tmp_path / "remote.mp4", signer, CREATED_BY_MODEL, remote_url=url
    )
    provenance = read_provenance(remote)
    assert provenance.present is True
    assert provenance.valid is None
    assert provenance.error is not None and "not fetched" in provenance.error
    assert url in provenance.error


@pytest.mark.parametrize(
    ("actions", "generated", "edited"),
    [
        ([("c2pa.created", "algorithmicMedia")], True, False),
        ([("c2pa.created", "compositeSynthetic")], True, False),
        ([("c2pa.created", "compositeWithTrainedAlgorithmicMedia")], False, True),
        (
            [("c2pa.created", "digitalCapture"), ("c2pa.edited", "algorithmicallyEnhanced")],
            False,
            False,
        ),
        (
            [
                ("c2pa.created", "digitalCapture"),
                ("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"),
            ],
            False,
            True,
        ),
    ],
)
def test_what_counts_as_generated_and_as_edited(
    tmp_path: Path,
    clips: dict[str, Path],
    signer: SigningCredentials,
    actions: list[tuple[str, str]],
    generated: bool,
    edited: bool,
) -> None:
    declared = [{"action": a, "digitalSourceType": IPTC + t} for a, t in actions]
    signed = sign_clip(clips["plain"], tmp_path / "signed.mp4", signer, declared)
    provenance = read_provenance(signed)
    assert provenance.valid is True
    assert provenance.digital_source_types == [IPTC + t for _, t in actions]
    assert (provenance.ai_generated, provenance.ai_edited) == (generated, edited)


def test_a_file_over_the_validation_size_is_read_but_not_validated(
    clips: dict[str, Path], signer: SigningCredentials
) -> None:
    size = clips["tampered"].stat().st_size
    provenance = read_provenance(clips["tampered"], max_verify_bytes=size - 1)
    assert provenance.present is True
    assert provenance.valid is None  # the changed media bytes are not even looked at
    assert provenance.trusted is None
    assert provenance.validation_errors == []
    assert provenance.signer == signer.common_name
    assert provenance.ai_generated is True
    assert provenance.error == f"not validated: larger than {size - 1} bytes"
    at_the_limit = read_provenance(clips["tampered"], max_verify_bytes=size)
    assert at_the_limit.valid is False


def test_a_read_past_its_time_limit_is_abandoned(clips: dict[str, Path], tmp_path: Path) -> None:
    """A read that cannot finish is given up at its limit, whatever the machine's speed.

    The upload is a FIFO with no writer: opening it blocks until one comes, so the read
    is stuck for real (a tiny time limit on a readable file races the read instead).
    """
    stuck = tmp_path / "stuck.mp4"
    os.mkfifo(stuck)
    reader = ProvenanceReader(timeout_s=0.2)
    try:
        provenance, seconds = asyncio.run(reader.read(stuck))
    finally:
        # A writer that closes at once: the abandoned read sees the end of the file and ends
        # (ENXIO if it is not waiting any more; its thread is a daemon either way).
        with contextlib.suppress(OSError):
            os.close(os.open(stuck, os.O_WRONLY | os.O_NONBLOCK))
    assert provenance.present is False
    assert provenance.error is not None and "time limit" in provenance.error
    assert seconds >= 0.2


def test_containers_without_a_c2pa_embedding_are_said_to_be_unread(tmp_path: Path) -> None:
    provenance = read_provenance(write_clip(tmp_path / "clip.mkv", frames=3))
    assert provenance.present is False
    assert provenance.error is not None and "container" in provenance.error


def test_trust_anchors_without_a_certificate_fail_at_startup(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    bad = tmp_path / "anchors.pem"
    shutil.copy(clips["plain"], bad)
    with pytest.raises(ValueError, match="no PEM certificate"):
        ProvenanceReader(trust_anchors=bad)
