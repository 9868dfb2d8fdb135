"""The model ``make serve`` publishes when the model folder holds no version.

Resolution, best first:

1. the model folder already holds a version: nothing is done;
2. a published detector, downloaded from its upstream: MesoNet's Keras weights from their
   authors' repository (DariusAf/MesoNet, Apache-2.0) at a pinned commit, each file's
   sha256 pinned here, imported face-aware by :func:`model_export.mesonet.import_mesonet`
   with the calibration fitted once on the labelled clips and pinned here beside the
   checksums (:data:`SHIPPED_PLATT_A` and the constants after it), so that a clone without
   labelled clips ships calibrated probabilities;
3. otherwise (no network, a mirror serving something else, any error) the synthetic demo,
   which says in its ``model_info`` that it is a demo.

The download location is the setting ``MODEL_DEFAULT_URL``: the base URL under which the
upstream file names are fetched (default: the authors' raw files at the pinned commit), so
that a mirror, or a ``file://`` directory, can stand in; the checksums do not change with it.
An empty ``MODEL_DEFAULT_URL`` skips the download. Downloads are streamed to a temporary
file with a size cap and a socket timeout, and verified before anything is published; a
failure publishes nothing from the download, is logged with its reason, and falls back.
TensorFlow is imported only once a version is to be published, so the command line's
``--help`` and the settings stay light.

The bounded download and its failure reasons are :mod:`model_export.default_download`;
fitting the shipped constants is :mod:`model_export.default_fit`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.calibration import IDENTITY, Calibration
from model_export.default_download import (
    DEFAULT_TIMEOUT_S,
    DownloadError,
    Reason,
    download_verified,
)

log = logging.getLogger(__name__)

#: Environment variable: base URL the MesoNet weight files are fetched under ("" = no download).
DEFAULT_URL_ENV = "MODEL_DEFAULT_URL"
#: The authors' repository and the commit the weights are pinned to (its HEAD of 2024-05-07).
MESONET_REPOSITORY = "DariusAf/MesoNet"
MESONET_COMMIT = "2144d56a30e48cdcac1976ff13a1c5cdc86376c6"
#: Default of ``MODEL_DEFAULT_URL``: the raw ``weights/`` folder of the pinned commit.
DEFAULT_URL = f"https://raw.githubusercontent.com/{MESONET_REPOSITORY}/{MESONET_COMMIT}/weights/"
#: Threshold of an uncalibrated import (the one
#: :func:`~model_export.default_fit.score_default_import` scores to fit on).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class PublishedWeights:
    """One upstream weight file: its name under the base URL, architecture, size and sha256."""

    file_name: str
    arch: str
    size: int
    sha256: str


#: The deepfake-trained (``_DF``) MesoNet weights at :data:`MESONET_COMMIT`, by architecture.
MESONET_WEIGHTS: dict[str, PublishedWeights] = {
    "meso4": PublishedWeights(
        "Meso4_DF.h5",
        "meso4",
        156128,
        "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
    ),
    "mesoinception4": PublishedWeights(
        "MesoInception_DF.h5",
        "mesoinception4",
        197504,
        "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
    ),
}
#: The MesoNet published by default, chosen by the leave-one-source-out figures in
#: docs/model-quality.md (video ROC-AUC): MesoInception-4 scores higher there today. Change
#: it to "meso4" if new figures say otherwise.
DEFAULT_ARCH = "mesoinception4"
# The calibration the default ships, so that a clone without labelled clips serves calibrated
# probabilities. Fitted on 2026-12-06 on all 150 labelled clips of ../shared/data (20
# sources), for DEFAULT_ARCH imported face-aware with model_export.faces.DEFAULT_MARGIN, by
#   python -m model_export default-model --fit-calibration ../shared/data \
#       --url file:///work/shared/data/weights_mesonet_dariusaf/
# (the same weights as DEFAULT_URL, sha256 checked; 268 s on 2 shared cores), which scores the
# clips with the uncalibrated import, picks the floor from calibration.FLOOR_GRID by pooled
# out-of-fold log-loss over the leave-one-source-out folds (0: 0.6697, 0.05: 0.6691, 0.1:
# 0.6660, 0.15: 0.6691, 0.2: 0.6784), then fits Platt a, b with that floor
# (calibration.fit_calibration: deployment prior, shrinkage) and the threshold at that prior
# on all the clips. Its out-of-fold figures and the check on a fold held out of everything
# are in docs/model-quality.md ("The default detector").
#: Platt slope ``a`` of the shipped calibration.
SHIPPED_PLATT_A = 0.114835
#: Platt intercept ``b`` of the shipped calibration.
SHIPPED_PLATT_B = 0.0313283
#: Floor (and ``1 -`` ceiling) of every shipped probability: a wrong answer costs at most
#: ``-log(0.1) = 2.3`` of log-loss.
SHIPPED_FLOOR = 0.1
#: Video threshold the default ships, on the calibrated scale.
SHIPPED_THRESHOLD = 0.396709
#: Videos the shipped constants were fitted on.
SHIPPED_FIT_VIDEOS = 150


def shipped_calibration() -> Calibration:
    """The calibration :func:`ensure_default_model` bakes into the default version's graph."""
    return Calibration(
        a=SHIPPED_PLATT_A, b=SHIPPED_PLATT_B, floor=SHIPPED_FLOOR, videos=SHIPPED_FIT_VIDEOS
    )


