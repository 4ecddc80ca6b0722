"""Results: frames by group, reading runs back, DuckDB queries, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab import load_run, query
from scslab.engine.collectors import (
    RECOUNT_BLOCK,
    TALLY_CHUNK,
    GroupMap,
    StateCollector,
    _bin_keys,
    _collect_lists,
    recount_lists,
    resident_groups,
)
from scslab.engine.containers import Grades, ListMarks
from scslab.model.containers import ByGroup


def test_to_frame_by_group(small_run) -> None:
    city = small_run.to_frame()
    assert city.index.name == "day" and len(city) == 90
    by_district = small_run.to_frame("district")
    assert by_district["group"].nunique() == 16
    hukou = small_run.final("hukou")
    assert set(hukou.index) == {"local", "migrant"}
    with pytest.raises(ValueError, match="allowed: city"):
        small_run.to_frame("planet")


def test_load_run_round_trip(small_run) -> None:
    back = load_run(small_run.path)
    assert back.manifest == small_run.manifest
    assert set(back.tables) == {
        "metrics",
        "score_histogram",
        "residents",
        "enterprises",
        "records",
        "listings",
    }
    assert len(back.tables["residents"]) == 8000
    with pytest.raises(FileNotFoundError, match="not a scslab run"):
        load_run(small_run.path.parent / "nothing")


def test_query_across_runs(small_run) -> None:
    df = query(
        "SELECT run, sum(value) AS blocked FROM metrics WHERE group_by = 'city' "
        "AND metric LIKE 'blocked:%' GROUP BY run",
        runs=small_run.path.parent,
    )
    assert list(df["run"]) == ["small"]
    assert df["blocked"].iloc[0] == sum(
        v for k, v in small_run.totals().items() if k.startswith("blocked:")
    )


def test_groups_of_each_cell_invert_the_members_of_each_group() -> None:
    groups = resident_groups([f"d{k}" for k in range(5)])
    for c in range(groups.n_cells):
        got = groups.groups_of_cell[groups.groups_indptr[c] : groups.groups_indptr[c + 1]]
        want = [g for g, members in enumerate(groups.members) if c in members]
        assert got.tolist() == want and len(want) == 4  # city, district, hukou, decile


def test_list_counts_into_groups_are_the_group_sums_of_list_counts_into_cells() -> None:
    """_collect_lists counting each agent into its cell's groups gives the rows that
    summing its per-cell rows into groups gives, to the bit (whole numbers)."""
    rng = np.random.default_rng(5)
    groups = resident_groups([f"d{k}" for k in range(4)])
    n, n_lists, black = 3000, 3, 0b101
    cell = rng.integers(0, groups.n_cells, n).astype(np.uint16)
    mask = (rng.integers(0, 8, n) * (rng.random(n) < 0.3)).astype(np.uint8)
    wrongful = (mask & rng.integers(0, 8, n)).astype(np.uint8)
    listed = np.flatnonzero(mask)
    by_cell, by_group = np.zeros((groups.n_cells, 12)), np.zeros((len(groups.members), 12))
    days_a, days_b = np.zeros(n, np.int16), np.zeros(n, np.int16)
    identity = np.arange(groups.n_cells + 1), np.arange(groups.n_cells)
    marks = ListMarks(mask, wrongful, black, n_lists)
    _collect_lists(ByGroup(by_cell, cell, *identity), marks, listed, days_a)
    rows = groups.groups_indptr, groups.groups_of_cell
    _collect_lists(ByGroup(by_group, cell, *rows), marks, listed, days_b)
    assert by_group.tobytes() == groups.sum_cells(by_cell).tobytes()
    assert by_group[0, 1] == ((mask & black) != 0).sum() > 0
    assert days_a.tolist() == days_b.tolist() == ((mask & black) != 0).astype(int).tolist()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_lists=st.integers(1, 8),
    days=st.integers(1, 12),
    changed=st.floats(0.0, 0.5),
    extra=st.floats(0.0, 0.2),
)
def test_list_counts_kept_from_changes_equal_a_daily_count(
    seed: int, n_lists: int, days: int, changed: float, extra: float
) -> None:
    """recount_lists, given each day the agents whose masks or wrongful flags changed
    (some more besides, some twice), keeps the rows that _collect_lists counts from every
    listed agent that day, bit for bit."""
    rng = np.random.default_rng(seed)
    groups = resident_groups([f"d{k}" for k in range(3)])
    n = 500
    black = int(rng.integers(0, 2**n_lists))
    cell = rng.integers(0, groups.n_cells, n).astype(np.uint16)
    mask, wrongful = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    counted = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    rows = groups.groups_indptr, groups.groups_of_cell
    kept = np.zeros((len(groups.members), 8 + 2 * n_lists))
    for _ in range(days):
        ids = np.flatnonzero(rng.random(n) < changed)
        mask[ids] = rng.integers(0, 2**n_lists, len(ids)) * (rng.random(len(ids)) < 0.6)
        wrongful[ids] = mask[ids] & rng.integers(0, 2**n_lists, len(ids))
        visit = np.concatenate([ids, ids[::2], np.flatnonzero(rng.random(n) < extra)])
        rng.shuffle(visit)
        marks = ListMarks(mask, wrongful, black, n_lists)
        recount_lists(visit, marks, counted, ByGroup(kept, cell, *rows))
        want = np.zeros_like(kept)
        listed = np.flatnonzero(mask)
        no_days = np.zeros(0, np.int16)
        _collect_lists(ByGroup(want, cell, *rows), marks, listed, no_days)
        assert kept.tobytes() == want.tobytes()
    assert np.array_equal(counted[0], mask) and np.array_equal(counted[1], wrongful)


def direct_grades_and_bins(
    score: np.ndarray, floors: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each score's grade (floors highest first; the lowest grade below them all) and its
    10-point histogram bin from 0 (clamped), counted directly with numpy."""
    exact = score.astype(np.float64)
    grade = np.minimum(np.searchsorted(-floors, -exact, side="left"), len(floors) - 1)
    return grade, np.clip((exact / 10.0).astype(np.int64), 0, n_bins - 1)


