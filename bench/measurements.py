"""What one run of the benchmark measured, per clip and in all, and the statistics of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .clips import BenchClip
from .decode import DecodeTiming
from .naive import PipelineRun, SizeDrift
from .service import LoadRun, ProcessMemory, RequestResult

if TYPE_CHECKING:
    from .face_aware import FaceAwareResults
    from .inputs import InputsResults
    from .receipts import ReceiptCost
    from .track_members import MemberCost

#: The clip the headline ratios are taken on.
HEADLINE_CLIP = "720p"
STAGES = ("upload", "probe", "decode", "inference", "aggregate", "total")


@dataclass
class ClipResult:
    """Everything measured on one clip."""

    clip: BenchClip
    naive: list[PipelineRun] = field(default_factory=list)
    reference: list[PipelineRun] = field(default_factory=list)
    service: list[RequestResult] = field(default_factory=list)
    #: The ``mtcnn`` package pipeline (face-aware clips only).
    package: list[PipelineRun] = field(default_factory=list)
    decode: list[DecodeTiming] = field(default_factory=list)
    #: Share of the machine's cores other programs used while this clip was measured.
    others_share: float = float("nan")
    #: Scores at the sizes frames may be sent at.
    drift: SizeDrift | None = None

    @property
    def ok(self) -> list[RequestResult]:
        return [r for r in self.service if r.status == 200]

    @property
    def naive_ms(self) -> float:
        return median([r.total_ms for r in self.naive])

    @property
    def reference_ms(self) -> float:
        return median([r.total_ms for r in self.reference])

    def service_ms(self, q: float) -> float:
        return percentile([r.latency_ms for r in self.ok], q)

    def timing(self, stage: str) -> float:
        return median([r.timings.get(stage, float("nan")) for r in self.ok])

    @property
    def overhead_ms(self) -> float:
        """gRPC + gateway overhead: the service's latency minus the sequential reference's.

        Taken as the median of the differences within (reference, service) pairs run one
        after the other, so that load from other programs, which drifts over seconds,
        cancels out; failed requests drop their pair.
        """
        diffs = [
            s.latency_ms - r.total_ms
            for r, s in zip(self.reference, self.service, strict=False)
            if s.status == 200
        ]
        return median(diffs)

    @property
    def gateway_decoded(self) -> int:
        """Frames the gateway's decoder gets out of the codec for the sample."""
        counts = [d.decoded for d in self.decode if d.variant == "pyav (gateway)"]
        return counts[0] if counts else -1


@dataclass
class BenchResults:
    """One run of the benchmark."""

    meta: dict[str, str]
    clips: list[ClipResult]
    load: list[LoadRun]
    load_clip: str
    memory: dict[str, ProcessMemory]
    #: The same service with a face-aware version (when the shared weights exist).
    face_aware: FaceAwareResults | None = None
    elapsed_s: float = 0.0
    #: What signing one answer's receipt costs (bench.receipts).
    receipt: ReceiptCost | None = None
    #: A still image against a clip, and live streams (bench.inputs).
    inputs: InputsResults | None = None
    #: What each member of the version costs per video (bench.track_members).
    members: MemberCost | None = None

    def headline(self) -> ClipResult | None:
        return next((c for c in self.clips if c.clip.name == HEADLINE_CLIP), None)


def median(values: list[float]) -> float:
    """The median of the values that are not NaN; NaN when none is."""
    clean = [v for v in values if v == v]  # drop NaN
    return float(np.median(clean)) if clean else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values``; NaN when there are none."""
    return float(np.percentile(values, q)) if values else float("nan")
