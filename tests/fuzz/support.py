"""What the fuzz targets share: the gateway's default limits and a scratch file for the bytes."""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import Any

from gateway.pipeline.probe import VideoLimits
from gateway.settings import Settings

_scratch: Path | None = None


def gateway_default(name: str) -> Any:
    """The default of the gateway setting ``name`` (the environment is not read: a run
    fuzzes the limits the gateway ships with, whatever the machine sets)."""
    return Settings.model_fields[name].default


def default_video_limits() -> VideoLimits:
    """The limits :func:`gateway.api.app.create_app` gives the probe, at their defaults."""
    return VideoLimits(
        max_duration_s=gateway_default("max_duration_s"),
        max_frames=gateway_default("max_frames"),
        max_pixels=gateway_default("max_pixels"),
        max_image_pixels=gateway_default("max_image_pixels"),
    )


def scratch_file(data: bytes) -> Path:
    """A file holding ``data``: one per process, rewritten for each input (an input is a
    file on disk, as an upload is, without a new file per execution)."""
    global _scratch
    if _scratch is None:
        fd, name = tempfile.mkstemp(prefix="fuzz-", suffix=".video")
        os.close(fd)
        _scratch = Path(name)
        atexit.register(_scratch.unlink, missing_ok=True)
    _scratch.write_bytes(data)
    return _scratch
