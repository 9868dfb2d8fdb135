"""Atomic publishing and version numbering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import contract
from model_export.publish import (
    INFO_RELATIVE_PATH,
    PublishError,
    existing_versions,
    next_version,
    publish_directory,
)
from tests.tiny_model import export_tiny_model


def test_next_version_counts_only_integer_directories(tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    assert next_version(model_dir) == 1
    for name in ("1", "3", "007", ".tmp-9-abc", "v10", "latest"):
        (model_dir / name).mkdir(parents=True)
    (model_dir / "12").write_text("a file, not a version")
    assert existing_versions(model_dir) == [1, 3, 7]
    assert next_version(model_dir) == 8


def test_publish_leaves_only_the_version(tmp_path: Path) -> None:
    first = export_tiny_model(tmp_path, "m")
    second = export_tiny_model(tmp_path, "m", seed=1)
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]
    for path in (first, second):
        assert (path / "saved_model.pb").is_file()
        assert (path / contract.WARMUP_RELATIVE_PATH).is_file()
        assert (path / INFO_RELATIVE_PATH).is_file()


def test_explicit_version_and_collision(tmp_path: Path) -> None:
    path = export_tiny_model(tmp_path, "m", version=41)
    assert path.name == "41"
    assert next_version(tmp_path / "m") == 42
    with pytest.raises(PublishError):
        export_tiny_model(tmp_path, "m", version=41)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["41"]


def test_failing_export_leaves_nothing_behind(tmp_path: Path) -> None:
    def write(staging: Path) -> None:
        (staging / "saved_model.pb").write_bytes(b"half written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish_directory(write, tmp_path, "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_unloadable_export_is_not_published(tmp_path: Path) -> None:
    def write(staging: Path) -> None:
        (staging / "saved_model.pb").write_bytes(b"not a protobuf")

    with pytest.raises(Exception):  # noqa: B017 - whatever the loader raises
        publish_directory(write, tmp_path, "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_concurrent_number_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version that appears while we export makes us take the next number."""
    import model_export.publish as publish

    real_rename = os.rename
    calls = []

    def rename(src: os.PathLike, dst: os.PathLike) -> None:
        if not calls:
            # Another publisher lands version 1 between our numbering and our rename.
            (Path(dst) / "saved_model.pb").parent.mkdir(parents=True)
            (Path(dst) / "saved_model.pb").write_bytes(b"theirs")
        calls.append(dst)
        real_rename(src, dst)

    monkeypatch.setattr(publish.os, "rename", rename)
    path = export_tiny_model(tmp_path, "m")
    assert path.name == "2"
    assert (tmp_path / "m" / "1" / "saved_model.pb").read_bytes() == b"theirs"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]
