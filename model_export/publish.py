"""Publish a version atomically under ``<base>/<name>/<version>``.

TF Serving polls the base path (every second by default) and loads any child whose name
parses as an integer (file_system_storage_path_source.cc), so a version copied in place
can be loaded half-written (tensorflow/serving#1086, #572). A version is therefore written
into a non-numeric staging sibling on the same file system, checked, flushed to disk and
renamed into place in one ``rename(2)``.

Every kind of export (whole-frame, face-aware, sequence) publishes through
:func:`publish_archive` with the export info :func:`version_info` builds, so versions are
written, verified through a TF1 session and described the same way.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
from tensorflow_serving.apis import predict_pb2

import contract
from model_export import warmup
from model_export.calibration import IDENTITY, Calibration
from model_export.digest import write_digest
from model_export.operating_points import unmeasured_points
from model_export.savedmodel import load_version

log = logging.getLogger(__name__)

#: Written beside the warmup file; TF Serving ignores it, people and tools read it.
INFO_RELATIVE_PATH = "assets.extra/export_info.json"
#: Prefix of staging directories; never parses as a version.
STAGING_PREFIX = ".tmp-"


#: Refuses a verified candidate by raising, or returns facts to record in the export info.
Gate = Callable[[Path], Mapping[str, Any] | None]


class PublishError(RuntimeError):
    """A version could not be published."""


def existing_versions(model_dir: Path) -> list[int]:
    """Integer versions under ``model_dir``, ascending (as TF Serving would see them)."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(child.name)
        for child in model_dir.iterdir()
        if child.is_dir() and contract.is_version_dir_name(child.name)
    )


def resolve_version(path: Path) -> Path:
    """``path`` if it is a version directory, else the highest version of the model at ``path``."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = existing_versions(path)
    if not versions:
        raise FileNotFoundError(f"no version under {path}")
    return path / str(versions[-1])


def next_version(model_dir: Path) -> int:
    """The highest existing version plus one, or 1 for an empty base path."""
    versions = existing_versions(model_dir)
    return max(versions) + 1 if versions else 1


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_version(path: Path) -> int:
    """Load ``path`` through a TF1 session and replay its warmup; return records replayed.

    This is what TF Serving does before it marks a version AVAILABLE, so a version that
    passes here loads there.
    """
    with load_version(path) as loaded:
        for key in contract.REQUIRED_OUTPUTS:
            if key not in loaded.signatures[contract.SERVING_SIGNATURE].outputs:
                raise PublishError(f"signature {contract.SERVING_SIGNATURE!r} lacks {key!r}")
        info = loaded.signatures.get(contract.MODEL_INFO_SIGNATURE)
        if info is not None:
            for key in (contract.THRESHOLD, contract.FRAME_MIN_SIDE):
                if key not in info.outputs:
                    raise PublishError(f"signature {contract.MODEL_INFO_SIGNATURE!r} lacks {key!r}")
        return loaded.replay_warmup()


def publish_directory(
    write: Callable[[Path], None],
    base_path: Path,
    name: str,
    *,
    version: int | None = None,
    info: Mapping[str, Any] | None = None,
    verify: bool = True,
    gate: Gate | None = None,
) -> Path:
    """Publish whatever ``write(staging_dir)`` writes as the next (or given) version.

    ``write`` must produce a complete SavedModel, warmup included, inside the directory it
    is given. ``gate``, when given, sees the verified staging directory and raises to refuse
    the version (it may return facts to record in the export info). The staging directory
    is removed on any failure, so nothing numeric is left behind. Returns the path of the
    published version.
    """
    model_dir = Path(base_path) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    target_version = version if version is not None else next_version(model_dir)
    if version is not None and (model_dir / str(version)).exists():
        raise PublishError(f"version {version} already exists under {model_dir}")
    staging = model_dir / f"{STAGING_PREFIX}{target_version}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        write(staging)
        if verify:
            records = verify_version(staging)
            log.info("version verified", extra={"path": str(staging), "warmup": records})
        meta = {"name": name, "created_unix": time.time(), **dict(info or {})}
        if gate is not None:
            meta["gate"] = dict(gate(staging) or {})
        info_path = staging / INFO_RELATIVE_PATH
        info_path.parent.mkdir(parents=True, exist_ok=True)
        info_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        _fsync_tree(staging)
        while True:
            target = model_dir / str(target_version)
            try:
                # rename(2) refuses a non-empty target, so a concurrent publisher of the
                # same number makes this fail instead of mixing two versions.
                os.rename(staging, target)
                break
            except OSError:
                if version is not None or not target.exists():
                    raise
                target_version = next_version(model_dir)
        _fsync_dir(model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("published version", extra={"path": str(target), "version": target_version})
    return target


def version_info(
    *,
    threshold: float,
    input_size: tuple[int, int],
    faces: Mapping[str, Any] | None = None,
    sequence: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
    calibration: Calibration = IDENTITY,
    operating_points: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The export info of a version, for every kind of export.

    ``threshold`` is on the uncalibrated scale, as chosen; the info records the threshold
    the graph ships (on the calibrated scale) and ``calibration``'s parameters, the
    identity's when nothing was fitted. ``faces`` (the face settings shipped in the graph)
    makes the version face-aware, ``sequence`` describes a sequence head; ``info`` (what
    trained it, how it measured) is merged last. ``operating_points`` are the version's named
    thresholds as its ``model_info`` lists them; None lists the shipped threshold alone
    (:func:`model_export.operating_points.unmeasured_points`).
    """
    shipped = calibration.apply_threshold(threshold)
    meta: dict[str, Any] = {
        "threshold": shipped,
        "operating_points": (
            list(operating_points) if operating_points is not None else unmeasured_points(shipped)
        ),
        "calibration": {**calibration.as_dict(), "threshold_uncalibrated": float(threshold)},
        "input_size": [int(input_size[0]), int(input_size[1])],
        "face_aware": faces is not None,
    }
    if faces is not None:
        meta["faces"] = dict(faces)
    if sequence is not None:
        meta["sequence"] = dict(sequence)
    meta.update(info or {})
    return meta


