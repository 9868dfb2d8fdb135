"""Explanations end to end: a model that can only tell fakes by one region of the face,
served by the real local Serving, asked over HTTPS with ``explain=true``.

The fakes differ from the real clips only in a known region of the face (the mouth and chin
area, tinted); the classifier is trained here on the detector's own crops, so that region is
all it can look at. The heatmaps the gateway returns must put most of their mass inside
it: a uniform map puts only the region's share of the crop there (about a tenth), a map
of the wrong place or misaligned with the crop even less.
"""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from keras import layers

from model_export.face_export import FaceConfig, face_crops, publish_face_version
from tests.conftest import MODEL_NAME, start_gateway, start_serving
from tests.gateway.jobs.helpers import comparable
from tests.videos import encode_frames, face_frames

pytestmark = pytest.mark.slow

SIZE = 64
WIDTH, HEIGHT = 320, 240
#: The fake region as fractions of the detected face box: the mouth and chin area.
REGION_IN_BOX = (0.55, 0.15, 0.95, 0.85)
#: Share of each heatmap's mass that must lie inside the region. The region is about 11%
#: of the crop (what a uniform map would score); the map of the model trained here, on the
#: region and blurred only by its 16x16 grid, scores about 0.73.
MIN_MASS_INSIDE = 0.6


def _tint(frames: list[np.ndarray], region: tuple[float, float, float, float]) -> np.ndarray:
    """The frames with ``region`` (normalised y1, x1, y2, x2) blended halfway to magenta."""
    out = np.stack(frames).astype(np.float32)
    y1, x1, y2, x2 = region
    rows = slice(round(y1 * HEIGHT), round(y2 * HEIGHT))
    cols = slice(round(x1 * WIDTH), round(x2 * WIDTH))
    out[:, rows, cols] = 0.5 * out[:, rows, cols] + 0.5 * np.array([255.0, 0.0, 255.0])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _classifier() -> keras.Model:
    """Two conv-pool stages to a 16x16 map, a 1x1 last convolution, GAP and a sigmoid.

    Small receptive fields (about a tenth of the crop) keep each cell of the map about
    its own place, so that the map can be sharp enough to be tested.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 1, activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


def _jitter(x: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """``copies`` of each image with random contrast, brightness and noise.

    Real and fake crops are otherwise identical outside the region, which leaves whatever
    the net makes of the rest unconstrained (and free to light up the map); varying it
    teaches the net that only the region tells.
    """
    rng = np.random.default_rng(seed)
    xs = np.repeat(x, copies, axis=0)
    xs = xs * rng.uniform(0.7, 1.3, (len(xs), 1, 1, 1)) + rng.uniform(
        -0.15, 0.15, (len(xs), 1, 1, 1)
    )
    xs = xs + rng.normal(0.0, 0.05, xs.shape)
    return np.clip(xs, 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def region() -> tuple[float, float, float, float]:
    """The fake region in frame coordinates, from the detector's box on a still face."""
    frame = np.stack(face_frames(1, WIDTH, HEIGHT, faces=1, still=True))
    _, boxes, _, count = face_crops(frame, SIZE, FaceConfig())
    assert int(count[0]) == 1
    y1, x1, y2, x2 = (float(v) for v in boxes[0, 0])
    a, b, c, d = REGION_IN_BOX
    h, w = y2 - y1, x2 - x1
    return (y1 + a * h, x1 + b * w, y1 + c * h, x1 + d * w)


