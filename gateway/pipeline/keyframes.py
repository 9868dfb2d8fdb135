"""The keyframe schedule: faces detected on a few sampled frames, followed on the others.

A face-aware version finds faces with MTCNN, a large part of its cost, and faces move little
between neighbouring sampled frames. Versions that split ``serving_default`` into
``detect_faces`` and ``classify_boxes`` (:mod:`contract`) let the gateway detect on keyframes
only, every ``GATEWAY_FACE_DETECT_EVERY``-th sampled frame and always the last one, on copies
downscaled (area mean, :func:`downscale`) so that their shorter side is at most
``GATEWAY_FACE_DETECT_SIDE`` pixels; frames between two keyframes get boxes interpolated
between the two detections (:mod:`contract.face_schedule`, the one rule, which
``bench.face_recall`` measures); then every frame, at the size decoded, is cut and scored by
``classify_boxes``. A frame between keyframes
reports the detection score of the keyframe its box came from (the nearer one).

Why here and not in the graph: TF Serving's batching concatenates the frames of different
requests, and so of different videos, along the batch dimension; the graph cannot know which
frames are neighbours in time. The gateway does.

Pipelining: each decoded batch's keyframes go to ``detect_faces`` at once; the frames up to
the batch's last keyframe go to ``classify_boxes`` as soon as the detections they need are
back, while later frames decode. A frame waits at most for the next keyframe, ``every`` frames
on. Versions without the signatures answer so to the first ``detect_faces`` call; the client
remembers it per version
(:meth:`~gateway.upstream.serving_client.ServingClient.detect_faces`) and the pipeline
scores with ``serving_default`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

import contract
from contract.face_schedule import Faces, between, detect_shape, keyframes, padded

from ..errors import InferenceFailed, ModelNotFound
from ..upstream.serving_client import ServingClient, let_finish
from ..upstream.serving_types import ModelRef, Prediction
from .video import SampledFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyframePlan:
    """How faces are found: on every ``every``-th sampled frame, at most ``side`` pixels on the
    shorter side (0: at the size decoded)."""

    every: int = 1
    side: int = 0

    @property
    def active(self) -> bool:
        """Whether the plan differs from detecting on every frame as decoded."""
        return self.every > 1 or self.side > 0


def downscale(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` with its shorter side at most ``side`` pixels, aspect kept.

    Each output pixel is the mean of the input area it covers (what OpenCV's ``INTER_AREA``
    computes when shrinking), in numpy: the gateway image carries no imaging library.
    """
    h, w = image.shape[:2]
    th, tw = detect_shape(h, w, side)
    if (th, tw) == (h, w):
        return image
    out = _area_mean(_area_mean(image.astype(np.float64), th, axis=0), tw, axis=1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _area_mean(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``a`` shrunk to ``size`` along ``axis``: means over equal (fractional) intervals, from
    the running sum read off at each interval's edges."""
    src = a.shape[axis]
    x = np.moveaxis(a, axis, 0)
    total = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])
    scale = src / size
    edges = np.arange(size + 1) * scale
    index = np.minimum(np.floor(edges).astype(np.int64), src - 1)
    frac = (edges - index).reshape(-1, *([1] * (x.ndim - 1)))
    running = total[index] + frac * x[index]
    return np.moveaxis((running[1:] - running[:-1]) / scale, 0, axis)


def keyframe_scorer(
    client: ServingClient,
    model: ModelRef,
    plan: KeyframePlan,
    count: int,
    batch_size: int,
    on_scored: Callable[[int], None] | None = None,
) -> KeyframeScorer | None:
    """The keyframe schedule for a video of ``count`` sampled frames scored by ``model``;
    None for detection on every frame by ``serving_default``: the plan asks for it, the
    version is not pinned (no ``model_info``), or it is known to have no ``detect_faces``."""
    if not plan.active or model.version is None or client.lacks_detect_faces(model):
        return None
    return KeyframeScorer(client, model, plan, count, batch_size, on_scored)


async def score_frames(
    client: ServingClient,
    model: ModelRef,
    plan: KeyframePlan,
    batch_size: int,
    frames: list[SampledFrame],
) -> list[Prediction]:
    """Every frame of ``frames`` (a short run known in full, such as a live session's
    batch) scored by ``model``: on the keyframe schedule ``plan`` when it is active and the
    version has ``detect_faces``, else by ``serving_default`` in batches of ``batch_size``.
    The answers are in frame order, as :func:`gateway.pipeline.answers.read_frames` reads them."""
    scorer = keyframe_scorer(client, model, plan, len(frames), batch_size)
    if scorer is not None:
        try:
            if await scorer.add(frames):
                return await scorer.finish()
        finally:
            scorer.abandon()
    answers = []
    for start in range(0, len(frames), batch_size):
        part = np.stack([f.image for f in frames[start : start + batch_size]])
        answers.append(await client.predict(model, {contract.FRAMES_INPUT: part}))
    return answers


