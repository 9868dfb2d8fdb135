"""A succeeded job's plaintext copy handed to the shadow canary, as a sync upload is.

The worker decrypts a job's media to a working copy under ``media/work``, which the job's
end and the work sweep remove. A copy the canary takes must outlive the job, so it is
moved (renamed, not copied) into the uploads directory first; from there
:func:`gateway.pipeline.shadow.hand_over` gives it to the canary or removes it, the one rule the
sync route follows too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..pipeline.detection_types import DetectionResult, DetectOptions
from ..pipeline.shadow import ShadowCanary, hand_over
from .media import MediaStore

log = logging.getLogger(__name__)

#: Called once a job's end is recorded: its shadow run may start.
EndRecorded = Callable[[], None]


def offer_to_shadow(
    shadow: ShadowCanary | None,
    media: MediaStore,
    job_id: str,
    path: Path,
    opts: DetectOptions,
    result: DetectionResult,
    var_dir: Path,
) -> EndRecorded | None:
    """Give the working copy ``path`` of ``job_id`` to ``shadow``, without waiting.

    Returns what to call once the job's end is recorded when the canary took the copy;
    None otherwise, the copy then being removed, or left where it was (for the run to
    remove) when it could not move. Never raises for the shadow's sake.
    """
    if shadow is None:
        return None
    try:
        moved = media.release_copy(path, var_dir / "uploads")
    except OSError as exc:
        log.warning(
            "job not shadowed: its media copy did not move",
            extra={"job_id": job_id, "error": type(exc).__name__, "detail": str(exc)[:200]},
        )
        return None
    return hand_over(shadow, moved, opts, result, job_id=job_id)
