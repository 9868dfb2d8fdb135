"""The gateway's sampling settings, read the way the gateway reads them.

The bench's in-process pipelines and the gateway subprocess see the same
environment, so both sample the same frames at the same size.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.aggregation import DEFAULT_AGGREGATION
from gateway.pipeline.probe import VideoLimits
from gateway.settings import Settings


@dataclass(frozen=True)
class GatewayDefaults:
    """How the gateway samples and batches frames, and what it aggregates with."""

    frames: int
    batch_size: int
    max_side: int
    aggregation: str
    limits: VideoLimits
    max_in_flight: int
    max_queue: int
    #: The shorter frame side the served version asks for (its ``model_info``); 0 for none.
    min_side: int = 0


def gateway_defaults() -> GatewayDefaults:
    """The settings a gateway started from this environment would use."""
    s = Settings()
    return GatewayDefaults(
        frames=s.frames,
        batch_size=s.batch_size,
        max_side=s.frame_max_side,
        # The bench's model has no sequence head: unset means the frame default.
        aggregation=s.aggregation or DEFAULT_AGGREGATION,
        limits=VideoLimits(
            max_duration_s=s.max_duration_s, max_frames=s.max_frames, max_pixels=s.max_pixels
        ),
        max_in_flight=s.max_in_flight,
        max_queue=s.max_queue,
    )
