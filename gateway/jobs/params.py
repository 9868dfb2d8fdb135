"""Detection parameters shared by ``/v1/detect`` and ``/v1/jobs``: parsed once, stored with jobs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Query, Request

import contract
from contract.aggregation import (
    DEFAULT_AGGREGATION,
    FRAME_AGGREGATIONS,
    SEQUENCE_AGGREGATION,
    Aggregation,
)

from ..detection_types import DetectOptions
from ..errors import BadRequest, InvalidParameters
from ..settings import Settings
from ..upstream.serving_types import ModelRef

#: ``metadata.<name>=<value>`` query parameters: at most this many, this long.
MAX_METADATA_PAIRS = 8
MAX_METADATA_NAME = 40
MAX_METADATA_VALUE = 64
METADATA_PREFIX = "metadata."
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: Where a job's media URL is kept among its stored parameters (not a detection option).
MEDIA_URL_PARAM = "media_url"


@dataclass(frozen=True)
class DetectParams:
    """What a caller may choose about one detection."""

    model_version: int | None = None
    model_label: str | None = None
    frames: int | None = None
    fps: float | None = None
    aggregation: str | None = None
    explain: bool = False
    #: None: the version's shipped threshold (``balanced``).
    operating_point: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # ``explain`` only when asked: jobs stored (and hashed) before it existed stay equal.
        return {
            k: v
            for k, v in asdict(self).items()
            if v is not None and not (k == "explain" and v is False)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectParams:
        return cls(**{k: v for k, v in data.items() if k != MEDIA_URL_PARAM})

    def options(self, settings: Settings) -> DetectOptions:
        """The pipeline's options for these parameters under ``settings``."""
        return DetectOptions(
            model=ModelRef(settings.model_name, version=self.model_version, label=self.model_label),
            frames=self.frames or settings.frames,
            rate=self.fps,
            # None: the pipeline picks by what the answering version can do.
            strategy=self.aggregation or settings.aggregation,  # type: ignore[arg-type]
            explain=self.explain,
            operating_point=self.operating_point,
        )


def request_hash(
    sha256: str, params: DetectParams, callback_url: str | None, metadata: dict[str, str]
) -> str:
    """What makes two submissions the same request (for ``Idempotency-Key``): the media
    (an upload's SHA-256, or what stands for a media URL) and every parameter."""
    canonical = json.dumps(
        {
            "sha256": sha256,
            "params": params.to_dict(),
            "callback_url": callback_url,
            "metadata": metadata,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


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
) -> DetectParams:
    """The detection query parameters (a FastAPI dependency)."""
    if model_version is not None and model_label is not None:
        raise InvalidParameters("give model_version or model_label, not both")
    return DetectParams(
        model_version, model_label, frames, fps, aggregation, explain, operating_point
    )


def metadata_from_query(request: Request) -> dict[str, str]:
    """``metadata.<name>=<value>`` query parameters as a dict (checked against the limits)."""
    return metadata_from_pairs(
        (key[len(METADATA_PREFIX) :], value)
        for key, value in request.query_params.multi_items()
        if key.startswith(METADATA_PREFIX)
    )


def metadata_from_pairs(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Metadata ``(name, value)`` pairs as a dict, checked against the limits (400 if not)."""
    pairs: dict[str, str] = {}
    for name, value in items:
        if not name or len(name) > MAX_METADATA_NAME or not _NAME.match(name):
            raise BadRequest(
                f"metadata name {name!r}: 1 to {MAX_METADATA_NAME} of A-Z a-z 0-9 _ . -"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE or not value.isprintable():
            raise BadRequest(
                f"metadata {name!r}: at most {MAX_METADATA_VALUE} printable characters"
            )
        if name in pairs:
            raise BadRequest(f"metadata {name!r} given twice")
        pairs[name] = value
    if len(pairs) > MAX_METADATA_PAIRS:
        raise BadRequest(f"at most {MAX_METADATA_PAIRS} metadata pairs")
    return pairs
