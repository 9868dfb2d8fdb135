"""A live session's ``summary``: the whole stream's verdict and its signed receipt.

The receipt is made by the code that makes ``/v1/detect``'s
(:func:`gateway.pipeline.responses.detection_response`, :mod:`gateway.pipeline.receipts`):
the stream becomes a :class:`~gateway.pipeline.detection_types.DetectionResult` whose
frames are the scored frames, so its claims are an upload's, over the SHA-256 of the
binary messages as received.
"""

from __future__ import annotations

from contract.aggregation import Verdict

from ...pipeline.detection_types import DetectionResult, DetectOptions
from ...pipeline.pipeline_config import PipelineConfig
from ...pipeline.probe import VideoInfo
from ...pipeline.responses import detection_response
from ...receipt_keys import ReceiptKeys
from . import protocol
from .scoring import SessionModel
from .window import RollingWindow


def summary_message(
    window: RollingWindow,
    state: protocol.Verdict,
    *,
    session: SessionModel,
    config: PipelineConfig,
    max_fps: float,
    media_sha256: str,
    receipt_keys: ReceiptKeys | None,
) -> protocol.Summary:
    """The ``summary`` for ``state`` (the whole stream's verdict message), with a receipt
    when a frame was scored and the gateway holds receipt keys."""
    verdict = window.verdict_of()
    receipt = None
    if verdict is not None and receipt_keys is not None:
        receipt = _receipt(window, verdict, session, config, max_fps, media_sha256, receipt_keys)
    fields = state.model_dump()
    fields["type"] = "summary"
    return protocol.Summary(**fields, sha256=media_sha256, receipt=receipt)


def _receipt(
    window: RollingWindow,
    verdict: Verdict,
    session: SessionModel,
    config: PipelineConfig,
    max_fps: float,
    media_sha256: str,
    receipt_keys: ReceiptKeys,
) -> str | None:
    frames = [f.result for f in window.frames]
    width, height = window.frames[-1].size
    info = VideoInfo(
        duration_s=frames[-1].t_s - frames[0].t_s,
        fps=max_fps,
        width=width,
        height=height,
        rotation=0,
        frame_count=len(frames),
        codec="live",
    )
    result = DetectionResult(
        info=info,
        frames=frames,
        verdict=verdict,
        model_name=session.model.name,
        version=session.version,
        face_aware=window.face_aware,
        aggregation=session.aggregation,
        description=session.description,
        operating_point=session.operating_point,
        config=config,
    )
    opts = DetectOptions(
        model=session.model,
        frames=len(frames),
        rate=max_fps,
        aggregation=session.aggregation,
        operating_point=session.operating_point,
    )
    body = detection_response(result, opts, media_sha256=media_sha256, receipt_keys=receipt_keys)
    return body.receipt
