"""Several face classifiers as one face-aware version: one detector, one score, one threshold.

The ensemble's ``serving_default`` detects faces once (the in-graph MTCNN), cuts each
member's crops from the same boxes with that member's own size and margin, runs every
member, and combines their logits per face::

    logit = bias + sum_m weight_m * logit(p_m)        fake_probability = sigmoid(logit)

A frame's score is its most suspicious face, or the whole frame's when no face was found,
as in :mod:`model_export.face_export`. Besides the contract's outputs it returns each
member's scores, ``member_fake_probability`` [N, F, M] per face and
``member_frame_fake_probability`` [N, M] per frame, in the order of ``member_names``
(``model_info``) and of ``members`` in the export info.

Members are published face-aware versions (their ``classify_faces`` signature is embedded,
so scores are the version's own) or ``arch:weights`` specs built here (published MesoNet
``.h5`` weights, or a saved ``.keras`` model). The weights are fitted on labelled validation
videos by logistic regression on the members' logits (numpy), and the threshold is then
calibrated on the same videos' scores; without such videos the weights are equal
(``1 / M``) and the threshold is the members' thresholds averaged in logit space. The
validation videos must come from sources no member trained on.

One module because the members, the weight fit and the graph that runs them must agree on
the member order and on how each member's faces are cut.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import contract
from contract.sampling import DEFAULT_FRAME_COUNT
from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR
from model_export.datasets import LabelledVideo, discover
from model_export.export import add_model_info, classify_images, frames_spec
from model_export.face_export import FaceConfig, boxes_specs, face_warmup_requests
from model_export.faces import crop_faces, detect_faces, load_nets
from model_export.publish import (
    INFO_RELATIVE_PATH,
    existing_versions,
    publish_archive,
    version_info,
)
from model_export.train import video_scores
from model_export.video_io import sample_frames

log = logging.getLogger(__name__)

#: Probabilities are clipped this far from 0 and 1 before taking logits (float32 sigmoid
#: outputs saturate to exactly 1).
EPSILON = 1e-6
#: Not served: the members' scores of whole frames, which fitting needs for faceless frames.
_WHOLE_FRAME = "member_whole_frame_probability"


@dataclass
class Member:
    """One classifier of an ensemble and how its faces are cut."""

    name: str
    input_size: tuple[int, int]
    margin: float
    threshold: float
    #: uint8 images ``[K, H, W, 3]`` (any size; resized to ``input_size``) to P(fake) ``[K]``.
    classify: Callable[[tf.Tensor], tf.Tensor]
    #: What the archive must track to save the member's variables.
    resource: Any
    source: dict[str, Any] = field(default_factory=dict)
    #: Face detection settings of a member version (the ensemble detects once for all).
    detection: dict[str, Any] | None = None


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


def resolve_version(path: Path) -> Path:
    """A version directory itself, or a model directory's highest version."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = existing_versions(path)
    if not versions:
        raise FileNotFoundError(f"no version under {path}")
    return path / str(versions[-1])


def _version_member(path: Path) -> Member:
    version = resolve_version(path)
    info = json.loads((version / INFO_RELATIVE_PATH).read_text())
    if not info.get("face_aware"):
        raise ValueError(f"{version} is not a face-aware version")
    restored = tf.saved_model.load(str(version))
    endpoint = getattr(restored, contract.FACES_SIGNATURE)

    def classify(images: tf.Tensor) -> tf.Tensor:
        return tf.reshape(endpoint(images)[contract.FAKE_PROBABILITY], [-1])

    faces = info.get("faces", {})
    return Member(
        name=f"{info.get('arch', info.get('kind', 'model'))}@{version.parent.name}/{version.name}",
        input_size=(int(info["input_size"][0]), int(info["input_size"][1])),
        margin=float(faces.get("margin", FaceConfig().margin)),
        threshold=float(info["threshold"]),
        classify=classify,
        resource=restored,
        source={"version": str(version), "arch": info.get("arch"), "kind": info.get("kind")},
        detection={k: faces[k] for k in ("max_faces", "min_face_size", "thresholds") if k in faces},
    )


