"""Give a batch's large arrays back to the kernel when they are freed.

Learning allocates and frees arrays of a few MB to a few tens of MB per batch (keys, groups,
merged columns) in several threads. glibc's malloc serves a block of 128 KiB or more with its own
`mmap`, but raises that threshold each time such a block is freed, up to 32 MiB: after the first
batches every array of up to 32 MiB comes from the threads' heaps, which fragment and keep their
peak. Fixing the threshold keeps the per-batch arrays mapped and unmapped as before the first free.
Measured (plugin README, "At scale"): `gyrosi learn` of 100 MB with two threads peaks at 1.2 GiB
of anonymous memory instead of 1.6; the price is page faults on fresh mappings, about 4% of the
rate of learning 30 MB (`bench/learn.py`, `--workers 1`, three runs each way). A 16 MiB
threshold kept 1.5 GiB; trimming the heaps at each fold instead (`malloc_trim`) 1.5 GiB too.
"""

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 8 << 20  # 1 MiB costs ~15% of the rate in page faults; 16 MiB keeps 1.5 GiB
_done = False


def release_large_arrays() -> bool:
    """Fix glibc's mmap threshold at `THRESHOLD`, once per process; False where the C library is
    not glibc (the call is glibc's; other allocators return large blocks on their own terms)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl has no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1
    return _done
