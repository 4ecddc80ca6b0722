"""Who knows whom: each resident's contacts (household, nearest colleagues, named friends)
and the reverse graph (who counts a resident as a contact), in CSR form.

The engine reads only the reverse graph, and build_contacts makes it without the own
one: household and work ties are symmetric, so they are written again from the
residents, and friend ties are drawn again, a block at a time, for each pass that
buckets them by friend. Each resident's friends come from a random stream of their own,
so every graph is the same however many threads build it and however often it is
drawn; own_contacts makes the own graph when something asks for it. `transpose`
(scslab.scenario.graphs) reverses any CSR graph.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from scslab.kernelcache import kernel
from scslab.scenario.graphs import (
    TRANSPOSE_SHIFT,
    EdgeRows,
    Graph,
    bucket_edges,
    bucket_rows,
    thread_ranges,
)
from scslab.scenario.people import Residents
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.sampling import group_by
from scslab.streams import splitmix64, stream_key


class Ties(NamedTuple):
    """Who a resident's household and work ties are, for the kernels that write them:
    the residents by household (household: each resident's, hh_starts: where each
    household's ids start) and by employer (group_by: work_order, work_offsets,
    work_rank), and how many nearest colleagues count as contacts."""

    hh_starts: np.ndarray  # int64, households + 1
    household: np.ndarray  # per resident
    employer: np.ndarray  # per resident, -1: none
    work_order: np.ndarray  # int32, residents by employer
    work_offsets: np.ndarray  # int64, employers + 1
    work_rank: np.ndarray  # int32, each resident's place in its employer's group
    coworkers: int


class FriendDraw(NamedTuple):
    """How named friends are drawn: `friends` per resident, each from the resident's own
    district with probability `same_district` (residents by district: dist_order, or an
    empty array when ids are in district order, and dist_offsets), else from the whole
    city; `key` the stream's key."""

    district: np.ndarray  # per resident
    dist_order: np.ndarray  # int32, or empty
    dist_offsets: np.ndarray  # int64, districts + 1
    friends: int
    same_district: float
    key: np.uint64


@kernel(inner=True)
def _tie_counts(first: int, last: int, ties: Ties, out: np.ndarray) -> None:
    """out[i - first] = how many household and work ties resident i has (first <= i <
    last): the rest of its household, and the nearest `coworkers` of the others at its
    employer."""
    hh_starts, household, employer = ties.hh_starts, ties.household, ties.employer
    work_offsets, coworkers = ties.work_offsets, ties.coworkers
    for i in range(first, last):
        h = household[i]
        e = employer[i]
        colleagues = work_offsets[e + 1] - work_offsets[e] - 1 if e >= 0 else 0
        out[i - first] = hh_starts[h + 1] - hh_starts[h] - 1 + min(coworkers, colleagues)


BLOCK = 1 << 14
"""Residents a kernel takes at a time into its scratch (a block's scratch stays in cache)."""


@kernel
def _contact_indptr(ties: Ties, friends: int) -> np.ndarray:
    """CSR offsets (int64) of the contact lists: household, colleagues, friends per resident."""
    n = len(ties.household)
    indptr = np.empty(n + 1, np.int64)
    indptr[0] = 0
    counts = np.empty(BLOCK, np.int64)
    for first in range(0, n, BLOCK):
        last = min(first + BLOCK, n)
        _tie_counts(first, last, ties, counts)
        for i in range(first, last):
            indptr[i + 1] = indptr[i] + counts[i - first] + friends
    return indptr


@kernel
def _ties_before(ties: Ties, shift: int) -> tuple[np.ndarray, int]:
    """How many household and work ties the residents before each bucket of 2**shift ids
    have in all (n_buckets + 1 sums), and the most ties any resident has."""
    n = len(ties.household)
    width = 1 << shift
    n_buckets = ((n - 1) >> shift) + 1 if n else 0
    before = np.zeros(n_buckets + 1, np.int64)
    counts = np.empty(width, np.int64)
    most = 0
    for b in range(n_buckets):
        first = b << shift
        last = min(first + width, n)
        _tie_counts(first, last, ties, counts)
        total = 0
        for k in range(last - first):
            total += counts[k]
            most = max(most, counts[k])
        before[b + 1] = before[b] + total
    return before, most


