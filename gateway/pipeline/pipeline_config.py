"""What the settings fix for every detection: sizes, batches, limits, the credentials reader.

One place turns :class:`~gateway.settings.Settings` into what the pipeline is built with, so
that the sync route, the job worker and the shadow canary run under the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Settings
from .budget import DecodeLimits
from .keyframes import KeyframePlan
from .probe import VideoLimits
from .provenance import ProvenanceReader


@dataclass(frozen=True)
class PipelineConfig:
    """What the gateway fixes for every detection (``GATEWAY_*`` settings)."""

    batch_size: int
    max_side: int
    default_threshold: float
    canvas: int | None
    #: Faces explained per track, and the side in pixels of their PNG images.
    explain_per_track: int = 3
    explain_side: int = 112
    #: Where faces are detected (face-aware versions with ``detect_faces``).
    keyframes: KeyframePlan = field(default_factory=KeyframePlan)
    #: ``robustness=true``: the longest video probed, the probe's own deadline, and where
    #: its copies are written (None: beside the upload).
    robustness_max_duration_s: float = 60.0
    robustness_timeout_s: float = 180.0
    scratch_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        """The configuration ``settings`` give."""
        return cls(
            batch_size=settings.batch_size,
            max_side=settings.frame_max_side,
            default_threshold=settings.default_threshold,
            canvas=settings.frame_canvas,
            explain_per_track=settings.explain_per_track,
            explain_side=settings.explain_side,
            keyframes=KeyframePlan(settings.face_detect_every, settings.face_detect_side),
            robustness_max_duration_s=settings.robustness_max_duration_s,
            robustness_timeout_s=settings.robustness_timeout_s,
            scratch_dir=settings.var_dir / "uploads",
        )


def provenance_reader_from(settings: Settings) -> ProvenanceReader:
    """The content credentials reader ``settings`` give (``GATEWAY_C2PA_*``)."""
    return ProvenanceReader(
        trust_anchors=settings.c2pa_trust_anchors,
        # Within half the request's deadline: the credentials never make a detection time out.
        timeout_s=min(settings.c2pa_timeout_s, settings.request_timeout_s / 2),
        max_reads=2 * settings.max_in_flight,
        max_verify_bytes=settings.c2pa_max_verify_bytes,
    )


def decode_limits_from(settings: Settings) -> DecodeLimits:
    """The per-upload decoding limits ``settings`` give."""
    return DecodeLimits(
        cpu_s=settings.decode_cpu_s,
        max_pixels=settings.decode_max_pixels,
        timeout_s=settings.decode_deadline_s,
    )


def video_limits_from(settings: Settings) -> VideoLimits:
    """The upload limits ``settings`` give (``GATEWAY_MAX_DURATION_S`` and the others)."""
    return VideoLimits(
        max_duration_s=settings.max_duration_s,
        max_frames=settings.max_frames,
        max_pixels=settings.max_pixels,
        max_image_pixels=settings.max_image_pixels,
    )
