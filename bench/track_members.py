"""What a version's track members cost per video, beside its visual members.

Measured in process through the TF1 session loader (as Serving restores a version), on the
frames the gateway sends for the 720p headline clip: the visual part is the version's
``serving_default`` on the 32 sampled frames in batches of 16 (the gateway's batch size);
each track member is one call on :data:`contract.audio.AUDIO_FACE_COUNT` of those frames
with one box (and, for the audio-visual member, 8 s of waveform). The track members are
built here: the talking-head member's graph (:mod:`model_export.motion_member`, fitted on
random features: its cost does not depend on its weights) and the tiny audio-visual member
of CI (:mod:`model_export.av_member`). CPU is this process's (user + system), the median of
:data:`REPEATS` runs after one warm-up, so the figures are ratios taken in one run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Runs of each part measured (after one warm-up run).
REPEATS = 5
#: Frames per batch of the visual part, as the gateway sends them.
_BATCH = 16


@dataclass(frozen=True)
class MemberCost:
    """CPU seconds per video of each part, and what they were measured on."""

    visual_s: float
    motion_s: float
    audio_s: float
    version: str
    frames: int
    frame_size: str

    @property
    def motion_ratio(self) -> float:
        """The talking-head member's CPU over the visual part's."""
        return self.motion_s / self.visual_s

    @property
    def audio_ratio(self) -> float:
        """The audio-visual member's CPU over the visual part's."""
        return self.audio_s / self.visual_s


def _cpu(run) -> float:  # type: ignore[no-untyped-def]
    """Median process CPU seconds of ``run()`` over :data:`REPEATS` runs, after a warm-up."""
    run()
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def _members(root: Path) -> tuple[Path, Path]:
    """The talking-head and audio-visual members' SavedModels, built under ``root``."""
    from model_export.av_demo_data import talking_clips
    from model_export.av_member import export_member, train_member
    from model_export.motion_features import FEATURE_NAMES
    from model_export.motion_member import export_motion_member, fit_motion_model

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, len(FEATURE_NAMES)))
    motion = export_motion_member(
        fit_motion_model(features, np.arange(40) % 2), root / "motion" / "1"
    )
    audio = export_member(train_member(talking_clips(8), epochs=1), root / "audio" / "1")
    return motion, audio


def measure_members(version_dir: Path, clip: Path) -> MemberCost:
    """The cost per video of ``version_dir``'s visual part and of the two track members."""
    import contract
    from contract.audio import AUDIO_FACE_COUNT, AUDIO_MAX_SAMPLES
    from contract.motion import MOTION_SIGNATURE
    from model_export.savedmodel import load_version
    from model_export.video_io import decode_samples

    frames = decode_samples(clip).frames
    track = frames[None, :AUDIO_FACE_COUNT]
    boxes = np.tile(np.asarray([0.2, 0.35, 0.8, 0.65], np.float32), (1, AUDIO_FACE_COUNT, 1))
    wave = np.zeros((1, AUDIO_MAX_SAMPLES), np.float32)
    with tempfile.TemporaryDirectory(prefix="bench-members-") as tmp:
        motion_dir, audio_dir = _members(Path(tmp))
        with (
            load_version(version_dir) as visual,
            load_version(motion_dir) as motion,
            load_version(audio_dir) as audio,
        ):

            def visual_run() -> None:
                for i in range(0, len(frames), _BATCH):
                    visual.run({contract.FRAMES_INPUT: frames[i : i + _BATCH]})

            visual_s = _cpu(visual_run)
            motion_s = _cpu(
                lambda: motion.run(
                    {contract.FRAMES_INPUT: track, contract.FACE_BOXES: boxes},
                    MOTION_SIGNATURE,
                )
            )
            audio_s = _cpu(
                lambda: audio.run(
                    {contract.AUDIO_INPUT: wave, contract.FRAMES_INPUT: track,
                     contract.FACE_BOXES: boxes},
                    contract.AUDIO_SIGNATURE,
                )
            )  # fmt: skip
    height, width = frames.shape[1:3]
    return MemberCost(
        visual_s, motion_s, audio_s, str(version_dir), len(frames), f"{width}x{height}"
    )


def measure_for(face_base: Path | None, served: Path, clip: Path) -> MemberCost:
    """:func:`measure_members` of the bench's face-aware version when there is one (the
    visual part track members join in practice), else of the served version."""
    from .face_aware import MODEL_NAME
    from .naive import latest_version

    version = latest_version(face_base / MODEL_NAME)[0] if face_base is not None else served
    return measure_members(version, clip)


def section(cost: MemberCost) -> list[str]:
    """The report's lines on the members' cost."""
    return [
        "",
        "## What each member costs per video",
        "",
        f"In process, through the TF1 session loader, on the {cost.frames} frames "
        f"({cost.frame_size}) the gateway sends for the 720p clip; process CPU, the median "
        f"of {REPEATS} runs. The visual part is `{cost.version}`'s `serving_default`; the "
        "track members are one call each on 8 of those frames.",
        "",
        "| part | CPU per video | against the visual part |",
        "| --- | --- | --- |",
        f"| visual members (`serving_default`, 32 frames) | {cost.visual_s:.3f} s | 1.00 |",
        f"| talking-head member (`classify_motion`) | {cost.motion_s:.3f} s | "
        f"{cost.motion_ratio:.3f} |",
        f"| audio-visual member, CI's tiny one (`classify_audio`) | {cost.audio_s:.3f} s | "
        f"{cost.audio_ratio:.3f} |",
    ]


def summary_lines(cost: MemberCost | None) -> list[str]:
    """The summary ratio lines of the members' cost."""
    if cost is None:
        return ["ratio talking-head member/visual CPU per video = n/a"]
    return [
        f"ratio talking-head member/visual CPU per video = {cost.motion_ratio:.3f}",
        f"ratio audio-visual member/visual CPU per video = {cost.audio_ratio:.3f}",
    ]
