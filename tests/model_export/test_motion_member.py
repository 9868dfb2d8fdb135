"""The talking-head member: its track features, its fit, its export through a TF1 session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import contract
from contract.motion import MOTION_SIGNATURE
from model_export.motion_features import FEATURE_NAMES
from model_export.motion_member import (
    export_motion_member,
    fit_motion_model,
    track_features,
)
from model_export.savedmodel import load_version
from tests.videos import face_frames

BOX = [0.1, 0.3, 0.9, 0.7]


def _track(*, static_background: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    frames = np.stack(
        face_frames(8, 160, 120, faces=1, seed=seed, static_background=static_background)
    )
    return frames, np.tile(np.asarray(BOX, np.float32), (8, 1))


def _feature(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_NAMES.index(name)])


def test_a_still_background_behind_a_moving_face_changes_less() -> None:
    moving = track_features(*_track(static_background=False))
    still = track_features(*_track(static_background=True))
    assert moving.shape == still.shape == (len(FEATURE_NAMES),)
    assert np.isfinite(moving).all() and np.isfinite(still).all()
    # The face bobs the same in both: only the background's change tells them apart.
    assert (
        _feature(still, "log_background_change") < _feature(moving, "log_background_change") - 1.0
    )
    assert _feature(still, "log_face_change") == pytest.approx(
        _feature(moving, "log_face_change"), abs=0.5
    )
    assert 0.3 < _feature(moving, "background_share") < 0.9


def test_a_whole_frame_box_leaves_no_background() -> None:
    frames, _ = _track(static_background=False)
    whole = np.tile(np.asarray(contract.audio.WHOLE_FRAME_BOX, np.float32), (8, 1))
    row = track_features(frames, whole)
    assert _feature(row, "background_share") == 0.0
    assert _feature(row, "log_head_motion") < -6  # the box never moves


def _separable(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 3 == 0).astype(int)  # a third fake: the prior weighs them up
    features = rng.normal(size=(n, len(FEATURE_NAMES)))
    features[:, 1] += 2.5 * (1 - 2 * labels)  # fakes: less background change
    return features, labels


def test_the_fit_finds_the_informative_feature_and_is_calibrated_at_the_prior() -> None:
    features, labels = _separable(300)
    model = fit_motion_model(features, labels)
    weights = np.abs(model.weights)
    assert int(np.argmax(weights)) == 1 and model.weights[1] < 0
    scores = model.score(features)
    # Classes weighted to a 0.5 prior: each class's mean score sits on its side of 0.5.
    assert scores[labels == 1].mean() > 0.7 and scores[labels == 0].mean() < 0.3
    held_features, held_labels = _separable(300, seed=1)
    held = model.score(held_features)
    assert ((held > 0.5) == held_labels.astype(bool)).mean() > 0.85


def test_a_stronger_prior_shrinks_the_weights() -> None:
    features, labels = _separable(30)
    loose = fit_motion_model(features, labels, l2=0.1)
    tight = fit_motion_model(features, labels, l2=30.0)
    assert np.abs(tight.weights).sum() < 0.5 * np.abs(loose.weights).sum()


def test_one_class_or_wrong_shapes_are_refused() -> None:
    features, _ = _separable(10)
    with pytest.raises(ValueError, match="REAL and FAKE"):
        fit_motion_model(features, np.zeros(10, int))
    with pytest.raises(ValueError, match="features"):
        fit_motion_model(features[:, :3], np.arange(10) % 2)


def test_the_export_scores_in_a_tf1_session_as_the_fit_does(tmp_path: Path) -> None:
    tracks = [_track(static_background=s, seed=k) for k, s in enumerate([False, True] * 3)]
    rows = np.stack([track_features(f, b) for f, b in tracks])
    model = fit_motion_model(rows, np.array([0, 1] * 3), l2=1.0)
    path = export_motion_member(model, tmp_path / "1")
    frames = np.stack([f for f, _ in tracks])
    boxes = np.stack([b for _, b in tracks])
    with load_version(path) as loaded:
        got = loaded.run(
            {contract.FRAMES_INPUT: frames, contract.FACE_BOXES: boxes}, MOTION_SIGNATURE
        )[contract.FAKE_PROBABILITY]
    np.testing.assert_allclose(got, model.score(rows), rtol=1e-4, atol=1e-5)
    # What it learnt on these tracks holds: the still backgrounds score higher.
    assert got[1::2].min() > got[0::2].max()
