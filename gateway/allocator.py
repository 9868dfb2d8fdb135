"""glibc's allocator tuned for a long-running gateway: few arenas, a fixed mmap threshold.

Left alone, glibc gives each thread that allocates under contention an arena of its own
(up to eight per core) and raises its mmap threshold each time a large block is freed, up to
32 MiB. A gateway decodes frames of every size on a pool of threads: after one huge upload
the threshold stays high, frame-sized buffers then come from the arenas instead of ``mmap``,
and the freed space between live blocks is kept by each arena for good. Over hours the
resident size grows although the memory in use does not. Two arenas and a fixed threshold
send every buffer of ``mmap_threshold`` bytes or more straight back to the system when freed.

:func:`tune_allocator` applies this through ``mallopt`` once, at start, before any thread
exists; ``MALLOC_ARENA_MAX`` and ``MALLOC_MMAP_THRESHOLD_`` in the environment still win,
so an operator can set other values without a code change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("gateway.allocator")

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: Arenas: one per core of a small replica is enough for a pool that mostly waits on I/O.
DEFAULT_ARENA_MAX = 2
#: glibc's own starting threshold, kept fixed (128 KiB): frame buffers are above it.
DEFAULT_MMAP_THRESHOLD = 128 * 1024


@dataclass(frozen=True)
class AllocatorTuning:
    """What :func:`tune_allocator` set; ``None`` where the environment's value was kept."""

    arena_max: int | None
    mmap_threshold: int | None


def tune_allocator(
    arena_max: int = DEFAULT_ARENA_MAX, mmap_threshold: int = DEFAULT_MMAP_THRESHOLD
) -> AllocatorTuning | None:
    """Set glibc's arena count and mmap threshold; ``None`` when the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    gnu_get_libc_version = getattr(libc, "gnu_get_libc_version", None)
    if mallopt is None or gnu_get_libc_version is None:
        return None  # musl and others: no such knobs
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied_arenas = applied_threshold = None
    if "MALLOC_ARENA_MAX" not in os.environ and mallopt(_M_ARENA_MAX, arena_max) == 1:
        applied_arenas = arena_max
    if (
        "MALLOC_MMAP_THRESHOLD_" not in os.environ
        and mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ):
        applied_threshold = mmap_threshold
    tuning = AllocatorTuning(applied_arenas, applied_threshold)
    log.info(
        "allocator tuned",
        extra={"arena_max": tuning.arena_max, "mmap_threshold": tuning.mmap_threshold},
    )
    return tuning