#: Where the published version came from.
Source = Literal["existing", "download", "demo"]


@dataclass(frozen=True)
class DefaultModelResult:
    """What :func:`ensure_default_model` did."""

    model_dir: Path
    source: Source
    #: The version published; None when versions were already present.
    path: Path | None = None
    #: Versions already present (source ``existing``).
    existing: tuple[int, ...] = ()
    #: Why the download was not used (source ``demo``).
    reason: Reason | None = None
    #: The architecture imported (source ``download``).
    arch: str | None = None
    threshold: float | None = None
    #: The calibration baked into the version's graph (source ``download``).
    calibration: Calibration | None = None


def default_url() -> str:
    """``MODEL_DEFAULT_URL``, or the authors' raw files at the pinned commit when unset."""
    return os.environ.get(DEFAULT_URL_ENV, DEFAULT_URL)


def weights_url(base_url: str, weights: PublishedWeights) -> str:
    """The URL of ``weights`` under ``base_url`` (a trailing slash is added when missing)."""
    return urllib.parse.urljoin(base_url.rstrip("/") + "/", weights.file_name)


def import_downloaded_mesonet(
    model_dir: Path,
    *,
    base_url: str,
    arch: str = DEFAULT_ARCH,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    calibration: Calibration | None = None,
    threshold: float | None = None,
) -> tuple[Path, float]:
    """Download the pinned MesoNet ``arch`` weights from ``base_url``, verify and publish them.

    The version is published face-aware under ``model_dir`` (crop margin
    :data:`model_export.faces.DEFAULT_MARGIN`) with ``calibration`` in its graph and
    ``threshold`` (calibrated scale); by default the shipped constants
    (:func:`shipped_calibration`, :data:`SHIPPED_THRESHOLD`) for :data:`DEFAULT_ARCH` and the
    identity with :data:`DEFAULT_THRESHOLD` for another architecture (the constants were
    fitted for that one only). Raises :class:`DownloadError` when the weights cannot be used;
    nothing is published then. Returns the version and the threshold it ships.
    """
    if calibration is None:
        calibration = shipped_calibration() if arch == DEFAULT_ARCH else IDENTITY
    if threshold is None:
        threshold = SHIPPED_THRESHOLD if arch == DEFAULT_ARCH else DEFAULT_THRESHOLD
    weights = MESONET_WEIGHTS[arch]
    url = weights_url(base_url, weights)
    with tempfile.TemporaryDirectory(prefix="mesonet-") as tmp:
        local = Path(tmp) / weights.file_name
        size = download_verified(url, local, sha256=weights.sha256, timeout_s=timeout_s)
        log.info(
            "downloaded detector weights",
            extra={"url": url, "bytes": size, "sha256": weights.sha256, "commit": MESONET_COMMIT},
        )
        # Imported here: TensorFlow loads only once there is something to import.
        from model_export.faces import DEFAULT_MARGIN
        from model_export.mesonet import import_mesonet

        try:
            path, shipped = import_mesonet(
                local,
                arch,
                model_dir,
                # The exporters take the threshold on the uncalibrated scale.
                threshold=calibration.unapply_threshold(threshold),
                margin=DEFAULT_MARGIN,
                frames_per_video=DEFAULT_FRAMES_PER_VIDEO,
                calibration=calibration,
            )
        except Exception as exc:
            raise DownloadError("import_failed", f"{url} could not be imported: {exc!r}") from exc
    log.info(
        "published the default detector",
        extra={
            "path": str(path),
            "arch": arch,
            "threshold": shipped,
            "calibrated": not calibration.is_identity,
            "calibration": calibration.as_dict(),
            "margin": DEFAULT_MARGIN,
        },
    )
    return path, shipped


