"""One version evaluated on labelled videos into its report directory (``evaluate``).

The command's whole run: :func:`model_export.evaluate.evaluate_version` and its report, and
with ``--robustness`` the probe of :mod:`model_export.robustness` over the same videos.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from model_export import robustness as stability
from model_export.datasets import discover
from model_export.evaluate import evaluate_version, write_report
from model_export.publish import resolve_version


def evaluate_to_report(
    model: Path,
    data: Sequence[Path],
    frames_per_video: int,
    output: Path | None = None,
    *,
    robustness: bool = False,
    robustness_per_group: int | None = None,
) -> tuple[dict[str, object], Path]:
    """Evaluate a version (or a model's highest version) on ``data`` and write the report.

    The report goes to ``output``, by default ``var/eval/<model>-<version>``; returns the
    summary and the report directory. With ``robustness`` every video (at most
    ``robustness_per_group`` per source and label) is also scored re-encoded and transformed
    (:mod:`model_export.robustness`): ``robustness`` in ``metrics.json``, ``robustness.md``.
    """
    version = resolve_version(model)
    videos = discover(data)
    if not videos:
        raise FileNotFoundError("no labelled videos found")
    output = output or Path("var/eval") / f"{version.parent.name}-{version.name}"
    evaluation = evaluate_version(version, videos, frames_per_video)
    summary = write_report(evaluation, output, title=f"{version.parent.name} v{version.name}")
    if robustness:
        summary["robustness"] = stability.probe(
            version, videos, evaluation.videos, frames_per_video, evaluation.threshold,
            per_group=robustness_per_group,
        )  # fmt: skip
        (output / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        (output / "robustness.md").write_text(stability.markdown(summary["robustness"]))
    return summary, output
