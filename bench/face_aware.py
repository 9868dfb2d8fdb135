"""The service with a face-aware version: MesoInception-4 imported from the shared weights.

The headline figures use the demo model (a whole-frame CNN), which the naive pipeline can
run on every frame. What users deploy is face-aware: the in-graph face detector runs on
every frame Serving receives, so inference weighs far more. This part measures that
version the same way (sequential reference against the service, in interleaved pairs), but
without the naive pipeline, which would run the face detector on all 300 full-size frames
of every clip (minutes per run). It runs only when ``../shared/data`` holds the weights.

Besides, on the same version:

* the user's alternative (:mod:`bench.mtcnn_pipeline`: the ``mtcnn`` package, margin
  crops and ``classify_faces`` in process), interleaved with the service;
* cost against length: 720p clips of 10 s, 1 min and 10 min, the same number of frames
  sampled from each, requests interleaved across the lengths;
* throughput at concurrency 1, 2, 4 and 8, and the per-stage CPU time the machine's limit
  is computed from (decode in process with the gateway's decoder; Serving's inference split
  into face detection and classification by timing the graph's parts in process).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import contract
from gateway.pipeline.probe import probe
from gateway.pipeline.video import DecodeStats, iter_frames, sample_times_of

from .clips import BenchClip
from .measurements import ClipResult
from .mtcnn_pipeline import FaceClassifier, InferenceSplit, run_mtcnn_package, split_inference
from .naive import InProcessModel, latest_version, run_reference
from .service import LoadRun, Service, detect, load_run, measured_detect, running_service
from .settings import GatewayDefaults

log = logging.getLogger("bench")

#: Published MesoInception-4 weights under the shared data folder.
WEIGHTS = Path("weights_mesonet_dariusaf") / "MesoInception_DF.h5"
#: Model name of the imported version under the bench's cache.
MODEL_NAME = "face"
#: What the report calls this version.
DESCRIPTION = "MesoInception-4 (`import-mesonet`, face-aware: in-graph MTCNN, 256x256 crops)"


def face_aware_base(data_dir: Path | None, cache_dir: Path) -> Path | None:
    """A model base path holding the imported face-aware version (imported once, then cached).

    None when the shared weights are not there.
    """
    if data_dir is None or not (data_dir / WEIGHTS).is_file():
        return None
    base = cache_dir / "models"
    model_dir = base / MODEL_NAME
    versions = [p for p in model_dir.glob("*") if contract.is_version_dir_name(p.name)]
    if not versions:
        log.info("importing %s as a face-aware version (once)", WEIGHTS)
        subprocess.run(
            [
                sys.executable, "-m", "model_export", "import-mesonet",
                "--weights", str(data_dir / WEIGHTS), "--arch", "mesoinception4",
                "--output", str(model_dir),
            ],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return base


@dataclass(frozen=True)
class FacePlan:
    """How many times each face-aware measurement is repeated."""

    pairs: int  # (reference, service) pairs per clip
    package_runs: int  # runs of the ``mtcnn`` package pipeline per clip (one after each pair)
    package_real_clips: bool  # the package pipeline on the real clips too, or on 720p only
    length_rounds: int  # rounds over the length clips, one request per clip per round
    load_requests: int  # requests per concurrency level
    concurrency: tuple[int, ...] = (1, 2, 4, 8)


@dataclass(frozen=True)
class LengthResult:
    """One length clip: requests to the service and what the gateway's decoder decodes."""

    clip: ClipResult
    #: Frames the gateway's decoder decodes for the sample (counted in process).
    decoded: int
    #: CPU ms of the gateway's probe and decode of the sample, in process (median of 2).
    probe_cpu_ms: float
    decode_cpu_ms: float


@dataclass
class FaceAwareResults:
    """Everything measured on the face-aware version."""

    clips: list[ClipResult] = field(default_factory=list)
    lengths: list[LengthResult] = field(default_factory=list)
    load: list[LoadRun] = field(default_factory=list)
    split: InferenceSplit | None = None
    #: CPU ms of probe + decode of the 720p sample with the gateway's code, in process.
    decode_cpu_ms: float = float("nan")
    frames: int = 0


