"""What one detection takes and gives: the request's options, progress, the result.

:class:`DetectOptions` is what a request chooses;
:class:`~gateway.pipeline.pipeline_config.PipelineConfig` what the gateway fixes;
:class:`Progress` what a caller hears while the stages run (a job's progress);
:class:`DetectionResult` what the stages found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import contract
from contract.aggregation import Aggregation, FrameResult, MemberScores, Verdict
from contract.reasons import ReasonCode

from ..audio_schemas import AudioSummary
from ..motion_schemas import MotionSummary
from ..provenance_schemas import Provenance
from ..upstream.serving_types import ModelRef, VersionDescription
from .explain import Explanation
from .pipeline_config import PipelineConfig
from .probe import VideoInfo
from .timing import StageTimer

if TYPE_CHECKING:  # the probe builds on these types
    from .robustness import RobustnessProbe


@dataclass(frozen=True)
class DetectOptions:
    """What one request chooses; what the gateway fixes is in :class:`PipelineConfig`."""

    model: ModelRef
    frames: int
    rate: float | None
    #: None: ``sequence`` when the version has a sequence head, else the frame default.
    aggregation: Aggregation | None
    #: Explain each track's most suspicious faces (``explain=true``).
    explain: bool = False
    #: The named threshold to decide with; None: the version's shipped one (``balanced``).
    operating_point: str | None = None
    #: Also score re-encoded, downscaled and mirrored copies (``robustness=true``).
    robustness: bool = False


class Progress(Protocol):
    """What a caller hears while one detection runs (a job's progress)."""

    def stage(self, name: str) -> None:
        """The detection entered stage ``name``."""

    def frames_scored(self, count: int) -> None:
        """``count`` more sampled frames were scored."""


class Silent:
    """The progress of a caller that does not listen."""

    def stage(self, name: str) -> None:
        pass

    def frames_scored(self, count: int) -> None:
        pass


@dataclass
class DetectionResult:
    """What the stages found: the video, its per-frame results and the verdict."""

    info: VideoInfo
    frames: list[FrameResult]
    verdict: Verdict
    model_name: str
    version: int
    face_aware: bool
    #: The aggregation that decided (the one asked for, or the version's default).
    aggregation: Aggregation
    #: The answering version's ``model_info``; None when it has none.
    description: VersionDescription | None = None
    #: The upload's content credentials; never an input to the verdict.
    provenance: Provenance | None = None
    #: An ensemble's member names and each member's scores; None for other versions.
    member_names: tuple[str, ...] | None = None
    members: MemberScores | None = None
    #: Per track id, its explained faces (``explain=true`` and the version explains);
    #: None when not asked for or not available.
    explanations: dict[int, list[Explanation]] | None = None
    #: What the stages have to warn about (besides the version's kind).
    warnings: list[str] | None = None
    #: The name of the operating point whose threshold decided.
    operating_point: str = contract.OPERATING_POINT_BALANCED
    #: The reason codes of :mod:`contract.reasons` that apply to the verdict.
    reasons: list[ReasonCode] = field(default_factory=list)
    #: The upload's audio track and the audio-visual member's score; None for images.
    audio: AudioSummary | None = None
    #: The talking-head member's score; None when the version has no such member.
    motion: MotionSummary | None = None
    #: The stability probe's copies (``robustness=true``); None when not asked for.
    robustness: RobustnessProbe | None = None
    #: How long each stage took (``total`` included once :meth:`DetectionPipeline.detect`
    #: returns) and the configuration the detection ran under.
    timer: StageTimer = field(default_factory=StageTimer)
    config: PipelineConfig | None = None
