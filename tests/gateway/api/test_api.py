"""The real gateway over HTTPS in front of the real local Serving."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MODEL_NAME

pytestmark = pytest.mark.slow


def _detect(gateway, clip, **kwargs):  # type: ignore[no-untyped-def]
    with gateway.client() as client, clip.open("rb") as fh:
        return client.post(
            "/v1/detect",
            headers=gateway.auth(),
            files={"video": (clip.name, fh, "video/mp4")},
            **kwargs,
        )


def test_healthz_needs_no_key(gateway) -> None:
    with gateway.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_certificate_is_verified_and_plain_http_refused(gateway) -> None:
    # A client that trusts nothing extra must refuse the self-signed certificate.
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=5) as client:
        client.get(f"{gateway.url}/healthz")


def test_verdict_for_an_uploaded_clip(gateway, make_clip) -> None:
    clip = make_clip(width=320, height=240, frames=60, fps=30)
    response = _detect(gateway, clip)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] in ("real", "fake", "inconclusive")
    assert 0.0 <= body["score"] <= 1.0
    assert body["model"] == {"name": MODEL_NAME, "version": 1, "label": None, "kind": "detector"}
    assert body["warnings"] == []
    assert body["frames_analyzed"] == 32
    assert body["video"]["width"] == 320 and body["video"]["frames_sampled"] == 32
    assert len(body["timeline"]) == 32
    if "near_threshold" in body["reasons"]:
        assert body["verdict"] == "inconclusive"
    else:
        assert (body["score"] >= body["threshold"]) == (body["verdict"] == "fake")
    assert response.headers["x-request-id"] == body["request_id"]


def test_raw_video_body_is_accepted(gateway, make_clip) -> None:
    clip = make_clip(frames=20)
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4"},
            content=clip.read_bytes(),
            params={"frames": 4},
        )
    assert response.status_code == 200, response.text
    assert response.json()["frames_analyzed"] == 4


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer not-a-key"}, 403, "invalid_api_key"),
        ({"Authorization": "Basic abc"}, 401, "missing_api_key"),
    ],
)
def test_api_key_is_required(gateway, make_clip, headers, status, code) -> None:
    clip = make_clip(frames=5)
    with gateway.client() as client:
        response = client.post(
            "/v1/detect", headers=headers, files={"video": ("a.mp4", clip.read_bytes())}
        )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_not_a_video_gets_415(gateway, tmp_path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00\x01garbage" * 1000)
    response = _detect(gateway, bogus)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "invalid_video"


def test_wrong_content_type_gets_415(gateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "application/json"},
            content=b"{}",
        )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_missing_video_field_gets_422(gateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/detect", headers=gateway.auth(), files={"other": ("a.txt", b"hello")}
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "missing_video"


def test_unknown_version_gets_404(gateway, make_clip) -> None:
    clip = make_clip(frames=5)
    response = _detect(gateway, clip, params={"model_version": 99})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_bad_parameters_get_422_json(gateway, make_clip) -> None:
    clip = make_clip(frames=5)
    response = _detect(gateway, clip, params={"frames": 0})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_no_temporary_file_is_left_behind(gateway, make_clip, tmp_path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"nope" * 100)
    _detect(gateway, bogus)
    _detect(gateway, make_clip(frames=5))
    uploads = gateway.var_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_the_openapi_document_lists_the_reason_codes(gateway) -> None:
    from contract.reasons import REASON_CODES, REASON_DESCRIPTIONS

    with gateway.client() as client:
        document = client.get("/openapi.json").json()
    detection = document["components"]["schemas"]["DetectionResponse"]["properties"]
    items = detection["reasons"]["items"]
    assert items["enum"] == list(REASON_CODES)
    assert items["x-enum-descriptions"] == [REASON_DESCRIPTIONS[c] for c in REASON_CODES]
    assert all(code in items["description"] for code in REASON_CODES)
    assert "score_interval" in detection
