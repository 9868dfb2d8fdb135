"""Start-up sweep of temporary uploads: only the gateway's own, only those left before it."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from gateway.tempfiles import PROBE_DIR_NAME, PROBE_DIR_PREFIX, UPLOAD_NAME, sweep_stale_uploads


def test_the_pattern_matches_what_mkstemp_makes(tmp_path: Path) -> None:
    for _ in range(20):
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".video", dir=tmp_path)
        os.close(fd)
        assert UPLOAD_NAME.fullmatch(Path(name).name)


def test_only_stale_uploads_of_the_gateway_are_removed(tmp_path: Path) -> None:
    start = time.time()
    old = time.time() - 3600
    stale = tmp_path / "upload-abc_1234.video"
    others = [
        tmp_path / "upload-abc_1234.video.bak",
        tmp_path / "upload-x.video",
        tmp_path / "notes.txt",
    ]
    for path in (stale, *others):
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    fresh = tmp_path / "upload-new_5678.video"  # written by this process, after its start
    fresh.write_bytes(b"x")
    os.utime(fresh, (start + 1, start + 1))
    linked = tmp_path / "upload-link_123.video"
    linked.symlink_to(others[2])
    assert sweep_stale_uploads(tmp_path, older_than=start) == 1
    assert not stale.exists()
    assert all(p.exists() for p in (*others, fresh, linked))


def test_a_missing_folder_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert sweep_stale_uploads(tmp_path / "absent", older_than=time.time()) == 0


def test_a_killed_probes_folder_of_copies_is_removed_and_nothing_else(tmp_path: Path) -> None:
    start = time.time()
    old = start - 3600
    stale = Path(tempfile.mkdtemp(prefix=PROBE_DIR_PREFIX, dir=tmp_path))
    assert PROBE_DIR_NAME.fullmatch(stale.name)
    (stale / "clip.crf23.mp4").write_bytes(b"x")
    os.utime(stale, (old, old))
    fresh = Path(tempfile.mkdtemp(prefix=PROBE_DIR_PREFIX, dir=tmp_path))  # a running probe
    os.utime(fresh, (start + 1, start + 1))
    elsewhere = tmp_path / "kept"
    elsewhere.mkdir()
    (elsewhere / "precious").write_bytes(b"x")
    linked = tmp_path / "robustness-link_123"  # a symlink to a folder is never followed
    linked.symlink_to(elsewhere)
    os.utime(linked, (old, old), follow_symlinks=False)
    named_like_a_file = tmp_path / "robustness-file_123"  # not a folder: not one of ours
    named_like_a_file.write_bytes(b"x")
    os.utime(named_like_a_file, (old, old))
    assert sweep_stale_uploads(tmp_path, older_than=start) == 1
    assert not stale.exists()
    assert fresh.is_dir() and (elsewhere / "precious").exists() and linked.is_symlink()
    assert named_like_a_file.exists()