def _keras_member(name: str, model: keras.Model, margin: float, source: dict[str, Any]) -> Member:
    size = (int(model.input_shape[1]), int(model.input_shape[2]))
    return Member(
        name=name,
        input_size=size,
        margin=margin,
        threshold=0.5,
        classify=lambda images: classify_images(model, images, size),
        resource=model,
        source=source,
    )


def load_member(spec: str, *, margin: float = 0.2) -> Member:
    """A member from a version (or model) directory, or from ``arch:weights``.

    ``arch:weights`` is ``meso4:<file.h5>`` or ``mesoinception4:<file.h5>`` (published
    MesoNet weights, P(REAL) turned into P(FAKE)) or ``keras:<file.keras>`` (a saved frame
    classifier taking [0, 1] frames); ``margin`` is the crop margin of such members.
    """
    path = Path(spec)
    if path.is_dir():
        return _version_member(path)
    arch, sep, weights = spec.partition(":")
    if not sep:
        raise ValueError(f"member {spec!r} is neither a directory nor arch:weights")
    weights_path = Path(weights)
    source = {"arch": arch, "weights": weights_path.name}
    if arch in ("meso4", "mesoinception4"):
        from model_export.mesonet import fake_probability_model, load_mesonet

        model = fake_probability_model(load_mesonet(weights_path, arch))
        return _keras_member(f"{arch}:{weights_path.stem}", model, margin, source)
    if arch == "keras":
        model = keras.saving.load_model(weights_path, compile=False)
        return _keras_member(f"keras:{weights_path.stem}", model, margin, source)
    raise ValueError(f"unknown member architecture {arch!r} (meso4, mesoinception4, keras)")


def _unique_names(members: Sequence[Member]) -> None:
    seen: dict[str, int] = {}
    for member in members:
        count = seen.get(member.name, 0)
        seen[member.name] = count + 1
        if count:
            member.name = f"{member.name}#{count + 1}"


def detection_of(members: Sequence[Member]) -> FaceConfig:
    """The detection settings all member versions share (defaults when none is a version)."""
    settings = [m.detection for m in members if m.detection]
    if not settings:
        return FaceConfig()
    first = settings[0]
    if any(s != first for s in settings[1:]):
        raise ValueError(f"member versions detect faces differently: {settings}")
    config = FaceConfig()
    return FaceConfig(
        max_faces=int(first.get("max_faces", config.max_faces)),
        margin=members[0].margin,
        min_face_size=int(first.get("min_face_size", config.min_face_size)),
        thresholds=tuple(float(t) for t in first.get("thresholds", config.thresholds)),
    )


def _logit(p: tf.Tensor) -> tf.Tensor:
    p = tf.clip_by_value(p, EPSILON, 1.0 - EPSILON)
    return tf.math.log(p) - tf.math.log1p(-p)


