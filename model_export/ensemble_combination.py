"""How an ensemble combines its members' logits, and the numpy mirror of that rule.

``logit = bias + sum_m weight_m * logit(p_m)``; the graph (:mod:`model_export.ensemble_graph`)
and the fit (:mod:`model_export.ensemble_fit`) both follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model_export.calibration import logit

#: Probabilities are clipped this far from 0 and 1 before taking logits (float32 sigmoid
#: outputs saturate to exactly 1).
EPSILON = 1e-6


@dataclass(frozen=True)
class Combination:
    """Weights of the members' logits and a bias: ``logit = bias + weights . logits``."""

    weights: tuple[float, ...]
    bias: float = 0.0
    fitted_on: int = 0

    @staticmethod
    def equal(members: int) -> Combination:
        """Equal weights ``1 / members`` (the mean logit), bias 0."""
        return Combination(tuple([1.0 / members] * members), 0.0)

    def as_dict(self) -> dict[str, Any]:
        """What the export info records."""
        return {
            "weights": list(self.weights),
            "bias": self.bias,
            "fitted_on_videos": self.fitted_on,
        }


def combine_numpy(
    member_face: np.ndarray,
    face_count: np.ndarray,
    member_whole: np.ndarray,
    combination: Combination,
) -> np.ndarray:
    """Frame scores ``[N]`` of the graph's combination, from its member outputs (numpy)."""
    weights = np.asarray(combination.weights, np.float64)

    def combine(p: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(combination.bias + logit(p, EPSILON) @ weights)))

    slots = member_face.shape[1]
    valid = np.arange(slots)[None, :] < np.asarray(face_count)[:, None]
    faces = np.where(valid, combine(member_face), -1.0).max(axis=1)
    return np.where(np.asarray(face_count) > 0, faces, combine(member_whole))
