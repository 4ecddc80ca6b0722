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
"""

from __future__ import annotations

import itertools
import math
import mmap
from collections.abc import Sequence

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