def ensure_default_model(
    model_dir: Path,
    *,
    fallback: Callable[[Path], Path],
    base_url: str | None = None,
    arch: str = DEFAULT_ARCH,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> DefaultModelResult:
    """Make sure ``model_dir`` holds a version, publishing the best one obtainable.

    Versions present: nothing happens. Otherwise the pinned MesoNet weights are fetched
    under ``base_url`` (default :func:`default_url`; empty: no download) and published;
    when that fails for any reason, ``fallback(model_dir)`` (the demo build) publishes a
    version instead and its path is returned.
    """
    from model_export.publish import existing_versions

    existing = tuple(existing_versions(model_dir))
    if existing:
        log.info(
            "model already has a version; nothing to do",
            extra={"path": str(model_dir), "versions": list(existing)},
        )
        return DefaultModelResult(model_dir, "existing", existing=existing)
    url = default_url() if base_url is None else base_url
    try:
        if not url:
            raise DownloadError("disabled", f"{DEFAULT_URL_ENV} is empty: no download")
        calibration = shipped_calibration() if arch == DEFAULT_ARCH else IDENTITY
        path, threshold = import_downloaded_mesonet(
            model_dir, base_url=url, arch=arch, timeout_s=timeout_s, calibration=calibration
        )
        return DefaultModelResult(
            model_dir, "download", path, arch=arch, threshold=threshold, calibration=calibration
        )
    except DownloadError as exc:
        reason = exc.reason
        # Structured, so that a log search finds why the demo is being served.
        log.warning(
            "no detector downloaded (%s: %s); building the demo instead",
            exc.reason,
            exc,
            extra={
                "event": "default_model_fallback",
                "reason": exc.reason,
                "error": str(exc),
                "url": url,
                "path": str(model_dir),
            },
        )
    return DefaultModelResult(model_dir, "demo", fallback(model_dir), reason=reason)


def default_model_lines(result: DefaultModelResult) -> list[str]:
    """What ``default-model`` prints about the resolution."""
    if result.source == "existing":
        return [f"{result.model_dir} already holds version(s) {list(result.existing)}; skipped"]
    if result.source == "download":
        calibration = result.calibration or IDENTITY
        how = (
            "not calibrated (no shipped constants for this architecture)"
            if calibration.is_identity
            else f"shipped calibration: Platt a={calibration.a:.4f} b={calibration.b:.4f}, "
            f"probabilities in [{calibration.floor:g}, {1 - calibration.floor:g}], fitted on "
            f"{calibration.videos} labelled videos (docs/model-quality.md)"
        )
        return [
            f"published MesoNet {result.arch} ({MESONET_REPOSITORY}@{MESONET_COMMIT[:12]}, "
            f"sha256 verified) at {result.path}",
            f"threshold {result.threshold:.4f}; {how}",
        ]
    return [f"no detector could be downloaded ({result.reason}); published the DEMO instead"]
