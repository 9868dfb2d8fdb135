"""Still images through the real HTTPS gateway and the local Serving: the same answer as a
video's, one frame; bombs, broken images and impostors refused with nothing left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import GatewayHandle
from tests.content_credentials import TRAINED, make_credentials, sign_clip
from tests.images import face_scene, png_bomb, write_image

pytestmark = pytest.mark.slow

TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@pytest.fixture(scope="module")
def scene(shared_data: Path) -> Image.Image:
    return face_scene(shared_data)


def _post(gw: GatewayHandle, path: str, body: bytes, content_type: str, **kwargs: object):  # type: ignore[no-untyped-def]
    with gw.client() as client:
        return client.post(
            path, headers={**gw.auth(), "Content-Type": content_type}, content=body, **kwargs
        )


def _assert_nothing_kept(gw: GatewayHandle) -> None:
    uploads = gw.var_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def _assert_one_frame(body: dict, rotation: int = 0) -> None:
    video = body["video"]
    assert video["kind"] == "image"
    assert (video["width"], video["height"], video["rotation"]) == (480, 320, rotation)
    assert (video["duration_s"], video["fps"], video["frames_sampled"]) == (0.0, 0.0, 1)
    assert body["frames_analyzed"] == 1
    assert [p["t_s"] for p in body["timeline"]] == [0.0]
    assert body["verdict"] in ("real", "fake", "inconclusive")
    assert 0.0 <= body["score"] <= 1.0
    # One frame scored: the reason says the verdict rests on it.
    assert "too_few_frames" in body["reasons"]
    for track in body["tracks"]:
        assert track["frames"] == [0]


@pytest.mark.parametrize("suffix", sorted(TYPES))
def test_each_format_is_answered_as_one_frame(
    gateway: GatewayHandle, scene: Image.Image, tmp_path: Path, suffix: str
) -> None:
    path = write_image(tmp_path / f"photo{suffix}", scene, orientation=6)
    response = _post(gateway, "/v1/detect", path.read_bytes(), TYPES[suffix])
    assert response.status_code == 200, response.text
    _assert_one_frame(response.json(), rotation=90)
    _assert_nothing_kept(gateway)


def test_multipart_image_field_and_an_untrusted_content_type(
    gateway: GatewayHandle, scene: Image.Image, tmp_path: Path
) -> None:
    jpeg = write_image(tmp_path / "photo.jpg", scene).read_bytes()
    with gateway.client() as client:
        form = client.post(
            "/v1/detect",
            headers=gateway.auth(),
            files={"image": ("photo.jpg", jpeg, "image/jpeg")},
        )
    assert form.status_code == 200, form.text
    _assert_one_frame(form.json())
    # The bytes say JPEG; a header that says otherwise is not believed.
    mislabelled = _post(gateway, "/v1/detect", jpeg, "video/mp4")
    assert mislabelled.status_code == 200, mislabelled.text
    assert mislabelled.json()["video"]["kind"] == "image"
    assert mislabelled.json()["score"] == form.json()["score"]


def test_a_video_still_says_it_is_one(gateway: GatewayHandle, make_clip) -> None:
    body = gateway.detect(make_clip(frames=10)).json()
    assert body["video"]["kind"] == "video" and body["frames_analyzed"] == 10


def test_a_decompression_bomb_is_refused_and_nothing_is_kept(
    gateway: GatewayHandle, tmp_path: Path
) -> None:
    bomb = png_bomb(tmp_path / "bomb.png").read_bytes()
    for path in ("/v1/detect", "/v1/jobs"):
        response = _post(gateway, path, bomb, "image/png")
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "image_too_large"
        assert "50000000 pixels" in error["message"]
        _assert_nothing_kept(gateway)
    media = gateway.var_dir / "jobs" / "media"
    assert not media.exists() or all(p.is_dir() for p in media.iterdir())


def test_corrupt_images_and_impostors_are_refused(
    gateway: GatewayHandle, scene: Image.Image, tmp_path: Path
) -> None:
    whole = write_image(tmp_path / "photo.jpg", scene).read_bytes()
    truncated = _post(gateway, "/v1/detect", whole[: len(whole) // 3], "image/jpeg")
    assert truncated.status_code == 415, truncated.text
    assert truncated.json()["error"]["code"] == "invalid_image"
    assert str(gateway.var_dir) not in truncated.text
    impostor = _post(
        gateway, "/v1/detect", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"
    )
    assert impostor.status_code == 415, impostor.text
    assert impostor.json()["error"]["code"] == "invalid_video"
    assert "neither a JPEG, PNG or WebP image nor a video" in impostor.json()["error"]["message"]
    _assert_nothing_kept(gateway)


def test_an_image_job_gives_the_same_answer(
    gateway: GatewayHandle, scene: Image.Image, tmp_path: Path
) -> None:
    png = write_image(tmp_path / "photo.png", scene, orientation=6).read_bytes()
    accepted = _post(gateway, "/v1/jobs", png, "image/png")
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["progress"]["frames_total"] == 1 and job["input"]["duration_s"] == 0.0
    deadline = time.monotonic() + 120
    with gateway.client() as client:
        while job["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
            job = client.get(f"/v1/jobs/{job['id']}", headers=gateway.auth()).json()
        assert job["status"] == "succeeded", job
        _assert_one_frame(job["result"], rotation=90)
        direct = _post(gateway, "/v1/detect", png, "image/png").json()
        assert job["result"]["score"] == direct["score"]
        # The page's timeline image of a one-frame result.
        svg = client.get(f"/v1/jobs/{job['id']}/timeline.svg", headers=gateway.auth())
        assert svg.status_code == 200 and svg.text.lstrip().startswith("<svg")


@pytest.mark.parametrize("suffix", sorted(TYPES))
def test_content_credentials_are_read_from_an_image(
    gateway: GatewayHandle, scene: Image.Image, tmp_path: Path, suffix: str
) -> None:
    plain = write_image(tmp_path / f"plain{suffix}", scene)
    signed = sign_clip(
        plain,
        tmp_path / f"signed{suffix}",
        make_credentials("Test Camera"),
        [{"action": "c2pa.created", "digitalSourceType": TRAINED}],
        media_type=TYPES[suffix],
    )
    response = _post(gateway, "/v1/detect", signed.read_bytes(), "application/octet-stream")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["video"]["kind"] == "image"
    provenance = body["provenance"]
    assert provenance["present"] is True and provenance["valid"] is True, provenance
    assert provenance["signer"] == "Test Camera" and provenance["ai_generated"] is True
    unsigned = _post(gateway, "/v1/detect", plain.read_bytes(), TYPES[suffix]).json()
    assert unsigned["provenance"]["present"] is False and unsigned["provenance"]["error"] is None
