"""Reliability of shipped probabilities: binned predicted probability against the observed
share of fakes, ECE, Brier score and log-loss with bootstrap intervals, and the diagram.

The figures are computed on whatever probabilities the caller passes; the protocol passes the
out-of-fold probabilities a version would ship (fold calibration and floor applied, the
gateway's video rule), the plain evaluation a version's own scores. Videos are weighted to
the deployment prior (:func:`model_export.roc.prior_weights`, the weights of every fit), so the
diagram describes videos met at that prior and not the evaluated set's share of fakes. The
rules themselves (bins, ECE, Brier, log-loss, the bootstrap) are those of
:mod:`model_export.roc`; this module only gathers them and draws them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR

log = logging.getLogger(__name__)

#: File name of the diagram in a report directory (beside ``roc.png``).
DIAGRAM_FILE = "reliability.png"
#: Figures of :func:`reliability_figures`, in the order they are reported.
FIGURES = ("ece", "brier", "log_loss")
#: Their names in text.
NAMES = {"ece": "ECE", "brier": "Brier", "log_loss": "log-loss"}


def reliability_figures(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    clusters: Sequence[str] | None = None,
    fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR,
    bins: int = roc.ECE_BINS,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Bins, ECE, Brier score and log-loss of ``scores`` (probabilities) against ``labels``.

    Every figure is weighted to ``fake_prior`` (None: every video the same) and has a 95%
    percentile bootstrap interval (:func:`model_export.roc.bootstrap_ci`); with ``clusters``
    (each video's source) the headline intervals resample clusters and ``by_video`` holds
    those that resample videos, as in :func:`model_export.protocol.metrics_with_ci`.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    metrics = {
        "ece": partial(roc.expected_calibration_error, bins=bins, fake_prior=fake_prior),
        "brier": partial(roc.brier, fake_prior=fake_prior),
        "log_loss": partial(roc.log_loss, fake_prior=fake_prior),
    }

    def intervals(groups: np.ndarray | None) -> dict[str, Any]:
        kwargs = {"resamples": resamples, "seed": seed, "clusters": groups}
        return {k: roc.bootstrap_ci(y, s, f, **kwargs).as_dict() for k, f in metrics.items()}

    by_video = intervals(None)
    report: dict[str, Any] = {
        "videos": len(y),
        "fake": int(y.sum()),
        "real": int(len(y) - y.sum()),
        "fake_prior": fake_prior,
        "bin_count": bins,
        "bins": [b.as_dict() for b in roc.calibration_bins(y, s, bins, fake_prior=fake_prior)],
        "interval_unit": "video" if clusters is None else "source",
        **(by_video if clusters is None else intervals(np.asarray(clusters))),
    }
    if clusters is not None:
        report["clusters"] = len(set(clusters))
        report["by_video"] = by_video
    return report


def figures_of_sources(
    labels: np.ndarray, scores: np.ndarray, sources: Sequence[str], what: str
) -> dict[str, Any]:
    """:func:`reliability_figures` of ``scores`` (described by ``what``), intervals over
    ``sources`` where the videos name more than one (as the protocol's), else over videos."""
    clusters = sources if all(sources) and len(set(sources)) > 1 else None
    return {"scores": what, **reliability_figures(labels, scores, clusters=clusters)}


def summary_text(figures: dict[str, Any], what: str) -> str:
    """One line of the figures with their intervals, for a command's printed summary."""
    prior = figures["fake_prior"]
    weighting = "unweighted" if prior is None else f"fake prior {prior:g}"
    values = "  ".join(f"{NAMES[k]} {_interval_text(figures[k])}" for k in FIGURES)
    return f"reliability ({what}, {weighting}): {values}  (95% CI over {figures['interval_unit']}s)"


def write_files(figures: dict[str, Any], out_dir: Path, title: str) -> None:
    """The diagram (:data:`DIAGRAM_FILE`) and ``reliability.md`` of ``figures`` in ``out_dir``."""
    plot_reliability(figures, Path(out_dir) / DIAGRAM_FILE, title)
    (Path(out_dir) / "reliability.md").write_text(markdown(figures, f"Reliability {title}"))


def _interval_text(interval: dict[str, Any]) -> str:
    return f"{interval['point']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def plot_reliability(figures: dict[str, Any], path: Path, title: str = "") -> Path:
    """Draw the reliability diagram of :func:`reliability_figures` to a PNG at ``path``.

    Top: each non-empty bin's weighted mean probability against its weighted share of fakes,
    the bin's interval as a horizontal bar, its video count (FAKE/REAL) beside it, and the
    diagonal of perfect calibration. Bottom: videos per bin. The figures and their intervals
    are in the legend. Written without a timestamp, so the same figures give the same bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [b for b in figures["bins"] if b["videos"]]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    x = [b["mean_probability"] for b in bins]
    rate = [b["fake_rate"] for b in bins]
    top.hlines(rate, [b["low"] for b in bins], [b["high"] for b in bins], color="tab:blue",
               alpha=0.35, linewidth=6)  # fmt: skip
    unit = "sources" if figures["interval_unit"] == "source" else "videos"
    legend = (
        f"ECE {_interval_text(figures['ece'])}\nBrier {_interval_text(figures['brier'])}\n"
        f"log-loss {_interval_text(figures['log_loss'])}\n(95% CI over {unit})"
    )
    top.plot(x, rate, marker="o", color="tab:blue", label=legend)
    for b, xi, yi in zip(bins, x, rate, strict=True):
        # Labels go to the side of the point away from the diagonal, where the curve is not,
        # and inwards near the edges so that they stay inside the axes.
        above = yi >= xi
        left = xi > 0.8 or (above and xi >= 0.2)
        top.annotate(
            f"{b['videos']} ({b['fake']}/{b['videos'] - b['fake']})",
            (xi, yi),
            textcoords="offset points",
            xytext=(-4 if left else 4, 6 if above else -12),
            ha="right" if left else "left",
            fontsize=7,
        )
    prior = figures["fake_prior"]
    weighting = f"weighted to fake prior {prior:g}" if prior is not None else "unweighted"
    top.set_ylabel(f"observed share of fakes ({weighting})")
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
    top.set_title(f"Reliability {title}".strip() + "\nnext to each bin: videos (FAKE/REAL)",
                  fontsize=9)  # fmt: skip
    top.legend(loc="lower right", fontsize=7)
    edges = np.linspace(0, 1, figures["bin_count"] + 1)
    # No bins when the prior cannot be met (one class only): an empty panel, not an error.
    counts = [b["videos"] for b in figures["bins"]] or [0] * figures["bin_count"]
    bottom.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:grey",
               edgecolor="white")  # fmt: skip
    bottom.set_xticks(edges)
    bottom.tick_params(axis="x", labelsize=7)
    bottom.set_xlabel("predicted fake probability (bin mean; bars: bin intervals)")
    bottom.set_ylabel("videos")
    fig.tight_layout()
    path = Path(path)
    # No Software/date metadata: a re-run with the same figures writes the same file.
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    log.info("reliability diagram written", extra={"path": str(path), "bins": len(bins)})
    return path


def markdown(figures: dict[str, Any], heading: str) -> str:
    """The figures and the bins as markdown: a line with the intervals and a bin table."""
    unit = "sources" if figures["interval_unit"] == "source" else "videos"
    prior = figures["fake_prior"]
    weighting = "unweighted" if prior is None else f"weighted to a fake prior of {prior:g}"
    lines = [
        f"{heading}: {figures['videos']} videos ({figures['fake']} FAKE, {figures['real']} "
        f"REAL), {weighting}; 95% intervals over {unit}"
        + (" (over videos in brackets after)" if "by_video" in figures else "")
        + ".",
        "",
        "| figure | value [95% CI] |" + (" over videos |" if "by_video" in figures else ""),
        "| --- | --- |" + (" --- |" if "by_video" in figures else ""),
    ]
    names = {"ece": f"ECE ({figures['bin_count']} bins)", "brier": "Brier", "log_loss": "log-loss"}
    for key in FIGURES:
        row = f"| {names[key]} | {_interval_text(figures[key])} |"
        if "by_video" in figures:
            row += f" {_interval_text(figures['by_video'][key])} |"
        lines.append(row)
    lines += [
        "",
        "| bin | videos (FAKE/REAL) | weight | mean probability | observed share of fakes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for b in figures["bins"]:
        close = "]" if b["high"] >= 1.0 else ")"
        if not b["videos"]:
            lines.append(f"| [{b['low']:.1f}, {b['high']:.1f}{close} | 0 | 0 | – | – |")
            continue
        lines.append(
            f"| [{b['low']:.1f}, {b['high']:.1f}{close} | {b['videos']} ({b['fake']}/"
            f"{b['videos'] - b['fake']}) | {b['weight']:.3f} | {b['mean_probability']:.3f} | "
            f"{b['fake_rate']:.3f} |"
        )
    return "\n".join(lines) + "\n"
