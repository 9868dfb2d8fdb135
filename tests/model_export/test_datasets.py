"""Data set layouts and leak-free splits."""

from __future__ import annotations

import json
from pathlib import Path

from model_export.datasets import detect_layout, discover, split_by_group

from .helpers import solid_clip


def test_ffpp_layout_groups_fakes_with_both_sources(tmp_path: Path) -> None:
    for name in ("004", "982", "100"):
        solid_clip(tmp_path / "original_sequences/youtube/c23/videos" / f"{name}.mp4", 50)
    for name in ("004_982", "100_555"):
        solid_clip(tmp_path / "manipulated_sequences/Deepfakes/c23/videos" / f"{name}.mp4", 200)
    videos = {v.path.stem: v for v in discover([tmp_path])}
    assert detect_layout(tmp_path) == "ffpp"
    assert {k: v.label for k, v in videos.items()} == {
        "004": 0, "982": 0, "100": 0, "004_982": 1, "100_555": 1
    }  # fmt: skip
    assert videos["004"].group == videos["982"].group == videos["004_982"].group
    assert videos["100"].group == videos["100_555"].group != videos["004"].group


def test_dfdc_metadata(tmp_path: Path) -> None:
    part = tmp_path / "dfdc_train_part_0"
    for name in ("aaa.mp4", "bbb.mp4", "ccc.mp4"):
        solid_clip(part / name, 80)
    meta = {
        "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        "ccc.mp4": {"label": "FAKE", "split": "train", "original": "zzz.mp4"},
        "missing.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    }
    (part / "metadata.json").write_text(json.dumps(meta))
    videos = {v.path.name: v for v in discover([tmp_path])}
    assert sorted(videos) == ["aaa.mp4", "bbb.mp4", "ccc.mp4"]
    assert [videos[n].label for n in sorted(videos)] == [0, 1, 1]
    assert videos["aaa.mp4"].group == videos["bbb.mp4"].group != videos["ccc.mp4"].group


def test_folders_and_labels_csv(tmp_path: Path) -> None:
    solid_clip(tmp_path / "a/real/x.mp4", 10)
    solid_clip(tmp_path / "a/fake/deep/y.mp4", 10)
    solid_clip(tmp_path / "b/ffpp_original_004.mp4", 10)
    solid_clip(tmp_path / "b/ffpp_Deepfakes_004_982.mp4", 10)
    (tmp_path / "b/labels.csv").write_text(
        "file,label\nffpp_original_004.mp4,REAL\nffpp_Deepfakes_004_982.mp4,FAKE\n"
        "notes.txt,REAL\nabsent.mp4,FAKE\n"
    )
    videos = {v.path.name: v for v in discover([tmp_path / "a", tmp_path / "b"])}
    assert {n: (v.label, v.layout) for n, v in videos.items()} == {
        "x.mp4": (0, "folders"), "y.mp4": (1, "folders"),
        "ffpp_original_004.mp4": (0, "labels_csv"), "ffpp_Deepfakes_004_982.mp4": (1, "labels_csv"),
    }  # fmt: skip
    assert videos["ffpp_original_004.mp4"].group == videos["ffpp_Deepfakes_004_982.mp4"].group


def test_split_keeps_groups_whole(tmp_path: Path) -> None:
    for i in range(20):
        solid_clip(tmp_path / f"real/v{i:02d}.mp4", 30, frames=1, size=16)
        solid_clip(tmp_path / f"fake/v{i:02d}.mp4", 30, frames=1, size=16)
    videos = discover([tmp_path])
    parts = split_by_group(videos, [0.6, 0.2, 0.2], seed=1)
    assert sum(len(p) for p in parts) == 40
    assert [len(p) for p in parts] == [24, 8, 8]
    groups = [{v.group for v in p} for p in parts]
    assert (
        not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    )
    for part in parts:
        assert sum(v.label for v in part) * 2 == len(part)
