"""What a caller may choose about one detection, parsed once and stored with jobs.

The parameters of ``/v1/detect`` and ``/v1/jobs`` (:class:`DetectParams`) and the
pipeline's options they become, what makes two job submissions the same request, and the
checks on a job's metadata pairs. The query parameters that fill them are
:mod:`gateway.api.params`, the HTTP edge's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import BadRequest
from ..settings import Settings
from ..upstream.serving_types import ModelRef
from .detection_types import DetectOptions

#: ``metadata.<name>=<value>`` query parameters: at most this many, this long.
MAX_METADATA_PAIRS = 8
MAX_METADATA_NAME = 40
MAX_METADATA_VALUE = 64
METADATA_PREFIX = "metadata."
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: Where a job's media URL is kept among its stored parameters (not a detection option).
MEDIA_URL_PARAM = "media_url"


#: Parameters stored only when true.
_FLAGS = frozenset({"explain", "robustness"})


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
    robustness: bool = False

    def to_dict(self) -> dict[str, Any]:
        # The flags only when asked: jobs stored (and hashed) before they existed stay equal.
        return {
            k: v
            for k, v in asdict(self).items()
            if v is not None and not (k in _FLAGS and v is False)
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
            aggregation=self.aggregation or settings.aggregation,  # type: ignore[arg-type]
            explain=self.explain,
            operating_point=self.operating_point,
            robustness=self.robustness,
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
