"""Explanations' pieces: PNG data URLs, resizing, which faces are explained, job params."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from contract.aggregation import Track
from gateway.pipeline.explain import (
    choose_frames,
    frames_to_explain,
    heatmap_pixels,
    png_bytes,
    png_data_url,
    resize,
)
from gateway.pipeline.params import DetectParams


def _decode(data_url: str, flags: int) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data_url[len(prefix) :]), np.uint8), flags)
    assert image is not None
    return image


def test_png_round_trips_through_an_independent_decoder() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    decoded = _decode(png_data_url(rgb), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1], rgb)  # OpenCV hands out BGR
    gray = rng.integers(0, 256, (9, 5), dtype=np.uint8)
    np.testing.assert_array_equal(_decode(png_data_url(gray), cv2.IMREAD_UNCHANGED), gray)
    assert png_bytes(np.zeros((64, 64), np.uint8)).__len__() < 200  # compressed
    with pytest.raises(ValueError):
        png_bytes(np.zeros((4, 4, 4), np.uint8))


def test_resize_aligns_pixel_centres_as_opencv_does() -> None:
    rng = np.random.default_rng(1)
    small = rng.random((4, 4)).astype(np.float32)
    expected = cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize(small, 112), expected, atol=1e-5)
    crop = rng.integers(0, 256, (32, 32, 3)).astype(np.float32)
    expected = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize(crop, 48), expected, atol=1e-3)
    # A hot cell in the bottom-right quarter stays in that quarter.
    cell = np.zeros((4, 4), np.float32)
    cell[3, 3] = 1.0
    pixels = heatmap_pixels(cell, 64).astype(np.float64)
    assert pixels.max() == 255 and pixels[32:, 32:].sum() / pixels.sum() > 0.99


def test_the_most_suspicious_faces_of_each_track_are_chosen() -> None:
    tracks = [
        Track(
            0, frames=[0, 1, 2, 3, 4], scores=[0.2, 0.9, 0.5, 0.9, 0.1], last_box=[], slots=[0] * 5
        ),
        Track(1, frames=[1, 3], scores=[0.3, 0.4], last_box=[], slots=[1, 0]),
    ]
    picks = choose_frames(tracks, 3)
    # Most suspicious first; a tie goes to the earlier frame.
    assert [(p.track, p.frame, p.slot) for p in picks] == [
        (0, 1, 0), (0, 3, 0), (0, 2, 0), (1, 3, 0), (1, 1, 1),
    ]  # fmt: skip
    assert [p.score for p in picks[:3]] == [0.9, 0.9, 0.5]
    # One row per frame, shared by the tracks: frames 1 and 3 are sent once.
    assert frames_to_explain(picks) == [1, 2, 3]
    assert choose_frames(tracks, 1)[1].frame == 3
    assert choose_frames([], 3) == []


def test_jobs_store_explain_only_when_asked() -> None:
    # Stored and hashed parameters of jobs that do not explain stay what they were.
    assert "explain" not in DetectParams(frames=4).to_dict()
    asked = DetectParams(frames=4, explain=True)
    assert asked.to_dict() == {"frames": 4, "explain": True}
    assert DetectParams.from_dict(asked.to_dict()) == asked