def logit(p: np.ndarray) -> np.ndarray:
    """The logit of probabilities, clipped as in the graph."""
    p = np.clip(np.asarray(p, np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(p) - np.log1p(-p)


class EnsembleGraph:
    """The ensemble's graph functions over ``members``; eager calls run the same code."""

    def __init__(
        self,
        members: Sequence[Member],
        combination: Combination,
        threshold: float,
        faces: FaceConfig,
    ) -> None:
        if len(combination.weights) != len(members):
            raise ValueError("one weight per member is needed")
        self.members = list(members)
        self.faces = faces
        self.threshold = float(threshold)
        self.weights = tf.constant(combination.weights, tf.float32)
        self.bias = float(combination.bias)
        self.outputs = tf.function(self._outputs, input_signature=[frames_spec()])
        self.serve = tf.function(self._serve, input_signature=[frames_spec()])
        spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.FACES_INPUT)
        self.classify_faces = tf.function(self._classify_faces, input_signature=[spec])
        self.detect = tf.function(self._detect, input_signature=[frames_spec()])
        self.classify_boxes = tf.function(self._classify_boxes, input_signature=boxes_specs())

    def _combine(self, member_probability: tf.Tensor) -> tf.Tensor:
        """P(fake) from the members' probabilities on the last axis."""
        return tf.sigmoid(self.bias + tf.reduce_sum(_logit(member_probability) * self.weights, -1))

    def _serve(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = self._outputs(frames)
        del outputs[_WHOLE_FRAME]
        return outputs

    def _find(self, frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        faces = self.faces
        return detect_faces(
            frames,
            max_faces=faces.max_faces,
            min_face_size=faces.min_face_size,
            thresholds=faces.thresholds,
        )

    def _detect(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        boxes, scores, count = self._find(frames)
        return {
            contract.FACE_BOXES: boxes,
            contract.FACE_SCORES: scores,
            contract.FACE_COUNT: tf.cast(count, tf.int32),
        }

    def _classify_boxes(
        self, frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        outputs = self._score(frames, boxes, scores, count)
        del outputs[_WHOLE_FRAME]
        return outputs

    def _outputs(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        """``serving_default``'s outputs plus the members' whole-frame scores."""
        return self._score(frames, *self._find(frames))

    def _score(
        self, frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The outputs for faces already found (by the detector or a client's schedule)."""
        slots = tf.shape(boxes)[1]
        count = tf.minimum(tf.cast(count, tf.int32), slots)
        boxes = tf.cast(boxes, tf.float32)
        n = tf.shape(frames)[0]
        valid = tf.range(slots)[None, :] < count[:, None]
        index = tf.where(valid)
        per_face, whole = [], []
        for member in self.members:
            crops = crop_faces(
                frames,
                boxes,
                count,
                size=member.input_size[0],
                margin=member.margin,
                dtype=tf.uint8,
            )
            scored = member.classify(tf.gather_nd(crops, index))
            per_face.append(tf.scatter_nd(index, scored, [n, slots]))
            whole.append(member.classify(frames))
        member_face = tf.stack(per_face, axis=-1)  # [N, F, M]
        member_whole = tf.stack(whole, axis=-1)  # [N, M]
        has_face = count > 0
        member_frame = tf.where(
            has_face[:, None],
            tf.reduce_max(tf.where(valid[..., None], member_face, -1.0), axis=1),
            member_whole,
        )
        face_probability = tf.where(valid, self._combine(member_face), 0.0)
        best_face = tf.reduce_max(tf.where(valid, face_probability, -1.0), axis=1)
        return {
            contract.FAKE_PROBABILITY: tf.where(has_face, best_face, self._combine(member_whole)),
            # Per row, not scalar: TF Serving's batching splits every output on dim 0.
            contract.THRESHOLD: tf.fill([n], self.threshold),
            contract.FACE_BOXES: tf.where(valid[..., None], boxes, 0.0),
            contract.FACE_SCORES: tf.where(valid, tf.cast(scores, tf.float32), 0.0),
            contract.FACE_FAKE_PROBABILITY: face_probability,
            contract.FACE_COUNT: count,
            contract.MEMBER_FAKE_PROBABILITY: member_face,
            contract.MEMBER_FRAME_FAKE_PROBABILITY: member_frame,
            _WHOLE_FRAME: member_whole,
        }

    def _classify_faces(self, faces_in: tf.Tensor) -> dict[str, tf.Tensor]:
        members = tf.stack([m.classify(faces_in) for m in self.members], axis=-1)
        return {
            contract.FAKE_PROBABILITY: self._combine(members),
            contract.MEMBER_FAKE_PROBABILITY: members,
        }

    def archive(self) -> keras.export.ExportArchive:
        """The export archive: ``serving_default``, ``classify_faces``, ``detect_faces``,
        ``classify_boxes`` (the faces of a client's keyframe schedule) and ``model_info``."""
        archive = keras.export.ExportArchive()
        for member in self.members:
            archive.track(member.resource)
        for net in load_nets():
            archive.track(net)
        archive.add_endpoint(contract.SERVING_SIGNATURE, self.serve)
        archive.add_endpoint(contract.FACES_SIGNATURE, self.classify_faces)
        archive.add_endpoint(contract.DETECT_SIGNATURE, self.detect)
        archive.add_endpoint(contract.CLASSIFY_BOXES_SIGNATURE, self.classify_boxes)
        add_model_info(
            archive,
            threshold=self.threshold,
            frame_min_side=0,
            member_names=[m.name for m in self.members],
        )
        return archive


def combine_numpy(
    member_face: np.ndarray,
    face_count: np.ndarray,
    member_whole: np.ndarray,
    combination: Combination,
) -> np.ndarray:
    """Frame scores ``[N]`` of the graph's combination, from its member outputs (numpy)."""
    weights = np.asarray(combination.weights, np.float64)

    def combine(p: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(combination.bias + logit(p) @ weights)))

    slots = member_face.shape[1]
    valid = np.arange(slots)[None, :] < np.asarray(face_count)[:, None]
    faces = np.where(valid, combine(member_face), -1.0).max(axis=1)
    return np.where(np.asarray(face_count) > 0, faces, combine(member_whole))


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    sample_weight: np.ndarray | None = None,
    l2: float = 1e-2,
    iterations: int = 50,
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method; returns weights, bias.

    Classes are weighted to the deployment prior (fakes get
    :data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR` of the total weight, reals the
    rest) so that an uneven validation set does not shift the bias; the bias is not
    regularised.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    for cls, share in ((0.0, 1 - DEPLOYMENT_FAKE_PRIOR), (1.0, DEPLOYMENT_FAKE_PRIOR)):
        total = w[y == cls].sum()
        if total > 0:
            w = np.where(y == cls, w * share / total, w)
    design = np.concatenate([x, np.ones([len(x), 1])], axis=1)
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (w * (p - y)) + penalty * theta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


@dataclass
class MemberScores:
    """The members' outputs on labelled videos, frame by frame."""

    member_face: np.ndarray
    face_count: np.ndarray
    member_whole: np.ndarray
    member_frame: np.ndarray
    labels: np.ndarray
    clip_ids: np.ndarray
    clip_labels: dict[int, int]


def score_videos(
    graph: EnsembleGraph, videos: Sequence[LabelledVideo], frames_per_video: int
) -> MemberScores:
    """Run the ensemble's graph (eagerly, the exported code) on ``videos``' sampled frames."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("face", "count", "whole", "frame")}
    labels, ids = [], []
    for i, video in enumerate(videos):
        out = graph.outputs(tf.constant(sample_frames(video.path, frames_per_video)))
        parts["face"].append(out[contract.MEMBER_FAKE_PROBABILITY].numpy())
        parts["count"].append(out[contract.FACE_COUNT].numpy())
        parts["whole"].append(out[_WHOLE_FRAME].numpy())
        parts["frame"].append(out[contract.MEMBER_FRAME_FAKE_PROBABILITY].numpy())
        n = len(parts["count"][-1])
        labels.append(np.full(n, video.label))
        ids.append(np.full(n, i))
    return MemberScores(
        np.concatenate(parts["face"]),
        np.concatenate(parts["count"]),
        np.concatenate(parts["whole"]),
        np.concatenate(parts["frame"]),
        np.concatenate(labels),
        np.concatenate(ids),
        {i: v.label for i, v in enumerate(videos)},
    )


def fit_combination(scores: MemberScores) -> tuple[Combination, float, dict[str, Any]]:
    """Weights fitted on the members' frame logits, the video threshold, and the metrics.

    Every video weighs the same in the fit, whatever its number of frames.
    """
    counts = np.bincount(scores.clip_ids)
    sample_weight = 1.0 / counts[scores.clip_ids]
    weights, bias = fit_logistic(logit(scores.member_frame), scores.labels, sample_weight)
    combination = Combination(tuple(float(w) for w in weights), bias, len(scores.clip_labels))
    frame = combine_numpy(scores.member_face, scores.face_count, scores.member_whole, combination)
    ids, video = video_scores(frame, scores.clip_ids)
    video_labels = np.array([scores.clip_labels[int(i)] for i in ids])
    threshold = roc.best_threshold(video_labels, video)
    metrics = {"video": roc.binary_metrics(video_labels, video, threshold).as_dict()}
    for m in range(scores.member_frame.shape[1]):
        _, member_video = video_scores(scores.member_frame[:, m], scores.clip_ids)
        metrics[f"member_{m}_video_auc"] = roc.binary_metrics(
            video_labels, member_video, 0.5
        ).roc_auc
    return combination, threshold, metrics


def _member_info(member: Member) -> dict[str, Any]:
    return {
        "name": member.name,
        "input_size": list(member.input_size),
        "margin": member.margin,
        "threshold": member.threshold,
        **member.source,
    }


def default_threshold(members: Sequence[Member]) -> float:
    """The members' thresholds averaged in logit space (the equal-weight combination's)."""
    return float(1.0 / (1.0 + np.exp(-np.mean(logit(np.array([m.threshold for m in members]))))))


def build_ensemble(
    specs: Sequence[str],
    *,
    margin: float = 0.2,
    calibrate_data: Sequence[Path] | None = None,
    frames_per_video: int = DEFAULT_FRAME_COUNT,
) -> tuple[EnsembleGraph, dict[str, Any]]:
    """Load the members, fit their combination (or weigh them equally) and build the graph.

    Returns the graph and the export info of the ensemble.
    """
    if len(specs) < 2:
        raise ValueError("an ensemble needs at least two members")
    members = [load_member(spec, margin=margin) for spec in specs]
    _unique_names(members)
    faces = detection_of(members)
    combination, threshold = Combination.equal(len(members)), default_threshold(members)
    report: dict[str, Any] = {}
    if calibrate_data:
        videos = discover(calibrate_data)
        if not videos:
            raise ValueError("no labelled videos to fit the ensemble on")
        if len({v.label for v in videos}) < 2:
            raise ValueError("fitting an ensemble needs REAL and FAKE videos")
        scores = score_videos(EnsembleGraph(members, combination, threshold, faces), videos,
                              frames_per_video)  # fmt: skip
        combination, threshold, report = fit_combination(scores)
        log.info(
            "fitted ensemble",
            extra={
                "weights": combination.weights,
                "bias": combination.bias,
                "threshold": threshold,
            },
        )
    info = {
        "kind": "ensemble",
        "arch": "ensemble",
        "member_names": [m.name for m in members],
        "members": [_member_info(m) for m in members],
        "combination": combination.as_dict(),
        "calibrated_on": [str(p) for p in calibrate_data or []],
        **({"calibration": report} if report else {}),
    }
    return EnsembleGraph(members, combination, threshold, faces), info


def publish_ensemble(
    specs: Sequence[str],
    output: Path,
    *,
    margin: float = 0.2,
    calibrate_data: Sequence[Path] | None = None,
    frames_per_video: int = DEFAULT_FRAME_COUNT,
    version: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the ensemble of ``specs`` and publish it as the next version under ``output``."""
    graph, info = build_ensemble(
        specs, margin=margin, calibrate_data=calibrate_data, frames_per_video=frames_per_video
    )
    size = graph.members[0].input_size
    path = publish_archive(
        graph.archive,
        face_warmup_requests(output.name, size),
        output.parent,
        output.name,
        info=version_info(
            threshold=graph.threshold, input_size=size, faces=graph.faces.as_dict(), info=info
        ),
        version=version,
    )
    return path, {**info, "threshold": graph.threshold}
