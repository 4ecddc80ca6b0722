"""Who knows whom: each resident's contacts (household, nearest colleagues, named friends)
and the reverse graph (who counts a resident as a contact), in CSR form.

Both graphs are built by compiled kernels over ranges of residents in parallel threads
(the GIL released), each resident's friends drawn from a random stream of their own, so
that the graph is the same however many threads build it. `transpose` reverses any CSR
graph by a bucketed counting sort that keeps memory access local.
"""

from __future__ import annotations

import functools
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba as nb
import numpy as np

from scslab.scenario.people import Residents
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.sampling import group_by
from scslab.streams import splitmix64, stream_key


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


@nb.njit(cache=True)
def _contact_indptr(
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    friends: int,
) -> np.ndarray:
    """CSR offsets (int64) of the contact lists: household, colleagues, friends per resident."""
    n = len(household)
    indptr = np.empty(n + 1, np.int64)
    indptr[0] = 0
    acc = 0
    for i in range(n):
        h = household[i]
        d = hh_starts[h + 1] - hh_starts[h] - 1 + friends
        e = employer[i]
        if e >= 0:
            d += min(coworkers, work_offsets[e + 1] - work_offsets[e] - 1)
        acc += d
        indptr[i + 1] = acc
    return indptr


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW24 = np.uint64(0xFFFFFF)
_TWO_M40 = 2.0**-40


@nb.njit(cache=True, nogil=True)
def _fill_contacts(
    first: int,
    last: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_order: np.ndarray,
    work_rank: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    district: np.ndarray,
    dist_order: np.ndarray,
    dist_offsets: np.ndarray,
    friends: int,
    same_district: float,
    key: np.uint64,
) -> None:
    """Write the contacts of residents first to last - 1: household, nearest colleagues,
    then friends. Each resident's are drawn from a stream of their own, so that ranges
    may be filled apart (and at once: the GIL is released).

    `dist_order` lists residents by district; pass an empty array when ids are already in
    district order (the order is then the identity and is not read).
    """
    n = len(household)
    identity = len(dist_order) == 0
    same_threshold = np.uint64(min(max(same_district, 0.0), 1.0) * 16777216.0)
    scale_n = n * _TWO_M40
    for i in range(first, last):
        p = indptr[i]
        h = household[i]
        for j in range(hh_starts[h], hh_starts[h + 1]):
            if j != i:
                indices[p] = j
                p += 1
        e = employer[i]
        if e >= 0 and coworkers > 0:
            start = work_offsets[e]
            g = work_offsets[e + 1] - start
            r = work_rank[i]
            if g - 1 <= coworkers:
                for s in range(g):
                    if s != r:
                        indices[p] = work_order[start + s]
                        p += 1
            else:
                for step in range(1, coworkers + 1):
                    off = (step + 1) // 2 if step % 2 == 1 else -(step // 2)
                    indices[p] = work_order[start + (r + off + g) % g]
                    p += 1
    # friends in a second loop: the short loop above then has many cache misses on
    # colleagues in flight at once, and this one is pure arithmetic
    for i in range(first, last):
        end = indptr[i + 1]
        p = end - friends
        first_friend = p
        attempt = 0
        d = district[i]
        base_d = dist_offsets[d]
        size_d = dist_offsets[d + 1] - base_d
        near = same_threshold if size_d > 1 else np.uint64(0)
        scale_d = size_d * _TWO_M40
        # one splitmix64 stream per resident, one 64-bit draw per attempt: the low 24
        # bits decide same-district or anywhere, the high 40 bits pick the friend
        state = splitmix64(key ^ splitmix64(np.uint64(i)))
        while p < end:
            h = splitmix64(state + np.uint64(attempt) * _GOLDEN)
            attempt += 1
            v = float(h >> np.uint64(24))
            # branch-free choice of the range: own district, or the whole city
            same = (h & _LOW24) < near
            lo = base_d if same else 0
            top = size_d - 1 if same else n - 1
            c = lo + min(int(v * (scale_d if same else scale_n)), top)
            if not identity and same:
                c = dist_order[c]
            if c == i:
                continue
            dup = False
            for q in range(first_friend, p):
                dup |= indices[q] == c
            if dup and attempt < 50 * friends:
                continue
            indices[p] = c
            p += 1


TRANSPOSE_SHIFT = 14  # bucket width 2**14 ids: a bucket's counters and output stay in cache


@nb.njit(cache=True, nogil=True)
def _bucket_counts(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    first: int,
    last: int,
    shift: int,
    n_buckets: int,
) -> np.ndarray:
    """How many edges of rows first..last-1 (all of each row's, or its last `tail` when
    tail >= 0) go to each bucket of targets (target >> shift)."""
    counts = np.zeros(n_buckets, np.int64)
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            counts[indices[p] >> shift] += 1
    return counts


