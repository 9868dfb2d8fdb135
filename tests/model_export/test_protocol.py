"""Leave-one-source-out evaluation: bootstrap intervals, folds, manipulation kinds, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR
from model_export.cli import main
from model_export.datasets import discover
from model_export.export import publish_version
from model_export.manipulations import (
    FACE_SWAP,
    LIP_SYNC,
    REAL,
    REENACTMENT,
    RULES,
    TALKING_HEAD,
    UNSPECIFIED,
    manipulation_kind,
)
from model_export.protocol import (
    FOLD_GROUPS,
    FoldGroup,
    array_scorer,
    check_groups,
    floor_grid,
    loso_folds,
    metrics_with_ci,
)
from model_export.publish import INFO_RELATIVE_PATH as INFO

from .helpers import solid_clip
from .test_evaluate_gate import brightness_model


def test_bootstrap_interval_contains_the_point_and_repeats() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = np.clip(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, 60), 0, 1)
    for metric in (roc.roc_auc, roc.log_loss):
        ci = roc.bootstrap_ci(labels, scores, metric, resamples=500, seed=3)
        assert ci.low <= ci.point <= ci.high
        assert ci.point == metric(labels, scores)
        assert ci.resamples == 500
        assert roc.bootstrap_ci(labels, scores, metric, resamples=500, seed=3) == ci
        assert roc.bootstrap_ci(labels, scores, metric, resamples=500, seed=4) != ci


def test_known_auc_on_synthetic_labels() -> None:
    # Normal scores with unit variance, means 0 and d: AUC = Phi(d / sqrt(2)); d = 1 -> 0.760.
    rng = np.random.default_rng(1)
    n = 4000
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    scores = np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]
    ci = roc.bootstrap_ci(labels, scores, roc.roc_auc, resamples=300, seed=0)
    assert ci.low < 0.7602 < ci.high
    assert ci.high - ci.low < 0.04
    # Exact case: 3 of 4 real/fake pairs ranked correctly.
    assert roc.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.5, 0.9])) == 0.75


def test_bootstrap_drops_resamples_without_both_classes() -> None:
    ci = roc.bootstrap_ci(np.array([0, 1]), np.array([0.2, 0.8]), roc.roc_auc, resamples=200)
    assert ci.point == 1.0
    assert 0 < ci.resamples < 200


def test_a_source_is_never_in_its_own_fit_set() -> None:
    sources = ["b", "a", "c", "a", "b", "b", "d"]
    groups = (FoldGroup("cd", ("c", "d", "absent"), "held out together"),)
    folds = loso_folds(sources, groups)
    # Groups keep only their present sources; other sources are folds of their own.
    assert [(f.name, f.sources) for f in folds] == [
        ("a", ("a",)), ("b", ("b",)), ("cd", ("c", "d")),
    ]  # fmt: skip
    held = []
    for fold in folds:
        assert all(sources[i] in fold.sources for i in fold.held_out)
        assert all(sources[i] not in fold.sources for i in fold.fit)
        assert sorted(fold.fit + fold.held_out) == list(range(len(sources)))
        held += fold.held_out
    # Every video is held out exactly once, and the folds repeat.
    assert sorted(held) == list(range(len(sources)))
    assert loso_folds(sources, groups) == folds
    assert [f.name for f in loso_folds(sources, ())] == ["a", "b", "c", "d"]


def test_fold_groups_are_a_partition_with_reasons() -> None:
    check_groups(FOLD_GROUPS)
    assert all(g.reason and len(g.sources) >= 2 for g in FOLD_GROUPS)
    with pytest.raises(ValueError, match="in fold groups"):
        check_groups((FoldGroup("x", ("a", "b"), "r"), FoldGroup("y", ("b",), "r")))
    with pytest.raises(ValueError, match="names repeat"):
        check_groups((FoldGroup("x", ("a",), "r"), FoldGroup("x", ("b",), "r")))


def test_every_shared_fold_holds_both_labels(shared_data: Path) -> None:
    videos = discover([shared_data])
    sources = [v.source for v in videos]
    labels = np.array([v.label for v in videos])
    one_label = {s for s in set(sources) if len(set(labels[np.array(sources) == s])) == 1}
    assert len(one_label) >= 10  # the reason for grouping
    tabled = {s for g in FOLD_GROUPS for s in g.sources}
    assert one_label <= tabled and tabled <= set(sources)
    folds = loso_folds(sources)
    for fold in folds:
        held = labels[list(fold.held_out)]
        assert 0 < held.sum() < len(held), fold.name
    # Obama appears in three folders (SOURCES.md): they are held out together.
    stems = ("edtalk_in_uncrop_Obama", "lia_vox_obama", "dfl_Kim_Jarrey_0_left")
    obama = {v.source for v in videos if v.path.stem in stems}
    assert len(obama) == 3
    assert sum(1 for f in folds if obama & set(f.sources)) == 1


def test_manipulation_kinds_of_the_shared_sources() -> None:
    assert manipulation_kind("ffpp-c23_icpr2020dfdc", "ffpp_Deepfakes_519_515.mp4", 1) == FACE_SWAP
    assert (
        manipulation_kind("ffpp-c23_icpr2020dfdc", "ffpp_Face2Face_750_743.mp4", 1) == REENACTMENT
    )
    assert (
        manipulation_kind("ffpp-c23_icpr2020dfdc", "ffpp_NeuralTextures_004_982.mp4", 1)
        == REENACTMENT
    )
    assert manipulation_kind("dfdc-facecrops_jphdotam", "abhggqdift_0_0.mp4", 1) == FACE_SWAP
    assert manipulation_kind("sadtalker-generated", "sadtalker_still1.mp4", 1) == TALKING_HEAD
    assert manipulation_kind("lrnet-demo", "lrnet_dfo_fake.mp4", 1) == FACE_SWAP
    assert manipulation_kind("lrnet-demo", "lrnet_ffpp_000_003.mp4", 1) == UNSPECIFIED
    assert manipulation_kind("lrnet-demo", "lrnet_ff_fake.mp4", 1) == UNSPECIFIED
    assert manipulation_kind("deepfacelive-dfm-split", "dfl_Kim_Jarrey_0_right.mp4", 1) == FACE_SWAP
    assert manipulation_kind("edtalk", "edtalk_out_x.mp4", 1) == TALKING_HEAD
    assert manipulation_kind("dreamtalk-mead", "dreamtalk_out.mp4", 1) == TALKING_HEAD
    assert manipulation_kind("wav2lip384-primepake", "w.mp4", 1) == LIP_SYNC
    # A REAL clip is real whatever its folder; an unknown folder's fakes are unspecified.
    assert manipulation_kind("sadtalker-generated", "x.mp4", 0) == REAL
    assert manipulation_kind("somewhere-else", "x.mp4", 1) == UNSPECIFIED
    assert len({(r.source, r.pattern) for r in RULES}) == len(RULES)


def test_every_shared_fake_has_a_stated_kind(shared_data: Path) -> None:
    videos = discover([shared_data])
    # 20 source folders hold videos (SOURCES.md); 150 clips, 63 of them fakes.
    assert len({v.source for v in videos}) == 20
    assert (len(videos), sum(v.label for v in videos)) == (150, 63)
    kinds = [manipulation_kind(v.source, v.path.name, v.label) for v in videos]
    unspecified = [v.path.name for v, k in zip(videos, kinds, strict=True) if k == UNSPECIFIED]
    assert sorted(unspecified) == ["lrnet_ff_fake.mp4", "lrnet_ffpp_000_003.mp4"]


def test_brier_and_ece_of_known_scores() -> None:
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.7, 0.6, 0.9])
    assert roc.brier(labels, scores) == pytest.approx((0.01 + 0.49 + 0.16 + 0.01) / 4)
    # Bins [0.1, 0.2): share 0, mean 0.1; [0.6, 0.7): 1 vs 0.6; [0.7, 0.8): 0 vs 0.7;
    # [0.9, 1.0]: 1 vs 0.9.
    assert roc.expected_calibration_error(labels, scores) == pytest.approx(
        (0.1 + 0.4 + 0.7 + 0.1) / 4
    )
    # One bin [0.5, 0.6) holding both labels: |0.5 - 0.525|.
    assert roc.expected_calibration_error(labels, np.array([0.5, 0.5, 0.55, 0.55])) == (
        pytest.approx(0.025)
    )
    assert roc.expected_calibration_error(np.array([1]), np.array([1.0])) == 0.0


def test_floor_grid_bounds_an_overconfident_scorer() -> None:
    rng = np.random.default_rng(4)
    sources = [f"s{i % 6}" for i in range(240)]
    labels = rng.integers(0, 2, 240)
    # Weak skill, saturated scores: a fifth of the confident answers are wrong.
    wrong = rng.random(240) < 0.2
    scores = np.where(labels.astype(bool) ^ wrong, 0.999, 0.001)
    choice = floor_grid(labels, sources, array_scorer(scores), grid=(0.0, 0.05, 0.2))
    assert choice.floor > 0.0
    assert choice.log_loss[choice.floor] < choice.log_loss[0.0]
    assert np.all(choice.loso.scores >= choice.floor - 1e-12)
    assert np.all(choice.loso.scores <= 1 - choice.floor + 1e-12)
    assert all(f.calibration.floor == choice.floor for f in choice.loso.folds)


def test_metrics_with_ci_counts_and_accuracy() -> None:
    labels = np.array([0, 0, 1, 1])
    report = metrics_with_ci(labels, np.array([0.1, 0.7, 0.6, 0.9]), 0.5, resamples=100)
    assert (report["videos"], report["fake"], report["real"]) == (4, 2, 2)
    assert report["accuracy"]["point"] == 0.75
    assert report["roc_auc"]["point"] == 0.75


def _source(root: Path, name: str, real_levels: list[int], fake_levels: list[int]) -> None:
    rows = []
    for kind, levels in (("REAL", real_levels), ("FAKE", fake_levels)):
        for i, level in enumerate(levels):
            file = f"{name}_{kind.lower()}{i}.mp4"
            solid_clip(root / name / file, level)
            rows.append({"file": file, "label": kind})
    with (root / name / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label"])
        writer.writeheader()
        writer.writerows(rows)


def test_loso_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    _source(root, "alpha", [20, 60], [170, 210])
    _source(root, "beta", [40, 100], [150, 230])
    _source(root, "gamma", [30], [])  # one label only, as some shared folders
    videos = discover([root])
    assert sorted({v.source for v in videos}) == ["alpha", "beta", "gamma"]
    version = publish_version(brightness_model(1.0), tmp_path / "m", "d", threshold=0.5,
                              input_size=(8, 8))  # fmt: skip
    out = tmp_path / "report"
    code = main([
        "evaluate", "--protocol", "leave-one-source-out", "--model", str(version),
        "--data", str(root), "--frames", "3", "--output", str(out), "--bootstrap", "200",
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "leave-one-source-out: 9 videos (4 FAKE / 5 REAL) from 3 sources in 3 folds" in printed
    assert "within-fold ROC-AUC: mean 1.000 over 2 folds with both labels" in printed
    report = json.loads((out / "loso.json").read_text())
    assert report["sources"] == 3 and report["videos"] == 9
    assert report["fake_prior"] == DEPLOYMENT_FAKE_PRIOR
    assert report["loso"]["roc_auc"]["point"] == 1.0
    assert report["as_shipped"]["roc_auc"]["point"] == 1.0
    # Sources in no fold group are folds of their own.
    assert {f["fold"]: (f["sources"], f["fit_videos"]) for f in report["folds"]} == {
        "alpha": (["alpha"], 5), "beta": (["beta"], 5), "gamma": (["gamma"], 8),
    }  # fmt: skip
    within = {row["fold"]: row for row in report["within_fold"]["folds"]}
    assert within["gamma"]["roc_auc"] is None  # one label: nothing to rank
    assert within["alpha"]["roc_auc"] == within["alpha"]["roc_auc_as_shipped"] == 1.0
    assert report["within_fold"]["folds_with_both_labels"] == 2
    # Headline intervals resample the 3 sources; the video-resample ones sit beside them.
    assert report["bootstrap"]["unit"] == "source"
    assert report["loso"]["interval_unit"] == "source" and report["loso"]["clusters"] == 3
    for key in ("roc_auc", "log_loss", "accuracy"):
        assert report["loso"][key]["point"] == report["loso"]["by_video"][key]["point"]
    kinds = {row["kind"]: row for row in report["kinds"]}
    assert kinds["real"]["videos"] == 5 and kinds["unspecified"]["videos"] == 4
    assert kinds["lip_sync"]["videos"] == 0
    ci = report["loso"]["log_loss"]
    assert ci["low"] <= ci["point"] <= ci["high"]
    text = (out / "loso.md").read_text()
    assert "| kind | scores |" in text and "| fold | held-out sources |" in text
    assert "| LOSO (fitted on other folds) | sources |" in text
    assert "| LOSO (fitted on other folds) | videos |" in text
    with (out / "loso_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["fold"] for r in rows} == {"alpha", "beta", "gamma"}
    for key in ("brier", "ece"):
        ci = report["loso"][key]
        assert ci["low"] <= ci["point"] <= ci["high"] and 0.0 <= ci["point"] <= 1.0
    assert report["floor"] is None
    # The reliability of the out-of-fold probabilities, beside the other figures.
    figures = report["reliability"]
    assert figures["floor"] == 0.0 and figures["interval_unit"] == "source"
    assert sum(b["videos"] for b in figures["bins"]) == 9
    assert figures["brier"]["point"] == pytest.approx(
        roc.brier(np.array([int(r["label"]) for r in rows]),
                  np.array([float(r["score_loso"]) for r in rows]), fake_prior=0.5)
    )  # fmt: skip
    assert "Reliability of the out-of-fold shipped probabilities (floor 0" in text
    assert "reliability (out of fold, floor 0, fake prior 0.5): ECE" in printed
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The kept scores give the same folds again, with the floor grid, without rescoring.
    again = tmp_path / "again"
    code = main([
        "evaluate", "--protocol", "leave-one-source-out", "--model", str(version),
        "--data", str(root), "--frames", "3", "--output", str(again), "--bootstrap", "200",
        "--from-scores", str(out), "--floor-grid", "0", "0.1", "0.3",
    ])  # fmt: skip
    assert code == 0
    redone = json.loads((again / "loso.json").read_text())
    first = report["loso"]["log_loss"]["point"]
    assert redone["loso"]["log_loss"]["point"] == pytest.approx(first)
    grid = {row["floor"]: row["log_loss"] for row in redone["floor"]["grid"]}
    assert set(grid) == {0.0, 0.1, 0.3} and grid[0.0] == pytest.approx(first)
    chosen = redone["floor"]["chosen"]
    assert grid[chosen] == min(grid.values())
    assert [f["calibration"]["floor"] for f in redone["floor"]["folds"]] == [chosen] * 3
    # The reliability figures are those of the probabilities shipped at the floor picked.
    assert redone["reliability"]["floor"] == chosen
    assert (again / "reliability.png").is_file()


@pytest.mark.slow
def test_train_loso_trains_one_model_per_source_without_it(tmp_path: Path) -> None:
    from model_export.protocol import loso_report, train_loso
    from model_export.train import TrainConfig
    from model_export.training_run import PipelineConfig

    root = tmp_path / "data"
    _source(root, "alpha", [20, 60], [170, 210])
    _source(root, "beta", [40, 100], [150, 230])
    _source(root, "gamma", [30, 80], [190, 220])
    template = PipelineConfig(
        data=(), output=tmp_path / "unused", faces=None,
        train=TrainConfig(input_size=(16, 16), epochs=1, patience=0),
        frames_per_video=3, val_fraction=0.25, test_fraction=0.0, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    results, loso = train_loso([root], template, tmp_path / "folds", frames_per_video=3)
    assert len(results) == 12 and sorted({r.source for r in results}) == ["alpha", "beta", "gamma"]
    for fold in ("alpha", "beta", "gamma"):
        info = json.loads((tmp_path / "folds" / fold / "model/1" / INFO).read_text())
        trained_on = {Path(p).name for p in info["data"]}
        assert fold not in trained_on and len(trained_on) == 2
    assert [f.fit_videos for f in loso.folds] == [8, 8, 8]
    report = loso_report(results, None, resamples=50, loso=loso)
    assert report["as_shipped"] is None and report["loso"]["videos"] == 12
    # Per-fold versions ship their own probabilities: those are the reliability figures'.
    assert report["reliability"]["videos"] == 12 and report["reliability"]["floor"] == 0.0


def test_fold_training_options_need_a_fold_architecture(tmp_path: Path) -> None:
    # --train-self-blend says how fold models train: without --train-arch there are none.
    with pytest.raises(SystemExit, match="need --train-arch"):
        main([
            "evaluate", "--protocol", "leave-one-source-out", "--model", str(tmp_path),
            "--data", str(tmp_path), "--train-self-blend",
        ])  # fmt: skip


def test_per_fold_pretext_figures_reach_the_report() -> None:
    from model_export.calibration import Calibration
    from model_export.protocol.fitting import FoldResult
    from model_export.protocol.report import pretext_lines

    pretext = {
        "held_back_real_faces": 16, "held_back_clips": 2, "training_real_faces": 90,
        "draws_per_face": 4, "unfrozen_blocks": 8,
        "epochs": [{"epoch": 1, "stage": "head", "accuracy": 0.61},
                   {"epoch": 2, "stage": "last 8 blocks", "accuracy": 0.83}],
        "final": {"accuracy": 0.78, "roc_auc": 0.86, "count": 32},
    }  # fmt: skip
    with_pretext = FoldResult("a", ("s",), Calibration(), 0.5, 10, 3, "", pretext)
    without = FoldResult("b", ("t",), Calibration(), 0.5, 10, 3)
    folds = [with_pretext.as_dict(), without.as_dict()]
    assert folds[0]["pretext"] == pretext and "pretext" not in folds[1]
    lines = pretext_lines(folds)
    assert lines[-1] == "| a | 16 (2) | 2 | 0.830 | 0.780 | 0.860 |"
    assert sum(line.startswith("| a |") or line.startswith("| b |") for line in lines) == 1
    assert pretext_lines([without.as_dict()]) == []
