"""An ensemble's members: published face-aware versions or ``arch:weights`` specs.

Each member knows how its faces are cut (input size, margin) and its own threshold; the
ensemble detects faces once, with the settings the member versions share.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import contract
from model_export.calibration import logit
from model_export.ensemble_combination import EPSILON
from model_export.export import classify_images
from model_export.face_export import FaceConfig
from model_export.publish import INFO_RELATIVE_PATH, resolve_version


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


def unique_names(members: Sequence[Member]) -> None:
    """Rename repeated member names in place: ``name``, ``name#2``, ``name#3``..."""
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


def member_info(member: Member) -> dict[str, Any]:
    """What the export info records of ``member``."""
    return {
        "name": member.name,
        "input_size": list(member.input_size),
        "margin": member.margin,
        "threshold": member.threshold,
        **member.source,
    }


def default_threshold(members: Sequence[Member]) -> float:
    """The members' thresholds averaged in logit space (the equal-weight combination's)."""
    return float(
        1.0 / (1.0 + np.exp(-np.mean(logit(np.array([m.threshold for m in members]), EPSILON))))
    )