@kernel(inner=True)
def _write_ties(first: int, last: int, ties: Ties, starts: np.ndarray, out: np.ndarray) -> None:
    """The household members, then the nearest colleagues, of residents first to last - 1,
    resident i's from out[starts[i - first]] on. Colleagues are the nearest ranks on both
    sides of the employer's ring, alternately after and before (all the others when they
    are no more than `coworkers`)."""
    hh_starts, household, employer = ties.hh_starts, ties.household, ties.employer
    work_order, work_offsets, work_rank = ties.work_order, ties.work_offsets, ties.work_rank
    coworkers = ties.coworkers
    for i in range(first, last):
        p = starts[i - first]
        h = household[i]
        for j in range(hh_starts[h], hh_starts[h + 1]):
            if j != i:
                out[p] = j
                p += 1
        e = employer[i]
        if e >= 0 and coworkers > 0:
            start = work_offsets[e]
            g = work_offsets[e + 1] - start
            r = work_rank[i]
            if g - 1 <= coworkers:
                for s in range(g):
                    if s != r:
                        out[p] = work_order[start + s]
                        p += 1
            else:
                for step in range(1, coworkers + 1):
                    off = (step + 1) // 2 if step % 2 == 1 else -(step // 2)
                    out[p] = work_order[start + (r + off + g) % g]
                    p += 1


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW24 = np.uint64(0xFFFFFF)
_TWO_M40 = 2.0**-40


@kernel(inner=True)
def _draw_friends(
    first: int, last: int, draw: FriendDraw, ends: np.ndarray, out: np.ndarray
) -> None:
    """The named friends of residents first to last - 1, resident i's the `friends` ids
    before out[ends[i - first]]: each resident's drawn from a stream of their own (so
    that ranges may be drawn apart, at once or again), none the resident, no two the
    same (unless 50 draws a friend find none new)."""
    district, dist_order, dist_offsets = draw.district, draw.dist_order, draw.dist_offsets
    friends, key = draw.friends, draw.key
    n = len(district)
    identity = len(dist_order) == 0
    same_threshold = np.uint64(min(max(draw.same_district, 0.0), 1.0) * 16777216.0)
    scale_n = n * _TWO_M40
    for i in range(first, last):
        end = ends[i - first]
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
                dup |= out[q] == c
            if dup and attempt < 50 * friends:
                continue
            out[p] = c
            p += 1


@kernel(nogil=True)
def _fill_contacts(
    first: int, last: int, ties: Ties, draw: FriendDraw, indptr: np.ndarray, indices: np.ndarray
) -> None:
    """Write the contacts of residents first to last - 1 (household, nearest colleagues,
    then friends) into the CSR graph (indptr, indices). Ranges may be filled apart and
    at once (the GIL is released)."""
    _write_ties(first, last, ties, indptr[first:last], indices)
    # friends in a second pass: the short loop of ties then has many cache misses on
    # colleagues in flight at once, and this one is pure arithmetic
    _draw_friends(first, last, draw, indptr[first + 1 : last + 1], indices)


@kernel(nogil=True)
def _friend_buckets(
    draw: FriendDraw,
    shift: int,
    first: int,
    last: int,
    positions: np.ndarray,
    sources: np.ndarray,
    low: np.ndarray,
) -> None:
    """bucket_rows over the friend ties of residents first to last - 1, drawn a block at
    a time as `_draw_friends` draws them (again for each pass, instead of kept)."""
    friends = draw.friends
    indptr, drawn = np.arange(BLOCK + 1) * friends, np.empty(BLOCK * friends, np.int32)
    ends = indptr[1:]  # (each block's rows: `friends` ties each)
    for b0 in range(first, last, BLOCK):
        b1 = min(b0 + BLOCK, last)
        _draw_friends(b0, b1, draw, ends, drawn)
        rows = EdgeRows(indptr, drawn, -1, b0)
        # (rows from a 0 worked out, not a literal: bucket_rows compiled once for all callers)
        bucket_rows(rows, shift, b0 - b0, b1 - b0, positions, sources, low)


