"""Still images through the SDK and the ``deepfake`` command, against the real gateway."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from deepfake_client import AsyncClient, Client, errors
from deepfake_client._core import Upload
from PIL import Image

from tests.conftest import GatewayHandle
from tests.images import face_scene, png_bomb, write_image


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    scene = face_scene(shared_data)
    return {
        suffix: write_image(folder / f"photo{suffix}", scene, orientation=6)
        for suffix in (".jpg", ".png", ".webp")
    }


def test_an_image_is_sent_with_its_own_type(photos: dict[str, Path], tmp_path: Path) -> None:
    assert Upload(photos[".jpg"]).content_type == "image/jpeg"
    assert Upload(photos[".webp"]).content_type == "image/webp"
    # No telling name: the first bytes say it, and the file object is left where it was.
    nameless = tmp_path / "upload.bin"
    nameless.write_bytes(photos[".png"].read_bytes())
    assert Upload(nameless).content_type == "image/png"
    memory = io.BytesIO(b"xx" + photos[".jpg"].read_bytes())
    memory.seek(2)
    assert Upload(memory).content_type == "image/jpeg" and memory.tell() == 2
    assert Upload(io.BytesIO(b"\x00\x00\x00\x18ftypmp42")).content_type == "video/mp4"


def test_detect_image_and_detect_take_images(client: Client, photos: dict[str, Path]) -> None:
    result = client.detect_image(photos[".jpg"])
    assert result.video.kind == "image" and result.video.rotation == 90
    assert (result.video.width, result.video.height) == (480, 320)
    assert result.frames_analyzed == 1 and [p.t_s for p in result.timeline] == [0.0]
    assert client.detect(photos[".png"]).video.kind == "image"


def test_the_async_client_detects_an_image_file_object(
    gateway: GatewayHandle, photos: dict[str, Path]
) -> None:
    async def run() -> str:
        async with AsyncClient(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as c:
            with photos[".webp"].open("rb") as file:
                return (await c.detect_image(file)).video.kind

    assert asyncio.run(run()) == "image"


def test_refused_images_raise_their_typed_errors(client: Client, tmp_path: Path) -> None:
    with pytest.raises(errors.ImageTooLarge) as refused:
        client.detect_image(png_bomb(tmp_path / "bomb.png"))
    assert refused.value.status == 413
    broken = tmp_path / "broken.jpg"
    whole = io.BytesIO()
    Image.new("RGB", (200, 200), "blue").save(whole, "JPEG")
    broken.write_bytes(whole.getvalue()[:300])
    with pytest.raises(errors.InvalidImage):
        client.detect_image(broken)


def test_the_command_detects_a_photo(deepfake, photos: dict[str, Path]) -> None:
    table = deepfake("detect", str(photos[".jpg"]))
    assert table.returncode == 0, table.stderr
    assert "photo.jpg" in table.stdout and "deepfake v1" in table.stdout
    run = deepfake("detect", "--json", str(photos[".jpg"]), str(photos[".webp"]))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [Path(item["file"]).name for item in out] == ["photo.jpg", "photo.webp"]
    for item in out:
        assert item["result"]["video"]["kind"] == "image"
        assert len(item["result"]["timeline"]) == 1
