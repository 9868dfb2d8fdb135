"""Agreement with the mtcnn package on real clips from ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bench.face_reference import Agreement, graph_faces, package_faces, sample_frames
from model_export.faces import detect_faces

FOLDERS = (
    "dfdc_icpr2020dfdc",
    "ffpp-c23_icpr2020dfdc",
    "deeperforensics-challenge",
    "hdtf_sadtalker",
)
FRAMES_PER_CLIP = 4


@pytest.mark.slow
def test_iou_agreement_with_package_on_shared_clips(shared_data, package_detector, record_property):
    """IoU >= 0.5 for at least 95% of the package's faces with confidence >= 0.9."""
    detect = tf.function(
        lambda frames: detect_faces(frames, max_faces=16),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    agreement = Agreement()
    for folder in FOLDERS:
        clips = sorted((shared_data / folder).glob("*.mp4"))
        assert clips, f"no clips in {shared_data / folder}"
        frames = sample_frames(clips[0], FRAMES_PER_CLIP)
        assert frames.shape[0] == FRAMES_PER_CLIP
        boxes, scores, count = (t.numpy() for t in detect(frames))
        ours = graph_faces(boxes, scores, count, *frames.shape[1:3])
        agreement.add(package_faces(frames, package_detector), ours)

    record_property("faces_matched", agreement.matched)
    record_property("faces_total", agreement.total)
    record_property("mean_iou", float(np.mean(agreement.ious)))
    # Every sampled frame of these clips shows at least one face.
    assert agreement.total >= len(FOLDERS) * FRAMES_PER_CLIP
    assert agreement.rate >= 0.95, (
        f"{agreement.matched}/{agreement.total} package faces matched, IoUs {agreement.ious}"
    )
