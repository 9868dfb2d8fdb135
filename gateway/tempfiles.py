"""Temporary uploads left behind by a gateway that was killed mid-request.

Uploads are written to ``$GATEWAY_VAR_DIR/uploads`` as ``upload-<random>.video`` (what
:func:`tempfile.mkstemp` makes of the prefix and suffix :mod:`gateway.api.upload` uses) and
removed by the request that wrote them; a process killed outright cannot, so start-up
sweeps what a previous process left: those files, and the ``robustness-<random>`` folders of
re-encoded copies (:mod:`gateway.pipeline.robustness`).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

#: ``tempfile.mkstemp(prefix="upload-", suffix=".video")``: 8 characters of its alphabet.
UPLOAD_NAME = re.compile(r"upload-[a-z0-9_]{8}\.video")
#: ``tempfile.mkdtemp(prefix=PROBE_DIR_PREFIX)``: a robustness probe's folder of copies.
PROBE_DIR_PREFIX = "robustness-"
PROBE_DIR_NAME = re.compile(re.escape(PROBE_DIR_PREFIX) + r"[a-z0-9_]{8}")


def sweep_stale_uploads(directory: Path, older_than: float) -> int:
    """Remove the gateway's own temporary uploads in ``directory`` last written before
    ``older_than`` (a ``time.time()``); other files are never touched. Returns how many."""
    removed = 0
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        folder = PROBE_DIR_NAME.fullmatch(path.name) is not None
        if not folder and not UPLOAD_NAME.fullmatch(path.name):
            continue
        try:
            stat = path.lstat()
            if path.is_symlink() or stat.st_mtime >= older_than:
                continue
            if folder and path.is_dir():
                shutil.rmtree(path)
            elif not folder and path.is_file():
                path.unlink()
            else:
                continue
        except FileNotFoundError:
            continue
        removed += 1
    if removed:
        log.info("removed stale uploads", extra={"count": removed, "directory": str(directory)})
    return removed
