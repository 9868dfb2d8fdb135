"""Fixtures for the serving tests: tiny SavedModels and a real server process.

The model is built with Keras and exported through ``keras.export.ExportArchive``
with the contract's signature (``frames`` uint8 [N, H, W, 3] -> ``fake_probability``
float32 [N] and a scalar ``threshold``, resizing inside the graph; the scalar shows
how TF Serving's batching treats outputs without a batch dimension), then
served by ``python -m serving`` in a subprocess and called over real gRPC.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

import contract

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def export_tiny_model(path: Path | str, threshold: float = 0.5, seed: int = 0) -> Callable:
    """Export a tiny frame classifier at ``path``; return its serving function.

    The returned ``tf.function`` is the in-process reference the server's
    answers are compared with.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)

    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.FRAMES_INPUT)]
    )
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        scaled = tf.image.resize(tf.cast(frames, tf.float32) / 255.0, (32, 32))
        return {
            contract.FAKE_PROBABILITY: tf.reshape(model(scaled), [-1]),
            contract.THRESHOLD: tf.constant(threshold, tf.float32),
        }

    archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
    archive.write_out(str(path), verbose=False)
    return serve


def publish(source: Path, base: Path, version: int) -> Path:
    """Copy a version into a staging name, then rename it into place (atomic publish)."""
    staging = base / f".tmp-{version:05d}"
    shutil.copytree(source, staging)
    target = base / str(version)
    os.rename(staging, target)
    return target


