"""Platt calibration: the fit, and calibrated scores served from inside the exported graph."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import contract
from contract.aggregation import Face, FrameResult
from model_export.calibration import (
    DEPLOYMENT_FAKE_PRIOR,
    IDENTITY,
    Calibration,
    class_weights,
    effective_size,
    fit_calibration,
    fit_clip_calibration,
    fit_platt,
    logit,
    sigmoid,
)
from model_export.datasets import discover
from model_export.evaluate import VideoResult, evaluate_version, rescore, video_scorer
from model_export.export import publish_version
from model_export.face_export import write_face_saved_model
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.warmup import read_warmup
from tests.tiny_model import TINY_INPUT_SIZE, tiny_cnn

from .helpers import face_clip, solid_clip

#: The calibrated face-aware version two tests read: a tiny net at 48x48, a fitted map.
FACE_SIZE = (48, 48)
FACE_CALIBRATION = Calibration(a=0.6, b=0.5)


@pytest.fixture(scope="module")
def calibrated_face_version(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    """The tiny net and its calibrated face-aware export, written once (exports take seconds)."""
    model = tiny_cnn(FACE_SIZE, seed=2)
    path = tmp_path_factory.mktemp("calibrated") / "m"
    write_face_saved_model(
        model, path, name="m", threshold=0.5, input_size=FACE_SIZE, calibration=FACE_CALIBRATION
    )
    return model, path


def _synthetic(a: float, b: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true fake probability is ``sigmoid(a * logit(score) + b)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    labels = rng.random(n) < sigmoid(a * z + b)
    return labels.astype(int), sigmoid(z)


def _prior_shift(labels: np.ndarray, fake_prior: float | None) -> float:
    """How far weighting the classes to ``fake_prior`` moves a well-specified intercept."""
    if fake_prior is None:
        return 0.0
    share = float(np.mean(labels))
    return float(logit(fake_prior) - logit(share))


@pytest.mark.parametrize("fake_prior", [None, DEPLOYMENT_FAKE_PRIOR, 0.2])
@pytest.mark.parametrize(("a", "b"), [(0.5, -0.4), (2.0, 0.8), (1.0, 0.0)])
def test_fit_platt_recovers_known_parameters(a: float, b: float, fake_prior: float | None) -> None:
    # Weighting the classes to a prior keeps the slope and moves the intercept by
    # logit(prior) - logit(share of fakes): the probability of a fake at that prior.
    labels, scores = _synthetic(a, b, 40_000)
    fitted = fit_platt(labels, scores, fake_prior=fake_prior)
    assert fitted.a == pytest.approx(a, abs=0.05)
    assert fitted.b == pytest.approx(b + _prior_shift(labels, fake_prior), abs=0.05)


@pytest.mark.parametrize("fake_prior", [None, DEPLOYMENT_FAKE_PRIOR])
def test_fit_calibration_recovers_parameters_and_never_worsens_log_loss(
    fake_prior: float | None,
) -> None:
    labels, scores = _synthetic(0.4, -0.6, 20_000, seed=1)
    assert abs(_prior_shift(labels, DEPLOYMENT_FAKE_PRIOR)) > 0.3  # the case is not balanced
    fitted = fit_calibration(labels, lambda c: c.apply(scores), fake_prior=fake_prior)
    assert fitted.a == pytest.approx(0.4, abs=0.05)
    assert fitted.b == pytest.approx(-0.6 + _prior_shift(labels, fake_prior), abs=0.05)
    assert fitted.log_loss_after < fitted.log_loss_before
    weights = class_weights(labels, fake_prior)
    q = np.clip(fitted.apply(scores), 1e-7, 1 - 1e-7)
    weighted = -np.mean(weights * (labels * np.log(q) + (1 - labels) * np.log1p(-q)))
    assert weighted == pytest.approx(fitted.log_loss_after)


def test_calibration_ignores_the_fit_sets_share_of_fakes() -> None:
    # Three copies of every fake: an unweighted fit lifts b by about log(3), a fit weighted
    # to the deployment prior does not move.
    labels, scores = _synthetic(1.0, 0.0, 6000, seed=2)
    fakes = labels == 1
    more_y = np.r_[labels, labels[fakes], labels[fakes]]
    more_s = np.r_[scores, scores[fakes], scores[fakes]]
    fit = {
        prior: (fit_calibration(labels, lambda c: c.apply(scores), fake_prior=prior),
                fit_calibration(more_y, lambda c: c.apply(more_s), fake_prior=prior))
        for prior in (None, DEPLOYMENT_FAKE_PRIOR)
    }  # fmt: skip
    unweighted, weighted = fit[None], fit[DEPLOYMENT_FAKE_PRIOR]
    assert unweighted[1].b - unweighted[0].b == pytest.approx(np.log(3), abs=0.1)
    assert weighted[1].b == pytest.approx(weighted[0].b, abs=0.05)
    assert weighted[1].a == pytest.approx(weighted[0].a, abs=0.05)


def test_one_sided_or_small_fit_sets_stay_near_the_identity() -> None:
    rng = np.random.default_rng(5)
    scores = rng.random(30)
    reals = np.zeros(30, dtype=int)
    # One class only: nothing says where the classes separate.
    assert fit_calibration(reals, lambda c: c.apply(scores)) == IDENTITY
    assert fit_platt(reals, scores) == IDENTITY
    assert effective_size(reals) == 0.0
    # One fake among 30 counts for about 4 videos, so the prior holds the map nearer the
    # identity than an unweighted fit (which weighs all 30 the same) does.
    one_fake = reals.copy()
    one_fake[0] = 1
    assert 3.0 < effective_size(one_fake) < 4.0
    assert effective_size(one_fake, None) == 30
    weighted = fit_calibration(one_fake, lambda c: c.apply(scores))
    unweighted = fit_calibration(one_fake, lambda c: c.apply(scores), fake_prior=None)
    assert abs(weighted.b) < abs(unweighted.b)
    assert np.mean(weighted.apply(scores)) > np.mean(unweighted.apply(scores))
    weights = class_weights(one_fake)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[one_fake == 1].sum() == pytest.approx(DEPLOYMENT_FAKE_PRIOR * 30)


@pytest.mark.parametrize("seed", range(5))
def test_clip_calibration_not_worse_than_identity_on_its_fit_set(seed: int) -> None:
    # Small, overconfident sets, as validation splits are: frame scores near 0 and 1.
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 24)
    clips = [
        np.clip(rng.normal(0.5 + 0.3 * (2 * y - 1) * rng.choice([1, -1], p=[0.7, 0.3]), 0.3, 8),
                0.001, 0.999)
        for y in labels
    ]  # fmt: skip
    fitted = fit_clip_calibration(labels, clips)
    assert fitted.a > 0
    assert fitted.log_loss_after <= fitted.log_loss_before + 1e-12


def test_wrong_way_round_scores_keep_the_map_increasing() -> None:
    fitted = fit_platt(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert 0 < fitted.a < 0.01
    p = np.linspace(0.01, 0.99, 50)
    assert np.all(np.diff(fitted.apply(p)) > 0)


def test_separable_fit_stays_finite_and_not_worse() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.3, 0.35, 0.4, 0.6, 0.65, 0.7])
    platt = fit_platt(labels, scores)
    assert np.isfinite(platt.a) and np.isfinite(platt.b) and platt.a < 10
    fitted = fit_calibration(labels, lambda c: c.apply(scores))
    # More confident than the identity, but bounded by the prior.
    assert 1.0 < fitted.a < 20
    assert fitted.log_loss_after < fitted.log_loss_before


def test_threshold_is_re_expressed_with_the_same_decisions() -> None:
    calibration = Calibration(a=0.7, b=-1.2)
    p = np.random.default_rng(0).random(1000)
    t = 0.37
    assert np.array_equal(p >= t, calibration.apply(p) >= calibration.apply_threshold(t))
    assert IDENTITY.apply_threshold(t) == t
    assert Calibration.from_dict(calibration.as_dict()) == Calibration(a=0.7, b=-1.2)
    with pytest.raises(ValueError):
        Calibration(a=0.0)


def test_floor_bounds_the_served_probability(tmp_path: Path, frames: np.ndarray) -> None:
    model = tiny_cnn(TINY_INPUT_SIZE, seed=4)
    steep = Calibration(a=40.0, b=0.0)
    floored = Calibration(a=40.0, b=0.0, floor=0.3)
    assert not floored.is_identity and Calibration.from_dict(floored.as_dict()) == floored
    served = {}
    for name, calibration in (("steep", steep), ("floored", floored)):
        path = publish_version(
            model, tmp_path, name, threshold=0.5, input_size=TINY_INPUT_SIZE,
            calibration=calibration,
        )  # fmt: skip
        with load_version(path) as loaded:
            served[name] = loaded.run({contract.FRAMES_INPUT: frames})[contract.FAKE_PROBABILITY]
    q = served["floored"]
    np.testing.assert_allclose(q, np.clip(served["steep"], 0.3, 0.7), atol=1e-6)
    # The steep map saturates some frames, which the floor then holds at 0.3 or 0.7.
    assert np.any(np.abs(served["steep"] - 0.5) > 0.2)
    assert q.min() >= 0.3 - 1e-6 and q.max() <= 0.7 + 1e-6
    t = floored.unapply_threshold(0.6)
    assert floored.apply_threshold(t) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        floored.unapply_threshold(0.75)


def test_served_probability_is_calibrated_in_the_graph(tmp_path: Path, frames: np.ndarray) -> None:
    model = tiny_cnn(TINY_INPUT_SIZE, seed=4)
    calibration = Calibration(a=1.7, b=-0.9, videos=10)
    threshold = 0.42
    plain = publish_version(model, tmp_path, "p", threshold=threshold, input_size=TINY_INPUT_SIZE)
    calibrated = publish_version(
        model, tmp_path, "c", threshold=threshold, input_size=TINY_INPUT_SIZE,
        calibration=calibration,
    )  # fmt: skip
    with load_version(plain) as loaded:
        raw = loaded.run({contract.FRAMES_INPUT: frames})
    with load_version(calibrated) as loaded:
        served = loaded.run({contract.FRAMES_INPUT: frames})
        info = loaded.run({contract.FRAMES_INPUT: frames[:1]}, contract.MODEL_INFO_SIGNATURE)
    p = raw[contract.FAKE_PROBABILITY].astype(np.float64)
    q = served[contract.FAKE_PROBABILITY]
    expected = sigmoid(1.7 * logit(p) - 0.9)
    np.testing.assert_allclose(q, expected, atol=1e-5)
    assert np.max(np.abs(q - p)) > 0.01
    shipped = calibration.apply_threshold(threshold)
    np.testing.assert_allclose(served[contract.THRESHOLD], shipped, atol=1e-6)
    np.testing.assert_allclose(info[contract.THRESHOLD], shipped, atol=1e-6)
    # The same frames are called fake before and after.
    assert np.array_equal(p >= threshold, q >= served[contract.THRESHOLD])
    meta = json.loads((calibrated / INFO_RELATIVE_PATH).read_text())
    assert meta["threshold"] == pytest.approx(shipped)
    assert meta["calibration"]["a"] == 1.7 and meta["calibration"]["b"] == -0.9
    assert meta["calibration"]["threshold_uncalibrated"] == threshold
    plain_meta = json.loads((plain / INFO_RELATIVE_PATH).read_text())
    assert plain_meta["calibration"]["identity"] is True
    assert plain_meta["threshold"] == threshold


def test_face_probabilities_are_calibrated_in_the_graph(
    tmp_path: Path, calibrated_face_version: tuple[keras.Model, Path]
) -> None:
    model, calibrated = calibrated_face_version
    calibration = FACE_CALIBRATION
    clip = face_clip(tmp_path / "face.mp4", frames=2)
    from model_export.video_io import sample_frames

    frames = sample_frames(clip, 2)
    crops = np.random.default_rng(3).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    write_face_saved_model(
        model, tmp_path / "plain", name="plain", threshold=0.5, input_size=FACE_SIZE,
        calibration=IDENTITY,
    )  # fmt: skip
    outputs = []
    for path in (tmp_path / "plain", calibrated):
        with load_version(path) as loaded:
            served = loaded.run({contract.FRAMES_INPUT: frames})
            faces = loaded.run({contract.FACES_INPUT: crops}, contract.FACES_SIGNATURE)
        outputs.append((served, faces))
    (raw, raw_faces), (cal, cal_faces) = outputs
    assert int(raw[contract.FACE_COUNT].min()) >= 1
    for key in (contract.FAKE_PROBABILITY, contract.FACE_FAKE_PROBABILITY):
        valid = raw[key] > 0  # padding slots stay 0 in both
        np.testing.assert_allclose(
            cal[key][valid], calibration.apply(raw[key][valid].astype(np.float64)), atol=1e-5
        )
    np.testing.assert_allclose(
        cal_faces[contract.FAKE_PROBABILITY],
        calibration.apply(raw_faces[contract.FAKE_PROBABILITY].astype(np.float64)),
        atol=1e-5,
    )
    np.testing.assert_allclose(cal[contract.THRESHOLD], calibration.apply_threshold(0.5), atol=1e-6)


def test_rescore_gives_the_calibrated_versions_video_score(tmp_path: Path) -> None:
    """The offline recomputation used by calibration and LOSO equals what the graph serves."""
    root = tmp_path / "data"
    for i, level in enumerate((20, 90, 130)):
        solid_clip(root / f"real/r{i}.mp4", level, frames=6)
    for i, level in enumerate((110, 200, 240)):
        solid_clip(root / f"fake/f{i}.mp4", level, frames=6)
    videos = discover([root])
    model = tiny_cnn(TINY_INPUT_SIZE, seed=1)
    calibration = Calibration(a=2.5, b=0.3)
    plain = publish_version(model, tmp_path / "m", "p", threshold=0.5, input_size=TINY_INPUT_SIZE)
    cal = publish_version(
        model, tmp_path / "m", "c", threshold=0.5, input_size=TINY_INPUT_SIZE,
        calibration=calibration,
    )  # fmt: skip
    before = evaluate_version(plain, videos, frames_per_video=6)
    after = evaluate_version(cal, videos, frames_per_video=6)
    for b, a in zip(before.videos, after.videos, strict=True):
        verdict = rescore(
            b.frames, face_aware=b.face_aware, calibration=calibration,
            threshold=calibration.apply_threshold(0.5),
        )  # fmt: skip
        assert verdict.score == pytest.approx(a.score, abs=1e-5)
        assert verdict.verdict == a.verdict


def _face_video(rng: np.random.Generator, label: int, with_faces: float) -> VideoResult:
    frames = []
    for k in range(32):
        faces = []
        if rng.random() < with_faces:
            for j, box in enumerate(
                ([0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9])[: rng.integers(1, 3)]
            ):
                score = float(np.clip(rng.normal(0.35 + 0.3 * label, 0.25), 0.001, 0.999))
                faces.append(Face(box=box, detection_score=0.9 + 0.05 * j, score=score, slot=j))
        score = max((f.score for f in faces), default=float(rng.random()))
        frames.append(FrameResult(t_s=float(k), score=score, faces=faces))
    return VideoResult(Path("v.mp4"), label, "g", 0.0, np.zeros(32), 1.0, frames=frames,
                       face_aware=True, source="s")  # fmt: skip


def test_fast_video_scorer_matches_rescore() -> None:
    rng = np.random.default_rng(5)
    videos = [_face_video(rng, i % 2, 0.9 if i % 5 else 0.1) for i in range(20)]
    scorer = video_scorer(videos)
    for calibration in (IDENTITY, Calibration(a=3.0, b=-1.0), Calibration(a=0.2, b=0.4)):
        expected = [
            rescore(v.frames, face_aware=True, calibration=calibration, threshold=0.5).score
            for v in videos
        ]
        np.testing.assert_allclose(scorer(calibration), expected, atol=1e-12)


def test_the_calibration_probe_is_what_the_exported_graph_answers(
    calibrated_face_version: tuple[keras.Model, Path],
) -> None:
    import tensorflow as tf

    from model_export.face_export import calibration_probe, face_warmup_requests

    (model, version), calibration = calibrated_face_version, FACE_CALIBRATION
    probe = calibration_probe(model, FACE_SIZE, face_warmup_requests("m", FACE_SIZE), calibration)
    # The probe names a record of the warmup the version holds: replay it.
    records = list(read_warmup(version / contract.WARMUP_RELATIVE_PATH))
    request = records[probe["warmup_record"]].predict_log.request
    assert request.model_spec.signature_name == probe["signature"] == contract.FACES_SIGNATURE
    faces = tf.make_ndarray(request.inputs[contract.FACES_INPUT])
    with load_version(version) as loaded:
        got = loaded.run({contract.FACES_INPUT: faces}, contract.FACES_SIGNATURE)
    raw = np.array(probe["uncalibrated"])
    served = got[contract.FAKE_PROBABILITY]
    np.testing.assert_allclose(served, calibration.apply(raw), atol=1e-5)
    np.testing.assert_allclose(served, probe["calibrated"], atol=1e-5)
    assert len(raw) == len(faces) and np.max(np.abs(served - raw)) > 1e-3
