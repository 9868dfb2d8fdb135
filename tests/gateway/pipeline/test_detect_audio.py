"""The answer's audio block through the real gateway and the real local Serving."""

from __future__ import annotations

import pytest

from tests.audio_clips import tone, write_av_clip

pytestmark = pytest.mark.slow


def test_audio_block_with_and_without_an_audio_track(gateway, tmp_path) -> None:
    with_audio = write_av_clip(
        tmp_path / "sound.mp4", seconds=2.0, width=96, height=64, audio=tone(2.0, 44_100)
    )
    silent = write_av_clip(tmp_path / "silent.mp4", seconds=2.0, width=96, height=64)

    heard = gateway.detect(with_audio)
    assert heard.status_code == 200, heard.text
    body = heard.json()
    audio = body["audio"]
    assert audio["present"] is True
    assert audio["sample_rate"] == 16_000
    assert audio["seconds"] == pytest.approx(2.0, abs=0.1)
    # The tiny version has no audio-visual member: no score, no offset, no member entry.
    assert audio["score"] is None and audio["offset_s"] is None
    assert "audio_visual" not in (body["members"] or {})

    mute = gateway.detect(silent)
    assert mute.status_code == 200, mute.text
    other = mute.json()
    assert other["audio"] == {
        "present": False,
        "sample_rate": None,
        "seconds": 0.0,
        "score": None,
        "offset_s": None,
    }
    with gateway.client() as client:
        versions = client.get("/v1/models", headers=gateway.auth()).json()["versions"]
    assert all(v["audio"] is None for v in versions)  # no version here hears audio
    # The same version answers the visual verdict either way.
    assert other["model"] == body["model"]
    assert other["verdict"] in ("real", "fake", "inconclusive")
