"""Collectors: a run's metrics accumulated per cell during the day, and summed into groups.

During a run, metrics are accumulated per *cell* (district x hukou x income decile for
residents, district for enterprises) in one float64 array per day; at the end of the
day the cells are summed into groups (city, district, hukou, income decile) and kept
as the day's row of the run's metrics table.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scslab.engine.containers import Grades, Grading, ListMarks, RunningCounts
from scslab.kernelcache import kernel
from scslab.model.containers import ByGroup
from scslab.model.prefetch import AHEAD, prefetch

HIST_BIN_POINTS = 10.0


def count_into(acc: np.ndarray, cells: np.ndarray, cols: np.ndarray | int) -> None:
    """Add 1 to acc[cell, col] for each (cell, col) pair (a fast np.add.at for counts)."""
    if len(cells) == 0:
        return
    n_cells, n_cols = acc.shape
    flat = cells.astype(np.int64) * n_cols + cols
    acc += np.bincount(flat, minlength=n_cells * n_cols).reshape(n_cells, n_cols)


class MetricSpace:
    """Ordered metric names of one accumulator; `index[name]` is the column."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, name: str) -> int:
        """Register a metric (idempotent); returns its column."""
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]

    def family(self, prefix: str, items: list[str]) -> np.ndarray:
        """Register `prefix:item` for each item; returns their columns (int64)."""
        return np.array([self.add(f"{prefix}:{it}") for it in items], np.int64)

    def __len__(self) -> int:
        return len(self.names)


