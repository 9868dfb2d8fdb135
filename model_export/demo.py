"""The demo model (``python -m model_export demo``): synthetic clips through the training run.

The clips come from :mod:`model_export.demo_data` (two bundled photographs, one
manipulation); they are trained, calibrated and published by
:func:`model_export.training_run.run`, the path ``train`` takes, with settings small enough
for two CPU cores in about a minute: whole frames, a small CNN at 96x96, no test split.
It is a plumbing demo, not a real detector, and says so: its export info records
``kind: "demo"``, which its ``model_info`` announces as ``model_kind`` "demo", and the
gateway then warns with every answer. ``make serve`` builds it only when no real detector
can be downloaded (:mod:`model_export.default_model`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.demo_data import DemoConfig, build_demo_dataset, demo_dataset_dir
from model_export.publish import existing_versions
from model_export.train import TrainConfig
from model_export.training_run import PipelineConfig, run

log = logging.getLogger(__name__)

#: Share of the demo's groups held out to calibrate and validate; there is no test split.
DEMO_VAL_FRACTION = 0.25


@dataclass(frozen=True)
class DemoResult:
    """What a demo build did: the version published (None when skipped) and the run's report."""

    model_dir: Path
    path: Path | None
    report: dict
    seconds: float
    #: Versions already present when the build was skipped.
    existing: tuple[int, ...] = ()


def demo_run_config(data: Path, output: Path, *, epochs: int = 15, seed: int = 0) -> PipelineConfig:
    """The training run of the demo on the clips under ``data``, published under ``output``."""
    return PipelineConfig(
        data=(data,),
        output=output,
        # No early stopping: on this small set validation loss is noisy in the first epochs
        # and restoring the best early epoch gave worse models than training to the end.
        train=TrainConfig(epochs=epochs, seed=seed, patience=0),
        faces=None,
        # The gateway's count: the threshold is calibrated on the video score it computes.
        frames_per_video=DEFAULT_FRAMES_PER_VIDEO,
        val_fraction=DEMO_VAL_FRACTION,
        test_fraction=0.0,
        kind="demo",
    )


def build_demo(
    model_dir: Path,
    *,
    data_dir: Path,
    clips_per_source: int = 32,
    epochs: int = 15,
    seed: int = 0,
    if_missing: bool = False,
) -> DemoResult:
    """Synthesise the demo clips, train, calibrate and publish the next version of ``model_dir``.

    With ``if_missing`` nothing happens when ``model_dir`` already holds a version.
    """
    started = time.monotonic()
    existing = tuple(existing_versions(model_dir))
    if if_missing and existing:
        log.info("model already has a version; nothing to do", extra={"path": str(model_dir)})
        return DemoResult(model_dir, None, {}, 0.0, existing)
    demo = DemoConfig(clips_per_source=clips_per_source, seed=seed)
    build_demo_dataset(data_dir, demo)
    path, report = run(
        demo_run_config(demo_dataset_dir(data_dir, demo), model_dir, epochs=epochs, seed=seed)
    )
    return DemoResult(model_dir, path, report, time.monotonic() - started)


def demo_lines(result: DemoResult) -> list[str]:
    """What ``demo`` prints about the build."""
    if result.path is None:
        return [f"{result.model_dir} already holds version(s) {list(result.existing)}; skipped"]
    frame, video = result.report["validation"]["frame"], result.report["validation"]["video"]
    return [
        f"DEMO model (synthetic data, not a real detector) published at {result.path}",
        f"threshold {result.report['threshold']:.4f} "
        f"(calibrated on {video['count']} validation clips)",
        f"validation frames: accuracy {frame['accuracy']:.3f} AUC {frame['roc_auc']:.3f} "
        f"log-loss {frame['log_loss']:.3f} (n={frame['count']})",
        f"validation videos: accuracy {video['accuracy']:.3f} AUC {video['roc_auc']:.3f} "
        f"log-loss {video['log_loss']:.3f} (n={video['count']})",
        f"took {result.seconds:.0f} s",
    ]