@pytest.mark.parametrize("n_cells", [12, 2])
@pytest.mark.parametrize("floors", [[1050, 1030, 960, 850, 600, 0], [1035, 990.5, 0], [700]])
def test_state_collector_matches_a_direct_count(floors: list[float], n_cells: int) -> None:
    """Per-cell counts, list counts, grades, score sums and the histogram, whichever way
    the collector takes (grades read off bins or counted by floor), after a first day of
    other scores and floors."""
    rng = np.random.default_rng(7)
    n, n_lists, n_bins = 5000, 3, 200
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    score = rng.normal(1000, 80, n).astype(np.float32)
    score[:5] = [-20.0, 0.0, 1995.0, 2500.0, 1030.0]
    mask = (rng.random(n) < 0.2) * rng.integers(1, 8, n)
    mask = mask.astype(np.uint8)
    wrongful = (mask & rng.integers(0, 8, n)).astype(np.uint8)
    black = 0b011
    f = np.array(floors, np.float64)
    out = np.zeros((n_cells, 4 + 2 * n_lists + len(f)))
    hist = np.zeros(n_bins)
    days = np.zeros(n, np.int16)
    collector = StateCollector(cell, n_cells, n_bins)
    # a first day with other scores and other floors: nothing of it may stay behind
    marks = ListMarks(mask, wrongful, black, n_lists)
    collector.collect(marks, score[::-1].copy(), Grades(f[1:], 5.0), days, out, hist)
    days[:] = 0
    collector.collect(marks, score, Grades(f, 0.0), days, out, hist)
    grade, bins = direct_grades_and_bins(score, f, n_bins)
    for c in range(n_cells):
        at = cell == c
        assert out[c, 0] == at.sum()
        on_black = (mask[at] & black) != 0
        assert out[c, 1] == on_black.sum()
        assert out[c, 2] == (on_black & ((mask[at] & black & ~wrongful[at]) == 0)).sum()
        assert out[c, 3] == pytest.approx(score[at].astype(np.float64).sum(), rel=1e-12)
        for b in range(n_lists):
            assert out[c, 4 + b] == ((mask[at] >> b) & 1).sum()
            assert out[c, 4 + n_lists + b] == (((mask[at] & wrongful[at]) >> b) & 1).sum()
        for g in range(len(f)):
            assert out[c, 4 + 2 * n_lists + g] == (grade[at] == g).sum()
    assert hist.tolist() == np.bincount(bins, minlength=n_bins).tolist()
    assert days.tolist() == ((mask & black) != 0).astype(int).tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=300),
    st.sampled_from([0.0, -50.0, 995.5]),
    st.integers(1, 250),
)
def test_bin_keys_are_the_clamped_truncated_bins(
    scores: list[float], lo: float, n_bins: int
) -> None:
    """_bin_keys (int32 conversions, vectorised) gives numpy's bins: (score - lo) / 10
    clamped to the bins, truncated; scores of any finite float32 size, below and above
    the bins included."""
    score = np.array(scores, np.float32)
    key = np.full(len(score), 65535, np.uint16)
    _bin_keys(score, n_bins, lo, 0.1, key)
    scaled = np.clip((score.astype(np.float64) - lo) * 0.1, 0.0, n_bins - 1)
    assert key.tolist() == scaled.astype(np.int64).tolist()


def test_group_sums_are_numpys() -> None:
    """Each group's row is the sum of its cells' rows, bit for bit as numpy sums them
    (from zero, row after row: a lone -0.0 sums to 0.0), an empty group all zeros."""
    rng = np.random.default_rng(3)
    cells = rng.normal(size=(30, 7)) * 10.0 ** rng.integers(-8, 9, (30, 7))
    cells[4, 2] = -0.0
    rows = [(f"g{k}", f"{k}", rng.random(30) < share) for k, share in enumerate((1, 0.5, 0.1, 0))]
    rows.append(("one", "4", np.arange(30) == 4))
    groups = GroupMap.from_rows(rows, 30)
    got = groups.sum_cells(cells)
    want = np.stack([cells[m].sum(axis=0) for m in groups.members])
    assert got.tobytes() == want.tobytes()
    assert not np.signbit(got[-1, 2]) and not got[3].any()