class StateCollector:
    """Sums the state of every agent of one kind per cell, once a day.

    The score tally (tally_scores) finds each agent's histogram bin in a pass that the
    compiler vectorises, then counts again only the agents whose bin changed since the
    collector's last tally (BinCounts, kept per set of grade floors); when the grade
    floors fall on histogram bin edges, a score's grade is read off its bin. One call at
    a time per collector (it keeps the running counts).
    """

    def __init__(
        self,
        cell: np.ndarray,
        n_cells: int,
        n_bins: int,
        counted: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """cell: each agent's cell (< n_cells); counted: (cell as uint16, agents per cell
        as int64) where already worked out (else from `cell`)."""
        if n_bins >= NOT_COUNTED:
            raise ValueError(f"at most {NOT_COUNTED - 1} histogram bins (got {n_bins})")
        self.n_cells = n_cells
        self.n_bins = n_bins
        if counted is None:
            self.cell = cell.astype(np.uint16)
            self.cell_count = np.bincount(self.cell, minlength=n_cells).astype(np.int64)
        else:
            self.cell, self.cell_count = counted
        # _collect_lists counts each agent into the row of its cell
        self.rows = (np.arange(n_cells + 1, dtype=np.int64), np.arange(n_cells, dtype=np.int64))
        """(indptr, rows) of each cell: its own row (a ByGroup's; not to be written)."""
        self._counts: BinCounts | None = None

    def grade_of_bin(self, floors: np.ndarray, hist_lo: float) -> np.ndarray:
        """Grade index (int64) of every histogram bin, or an empty array when there are no
        floors or a grade floor (points) is not a bin edge."""
        edges = (floors[:-1] - hist_lo) / HIST_BIN_POINTS
        on_edges = np.all(edges == np.round(edges)) and np.all((edges >= 1) & (edges < self.n_bins))
        if len(floors) == 0 or not on_edges:
            return np.zeros(0, np.int64)
        left = hist_lo + HIST_BIN_POINTS * np.arange(self.n_bins)
        return (left[:, None] < floors[None, :-1]).sum(axis=1).astype(np.int64)

    def collect(
        self,
        marks: ListMarks,
        score: np.ndarray,
        grades: Grades,
        days_blacklisted: np.ndarray,
        out: np.ndarray,
        hist: np.ndarray,
        *,
        listed: np.ndarray | None = None,
    ) -> None:
        """Columns of out [cells, columns]: count, blacklisted, wrongfully blacklisted,
        score sum (points), then agents on each list, wrongfully on each list, and in each
        grade (grades.floors: lowest score of each grade, highest grade first; at most
        MAX_GRADES). hist: scores counted in HIST_BIN_POINTS bins from grades.hist_lo
        (points). Adds a day to days_blacklisted (when given) of everyone on a
        blacklist. listed: the ids of all agents on some list, increasing, if known
        (found from marks.mask if not).

        The two halves, collect_lists() and collect_scores(), may also be called apart
        (the engine tallies the scores in another thread)."""
        self.collect_lists(marks, days_blacklisted, out, listed)
        floors, hist_lo = grades
        out += self.collect_scores(score, floors, hist_lo, marks.n_lists, out.shape[1], hist)

    def collect_lists(
        self,
        marks: ListMarks,
        days_blacklisted: np.ndarray,
        out: np.ndarray,
        listed: np.ndarray | None = None,
    ) -> None:
        """The list columns of collect() (count, blacklisted, wrongfully blacklisted, on
        and wrongfully on each list); the score columns are left at 0. listed: as for
        collect()."""
        out[:] = 0.0
        if listed is None:
            listed = np.flatnonzero(marks.mask)
        by_cell = ByGroup(out, self.cell, self.rows[0], self.rows[1])
        _collect_lists(by_cell, marks, listed, days_blacklisted)
        out[:, 0] = self.cell_count

    def collect_scores(
        self,
        score: np.ndarray,
        floors: np.ndarray,
        hist_lo: float,
        n_lists: int,
        n_columns: int,
        hist: np.ndarray,
        common_grade: int = -1,
    ) -> np.ndarray:
        """The score columns of collect() (score sum, agents in each grade) as a [cells,
        n_columns] array, zero elsewhere; the histogram goes to hist (tally_scores, which
        releases the GIL; common_grade: the grade most agents are in, if known, as there).
        """
        if len(hist) != self.n_bins:
            raise ValueError(f"hist: {self.n_bins} bins expected (got {len(hist)})")
        out = np.zeros((self.n_cells, n_columns))
        hist[:] = 0.0
        if len(score) != len(self.cell) or len(floors) == 0:
            return out
        counts = self.running_counts(floors, hist_lo)
        upper = floors[:-1].astype(np.float64)
        grading = Grading(
            self.cell, upper, counts.grade_of_bin, common_grade, self.cell_count, hist_lo
        )
        running = RunningCounts(counts.counted, counts.bin_counts, counts.grade_counts)
        tally_scores(score, grading, running, 4 + 2 * n_lists, out, hist)
        return out

    def running_counts(self, floors: np.ndarray, hist_lo: float) -> BinCounts:
        """The running counts of the score tally for these grade floors (points) and this
        histogram start (points): the ones kept since the last tally when it had the same,
        else new ones (nothing counted yet)."""
        got = self._counts
        if got is None or got.floors != floors.tobytes() or got.hist_lo != hist_lo:
            got = BinCounts(
                floors=floors.tobytes(),
                hist_lo=hist_lo,
                grade_of_bin=self.grade_of_bin(floors, hist_lo),
                counted=np.full(len(self.cell), NOT_COUNTED, np.uint16),
                bin_counts=np.zeros(self.n_bins, np.int64),
                grade_counts=np.zeros((self.n_cells, max(len(floors), 1)), np.int64),
            )
            self._counts = got
        return got


@kernel(inner=True)
def _count_lists(
    row: np.ndarray, m: int, wr: int, black_bits: int, n_lists: int, weight: float
) -> None:
    """Adds `weight` to the list columns of `row` that an agent with list mask m and
    wrongful flags wr counts in: on each list (4 + list), wrongfully on it (4 + n_lists
    + list), blacklisted (1), wrongfully blacklisted (2: every blacklist it is on is
    wrongful)."""
    for b in range(n_lists):
        if (m >> b) & 1:
            row[4 + b] += weight
            if (wr >> b) & 1:
                row[4 + n_lists + b] += weight
    if m & black_bits:
        row[1] += weight
        if (m & black_bits & ~wr) == 0:
            row[2] += weight


@kernel
def _collect_lists(
    into: ByGroup, marks: ListMarks, listed: np.ndarray, days_blacklisted: np.ndarray
) -> None:
    """Agents on each list, wrongfully on each, blacklisted, wrongfully blacklisted,
    added to the rows of into.row of each agent's cell (into.cell): the cell itself, or
    the groups it is in; a day added to days_blacklisted (when given) of everyone on a
    blacklist. Only the agents in `listed` are visited (their fields prefetched
    ahead)."""
    out, cell, rows_indptr, rows_indices = into
    mask, wrongful, black_bits, n_lists = marks
    count_days = len(days_blacklisted) == len(cell)
    for j in range(len(listed)):
        if j + AHEAD < len(listed):
            ahead = listed[j + AHEAD]
            prefetch(mask, ahead)
            prefetch(wrongful, ahead)
            prefetch(cell, ahead)
        i = listed[j]
        m = mask[i]
        c = cell[i]
        wr = wrongful[i]
        if m & black_bits and count_days:
            days_blacklisted[i] += 1
        for q in range(rows_indptr[c], rows_indptr[c + 1]):
            _count_lists(out[rows_indices[q]], m, wr, black_bits, n_lists, 1.0)


@kernel(nogil=True)
def count_ever(cell: np.ndarray, ever: np.ndarray, out: np.ndarray) -> None:
    """out [cells, lists] (zeros): the agents of each cell (cell[i] of agent i) ever on
    each list (bit `list` of ever[i]), as whole numbers."""
    n_lists = out.shape[1]
    for i in range(len(cell)):
        m = ever[i]
        if m == 0:
            continue
        for b in range(n_lists):
            if (m >> b) & 1:
                out[cell[i], b] += 1.0


@kernel(nogil=True)
def recount_lists(
    ids: np.ndarray,
    marks: ListMarks,
    counted: tuple[np.ndarray, np.ndarray],
    into: ByGroup,
) -> None:
    """Keeps into.row (the counts; rows as for _collect_lists) equal to _collect_lists'
    list columns of every agent, from the agents that may have changed: each agent in
    `ids` whose list mask or wrongful flags differ from those last counted (counted:
    (mask, wrongful), which it updates) has its old counts taken off the rows of its
    cell and its new ones added. Repeats in ids are harmless. The counts are whole
    numbers, so they are exactly _collect_lists' in any order."""
    counts, cell, rows_indptr, rows_indices = into
    mask, wrongful, black_bits, n_lists = marks
    counted_mask, counted_wrongful = counted
    for j in range(len(ids)):
        i = ids[j]
        m, wr = mask[i], wrongful[i]
        was_m, was_wr = counted_mask[i], counted_wrongful[i]
        if m == was_m and wr == was_wr:
            continue
        c = cell[i]
        for q in range(rows_indptr[c], rows_indptr[c + 1]):
            row = counts[rows_indices[q]]
            _count_lists(row, was_m, was_wr, black_bits, n_lists, -1.0)
            _count_lists(row, m, wr, black_bits, n_lists, 1.0)
        counted_mask[i] = m
        counted_wrongful[i] = wr


NOT_COUNTED = 0xFFFF
"""BinCounts.counted of an agent not counted yet (the bins are fewer)."""
RECOUNT_BLOCK = 64
"""The score tally's recount compares this many agents at once (a block whose bins did not
change is skipped whole)."""
TALLY_CHUNK = 32768
"""The score tally takes agents this many at a time (a multiple of 4 and of RECOUNT_BLOCK):
a chunk's cells (64 KiB) stay in the cache from its score sums to its recount; a pass
over the whole city's cells at a time (43 MB) would leave the recount a cache miss for
each agent whose bin changed."""
assert TALLY_CHUNK % 4 == 0 and TALLY_CHUNK % RECOUNT_BLOCK == 0  # (the sums' lanes: i % 4)


# (finite scores: no NaNs or infinities lets the compiler vectorise the min and max)
@kernel(nogil=True, fastmath={"nnan", "ninf", "nsz"})
def _bin_keys(score: np.ndarray, n_bins: int, lo: float, scale: float, key: np.ndarray) -> None:
    """key[i] = the bin of score[i] (points): (score - lo) * scale clamped to [0, n_bins -
    1], then truncated, which is the bin of truncation and clamping. Scores finite."""
    top = float(n_bins - 1)
    # (the bins fit int32, which the processor converts many at a time; int64 it
    # converts one by one)
    for i in range(len(score)):
        key[i] = np.int32(min(max((score[i] - lo) * scale, 0.0), top))


@kernel(inner=True)
def _recount_bins(
    key: np.ndarray,
    counted: np.ndarray,
    cell: np.ndarray,
    grade_of_bin: np.ndarray,
    bin_counts: np.ndarray,
    grade_counts: np.ndarray,
) -> None:
    """Bring the running counts up to the bins in `key`: each agent whose bin differs from
    the one it was counted in (counted; NOT_COUNTED: none) moves from that bin to its
    new one in bin_counts, and, when grade_of_bin is given (one grade per bin), from the
    old bin's grade to the new one's in grade_counts[its cell]. Most agents keep their
    bin from one day to the next: blocks of RECOUNT_BLOCK agents are compared at once
    (the compiler vectorises that) and only a block with a change is visited."""
    n = len(key)
    by_bin = len(grade_of_bin) > 0
    for block in range(-(-n // RECOUNT_BLOCK)):
        first = block * RECOUNT_BLOCK
        last = min(first + RECOUNT_BLOCK, n)
        diff = 1  # (a last, partial block is visited)
        if last - first == RECOUNT_BLOCK:  # (a fixed trip count: vectorised)
            diff = 0
            for i in range(first, first + RECOUNT_BLOCK):
                diff |= key[i] ^ counted[i]
        if diff == 0:
            continue
        for i in range(first, last):
            k, old = key[i], counted[i]
            if k == old:
                continue
            counted[i] = k
            bin_counts[k] += 1
            if by_bin:
                grade_counts[cell[i], grade_of_bin[k]] += 1
            if old != NOT_COUNTED:
                bin_counts[old] -= 1
                if by_bin:
                    grade_counts[cell[i], grade_of_bin[old]] -= 1


@kernel(nogil=True)
def tally_scores(
    score: np.ndarray,
    grading: Grading,
    running: RunningCounts,
    g0: int,
    out: np.ndarray,
    hist: np.ndarray,
) -> None:
    """Adds score sums per cell (points) to out[:, 3], agents per (cell, grade) to
    out[:, g0 + grade] and agents per HIST_BIN_POINTS bin from hist_lo to hist (scores
    below or above its range in the first or last bin). A score's grade is
    grade_of_bin[its bin] when that is given (one per bin: grade floors on bin edges),
    else the number of upper_floors (the floors of every grade but the lowest, highest
    first) above it. hist, bin_counts: one entry per bin (the same number). Releases the
    GIL.

    The counts per bin (and per cell and grade, by bin) are kept from one call to the
    next, a BinCounts' counted, bin_counts and grade_counts [cells, grades] (see
    _recount_bins): only the agents whose bin changed are counted again. The agents are
    taken TALLY_CHUNK at a time, so that a chunk's cells are still in the cache for its
    recount: their bins (a pass the compiler vectorises), the score sums (in four lanes,
    agent i in lane i % 4, each in id order and then lane after lane), then the
    recount. Without grades by bin, one more pass counts per cell and grade, leaving out
    common_grade (the grade of most agents, -1 for none), which the cells' sizes
    cell_count give. grading: the agents' cells, the grades and the histogram start;
    running: the counts kept from one call to the next."""
    cell, upper_floors, grade_of_bin, common_grade, cell_count, hist_lo = grading
    counted, bin_counts, grade_counts = running
    n_cells = out.shape[0]
    n_bins = len(hist)
    n = len(cell)
    by_bin = len(grade_of_bin) == n_bins
    scale = 1.0 / HIST_BIN_POINTS
    key = np.empty(min(n, TALLY_CHUNK), np.uint16)
    sums = np.zeros(4 * n_cells)
    for chunk in range(-(-n // TALLY_CHUNK)):
        first = chunk * TALLY_CHUNK
        last = min(first + TALLY_CHUNK, n)
        # (views from 0: indices the compiler knows to be non-negative vectorise)
        chunk_score, chunk_cell, chunk_key = (
            score[first:last],
            cell[first:last],
            key[: last - first],
        )
        _bin_keys(chunk_score, n_bins, hist_lo, scale, chunk_key)
        m = last - first
        whole = m - m % 4  # (first is a multiple of 4: lane i % 4 is the same in the chunk)
        for step in range(
            whole // 4
        ):  # (four agents a step: no two consecutive agents wait on one sum)
            at = 4 * step
            for lane in range(4):
                sums[4 * np.int64(chunk_cell[at + lane]) + lane] += chunk_score[at + lane]
        for i in range(whole, m):
            sums[4 * np.int64(chunk_cell[i]) + i % 4] += chunk_score[i]
        _recount_bins(
            chunk_key,
            counted[first:last],
            chunk_cell,
            grade_of_bin if by_bin else grade_of_bin[:0],
            bin_counts,
            grade_counts,
        )
    for c in range(n_cells):
        out[c, 3] += ((sums[4 * c] + sums[4 * c + 1]) + sums[4 * c + 2]) + sums[4 * c + 3]
    for b in range(n_bins):
        hist[b] += bin_counts[b]
    n_grades = len(upper_floors) + 1
    if by_bin:
        for c in range(n_cells):
            for g in range(n_grades):
                out[c, g0 + g] += grade_counts[c, g]
        return
    grades = np.zeros((n_cells, n_grades), np.int32)
    for i in range(n):
        s = score[i]
        g = 0
        for f in upper_floors:
            g += s < f
        if g != common_grade:
            grades[cell[i], g] += 1
    for c in range(n_cells):
        counted_here = 0
        for g in range(n_grades):
            out[c, g0 + g] += grades[c, g]
            counted_here += grades[c, g]
        if common_grade >= 0:
            out[c, g0 + common_grade] += cell_count[c] - counted_here


@dataclass
class BinCounts:
    """The score tally's running counts for one collector, one set of grade floors and
    one histogram start (what they were made for: `floors`, the floors' bytes, and
    `hist_lo`, points): the bin each agent was last counted in (`counted`, uint16
    [agents]; NOT_COUNTED at first), agents per bin (`bin_counts` [bins]) and, with
    grades read off bins (`grade_of_bin` [bins], else empty), agents per cell and grade
    (`grade_counts` [cells, grades]; without grades by bin it stays zero, unread)."""

    floors: bytes
    hist_lo: float
    grade_of_bin: np.ndarray
    counted: np.ndarray
    bin_counts: np.ndarray
    grade_counts: np.ndarray


@dataclass
class GroupMap:
    """How cells sum into reported groups: the cells of each group, with labels."""

    group_by: list[str]
    group: list[str]
    members: list[np.ndarray]  # int64 cell indices of each group
    n_cells: int

    def __post_init__(self) -> None:
        # the members of every group, one after the other (group g: indptr[g]:indptr[g+1]);
        # members are not to change afterwards
        self.indptr = np.cumsum([0] + [len(m) for m in self.members]).astype(np.int64)
        self.indices = (
            np.concatenate(self.members).astype(np.int64) if self.members else np.zeros(0, np.int64)
        )
        # the other way round: the groups of every cell (cell c: groups_of_cell[
        # groups_indptr[c]:groups_indptr[c + 1]], increasing)
        group_of_member = np.repeat(np.arange(len(self.members)), np.diff(self.indptr))
        order = np.argsort(self.indices, kind="stable")
        self.groups_of_cell = group_of_member[order].astype(np.int64)
        self.groups_indptr = np.searchsorted(
            self.indices[order], np.arange(self.n_cells + 1)
        ).astype(np.int64)

    def sum_cells(self, cells: np.ndarray) -> np.ndarray:
        """[groups, columns]: the rows of cells [cells, columns] summed over each group's
        cells, in the order of its members."""
        out = np.zeros((len(self.members), cells.shape[1]))
        _sum_rows(np.ascontiguousarray(cells), self.indptr, self.indices, out)
        return out

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str, np.ndarray]], n_cells: int) -> GroupMap:
        """Groups from (group_by, group, boolean mask over cells) rows."""
        return cls(
            [r[0] for r in rows],
            [r[1] for r in rows],
            [np.flatnonzero(r[2]) for r in rows],
            n_cells,
        )


@kernel
def _sum_rows(cells: np.ndarray, indptr: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    """out[g] (zeros) += each row of cells[indices[indptr[g]:indptr[g + 1]]], in order:
    for C-ordered cells with two or more columns, the sums numpy gives over the first
    axis, to the bit (numpy sums a single column pairwise). Not a BLAS matmul, whose
    threads left spinning slow down the numba kernels."""
    for g in range(len(indptr) - 1):
        for j in range(indptr[g], indptr[g + 1]):
            row = cells[indices[j]]
            for m in range(len(row)):
                out[g, m] += row[m]


def resident_groups(district_names: Sequence[str]) -> GroupMap:
    """Groups of resident cells (cell = district * 20 + migrant * 10 + income decile):
    made once per list of district names in a process and shared (see _groups)."""
    return _groups("resident", tuple(district_names))


def enterprise_groups(district_names: Sequence[str]) -> GroupMap:
    """Groups of enterprise cells (cell = district): made once per list of district
    names in a process and shared (see _groups)."""
    return _groups("enterprise", tuple(district_names))


@functools.lru_cache(maxsize=64)
def _groups(side: str, district_names: tuple[str, ...]) -> GroupMap:
    """The GroupMap of resident or enterprise cells of a city with these districts. A
    GroupMap is not changed once made (its members and arrays are not to be written),
    so every run of the same districts shares one."""
    nd = len(district_names)
    if side == "enterprise":
        rows: list[tuple[str, str, np.ndarray]] = [("city", "all", np.ones(nd, bool))]
        rows += [("district", name, np.arange(nd) == d) for d, name in enumerate(district_names)]
        return GroupMap.from_rows(rows, nd)
    cells = np.arange(nd * 20)
    dist, mig, dec = cells // 20, (cells // 10) % 2, cells % 10
    rows = [("city", "all", np.ones(len(cells), bool))]
    rows += [("district", name, dist == d) for d, name in enumerate(district_names)]
    rows += [("hukou", lab, mig == m) for m, lab in enumerate(("local", "migrant"))]
    rows += [("income_decile", str(k + 1), dec == k) for k in range(10)]
    return GroupMap.from_rows(rows, len(cells))


@dataclass
class DailySeries:
    """Daily group totals of one accumulator: values[day] is [groups, metrics]."""

    groups: GroupMap
    space: MetricSpace
    prefix: str = ""
    values: list[np.ndarray] = field(default_factory=list)
    left_out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Metric columns not collected (left out of long_frame: their values stay zero)."""

    def add_day(self, cells: np.ndarray) -> None:
        """Sum one day's cells into groups and keep them."""
        self.values.append(self.groups.sum_cells(cells))

    def long_frame(self, first: int = 0) -> pd.DataFrame:
        """day, group_by, group, metric (categorical), value (one row each), for every
        metric but those left out, of the days from `first` on (its day 0: a burn-in's
        days before it are left out)."""
        g = len(self.groups.group)
        keep = np.setdiff1d(np.arange(len(self.space)), self.left_out)
        m = len(keep)
        values = self.values[first:]
        arr = np.stack(values) if values else np.zeros((0, g, len(self.space)))
        if m < len(self.space):
            arr = arr[:, :, keep]  # [days, g, m]
        d = len(arr)
        names = [self.prefix + self.space.names[k] for k in keep]
        return pd.DataFrame(
            {
                "day": np.repeat(np.arange(d, dtype=np.int16), g * m),
                "group_by": _repeated(self.groups.group_by, m, d),
                "group": _repeated(self.groups.group, m, d),
                "metric": _repeated(names, 1, d * g),
                "value": arr.reshape(-1),
            }
        )


def _repeated(labels: Sequence[str], each: int, times: int) -> pd.Categorical:
    """np.tile(np.repeat(labels, each), times) as a categorical (sorted categories), built
    from codes: a million-row column of strings is slow to build."""
    categories, codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(np.tile(np.repeat(codes, each), times), categories)
