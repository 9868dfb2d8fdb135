"""Temporary uploads left behind by a gateway that was killed mid-request.

Uploads are written to ``$GATEWAY_VAR_DIR/uploads`` as ``upload-<random>.video`` (what
:func:`tempfile.mkstemp` makes of the prefix and suffix :mod:`gateway.api.upload` uses) and
removed by the request that wrote them; a process killed outright cannot, so start-up
sweeps what a previous process left.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

#: ``tempfile.mkstemp(prefix="upload-", suffix=".video")``: 8 characters of its alphabet.
UPLOAD_NAME = re.compile(r"upload-[a-z0-9_]{8}\.video")


def sweep_stale_uploads(directory: Path, older_than: float) -> int:
    """Remove the gateway's own temporary uploads in ``directory`` last written before
    ``older_than`` (a ``time.time()``); other files are never touched. Returns how many."""
    removed = 0
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        if not UPLOAD_NAME.fullmatch(path.name):
            continue
        try:
            stat = path.lstat()
            if not path.is_file() or path.is_symlink() or stat.st_mtime >= older_than:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    if removed:
        log.info("removed stale uploads", extra={"count": removed, "directory": str(directory)})
    return removed
