"""The audio track as the three programs agree on it: its rate, its length and its signature.

Part of the contract for the same reason as :mod:`contract.sampling`: an audio-visual
member's score only means something for the waveform it was trained on, so training and the
gateway both resample to :data:`AUDIO_SAMPLE_RATE` (mono, float32 in [-1, 1]) and both cut
or pad it with :func:`fit_waveform`. The audio features (a log-mel spectrogram) are computed
inside the exported graph, like the image preprocessing, so no program computes them twice.

Signature ``classify_audio`` (versions with an audio-visual member; ``model_info``'s
``audio_sample_rate`` > 0 says a version has it):

==========================  =======  ===================  ================================
name                        dtype    shape                meaning
==========================  =======  ===================  ================================
``audio`` (input)           float32  [B, S]               mono waveform at
                                                          :data:`AUDIO_SAMPLE_RATE`,
                                                          ``S`` = :data:`AUDIO_MAX_SAMPLES`
                                                          (:func:`fit_waveform`)
``frames`` (input)          uint8    [B, T, H, W, 3]      :data:`AUDIO_FACE_COUNT` sampled
                                                          frames of one face track, at the
                                                          times :func:`audio_face_indices`
                                                          picks
``face_boxes`` (input)      float32  [B, T, 4]            the track's box in each of them,
                                                          ``[y1, x1, y2, x2]`` in [0, 1]
                                                          (``[0, 0, 1, 1]`` for versions
                                                          without faces); the graph cuts
                                                          its crops, with its own margin
                                                          (``contract.FACE_BOXES``)
``fake_probability``        float32  [B]                  the member's fake probability
``audio_offset_s``          float32  [B]                  optional: the audio-video offset
                                                          the member estimates, in seconds
==========================  =======  ===================  ================================

The graph cuts the faces, not the caller, for the reason it holds the image preprocessing:
one crop rule (size, margin, edges) for training and serving.

How the member's score joins the verdict. ``model_info``'s ``audio_combination`` (float32
[N, 4], :data:`AUDIO_COMBINATION_OUTPUT`) holds the version's
:class:`contract.combination.MemberCombination`, fitted by ``model_export`` on videos with
sound: when the member scored, the video score is joined with it
(:mod:`contract.combination`); a clip without sound keeps its visual score, so the same
version answers both. A version without the output joins nothing (its member's score is
reported only).

The cap. A clip's audio is scored on its first :data:`AUDIO_MAX_SECONDS` seconds, never
more: the gateway decodes no more than that (a bounded buffer of
:data:`AUDIO_MAX_SAMPLES` floats) and the member was trained on windows that long.
:mod:`contract.sampling` spreads its frames over the whole clip and has no fixed window,
so the cap is a constant of its own; the faces paired with the audio are the sampled frames
that fall inside it.

Needs numpy only: no TensorFlow, nor ``gateway``, ``model_export`` or ``serving``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .tracks import link_tracks

if TYPE_CHECKING:
    from .aggregation import FrameResult

#: The one sample rate, in Hz, of every waveform a model is given: mono, float32 in [-1, 1].
AUDIO_SAMPLE_RATE = 16_000
#: Seconds of audio a clip is scored on, from its start.
AUDIO_MAX_SECONDS = 8.0
#: Samples of every waveform sent to ``classify_audio``: the cap at the contract rate.
AUDIO_MAX_SAMPLES = int(AUDIO_SAMPLE_RATE * AUDIO_MAX_SECONDS)
#: Face crops of one track that go with the waveform, in time order.
AUDIO_FACE_COUNT = 8

#: Signature of versions with an audio-visual member.
AUDIO_SIGNATURE = "classify_audio"
#: Input tensor of ``classify_audio``: the waveform, float32 [B, S].
AUDIO_INPUT = "audio"
#: Output of ``classify_audio`` (optional): the estimated audio-video offset, float32 [B].
AUDIO_OFFSET = "audio_offset_s"
#: The audio-visual member's key in an answer's ``members``.
AUDIO_MEMBER = "audio_visual"
#: Output of ``model_info``: the rate ``classify_audio`` takes, int32 [N] (0: no audio member).
AUDIO_SAMPLE_RATE_OUTPUT = "audio_sample_rate"
#: Output of ``model_info``: :class:`MemberCombination` as float32 [N, 4]
#: (visual weight, audio weight, bias, floor).
AUDIO_COMBINATION_OUTPUT = "audio_combination"
#: Box of a whole frame, for versions that score frames without faces.
WHOLE_FRAME_BOX = (0.0, 0.0, 1.0, 1.0)


def fit_waveform(samples: np.ndarray, max_samples: int = AUDIO_MAX_SAMPLES) -> np.ndarray:
    """``samples`` as the one waveform shape: float32 [max_samples], in [-1, 1].

    Mono input is 1-D; a 2-D ``[channels, samples]`` array is averaged to mono. Longer
    audio is cut to its first ``max_samples``, shorter audio padded with silence at the end
    (silence, not a repeat, so a short clip's padding carries no speech the video lacks).
    Non-finite values become 0 and the rest is clipped to [-1, 1]. Training and the gateway
    both call this, so the model sees the same window in both.
    """
    if max_samples < 1:
        raise ValueError("max_samples must be at least 1")
    wave = np.asarray(samples, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"a waveform is 1-D or [channels, samples], got shape {wave.shape}")
    out = np.zeros(max_samples, dtype=np.float32)
    kept = wave[:max_samples]
    out[: kept.shape[0]] = np.clip(np.nan_to_num(kept, nan=0.0, posinf=0.0, neginf=0.0), -1, 1)
    return out


def waveform_seconds(sample_count: int) -> float:
    """Seconds of audio ``sample_count`` samples at the contract rate cover, within the cap."""
    return min(max(sample_count, 0), AUDIO_MAX_SAMPLES) / AUDIO_SAMPLE_RATE


def audio_face_indices(times_s: Sequence[float], count: int = AUDIO_FACE_COUNT) -> list[int]:
    """Which of a track's faces (at ``times_s``, in order) go with the waveform: ``count`` indices.

    Only faces inside the audio window (``t < AUDIO_MAX_SECONDS``) are used, spread evenly
    from the first to the last of them; fewer than ``count`` repeat (nearest earlier index).
    No face inside the window gives an empty list: there is nothing to pair the audio with.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    inside = [i for i, t in enumerate(times_s) if t < AUDIO_MAX_SECONDS]
    if not inside:
        return []
    if len(inside) == 1:
        return [inside[0]] * count
    positions = np.linspace(0, len(inside) - 1, count)
    return [inside[int(np.floor(p + 1e-9))] for p in positions]


def audio_track_frames(
    frames: Sequence[FrameResult], *, face_aware: bool
) -> tuple[list[int], list[list[float]]] | None:
    """Which sampled frames go with the waveform, and the box to cut from each.

    For a face-aware version, :data:`AUDIO_FACE_COUNT` frames of the longest face track
    (:func:`contract.tracks.link_tracks`) inside the audio window
    (:func:`audio_face_indices` on the frames' ``t_s``) and that track's box in each; for a
    whole-frame version, frames inside the window with :data:`WHOLE_FRAME_BOX`. Returns the
    frames' indices and the boxes; None when nothing lies inside the window. Training and
    the gateway both call it, so a member is asked about the same faces in both.
    """
    if not face_aware:
        rows = audio_face_indices([f.t_s for f in frames])
        return (rows, [list(WHOLE_FRAME_BOX)] * len(rows)) if rows else None
    tracks = link_tracks(list(frames))
    if not tracks:
        return None
    longest = max(tracks, key=lambda t: len(t.frames))
    picked = audio_face_indices([frames[i].t_s for i in longest.frames])
    if not picked:
        return None
    rows, boxes = [], []
    for k in picked:
        row, slot = longest.frames[k], longest.slots[k]
        rows.append(row)
        boxes.append(next(list(f.box) for f in frames[row].faces if f.slot == slot))
    return rows, boxes
