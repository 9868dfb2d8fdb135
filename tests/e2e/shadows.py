"""The shadow canary's figures, files and faults, as the end-to-end shadow tests read them."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

from tests.conftest import MODEL_NAME, GatewayHandle

#: Serving's poll of its model config file, in seconds.
POLL_S = 1


def shadow_counts(gw: GatewayHandle) -> dict[tuple[str, str, str], float]:
    """``gateway_shadow_total`` by (primary, shadow, outcome)."""
    with gw.client() as client:
        text = client.get("/metrics").text
    counts: dict[tuple[str, str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("gateway_shadow_total{"):
            continue
        sample, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in sample[sample.index("{") + 1 : -1].split(","))
        key = tuple(labels[k].strip('"') for k in ("primary", "shadow", "outcome"))
        counts[key] = counts.get(key, 0.0) + float(value)  # type: ignore[index]
    return counts


def outcome(gw: GatewayHandle, name: str) -> float:
    return sum(v for (_, _, o), v in shadow_counts(gw).items() if o == name)


def shadow_status(gw: GatewayHandle) -> dict:
    with gw.client() as client:
        response = client.get("/v1/models", headers=gw.auth())
    assert response.status_code == 200, response.text
    return response.json()["shadow"]


def uploads_left(gw: GatewayHandle) -> list[str]:
    directory = gw.var_dir / "uploads"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def log_lines(gw: GatewayHandle, message: str) -> list[dict]:
    lines = []
    for line in (gw.var_dir / "gateway.log").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("msg") == message:
                lines.append(entry)
    return lines


def serving_config(base: Path, versions: list[int], **labels: int) -> str:
    policy = "specific { " + " ".join(f"versions: {v}" for v in versions) + " }"
    label_lines = "".join(
        f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in labels.items()
    )
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL_NAME}"\n    base_path: "{base}"\n    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ {policy} }}\n{label_lines}  }}\n}}\n"
    )


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Blackhole(threading.Thread):
    """A TCP listener that accepts connections and never answers (a hung Serving)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.target = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()
