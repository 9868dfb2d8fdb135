"""468-point face meshes of face crops, from MediaPipe's face-landmark model (training only).

Self-blended training (:mod:`model_export.self_blend`) hulls a dense landmark set for its
masks. The model is ``mediapipe/modules/face_landmark/face_landmark.tflite`` of the
``mediapipe==0.10.21`` wheel; the package itself is not installed (it pins numpy<2 and
protobuf<5), :func:`fetch` downloads the wheel with pip and extracts only that file
(``make face-mesh``), checked against :data:`FACE_MESH_SHA256`. TensorFlow's own TFLite
interpreter runs it.

Input, as MediaPipe's ``face_landmark_cpu.pbtxt`` feeds it: a 192x192 RGB crop of the face
region, float32 in ``[0, 1]``, the region stretched to the square (no kept aspect ratio).
Outputs: ``conv2d_21`` 468 ``(x, y, z)`` points in pixels of that 192-pixel input, and
``conv2d_31`` a face-presence logit (MediaPipe applies a sigmoid). The face region is the
MTCNN box widened to a square with a margin (:func:`square_box`); a cached face crop
(:mod:`model_export.face_cache`, the box plus its 0.3 margin per side) is already such a
region, so :class:`FaceMesh` runs on it directly.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Where ``make face-mesh`` puts the model.
DEFAULT_PATH = Path("var/face-mesh/face_landmark.tflite")
WHEEL_REQUIREMENT = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
#: sha256 of :data:`MEMBER` in that wheel (also MediaPipe's own pin of the asset).
FACE_MESH_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
INPUT_SIZE = 192
POINTS = 468
#: Below this face-presence probability the points are dropped (NaN).
MIN_SCORE = 0.5


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def square_box(box: np.ndarray, margin: float) -> np.ndarray:
    """A pixel box ``[x1, y1, x2, y2]`` widened to a square about its centre, plus ``margin``
    (a fraction of the side) on every side."""
    x1, y1, x2, y2 = np.asarray(box, np.float32)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


class FaceMesh:
    """The face-landmark model in a TFLite interpreter (one thread: tf.data uses the rest)."""

    def __init__(self, path: Path = DEFAULT_PATH) -> None:
        import tensorflow as tf

        digest = sha256_of(path)
        if digest != FACE_MESH_SHA256:
            raise ValueError(f"{path}: sha256 {digest}, expected {FACE_MESH_SHA256}")
        self._interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._points, self._score = outputs["conv2d_21"], outputs["conv2d_31"]

    def __call__(self, crop: np.ndarray) -> tuple[np.ndarray, float]:
        """Points ``float32 [468, 2]`` as ``(x, y)`` in ``[0, 1]`` of ``crop`` (uint8 RGB
        ``[H, W, 3]``, the face region) and the face-presence probability."""
        x = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        self._interpreter.set_tensor(self._input, (x.astype(np.float32) / 255.0)[None])
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(POINTS, 3)[:, :2]
        logit = float(self._interpreter.get_tensor(self._score).reshape(-1)[0])
        score = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        return (points / INPUT_SIZE).astype(np.float32), float(score)

    def points(self, crops: np.ndarray) -> np.ndarray:
        """Points ``float32 [K, 468, 2]`` in ``[0, 1]`` of each crop; NaN where no face."""
        out = np.full([len(crops), POINTS, 2], np.nan, np.float32)
        for i, crop in enumerate(crops):
            points, score = self(crop)
            if score >= MIN_SCORE and np.all(np.isfinite(points)):
                out[i] = points
        return out


def with_mesh(crops: np.ndarray, five: np.ndarray, mesh: FaceMesh | None) -> np.ndarray:
    """Landmarks ``float32 [K, 473, 2]``: the five points of each crop, then its mesh (NaN
    without a model, where the crop holds no detected face, or where the mesh finds none)."""
    five = np.asarray(five, np.float32).reshape(-1, 5, 2)
    points = np.full([len(crops), POINTS, 2], np.nan, np.float32)
    faces = np.flatnonzero(np.all(np.isfinite(five), axis=(1, 2)))
    if mesh is not None and len(faces):
        points[faces] = mesh.points(crops[faces])
    return np.concatenate([five, points], axis=1)


_missing_logged: set[str] = set()


def load_face_mesh(path: Path = DEFAULT_PATH) -> FaceMesh | None:
    """The model at ``path``, or None (logged once per reason) when it cannot be used."""
    reason = None
    if not Path(path).is_file():
        reason = f"{path} is missing (run `make face-mesh`)"
    else:
        try:
            return FaceMesh(path)
        except (ValueError, RuntimeError) as error:
            reason = str(error)
    if reason not in _missing_logged:
        _missing_logged.add(reason)
        log.warning(
            "no face mesh: self-blended masks fall back to the five-point ellipses",
            extra={"reason": reason},
        )
    return None


def fetch(dest: Path = DEFAULT_PATH) -> Path:
    """Download the mediapipe wheel (no dependencies) and extract the model to ``dest``."""
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == FACE_MESH_SHA256:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary", ":all:", "--dest", tmp, WHEEL_REQUIREMENT],
            check=True,
        )  # fmt: skip
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip downloaded no wheel of {WHEEL_REQUIREMENT}")
        data = zipfile.ZipFile(wheels[0]).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != FACE_MESH_SHA256:
        raise RuntimeError(f"{MEMBER}: sha256 {digest}, expected {FACE_MESH_SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch MediaPipe's face-landmark model.")
    parser.add_argument("--dest", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    print(fetch(args.dest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
