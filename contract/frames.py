"""Which pixels a sampled frame holds: its size, its RGB conversion, its orientation, and
which decoded frame serves which sample time.

What :mod:`contract.sampling` does for time, this module does for size and pixels, so that
training, the face cache, calibration, evaluation, the ensemble fit, the bench and the
gateway all score the same pixels. It holds:

* :data:`DEFAULT_MAX_SIDE` and :func:`scaled_size`, the size a frame is used at: never
  enlarged, the longer side at most the cap (the gateway's ``GATEWAY_FRAME_MAX_SIDE``
  defaults to :data:`DEFAULT_MAX_SIDE`), and no larger than a version's ``frame_min_side``
  (``model_info``; 0 when it states none) needs;
* :func:`to_rgb`, the one conversion from a decoded PyAV frame to upright ``uint8`` RGB at
  that size (one swscale call, then the display rotation: :func:`display_rotation`,
  :func:`upright`);
* :class:`Picker`, the one pick loop: fed decoded frame times in order, it says how many
  sample targets each frame serves, by :func:`contract.sampling.picks` and the keyframe
  rule of :func:`contract.sampling.keyframe_choices`.

The gateway's decoder (``gateway.pipeline.video.iter_frames``, which adds seeking and skipping),
``model_export.video_io.decode_samples`` and the bench's reference decoders all call these.
Needs PyAV and numpy, no TensorFlow, nor ``gateway``, ``model_export`` or ``serving``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import av
import numpy as np

from . import sampling
from .sampling import KeyframeChoice

#: Longest side, in pixels, of the frames a model is given unless told otherwise: the
#: gateway's default ``GATEWAY_FRAME_MAX_SIDE``, and what training and evaluation decode at.
DEFAULT_MAX_SIDE = 640


def scaled_size(
    width: int, height: int, max_side: int = DEFAULT_MAX_SIDE, min_side: int = 0
) -> tuple[int, int]:
    """The ``(width, height)`` a ``width`` x ``height`` frame is used at.

    Never enlarged, the longer side at most ``max_side``, and no larger than needed for
    the shorter side to reach ``min_side`` (a version's ``frame_min_side``; 0 for no
    need). Sides are even, which keeps swscale on its fast paths.
    """
    cap = min(1.0, max_side / max(width, height))
    need = min_side / min(width, height) if min_side > 0 else cap
    if need < cap:
        # Round up so that the shorter side still reaches min_side; never past the cap.
        def side(n: int) -> int:
            return max(2, min(int(n * cap) // 2 * 2, math.ceil(n * need / 2) * 2))
    else:

        def side(n: int) -> int:
            return max(2, int(n * cap) // 2 * 2)

    return side(width), side(height)


def to_rgb(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> np.ndarray:
    """``frame`` as upright ``uint8`` RGB ``[H, W, 3]``: scaled to ``size`` (width, height,
    before rotation) and converted in one swscale call, then turned ``rotation`` degrees
    clockwise."""
    width, height = size
    image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return upright(image, rotation)


def display_rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame | None) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn a decoded frame upright.

    As FFmpeg's autorotate: the frame's display matrix (side data) when present, else the
    stream's legacy ``rotate`` tag.
    """
    angle = 0.0
    if first is not None and first.rotation:
        angle = float(first.rotation)
    else:
        tag = stream.metadata.get("rotate")
        if tag is not None:
            try:
                return round(float(tag) / 90.0) * 90 % 360
            except ValueError:
                pass
    # The display matrix holds a counter-clockwise angle; FFmpeg turns the frame by -angle.
    return round(-angle / 90.0) * 90 % 360


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` ``[H, W, C]`` turned ``rotation`` degrees clockwise (contiguous)."""
    if not rotation:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


class Picker:
    """The pick loop: which sample targets each decoded frame serves.

    Fed the times of decoded frames in presentation order (:meth:`take`), it serves the
    sorted ``targets`` one after the other: a target the keyframe rule gave a keyframe
    (``choices``, from :func:`contract.sampling.keyframe_choices`) is served by the first
    frame at or after that keyframe's time, i.e. the keyframe itself; any other target by
    the first frame :func:`contract.sampling.picks` accepts. One frame may serve several
    targets, and since targets are served in order the picked times never decrease.
    Without ``choices`` it is the rule without keyframes.
    """

    def __init__(
        self,
        targets: Sequence[float],
        fps: float,
        choices: Sequence[KeyframeChoice] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.fps = fps
        self.choices = (
            list(choices) if choices is not None else [KeyframeChoice(None, None)] * len(targets)
        )
        if len(self.choices) != len(self.targets):
            raise ValueError("one keyframe choice per target is needed")
        #: Index of the next target to serve.
        self.next = 0

    @property
    def done(self) -> bool:
        """Every target has been served."""
        return self.next >= len(self.targets)

    def choice(self) -> KeyframeChoice:
        """The keyframe rule's choice for the next target (only while not :attr:`done`)."""
        return self.choices[self.next]

    def earliest_s(self) -> float:
        """The earliest frame time that may serve the next target (``inf`` when done)."""
        if self.done:
            return math.inf
        picked = self.choices[self.next].picked
        if picked is not None:
            return picked.t_s - sampling.KEYFRAME_SLACK_S
        return self.targets[self.next] - sampling.half_frame_s(self.fps)

    def _serves(self, t_s: float, i: int) -> bool:
        picked = self.choices[i].picked
        if picked is not None:
            return t_s + sampling.KEYFRAME_SLACK_S >= picked.t_s
        return sampling.picks(t_s, self.targets[i], self.fps)

    def take(self, t_s: float) -> int:
        """Serve with the frame at ``t_s`` every target it can; how many (0: not picked)."""
        start = self.next
        while self.next < len(self.targets) and self._serves(t_s, self.next):
            self.next += 1
        return self.next - start

    @classmethod
    def for_stream(
        cls,
        index: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        targets: Sequence[float],
        fps: float,
    ) -> Picker:
        """A picker for ``targets`` of ``stream`` with the keyframe rule, looked up on
        ``index`` (a handle on the file that no decoder uses)."""
        return cls(targets, fps, sampling.keyframe_choices(index, stream, list(targets)))
