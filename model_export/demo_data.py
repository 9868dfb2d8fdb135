"""Synthesise a labelled demo data set from face photographs that ship with packages.

REAL clips: a photograph filmed by a virtual camera (pan and zoom), with a lighting change,
sensor noise and H.264 compression. FAKE clips: the same clip (same camera path, lighting,
noise and compression) of the same photograph with its face region replaced by a
manipulated copy of itself, blended in under a soft elliptical mask with a colour and
geometry mismatch, in the spirit of self-blended images (Shiohara & Yamasaki, CVPR 2022).
A real clip and its fake share a ``group`` so that splits never separate them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.video_io import encode_clip

log = logging.getLogger(__name__)

LABEL_REAL = 0
LABEL_FAKE = 1

#: Face boxes ``(x, y, w, h)`` of the bundled photographs, as measured once with the
#: ``mtcnn`` package's ``detect_faces`` (OpenCV 5 no longer ships Haar cascades).
FACE_BOXES = {
    "astronaut": (182, 64, 83, 107),
    "grace_hopper": (178, 110, 173, 220),
}


@dataclass(frozen=True)
class DemoConfig:
    """Size of the synthetic data set; the defaults train in well under two minutes."""

    clips_per_source: int = 32
    #: As many frames as a video is scored on, so that every sampled frame is a new one.
    frames_per_clip: int = DEFAULT_FRAMES_PER_VIDEO
    size: int = 160
    fps: int = 12
    seed: int = 0

    def key(self) -> str:
        """Short hash naming the cache directory of this configuration."""
        text = json.dumps(asdict(self), sort_keys=True) + "|v1"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Clip:
    """One labelled clip of the data set."""

    path: Path
    label: int
    group: str
    source: str


def load_sources() -> dict[str, np.ndarray]:
    """The bundled face photographs as ``uint8`` RGB arrays."""
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = np.asarray(Image.open(handle).convert("RGB"))
    return {"astronaut": np.asarray(skimage.data.astronaut()), "grace_hopper": grace}


def soft_ellipse_mask(
    shape: tuple[int, int], box: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """A float mask in ``[0, 1]`` of an ellipse inside ``box`` with a blurred edge."""
    x, y, w, h = box
    mask = np.zeros(shape, np.float32)
    centre = (int(x + w / 2), int(y + h * rng.uniform(0.5, 0.58)))
    axes = (int(w * rng.uniform(0.38, 0.5)), int(h * rng.uniform(0.42, 0.55)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(-10, 10)), 0, 360, 1.0, -1)
    sigma = float(rng.uniform(0.04, 0.12) * w)
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma)


def manipulate_face(
    image: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Blend a colour- and geometry-shifted copy of the face back into ``image``."""
    height, width = image.shape[:2]
    x, y, w, h = box
    source = image.astype(np.float32)
    # Colour mismatch: per-channel gain and offset, as between two different shots.
    gain = rng.uniform(0.85, 1.15, size=3)
    offset = rng.uniform(-18, 18, size=3)
    source = source * gain + offset
    if rng.random() < 0.5:
        source = cv2.GaussianBlur(source, (0, 0), sigmaX=float(rng.uniform(0.8, 1.8)))
    else:
        blurred = cv2.GaussianBlur(source, (0, 0), sigmaX=1.0)
        source = source + rng.uniform(0.5, 1.2) * (source - blurred)
    # Geometry mismatch: small scale, rotation and shift about the face centre.
    centre = (x + w / 2, y + h / 2)
    matrix = cv2.getRotationMatrix2D(centre, rng.uniform(-6, 6), rng.uniform(0.93, 1.07))
    matrix[:, 2] += rng.uniform(-0.05, 0.05, size=2) * (w, h)
    source = cv2.warpAffine(source, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    mask = soft_ellipse_mask((height, width), box, rng)[..., None]
    blended = mask * source + (1 - mask) * image.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)


