"""One ensemble with visual members and an audio-visual member, through the real gateway.

The audio-visual member is trained on generated talking clips (:mod:`model_export.av_demo_data`)
and published; ``model_export ensemble --audio-member`` embeds it beside two face-aware
members and fits how its score joins the video score on generated clips with sound. The
version is served by the real local Serving behind the real HTTPS gateway, and a clip with
sound and one without are sent to the same version: the first answer's ``audio`` block carries
the member's score, ``members`` names it beside the visual members, and the video score is the
shipped combination of the visual score (its face track's) and the member's; the second
answer comes from the same version with no audio score and its visual score as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import contract
from contract.audio import AudioCombination, combine_audio
from model_export.av_demo_data import talking_clips
from model_export.av_member import export_member, train_member
from model_export.cli import main as model_export
from model_export.face_export import publish_face_version
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from tests.audio_clips import tone, write_av_clip
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames

pytestmark = pytest.mark.slow

SECONDS, FPS, WIDTH, HEIGHT = 2.0, 8, 320, 240


def _clip(path: Path, *, faces: int, seed: int, hz: float | None) -> Path:
    """A clip of ``faces`` face photographs, with a tone of ``hz`` (None: no sound)."""
    frames = face_frames(int(SECONDS * FPS), WIDTH, HEIGHT, faces=faces, seed=seed)
    sound = tone(SECONDS, 44_100, hz=hz) if hz is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_av_clip(path, fps=FPS, width=WIDTH, height=HEIGHT, frames=frames, audio=sound)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audio-ensemble")
    speech = export_member(train_member(talking_clips(16), epochs=5), root / "av" / "talk" / "1")
    a = publish_face_version(
        tiny_cnn((32, 32), seed=1), root / "members", "a", threshold=0.5, input_size=(32, 32)
    )
    b = publish_face_version(
        tiny_cnn((48, 48), seed=2), root / "members", "b", threshold=0.5, input_size=(48, 48)
    )
    for i in range(3):
        _clip(root / f"cal/real/r{i}.mp4", faces=1, seed=10 + i, hz=220.0)
        _clip(root / f"cal/fake/f{i}.mp4", faces=1, seed=20 + i, hz=880.0)
    output = root / "models" / MODEL_NAME
    code = model_export([
        "ensemble", "--member", str(a), "--member", str(b), "--audio-member", str(speech),
        "--output", str(output), "--calibrate-data", str(root / "cal"), "--frames", "4",
    ])  # fmt: skip
    assert code == 0
    return output


@pytest.fixture(scope="module")
def audio_gateway(published: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp("audio-logs")
    serving = start_serving(published, logs / "serving.log")
    gateway = start_gateway(logs / "gateway-var", serving.target)
    yield gateway
    gateway.process.stop()
    serving.process.stop()


def test_the_ensemble_exports_its_audio_member_and_combination(published: Path) -> None:
    info = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    assert info["kind"] == "ensemble" and len(info["member_names"]) == 2
    fit = info["audio_fit"]
    assert fit["videos"] == 6 and fit["skipped"] == 0
    shipped = AudioCombination(**info["audio_combination"])
    with load_version(published / "1") as loaded:
        described = loaded.run(
            {contract.FRAMES_INPUT: face_frames(1, 64, 48)[0][None]},
            contract.MODEL_INFO_SIGNATURE,
        )
    assert int(described[contract.AUDIO_SAMPLE_RATE_OUTPUT][0]) == contract.AUDIO_SAMPLE_RATE
    row = described[contract.AUDIO_COMBINATION_OUTPUT][0].tolist()
    assert row == pytest.approx(shipped.as_row(), abs=1e-6)
    # The fit saw REAL and FAKE clips with sound: it joined the member (not the identity).
    assert not shipped.is_identity and shipped.visual > 0


def test_sound_and_silence_answered_by_one_version(
    published: Path, audio_gateway: GatewayHandle, tmp_path: Path
) -> None:
    info = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    shipped = AudioCombination(**info["audio_combination"])
    with audio_gateway.client() as client:
        listed = client.get("/v1/models", headers=audio_gateway.auth()).json()["versions"]
    (version,) = listed
    assert version["audio"]["sample_rate"] == contract.AUDIO_SAMPLE_RATE
    row = [version["audio"][k] for k in ("visual", "audio", "bias", "floor")]
    assert row == pytest.approx(shipped.as_row(), abs=1e-5)

    heard = audio_gateway.detect(_clip(tmp_path / "sound.mp4", faces=1, seed=77, hz=220.0))
    assert heard.status_code == 200, heard.text
    body = heard.json()
    audio = body["audio"]
    assert audio["present"] is True and audio["sample_rate"] == contract.AUDIO_SAMPLE_RATE
    assert audio["seconds"] == pytest.approx(SECONDS, abs=0.1)
    assert audio["score"] is not None and 0.0 <= audio["score"] <= 1.0
    assert audio["offset_s"] is None  # the tiny member learns no offset
    members = body["members"]
    assert list(members) == [*info["member_names"], contract.AUDIO_MEMBER]
    assert members[contract.AUDIO_MEMBER] == pytest.approx(audio["score"], abs=1e-4)
    # The tracks keep their visual scores; the video score is the shipped combination of
    # the deciding track's and the member's (both rounded to 4 digits in the answer).
    visual = max(t["score"] for t in body["tracks"])
    joined = combine_audio(visual, audio["score"], shipped)
    assert abs(joined - visual) > 0.01  # the sound moved the score: this checks something
    assert body["score"] == pytest.approx(joined, abs=2e-3)
    low, high = body["score_interval"]["low"], body["score_interval"]["high"]
    assert low <= body["score"] <= high

    silent = audio_gateway.detect(_clip(tmp_path / "mute.mp4", faces=1, seed=77, hz=None))
    assert silent.status_code == 200, silent.text
    mute = silent.json()
    assert mute["model"] == body["model"]
    assert mute["audio"]["present"] is False and mute["audio"]["score"] is None
    assert contract.AUDIO_MEMBER not in mute["members"]
    assert list(mute["members"]) == info["member_names"]
    # Without sound nothing joins: the video score is the deciding track's visual score.
    assert mute["score"] == pytest.approx(max(t["score"] for t in mute["tracks"]), abs=1e-4)
    assert mute["verdict"] in ("real", "fake", "inconclusive")
