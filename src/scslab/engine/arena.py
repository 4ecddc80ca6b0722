"""Arena: a run's large buffers, zeroed, in one memory mapping backed by huge pages.

A fresh process gets each page of a new array from the kernel the first time the page is
written: a page fault per 4 KiB, a few microseconds each in a virtual machine. A year of
compiled days at 10,000 residents writes some 1,300 fresh pages of output rows,
histograms and score snapshots (5.2 MB), so in a fresh process those faults are a large
share of a run that takes a few milliseconds. With transparent huge pages the kernel
hands out 2 MiB at a time instead (one fault, a few hundred microseconds). numpy asks
for huge pages itself only from 4 MiB an array; the arena asks for them for all of a
run's buffers together.

Where the platform has no transparent huge pages (or they are switched off), the arrays
are ordinary zeroed ones: only the speed differs. Where the kernel compacts memory to
find huge pages for advised mappings (transparent_hugepage/defrag "madvise"), a fault
can wait for that on a host whose memory is fragmented.

A run also makes and frees arrays as it goes (a day's scratch, the build's
intermediates). glibc's malloc gives each array of 32 MiB or more a mapping of its own
and hands it back to the kernel when it is freed, so the next one is fresh memory again.
`keeping_freed_memory` keeps what a run frees in the process for its next arrays (in
malloc's heap), and hands it back when the run ends: at the whole city, where a
run_days call is one day, the days run faster so (docs/benchmarks.md has by how much,
and what else was tried).
"""

from __future__ import annotations

import ctypes
import itertools
import math
import mmap
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from numpy.typing import DTypeLike

HUGE_PAGE_BYTES = 2 * 2**20
"""Size of a transparent huge page on x86-64 and most arm64 Linux systems (bytes)."""
ARENA_MIN_BYTES = 2**20
"""Buffers totalling less than this (bytes) are ordinary numpy arrays: a huge page
would be mostly unused, and few 4 KiB faults cost little."""
ALIGN_BYTES = 64  # each array starts on its own cache line


def zeroed_arrays(
    specs: Sequence[tuple[tuple[int, ...], DTypeLike]], min_bytes: int = ARENA_MIN_BYTES
) -> list[np.ndarray]:
    """Zeroed C-ordered arrays of the given (shape, dtype), one per spec.

    From min_bytes in all (and where mmap can ask for transparent huge pages),
    they are views of one anonymous mapping, aligned to huge pages and advised to use
    them; the mapping lives as long as any of the arrays. Else, np.zeros each."""
    shapes = [tuple(int(k) for k in shape) for shape, _ in specs]
    dtypes = [np.dtype(dtype) for _, dtype in specs]
    sizes = [math.prod(shape) * dt.itemsize for shape, dt in zip(shapes, dtypes, strict=True)]
    offsets = list(
        itertools.accumulate((-(-size // ALIGN_BYTES) * ALIGN_BYTES for size in sizes), initial=0)
    )
    total = offsets[-1]
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if total < min_bytes or advise is None or not hasattr(mmap, "MAP_ANONYMOUS"):
        return [np.zeros(shape, dt) for shape, dt in zip(shapes, dtypes, strict=True)]
    span = -(-total // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
    # one huge page more, so that the arrays can start on a huge page's boundary
    mapping = mmap.mmap(-1, span + HUGE_PAGE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    raw = np.frombuffer(mapping, np.uint8)
    start = -raw.__array_interface__["data"][0] % HUGE_PAGE_BYTES
    try:
        mapping.madvise(advise, start, span)
    except OSError:  # huge pages switched off for madvise: ordinary pages
        pass
    # (each array a view of `raw`, which holds the mapping)
    return [
        np.ndarray(shape, dt, raw, start + at)
        for shape, dt, at in zip(shapes, dtypes, offsets, strict=False)
    ]


MAPPED_ALONE_BYTES = 32 * 2**20
"""glibc's malloc gives every array of at least this many bytes a mapping of its own (the
ceiling of its threshold for that on 64-bit systems); smaller ones come from its heap,
where freed memory is used again already."""

# glibc's mallopt parameters, and the values they are given back (glibc's defaults)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_NO_TRIM = -1  # (M_TRIM_THRESHOLD: never trim the heap)
_keeping = 0  # runs inside keeping_freed_memory() now
_keeping_lock = threading.Lock()


def _glibc() -> ctypes.CDLL | None:
    """This process's C library where it is glibc (it has mallopt and malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)
    has = hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")
    if not (has and hasattr(libc, "gnu_get_libc_version")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


@contextmanager
def keeping_freed_memory() -> Iterator[None]:
    """While it lasts, the memory that the process frees stays in it for the next
    arrays it makes: glibc's malloc gives no array a mapping of its own (but for one of
    more than 64 MiB made in a thread other than the main one, where its heaps are no
    larger) and hands nothing back to the kernel. At its end (the last of those running,
    in any thread) the free memory is handed back (malloc_trim) and malloc is given
    glibc's defaults back: at most 65,536 mappings, the heap trimmed from 128 KiB free.
    Having been set, glibc's own adjustment of those thresholds stays off for the rest
    of the process (the threshold for a mapping of its own stays where it was), and
    settings made by MALLOC_ environment variables are not restored. Where the C library
    is not glibc, nothing changes.

    A run's peak memory may grow by what the arrays it keeps do not fit in:
    Simulation keeps memory so only for runs whose arrays of one int64 per resident
    reach MAPPED_ALONE_BYTES (docs/benchmarks.md has what it gains and costs)."""
    global _keeping
    libc = _glibc()
    if libc is None:
        yield
        return
    with _keeping_lock:
        _keeping += 1
        if _keeping == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _NO_TRIM)
    try:
        yield
    finally:
        with _keeping_lock:
            _keeping -= 1
            if _keeping == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
