"""Handing the C heap's free memory back to the system between units of work."""

import ctypes
import ctypes.util
from functools import cache

__all__ = ["release_free_heap"]


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


def release_free_heap() -> bool:
    """glibc's malloc_trim(0): free pages anywhere in the heap go back to the system, not just
    at its top. Numpy and onnxruntime buffers of every size come and go per line; without this
    the heap keeps the holes between live blocks and RSS creeps up over a long dub. False off
    glibc (nothing to do)."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
