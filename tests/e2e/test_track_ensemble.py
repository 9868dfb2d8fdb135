"""One ensemble with visual members and both track members, through the real gateway.

The visual members are a tiny face-aware CNN and a tiny self-blended EfficientNet-Lite0
(``train --self-blend`` on generated clips). The audio-visual member is trained on generated
talking clips (:mod:`model_export.av_demo_data`) and the talking-head member by
``model_export train-motion`` on generated clips from two sources (faces over a moving
background as REAL, over a still one as FAKE, the trace a one-photo animation leaves), out of
fold and then on all of them; ``model_export ensemble --motion-member --audio-member`` embeds
both beside the visual members and fits how each one's score joins the video score on
generated clips. The version is served by the real local Serving behind the real HTTPS
gateway, and a clip with sound and one without are sent to the same version: the first
answer's ``members`` name both track members beside the visual ones, and the video score is
the shipped joins of the visual score (its face track's) with the talking-head member's and
then the audio-visual member's; the second comes from the same version with no audio score,
the talking-head member alone joined.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

import contract
from contract.combination import VISUAL_THRESHOLD_OUTPUT, MemberCombination, combine_member
from contract.motion import MOTION_COMBINATION_OUTPUT, MOTION_MEMBER, MOTION_SIGNATURE
from model_export.av_demo_data import talking_clips
from model_export.av_member import export_member, train_member
from model_export.cli import main as model_export
from model_export.face_export import publish_face_version
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from tests.audio_clips import tone, write_av_clip
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving
from tests.gateway.api.live.client import jpeg_frames, open_live
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames

pytestmark = pytest.mark.slow

SECONDS, FPS, WIDTH, HEIGHT = 2.0, 8, 320, 240


def _clip(path: Path, *, faces: int, seed: int, hz: float | None, static: bool = False) -> Path:
    """A clip of ``faces`` face photographs, with a tone of ``hz`` (None: no sound), over a
    still background when ``static``."""
    frames = face_frames(
        int(SECONDS * FPS), WIDTH, HEIGHT, faces=faces, seed=seed, static_background=static
    )
    sound = tone(SECONDS, 44_100, hz=hz) if hz is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_av_clip(path, fps=FPS, width=WIDTH, height=HEIGHT, frames=frames, audio=sound)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    root = tmp_path_factory.mktemp("audio-ensemble")
    speech = export_member(train_member(talking_clips(16), epochs=5), root / "av" / "talk" / "1")
    a = publish_face_version(
        tiny_cnn((32, 32), seed=1), root / "members", "a", threshold=0.5, input_size=(32, 32)
    )
    for source in ("a", "b"):  # two sources, each a folder with its labels.csv
        rows = ["file,label"]
        for i in range(3):
            seed = 40 + 10 * ord(source) + i
            _clip(root / f"motion/{source}/r{i}.mp4", faces=1, seed=seed, hz=None)
            _clip(root / f"motion/{source}/f{i}.mp4", faces=1, seed=seed + 5, hz=None,
                  static=True)  # fmt: skip
            rows += [f"r{i}.mp4,REAL", f"f{i}.mp4,FAKE"]
        (root / f"motion/{source}/labels.csv").write_text("\n".join(rows) + "\n")
    code = model_export([
        "train-motion", "--data", str(root / "motion"), "--output", str(root / "th" / "talk"),
        "--report-dir", str(root / "th-report"), "--frames", "8", "--train-kinds", "all",
    ])  # fmt: skip
    assert code == 0
    for i in range(3):
        _clip(root / f"cal/real/r{i}.mp4", faces=1, seed=10 + i, hz=220.0)
        _clip(root / f"cal/fake/f{i}.mp4", faces=1, seed=20 + i, hz=880.0, static=True)
    output = root / "models" / MODEL_NAME
    # The self-blended member (`train --self-blend` on generated clips), shared with
    # test_self_blend: asked for last, so a worker training it meanwhile costs no idle wait.
    b = request.getfixturevalue("tiny_self_blend")
    code = model_export([
        "ensemble", "--member", str(a), "--member", str(b), "--audio-member", str(speech),
        "--motion-member", str(root / "th" / "talk"), "--output", str(output),
        "--calibrate-data", str(root / "cal"), "--frames", "8",
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


def _shipped(published: Path) -> tuple[dict, MemberCombination, MemberCombination]:
    info = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    motion = MemberCombination(**info["motion"]["combination"])
    return info, motion, MemberCombination(**info["audio"]["combination"])


def test_the_talking_head_member_is_measured_out_of_fold(published: Path) -> None:
    report = json.loads(
        (published.parent.parent / "th-report" / "member" / "loso.json").read_text()
    )
    assert report["videos"] == 12 and report["sources"] == 2
    assert {f["fold"] for f in report["folds"]} == {"a", "b"}
    # A still background is all that tells these fakes apart, and the member sees it.
    assert report["loso"]["roc_auc"]["point"] > 0.8


def test_the_ensemble_exports_its_track_members_and_combinations(published: Path) -> None:
    info, motion, audio = _shipped(published)
    assert info["kind"] == "ensemble" and len(info["member_names"]) == 2
    assert info["audio"]["fit"]["videos"] == 6 and info["audio"]["fit"]["skipped"] == 0
    assert info["motion"]["fit"]["videos"] == 6 and info["motion"]["fit"]["skipped"] == 0
    # The members are joined, so the shipped threshold is the one chosen on the joined scores
    # of the six calibration clips, the score the gateway decides on.
    joined = info["calibration"]["joined"]
    assert info["threshold"] == pytest.approx(joined["threshold"], abs=1e-6)
    assert joined["video"]["count"] == 6 and joined["video"]["threshold"] == joined["threshold"]
    assert 0.0 < joined["visual_threshold"] < 1.0
    frames = np.stack(face_frames(8, WIDTH, HEIGHT, faces=1, seed=3))[None]
    boxes = np.tile(np.asarray([0.1, 0.3, 0.9, 0.7], np.float32), (1, 8, 1))
    with load_version(published / "1") as loaded:
        described = loaded.run(
            {contract.FRAMES_INPUT: frames[0][:1]}, contract.MODEL_INFO_SIGNATURE
        )
        scored = loaded.run(
            {contract.FRAMES_INPUT: frames, contract.FACE_BOXES: boxes}, MOTION_SIGNATURE
        )[contract.FAKE_PROBABILITY]
    assert int(described[contract.AUDIO_SAMPLE_RATE_OUTPUT][0]) == contract.AUDIO_SAMPLE_RATE
    row = described[contract.AUDIO_COMBINATION_OUTPUT][0].tolist()
    assert row == pytest.approx(audio.as_row(), abs=1e-6)
    row = described[MOTION_COMBINATION_OUTPUT][0].tolist()
    assert row == pytest.approx(motion.as_row(), abs=1e-6)
    # The visual score's own threshold ships beside the joined one, for live sessions.
    visual_threshold = float(described[VISUAL_THRESHOLD_OUTPUT][0])
    assert visual_threshold == pytest.approx(joined["visual_threshold"], abs=1e-6)
    assert scored.shape == (1,) and 0.0 <= float(scored[0]) <= 1.0
    # The fits saw REAL and FAKE clips: both members are joined (not the identity).
    assert not audio.is_identity and audio.visual > 0
    assert not motion.is_identity and motion.visual > 0 and motion.member > 0


def test_sound_and_silence_answered_by_one_version(
    published: Path, audio_gateway: GatewayHandle, tmp_path: Path
) -> None:
    info, motion, shipped = _shipped(published)
    with audio_gateway.client() as client:
        listed = client.get("/v1/models", headers=audio_gateway.auth()).json()["versions"]
    (version,) = listed
    assert version["audio"]["sample_rate"] == contract.AUDIO_SAMPLE_RATE
    row = [version["audio"][k] for k in ("visual", "audio", "bias", "floor")]
    assert row == pytest.approx(shipped.as_row(), abs=1e-5)
    row = [version["motion"][k] for k in ("visual", "member", "bias", "floor")]
    assert row == pytest.approx(motion.as_row(), abs=1e-5)
    joined = info["calibration"]["joined"]
    assert version["threshold"] == pytest.approx(joined["threshold"], abs=1e-6)
    assert version["visual_threshold"] == pytest.approx(joined["visual_threshold"], abs=1e-6)

    heard = audio_gateway.detect(_clip(tmp_path / "sound.mp4", faces=1, seed=77, hz=220.0))
    assert heard.status_code == 200, heard.text
    body = heard.json()
    audio = body["audio"]
    assert audio["present"] is True and audio["sample_rate"] == contract.AUDIO_SAMPLE_RATE
    assert audio["seconds"] == pytest.approx(SECONDS, abs=0.1)
    assert audio["score"] is not None and 0.0 <= audio["score"] <= 1.0
    assert audio["offset_s"] is None  # the tiny member learns no offset
    members = body["members"]
    assert list(members) == [*info["member_names"], MOTION_MEMBER, contract.AUDIO_MEMBER]
    assert members[contract.AUDIO_MEMBER] == pytest.approx(audio["score"], abs=1e-4)
    moved = body["motion"]["score"]
    assert 0.0 <= moved <= 1.0 and members[MOTION_MEMBER] == pytest.approx(moved, abs=1e-4)
    # The tracks keep their visual scores; the video score is the shipped joins of the
    # deciding track's with the talking-head member's, then the audio-visual member's (all
    # rounded to 4 digits in the answer).
    visual = max(t["score"] for t in body["tracks"])
    with_motion = combine_member(visual, moved, motion)
    joined = combine_member(with_motion, audio["score"], shipped)
    assert abs(joined - with_motion) > 0.01  # the sound moved the score: this checks something
    assert body["score"] == pytest.approx(joined, abs=2e-3)
    assert body["threshold"] == pytest.approx(info["threshold"], abs=1e-4)
    low, high = body["score_interval"]["low"], body["score_interval"]["high"]
    assert low <= body["score"] <= high

    silent = audio_gateway.detect(_clip(tmp_path / "mute.mp4", faces=1, seed=77, hz=None))
    assert silent.status_code == 200, silent.text
    mute = silent.json()
    assert mute["model"] == body["model"]
    assert mute["audio"]["present"] is False and mute["audio"]["score"] is None
    assert contract.AUDIO_MEMBER not in mute["members"]
    assert list(mute["members"]) == [*info["member_names"], MOTION_MEMBER]
    # Without sound only the talking-head member joins the deciding track's visual score.
    still = combine_member(max(t["score"] for t in mute["tracks"]), mute["motion"]["score"], motion)
    assert mute["score"] == pytest.approx(still, abs=2e-3)
    assert mute["verdict"] in ("real", "fake", "inconclusive")


def test_a_live_session_meets_the_visual_threshold(
    published: Path, audio_gateway: GatewayHandle, tmp_path: Path
) -> None:
    # No track member joins a live verdict (it scores frames as they come), so its visual
    # score is decided against the visual threshold, not the joined score's.
    info = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    visual = info["calibration"]["joined"]["visual_threshold"]
    frames = jpeg_frames(_clip(tmp_path / "live.mp4", faces=1, seed=5, hz=None), 2)

    async def run() -> dict:
        client = await open_live(audio_gateway, key=audio_gateway.api_key, hello={"type": "hello"})
        await client.until("ready")
        for frame in frames:
            await client.send_with_credit(frame)
        await client.ws.send(json.dumps({"type": "end"}))
        return await client.until("summary")

    summary = asyncio.run(run())
    assert summary["frames_scored"] == 2
    assert summary["threshold"] == pytest.approx(visual, abs=1e-4)
    # (On this machine the two are 0.4960 and 0.4973: the summary's 4 digits tell them apart.)
