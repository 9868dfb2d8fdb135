"""Named operating points: targets met, thresholds ordered, rates inside their intervals, and
carried by a published version's model_info as TF Serving loads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import contract
from model_export import roc
from model_export.operating_points import (
    HIGH_RECALL_TARGET,
    LOW_FPR_TARGET,
    Evidence,
    operating_points,
)
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from tests.tiny_model import export_tiny_model


def _separated(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    # Separated but overlapping (AUC about 0.92): the balanced threshold meets neither 95%
    # target, so both named points move away from it. Classes so far apart that balanced
    # already has both rates past 95% would order high_recall above low_false_positive.
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    scores = np.clip(np.r_[rng.normal(0.3, 0.18, n), rng.normal(0.7, 0.18, n)], 0.001, 0.999)
    return labels, scores


def _by_name(points: list[dict]) -> dict[str, dict]:
    return {p["name"]: p for p in points}


def _rates(labels: np.ndarray, scores: np.ndarray, t: float) -> tuple[float, float]:
    y = labels.astype(bool)
    return float(np.mean(scores[~y] >= t)), float(np.mean(scores[y] >= t))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_targets_met_and_thresholds_ordered(seed: int) -> None:
    labels, scores = _separated(seed)
    balanced = roc.best_threshold(labels, scores)
    evidence = Evidence(labels, scores, "validation", "synthetic")
    points = _by_name(operating_points(balanced, evidence))
    low, high = points["low_false_positive"], points["high_recall"]
    fpr, _ = _rates(labels, scores, low["threshold"])
    _, tpr = _rates(labels, scores, high["threshold"])
    assert fpr <= LOW_FPR_TARGET
    assert tpr >= HIGH_RECALL_TARGET
    # The lowest threshold within the target: any lower score would let more reals through.
    below = scores[scores < low["threshold"]].max()
    assert _rates(labels, scores, below)[0] > LOW_FPR_TARGET
    above = scores[scores >= high["threshold"]].min()
    assert _rates(labels, scores, np.nextafter(above, 1))[1] < HIGH_RECALL_TARGET
    assert high["threshold"] <= points["balanced"]["threshold"] <= low["threshold"]
    assert points["balanced"]["threshold"] == balanced


def test_rates_lie_within_their_intervals() -> None:
    labels, scores = _separated(3, n=60)
    for point in operating_points(0.5, Evidence(labels, scores, "validation", "synthetic")):
        fpr, tpr = _rates(labels, scores, point["threshold"])
        for key, value in (("false_positive_rate", fpr), ("detection_rate", tpr)):
            rate = point[key]
            assert rate["point"] == pytest.approx(value, abs=1e-6)
            assert rate["low"] <= rate["point"] <= rate["high"]
            assert rate["high"] - rate["low"] < 0.5
        assert point["videos"] == {"real": 60, "fake": 60}
        assert point["fitted_on"] == "validation" and point["interval_over"] == "videos"


def test_clusters_resample_sources_and_widen_the_interval() -> None:
    labels, scores = _separated(4, n=60)
    # Sources whose reals sit apart: resampling them varies the rates more than videos do.
    clusters = np.array([f"s{i % 4}" for i in range(120)])
    scores = scores + np.where(labels == 0, (np.arange(120) % 4) * 0.05, 0.0)
    plain = _by_name(operating_points(0.5, Evidence(labels, scores, "out_of_fold", "x")))
    grouped = _by_name(
        operating_points(0.5, Evidence(labels, scores, "out_of_fold", "x", clusters))
    )
    assert grouped["balanced"]["interval_over"] == "sources"

    def width(p: dict) -> float:
        return p["false_positive_rate"]["high"] - p["false_positive_rate"]["low"]

    assert width(grouped["balanced"]) > width(plain["balanced"])


@pytest.mark.parametrize("labels", [None, np.ones(5, int)])
def test_without_both_classes_only_the_shipped_threshold(labels: np.ndarray | None) -> None:
    evidence = None if labels is None else Evidence(labels, np.linspace(0, 1, 5), "v", "d")
    (point,) = operating_points(0.42, evidence)
    assert point["name"] == contract.OPERATING_POINT_BALANCED
    assert point["threshold"] == 0.42
    assert point["false_positive_rate"] is None and point["detection_rate"] is None
    assert point["data"] == "none"


def test_published_version_carries_its_points_through_the_session(tmp_path: Path) -> None:
    version = export_tiny_model(tmp_path, "m", threshold=0.37)
    info = json.loads((version / INFO_RELATIVE_PATH).read_text())
    with load_version(version) as loaded:
        outputs = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((2, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
        )
    served = json.loads(np.asarray(outputs[contract.OPERATING_POINTS]).reshape(-1)[0])
    assert served == info["operating_points"]
    assert [p["name"] for p in served] == ["balanced"]
    assert served[0]["threshold"] == pytest.approx(info["threshold"])
    assert served[0]["data"] == "none"


def test_measured_points_reach_model_info(tmp_path: Path) -> None:
    from model_export.export import publish_version
    from tests.tiny_model import TINY_INPUT_SIZE, tiny_cnn

    labels, scores = _separated(5, n=40)
    evidence = Evidence(labels, scores, "validation", "synthetic scores")
    version = publish_version(
        tiny_cnn(TINY_INPUT_SIZE), tmp_path, "m", threshold=0.5, input_size=TINY_INPUT_SIZE,
        evidence=evidence,
    )  # fmt: skip
    with load_version(version) as loaded:
        outputs = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((1, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
        )
    served = _by_name(json.loads(np.asarray(outputs[contract.OPERATING_POINTS]).reshape(-1)[0]))
    assert set(served) == {"balanced", "low_false_positive", "high_recall"}
    assert served["low_false_positive"]["data"] == "synthetic scores"
    assert served["low_false_positive"]["false_positive_rate"]["point"] <= LOW_FPR_TARGET
    stored = json.loads((version / INFO_RELATIVE_PATH).read_text())["operating_points"]
    assert _by_name(stored) == served
