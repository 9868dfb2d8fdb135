"""The talking-head member under the fixed protocol: out of fold, alone and joined (numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from model_export import roc
from model_export.motion_features import FEATURE_NAMES
from model_export.motion_protocol import joined_loso, member_loso
from model_export.protocol.fitting import array_scorer


def _videos(per_source: int = 20, sources: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = per_source * sources
    labels = (np.arange(n) % 2).astype(int)
    names = [f"s{i // per_source}" for i in range(n)]
    features = rng.normal(size=(n, len(FEATURE_NAMES)))
    features[:, 0] += 2.0 * labels  # the member's signal
    visual = 1 / (1 + np.exp(-rng.normal(size=n)))  # a visual version with no skill
    return features, labels, names, visual


def test_the_member_alone_is_scored_out_of_fold_with_its_skill() -> None:
    features, labels, names, _ = _videos()
    raw, loso = member_loso(features, labels, names, groups=())
    assert raw.shape == labels.shape and np.isfinite(loso.scores).all()
    assert sorted(f.name for f in loso.folds) == ["s0", "s1", "s2", "s3"]
    assert roc.roc_auc(labels, loso.scores) > 0.8


def test_a_fold_whose_fit_set_has_one_label_is_refused() -> None:
    features, labels, names, _ = _videos()
    labels = np.where(np.array(names) == "s0", labels, 0)  # only s0 holds fakes
    with pytest.raises(ValueError, match="one label"):
        member_loso(features, labels, names, groups=())


def test_joining_the_member_lifts_a_visual_version_without_skill() -> None:
    features, labels, names, visual = _videos()
    has_track = np.ones(len(labels), bool)
    has_track[::7] = False  # these keep their visual score
    joined, combinations = joined_loso(
        array_scorer(visual), features, has_track, labels, names, groups=()
    )
    assert len(combinations) == 4 and all(c["member"] > 0 for c in combinations)
    assert roc.roc_auc(labels, joined.scores) > 0.75
    assert np.isfinite(joined.thresholds).all()
    # A video without a track is its fold's calibrated visual score, untouched by the member.
    untouched = joined_loso(
        array_scorer(visual), features * 0, np.zeros(len(labels), bool), labels, names,
        groups=(),
    )[0]  # fmt: skip
    np.testing.assert_allclose(joined.scores[~has_track], untouched.scores[~has_track])
