"""The arena's arrays are zeroed, of the shapes and dtypes asked for, apart from one
another, aligned, and outlive the call; small requests are plain numpy arrays. Memory
freed while a run lasts stays in the process, and is handed back after."""

from __future__ import annotations

import gc
import mmap
import resource
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.engine.arena import (
    ALIGN_BYTES,
    ARENA_MIN_BYTES,
    HUGE_PAGE_BYTES,
    _glibc,
    keeping_freed_memory,
    zeroed_arrays,
)

DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.bool_, np.int64]
shapes = st.lists(st.integers(0, 80), min_size=1, max_size=3).map(tuple)  # up to 4 MB each
specs = st.lists(st.tuples(shapes, st.sampled_from(DTYPES)), min_size=1, max_size=5)


def _mapped(a: np.ndarray) -> bool:
    """Whether a is a view of an mmap (the arena), not an array numpy allocated."""
    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


@settings(max_examples=60, deadline=None)
@given(specs, st.sampled_from([0, ARENA_MIN_BYTES]))
def test_arrays_are_zeroed_separate_and_as_asked(asked: list, min_bytes: int) -> None:
    arrays = zeroed_arrays(asked, min_bytes)
    assert len(arrays) == len(asked)
    if min_bytes == 0 and hasattr(mmap, "MADV_HUGEPAGE"):
        assert all(_mapped(a) for a in arrays)
    for a, (shape, dtype) in zip(arrays, asked, strict=True):
        assert a.shape == shape and a.dtype == np.dtype(dtype)
        assert a.flags.c_contiguous and a.flags.writeable
        assert not a.any()
        if a.size and _mapped(a):
            assert a.ctypes.data % ALIGN_BYTES == 0
    # writing each array in full leaves every other one zero
    for k, a in enumerate(arrays):
        a.reshape(-1)[:] = 1
        assert all(not b.any() for j, b in enumerate(arrays) if j != k)
        a.reshape(-1)[:] = 0


@pytest.mark.skipif(not hasattr(mmap, "MADV_HUGEPAGE"), reason="no transparent huge pages")
def test_large_buffers_share_one_mapping_on_a_huge_page_boundary() -> None:
    values, hist, snapshot = zeroed_arrays(
        [((365, 29, 37), np.float64), ((365, 200), np.float64), ((19, 10_000), np.float32)]
    )
    assert all(_mapped(a) for a in (values, hist, snapshot))
    assert values.ctypes.data % HUGE_PAGE_BYTES == 0
    assert hist.ctypes.data >= values.ctypes.data + values.nbytes
    assert snapshot.ctypes.data >= hist.ctypes.data + hist.nbytes
    # the mapping outlives the call and the other arrays
    del values, hist
    gc.collect()
    snapshot[:] = 2.5
    assert float(snapshot.sum()) == 2.5 * snapshot.size


def test_small_requests_are_plain_numpy_arrays() -> None:
    (a,) = zeroed_arrays([((10, 10), np.float64)])
    assert not _mapped(a) and not a.any()


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of this process's mapping that holds `address` (Linux)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "VmFlags:":
            return line.split()[1:]
    return []


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@pytest.mark.skipif(
    not hasattr(mmap, "MADV_HUGEPAGE") or not THP.exists() or "[never]" in THP.read_text(),
    reason="no transparent huge pages",
)
def test_the_mapping_is_advised_to_use_huge_pages() -> None:
    (a,) = zeroed_arrays([((3 * 2**17,), np.float64)])  # 3 MiB: numpy would not advise it
    a[:] = 1.0
    assert "hg" in _vm_flags(a.ctypes.data)


def _faults_of_a_new_array(n_bytes: int) -> int:
    """Page faults of this thread while a new array of n_bytes is written (one write
    per 4 KiB)."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    a = np.empty(n_bytes, np.uint8)
    a[::4096] = 1
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
    del a
    return faults


def _resident_bytes() -> int:
    """This process's resident memory (bytes)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


@pytest.mark.skipif(_glibc() is None, reason="keeping_freed_memory changes glibc's malloc only")
def test_freed_memory_is_kept_while_a_run_lasts_and_handed_back_after() -> None:
    """Outside keeping_freed_memory a large array freed goes back to the kernel (the
    next one faults its pages in again); inside, the next one reuses it, until the last
    of two nested ones ends; after, the memory is handed back and the next arrays are
    fresh again."""
    n_bytes = 64 * 2**20  # (glibc: a mapping of its own by default)
    _faults_of_a_new_array(n_bytes)
    assert _faults_of_a_new_array(n_bytes) >= 16  # (2 MiB pages or 4 KiB ones)
    with keeping_freed_memory():
        with keeping_freed_memory():  # (runs in two threads, say)
            _faults_of_a_new_array(n_bytes)
            assert _faults_of_a_new_array(n_bytes) <= 4
        assert _faults_of_a_new_array(n_bytes) <= 4  # (one still running)
        kept = _resident_bytes()
    assert kept - _resident_bytes() >= n_bytes // 2  # handed back
    _faults_of_a_new_array(n_bytes)
    assert _faults_of_a_new_array(n_bytes) >= 16
