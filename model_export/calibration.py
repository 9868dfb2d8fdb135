"""Platt scaling of fake probabilities: ``q = sigmoid(a * logit(p) + b)``.

A version's scores are calibrated inside its exported graph (every per-frame and per-face
probability goes through the same map), so TF Serving serves calibrated probabilities and
the gateway aggregates calibrated scores. The parameters are fitted on validation videos,
on the video score the gateway computes from those calibrated scores
(:mod:`contract.aggregation`): the fit minimises the log-loss of that video score.

``a`` is kept positive, so the map is strictly increasing: a frame scores above a threshold
``t`` before calibration exactly when it scores above ``apply_threshold(t)`` after, and
verdicts on per-frame scores do not change.

Small validation sets are often perfectly separated, where maximum likelihood sends ``a`` to
infinity (a version that is certain of everything, and pays ``-log(1e-7)`` for every error
on new data). The fit therefore maximises the likelihood under a standard normal prior on
``log(a)`` and ``b`` (centred on the identity, :data:`PRIOR_SD`), starting from Platt's own
recipe (smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)``, :func:`fit_platt`).
The identity is always a candidate and the prior costs it nothing, so the fitted map never
has a higher (weighted) log-loss than the identity on its fit set.

**Class weights.** A fit set's share of fakes is an accident of how it was collected (a
validation split, the sources a fold did not hold out), and an unweighted fit learns it into
``b``: a set rich in fakes lifts every score. Every fit therefore weighs the classes to a
stated deployment prior, :data:`DEPLOYMENT_FAKE_PRIOR`: the fakes together carry that share of
the total weight and the reals the rest (:func:`class_weights`), so the calibrated score is the
probability of a fake among videos met at that prior, whatever the fit set's mix.
``fake_prior=None`` weighs every video the same (the fit set's own share).

**Shrinkage.** The normal prior on ``log(a)`` and ``b`` counts for ``1 / n_eff`` of the mean
log-loss, where ``n_eff = 1 / (pi^2 / N+ + (1 - pi)^2 / N-)`` (``pi`` the fake prior) is the
effective size of the weighted sample (Kish): ``N+ + N-`` for a set already at the prior, about
``4 * min(N+, N-)`` at ``pi = 0.5`` for a lopsided one, so a fit on one or two videos of a class
stays near the identity. A fit set with one class only says nothing about
where the classes separate: its effective size is 0 and the fit returns the identity.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.aggregation import DEFAULT_AGGREGATION, Aggregation, aggregate_scores

log = logging.getLogger(__name__)

#: Probabilities are clipped to ``[EPS, 1 - EPS]`` before the logit (in the graph as well).
EPS = 1e-7
#: Bounds of ``log(a)`` in the fit: ``a`` in about [0.001, 150].
LOG_A_BOUNDS = (-7.0, 5.0)
#: Bounds of ``b``.
B_BOUNDS = (-20.0, 20.0)
METHOD = "platt"
#: Standard deviation of the normal prior on ``log(a)`` and ``b`` in :func:`fit_calibration`.
PRIOR_SD = 1.0
#: Share of fakes among the videos the service is assumed to meet. Every calibration and every
#: decision threshold is fitted with the classes weighted to it, not to the fit set's share of
#: fakes. 0.5 states no preference between the classes (the threshold then maximises balanced
#: accuracy); change it only with a measured share of fakes in real traffic.
DEPLOYMENT_FAKE_PRIOR = 0.5


def logit(p: np.ndarray | float, eps: float = EPS) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to ``[eps, 1 - eps]``."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(q) - np.log1p(-q)


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic function, without overflow for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


#: Floors the out-of-fold search picks from (:func:`model_export.protocol.fitting.floor_grid`):
#: a shipped probability stays in ``[floor, 1 - floor]``, so one wrong answer costs at most
#: ``-log(floor)`` of log-loss.
FLOOR_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2)


@dataclass(frozen=True)
class Calibration:
    """Platt parameters of a version, and the floor and ceiling of what it ships.

    ``a=1, b=0, floor=0`` is the identity. The calibrated probability is clipped to
    ``[floor, 1 - floor]`` after the Platt map.
    """

    a: float = 1.0
    b: float = 0.0
    #: Videos the parameters were fitted on (0: not fitted).
    videos: int = 0
    #: Log-loss of the fit set's video scores before and after, when fitted.
    log_loss_before: float | None = None
    log_loss_after: float | None = None
    #: Lowest probability shipped (and ``1 - floor`` the highest); 0 clips nothing.
    floor: float = 0.0

    def __post_init__(self) -> None:
        if not (self.a > 0 and math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"calibration needs a finite a > 0 and a finite b, got {self}")
        if not 0.0 <= self.floor < 0.5:
            raise ValueError(f"the floor must lie in [0, 0.5), got {self.floor}")

    @property
    def is_identity(self) -> bool:
        """Whether the map leaves every probability unchanged."""
        return self.a == 1.0 and self.b == 0.0 and self.floor == 0.0

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities of ``p`` (the identity returns ``p`` as float64)."""
        if self.is_identity:
            return np.asarray(p, dtype=np.float64)
        q = sigmoid(self.a * logit(p) + self.b)
        return np.clip(q, self.floor, 1.0 - self.floor) if self.floor > 0 else q

    def apply_threshold(self, threshold: float) -> float:
        """``threshold`` on the calibrated scale: the same decisions on per-frame scores."""
        return float(self.apply(threshold))

    def unapply_threshold(self, threshold: float) -> float:
        """The uncalibrated threshold that :meth:`apply_threshold` maps to ``threshold`` (one
        strictly inside ``(floor, 1 - floor)``, where the map is invertible)."""
        if not self.floor < threshold < 1.0 - self.floor:
            raise ValueError(f"threshold {threshold} is outside ({self.floor}, {1 - self.floor})")
        return float(sigmoid((logit(threshold) - self.b) / self.a))

    def as_dict(self) -> dict[str, Any]:
        """What a version's export info records about its calibration."""
        return {
            "method": METHOD,
            "formula": "clip(sigmoid(a * logit(p) + b), floor, 1 - floor)",
            "a": self.a,
            "b": self.b,
            "floor": self.floor,
            "identity": self.is_identity,
            "fitted_on_videos": self.videos,
            "log_loss_before": self.log_loss_before,
            "log_loss_after": self.log_loss_after,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration:
        """The calibration recorded by :meth:`as_dict`; identity for ``None``."""
        if not data:
            return IDENTITY
        return cls(
            a=float(data["a"]),
            b=float(data["b"]),
            videos=int(data.get("fitted_on_videos", 0)),
            log_loss_before=data.get("log_loss_before"),
            log_loss_after=data.get("log_loss_after"),
            floor=float(data.get("floor", 0.0)),
        )


IDENTITY = Calibration()


def class_weights(
    labels: np.ndarray, fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR
) -> np.ndarray:
    """Per-video weights of mean 1: fakes carry ``fake_prior`` of the total, reals the rest.

    ``fake_prior=None`` gives every video weight 1. A class absent from ``labels`` gets no weight
    (its share cannot be put anywhere); :func:`effective_size` is then 0.
    """
    y = np.asarray(labels).astype(bool)
    if fake_prior is None or len(y) == 0:
        return np.ones(len(y))
    if not 0.0 < fake_prior < 1.0:
        raise ValueError(f"the fake prior must lie in (0, 1), got {fake_prior}")
    positives, negatives = int(y.sum()), int((~y).sum())
    fake = fake_prior * len(y) / positives if positives else 0.0
    real = (1 - fake_prior) * len(y) / negatives if negatives else 0.0
    return np.where(y, fake, real)


def effective_size(labels: np.ndarray, fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR) -> float:
    """Kish's effective sample size of ``labels`` weighted to ``fake_prior`` (0 with one class)."""
    y = np.asarray(labels).astype(bool)
    if fake_prior is None:
        return float(len(y))
    positives, negatives = int(y.sum()), int((~y).sum())
    if not (positives and negatives):
        return 0.0
    return 1.0 / (fake_prior**2 / positives + (1 - fake_prior) ** 2 / negatives)


def platt_targets(labels: np.ndarray) -> np.ndarray:
    """Platt's smoothed targets of 0/1 labels."""
    y = np.asarray(labels).astype(bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    return np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def _cross_entropy(targets: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    q = np.clip(p, EPS, 1 - EPS)
    losses = -(targets * np.log(q) + (1 - targets) * np.log1p(-q))
    return float(np.mean(losses if weights is None else weights * losses))


def fit_platt(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    smooth: bool = True,
    fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR,
) -> Calibration:
    """Platt parameters mapping ``scores`` to calibrated probabilities of ``labels``.

    Logistic regression of the labels on ``logit(scores)``, the classes weighted to
    ``fake_prior`` (:func:`class_weights`), by Newton's method with a backtracking line
    search; ``a`` is clamped to its lower bound (refitting ``b``) when the scores rank the
    labels the wrong way round. With a prior and one class only, the identity (nothing to
    fit).
    """
    y = np.asarray(labels).astype(bool)
    if len(y) == 0 or (fake_prior is not None and effective_size(y, fake_prior) == 0):
        return IDENTITY
    t = platt_targets(y) if smooth else y.astype(np.float64)
    v = class_weights(y, fake_prior)
    x = logit(scores)
    a_min = math.exp(LOG_A_BOUNDS[0])

    def loss(a: float, b: float) -> float:
        return _cross_entropy(t, sigmoid(a * x + b), v)

    def newton(a: float, b: float, fix_a: bool) -> tuple[float, float]:
        for _ in range(100):
            p = sigmoid(a * x + b)
            r, w = v * (p - t), np.maximum(v * p * (1 - p), 1e-12)
            if fix_a:
                step = np.array([0.0, r.sum() / w.sum()])
            else:
                grad = np.array([np.dot(r, x), r.sum()])
                hess = np.array([[np.dot(w, x * x), np.dot(w, x)], [np.dot(w, x), w.sum()]])
                step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
            current, scale = loss(a, b), 1.0
            while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current:
                scale /= 2
            a, b = a - scale * step[0], b - scale * step[1]
            if np.max(np.abs(scale * step)) < 1e-10:
                break
        return a, b

    a, b = newton(1.0, 0.0, fix_a=False)
    if not a > a_min:
        a, b = newton(a_min, 0.0, fix_a=True)
    return Calibration(a=float(a), b=float(np.clip(b, *B_BOUNDS)), videos=len(y))


def nelder_mead(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    step: float = 0.3,
    iterations: int = 200,
    tolerance: float = 1e-7,
) -> np.ndarray:
    """Minimise ``f`` from ``x0`` with the Nelder-Mead simplex (standard coefficients)."""
    n = len(x0)
    simplex = [np.asarray(x0, dtype=np.float64)]
    simplex += [simplex[0] + step * np.eye(n)[i] for i in range(n)]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] < tolerance:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0]:
            expanded = centroid + 2 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                simplex = [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex]
                values = [f(x) for x in simplex]
    return simplex[int(np.argmin(values))]


def fit_calibration(
    labels: np.ndarray,
    video_scores: Callable[[Calibration], np.ndarray],
    *,
    fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR,
    floor: float = 0.0,
) -> Calibration:
    """Platt parameters that minimise the log-loss of the videos' aggregated scores.

    ``video_scores(calibration)`` returns the video scores the gateway would compute had
    every frame and face score gone through ``calibration`` (aggregation is not linear,
    so this differs from calibrating the aggregated score). The objective is the mean
    log-loss with the classes weighted to ``fake_prior`` plus the prior's penalty over the
    effective size (see the module docstring); the simplex search starts from Platt scaling
    of the uncalibrated video scores and from the identity, and the best of those starts and
    their results is kept. The recorded log-losses are weighted the same way. This is the one
    fitting routine of every publishing command and of the evaluation protocol.

    ``floor`` is not fitted here (it is chosen out of fold, :data:`FLOOR_GRID`): ``a`` and ``b``
    are fitted with the scores clipped to ``[floor, 1 - floor]``, as the graph will clip them.
    """
    y = np.asarray(labels).astype(bool)
    n_eff = effective_size(y, fake_prior)
    if len(y) == 0 or n_eff == 0:
        if len(y):
            log.info("one class only in the fit set: identity", extra={"videos": len(y)})
        return Calibration(floor=floor) if floor else IDENTITY
    hard = y.astype(np.float64)
    weights = class_weights(y, fake_prior)
    raw = np.asarray(video_scores(IDENTITY), dtype=np.float64)
    start = fit_platt(y, raw, fake_prior=fake_prior)

    def make(x: np.ndarray) -> Calibration:
        log_a = float(np.clip(x[0], *LOG_A_BOUNDS))
        return Calibration(a=math.exp(log_a), b=float(np.clip(x[1], *B_BOUNDS)), floor=floor)

    def objective(x: np.ndarray) -> float:
        c = make(x)
        penalty = (math.log(c.a) ** 2 + c.b**2) / (2 * PRIOR_SD**2 * n_eff)
        scores = np.asarray(video_scores(c), dtype=np.float64)
        return _cross_entropy(hard, scores, weights) + penalty

    starts = [np.array([0.0, 0.0]), np.array([math.log(start.a), start.b])]
    candidates = starts + [nelder_mead(objective, x) for x in starts]
    best = make(min(candidates, key=objective))
    after = np.asarray(video_scores(best), dtype=np.float64)
    fitted = Calibration(
        a=best.a,
        b=best.b,
        videos=len(y),
        log_loss_before=_cross_entropy(hard, raw, weights),
        log_loss_after=_cross_entropy(hard, after, weights),
        floor=floor,
    )
    log.info(
        "fitted calibration",
        extra={"a": fitted.a, "b": fitted.b, "floor": floor, "videos": fitted.videos,
               "fake_prior": fake_prior,
               "log_loss_before": fitted.log_loss_before, "log_loss_after": fitted.log_loss_after},
    )  # fmt: skip
    return fitted


def fit_clip_calibration(
    labels: np.ndarray,
    clip_scores: Sequence[np.ndarray],
    aggregation: Aggregation = DEFAULT_AGGREGATION,
    *,
    fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR,
) -> Calibration:
    """Calibration fitted on clips of frame scores, each aggregated as one track.

    This is the gateway's video score of a whole-frame version; training uses it on its
    validation clips (face crops or whole frames).
    """
    clips = [np.asarray(c, dtype=np.float64) for c in clip_scores]

    def scores(calibration: Calibration) -> np.ndarray:
        return np.array([aggregate_scores(calibration.apply(c), aggregation) for c in clips])

    return fit_calibration(labels, scores, fake_prior=fake_prior)