class KeyframeScorer:
    """Scores one video's sampled frames on the keyframe schedule, batch by batch.

    Call :meth:`add` with each decoded batch (in order), then :meth:`finish` for the answers,
    one :class:`Prediction` per ``classify_boxes`` call, in frame order.
    """

    def __init__(
        self,
        client: ServingClient,
        model: ModelRef,
        plan: KeyframePlan,
        count: int,
        batch_size: int,
        on_scored: Callable[[int], None] | None = None,
    ) -> None:
        """``count`` is the number of frames sampled (the last is a keyframe); ``model`` is
        pinned to one version; ``on_scored`` hears how many frames each answer scored."""
        self.on_scored = on_scored
        self.client = client
        self.model = model
        self.plan = plan
        self.batch_size = batch_size
        self.keys = set(keyframes(count, plan.every))
        self.frames: list[SampledFrame] = []
        #: The detection of each keyframe, as a task (requests run while frames decode).
        self._found: dict[int, asyncio.Task[Faces]] = {}
        self._requests: list[asyncio.Task[Prediction | None]] = []
        self._classified: list[asyncio.Task[list[Prediction]]] = []
        #: Frames before this index are in a classify_boxes call already.
        self._done = 0
        #: The last keyframe with a detection asked for.
        self._last_key = -1
        self._slots = 0
        self._abandoned = False
        self.detect_s = 0.0

    async def add(self, batch: list[SampledFrame]) -> bool:
        """Take the next decoded frames; False when the version has no ``detect_faces``
        (learnt on the first batch; nothing was sent for scoring then)."""
        start = len(self.frames)
        self.frames.extend(batch)
        keys = [i for i in range(start, len(self.frames)) if i in self.keys]
        if not keys:
            return True
        task = asyncio.create_task(self._detect(keys))
        self._requests.append(task)
        if self._last_key < 0:
            # The first answer says whether the version has the signatures at all.
            try:
                if await asyncio.shield(task) is None:
                    return False
            except ModelNotFound:
                # Gone already (a hot swap): serving_default's path finds that out and rescores.
                return False
        for key in keys:
            self._found[key] = asyncio.create_task(self._pick(task, keys, key))
        self._schedule_through(keys[-1])
        return True

    async def finish(self) -> list[Prediction]:
        """The ``classify_boxes`` answers for every frame added, in frame order.

        A stream shorter than its sample (truncated) ends on a frame that was no keyframe:
        that frame is detected on too, so that the last frames have a detection after them.
        """
        last = len(self.frames) - 1
        if last > self._last_key:
            task = asyncio.create_task(self._detect([last]))
            self._requests.append(task)
            self._found[last] = asyncio.create_task(self._pick(task, [last], last))
            self._schedule_through(last)
        answers = await asyncio.gather(*self._classified)
        return [p for part in answers for p in part]

    def abandon(self) -> None:
        """Stop waiting for the requests still in flight (an error, or the answers are in).

        They are left to end by their deadlines rather than cancelled: cancelling a
        ``grpc.aio`` call mid-batch leaks its native operations (see :func:`let_finish`).
        No call is sent after this.
        """
        self._abandoned = True
        for task in (*self._requests, *self._found.values(), *self._classified):
            if not task.done():
                let_finish(task)

    def _schedule_through(self, key: int) -> None:
        """Send frames ``_done .. key`` for scoring once their detections are back."""
        previous = self._last_key
        self._last_key = key
        first = self._done
        self._done = key + 1
        self._classified.append(asyncio.create_task(self._classify(previous, first, key)))

    async def _detect(self, keys: list[int]) -> Prediction | None:
        images = np.stack([downscale(self.frames[i].image, self.plan.side) for i in keys])
        started = time.perf_counter()
        try:
            return await self.client.detect_faces(self.model, images)
        finally:
            self.detect_s += time.perf_counter() - started

    async def _pick(
        self, task: asyncio.Task[Prediction | None], keys: list[int], key: int
    ) -> Faces:
        """Keyframe ``key``'s faces from the ``detect_faces`` answer to ``keys``."""
        answer = await task
        if answer is None:
            raise InferenceFailed(f"the version stopped answering {contract.DETECT_SIGNATURE!r}")
        row = keys.index(key)
        try:
            boxes = np.asarray(answer.outputs[contract.FACE_BOXES])
            scores = np.asarray(answer.outputs[contract.FACE_SCORES])
            count = np.asarray(answer.outputs[contract.FACE_COUNT]).reshape(-1)
            self._slots = max(self._slots, int(boxes.shape[1]))
            return Faces.of(boxes[row], scores[row], int(count[row]))
        except (KeyError, IndexError, ValueError) as exc:
            raise InferenceFailed(
                f"the version's {contract.DETECT_SIGNATURE!r} answer is malformed"
            ) from exc

    async def _classify(self, previous: int, first: int, key: int) -> list[Prediction]:
        """Score frames ``first .. key``: keyframes as found, the others from the two
        keyframes around them (``previous`` is the keyframe before ``first``, or -1)."""
        known = sorted(k for k in self._found if previous <= k <= key)
        results = await asyncio.gather(*(self._found[k] for k in known))
        found = dict(zip(known, results, strict=True))
        faces: dict[int, Faces] = {}
        for a, b in pairwise(known):
            for i, between_faces in enumerate(between(found[a], found[b], b - a), start=a + 1):
                faces[i] = between_faces
        faces.update(found)
        rows = list(range(first, key + 1))
        answers: list[Prediction] = []
        for start in range(0, len(rows), self.batch_size):
            if self._abandoned:
                break
            part = rows[start : start + self.batch_size]
            boxes, scores, count = padded([faces[i] for i in part], max(1, self._slots))
            answers.append(
                await self.client.classify_boxes(
                    self.model,
                    np.stack([self.frames[i].image for i in part]),
                    boxes,
                    scores,
                    count,
                )
            )
            if self.on_scored is not None:
                self.on_scored(len(part))
        return answers
