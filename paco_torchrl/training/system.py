"""Process-level tuning for training on CPU."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Keeps freed multi-MB tensor buffers in glibc's heap instead of returning them to the OS.

    Every PaCo network call composes per-task weights (``T×out×in``: 6.4 MB per 400×400 layer at
    T=10) into a fresh buffer. With glibc's defaults such buffers are ``mmap``-ed and unmapped each
    time, so every call pays page faults and kernel zeroing. Raising the mmap threshold (32 MB is
    glibc's maximum) and the trim threshold lets the allocator reuse them; ``benchmarks/update_step.py``
    measures the effect. Call once at process start (the recipe does); a no-op returning ``False``
    off Linux/glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
        return ok and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    except (OSError, AttributeError):
        return False
