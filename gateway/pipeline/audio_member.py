"""Audio stage's scoring: the version's audio-visual member asked about the decoded audio.

Only a version whose ``model_info`` says it takes audio (``audio_sample_rate`` at the
contract's rate) is asked, with one row: the waveform (:mod:`gateway.pipeline.audio`) and
:data:`contract.audio.AUDIO_FACE_COUNT` frames of the longest face track inside the audio's
window (:func:`contract.audio.audio_face_indices`) with the track's box in each, from which
the graph cuts its crops (whole frames as boxes for versions without faces), the selection
the talking-head member is sent too (:func:`gateway.pipeline.track_members.member_faces`).
Anything else (no audio, no member, no face in the window) leaves the member's score null and
the visual verdict as it is; the pipeline joins a score to the verdict by the version's
:class:`contract.combination.MemberCombination`, after the talking-head member's
(:func:`gateway.pipeline.track_members.join_members`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import contract
from contract.audio import AUDIO_SAMPLE_RATE

from ..audio_schemas import AudioSummary
from ..errors import InferenceFailed
from ..upstream.serving_client import ServingClient, let_finish
from ..upstream.serving_types import ModelRef, Prediction, VersionDescription
from .answers import ScoredFrames
from .audio import AudioTrack, decode_audio
from .probe import VideoInfo
from .track_members import member_faces, read_member_score
from .video import SampledFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioScore:
    """The audio-visual member's answer about one upload."""

    score: float
    #: The estimated audio-video offset in seconds; None unless the member outputs it.
    offset_s: float | None = None


def takes_audio(description: VersionDescription | None) -> bool:
    """Whether the version has an audio-visual member the gateway can feed."""
    if description is None or description.audio_sample_rate <= 0:
        return False
    if description.audio_sample_rate != AUDIO_SAMPLE_RATE:
        # A version wanting another rate was exported against another contract.
        log.warning(
            "audio rate differs from the contract",
            extra={"version_rate": description.audio_sample_rate, "rate": AUDIO_SAMPLE_RATE},
        )
        return False
    return True


def read_audio_score(answer: Prediction) -> AudioScore:
    """The one row of a ``classify_audio`` answer; :class:`InferenceFailed` when malformed."""
    score = read_member_score(answer, contract.AUDIO_SIGNATURE)
    try:
        offset = (
            float(np.asarray(answer.outputs[contract.AUDIO_OFFSET]).reshape(-1)[0])
            if contract.AUDIO_OFFSET in answer.outputs
            else None
        )
    except (IndexError, TypeError, ValueError) as exc:
        raise InferenceFailed(f"the {contract.AUDIO_SIGNATURE!r} answer is malformed") from exc
    return AudioScore(score=score, offset_s=offset)


async def score_audio(
    client: ServingClient,
    model: ModelRef,
    audio: AudioTrack,
    frames: list[SampledFrame],
    scored: ScoredFrames,
) -> AudioScore | None:
    """The member's score for ``audio`` and the upload's faces; None when it cannot be asked.

    ``model`` is the pinned version that scored the frames, whose description said it takes
    audio (:func:`takes_audio`).
    """
    if not audio.present or audio.waveform is None:
        return None
    inputs = member_faces(frames, scored)
    if inputs is None:
        log.info("audio not scored: no faces inside the audio window")
        return None
    images, boxes = inputs
    answer = await client.classify_audio(
        model, audio.waveform[None, :], images[None, ...], boxes[None, ...]
    )
    return read_audio_score(answer)


def audio_summary(audio: AudioTrack | None, scored: AudioScore | None) -> AudioSummary:
    """The answer's ``audio`` block."""
    if audio is None or not audio.present:
        return AudioSummary(present=False)
    return AudioSummary(
        present=True,
        sample_rate=audio.sample_rate,
        seconds=audio.seconds,
        score=scored.score if scored is not None else None,
        offset_s=scored.offset_s if scored is not None else None,
    )


def start_audio(path: Path, info: VideoInfo) -> asyncio.Task[AudioTrack] | None:
    """Decode the upload's audio on a thread, beside the video's; None for a still image.

    A request that fails before :func:`audio_stage` leaves the task to end by itself (the
    decode is bounded by :class:`~gateway.pipeline.audio.AudioLimits`), its outcome retrieved.
    """
    if info.kind != "video":
        return None
    task = asyncio.create_task(asyncio.to_thread(decode_audio, path))
    let_finish(task)  # type: ignore[arg-type]
    return task


@dataclass(frozen=True)
class AudioOutcome:
    """What the audio stage found: the answer's block and the member's score, if it scored."""

    summary: AudioSummary
    score: AudioScore | None

    @property
    def member_score(self) -> float | None:
        """The member's fake probability; None when it did not score."""
        return self.score.score if self.score is not None else None


async def audio_stage(
    client: ServingClient,
    model: ModelRef,
    task: asyncio.Task[AudioTrack] | None,
    description: VersionDescription | None,
    frames: list[SampledFrame],
    scored: ScoredFrames,
) -> AudioOutcome:
    """The decoded track, scored when the version takes audio, and the answer's block."""
    track = await task if task is not None else None
    score = None
    if track is not None and takes_audio(description):
        score = await score_audio(client, model, track, frames, scored)
    return AudioOutcome(audio_summary(track, score), score)
