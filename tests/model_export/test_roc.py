"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np

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
