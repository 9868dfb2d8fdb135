"""The label-mix artefact of per-source folds fitted unweighted, and the protocol that removes it.

Synthetic sources laid out like the eight older shared folders (several hold one label only,
one holds 14 fakes to 1 real), scaled up so that sampling noise stays below the tolerances.
Scores are drawn per video, seeded, and the protocol runs on the score arrays (no TensorFlow):

* a fixed-skill scorer: ``logit(score) ~ N(+-SEPARATION / 2, 1)`` by label, the same in
  every source, so every fold should find the same calibration and the pooled LOSO ROC-AUC
  should be the as-shipped one;
* a no-skill scorer: ``logit(score) ~ N(0, 1)`` whatever the label, whose honest ROC-AUC is
  0.5.

The old rule (one fold per source, each fit weighing every video the same) learns each fit
set's share of fakes into the calibration; holding out a REAL-only source leaves a fit set
rich in fakes, so the held-out reals are lifted, and the pooled figure measures the label mix.
"""

from __future__ import annotations

import numpy as np
import pytest

from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, sigmoid
from model_export.protocol import (
    FoldGroup,
    LosoScores,
    array_scorer,
    loso_folds,
    metrics_with_ci,
    run_folds,
    within_fold,
)

#: (REAL, FAKE) per synthetic source, the mix of the eight older shared folders.
LAYOUT = {
    "mixed-a": (2, 3),
    "mixed-b": (1, 2),
    "mixed-c": (1, 1),
    "fake-heavy": (1, 14),
    "real-only-a": (4, 0),
    "fake-only": (0, 4),
    "real-only-b": (10, 0),
    "mixed-d": (2, 3),
}
#: Every one-label source held out with another source, so every fold holds both labels.
GROUPS = (
    FoldGroup("pair-1", ("fake-only", "real-only-a"), "the fakes made from these reals"),
    FoldGroup("pair-2", ("real-only-b", "mixed-a"), "same manipulation kind"),
)
SCALE = 5
SEPARATION = 1.5
SEEDS = (0, 1, 2)
#: Largest |pooled LOSO AUC - as-shipped AUC| allowed for the fixed-skill scorer.
FIXED_TOLERANCE = 0.03
#: Largest |pooled LOSO AUC - 0.5| allowed for the no-skill scorer.
NO_SKILL_TOLERANCE = 0.05
#: How far below the as-shipped AUC the old rule must put the fixed-skill scorer to count as
#: departing from it, and the highest pooled AUC of the no-skill scorer that counts as the
#: label mix showing (0.5 would be no effect).
OLD_RULE_DROP = 0.05
OLD_RULE_NO_SKILL_CEILING = 0.3


def synthetic(separation: float, seed: int, source_shift: float = 0.0) -> tuple:
    """Labels, sources and scores; ``source_shift`` adds a per-source offset to the logits."""
    rng = np.random.default_rng(seed)
    labels: list[int] = []
    sources: list[str] = []
    for source, (real, fake) in LAYOUT.items():
        labels += [0] * (real * SCALE) + [1] * (fake * SCALE)
        sources += [source] * ((real + fake) * SCALE)
    y = np.array(labels)
    offsets = {s: rng.normal(0.0, source_shift) for s in LAYOUT}
    z = rng.normal(0.0, 1.0, len(y)) + separation * (y - 0.5)
    z += np.array([offsets[s] for s in sources])
    return y, sources, sigmoid(z)


def old_rule(y: np.ndarray, sources: list[str], scores: np.ndarray) -> LosoScores:
    """One fold per source, every fit weighing each of its videos the same."""
    return run_folds(y, sources, array_scorer(scores), groups=(), fake_prior=None)


def fixed_rule(y: np.ndarray, sources: list[str], scores: np.ndarray) -> LosoScores:
    """Grouped folds, every fit weighted to the deployment prior."""
    return run_folds(y, sources, array_scorer(scores), groups=GROUPS)


