"""Still images through a face-aware model trained here: the face found in the upright
picture, whatever EXIF turn it was stored with, and no face said as for videos."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import start_serving
from tests.e2e.conftest import train_tiny_face_model
from tests.images import face_scene, write_image
from tests.videos import frame_pattern

pytestmark = pytest.mark.slow

TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@pytest.fixture(scope="module")
def face_serving(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    model = train_tiny_face_model(tmp_path_factory.mktemp("face-model"), "--frames", "2")
    handle = start_serving(model, tmp_path_factory.mktemp("logs") / "serving.log")
    yield handle
    handle.process.stop()


def _detect(gw, path: Path) -> dict:  # type: ignore[no-untyped-def]
    with gw.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gw.auth(), "Content-Type": TYPES[path.suffix]},
            content=path.read_bytes(),
        )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_face_is_found_in_the_upright_picture(
    face_serving, gateway_factory, shared_data: Path, tmp_path: Path
) -> None:
    gw = gateway_factory(face_serving.target)
    scene = face_scene(shared_data)  # the face in the left half, 256 px tall of 320
    boxes = {}
    for suffix in sorted(TYPES):
        for orientation in (None, 6):
            name = f"photo-{orientation or 1}{suffix}"
            body = _detect(gw, write_image(tmp_path / name, scene, orientation=orientation))
            assert body["video"]["kind"] == "image"
            assert body["video"]["rotation"] == (90 if orientation else 0)
            assert (body["video"]["width"], body["video"]["height"]) == (480, 320)
            assert "no_face" not in body["reasons"], body["reasons"]
            (point,) = body["timeline"]
            assert point["t_s"] == 0.0 and len(point["faces"]) >= 1
            face = max(point["faces"], key=lambda f: f["detection_score"])
            y1, x1, y2, x2 = face["box"]
            # Upright: the face is in the left half, over most of the height.
            assert 0 <= x1 < x2 <= 0.6 and 0 <= y1 < y2 <= 1, face["box"]
            assert y2 - y1 > 0.3
            assert body["tracks"] and all(t["frames"] == [0] for t in body["tracks"])
            boxes[name] = face["box"]
    # The turned copies give the boxes of the upright ones.
    for suffix in TYPES:
        upright, turned = boxes[f"photo-1{suffix}"], boxes[f"photo-6{suffix}"]
        assert max(abs(a - b) for a, b in zip(upright, turned, strict=True)) < 0.05


def test_an_image_without_a_face_is_inconclusive(
    face_serving, gateway_factory, tmp_path: Path
) -> None:
    gw = gateway_factory(face_serving.target)
    empty = write_image(tmp_path / "empty.png", Image.fromarray(frame_pattern(0, 320, 240)))
    body = _detect(gw, empty)
    assert body["verdict"] == "inconclusive" and "no_face" in body["reasons"]
    assert [p["faces"] for p in body["timeline"]] == [[]]
