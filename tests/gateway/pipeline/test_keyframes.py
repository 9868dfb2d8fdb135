"""The keyframes' downscaling: OpenCV's INTER_AREA in numpy (the gateway has no cv2)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.pipeline.keyframes import KeyframePlan, downscale
from tests.videos import face_frames


@pytest.mark.parametrize(
    ("size", "side"), [((480, 640), 360), ((640, 480), 360), ((512, 512), 360), ((360, 640), 240)]
)
def test_downscale_is_opencv_inter_area(size: tuple[int, int], side: int) -> None:
    h, w = size
    image = face_frames(1, w, h, faces=1, seed=2)[0]
    small = downscale(image, side)
    assert min(small.shape[:2]) == side and small.dtype == np.uint8
    reference = cv2.resize(image, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    difference = np.abs(small.astype(int) - reference.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.05


def test_downscale_never_enlarges_and_plan_activity() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    assert downscale(image, 360) is image and downscale(image, 0) is image
    assert not KeyframePlan(1, 0).active
    assert KeyframePlan(2, 0).active and KeyframePlan(1, 360).active
