"""The other inputs on one gateway and version: a still image against a clip, and live.

* Image against clip: ``POST /v1/detect`` of a JPEG of a face (a frame of the 720p bench
  clip) and of the 10-second 720p clip itself, alternating so that load from other programs
  hits both alike; the medians compared.
* Live (:mod:`bench.live`): one ``/v1/live`` session at 5 frames/s of the same clip's frames
  as JPEGs, then the ramp of concurrent sessions.

On the face-aware version when the bench has one (a still image is most meaningful where a
face is found and classified), else on the demo model; the report says which.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import av
from PIL import Image

from . import live
from .clips import BenchClip
from .measurements import median
from .service import RequestResult, Service, detect

log = logging.getLogger("bench")

#: JPEG quality of the frames sent: a webcam's or a phone's usual.
JPEG_QUALITY = 90


@dataclass(frozen=True)
class InputsPlan:
    """How long and how often the inputs part measures."""

    pairs: int  # (image, clip) request pairs
    live_s: float  # the single live session's length, seconds
    ramp_s: float  # each ramp step's length, seconds
    ramp: tuple[int, ...]  # concurrent live sessions per step

    @property
    def stream_limit(self) -> int:
        """The ``GATEWAY_LIVE_STREAMS_PER_KEY`` the bench's gateway is given."""
        return max(self.ramp, default=1)

    def gateway_env(self) -> dict[str, str]:
        """The live limits raised for the ramp (one key holds every session)."""
        return {"GATEWAY_LIVE_STREAMS_PER_KEY": str(self.stream_limit)}


@dataclass(frozen=True)
class ImageVsClip:
    """Requests of a still image and of a clip, alternated."""

    image: list[RequestResult]
    clip: list[RequestResult]
    image_size: tuple[int, int]
    image_bytes: int
    clip_name: str
    clip_seconds: float

    @staticmethod
    def _ok(results: list[RequestResult]) -> list[float]:
        return [r.latency_ms for r in results if r.status == 200]

    @property
    def image_ms(self) -> float:
        return median(self._ok(self.image))

    @property
    def clip_ms(self) -> float:
        return median(self._ok(self.clip))

    @property
    def ratio(self) -> float:
        """The image's median time as a share of the clip's (NaN when either has none)."""
        return self.image_ms / self.clip_ms if self.clip_ms else float("nan")

    @property
    def failed(self) -> int:
        return sum(r.status != 200 for r in self.image + self.clip)


@dataclass
class InputsResults:
    """Everything the inputs part measured, and on what."""

    version: str  # which version, as the report says it
    image: ImageVsClip | None = None
    live: live.SessionRun | None = None
    ramp: live.Ramp | None = None
    plan: InputsPlan | None = None
    notes: list[str] = field(default_factory=list)


def clip_jpegs(path: Path, count: int, quality: int = JPEG_QUALITY) -> list[bytes]:
    """``count`` frames spread over the clip, each as a JPEG at the clip's size."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    step = max(1, len(frames) // count)
    out = []
    for image in frames[::step][:count]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        out.append(buffer.getvalue())
    return out


def measure_image_vs_clip(
    service: Service, image: bytes, clip: BenchClip, pairs: int
) -> ImageVsClip:
    """``pairs`` (image, clip) requests in turn, after one unmeasured request of each."""
    data = clip.path.read_bytes()
    with service.client() as client:

        def still() -> RequestResult:
            return detect(client, image, "face.jpg", content_type="image/jpeg", part="image")

        # Unmeasured: the first use of a frame size costs extra everywhere.
        still()
        detect(client, data, clip.path.name)
        images, clips = [], []
        for i in range(pairs):
            log.info("image vs clip: pair %d of %d", i + 1, pairs)
            images.append(still())
            clips.append(detect(client, data, clip.path.name))
    with Image.open(io.BytesIO(image)) as opened:
        size = opened.size
    return ImageVsClip(images, clips, size, len(image), clip.name, clip.duration_s)


def measure_inputs(
    service: Service, clip: BenchClip, plan: InputsPlan, version: str
) -> InputsResults:
    """Image against clip, one live session, then the ramp, all on ``service``."""
    frames = clip_jpegs(clip.path, 25)
    results = InputsResults(version=version, plan=plan)
    # The middle frame as the still image: the face is well inside it.
    results.image = measure_image_vs_clip(service, frames[len(frames) // 2], clip, plan.pairs)
    log.info("live: one session at %.0f frames/s for %.0f s", live.FPS, plan.live_s)
    live.live_session(service, frames, 2.0)  # unmeasured: the live path's first frames
    results.live = live.live_session(service, frames, plan.live_s)
    results.ramp = live.ramp(
        service, frames, plan.ramp, plan.ramp_s, stream_limit=plan.stream_limit
    )
    return results