class Reversed(NamedTuple):
    """The reverse contact graph being filled (t_indptr, n + 1 zeros; t_indices), and
    what bucket_edges packed of the friend ties: their sources by their friend's bucket
    (bstart: where each bucket starts) and the friends' low bits (`low`); ties_before:
    each bucket's first place minus its friend ties before it (`_ties_before`)."""

    t_indptr: np.ndarray  # int64
    t_indices: np.ndarray  # int32
    bstart: np.ndarray  # int64, n_buckets + 1
    packed: np.ndarray  # int32
    low: np.ndarray  # uint16
    ties_before: np.ndarray  # int64, n_buckets + 1


@kernel(nogil=True)
def _reverse_contacts(
    ties: Ties, shift: int, first_bucket: int, last_bucket: int, out: Reversed
) -> None:
    """Fill out.t_indptr/t_indices with who counts each resident as a contact, for the
    residents of buckets first_bucket..last_bucket-1 (2**shift residents each): their
    household and work ties, then who named them as a friend in ascending order.

    Household and colleague ties are symmetric (colleagues are the nearest ranks on both
    sides of a ring; with an odd count the one unpaired step is mirrored), so that part
    of each reversed list is the resident's own ties, written again (`_write_ties`);
    only friend ties are transposed: each bucket's packed sources are counting-sorted
    by their friend's low bits. Buckets write disjoint slices, so ranges of buckets may
    run in parallel.
    """
    t_indptr, t_indices, bstart, packed, low = (
        out.t_indptr,
        out.t_indices,
        out.bstart,
        out.packed,
        out.low,
    )
    n = len(t_indptr) - 1
    width = 1 << shift
    pos = np.empty(width + 1, np.int64)
    own = np.empty(width, np.int64)
    coworkers = ties.coworkers
    unpaired = (coworkers + 1) // 2 if coworkers % 2 == 1 else 0
    for b in range(first_bucket, last_bucket):
        s = bstart[b]
        e = bstart[b + 1]
        lo = b << shift
        w = min(width, n - lo)
        pos[: w + 1] = 0
        for q in range(s, e):
            pos[low[q] + 1] += 1
        _tie_counts(lo, lo + w, ties, own)
        acc = out.ties_before[b] + s
        for k in range(w):
            t_indptr[lo + k] = acc
            acc += own[k]
            pos[k] = acc
            acc += pos[k + 1]
        _write_ties(lo, lo + w, ties, t_indptr[lo : lo + w], t_indices)
        if unpaired:
            _mirror_unpaired(lo, lo + w, ties, unpaired, t_indptr, t_indices)
        for q in range(s, e):
            k = low[q]
            t_indices[pos[k]] = packed[q]
            pos[k] += 1


@kernel(inner=True)
def _mirror_unpaired(
    first: int, last: int, ties: Ties, unpaired: int, t_indptr: np.ndarray, t_indices: np.ndarray
) -> None:
    """With an odd number of coworkers, the last colleague of each of residents first to
    last - 1 (of an employer with more than coworkers + 1) is the one `unpaired` ranks
    before it, who counts it as its unpaired colleague (after it)."""
    hh_starts, household, employer = ties.hh_starts, ties.household, ties.employer
    work_order, work_offsets, work_rank = ties.work_order, ties.work_offsets, ties.work_rank
    coworkers = ties.coworkers
    for j in range(first, last):
        f = employer[j]
        if f >= 0:
            start = work_offsets[f]
            g = work_offsets[f + 1] - start
            if g - 1 > coworkers:
                h = household[j]
                last_tie = t_indptr[j] + hh_starts[h + 1] - hh_starts[h] - 1 + coworkers - 1
                t_indices[last_tie] = work_order[start + (work_rank[j] - unpaired + g) % g]