def decode_cost(path: Path, defaults: GatewayDefaults) -> tuple[int, float, float]:
    """(frames decoded, probe CPU ms, decode CPU ms) of the gateway's code on ``path``.

    Decoded frames are counted by the decoder's own :class:`~gateway.pipeline.video.DecodeStats`;
    single-threaded, so that the CPU time is this thread's.
    """
    cpu0 = time.thread_time()
    info = probe(path, defaults.limits)
    cpu1 = time.thread_time()
    stats = DecodeStats()
    times = sample_times_of(info, defaults.frames)
    for _ in iter_frames(
        path, info, times, max_side=defaults.max_side, min_side=defaults.min_side, stats=stats
    ):
        pass
    cpu2 = time.thread_time()
    return stats.frames, (cpu1 - cpu0) * 1000.0, (cpu2 - cpu1) * 1000.0


def measure_face_aware(
    clips: list[BenchClip],
    base: Path,
    defaults: GatewayDefaults,
    var_dir: Path,
    gateway_env: dict[str, str],
    plan: FacePlan,
    length_clips: list[BenchClip] | None = None,
    headline: str = "720p",
) -> FaceAwareResults:
    """The face-aware measurements, all on one running service (see the module docstring)."""
    from mtcnn import MTCNN

    version_dir, _ = latest_version(base / MODEL_NAME)
    model = InProcessModel(version_dir)
    classifier = FaceClassifier(version_dir)
    detector = MTCNN()
    # Sized as the gateway sizes frames for this version (it states no side: the cap).
    sized = replace(defaults, min_side=model.frame_min_side)
    results = FaceAwareResults(frames=sized.frames)
    with running_service(base / MODEL_NAME, MODEL_NAME, var_dir, gateway_env) as service:
        for clip in clips:
            result = ClipResult(clip)
            data = clip.path.read_bytes()
            package = clip.name == headline or plan.package_real_clips
            with service.client() as client:
                # One unmeasured pass: the first use of a frame size costs extra everywhere.
                run_reference(clip.path, model, sized)
                detect(client, data, clip.path.name)
                if package:  # two frames build the package's functions; a clip takes minutes
                    run_mtcnn_package(clip.path, detector, classifier, 2)
                for i in range(plan.pairs):
                    log.info("face-aware %s: pair %d of %d", clip.name, i + 1, plan.pairs)
                    result.reference.append(run_reference(clip.path, model, sized))
                    result.service.append(measured_detect(service, client, data, clip.path.name))
                    if package and i < plan.package_runs:
                        result.package.append(
                            run_mtcnn_package(clip.path, detector, classifier, sized.frames)
                        )
            results.clips.append(result)
        head = next((c for c in clips if c.name == headline), None)
        if head is not None:
            results.decode_cpu_ms = float(
                np.median([decode_cost(head.path, sized)[2] for _ in range(2)])
            )
            info = probe(head.path, sized.limits)
            frames = np.stack(
                [
                    f.image
                    for f in iter_frames(
                        head.path,
                        info,
                        sample_times_of(info, sized.frames),
                        max_side=sized.max_side,
                    )
                ]
            )
            results.split = split_inference(classifier, frames, sized.batch_size)
        results.lengths = _measure_lengths(service, length_clips or [], sized, plan.length_rounds)
        if head is not None:
            data = head.path.read_bytes()
            for concurrency in plan.concurrency:
                log.info("face-aware throughput at concurrency %d", concurrency)
                results.load.append(
                    load_run(service, data, head.path.name, concurrency, plan.load_requests)
                )
    return results


def _measure_lengths(
    service: Service, clips: list[BenchClip], sized: GatewayDefaults, rounds: int
) -> list[LengthResult]:
    """Requests in rounds over the length clips (load drifts alike over all of them)."""
    if not clips:
        return []
    out = [ClipResult(c) for c in clips]
    data = {c.name: c.path.read_bytes() for c in clips}
    with service.client() as client:
        for c in clips:  # unmeasured: first use of the clip's frame size
            detect(client, data[c.name], c.path.name)
        for i in range(rounds):
            for r in out:
                log.info("face-aware length %s: round %d of %d", r.clip.name, i + 1, rounds)
                r.service.append(
                    measured_detect(service, client, data[r.clip.name], r.clip.path.name)
                )
    lengths = []
    for r in out:
        costs = [decode_cost(r.clip.path, sized) for _ in range(2)]
        lengths.append(
            LengthResult(
                r,
                decoded=costs[0][0],
                probe_cpu_ms=float(np.median([c[1] for c in costs])),
                decode_cpu_ms=float(np.median([c[2] for c in costs])),
            )
        )
    return lengths
