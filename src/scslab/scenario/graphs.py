"""Directed graphs in CSR form, and their transpose by a bucketed counting sort that
keeps memory access local (scslab.scenario.contacts reverses the contact graph with
its pieces; the enterprises' legal representatives are reversed whole)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from scslab.kernelcache import kernel


@dataclass
class Graph:
    """A directed graph in CSR form: the neighbours of i are indices[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray  # int64, length n + 1
    indices: np.ndarray  # int32

    def neighbours(self, i: int) -> np.ndarray:
        """Ids adjacent to i."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        """Number of neighbours of every node."""
        return np.diff(self.indptr)


TRANSPOSE_SHIFT = 14  # bucket width 2**14 ids: a bucket's counters and output stay in cache


class EdgeRows(NamedTuple):
    """Rows of a CSR graph to bucket by target: row i's edges are indices[indptr[i]:
    indptr[i + 1]] (all of them, or the last `tail` when tail >= 0), from source first_id
    + i."""

    indptr: np.ndarray  # int64
    indices: np.ndarray  # int32
    tail: int
    first_id: int


@kernel(inner=True)
def _bucket_counts(rows: EdgeRows, first: int, last: int, shift: int, counts: np.ndarray) -> None:
    """Add to counts[b] how many edges of rows first..last-1 go to bucket b of targets
    (target >> shift)."""
    indptr, indices, tail = rows.indptr, rows.indices, rows.tail
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            counts[indices[p] >> shift] += 1


@kernel(inner=True)
def _bucket_scatter(
    rows: EdgeRows,
    first: int,
    last: int,
    shift: int,
    bpos: np.ndarray,
    sources: np.ndarray,
    low: np.ndarray,
) -> None:
    """The edges counted by _bucket_counts, by source, to their bucket's next place
    (bpos, advanced): the source into `sources`, the target's low bits into `low`."""
    indptr, indices, tail, first_id = rows.indptr, rows.indices, rows.tail, rows.first_id
    mask = (1 << shift) - 1
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            j = indices[p]
            b = j >> shift
            q = bpos[b]
            sources[q] = first_id + i
            low[q] = j & mask
            bpos[b] = q + 1


@kernel(nogil=True)
def bucket_rows(
    rows: EdgeRows,
    shift: int,
    first: int,
    last: int,
    positions: np.ndarray,
    sources: np.ndarray,
    low: np.ndarray,
) -> None:
    """bucket_edges' pass over rows first..last-1: counted into `positions` when
    `sources` is empty (_bucket_counts), else scattered (_bucket_scatter)."""
    if len(sources):
        _bucket_scatter(rows, first, last, shift, positions, sources, low)
    else:
        _bucket_counts(rows, first, last, shift, positions)


def thread_ranges(n: int) -> list[tuple[int, int]]:
    """0..n in one range per thread that numba may use (the work is the same however
    many: each range's result depends only on its ids)."""
    cuts = np.linspace(0, n, min(nb.get_num_threads(), max(n, 1)) + 1).astype(np.int64)
    return list(itertools.pairwise(int(c) for c in cuts))