@pytest.mark.parametrize("floors", [[1050, 1030, 960, 850, 600, 0], [1035, 990.5, 0], [700]])
def test_score_tally_finds_the_common_grade_from_cell_sizes(floors: list[float]) -> None:
    """Leaving one grade uncounted (found from the cells' sizes) changes nothing, for
    every grade, with grades read off bins or counted by floor."""
    rng = np.random.default_rng(8)
    n, n_cells = 3001, 7
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    score = np.where(rng.random(n) < 0.6, 1000.0, rng.normal(1000, 80, n)).astype(np.float32)
    f = np.array(floors, np.float64)
    collector = StateCollector(cell, n_cells, 200)
    hist = np.zeros(200)
    want = collector.collect_scores(score, f, 0.0, 2, 8 + len(f), hist)
    want_hist = hist.copy()
    for common in range(len(f)):
        got = collector.collect_scores(score, f, 0.0, 2, 8 + len(f), hist, common)
        assert got.tobytes() == want.tobytes() and hist.tolist() == want_hist.tolist()


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.integers(1, 9),
    st.sampled_from([[1050.0, 1000.0, 900.0, 0.0], [1035.0, 990.5, 0.0], [700.0]]),
)
def test_score_tally_kept_from_day_to_day_equals_a_fresh_one(
    seed: int, n: int, n_cells: int, floors: list[float]
) -> None:
    """A collector that tallies day after day (counting again only the agents whose bin
    changed) gives, every day, the same bits as a new collector that counts that day
    alone: on bin edges or not, with a day of other floors and one of another histogram
    start in between."""
    rng = np.random.default_rng(seed)
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    f = np.array(floors, np.float64)
    kept = StateCollector(cell, n_cells, 200)
    score = rng.normal(1000, 60, n).astype(np.float32)
    for day in range(6):
        moved = rng.random(n) < (0.02 if day % 2 else 0.5)
        score = np.where(moved, rng.normal(1000, 200, n), score).astype(np.float32)
        day_floors = f[1:] if day == 3 and len(f) > 1 else f
        hist_lo = -50.0 if day == 4 else 0.0
        hist_kept, hist_new = np.zeros(200), np.zeros(200)
        got = kept.collect_scores(score, day_floors, hist_lo, 1, 10, hist_kept)
        want = StateCollector(cell, n_cells, 200).collect_scores(
            score, day_floors, hist_lo, 1, 10, hist_new
        )
        assert got.tobytes() == want.tobytes()
        assert hist_kept.tolist() == hist_new.tolist()
        assert hist_new.sum() == n


@pytest.mark.parametrize("floors", [[1050, 1000, 900, 0], [1035, 990.5, 0]])
def test_score_tally_over_several_chunks_is_a_direct_count(floors: list[float]) -> None:
    """Across the tally's chunks (TALLY_CHUNK agents each, and a last partial one), with
    grades read off bins or counted by floor: the grades and histogram of a direct count,
    and score sums to the bit of four lanes (agent i in lane i % 4) added in id order,
    then lane after lane."""
    rng = np.random.default_rng(11)
    n, n_cells = 2 * TALLY_CHUNK + 4 * RECOUNT_BLOCK + 3, 5
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    scale = 10.0 ** rng.integers(-3, 6, n)  # (magnitudes apart: the order shows in the sums)
    score = (rng.normal(1000, 300, n) * scale).astype(np.float32)
    f = np.array(floors, np.float64)
    collector = StateCollector(cell, n_cells, 200)
    for _day in range(3):  # (the second day recounts only the agents that moved)
        score[rng.random(n) < 0.01] += np.float32(40.0)
        hist = np.zeros(200)
        got = collector.collect_scores(score, f, 0.0, 1, 10, hist)
        lanes = np.zeros((4, n_cells))
        for lane in range(4):
            np.add.at(lanes[lane], cell[lane::4], score[lane::4].astype(np.float64))
        sums = ((lanes[0] + lanes[1]) + lanes[2]) + lanes[3]
        assert got[:, 3].tobytes() == sums.tobytes()
        grade, bins = direct_grades_and_bins(score, f, 200)
        assert hist.tolist() == np.bincount(bins, minlength=200).tolist()
        for c in range(n_cells):
            for g in range(len(f)):
                assert got[c, 6 + g] == ((cell == c) & (grade == g)).sum()


def test_score_tally_needs_one_histogram_entry_per_bin() -> None:
    """A histogram of another length than the collector's bins is an error (the running
    counts are kept per bin), not a silent miscount."""
    collector = StateCollector(np.zeros(10, np.int16), 1, 200)
    score = np.full(10, 1000.0, np.float32)
    with pytest.raises(ValueError, match="200 bins"):
        collector.collect_scores(score, np.array([960.0, 0.0]), 0.0, 1, 8, np.zeros(50))
