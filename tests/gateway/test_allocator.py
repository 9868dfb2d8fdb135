"""glibc's allocator as the gateway tunes it: a fixed mmap threshold, the environment first.

Each case runs in a fresh interpreter, since the allocator's state is per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# After a freed 8 MiB block, glibc's dynamic threshold would serve 256 KiB from an arena;
# tuned, it still maps it. The count of mapped blocks is read from malloc_info(3).
_PROBE = r"""
import ctypes, ctypes.util, json, os, re, sys, tempfile
from gateway.allocator import tune_allocator
tuning = tune_allocator() if sys.argv[1] == "tuned" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]

def mapped() -> int:
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        stream = libc.fopen(f.name.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        text = open(f.name).read()
    return int(re.search(r'<total type="mmap" count="(\d+)"', text).group(1))

libc.free(libc.malloc(8 << 20))
before = mapped()
block = libc.malloc(256 << 10)
after = mapped()
libc.free(block)
print(json.dumps({"tuning": None if tuning is None else tuning.__dict__,
                  "mapped": after - before}))
"""


def _probe(mode: str, **env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        cwd=REPO,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_untuned_glibc_serves_a_large_block_from_an_arena_after_a_huge_one_is_freed() -> None:
    # The behaviour the tuning exists for: without it the threshold has risen.
    assert _probe("plain")["mapped"] == 0


def test_tuned_glibc_still_maps_a_large_block_so_freeing_it_returns_it() -> None:
    result = _probe("tuned")
    assert result["tuning"] == {"arena_max": 2, "mmap_threshold": 128 * 1024}
    assert result["mapped"] == 1


def test_the_environment_wins_over_the_defaults() -> None:
    result = _probe("tuned", MALLOC_ARENA_MAX="4", MALLOC_MMAP_THRESHOLD_="131072")
    assert result["tuning"] == {"arena_max": None, "mmap_threshold": None}
    # glibc applied the environment's fixed threshold itself.
    assert result["mapped"] == 1
