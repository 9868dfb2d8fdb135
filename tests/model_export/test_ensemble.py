"""Ensembles: logistic fit, the numpy mirror of the graph, members' scores through TF1 sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import contract
from model_export.calibration import logit as _logit
from model_export.cli import main
from model_export.ensemble_combination import EPSILON, Combination, combine_numpy
from model_export.ensemble_fit import fit_logistic
from model_export.face_export import FaceConfig, publish_face_version
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from tests.tiny_model import tiny_cnn
from tests.videos import write_clip


def logit(p):  # type: ignore[no-untyped-def]
    """The logit the ensemble's graph clips to."""
    return _logit(p, EPSILON)


def test_logistic_fit_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (4000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0] - 0.7 * x[:, 1])))
    y = (rng.random(4000) < p).astype(float)
    weights, bias = fit_logistic(x, y, l2=0.0)
    # Balanced classes move the bias, not the slopes.
    assert weights == pytest.approx([1.5, -0.7], abs=0.15)
    assert np.isfinite(bias)


def test_numpy_combination_scores_the_most_suspicious_face() -> None:
    member_face = np.array([[[0.9, 0.8], [0.2, 0.1], [0.0, 0.0]], [[0.0, 0.0]] * 3])
    count = np.array([2, 0])
    whole = np.array([[0.5, 0.5], [0.3, 0.6]])
    combination = Combination((0.5, 0.5), 0.0)
    out = combine_numpy(member_face, count, whole, combination)
    expected_face = 1 / (1 + np.exp(-(logit(np.array([0.9, 0.8])).mean())))
    expected_whole = 1 / (1 + np.exp(-(logit(np.array([0.3, 0.6])).mean())))
    assert out == pytest.approx([expected_face, expected_whole])


def _calibration_clips(root: Path) -> Path:
    for i in range(2):
        write_clip(root / f"real/r{i}.mp4", frames=3, faces=1, width=320, height=240, seed=10 + i)
        write_clip(root / f"fake/f{i}.mp4", frames=3, faces=2, width=320, height=240, seed=20 + i)
    return root