@dataclass
class OwnContacts:
    """Each resident's own contacts (Population.contacts), made from the residents when
    first asked for and kept from then on: the engine reads only who counts each
    resident as a contact, so a run never holds this graph (at the whole city of
    beijing-2018, 1.1 GB). The friends are drawn from each resident's own stream, so
    the graph is the one whose transpose build_contacts made, array for array."""

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
            self.kept = own_contacts(self.spec, self.residents, self.n_firms, self.seed)
        return self.kept


def _ties_and_friends(
    spec: PopulationSpec, residents: Residents, n_firms: int, seed: int
) -> tuple[Ties, FriendDraw]:
    """The residents' household and work ties, and how their friends are drawn."""
    n = len(residents)
    household = residents.household
    hh_starts = np.concatenate(
        [[0], np.flatnonzero(np.diff(household)) + 1, [len(household)]]
    ).astype(np.int64)
    work_order, work_offsets, work_rank = group_by(residents.employer, max(n_firms, 1))
    ties = Ties(
        hh_starts,
        household,
        residents.employer,
        work_order,
        work_offsets,
        work_rank,
        spec.coworker_contacts,
    )
    n_districts = int(residents.district.max()) + 1 if n else 1
    if np.all(residents.district[1:] >= residents.district[:-1]):
        # ids are in district order (build_residents lays them out so): no lookup needed
        per_district = np.bincount(residents.district, minlength=n_districts)
        dist_offsets = np.zeros(n_districts + 1, np.int64)
        np.cumsum(per_district, out=dist_offsets[1:])
        dist_order = np.zeros(0, np.int32)
    else:
        dist_order, dist_offsets, _ = group_by(residents.district.astype(np.int64), n_districts)
    draw = FriendDraw(
        residents.district,
        dist_order,
        dist_offsets,
        min(spec.friends_per_resident, n - 1),
        spec.friends_same_district,
        stream_key(seed, "population.friends"),
    )
    return ties, draw


def own_contacts(spec: PopulationSpec, residents: Residents, n_firms: int, seed: int) -> Graph:
    """Each resident's contacts: household members, nearest colleagues, named friends."""
    ties, draw = _ties_and_friends(spec, residents, n_firms, seed)
    indptr = _contact_indptr(ties, draw.friends)
    indices = np.empty(int(indptr[-1]), np.int32)
    with ThreadPoolExecutor(nb.get_num_threads(), thread_name_prefix="scslab-contacts") as pool:
        for done in [
            pool.submit(_fill_contacts, a, b, ties, draw, indptr, indices)
            for a, b in thread_ranges(len(residents))
        ]:
            done.result()
    return Graph(indptr, indices)


def build_contacts(
    spec: PopulationSpec, residents: Residents, n_firms: int, seed: int
) -> tuple[Graph, int]:
    """For each resident, who counts them as a contact (the reverse of own_contacts), and
    the most contacts any resident counts. The own contacts are not made: household and
    work ties are symmetric, and the friend ties are drawn a block at a time, bucketed
    by friend and counting-sorted (scratch: 6 bytes a friend tie)."""
    n = len(residents)
    ties, draw = _ties_and_friends(spec, residents, n_firms, seed)
    ties_before, most_ties = _ties_before(ties, TRANSPOSE_SHIFT)
    m = int(ties_before[-1]) + n * draw.friends
    # numpy-allocated scratch (huge pages): friend ties' sources by bucket, friends' low bits
    packed = np.empty(n * draw.friends, np.int32)
    low = np.empty(n * draw.friends, np.uint16)
    bucket = functools.partial(_friend_buckets, draw, TRANSPOSE_SHIFT)
    bstart = bucket_edges(bucket, n, n, TRANSPOSE_SHIFT, packed, low)
    out = Reversed(
        np.zeros(n + 1, np.int64), np.empty(m, np.int32), bstart, packed, low, ties_before
    )
    reverse = functools.partial(_reverse_contacts, ties, TRANSPOSE_SHIFT)
    with ThreadPoolExecutor(nb.get_num_threads(), thread_name_prefix="scslab-contacts") as pool:
        for done in [pool.submit(reverse, a, b, out) for a, b in thread_ranges(len(bstart) - 1)]:
            done.result()
    out.t_indptr[n] = m
    return Graph(out.t_indptr, out.t_indices), most_ties + draw.friends
