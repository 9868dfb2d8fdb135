"""The re-encoding probe: transformed copies of a clip, and the stability figures of a
version scored on them through the evaluation path."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import av
import keras
import numpy as np
import pytest

from contract.reencode import GEOMETRY_CRF, TRANSFORMS, Transform, output_size, transcode
from model_export import robustness
from model_export.cli import main
from model_export.datasets import discover
from model_export.evaluate import evaluate_version
from model_export.export import publish_version
from tests.videos import write_clip


def _first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _timing(path: Path) -> tuple[int, float, float]:
    """Frame count, average fps and duration in seconds of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        duration = float(stream.duration * stream.time_base)
        return frames, float(stream.average_rate), duration


def _brightness_model() -> keras.Model:
    """P(fake) rising with mean brightness: the same score for a frame and its mirror."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.full((3, 1), 4.0), np.array([-6.0])])
    return model


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A noisy 320x240 clip, 24 frames at 24 fps, with a bright square top-left."""
    return write_clip(tmp_path_factory.mktemp("clip") / "c.mp4", frames=24, fps=24, crf=18)


@pytest.fixture(scope="module")
def copies(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return transcode(clip, tmp_path_factory.mktemp("copies"))


def test_every_transform_is_written(copies: dict[str, Path]) -> None:
    assert list(copies) == [t.name for t in TRANSFORMS]
    assert all(p.is_file() for p in copies.values())


def test_sizes_and_mirror(clip: Path, copies: dict[str, Path]) -> None:
    original = _first_frame(clip)
    assert original.shape == (240, 320, 3)
    assert _first_frame(copies["half"]).shape == (120, 160, 3)
    for name in ("crf23", "crf30", "crf38", "mirror"):
        assert _first_frame(copies[name]).shape == original.shape
    mirrored = _first_frame(copies["mirror"]).astype(float)
    # The bright square moved to the top right, and the picture is the original's mirror.
    assert mirrored[:20, -20:].mean() > 200 > mirrored[:20, :20].mean() + 50
    assert np.abs(mirrored - original[:, ::-1]).mean() < 6
    assert np.abs(mirrored - original).mean() > 20


def test_higher_crf_gives_smaller_files(copies: dict[str, Path]) -> None:
    sizes = [copies[name].stat().st_size for name in ("crf23", "crf30", "crf38")]
    assert sizes[0] > sizes[1] > sizes[2]


def test_fps_and_duration_kept(clip: Path, copies: dict[str, Path]) -> None:
    frames, fps, duration = _timing(clip)
    for path in copies.values():
        got = _timing(path)
        assert got[0] == frames
        assert got[1] == pytest.approx(fps)
        assert got[2] == pytest.approx(duration, abs=1 / fps)


def test_output_size_is_even() -> None:
    assert output_size(321, 241, 0.5) == (160, 120)
    assert output_size(321, 241, 1.0) == (320, 240)
    assert output_size(3, 3, 0.5) == (2, 2)


def test_stratified_subset_takes_the_first_per_source_and_label(tmp_path: Path) -> None:
    from model_export.datasets import LabelledVideo

    videos = [
        LabelledVideo(tmp_path / f"{s}{label}{i}.mp4", label, f"g{s}{i}", "folders", s)
        for s in "ab"
        for label in (0, 1)
        for i in range(3)
    ]
    chosen = robustness.stratified_subset(videos, 2)
    assert len(chosen) == 8
    assert robustness.stratified_subset(videos, None) == list(range(12))
    assert [videos[i].path.name for i in chosen[:2]] == ["a00.mp4", "a01.mp4"]


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """Two REAL and two FAKE clips of the test pattern, in the real/ fake/ layout."""
    root = tmp_path / "data"
    for i in range(2):
        write_clip(root / f"real/r{i}.mp4", frames=8, fps=8, seed=i)
        write_clip(root / f"fake/f{i}.mp4", frames=8, fps=8, seed=10 + i, faces=1)
    return root


def _no_leftovers(tmp: Path) -> None:
    assert not list(tmp.rglob("*.mp4")), "transformed copies left behind"
    assert not [p for p in tmp.iterdir() if p.name.startswith("robust-")]


def test_report_on_a_tiny_model(
    tiny_version: Path, labelled: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(tiny_version), "--data", str(labelled),
                 "--frames", "3", "--output", str(out), "--robustness"])  # fmt: skip
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())["robustness"]
    assert report["videos"] == 4 and report["interval_unit"] == "video"
    assert [row["name"] for row in report["transforms"]] == [t.name for t in TRANSFORMS]
    for row in report["transforms"]:
        for key in ("abs_delta_median", "abs_delta_p90", "verdict_flips"):
            assert math.isfinite(row[key]), (row["name"], key)
        assert math.isfinite(row["roc_auc"]["point"])
        assert 0.0 <= row["verdict_flips"] <= 1.0
    text = (out / "robustness.md").read_text()
    assert "## Stability under re-encoding" in text
    assert all(f"`{t.name}`" in text for t in TRANSFORMS)
    assert "crf38" in capsys.readouterr().out
    _no_leftovers(tmp)