def camera_frames(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    count: int,
    size: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Film ``image`` with a panning, zooming camera whose view always holds the face.

    Returns affine transforms per frame so REAL and FAKE versions share the camera path.
    """
    height, width = image.shape[:2]
    x, y, w, h = box
    face_cx, face_cy = x + w / 2, y + h / 2
    views = []
    for _ in range(2):
        side = rng.uniform(1.8, 3.2) * max(w, h)
        side = min(side, height, width)
        # The face centre stays in the middle half of the view.
        cx = np.clip(face_cx + rng.uniform(-0.2, 0.2) * side, side / 2, width - side / 2)
        cy = np.clip(face_cy + rng.uniform(-0.2, 0.2) * side, side / 2, height - side / 2)
        views.append((cx, cy, side))
    (cx0, cy0, s0), (cx1, cy1, s1) = views
    transforms = []
    for t in np.linspace(0.0, 1.0, count):
        cx, cy, side = cx0 + t * (cx1 - cx0), cy0 + t * (cy1 - cy0), s0 + t * (s1 - s0)
        scale = size / side
        transforms.append(
            np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
        )
    return transforms


def render_clip(
    image: np.ndarray,
    transforms: list[np.ndarray],
    *,
    size: int,
    gains: np.ndarray,
    noise_sigma: float,
    noise_seed: int,
) -> list[np.ndarray]:
    """Apply camera transforms, a lighting ramp and sensor noise to ``image``."""
    noise_rng = np.random.default_rng(noise_seed)
    frames = []
    for matrix, gain in zip(transforms, gains, strict=True):
        view = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA)
        frame = view.astype(np.float32) * gain
        frame += noise_rng.normal(0.0, noise_sigma, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def demo_dataset_dir(root: Path, config: DemoConfig = DemoConfig()) -> Path:
    """The directory below ``root`` holding the clips of ``config``: ``real/`` and ``fake/``
    folders (the layout :func:`model_export.datasets.discover` reads), a clip and its fake
    twin sharing a file name, hence a group."""
    return Path(root) / config.key()


def build_demo_dataset(root: Path, config: DemoConfig = DemoConfig()) -> list[Clip]:
    """Create (or reuse from the cache at ``root``) the demo clips; return them labelled."""
    directory = demo_dataset_dir(root, config)
    manifest = directory / "manifest.json"
    if manifest.is_file():
        log.info("reusing cached demo data", extra={"path": str(directory)})
        return _read_manifest(manifest)
    rng = np.random.default_rng(config.seed)
    clips: list[Clip] = []
    for name, photo in load_sources().items():
        box = FACE_BOXES[name]
        for i in range(config.clips_per_source):
            image, face = photo, box
            if rng.random() < 0.5:
                image = np.ascontiguousarray(photo[:, ::-1])
                face = (photo.shape[1] - box[0] - box[2], box[1], box[2], box[3])
            fake_image = manipulate_face(image, face, rng)
            transforms = camera_frames(
                image, face, count=config.frames_per_clip, size=config.size, rng=rng
            )
            gains = np.linspace(
                rng.uniform(0.7, 1.2), rng.uniform(0.7, 1.2), config.frames_per_clip
            )
            noise = float(rng.uniform(0.0, 6.0))
            noise_seed = int(rng.integers(2**31))
            crf = int(rng.integers(18, 33))
            group = f"{name}-{i:03d}"
            for label, picture in ((LABEL_REAL, image), (LABEL_FAKE, fake_image)):
                frames = render_clip(
                    picture,
                    transforms,
                    size=config.size,
                    gains=gains,
                    noise_sigma=noise,
                    noise_seed=noise_seed,
                )
                kind = "fake" if label == LABEL_FAKE else "real"
                path = encode_clip(
                    frames, directory / kind / f"{group}.mp4", fps=config.fps, crf=crf
                )
                clips.append(Clip(path, label, group, name))
        log.info(
            "synthesised demo clips", extra={"source": name, "clips": 2 * config.clips_per_source}
        )
    _write_manifest(manifest, clips, config)
    return clips


def _write_manifest(path: Path, clips: list[Clip], config: DemoConfig) -> None:
    rows = [
        {
            "file": str(c.path.relative_to(path.parent)),
            "label": c.label,
            "group": c.group,
            "source": c.source,
        }
        for c in clips
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": asdict(config), "clips": rows}, indent=1))
    tmp.replace(path)


def _read_manifest(path: Path) -> list[Clip]:
    data = json.loads(path.read_text())
    return [
        Clip(path.parent / row["file"], int(row["label"]), row["group"], row["source"])
        for row in data["clips"]
    ]
