"""``python -m bench`` (``make bench``): how fast a video becomes a verdict, against the naive way.

Order of work, all in one run so that every figure comes from the same machine state:

1. clips: synthetic 480p / 720p / 1080p (cached in ``var/bench/``) and a few real ones;
2. decoders: OpenCV vs PyAV (and PyAV tuned) on the 32 sampled frames of every clip;
3. the demo SavedModel loaded in process, local Serving and the gateway started;
4. per clip, in rounds so that load from other programs hits all three alike: the naive
   pipeline, the sequential reference, and requests to the service at concurrency 1;
5. throughput of the service at concurrency 1, 2, 4 and 8 on the 720p clip;
6. a face-aware version (when ``../shared/data`` holds its weights): against the reference
   and the ``mtcnn`` package pipeline, cost against length (720p clips of 10 s, 1 min and
   10 min), throughput at concurrency 1 to 8 and the per-stage CPU that bounds it
   (:mod:`bench.face_aware`);
7. a still image against the 10-s 720p clip, one ``/v1/live`` stream's frame-to-score
   latency at 5 frames/s and how many such streams one gateway holds, on the face-aware
   version when there is one, else the demo model (:mod:`bench.inputs`, :mod:`bench.live`);
8. in process: receipt signing and member costs (:mod:`bench.receipts`, :mod:`bench.track_members`);
9. the report: printed, and written to ``bench/results/<UTC time>.md`` and ``latest.md``;
   it ends with the summary ratio lines.

``--quick`` measures everything once, with the length clips cut to 10 s and 20 s (no 1-min
or 10-min clip), so its length ratio line reads n/a, and shorter live runs.
``--only inputs`` runs step 7 alone (with the 720p clip it needs).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from model_export.paths import model_base_path
from model_export.paths import model_name as served_model_name

from . import report
from .clips import all_clips, length_clip, synth_clip
from .decode import compare_decoders
from .face_aware import DESCRIPTION as FACE_DESCRIPTION
from .face_aware import MODEL_NAME as FACE_MODEL_NAME
from .face_aware import FacePlan, face_aware_base, measure_face_aware
from .inputs import InputsPlan, InputsResults, measure_inputs
from .measurements import HEADLINE_CLIP, BenchResults, ClipResult
from .naive import InProcessModel, latest_version, run_naive, run_reference, size_drift
from .receipts import measure_signing
from .service import (
    CpuShare,
    MemorySampler,
    detect,
    load_run,
    measured_detect,
    running_service,
)
from .settings import GatewayDefaults, gateway_defaults
from .track_members import measure_for

log = logging.getLogger("bench")

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 2, 4, 8)
#: Admission limits raised so that eight concurrent videos are all accepted.
GATEWAY_ENV = {"GATEWAY_MAX_IN_FLIGHT": "8", "GATEWAY_MAX_QUEUE": "8"}


@dataclass(frozen=True)
class Plan:
    """How many times each thing is measured."""

    rounds: int  # per clip; a round is one naive run, then ``pairs`` (reference, service) pairs
    pairs: int  # pairs per round on most clips
    pairs_headline: int  # ... and on the 720p clip (its p95 needs more requests)
    decode_repeats: int  # runs per decoder on the synthetic clips
    decode_repeats_shared: int  # ... and on the real clips (fewer, to stay within time)
    load_requests: int  # requests per concurrency level
    face: FacePlan  # the face-aware part
    lengths_s: tuple[int, ...]  # durations of the 720p length clips, seconds
    inputs: InputsPlan  # the still image and live part

    @classmethod
    def full(cls) -> Plan:
        return cls(
            rounds=3,
            pairs=3,
            pairs_headline=7,
            decode_repeats=5,
            decode_repeats_shared=3,
            load_requests=24,
            face=FacePlan(
                pairs=4, package_runs=3, package_real_clips=False, length_rounds=3, load_requests=8
            ),
            lengths_s=(10, 60, 600),
            inputs=InputsPlan(
                pairs=7, live_s=30, ramp_s=20, ramp=(1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64)
            ),
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            rounds=1,
            pairs=2,
            pairs_headline=2,
            decode_repeats=1,
            decode_repeats_shared=1,
            load_requests=4,
            face=FacePlan(
                pairs=1,
                package_runs=1,
                package_real_clips=False,
                length_rounds=1,
                load_requests=4,
                concurrency=(1, 4),  # 4: the level the limit ratio is taken at
            ),
            lengths_s=(10, 20),
            inputs=InputsPlan(pairs=3, live_s=10, ramp_s=8, ramp=(1, 2, 4, 8, 16, 32)),
        )


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _commit() -> str:
    dirty = _git(
        "status", "--porcelain", "--", "gateway", "serving", "contract", "bench", ":!bench/results"
    )
    return _git("rev-parse", "--short", "HEAD") + (
        " (with uncommitted changes in gateway, serving, contract or bench)" if dirty else ""
    )


def _meta(
    stamp: str, version: int, model_dir: Path, plan: Plan, defaults: GatewayDefaults
) -> dict[str, str]:
    import av
    import cv2
    import tensorflow as tf

    return {
        "timestamp": stamp,
        "commit": _commit(),
        "machine": f"{os.cpu_count()} CPUs, {_cpu_model()}",
        "load average at start (1/5/15 min)": _load(),
        "model": f"{model_dir} version {version} (the demo model)",
        "gateway settings": (
            f"frames={defaults.frames}, batch={defaults.batch_size}, "
            f"max_side={defaults.max_side}, aggregation={defaults.aggregation}; "
            f"frames sent with their shorter side at {defaults.min_side or 'any'} pixels "
            "(the version's model_info); "
            "GATEWAY_MAX_IN_FLIGHT=8, GATEWAY_MAX_QUEUE=8 for the bench"
        ),
        "serving": "python -m serving with default flags (no server-side batching)",
        "versions": (
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"PyAV {av.__version__}, OpenCV {cv2.__version__}"
        ),
        "repetitions": (
            f"per clip {plan.rounds} naive runs and {plan.rounds * plan.pairs} reference + "
            f"service pairs ({plan.rounds * plan.pairs_headline} on 720p), run interleaved; "
            f"{plan.decode_repeats} runs per decoder ({plan.decode_repeats_shared} on the "
            f"real clips); {plan.load_requests} requests per "
            "concurrency level; face-aware: "
            f"{plan.face.pairs} reference + service pairs per clip, {plan.face.package_runs} "
            f"`mtcnn` package runs on 720p, {plan.face.length_rounds} rounds over the length "
            f"clips ({', '.join(f'{d} s' for d in plan.lengths_s)}), "
            f"{plan.face.load_requests} requests per concurrency level; still image: "
            f"{plan.inputs.pairs} image + clip pairs; live: one {plan.inputs.live_s:.0f}-s "
            f"session, ramp steps of {plan.inputs.ramp_s:.0f} s over "
            f"{', '.join(map(str, plan.inputs.ramp))} sessions"
        ),
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one pass of everything (a smoke test); results go to var/bench/",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="where to write the report (default bench/results, or var/bench/results with --quick)",
    )
    parser.add_argument("--clips-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="labelled real clips, used when present (%(default)s)",
    )
    parser.add_argument("--no-shared", action="store_true", help="synthetic clips only")
    parser.add_argument(
        "--only",
        choices=("inputs",),
        default=None,
        help="run one part alone: inputs = the still image and live streams",
    )
    return parser.parse_args(argv)


def _inputs(args: argparse.Namespace, plan: Plan, data_dir: Path | None) -> InputsResults:
    """Step 7 on a service of its own: the face-aware version when there is one."""
    clip = synth_clip(args.clips_dir, HEADLINE_CLIP)
    face_base = face_aware_base(data_dir, args.clips_dir)
    if face_base is not None:
        name, model_dir, what = FACE_MODEL_NAME, face_base / FACE_MODEL_NAME, FACE_DESCRIPTION
    else:
        name = served_model_name()
        model_dir, what = model_base_path() / name, "the demo model"
    env = {**GATEWAY_ENV, **plan.inputs.gateway_env()}
    (REPO / "var").mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-inputs-", dir=REPO / "var") as tmp,
        running_service(model_dir, name, Path(tmp), env) as service,
        CpuShare(service) as share,
    ):
        results = measure_inputs(service, clip, plan.inputs, f"{what}, version {service.version}")
    results.notes.append(
        f"CPU used by other programs meanwhile: {share.others_share * 100:.0f}% of the "
        "machine's cores; the clients ran in this process on the same cores."
    )
    return results


def _only_inputs(args: argparse.Namespace, plan: Plan, stamp: str, results_dir: Path) -> int:
    """``--only inputs``: step 7 and its report, nothing else."""
    started = time.monotonic()
    meta = {
        "timestamp": stamp,
        "commit": _commit(),
        "machine": f"{os.cpu_count()} CPUs, {_cpu_model()}",
        "load average at start (1/5/15 min)": _load(),
        "part": "`--only inputs`: the still image and live streams alone"
        + (" (`--quick`)" if args.quick else ""),
    }
    data_dir = None if args.no_shared else args.data_dir
    inputs = _inputs(args, plan, data_dir)
    meta["load average at end (1/5/15 min)"] = _load()
    results = BenchResults(
        meta=meta, clips=[], load=[], load_clip=HEADLINE_CLIP, memory={}, inputs=inputs,
        elapsed_s=time.monotonic() - started,
    )  # fmt: skip
    text = report.render(results, only_inputs=True)
    path = report.write(results_dir, text, stamp)
    log.info("written to %s and latest.md", path)
    print(text, end="", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    plan = Plan.quick() if args.quick else Plan.full()
    results_dir = args.results_dir or (
        REPO / "var" / "bench" / "results" if args.quick else REPO / "bench" / "results"
    )
    if args.only == "inputs":
        return _only_inputs(args, plan, stamp, results_dir)
    defaults = gateway_defaults()
    model_name = served_model_name()
    model_dir = model_base_path() / model_name
    version_dir, version = latest_version(model_dir)

    log.info("loading %s in process", version_dir)
    model = InProcessModel(version_dir)
    # The gateway sends frames at the size the version asks for; so do the in-process runs.
    defaults = replace(defaults, min_side=model.frame_min_side)

    log.info("clips")
    data_dir = None if args.no_shared else args.data_dir
    clips = [ClipResult(c) for c in all_clips(args.clips_dir, data_dir)]
    meta = _meta(stamp, version, model_dir, plan, defaults)

    with CpuShare() as share:
        for c in clips:
            log.info("decoders on %s", c.clip.name)
            repeats = plan.decode_repeats if c.clip.synthetic else plan.decode_repeats_shared
            c.decode = compare_decoders(c.clip.path, c.clip.name, defaults, repeats)
    meta["CPU used by other programs while decoders ran"] = f"{share.others_share * 100:.0f}%"

    for c in clips:
        c.drift = size_drift(c.clip.path, model, defaults)
    gateway_env = GATEWAY_ENV
    load_runs = []
    (REPO / "var").mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-", dir=REPO / "var") as tmp,
        running_service(model_dir, model_name, Path(tmp), gateway_env) as service,
        MemorySampler(service.pids()) as sampler,
    ):
        if service.version != version:
            log.warning("Serving answers version %s, in process is %s", service.version, version)
        for c in clips:
            data = c.clip.path.read_bytes()
            pairs = plan.pairs_headline if c.clip.name == HEADLINE_CLIP else plan.pairs
            with service.client() as client:
                # One unmeasured pass: first use of a frame size costs extra everywhere.
                run_reference(c.clip.path, model, defaults)
                detect(client, data, c.clip.path.name)
                with CpuShare(service) as share:
                    for i in range(plan.rounds):
                        log.info("%s: round %d of %d", c.clip.name, i + 1, plan.rounds)
                        c.naive.append(run_naive(c.clip.path, model))
                        # Reference and service alternate so that both see the same load.
                        for _ in range(pairs):
                            c.reference.append(run_reference(c.clip.path, model, defaults))
                            c.service.append(
                                measured_detect(service, client, data, c.clip.path.name)
                            )
                c.others_share = share.others_share
        load_clip = next(c for c in clips if c.clip.name == HEADLINE_CLIP)
        data = load_clip.clip.path.read_bytes()
        for concurrency in CONCURRENCY:
            log.info("throughput at concurrency %d", concurrency)
            load_runs.append(
                load_run(service, data, load_clip.clip.path.name, concurrency, plan.load_requests)
            )
    for name, peak in sampler.peak.items():
        service.memory[name].peak_sampled = peak

    face_aware = None
    face_base = face_aware_base(data_dir, args.clips_dir)
    if face_base is not None:
        # The 720p clip and the real ones: every one shows faces.
        face_clips = [c.clip for c in clips if c.clip.name == HEADLINE_CLIP]
        face_clips += [c.clip for c in clips if not c.clip.synthetic]
        lengths = [length_clip(args.clips_dir, d, f"720p {d} s") for d in plan.lengths_s]
        with tempfile.TemporaryDirectory(prefix="bench-face-", dir=REPO / "var") as tmp:
            face_aware = measure_face_aware(
                face_clips,
                face_base,
                defaults,
                Path(tmp),
                gateway_env,
                plan.face,
                lengths,
                HEADLINE_CLIP,
            )
    log.info("a still image and live streams")
    inputs = _inputs(args, plan, data_dir)
    meta["load average at end (1/5/15 min)"] = _load()
    # After the timed parts, in this process (signing, members): nothing else is measured.
    results = BenchResults(
        meta=meta,
        clips=clips,
        load=load_runs,
        load_clip=HEADLINE_CLIP,
        memory=service.memory,
        face_aware=face_aware,
        elapsed_s=time.monotonic() - started,
        receipt=measure_signing(),
        inputs=inputs,
        members=measure_for(face_base, version_dir, synth_clip(args.clips_dir, HEADLINE_CLIP).path),
    )
    text = report.render(results)
    path = report.write(results_dir, text, stamp)
    log.info("written to %s and latest.md", path)
    # The report ends with the summary lines, so they are the last lines printed.
    print(text, end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
