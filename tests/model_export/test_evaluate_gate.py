"""Evaluation reports and the publishing gate, on real clips and real exported versions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import contract
from contract.aggregation import decide, frame_results
from model_export.cli import main
from model_export.datasets import discover
from model_export.evaluate import evaluate_version, write_report
from model_export.export import publish_version
from model_export.gate import GateRefused, auc_gate
from model_export.publish import INFO_RELATIVE_PATH

from .helpers import solid_clip


def brightness_model(sign: float) -> keras.Model:
    """P(fake) rising (sign +1) or falling (sign -1) with mean brightness."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.full((3, 1), sign * 4.0), np.array([-sign * 6.0])])
    return model


@pytest.fixture
def bright_fakes(tmp_path: Path) -> Path:
    """Dark REAL clips and bright FAKE clips in the real/ fake/ layout."""
    root = tmp_path / "data"
    for i, level in enumerate((20, 60, 90)):
        solid_clip(root / f"real/r{i}.mp4", level)
    for i, level in enumerate((160, 200, 240)):
        solid_clip(root / f"fake/f{i}.mp4", level)
    return root


def test_report(tmp_path: Path, bright_fakes: Path) -> None:
    version = publish_version(brightness_model(1.0), tmp_path / "m", "d", threshold=0.5,
                              input_size=(8, 8))  # fmt: skip
    videos = discover([bright_fakes])
    evaluation = evaluate_version(version, videos, frames_per_video=3)
    summary = write_report(evaluation, tmp_path / "report", title="t")
    assert summary["video"]["roc_auc"] == 1.0
    assert summary["video"]["accuracy"] == 1.0
    assert (summary["video"]["tp"], summary["video"]["tn"]) == (3, 3)
    assert summary["frame"]["count"] == 18
    assert json.loads((tmp_path / "report/metrics.json").read_text())["threshold"] == 0.5
    with (tmp_path / "report/predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert {r["verdict"] for r in rows if r["label"] == "FAKE"} == {"fake"}
    assert {r["verdict"] for r in rows if r["label"] == "REAL"} == {"real"}
    for name in ("roc.png", "confusion.png"):
        with Image.open(tmp_path / "report" / name) as image:
            assert image.size[0] > 200


def test_evaluate_command(tmp_path: Path, bright_fakes: Path, capsys) -> None:
    publish_version(brightness_model(-1.0), tmp_path / "m", "d", threshold=0.5, input_size=(8, 8))
    code = main(["evaluate", "--model", str(tmp_path / "m/d"), "--data", str(bright_fakes),
                 "--frames", "2", "--output", str(tmp_path / "r")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "video: n=6 accuracy 0.000" in out and "ROC-AUC 0.000" in out
    assert (tmp_path / "r/roc.png").is_file()


def test_gate_refuses_a_worse_candidate(tmp_path: Path, bright_fakes: Path) -> None:
    videos = discover([bright_fakes])
    model_dir = tmp_path / "m" / "d"
    good = publish_version(brightness_model(1.0), tmp_path / "m", "d", threshold=0.5,
                           input_size=(8, 8), gate=auc_gate(model_dir, videos, 2))  # fmt: skip
    assert json.loads((good / INFO_RELATIVE_PATH).read_text())["gate"]["candidate_video_auc"] == 1
    with pytest.raises(GateRefused, match="below serving version 1"):
        publish_version(brightness_model(-1.0), tmp_path / "m", "d", threshold=0.5,
                        input_size=(8, 8), gate=auc_gate(model_dir, videos, 2))  # fmt: skip
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]
    # An equally good candidate passes.
    again = publish_version(brightness_model(1.0), tmp_path / "m", "d", threshold=0.5,
                            input_size=(8, 8), gate=auc_gate(model_dir, videos, 2))  # fmt: skip
    facts = json.loads((again / INFO_RELATIVE_PATH).read_text())["gate"]
    assert facts["serving_version"] == 1 and facts["serving_video_auc"] == 1.0


def test_videos_are_scored_as_the_gateway_scores_them() -> None:
    """Two people, one swapped: the video score is the swapped track's, not the frame mean."""
    n = 6
    outputs = {
        contract.FAKE_PROBABILITY: np.full(n, 0.5, np.float32),
        contract.FACE_COUNT: np.full(n, 2, np.int32),
        contract.FACE_BOXES: np.tile(
            np.array([[0.1, 0.05, 0.5, 0.35], [0.1, 0.6, 0.5, 0.9]], np.float32), (n, 1, 1)
        ),
        contract.FACE_SCORES: np.full((n, 2), 0.99, np.float32),
        contract.FACE_FAKE_PROBABILITY: np.tile(np.array([0.1, 0.9], np.float32), (n, 1)),
    }
    results, face_aware = frame_results(outputs, range(n))
    assert face_aware and [len(r.faces) for r in results] == [2] * n
    verdict = decide(results, face_aware=True, threshold=0.6, aggregation="confident")
    assert [len(t.frames) for t in verdict.tracks] == [n, n]
    assert verdict.score == pytest.approx(0.9) and verdict.verdict == "fake"
    # Without faces in enough frames the gateway would not decide: neither does evaluation.
    outputs[contract.FACE_COUNT][:] = 0
    results, _ = frame_results(outputs, range(n))
    assert decide(results, face_aware=True, threshold=0.6, aggregation="confident").verdict == (
        "inconclusive"
    )
