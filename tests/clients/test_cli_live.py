"""``deepfake watch``, the installed command run as a subprocess against the real gateway:
a video file streamed live, its verdict lines and summary, the summary's receipt checked by
``deepfake verify`` against the file.

``--camera N`` is not run here: the machine has no camera, and a faked one would test the
fake. The frames it sends come from :func:`deepfake_client.camera.capture_frames`, which
``tests/clients/test_live.py`` runs on a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.live_clips import FACE_CLIP, streamable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face clip in Matroska: streams as it is, named by its suffix in the hello."""
    return streamable(shared_data / FACE_CLIP, tmp_path_factory.mktemp("watch") / "face.mkv")


def test_watch_json_writes_verdict_lines_and_a_summary_that_verify_checks(
    deepfake, clip: Path, tmp_path: Path
) -> None:
    run = deepfake("watch", str(clip), "--fast", "--json")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    *verdicts, summary = lines
    assert summary["type"] == "summary"
    assert all(v["type"] == "verdict" for v in verdicts)
    assert summary["frames_scored"] > 0 and summary["frame_size"] == [480, 360]
    saved = tmp_path / "summary.json"
    saved.write_text(run.stdout.splitlines()[-1])
    verified = deepfake("verify", str(saved), str(clip))
    assert verified.returncode == 0, verified.stderr
    assert "valid" in verified.stderr
    assert json.loads(verified.stdout)["media"]["sha256"] == summary["sha256"]
    # Against another file, the same receipt does not verify.
    other = tmp_path / "other.mkv"
    other.write_bytes(clip.read_bytes()[:-1])
    assert deepfake("verify", str(saved), str(other)).returncode == 1


def test_watch_paced_prints_the_session_its_verdicts_and_the_summary(deepfake, clip: Path) -> None:
    run = deepfake("watch", str(clip))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.startswith("session ") and "deepfake v1" in out
    assert "summary" in out and "receipt ey" in out
    lines = out.splitlines()
    summary_at = next(i for i, line in enumerate(lines) if line.startswith("summary "))
    # Rolling verdicts come at least once a second while the 2.3 s clip plays.
    rolling = lines[1:summary_at]
    assert rolling and all(" scored, " in line and "latency" in line for line in rolling)


def test_watch_needs_exactly_one_source(deepfake, clip: Path) -> None:
    neither = deepfake("watch")
    both = deepfake("watch", str(clip), "--camera", "0")
    missing = deepfake("watch", "/no/such/clip.mkv")
    for run in (neither, both, missing):
        assert run.returncode == 2
    assert "one of them" in neither.stderr and "one of them" in both.stderr


def test_watch_refuses_an_mp4_whose_index_comes_last_before_streaming(
    deepfake, make_clip, clip: Path, tmp_path: Path
) -> None:
    plain = make_clip("plain.mp4", frames=10, fps=10)  # x264 through PyAV: moov at the end
    run = deepfake("watch", str(plain), "--fast")
    assert run.returncode == 2
    assert "moov" in run.stderr and "faststart" in run.stderr
    assert "session" not in run.stdout
    # The same video with its index first (fragmented) streams.
    fragmented = streamable(plain, tmp_path / "fragmented.mp4")
    assert deepfake("watch", str(fragmented), "--fast", "--json").returncode == 0
