"""A small real disk for tests of a full one: a tmpfs mounted for a block, and a filler."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[None]:
    """A real 2 MB tmpfs mounted at ``path`` for the block (unmounted after, even on failure)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """A file at ``path`` that takes every byte left on its disk."""
    with contextlib.suppress(OSError), path.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return path
