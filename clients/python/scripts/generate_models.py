"""Generate ``deepfake_client/models.py`` from the committed ``openapi.json`` snapshot.

Runs ``datamodel-code-generator`` (pinned in the development extras; the SDK does not depend
on it) offline, with fixed options, so the output is reproducible and a test can check that
the committed models are what this script makes of the committed snapshot::

    python clients/python/scripts/generate_models.py          # rewrite models.py
    python clients/python/scripts/generate_models.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent
SNAPSHOT = CLIENT / "openapi.json"
MODELS = CLIENT / "src" / "deepfake_client" / "models.py"

HEADER = '''\
"""Response models of the gateway's API, generated from ``clients/python/openapi.json``.

Do not edit: run ``clients/python/scripts/generate_models.py`` after refreshing the snapshot.
Unknown fields are kept (``extra="allow"``) so that a newer gateway does not break an older
client.

Over 400 lines because it is generated: one model per schema of the API, regenerated whole.
"""'''

OPTIONS = [
    "--input-file-type",
    "openapi",
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--target-python-version",
    "3.11",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-annotated",
    "--field-constraints",
    "--use-field-description",
    "--use-schema-description",
    "--use-double-quotes",
    "--enum-field-as-literal",
    "all",
    "--extra-fields",
    "allow",
    "--disable-timestamp",
    "--formatters",
    "builtin",
]


def _ruff(args: list[str], text: str) -> str:
    """``text`` through ruff with the repository's settings (as if it were ``models.py``)."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(MODELS), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=CLIENT,
    )
    return result.stdout


def generate() -> str:
    """The text of ``models.py`` generated from the snapshot."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "models.py"
        header = Path(tmp) / "header.txt"
        header.write_text(HEADER + "\n")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "datamodel_code_generator",
                "--input",
                str(SNAPSHOT),
                "--output",
                str(out),
                "--custom-file-header-path",
                str(header),
                *OPTIONS,
            ],
            check=True,
            cwd=CLIENT,
        )
        text = out.read_text()
    text = _ruff(["check", "--fix", "--quiet", "--exit-zero"], text)
    return _ruff(["format", "--quiet"], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if models.py is stale")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not MODELS.exists() or MODELS.read_text() != text:
            sys.stderr.write(f"{MODELS} is stale: run {Path(__file__).name}\n")
            return 1
        return 0
    MODELS.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