@pytest.fixture(scope="module")
def explained_model(region, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """Train on the detector's crops of real and tinted frames; publish face-aware."""
    real = [f for s in range(8) for f in face_frames(3, WIDTH, HEIGHT, faces=1, seed=s, still=True)]
    frames = np.concatenate([np.stack(real), _tint(real, region)])
    labels = np.repeat([0.0, 1.0], len(real)).astype(np.float32)
    crops, _, _, count = face_crops(frames, SIZE, FaceConfig())
    assert np.all(np.asarray(count) == 1), "the tint must not hide the face from the detector"
    x = np.asarray(crops[:, 0], np.float32) / 255.0
    model = _classifier()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(_jitter(x, 4), np.repeat(labels, 4), epochs=30, batch_size=8, verbose=0)
    p = model.predict(x, verbose=0).ravel()
    assert p[labels == 1].min() > 0.5 > p[labels == 0].max(), "the classifier did not learn"
    base = tmp_path_factory.mktemp("models")
    publish_face_version(model, base, MODEL_NAME, threshold=0.5, input_size=(SIZE, SIZE))
    return base / MODEL_NAME


@pytest.fixture(scope="module")
def serving(explained_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    handle = start_serving(explained_model, tmp_path_factory.mktemp("logs") / "serving.log")
    yield handle
    handle.process.stop()


@pytest.fixture(scope="module")
def gateway(serving, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), serving.target)
    yield handle
    handle.process.stop()


def _decode(data_url: str, flags: int) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    raw = np.frombuffer(base64.b64decode(data_url[len(prefix) :]), np.uint8)
    image = cv2.imdecode(raw, flags)
    assert image is not None
    return image


def _inside(region, crop_box, side: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Mask of the pixels of a ``side``-square image over ``crop_box`` that lie in ``region``."""
    y1, x1, y2, x2 = crop_box
    centres = (np.arange(side) + 0.5) / side
    ys, xs = y1 + centres * (y2 - y1), x1 + centres * (x2 - x1)
    rows = (ys >= region[0]) & (ys <= region[2])
    cols = (xs >= region[1]) & (xs <= region[3])
    return rows[:, None] & cols[None, :]


def _check_explanations(body: dict, region) -> list[dict]:  # type: ignore[no-untyped-def]
    """Assert that the one track's explanations lie on ``region``; return them."""
    assert body["verdict"] == "fake", body
    assert body["timings_ms"]["explain"] is not None and body["warnings"] == []
    (track,) = [t for t in body["tracks"] if len(t["frames"]) >= 4]
    explanations = track["explanations"]
    assert len(explanations) == 3  # GATEWAY_EXPLAIN_PER_TRACK's default
    scores = [e["score"] for e in explanations]
    assert scores == sorted(scores, reverse=True)
    for e in explanations:
        point = body["timeline"][e["frame"]]
        assert point["t_s"] == e["t_s"]
        assert e["box"] in [f["box"] for f in point["faces"] if f["track"] == track["id"]]
        heat = _decode(e["heatmap_png"], cv2.IMREAD_UNCHANGED).astype(np.float64)
        face = _decode(e["face_png"], cv2.IMREAD_COLOR)[..., ::-1].astype(np.float64)
        assert heat.ndim == 2 and face.shape == (*heat.shape, 3) and heat.max() > 200
        inside = _inside(region, e["crop_box"], heat.shape[0])
        share = inside.mean()
        assert 0.05 < share < 0.2  # the bar is far above what a uniform map scores
        mass = heat[inside].sum() / heat.sum()
        assert mass > MIN_MASS_INSIDE, f"{mass:.2f} of the heatmap in the region"
        # The thumbnail shows the same place: the tint is where the region maps to.
        magenta = face[..., 0] + face[..., 2] - 2 * face[..., 1]
        assert magenta[inside].mean() > magenta[~inside].mean() + 100
    return explanations


@pytest.fixture(scope="module")
def fake_clip(region, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    frames = _tint(face_frames(12, WIDTH, HEIGHT, faces=1, seed=50, still=True), region)
    return encode_frames(tmp_path_factory.mktemp("clips") / "fake.mp4", list(frames))


def test_heatmaps_lie_on_the_manipulated_region(gateway, region, fake_clip) -> None:  # type: ignore[no-untyped-def]
    body = gateway.detect(fake_clip, params={"frames": 6, "explain": "true"}).json()
    _check_explanations(body, region)

    # A job asked for explanations answers the same body.
    with gateway.client() as client:
        waited = client.post(
            "/v1/detect",
            params={"frames": 6, "explain": "true"},
            headers={
                **gateway.auth(),
                "Content-Type": "video/mp4",
                "Prefer": "respond-async, wait=60",
            },
            content=fake_clip.read_bytes(),
        )
    assert waited.status_code == 200 and "content-location" in waited.headers, waited.text
    assert comparable(waited.json()) == comparable(body)

    plain = gateway.detect(fake_clip, params={"frames": 6}).json()
    assert all(t["explanations"] is None for t in plain["tracks"])
    assert plain["timings_ms"]["explain"] is None


def test_letterboxed_frames_map_onto_the_picture(  # type: ignore[no-untyped-def]
    serving, gateway, gateway_factory, region, fake_clip
) -> None:
    # Frames padded into a square canvas: boxes and crop boxes come back on the picture.
    boxed = gateway_factory(serving.target, GATEWAY_FRAME_CANVAS="384")
    body = boxed.detect(fake_clip, params={"frames": 6, "explain": "true"}).json()
    padded = _check_explanations(body, region)
    plain = _check_explanations(
        gateway.detect(fake_clip, params={"frames": 6, "explain": "true"}).json(), region
    )
    for a, b in zip(padded, plain, strict=True):
        assert a["crop_box"] == pytest.approx(b["crop_box"], abs=0.02)
