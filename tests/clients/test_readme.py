"""The README's SDK and command line examples run as written against the real gateway."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.clients.conftest import DEEPFAKE, cli_env
from tests.conftest import REPO, GatewayHandle


def _example(name: str) -> str:
    """The fenced block right after ``<!-- example: name -->`` in the README."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- example: {name} -->\n```\w*\n(.*?)\n```", text, re.S)
    assert match, f"README has no example {name!r}"
    return match.group(1)


def _env(gateway: GatewayHandle) -> dict[str, str]:
    env = cli_env(gateway)
    env["PATH"] = f"{DEEPFAKE.parent}:{env.get('PATH', '')}"
    return env


def test_the_sdk_example_runs(gateway: GatewayHandle, make_clip, tmp_path: Path) -> None:
    make_clip("clip.mp4")
    run = subprocess.run(
        [sys.executable, "-c", _example("sdk")],
        cwd=tmp_path,
        env=_env(gateway),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("1 AVAILABLE")
    assert re.match(r"(real|fake|inconclusive) \d\.\d{3} threshold 0\.5$", lines[1]), lines


def test_the_cli_example_runs(gateway: GatewayHandle, make_clip, tmp_path: Path) -> None:
    make_clip("clip.mp4")
    run = subprocess.run(
        ["bash", "-e", "-c", _example("cli")],
        cwd=tmp_path,
        env=_env(gateway),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "AVAILABLE" in run.stdout and "clip.mp4" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1] in ("no fakes", "exit 1")
    assert (tmp_path / "verdicts.json").read_text().lstrip().startswith("[")
