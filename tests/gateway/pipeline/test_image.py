"""Still images: told by their bytes, probed from the header, decoded upright through the
frame rule every video frame follows (no gateway process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.errors import ImageTooLarge, InvalidImage, InvalidVideo, VideoLimitExceeded
from gateway.pipeline.budget import DecodeBudget, DecodeLimits
from gateway.pipeline.image import sniff_image_type
from gateway.pipeline.probe import VideoLimits
from gateway.pipeline.sources import iter_upload_frames, probe_upload
from gateway.pipeline.video import sample_times_of
from tests.images import face_scene, png_bomb, write_image

LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)
SUFFIXES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@pytest.fixture(scope="module")
def scene(shared_data: Path) -> Image.Image:
    return face_scene(shared_data)


def _frame(path: Path, **kwargs: object) -> np.ndarray:
    info = probe_upload(path, LIMITS)
    frames = list(iter_upload_frames(path, info, sample_times_of(info, 32), **kwargs))  # type: ignore[arg-type]
    assert len(frames) == 1 and frames[0].t_s == 0.0 and frames[0].index == 0
    return frames[0].image


@pytest.mark.parametrize("suffix", sorted(SUFFIXES))
def test_each_format_is_one_upright_frame_of_the_displayed_size(
    scene: Image.Image, tmp_path: Path, suffix: str
) -> None:
    path = write_image(tmp_path / f"photo{suffix}", scene, orientation=6)
    # Stored turned a quarter, displayed upright.
    with Image.open(path) as stored:
        assert stored.size == (320, 480)
    assert sniff_image_type(path) == SUFFIXES[suffix]
    info = probe_upload(path, LIMITS)
    codec = SUFFIXES[suffix].removeprefix("image/")
    assert (info.kind, info.media_type, info.codec) == ("image", SUFFIXES[suffix], codec)
    assert (info.width, info.height, info.rotation) == (480, 320, 90)
    assert (info.duration_s, info.frame_count) == (0.0, 1)
    assert sample_times_of(info, 32, 5.0) == [0.0]

    image = _frame(path, max_side=640)
    assert image.shape == (320, 480, 3) and image.dtype == np.uint8
    # The pattern's bright square is top left once upright, and the pixels are the scene's.
    assert image[:40, :25].min() > 200
    difference = np.abs(image.astype(int) - np.asarray(scene).astype(int))
    assert difference.mean() < 6


def test_the_frame_rule_caps_the_size_and_letterboxes_like_a_video(
    scene: Image.Image, tmp_path: Path
) -> None:
    path = write_image(tmp_path / "photo.png", scene)
    assert _frame(path, max_side=240).shape == (160, 240, 3)
    # A version that needs a shorter side of 100 gets no more than that.
    assert _frame(path, max_side=640, min_side=100).shape == (100, 150, 3)
    boxed = _frame(path, max_side=640, canvas=256)
    assert boxed.shape == (256, 256, 3)
    assert boxed[171:].max() == 0  # the letterbox padding below the picture


def test_the_decode_budget_is_charged_for_the_image(scene: Image.Image, tmp_path: Path) -> None:
    path = write_image(tmp_path / "photo.jpg", scene)
    info = probe_upload(path, LIMITS)
    budget = DecodeBudget(DecodeLimits(cpu_s=60, max_pixels=480 * 320 - 1, timeout_s=60))
    budget.start()
    with pytest.raises(VideoLimitExceeded):
        list(iter_upload_frames(path, info, [0.0], max_side=640, budget=budget))


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000  # 900 million pixels declared
    with pytest.raises(ImageTooLarge) as refused:
        probe_upload(bomb, LIMITS)
    assert refused.value.status_code == 413 and refused.value.code == "image_too_large"
    # Under Pillow's own limit, the gateway's is what refuses.
    small_bomb = png_bomb(tmp_path / "small.png", 8000, 8000)
    with pytest.raises(ImageTooLarge, match="8000x8000"):
        probe_upload(small_bomb, LIMITS)


def test_the_pixel_limit_is_a_setting(scene: Image.Image, tmp_path: Path) -> None:
    path = write_image(tmp_path / "photo.webp", scene)
    tight = VideoLimits(600, 100_000, 3840 * 2160, max_image_pixels=480 * 320 - 1)
    with pytest.raises(ImageTooLarge, match="480x320"):
        probe_upload(path, tight)
    assert probe_upload(path, VideoLimits(600, 100_000, 1, max_image_pixels=480 * 320)).width


@pytest.mark.parametrize("suffix", sorted(SUFFIXES))
def test_truncated_and_corrupt_images_are_refused(
    scene: Image.Image, tmp_path: Path, suffix: str
) -> None:
    whole = write_image(tmp_path / f"photo{suffix}", scene).read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(whole[: len(whole) // 2])
    garbled = tmp_path / f"garbled{suffix}"
    garbled.write_bytes(whole[:16] + bytes(range(256)) * 8)
    for path in (truncated, garbled):
        with pytest.raises(InvalidImage) as refused:
            probe_upload(path, LIMITS)
        assert refused.value.status_code == 415
        assert str(tmp_path) not in refused.value.message


def test_other_bytes_are_refused_as_before(tmp_path: Path) -> None:
    text = tmp_path / "photo.png"  # the name says PNG; the bytes are what counts
    text.write_bytes(b"this is a text file, not a picture\n" * 20)
    assert sniff_image_type(text) is None
    with pytest.raises(InvalidVideo, match="neither a JPEG, PNG or WebP image nor a video"):
        probe_upload(text, LIMITS)
    gif = tmp_path / "anim.gif"
    Image.new("RGB", (64, 64), "red").save(gif, "GIF")
    with pytest.raises(InvalidVideo):
        probe_upload(gif, LIMITS)


def test_camera_jpegs_and_other_pixel_formats_are_read(tmp_path: Path) -> None:
    # A JPEG with a multi-picture index (phones, cameras) is read as its first picture.
    mpo = tmp_path / "camera.jpg"
    Image.new("RGB", (64, 48), "red").save(
        mpo, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48), "blue")]
    )
    assert probe_upload(mpo, LIMITS).codec == "jpeg"
    red = _frame(mpo, max_side=640)
    assert red[..., 0].min() > 240 and red[..., 2].max() < 15
    # 16-bit grey keeps its level (Pillow's own conversion would clip it to white).
    grey = tmp_path / "grey16.png"
    Image.fromarray(np.full((48, 64), 30000, np.uint16)).save(grey)
    assert (_frame(grey, max_side=640) == 30000 >> 8).all()
    for mode, colour in (("RGBA", (0, 255, 0, 128)), ("CMYK", (0, 0, 0, 0)), ("P", 0)):
        path = tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        Image.new(mode, (64, 48), colour).save(path)
        assert _frame(path, max_side=640).shape == (48, 64, 3)
