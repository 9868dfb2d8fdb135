"""The PNGs of an evaluation report beside its figures: ROC curves and the confusion matrix
(the reliability diagram is :mod:`model_export.reliability`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model_export import roc


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str = "") -> None:
    """ROC curves of ``curves`` (a name -> labels and scores each) with their AUCs, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc.roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc.roc_auc(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake caught)")
    ax.set_title(f"ROC {title}".strip())
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(video: dict[str, Any], path: Path, title: str = "") -> None:
    """The video confusion matrix of :class:`model_export.roc.BinaryMetrics` ``video``, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array([[video["tn"], video["fp"]], [video["fn"], video["tp"]]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=14)
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["REAL", "FAKE"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_title(f"videos at threshold {video['threshold']:.3f} {title}".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