@pytest.mark.parametrize("seed", SEEDS)
def test_old_rule_measures_the_label_mix(seed: int) -> None:
    y, sources, skilled = synthetic(SEPARATION, seed)
    shipped = roc.roc_auc(y, skilled)
    assert shipped > 0.8  # the scorer has skill
    pooled = roc.roc_auc(y, old_rule(y, sources, skilled).scores)
    assert pooled < shipped - OLD_RULE_DROP
    _, _, blind = synthetic(0.0, seed)
    assert roc.roc_auc(y, old_rule(y, sources, blind).scores) < OLD_RULE_NO_SKILL_CEILING


@pytest.mark.parametrize("seed", SEEDS)
def test_fixed_protocol_keeps_the_scorers_skill(seed: int) -> None:
    y, sources, skilled = synthetic(SEPARATION, seed)
    pooled = roc.roc_auc(y, fixed_rule(y, sources, skilled).scores)
    assert pooled == pytest.approx(roc.roc_auc(y, skilled), abs=FIXED_TOLERANCE)
    _, _, blind = synthetic(0.0, seed)
    assert roc.roc_auc(y, fixed_rule(y, sources, blind).scores) == pytest.approx(
        0.5, abs=NO_SKILL_TOLERANCE
    )


def test_a_constant_scorer_answers_the_fit_sets_share_only_under_the_old_rule() -> None:
    # A scorer that answers the same for every video. The old rule turns it into each fit
    # set's share of fakes; weighted to the prior, every fold answers about the prior.
    y, sources, _ = synthetic(0.0, 0)
    constant = np.full(len(y), 0.3)
    old = old_rule(y, sources, constant)
    assert roc.roc_auc(y, old.scores) < OLD_RULE_NO_SKILL_CEILING
    shares, answers = [], []
    for fold in old.folds:
        held = old.fold_names == fold.name
        assert np.ptp(old.scores[held]) < 1e-9  # one answer per fold
        shares.append(y[~held].mean())
        answers.append(old.scores[held][0])
    assert np.corrcoef(shares, answers)[0, 1] > 0.9
    fixed = fixed_rule(y, sources, constant)
    assert np.max(np.abs(fixed.scores - DEPLOYMENT_FAKE_PRIOR)) < 0.02


def test_every_fold_holds_both_labels_and_within_fold_auc_is_unchanged() -> None:
    y, sources, skilled = synthetic(SEPARATION, 0)
    folds = loso_folds(sources, GROUPS)
    for fold in folds:
        held = y[list(fold.held_out)]
        assert 0 < held.sum() < len(held), fold.name
        assert not set(fold.sources) & {sources[i] for i in fold.fit}
    # One-label sources held out alone give folds with one label.
    assert any(len(set(y[list(f.held_out)])) == 1 for f in loso_folds(sources, ()))
    loso = fixed_rule(y, sources, skilled)
    within = within_fold(y, loso.scores, loso.fold_names, loso.folds, raw=skilled)
    assert within["folds_with_both_labels"] == len(folds)
    for row in within["folds"]:
        # A monotone calibration cannot change the order inside a fold.
        assert row["roc_auc"] == pytest.approx(row["roc_auc_as_shipped"], abs=1e-12)
    assert within["mean_roc_auc"] == pytest.approx(np.mean([r["roc_auc"] for r in within["folds"]]))


def test_source_bootstrap_is_wider_than_video_bootstrap_when_sources_differ() -> None:
    # Scores that move with the source, as processing and footage make them: resampling
    # videos treats the videos of one source as independent and understates the spread.
    y, sources, scores = synthetic(SEPARATION, 3, source_shift=1.0)
    loso = fixed_rule(y, sources, scores)
    report = metrics_with_ci(
        y, loso.scores, loso.thresholds, clusters=sources, resamples=400, seed=0
    )
    assert report["interval_unit"] == "source" and report["clusters"] == len(LAYOUT)
    for metric in ("roc_auc", "log_loss"):
        cluster, video = report[metric], report["by_video"][metric]
        assert cluster["point"] == video["point"]
        assert cluster["high"] - cluster["low"] > video["high"] - video["low"]