def test_a_mirrored_clip_scores_the_same_with_a_mirror_symmetric_scorer(
    labelled: Path, tmp_path: Path
) -> None:
    version = publish_version(_brightness_model(), tmp_path / "m", "b", threshold=0.5,
                              input_size=(8, 8))  # fmt: skip
    videos = discover([labelled])
    original = evaluate_version(version, videos, frames_per_video=3).videos
    # A plain re-encode at the mirror's CRF: every generation shifts colours a little, so the
    # mirror is compared with it to see the mirror alone.
    plain = Transform("plain", GEOMETRY_CRF)
    mirror = next(t for t in TRANSFORMS if t.name == "mirror")
    scored = robustness.score_transformed(version, videos, 3, [plain, mirror])
    alone = robustness.figures(scored["plain"], scored, 0.5, transforms=[mirror])
    assert alone["transforms"][0]["abs_delta_max"] < 1e-3
    overall = robustness.figures(original, scored, 0.5, transforms=[mirror])["transforms"][0]
    assert overall["abs_delta_max"] < 0.02
    assert overall["verdict_flips"] == 0.0
    # The scorer is not flat: the clips' scores differ by far more than the mirror moves them.
    scores = [v.score for v in original]
    assert max(scores) - min(scores) > 100 * alone["transforms"][0]["abs_delta_max"]


def test_figures_with_a_protocol_report_use_sources_and_fold_fits(
    tiny_version: Path, labelled: Path
) -> None:
    videos = discover([labelled])
    original = evaluate_version(tiny_version, videos, frames_per_video=2).videos
    for i, v in enumerate(original):
        v.source = f"s{i % 2}"
    identity = {"a": 1.0, "b": 0.0}
    loso = {
        "folds": [{"fold": "f", "calibration": identity}],
        "predictions": [
            {"file": str(v.path), "fold": "f", "threshold_loso": 0.25} for v in original
        ],
    }
    crf = [t for t in TRANSFORMS if t.name == "crf38"]
    scored = robustness.score_transformed(tiny_version, videos, 2, crf)
    report = robustness.figures(original, scored, 0.25, loso=loso, transforms=crf)
    assert report["interval_unit"] == "source" and report["sources"] == 2
    row = report["transforms"][0]
    # With the identity as the fold fit, out of fold is as shipped.
    assert row["roc_auc_loso"]["point"] == pytest.approx(row["roc_auc"]["point"])
    assert row["loso"]["abs_delta_p90"] == pytest.approx(row["abs_delta_p90"])
    assert row["loso"]["verdict_flips"] == row["verdict_flips"]
    assert "out of fold" in robustness.markdown({**report, "subset": "every video"})
