"""Reliability figures and diagram: known calibration on synthetic scores, the PNG, and the
evaluate command writing both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export import roc
from model_export.calibration import class_weights
from model_export.reliability import (
    DIAGRAM_FILE,
    markdown,
    plot_reliability,
    reliability_figures,
)

from .helpers import solid_clip


def calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities drawn uniformly and labels drawn from them: calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return (rng.random(n) < p).astype(int), p


def test_ece_of_calibrated_scores_is_near_zero() -> None:
    labels, p = calibrated(20000, seed=1)
    assert roc.expected_calibration_error(labels, p) < 0.02
    assert roc.expected_calibration_error(labels, p, fake_prior=0.5) < 0.02


def test_ece_of_a_saturated_overconfident_scorer_is_large() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 2000)
    # Certain of every answer and wrong on a third of them.
    wrong = rng.random(2000) < 1 / 3
    scores = np.where(labels.astype(bool) ^ wrong, 0.999, 0.001)
    assert roc.expected_calibration_error(labels, scores, fake_prior=0.5) > 0.3
    assert roc.log_loss(labels, scores, fake_prior=0.5) > 2.0


def test_prior_weighting_undoes_the_set_share_of_fakes() -> None:
    # Calibrated for a fake prior of 0.5, then three fakes in four dropped: the unweighted
    # figures see a set at about 0.2 fakes, the weighted ones the prior the scores are for.
    labels, p = calibrated(40000, seed=3)
    keep = (labels == 0) | (np.random.default_rng(4).random(len(labels)) < 0.25)
    y, s = labels[keep], p[keep]
    assert y.mean() < 0.25
    assert roc.expected_calibration_error(y, s) > 0.15
    assert roc.expected_calibration_error(y, s, fake_prior=0.5) < 0.03
    bins = roc.calibration_bins(y, s, fake_prior=0.5)
    assert sum(b.weight for b in bins) == pytest.approx(1.0)
    for b in bins:
        assert b.low <= b.mean_probability < b.high
        assert b.fake_rate == pytest.approx(b.mean_probability, abs=0.05)


def test_weighted_figures_are_the_class_weighted_means() -> None:
    labels = np.array([0, 0, 0, 1])
    scores = np.array([0.1, 0.4, 0.2, 0.7])
    w = class_weights(labels, 0.5)
    losses = -(labels * np.log(scores) + (1 - labels) * np.log(1 - scores))
    assert roc.log_loss(labels, scores, fake_prior=0.5) == pytest.approx(np.mean(w * losses))
    expected = np.mean(w * (scores - labels) ** 2)
    assert roc.brier(labels, scores, fake_prior=0.5) == pytest.approx(expected)
    # Unweighted figures are unchanged by the keyword's default.
    assert roc.brier(labels, scores) == pytest.approx(np.mean((scores - labels) ** 2))
    # One class only: no prior to weigh to.
    assert np.isnan(roc.log_loss(np.ones(3), np.full(3, 0.9), fake_prior=0.5))
    assert roc.calibration_bins(np.ones(3), np.full(3, 0.9), fake_prior=0.5) == []


def test_bins_count_every_video_and_intervals_hold_the_point() -> None:
    rng = np.random.default_rng(5)
    labels, p = calibrated(300, seed=6)
    sources = [f"s{i}" for i in rng.integers(0, 12, 300)]
    figures = reliability_figures(labels, p, clusters=sources, resamples=300)
    assert sum(b["videos"] for b in figures["bins"]) == 300
    assert sum(b["fake"] for b in figures["bins"]) == labels.sum()
    assert figures["interval_unit"] == "source" and figures["clusters"] == 12
    for key in ("ece", "brier", "log_loss"):
        for interval in (figures[key], figures["by_video"][key]):
            assert interval["low"] <= interval["point"] <= interval["high"]
        assert figures[key]["point"] == figures["by_video"][key]["point"]
    assert figures["ece"]["point"] == pytest.approx(
        roc.expected_calibration_error(labels, p, fake_prior=0.5)
    )
    json.dumps(figures, allow_nan=False)  # machine-readable: empty bins are null, not NaN
    text = markdown(figures, "Reliability")
    assert "| ECE (10 bins) |" in text and "| [0.9, 1.0] |" in text


def test_diagram_is_a_png_and_repeats(tmp_path: Path) -> None:
    labels, p = calibrated(200, seed=7)
    sources = [f"s{i % 8}" for i in range(200)]
    first = reliability_figures(labels, p, clusters=sources, resamples=200)
    again = reliability_figures(labels, p, clusters=sources, resamples=200)
    assert first == again
    a = plot_reliability(first, tmp_path / "a.png", title="synthetic")
    b = plot_reliability(again, tmp_path / "b.png", title="synthetic")
    with Image.open(a) as image:
        assert image.format == "PNG"
        assert image.size == (400, 480)
    assert a.read_bytes() == b.read_bytes()
    assert a.stat().st_size < 100_000


def test_one_label_draws_an_empty_diagram(tmp_path: Path) -> None:
    figures = reliability_figures(np.ones(4), np.full(4, 0.8), resamples=50)
    assert figures["bins"] == [] and np.isnan(figures["ece"]["point"])
    with Image.open(plot_reliability(figures, tmp_path / "one.png")) as image:
        assert image.format == "PNG"


def test_evaluate_command_writes_the_diagram_and_figures(tmp_path: Path) -> None:
    from model_export.cli import main
    from model_export.export import publish_version

    from .test_evaluate_gate import brightness_model

    root = tmp_path / "data"
    for i, level in enumerate((20, 60, 90)):
        solid_clip(root / f"real/r{i}.mp4", level)
    for i, level in enumerate((160, 200, 240)):
        solid_clip(root / f"fake/f{i}.mp4", level)
    publish_version(brightness_model(1.0), tmp_path / "m", "d", threshold=0.5, input_size=(8, 8))
    outputs = []
    for run in ("r1", "r2"):
        code = main(["evaluate", "--model", str(tmp_path / "m/d"), "--data", str(root),
                     "--frames", "2", "--output", str(tmp_path / run)])  # fmt: skip
        assert code == 0
        outputs.append(json.loads((tmp_path / run / "metrics.json").read_text()))
    figures = outputs[0]["reliability"]
    assert figures["videos"] == 6 and figures["fake_prior"] == 0.5
    for key in ("ece", "brier", "log_loss"):
        assert figures[key]["low"] <= figures[key]["point"] <= figures[key]["high"]
    assert outputs[0]["reliability"] == outputs[1]["reliability"]
    with Image.open(tmp_path / "r1" / DIAGRAM_FILE) as image:
        assert image.format == "PNG" and image.size == (400, 480)
    assert "| Brier |" in (tmp_path / "r1/reliability.md").read_text()
