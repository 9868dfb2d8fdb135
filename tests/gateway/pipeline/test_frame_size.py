"""Frames go to Serving at the size the answering version asks for in ``model_info``.

The versions here report what they received: a frame's fake probability is its height
in pixels / 1000, so the gateway's response shows the size Serving was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import contract
from tests.conftest import MODEL_NAME, ServingHandle, launch_serving

THRESHOLD = 0.3
#: The ``frame_min_side`` of every version the tests below ask ``size_serving`` for.
SIZES_ASKED = (48, 1000, None, 0)


def publish_size_reporter(base: Path, *, frame_min_side: int | None) -> None:
    """Publish version 1 of a model whose score is the frame height / 1000.

    With ``frame_min_side`` None the version has no ``model_info`` signature, as a
    version exported by other tools.
    """
    import keras
    import tensorflow as tf

    from model_export.export import add_model_info, frames_spec
    from model_export.publish import publish_directory
    from model_export.warmup import warmup_requests, write_warmup

    def write(staging: Path) -> None:
        archive = keras.export.ExportArchive()

        @tf.function(input_signature=[frames_spec()])
        def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
            shape = tf.shape(frames)
            height = tf.cast(shape[1], tf.float32)
            return {
                contract.FAKE_PROBABILITY: tf.fill([shape[0]], height / 1000.0),
                contract.THRESHOLD: tf.fill([shape[0]], THRESHOLD),
            }

        archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
        if frame_min_side is not None:
            add_model_info(archive, threshold=THRESHOLD, frame_min_side=frame_min_side)
        archive.write_out(str(staging), verbose=False)
        requests = warmup_requests(
            MODEL_NAME, batch_sizes=(1,), with_model_info=frame_min_side is not None
        )
        write_warmup(staging / contract.WARMUP_RELATIVE_PATH, requests)

    publish_directory(write, base, MODEL_NAME, version=1)


@pytest.fixture(scope="module")
def size_serving(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[int | None], ServingHandle]]:
    """``size_serving(frame_min_side)``: a Serving of a size-reporting version.

    Every version the tests ask for is published and its Serving launched up front, so the
    Servings boot side by side (and beside the next export) instead of one after another.
    """
    launched: dict[int | None, ServingHandle] = {}
    ready: set[int | None] = set()

    def launch(frame_min_side: int | None) -> None:
        base = tmp_path_factory.mktemp("size-models")
        publish_size_reporter(base, frame_min_side=frame_min_side)
        launched[frame_min_side] = launch_serving(base / MODEL_NAME, base / "serving.log")

    def get(frame_min_side: int | None) -> ServingHandle:
        if frame_min_side not in launched:
            launch(frame_min_side)
        if frame_min_side not in ready:
            launched[frame_min_side].wait_ready()
            ready.add(frame_min_side)
        return launched[frame_min_side]

    try:
        for frame_min_side in SIZES_ASKED:
            launch(frame_min_side)
        yield get
    finally:
        for handle in launched.values():
            handle.process.stop()


def heights_sent(body: dict) -> set[int]:
    return {round(point["score"] * 1000) for point in body["timeline"]}


@pytest.mark.parametrize(
    ("width", "height", "rotation", "sent_height"),
    [
        (320, 240, None, 48),  # landscape: the shorter side (height) is brought to 48
        (240, 320, None, 64),  # portrait: the width is 48, the height follows the aspect
        (320, 240, 90, 64),  # rotated to portrait on display, as the gateway shows it
    ],
)
def test_frames_are_sent_at_the_size_the_version_needs(
    size_serving, gateway_factory, make_clip, width, height, rotation, sent_height
) -> None:
    gateway = gateway_factory(size_serving(48).target)
    clip = make_clip(width=width, height=height, rotation=rotation, frames=20)
    response = gateway.detect(clip)
    assert response.status_code == 200, response.text
    body = response.json()
    assert heights_sent(body) == {sent_height}
    # The threshold and the version come from the version that described itself.
    assert body["threshold"] == pytest.approx(THRESHOLD)
    assert body["model"]["version"] == 1


def test_never_larger_than_the_gateway_allows(size_serving, gateway_factory, make_clip) -> None:
    """A version that needs more than GATEWAY_FRAME_MAX_SIDE gets the cap, not an upscale."""
    gateway = gateway_factory(size_serving(1000).target, GATEWAY_FRAME_MAX_SIDE="160")
    response = gateway.detect(make_clip(width=320, height=240, frames=10))
    assert response.status_code == 200, response.text
    assert heights_sent(response.json()) == {120}


@pytest.mark.parametrize(
    "frame_min_side",
    [
        None,  # a version exported elsewhere, without model_info, keeps working
        0,  # "no preference" (face-aware versions)
    ],
    ids=["no-model-info", "no-preference"],
)
def test_otherwise_frames_go_at_the_gateway_size(
    size_serving, gateway_factory, make_clip, frame_min_side
) -> None:
    gateway = gateway_factory(size_serving(frame_min_side).target, GATEWAY_FRAME_MAX_SIDE="200")
    response = gateway.detect(make_clip(width=320, height=240, frames=10))
    assert response.status_code == 200, response.text
    body = response.json()
    assert heights_sent(body) == {150}
    assert body["threshold"] == pytest.approx(THRESHOLD)
    assert body["model"]["version"] == 1


@pytest.mark.parametrize(("width", "height"), [(320, 240), (240, 320)])
def test_with_a_canvas_whole_frame_versions_get_one_square_shape(
    size_serving, gateway_factory, make_clip, width, height
) -> None:
    """Batching needs one shape: stretched to the version's side, never letterboxed."""
    gateway = gateway_factory(size_serving(48).target, GATEWAY_FRAME_CANVAS="256")
    response = gateway.detect(make_clip(width=width, height=height, frames=10))
    assert response.status_code == 200, response.text
    assert heights_sent(response.json()) == {48}