@pytest.mark.slow
def test_ensemble_outputs_are_its_members_own_scores(tmp_path: Path) -> None:
    base = tmp_path / "members"
    a = publish_face_version(tiny_cnn((32, 32), seed=1), base, "a", threshold=0.4,
                             input_size=(32, 32), faces=FaceConfig(margin=0.3))  # fmt: skip
    b = publish_face_version(tiny_cnn((48, 48), seed=2), base, "b", threshold=0.6,
                             input_size=(48, 48), faces=FaceConfig(margin=0.2))  # fmt: skip
    output = tmp_path / "models" / contract.DEFAULT_MODEL_NAME
    code = main([
        "ensemble", "--member", str(a), "--member", str(base / "b"), "--output", str(output),
        "--calibrate-data", str(_calibration_clips(tmp_path / "cal")), "--frames", "3",
    ])  # fmt: skip
    assert code == 0
    version = output / "1"
    info = json.loads((version / INFO_RELATIVE_PATH).read_text())
    assert info["kind"] == "ensemble" and info["face_aware"]
    assert [m["margin"] for m in info["members"]] == [0.3, 0.2]
    combination = Combination(tuple(info["combination"]["weights"]), info["combination"]["bias"])
    assert info["combination"]["fitted_on_videos"] == 4

    clip_frames = [
        write_clip(tmp_path / "two.mp4", frames=2, faces=2, width=320, height=240, seed=3),
        write_clip(tmp_path / "none.mp4", frames=1, faces=0, width=320, height=240, seed=4),
    ]
    from model_export.video_io import sample_frames

    frames = np.concatenate([sample_frames(p, n) for p, n in zip(clip_frames, (2, 1), strict=True)])
    with load_version(version) as loaded:
        assert loaded.replay_warmup() == 7  # with detect_faces and classify_boxes
        out = loaded.run({contract.FRAMES_INPUT: frames})
        found = loaded.run({contract.FRAMES_INPUT: frames}, contract.DETECT_SIGNATURE)
        again = loaded.run(
            {contract.FRAMES_INPUT: frames, **found}, contract.CLASSIFY_BOXES_SIGNATURE
        )
        names = loaded.run({contract.FRAMES_INPUT: frames[:1]}, contract.MODEL_INFO_SIGNATURE)
        crops = loaded.run(
            {contract.FACES_INPUT: frames[:2, 60:180, 40:160]}, contract.FACES_SIGNATURE
        )
        assert loaded.threshold() == pytest.approx(info["threshold"], abs=1e-6)
    assert [n.decode() for n in names[contract.MEMBER_NAMES][0]] == info["member_names"]
    assert out[contract.FACE_COUNT].tolist()[2] == 0 and min(out[contract.FACE_COUNT][:2]) >= 1
    assert out[contract.MEMBER_FAKE_PROBABILITY].shape == (3, 4, 2)
    # Faces found by detect_faces and scored by classify_boxes: serving_default's answer.
    assert set(again) == set(out)
    for key, value in out.items():
        np.testing.assert_allclose(again[key], value, atol=1e-5, err_msg=key)

    for m, member in enumerate((a, b)):
        with load_version(member) as loaded:
            own = loaded.run({contract.FRAMES_INPUT: frames})
            own_crops = loaded.run(
                {contract.FACES_INPUT: frames[:2, 60:180, 40:160]}, contract.FACES_SIGNATURE
            )
        np.testing.assert_array_equal(own[contract.FACE_COUNT], out[contract.FACE_COUNT])
        np.testing.assert_allclose(own[contract.FACE_BOXES], out[contract.FACE_BOXES], atol=1e-6)
        np.testing.assert_allclose(
            own[contract.FACE_FAKE_PROBABILITY], out[contract.MEMBER_FAKE_PROBABILITY][..., m],
            atol=1e-5,
        )  # fmt: skip
        np.testing.assert_allclose(
            own[contract.FAKE_PROBABILITY], out[contract.MEMBER_FRAME_FAKE_PROBABILITY][:, m],
            atol=1e-5,
        )  # fmt: skip
        np.testing.assert_allclose(
            own_crops[contract.FAKE_PROBABILITY], crops[contract.MEMBER_FAKE_PROBABILITY][:, m],
            atol=1e-5,
        )  # fmt: skip

    # Faceless frames: the members' frame scores are their whole-frame scores.
    expected = combine_numpy(
        out[contract.MEMBER_FAKE_PROBABILITY], out[contract.FACE_COUNT],
        out[contract.MEMBER_FRAME_FAKE_PROBABILITY], combination,
    )  # fmt: skip
    np.testing.assert_allclose(out[contract.FAKE_PROBABILITY], expected, atol=1e-5)
    valid = np.arange(4)[None, :] < out[contract.FACE_COUNT][:, None]
    per_face = 1 / (1 + np.exp(-(combination.bias + logit(out[contract.MEMBER_FAKE_PROBABILITY])
                                 @ np.array(combination.weights))))  # fmt: skip
    np.testing.assert_allclose(
        out[contract.FACE_FAKE_PROBABILITY], np.where(valid, per_face, 0.0), atol=1e-5
    )


@pytest.mark.slow
def test_mesonet_members_without_validation_weigh_equally(
    shared_data: Path, tmp_path: Path
) -> None:
    weights = shared_data / "weights_mesonet_dariusaf"
    meso4, inception = (
        sorted(weights.glob("Meso4_DF*.h5"))[0],
        sorted(weights.glob("MesoInception_DF*.h5"))[0],
    )
    output = tmp_path / "models" / contract.DEFAULT_MODEL_NAME
    assert main([
        "ensemble", "--member", f"meso4:{meso4}", "--member", f"mesoinception4:{inception}",
        "--output", str(output),
    ]) == 0  # fmt: skip
    info = json.loads((output / "1" / INFO_RELATIVE_PATH).read_text())
    assert info["combination"]["weights"] == [0.5, 0.5] and info["threshold"] == pytest.approx(0.5)
    assert info["member_names"] == [f"meso4:{meso4.stem}", f"mesoinception4:{inception.stem}"]
    frame = write_clip(tmp_path / "one.mp4", frames=1, faces=1, width=320, height=240)
    from model_export.video_io import sample_frames

    with load_version(output / "1") as loaded:
        out = loaded.run({contract.FRAMES_INPUT: sample_frames(frame, 1)})
    assert out[contract.FACE_COUNT].tolist() == [1]
    p = out[contract.MEMBER_FAKE_PROBABILITY][0, 0]
    assert out[contract.FACE_FAKE_PROBABILITY][0, 0] == pytest.approx(
        1 / (1 + np.exp(-logit(p).mean())), abs=1e-5
    )
