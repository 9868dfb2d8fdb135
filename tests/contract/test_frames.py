"""The frame rules of ``contract.frames``: the size, the RGB conversion and the pick loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from contract.frames import DEFAULT_MAX_SIDE, Picker, scaled_size, to_rgb
from contract.sampling import Keyframe, KeyframeChoice

# --- the size -------------------------------------------------------------------------------


def test_the_default_cap_is_the_gateways() -> None:
    from gateway.settings import DEFAULT_FRAME_MAX_SIDE, Settings

    assert DEFAULT_MAX_SIDE == 640
    assert DEFAULT_FRAME_MAX_SIDE == DEFAULT_MAX_SIDE
    assert Settings.model_fields["frame_max_side"].default == DEFAULT_MAX_SIDE


@pytest.mark.parametrize(
    ("source", "max_side", "min_side", "sent"),
    [
        ((1280, 720), 640, 0, (640, 360)),  # no need stated: the cap alone
        ((1280, 720), 640, 96, (172, 96)),  # the shorter side just reaches the need (even)
        ((720, 1280), 640, 96, (96, 172)),
        ((1280, 720), 640, 500, (640, 360)),  # a need above the cap gets the cap
        ((100, 60), 640, 96, (100, 60)),  # never enlarged
        ((1921, 1081), 640, 96, (172, 96)),
        ((1921, 1081), 640, 0, (640, 360)),
    ],
)
def test_size_honours_the_cap_and_the_versions_need(source, max_side, min_side, sent) -> None:
    assert scaled_size(*source, max_side, min_side) == sent


def test_the_cap_is_the_default() -> None:
    assert scaled_size(1920, 1080) == (640, 360)
    assert scaled_size(1920, 1080, min_side=224) == (400, 224)


# --- the pixels -----------------------------------------------------------------------------


def _first_frame(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


def test_rgb_at_the_frames_own_size_is_ffmpegs_conversion(make_clip) -> None:
    frame = _first_frame(make_clip(width=160, height=96, frames=2))
    image = to_rgb(frame, (160, 96), 0)
    assert image.dtype == np.uint8 and image.shape == (96, 160, 3)
    assert np.array_equal(image, frame.to_ndarray(format="rgb24"))


def test_rgb_is_scaled_then_turned_upright(make_clip) -> None:
    frame = _first_frame(make_clip(width=160, height=96, frames=2))
    flat = to_rgb(frame, (80, 48), 0)
    turned = to_rgb(frame, (80, 48), 90)
    assert flat.shape == (48, 80, 3) and turned.shape == (80, 48, 3)
    assert np.array_equal(turned, np.rot90(flat, k=-1))
    # The marker square the clips draw top-left ends up top-right after a clockwise turn.
    assert turned[:4, -4:].mean() > 200 and turned[:4, :4].mean() < 200


# --- the pick loop --------------------------------------------------------------------------

#: Ten frames at 10 fps.
FRAMES = [round(0.1 * i, 1) for i in range(10)]


def _run(picker: Picker) -> list[float]:
    """The frame time each target got, feeding ``FRAMES`` in order."""
    out: list[float] = []
    for t in FRAMES:
        out += [t] * picker.take(t)
        if picker.done:
            break
    return out


def test_without_keyframes_a_target_gets_the_frame_nearest_it() -> None:
    assert _run(Picker([0.0, 0.149, 0.151, 0.5], fps=10.0)) == [0.0, 0.1, 0.2, 0.5]


def test_one_frame_serves_several_targets_and_order_is_kept() -> None:
    picker = Picker([0.0, 0.01, 0.02, 0.3], fps=10.0)
    assert picker.take(0.0) == 3
    assert picker.earliest_s() == pytest.approx(0.25)
    assert picker.take(0.1) == 0 and picker.take(0.2) == 0
    assert picker.take(0.3) == 1
    assert picker.done and picker.earliest_s() == float("inf")


def test_a_target_with_a_keyframe_gets_exactly_that_frame() -> None:
    key = Keyframe(pts=5, t_s=0.5)
    choices = [KeyframeChoice(None, None), KeyframeChoice(key, key), KeyframeChoice(None, key)]
    picker = Picker([0.0, 0.32, 0.6], fps=10.0, choices=choices)
    assert picker.choice().picked is None
    picker.take(0.0)
    assert picker.choice().start == key
    assert picker.earliest_s() == pytest.approx(0.5, abs=1e-5)
    # 0.3 is the frame nearest 0.32, but the target picks its keyframe.
    assert _run(picker) == [0.5, 0.6]


def test_picked_times_never_decrease() -> None:
    # A keyframe target, then one whose own frame would lie before that keyframe.
    key = Keyframe(pts=6, t_s=0.6)
    choices = [KeyframeChoice(key, key), KeyframeChoice(None, None)]
    picked = _run(Picker([0.5, 0.55], fps=10.0, choices=choices))
    assert picked == [0.6, 0.6]


def test_one_choice_per_target() -> None:
    with pytest.raises(ValueError, match="one keyframe choice per target"):
        Picker([0.0, 1.0], fps=10.0, choices=[KeyframeChoice(None, None)])


def test_the_frame_rules_never_import_tensorflow_or_a_program() -> None:
    code = (
        "import sys, contract.frames; "
        "bad = {'tensorflow', 'gateway', 'model_export', 'serving'} & "
        "{m.split('.')[0] for m in sys.modules}; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