def _refresh_fingerprint(path: Path) -> None:
    """Rewrite ``fingerprint.pb`` for the graph as it now is (the digest changed its bytes),
    so that TensorFlow's own checksum of ``saved_model.pb`` stays true."""
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    target = path / "fingerprint.pb"
    if target.exists():
        tmp = target.with_suffix(".pb.tmp")
        tmp.write_bytes(fingerprinting.CreateFingerprintDef(str(path)))
        tmp.replace(target)


def write_version(
    archive: keras.export.ExportArchive,
    path: Path,
    requests: Sequence[predict_pb2.PredictRequest],
) -> None:
    """Write ``archive`` as a SavedModel into ``path`` with ``requests`` as its warmup."""
    log.info("writing SavedModel", extra={"path": str(path)})
    archive.write_out(str(path), verbose=False)
    # Before anything else reads the graph: model_info then reports the files' digest.
    if write_digest(Path(path)) is not None:
        _refresh_fingerprint(Path(path))
    warmup.write_warmup(Path(path) / contract.WARMUP_RELATIVE_PATH, requests)


def publish_archive(
    build: Callable[[], keras.export.ExportArchive],
    requests: Sequence[predict_pb2.PredictRequest],
    base_path: Path,
    name: str,
    *,
    info: Mapping[str, Any],
    version: int | None = None,
    gate: Gate | None = None,
) -> Path:
    """Publish the archive ``build()`` returns, with its warmup and export info, as a version.

    The archive is built inside the staging step so that a failure leaves nothing behind;
    see :func:`publish_directory` for numbering, verification and ``gate``.
    """
    return publish_directory(
        lambda staging: write_version(build(), staging, requests),
        base_path,
        name,
        version=version,
        info=info,
        gate=gate,
    )
