"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_export import roc


def test_auc_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc.roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    # One of four positive/negative pairs misordered: 3/4.
    assert roc.roc_auc(y, [0.1, 0.6, 0.5, 0.9]) == 0.75
    assert math.isnan(roc.roc_auc([1, 1], [0.2, 0.3]))


def test_log_loss_and_counts() -> None:
    m = roc.binary_metrics([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.6], threshold=0.5)
    assert (m.tp, m.fp, m.tn, m.fn) == (1, 1, 1, 1)
    assert m.accuracy == 0.5 and m.precision == 0.5 and m.recall == 0.5 and m.f1 == 0.5
    expected = -np.mean(np.log([0.8, 0.7, 0.4, 0.4]))
    assert abs(m.log_loss - expected) < 1e-9


def test_best_threshold_separates() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = roc.best_threshold(y, s)
    assert 0.3 < t <= 0.7
    assert roc.binary_metrics(y, s, t).accuracy == 1.0


def test_best_threshold_weighs_classes_to_the_prior_not_the_share() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), np.ones(10)].astype(int)
    s = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.15, len(y)), 0.01, 0.99)
    t = roc.best_threshold(y, s)
    fpr, tpr, _ = roc.roc_curve(y, s)
    # At the default prior of 0.5 the objective is balanced accuracy (Youden's J).
    j = roc.binary_metrics(y, s, t)
    best_j = max(tp - fp for fp, tp in zip(fpr, tpr, strict=True))
    assert j.recall - j.fp / 40 == pytest.approx(best_j)
    # Three copies of every fake change the share of fakes, not the threshold.
    fakes = y == 1
    more_y, more_s = np.r_[y, y[fakes], y[fakes]], np.r_[s, s[fakes], s[fakes]]
    assert roc.best_threshold(more_y, more_s) == t
    # A lower prior weighs false alarms more: the threshold does not go down.
    assert roc.best_threshold(y, s, fake_prior=0.1) >= t
    assert roc.best_threshold(y, s, fake_prior=0.1) != roc.best_threshold(y, s, fake_prior=0.9)


def test_cluster_bootstrap_draws_whole_clusters() -> None:
    # Clusters of 1 and 9 samples: a resample holds 2, 10 or 18 samples, never anything else.
    y = np.r_[0, np.ones(9)].astype(int)
    s = np.linspace(0.1, 0.9, 10)
    clusters = np.array(["small"] + ["big"] * 9)
    sizes = roc.bootstrap_ci(y, s, lambda a, b: float(len(a)), resamples=300, clusters=clusters)
    assert sizes.point == 10 and sizes.resamples == 300
    assert {sizes.low, sizes.high} <= {2.0, 10.0, 18.0} and sizes.low < sizes.high
    # Resampling samples instead draws 10 every time.
    plain = roc.bootstrap_ci(y, s, lambda a, b: float(len(a)), resamples=50)
    assert plain.low == plain.high == 10