class ServerProcess:
    """``python -m serving`` in a subprocess, with its stderr kept in a file."""

    def __init__(self, args: Sequence[str], log_dir: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.args = ["--port", str(self.port), *args]
        self.log_path = log_dir / f"serving-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving", *self.args],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        )
        self.target = f"localhost:{self.port}"
        #: Exit code the start_server fixture expects at teardown.
        self.expected_exit = 0

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def wait_available(self, model_name: str = "deepfake", timeout_s: float = STARTUP_TIMEOUT_S):
        """Wait for an AVAILABLE version; fail with the log if the process dies first."""
        from serving.client import wait_until_available

        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                return wait_until_available(self.target, model_name, timeout_s=2.0)
            except TimeoutError:
                if time.monotonic() > deadline:
                    pytest.fail(f"server not ready in {timeout_s}s:\n{self.log()[-4000:]}")

    def channel(self, **kwargs) -> grpc.Channel:
        """An insecure channel to the server."""
        return grpc.insecure_channel(self.target, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int:
        """Signal the server and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def tiny_model_dir() -> Iterator[tuple[Path, Callable]]:
    """One exported tiny model (not under a base path) and its in-process function."""
    root = Path(tempfile.mkdtemp(prefix="serving-model-"))
    serve = export_tiny_model(root / "model", threshold=0.5, seed=0)
    yield root / "model", serve
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with given flags; every one is stopped (and must exit 0) at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(list(args), tmp_path, env)
        started.append(server)
        return server

    yield start
    for server in started:
        code = server.stop()
        assert code == server.expected_exit, f"server exited with {code}:\n{server.log()[-4000:]}"


@pytest.fixture(scope="module")
def served_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: tuple[Path, Callable]
) -> Iterator[tuple[ServerProcess, Callable]]:
    """A server for the whole module, serving the tiny model as version 1 of ``deepfake``."""
    model_dir, serve = tiny_model_dir
    base = tmp_path_factory.mktemp("models") / "deepfake"
    base.mkdir()
    publish(model_dir, base, 1)
    server = ServerProcess(
        ["--model_name", "deepfake", f"--model_base_path={base}"],
        tmp_path_factory.mktemp("logs"),
    )
    server.wait_available()
    yield server, serve
    code = server.stop()
    assert code == 0, f"server exited with {code}:\n{server.log()[-4000:]}"


def frames(n: int = 3, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """Random uint8 RGB frames."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


class TlsMaterial:
    """A CA, a server certificate for localhost and a client certificate, as PEM text."""

    def __init__(self) -> None:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.UTC)

        def key() -> ec.EllipticCurvePrivateKey:
            return ec.generate_private_key(ec.SECP256R1())

        def pem_key(k: ec.EllipticCurvePrivateKey) -> str:
            return k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()

        def name(common: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

        def cert(subject, public, issuer, signer, ca=False, usage=None, san=None):
            builder = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer)
                .public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )
            if usage:
                builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return (
                builder.sign(signer, hashes.SHA256())
                .public_bytes(serialization.Encoding.PEM)
                .decode()
            )

        ca_key = key()
        self.ca_cert = cert(name("test ca"), ca_key.public_key(), name("test ca"), ca_key, ca=True)
        server_key = key()
        self.server_key = pem_key(server_key)
        self.server_cert = cert(
            name("localhost"),
            server_key.public_key(),
            name("test ca"),
            ca_key,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        client_key = key()
        self.client_key = pem_key(client_key)
        self.client_cert = cert(
            name("client"),
            client_key.public_key(),
            name("test ca"),
            ca_key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        other_key = key()
        other_ca = cert(name("other"), other_key.public_key(), name("other"), other_key, ca=True)
        rogue_key = key()
        self.rogue_key = pem_key(rogue_key)
        self.rogue_cert = cert(
            name("rogue"),
            rogue_key.public_key(),
            name("other"),
            other_key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        self.other_ca = other_ca


@pytest.fixture(scope="session")
def tls_material() -> TlsMaterial:
    """Certificates for TLS and mutual TLS tests."""
    return TlsMaterial()


def write_warmup(version_dir: Path, requests: Sequence[object], raw: bytes | None = None) -> Path:
    """Write ``assets.extra/tf_serving_warmup_requests`` as TFRecord of PredictionLog."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / contract.WARMUP_RELATIVE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
        return path
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())
    return path


def model_config(*models: dict[str, object]) -> str:
    """A ModelServerConfig text proto; each model: name, base_path, policy, labels."""
    parts = ["model_config_list {"]
    for model in models:
        parts.append("  config {")
        parts.append(f'    name: "{model["name"]}"')
        parts.append(f'    base_path: "{model["base_path"]}"')
        parts.append('    model_platform: "tensorflow"')
        if "policy" in model:
            parts.append(f"    model_version_policy {{ {model['policy']} }}")
        for label, version in dict(model.get("labels", {})).items():  # type: ignore[arg-type]
            parts.append(f'    version_labels {{ key: "{label}" value: {version} }}')
        parts.append("  }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def status_of(target_or_channel: str | grpc.Channel, name: str = "deepfake") -> dict[int, tuple]:
    """version -> (state name, error_code, error_message) from GetModelStatus."""
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
    )

    channel = (
        grpc.insecure_channel(target_or_channel)
        if isinstance(target_or_channel, str)
        else target_or_channel
    )
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    response = stub.GetModelStatus(request, timeout=10)
    names = get_model_status_pb2.ModelVersionStatus.State.Name
    return {
        s.version: (names(s.state), s.status.error_code, s.status.error_message)
        for s in response.model_version_status
    }


def wait_for(predicate: Callable[[], object], timeout_s: float = 60.0, what: str = "") -> object:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except grpc.RpcError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what or predicate}: last={last!r}")


def predict_version(
    channel: grpc.Channel,
    name: str = "deepfake",
    version: int | None = None,
    label: str | None = None,
    n: int = 1,
) -> int:
    """Send one Predict and return the version that answered."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import tensors

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(frames(n=n, h=16, w=16)))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict(request, timeout=30).model_spec.version.value


@pytest.fixture(scope="session")
def session_loader_refused_model() -> Iterator[Path]:
    """A SavedModel TF Serving loads but cannot run: ``tf.saved_model.save`` of a tf.Module
    holding a Keras 3 model. Its restore op leaves the Keras variables unset, so every run
    fails with "Could not find variable ..."."""
    import keras
    import tensorflow as tf

    root = Path(tempfile.mkdtemp(prefix="serving-refused-"))
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="fc")(inputs))
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        pooled = tf.reduce_mean(tf.cast(frames, tf.float32), axis=[1, 2])
        return {
            contract.FAKE_PROBABILITY: tf.reshape(model(pooled), [-1]),
            contract.THRESHOLD: tf.constant(0.5, tf.float32),
        }

    module.serve = serve
    tf.saved_model.save(module, str(root / "model"), signatures={"serving_default": serve})
    yield root / "model"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def rest_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: tuple[Path, Callable]
) -> Iterator[tuple[ServerProcess, httpx.Client, Callable]]:
    """A server with gRPC and REST ports, versions 1 and 2 labelled stable and canary."""
    from serving.config import DEFAULT_PROMETHEUS_PATH

    root = tmp_path_factory.mktemp("rest")
    base = root / "deepfake"
    base.mkdir()
    for version in (1, 2):
        publish(tiny_model_dir[0], base, version)
    config = root / "models.config"
    config.write_text(
        model_config(
            {
                "name": "deepfake",
                "base_path": base,
                "policy": "specific { versions: 1 versions: 2 }",
                "labels": {"stable": 1, "canary": 2},
            }
        )
    )
    monitoring = root / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{DEFAULT_PROMETHEUS_PATH}" }}')
    rest_port = free_port()
    server = ServerProcess(
        [
            f"--model_config_file={config}",
            "--allow_version_labels_for_unavailable_models=true",
            f"--rest_api_port={rest_port}",
            f"--monitoring_config_file={monitoring}",
        ],
        root,
    )
    server.wait_available()
    # Start-up waits for one version only; the tests need both loaded.
    wait_for(
        lambda: all(status_of(server.target).get(v, ("",))[0] == "AVAILABLE" for v in (1, 2)),
        what="versions 1 and 2 AVAILABLE",
    )
    with server.channel() as channel:
        predict_version(channel, version=1)
        predict_version(channel, version=2)
    client = httpx.Client(base_url=f"http://localhost:{rest_port}", timeout=30)
    yield server, client, tiny_model_dir[1]
    client.close()
    assert server.stop() == 0