def bucket_edges(
    bucket: Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None],
    rows: int,
    n: int,
    shift: int,
    sources: np.ndarray,
    low: np.ndarray,
) -> np.ndarray:
    """First pass of a bucketed transpose: the edges of `rows` rows go, by source, to the
    bucket of their target (targets >> shift; n targets), packed from the front of
    `sources`; `low` gets the target's low bits. Returns the start of each bucket
    (n_buckets + 1 offsets).

    bucket(first, last, positions, sources, low) counts the edges of rows first..last-1
    by bucket into `positions` when `sources` is empty, and else scatters them from each
    bucket's next place (`bucket_rows` or `_friend_buckets`, their first arguments
    bound). Rows are split into one
    range per numba thread, counted and scattered in plain threads (GIL-free kernels);
    within a bucket, earlier ranges come first, so the result is the same however many
    threads."""
    n_buckets = ((n - 1) >> shift) + 1
    ranges = thread_ranges(rows)
    counts = [np.zeros(n_buckets, np.int64) for _ in ranges]
    none, no_low = sources[:0], low[:0]  # (the same types: bucket compiled once)
    with ThreadPoolExecutor(len(ranges), thread_name_prefix="scslab-transpose") as pool:
        list(pool.map(lambda k: bucket(*ranges[k], counts[k], none, no_low), range(len(ranges))))
        bstart = np.zeros(n_buckets + 1, np.int64)
        np.cumsum(np.sum(counts, axis=0), out=bstart[1:])
        starts = bstart[:-1] + np.cumsum([np.zeros(n_buckets, np.int64), *counts[:-1]], axis=0)
        list(pool.map(lambda k: bucket(*ranges[k], starts[k], sources, low), range(len(ranges))))
    return bstart


@kernel
def _transpose_into(
    indptr: np.ndarray,
    indices: np.ndarray,
    shift: int,
    bstart: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> None:
    """Fill `t_indptr` (n + 1, zeros) and `t_indices` with the transpose; see `transpose`.

    Pass 2 of it: bucket_edges has packed the sources by bucket (bstart: where each
    bucket starts) into t_indices and the targets' low bits into `low` (uint16 scratch).
    """
    n = len(t_indptr) - 1
    n_buckets = ((n - 1) >> shift) + 1
    width = 1 << shift
    # pass 1 (bucket_edges, done): each source went to its target's bucket
    # pass 2: a stable counting sort of each bucket by the target's low bits
    biggest = 0
    for b in range(n_buckets):
        biggest = max(biggest, bstart[b + 1] - bstart[b])
    buf = np.empty(biggest, np.int32)
    pos = np.empty(width + 1, np.int64)
    for b in range(n_buckets):
        s = bstart[b]
        e = bstart[b + 1]
        lo = b << shift
        w = min(width, n - lo)
        pos[: w + 1] = 0
        for q in range(s, e):
            pos[low[q] + 1] += 1
        acc = s
        for k in range(w):
            t_indptr[lo + k] = acc
            acc += pos[k + 1]
            pos[k] = t_indptr[lo + k]
        for q in range(s, e):
            buf[q - s] = t_indices[q]
        for q in range(s, e):
            k = low[q]
            t_indices[pos[k]] = buf[q - s]
            pos[k] += 1
    t_indptr[n] = len(indices)


def transpose(
    indptr: np.ndarray, indices: np.ndarray, n: int, shift: int = TRANSPOSE_SHIFT
) -> tuple[np.ndarray, np.ndarray]:
    """The transpose of a CSR graph on n nodes (who points at whom): int64 offsets, int32 ids.

    Each reversed list is in ascending source order (a stable counting sort). Two passes
    keep memory access local: sources are first scattered into buckets of 2**shift
    targets (each bucket's slice of the output), then each bucket is counting-sorted
    in place by the low bits of the target. 1 <= `shift` <= 16. Scratch: 2 bytes an edge.
    """
    if not 1 <= shift <= 16:
        raise ValueError("shift must be between 1 and 16")
    m = len(indices)
    t_indptr = np.zeros(n + 1, np.int64)
    t_indices = np.empty(m, np.int32)
    if m and n:
        # arrays allocated by numpy (not inside the kernel) get transparent huge pages
        low = np.empty(m, np.uint16)
        indptr, indices = np.asarray(indptr, np.int64), np.asarray(indices, np.int32)
        bucket = functools.partial(bucket_rows, EdgeRows(indptr, indices, -1, 0), shift)
        bstart = bucket_edges(bucket, len(indptr) - 1, n, shift, t_indices, low)
        _transpose_into(indptr, indices, shift, bstart, t_indptr, t_indices, low)
    return t_indptr, t_indices
