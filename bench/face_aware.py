"""The service with a face-aware version: MesoInception-4 imported from the shared weights.

The headline figures use the demo model (a whole-frame CNN), which the naive pipeline can
run on every frame. What users deploy is face-aware: the in-graph face detector runs on
every frame Serving receives, so inference weighs far more. This part measures that
version the same way (sequential reference against the service, in interleaved pairs), but
without the naive pipeline, which would run the face detector on all 300 full-size frames
of every clip (minutes per run). It runs only when ``../shared/data`` holds the weights.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import contract

from .clips import BenchClip
from .naive import InProcessModel, latest_version, run_reference
from .report import ClipResult
from .service import detect, measured_detect, running_service
from .settings import GatewayDefaults

log = logging.getLogger("bench")

#: Published MesoInception-4 weights under the shared data folder.
WEIGHTS = Path("weights_mesonet_dariusaf") / "MesoInception_DF.h5"
#: Model name of the imported version under the bench's cache.
MODEL_NAME = "face"
#: What the report calls this version.
DESCRIPTION = "MesoInception-4 (`import-mesonet`, face-aware: in-graph MTCNN, 256x256 crops)"


def face_aware_base(data_dir: Path | None, cache_dir: Path) -> Path | None:
    """A model base path holding the imported face-aware version (imported once, then cached).

    None when the shared weights are not there.
    """
    if data_dir is None or not (data_dir / WEIGHTS).is_file():
        return None
    base = cache_dir / "models"
    model_dir = base / MODEL_NAME
    versions = [p for p in model_dir.glob("*") if contract.is_version_dir_name(p.name)]
    if not versions:
        log.info("importing %s as a face-aware version (once)", WEIGHTS)
        subprocess.run(
            [
                sys.executable, "-m", "model_export", "import-mesonet",
                "--weights", str(data_dir / WEIGHTS), "--arch", "mesoinception4",
                "--output", str(model_dir),
            ],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return base


def measure_face_aware(
    clips: list[BenchClip],
    base: Path,
    defaults: GatewayDefaults,
    var_dir: Path,
    gateway_env: dict[str, str],
    pairs: int,
) -> list[ClipResult]:
    """Reference and service latency, in ``pairs`` interleaved pairs per clip."""
    version_dir, _ = latest_version(base / MODEL_NAME)
    model = InProcessModel(version_dir)
    # Sized as the gateway sizes frames for this version (it states no side: the cap).
    sized = replace(defaults, min_side=model.frame_min_side)
    results = []
    with running_service(base / MODEL_NAME, MODEL_NAME, var_dir, gateway_env) as service:
        for clip in clips:
            result = ClipResult(clip)
            data = clip.path.read_bytes()
            with service.client() as client:
                # One unmeasured pass: the first use of a frame size costs extra everywhere.
                run_reference(clip.path, model, sized)
                detect(client, data, clip.path.name)
                for i in range(pairs):
                    log.info("face-aware %s: pair %d of %d", clip.name, i + 1, pairs)
                    result.reference.append(run_reference(clip.path, model, sized))
                    result.service.append(measured_detect(service, client, data, clip.path.name))
            results.append(result)
    return results