@nb.njit(cache=True, nogil=True)
def _bucket_scatter(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    first: int,
    last: int,
    shift: int,
    bpos: np.ndarray,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> None:
    """The edges counted by _bucket_counts, by source, to their bucket's next place
    (bpos, advanced): the source into t_indices, the target's low bits into low."""
    mask = (1 << shift) - 1
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            j = indices[p]
            b = j >> shift
            q = bpos[b]
            t_indices[q] = i
            low[q] = j & mask
            bpos[b] = q + 1


def bucket_edges(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    n: int,
    shift: int,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> np.ndarray:
    """First pass of a bucketed transpose: the edges of each row (all of them, or its
    last `tail` when tail >= 0) go, by source, to the bucket of their target (targets
    >> shift; n targets), packed from the front of `t_indices`; `low` gets the target's
    low bits. Returns the start of each bucket (n_buckets + 1 offsets).

    Rows are split into one range per numba thread, counted and scattered in plain
    threads (GIL-free kernels); within a bucket, earlier ranges come first, so the
    result is the same however many threads."""
    n_buckets = ((n - 1) >> shift) + 1
    rows = len(indptr) - 1
    cuts = np.linspace(0, rows, min(nb.get_num_threads(), max(rows, 1)) + 1).astype(np.int64)
    ranges = list(itertools.pairwise(int(c) for c in cuts))
    with ThreadPoolExecutor(len(ranges), thread_name_prefix="scslab-transpose") as pool:
        counts = list(
            pool.map(
                lambda r: _bucket_counts(indptr, indices, tail, r[0], r[1], shift, n_buckets),
                ranges,
            )
        )
        bstart = np.zeros(n_buckets + 1, np.int64)
        np.cumsum(np.sum(counts, axis=0), out=bstart[1:])
        starts = bstart[:-1] + np.cumsum([np.zeros(n_buckets, np.int64), *counts[:-1]], axis=0)
        list(
            pool.map(
                lambda k: _bucket_scatter(
                    indptr, indices, tail, *ranges[k], shift, starts[k].copy(), t_indices, low
                ),
                range(len(ranges)),
            )
        )
    return bstart


@nb.njit(cache=True)
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
        buf[: e - s] = t_indices[s:e]
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
        bstart = bucket_edges(indptr, indices, -1, n, shift, t_indices, low)
        _transpose_into(indptr, indices, shift, bstart, t_indptr, t_indices, low)
    return t_indptr, t_indices


@nb.njit(cache=True, nogil=True)
def _reverse_contacts(
    indptr: np.ndarray,
    indices: np.ndarray,
    friends: int,
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_order: np.ndarray,
    work_rank: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    shift: int,
    first_bucket: int,
    last_bucket: int,
    bstart: np.ndarray,
    packed: np.ndarray,
    low: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
) -> None:
    """Fill `t_indptr`/`t_indices` with who counts each resident as a contact, for the
    residents of buckets first_bucket..last_bucket-1 (2**shift residents each).

    Relies on the layout `_fill_contacts` writes: household members, colleagues, then
    exactly `friends` friends. Household and colleague ties are symmetric (colleagues
    are the nearest ranks on both sides of a ring; with an odd count the one unpaired
    step is mirrored), so that part of each reversed list is copied from the resident's
    own list; only friend ties are transposed, and follow in ascending source order:
    bucket_edges has packed the friend ties' sources by their target's bucket into
    `packed` (bstart: where each bucket starts) and the targets' low bits into `low`,
    and each bucket is counting-sorted here. Buckets write disjoint slices, so ranges
    of buckets may run in parallel.
    """
    n = len(indptr) - 1
    width = 1 << shift
    pos = np.empty(width + 1, np.int64)
    unpaired = (coworkers + 1) // 2 if coworkers % 2 == 1 else 0
    for b in range(first_bucket, last_bucket):
        s = bstart[b]
        e = bstart[b + 1]
        lo = b << shift
        w = min(width, n - lo)
        pos[: w + 1] = 0
        for q in range(s, e):
            pos[low[q] + 1] += 1
        acc = indptr[lo] - friends * lo + s
        for k in range(w):
            j = lo + k
            t_indptr[j] = acc
            own = indptr[j + 1] - indptr[j] - friends
            for q in range(own):
                t_indices[acc + q] = indices[indptr[j] + q]
            f = employer[j]
            if unpaired and f >= 0:
                start = work_offsets[f]
                g = work_offsets[f + 1] - start
                if g - 1 > coworkers:
                    h = household[j]
                    last = acc + hh_starts[h + 1] - hh_starts[h] - 1 + coworkers - 1
                    t_indices[last] = work_order[start + (work_rank[j] - unpaired + g) % g]
            acc += own
            pos[k] = acc
            acc += pos[k + 1]
        for q in range(s, e):
            k = low[q]
            t_indices[pos[k]] = packed[q]
            pos[k] += 1


@dataclass
class OwnContacts:
    """Each resident's own contacts (Population.contacts), made again from the residents
    when first asked for and kept from then on: the engine reads only who counts each
    resident as a contact, so a run does not hold both graphs (at the whole city of
    beijing-2018, 1.1 GB each). The friends are drawn from each resident's own stream,
    so the graph made again is the one build_contacts made, array for array."""

    spec: PopulationSpec
    residents: Residents
    n_firms: int
    seed: int
    most: int
    """The most contacts any resident has (the largest degree)."""
    kept: Graph | None = None

    def graph(self) -> Graph:
        """The graph (made on the first call)."""
        if self.kept is None:
            household = self.residents.household
            starts = np.flatnonzero(np.diff(household)) + 1
            hh_starts = np.concatenate([[0], starts, [len(household)]]).astype(np.int64)
            graph, _ = own_contacts(self.spec, self.residents, hh_starts, self.n_firms, self.seed)
            self.kept = graph
        return self.kept


def own_contacts(
    spec: PopulationSpec, residents: Residents, hh_starts: np.ndarray, n_firms: int, seed: int
) -> tuple[Graph, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each resident's contacts (household members, colleagues and named friends), and
    the residents by employer (group_by: order, offsets, rank) they were drawn from."""
    n = len(residents)
    work = work_order, work_offsets, work_rank = group_by(residents.employer, max(n_firms, 1))
    coworkers = spec.coworker_contacts
    friends = min(spec.friends_per_resident, n - 1)
    indptr = _contact_indptr(
        hh_starts, residents.household, residents.employer, work_offsets, coworkers, friends
    )
    indices = np.empty(int(indptr[-1]), np.int32)
    n_districts = int(residents.district.max()) + 1 if n else 1
    if np.all(residents.district[1:] >= residents.district[:-1]):
        # ids are in district order (build_residents lays them out so): no lookup needed
        per_district = np.bincount(residents.district, minlength=n_districts)
        dist_offsets = np.zeros(n_districts + 1, np.int64)
        np.cumsum(per_district, out=dist_offsets[1:])
        dist_order = np.zeros(0, np.int32)
    else:
        dist_order, dist_offsets, _ = group_by(residents.district.astype(np.int64), n_districts)
    args = (
        indptr,
        indices,
        hh_starts,
        residents.household,
        residents.employer,
        work_order,
        work_rank,
        work_offsets,
        coworkers,
        residents.district,
        dist_order,
        dist_offsets,
        friends,
        spec.friends_same_district,
        stream_key(seed, "population.friends"),
    )
    # one range of residents per thread that numba may use (the same contacts however many)
    cuts = np.linspace(0, n, nb.get_num_threads() + 1).astype(np.int64)
    with ThreadPoolExecutor(len(cuts) - 1, thread_name_prefix="scslab-contacts") as pool:
        for done in [
            pool.submit(_fill_contacts, int(a), int(b), *args) for a, b in itertools.pairwise(cuts)
        ]:
            done.result()
    return Graph(indptr, indices), work


def build_contacts(
    spec: PopulationSpec, residents: Residents, hh_starts: np.ndarray, n_firms: int, seed: int
) -> tuple[Graph, Graph]:
    """Each resident's contacts (household members, colleagues and named friends), and
    the reverse: for each resident, who counts them as a contact."""
    n = len(residents)
    own, (work_order, work_offsets, work_rank) = own_contacts(
        spec, residents, hh_starts, n_firms, seed
    )
    indptr, indices = own.indptr, own.indices
    coworkers = spec.coworker_contacts
    friends = min(spec.friends_per_resident, n - 1)
    t_indptr = np.zeros(n + 1, np.int64)
    t_indices = np.empty(len(indices), np.int32)
    # numpy-allocated scratch (huge pages): friend ties' sources by bucket, targets' low bits
    packed = np.empty(n * friends, np.int32)
    low = np.empty(n * friends, np.uint16)
    bstart = bucket_edges(indptr, indices, friends, n, TRANSPOSE_SHIFT, packed, low)
    n_buckets = len(bstart) - 1
    reverse = functools.partial(
        _reverse_contacts,
        indptr,
        indices,
        friends,
        hh_starts,
        residents.household,
        residents.employer,
        work_order,
        work_rank,
        work_offsets,
        coworkers,
        TRANSPOSE_SHIFT,
    )
    cuts = np.linspace(0, n_buckets, min(nb.get_num_threads(), n_buckets) + 1).astype(np.int64)
    with ThreadPoolExecutor(len(cuts) - 1, thread_name_prefix="scslab-contacts") as pool:
        for done in [
            pool.submit(reverse, int(a), int(b), bstart, packed, low, t_indptr, t_indices)
            for a, b in itertools.pairwise(cuts)
        ]:
            done.result()
    t_indptr[n] = len(indices)
    return own, Graph(t_indptr, t_indices)
