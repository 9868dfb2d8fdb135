"""The stability probe of one upload (``robustness=true``): how far its score moves when the
clip is re-encoded, downscaled or mirrored.

The transforms are :data:`contract.reencode.TRANSFORMS`, the ones ``evaluate --robustness``
measures a version by: H.264 at CRF 23, 30 and 38, half size and a mirror. The copies are
written into a ``robustness-<random>`` folder beside the uploads (which start-up sweeps if a
killed process left one) and scored by the same pipeline, pinned to the version that
answered, without content credentials or explanations; each copy is deleted with its folder
once scored. None of this changes the answer's score or verdict, and the receipt signs the
answer without the probe.

The probe has a deadline of its own after the detection: past it, the answer carries the
transforms scored so far and ``complete: false``, never a lost verdict.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from contract.reencode import TRANSFORMS, Transform, transcode

from ..errors import InvalidParameters, ServingTimeout, VideoLimitExceeded
from ..tempfiles import PROBE_DIR_PREFIX
from ..upstream.serving_types import ModelRef
from .detection_types import DetectionResult, DetectOptions
from .probe import VideoInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformScore:
    """One transformed copy's answer beside the upload's own."""

    transform: Transform
    score: float
    verdict: str
    #: ``score`` minus the upload's own score.
    delta: float


@dataclass(frozen=True)
class RobustnessProbe:
    """The copies scored, in :data:`~contract.reencode.TRANSFORMS` order."""

    scores: list[TransformScore]
    #: False when the probe's deadline passed before every transform was scored.
    complete: bool
    seconds: float

    @property
    def max_abs_delta(self) -> float | None:
        """The largest move of the score; None when nothing was scored."""
        return max((abs(s.delta) for s in self.scores), default=None)

    def flips(self, verdict: str) -> int:
        """How many copies got another verdict than the upload's ``verdict``."""
        return sum(1 for s in self.scores if s.verdict != verdict)


class Detect(Protocol):
    """:meth:`DetectionPipeline.detect <gateway.pipeline.detection.DetectionPipeline.detect>`."""

    def __call__(
        self,
        path: Path,
        opts: DetectOptions,
        *,
        deadline_s: float,
        read_credentials: bool = ...,
        count_verdict: bool = ...,
    ) -> Awaitable[DetectionResult]: ...


def check_probe_allowed(info: VideoInfo, max_duration_s: float) -> None:
    """Refuse, before any work, a probe the gateway will not run: a still image, or a clip
    over the limit. Raises :class:`InvalidParameters` or :class:`VideoLimitExceeded`."""
    if info.kind == "image":
        raise InvalidParameters("robustness=true re-encodes videos; this upload is a still image")
    if info.duration_s > max_duration_s:
        raise VideoLimitExceeded(
            f"robustness=true takes videos up to {max_duration_s:g} s; "
            f"this one lasts {info.duration_s:.1f} s"
        )


async def probe_robustness(
    detect: Detect,
    path: Path,
    opts: DetectOptions,
    original: DetectionResult,
    *,
    directory: Path,
    timeout_s: float,
) -> RobustnessProbe:
    """Score every transform of the video at ``path`` with ``detect``, within ``timeout_s``.

    ``original`` is the upload's own result: the copies are scored by its version, and
    their scores compared with its score.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    pinned = replace(
        opts,
        model=ModelRef(original.model_name, version=original.version),
        explain=False,
        robustness=False,
    )
    scores: list[TransformScore] = []
    directory.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=PROBE_DIR_PREFIX, dir=directory))
    try:
        try:
            copies = await asyncio.to_thread(transcode, path, folder, TRANSFORMS, deadline=deadline)
        except TimeoutError:
            return RobustnessProbe(scores, complete=False, seconds=time.monotonic() - started)
        for transform in TRANSFORMS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                result = await detect(
                    copies[transform.name],
                    pinned,
                    deadline_s=remaining,
                    read_credentials=False,
                    count_verdict=False,
                )
            except ServingTimeout:
                break  # the probe's deadline, within the copy's detection
            finally:
                copies[transform.name].unlink(missing_ok=True)
            scores.append(
                TransformScore(
                    transform,
                    score=result.verdict.score,
                    verdict=result.verdict.verdict,
                    delta=result.verdict.score - original.verdict.score,
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    complete = len(scores) == len(TRANSFORMS)
    if not complete:
        log.warning(
            "robustness probe cut short by its deadline",
            extra={"scored": len(scores), "timeout_s": timeout_s},
        )
    return RobustnessProbe(scores, complete=complete, seconds=time.monotonic() - started)
