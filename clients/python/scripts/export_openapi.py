"""Write the gateway's OpenAPI document to ``clients/python/openapi.json``.

The SDK's response models are generated from this snapshot (``generate_models.py``), and a
test compares it with the live gateway's ``/openapi.json``, so the two cannot drift apart
silently. Run from the repository root with the development venv::

    python clients/python/scripts/export_openapi.py          # write the snapshot
    python clients/python/scripts/export_openapi.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent
REPO = CLIENT.parent.parent
SNAPSHOT = CLIENT / "openapi.json"

# A process of its own: the gateway imports Serving's protos without TensorFlow's runtime,
# which must not leak into the caller's process.
_CODE = """\
import json
from gateway.upstream._protos import use_protos_without_tensorflow_runtime as f
f()
from gateway.api.app import create_app
from gateway.settings import Settings
print(json.dumps(create_app(Settings()).openapi()))
"""


def gateway_openapi() -> dict:
    """The OpenAPI document of ``gateway.api.app.create_app`` with default settings."""
    with tempfile.TemporaryDirectory() as var_dir:
        # A scratch var dir: building the app may create its API key file there.
        env = {**os.environ, "GATEWAY_VAR_DIR": var_dir, "GATEWAY_API_KEYS": ""}
        result = subprocess.run(
            [sys.executable, "-c", _CODE],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout)


def render(document: dict) -> str:
    """The snapshot's text: stable key order, so diffs show real changes only."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the snapshot is stale")
    args = parser.parse_args(argv)
    text = render(gateway_openapi())
    if args.check:
        if not SNAPSHOT.exists() or SNAPSHOT.read_text() != text:
            sys.stderr.write(f"{SNAPSHOT} is stale: run {Path(__file__).name}\n")
            return 1
        return 0
    SNAPSHOT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
