"""The detection query parameters of ``/v1/detect`` and ``/v1/jobs`` (FastAPI dependencies).

What they are parsed into, and the checks on metadata pairs, is
:mod:`gateway.pipeline.params`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

import contract
from contract.aggregation import (
    DEFAULT_AGGREGATION,
    FRAME_AGGREGATIONS,
    SEQUENCE_AGGREGATION,
    Aggregation,
)

from ..errors import InvalidParameters
from ..pipeline.params import METADATA_PREFIX, DetectParams, metadata_from_pairs


def detect_params(
    model_version: Annotated[int | None, Query(ge=1, description="Ask this version.")] = None,
    model_label: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_]+$", description="Ask the version with this label."),
    ] = None,
    frames: Annotated[int | None, Query(ge=1, le=256, description="Frames to sample.")] = None,
    fps: Annotated[
        float | None, Query(gt=0, le=60, description="Sample this many frames per second instead.")
    ] = None,
    aggregation: Annotated[
        Aggregation | None,
        Query(
            description=(
                "How a face track is scored: from its per-face scores "
                f"({', '.join(FRAME_AGGREGATIONS)}) or by the version's sequence head "
                f"({SEQUENCE_AGGREGATION}). Default: {SEQUENCE_AGGREGATION} for versions with a "
                f"sequence head, else {DEFAULT_AGGREGATION}."
            )
        ),
    ] = None,
    explain: Annotated[
        bool,
        Query(
            description=(
                "Also explain each face track's most suspicious frames: the face crop and a "
                "heatmap of where the version saw a fake (tracks[].explanations). Needs a "
                "version with an explain signature; otherwise explanations stay null and a "
                "warning says so."
            )
        ),
    ] = False,
    operating_point: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9_]{1,40}$",
            description=(
                "Decide with this named threshold of the answering version (GET /v1/models "
                f"lists each version's operating_points). Default: "
                f"{contract.OPERATING_POINT_BALANCED}, the threshold the version ships."
            ),
        ),
    ] = None,
    robustness: Annotated[
        bool,
        Query(
            description=(
                "Also score copies of the video re-encoded (H.264 CRF 23, 30, 38), at half "
                "size and mirrored, by the same version, and report how far the score moves "
                "(robustness). Videos only, up to GATEWAY_ROBUSTNESS_MAX_DURATION_S; the "
                "answer's score and verdict are the upload's own."
            )
        ),
    ] = False,
) -> DetectParams:
    """The detection query parameters (a FastAPI dependency)."""
    if model_version is not None and model_label is not None:
        raise InvalidParameters("give model_version or model_label, not both")
    return DetectParams(
        model_version, model_label, frames, fps, aggregation, explain, operating_point, robustness
    )


def metadata_from_query(request: Request) -> dict[str, str]:
    """``metadata.<name>=<value>`` query parameters as a dict (checked against the limits)."""
    return metadata_from_pairs(
        (key[len(METADATA_PREFIX) :], value)
        for key, value in request.query_params.multi_items()
        if key.startswith(METADATA_PREFIX)
    )
