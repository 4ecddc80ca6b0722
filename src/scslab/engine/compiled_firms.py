"""The enterprises' side of compiled days (engine/loops.py run_compiled): their
containers built from the run's state (containers.Firms), and the state given back as
the general loop leaves it; with the parts that either side's containers share (the
growing columns of the listing changes, the list counts kept from day to day)."""

from __future__ import annotations

from typing import cast

import numpy as np

from scslab.engine.collectors import BinCounts, GroupMap, count_ever, recount_lists
from scslab.engine.containers import (
    Collecting,
    Columns6,
    Firms,
    Grown,
    KindTable,
    ListMarks,
    ListTable,
    ScoreArrays,
    ScoreTable,
    SideDays,
    TallyArgs,
    list_arrays,
)
from scslab.engine.daytables import firm_activity_table
from scslab.engine.state import HIST_LO, RunState, Side
from scslab.model.containers import ByGroup
from scslab.model.lists import RULE_RECORDS, Changes
from scslab.model.points import empty_queue
from scslab.model.records import LogColumns

NO_COUNTS = BinCounts(
    b"",
    HIST_LO,
    np.zeros(0, np.int64),
    np.zeros(0, np.uint16),
    np.zeros(0, np.int64),
    np.zeros((0, 0), np.int64),
)
"""The score tally's running counts of a side whose scores are not tallied (arrays of
the types compiled days take, empty: not read)."""
NO_SCORER_QUEUE = empty_queue(1)
"""The expiry queue of enterprises without a score (not read, nor written)."""


def empty_changes() -> Columns6:
    """Columns for the listing changes of compiled days (day, subject, bit, entered,
    wrongful, reason), grown as they fill."""
    return cast(
        Columns6,
        tuple(
            np.empty(1024, t) for t in (np.int16, np.int32, np.uint8, np.bool_, np.bool_, np.uint8)
        ),
    )


def counted_lists(
    side: Side, groups: GroupMap, days_blacklisted: np.ndarray, list_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Collecting.counted of one side: without per-agent days on the blacklist, the list
    columns may be kept up to date from the agents that may change (recount_lists;
    run_days says when), from the lists as they start (counted into list_counts
    [groups, metrics]); else empty arrays."""
    state = side.list_state
    if len(days_blacklisted) == side.n:
        return (np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    counted = (np.zeros(side.n, np.uint8), np.zeros(side.n, np.uint8))
    if not len(side.listed):  # (nobody listed: nothing to count)
        return counted
    recount_lists(
        side.listed,
        ListMarks(state.mask, state.wrongful, side.lists.black_bits, len(side.lists.rule)),
        counted,
        ByGroup(list_counts, side.collector.cell, groups.groups_indptr, groups.groups_of_cell),
    )
    return counted


def firm_days(
    st: RunState,
    kind_table: KindTable,
    tables: tuple[ScoreTable, ListTable],
    log: LogColumns,
    rows: tuple[np.ndarray, np.ndarray],
) -> Firms:
    """The enterprises as compiled days take them (their score and list rules:
    `tables`; their activities, firm_activity_table; log: the record log's columns,
    which their Grown holds unread), with their rows [days, groups, metrics] and score
    histograms [days, bins] (`rows`: zeros, filled by run_days; their score tally runs
    at the end of each day, or where run_compiled tallies a chunk behind, beside the
    residents' in its worker thread, from score rows it gives each chunk)."""
    pop = st.population
    assert pop is not None
    ent, n = st.ent, st.ent.n
    groups = ent.series.groups
    scorer = ent.scorer
    collect = st.scenario.outputs.scores and scorer is not None
    values, hist = rows
    state = ent.list_state
    list_counts = np.zeros(values.shape[1:])
    no_agents = np.zeros(0, np.int16)
    counted = counted_lists(ent, groups, no_agents, list_counts)
    score_columns = np.concatenate([ent.cols["score"], ent.cols["grade"]])
    if scorer is not None:
        floors = scorer.rules.grade_floors
        # (the running counts: none made where nothing tallies, as in the general loop)
        counts = ent.collector.running_counts(floors, HIST_LO) if collect else NO_COUNTS
        tally_parts = (floors[:-1].astype(np.float64), counts.grade_of_bin, counts.counted)
        bins = (counts.bin_counts, counts.grade_counts)
        score, spare = scorer.state.score, scorer.spare
        error_points, with_errors, outside = (
            scorer.state.error_points,
            scorer.with_errors,
            scorer.outside,
        )
        error_ids = np.zeros(max(1024, 2 * len(scorer.error_ids)), np.int64)
        error_ids[: len(scorer.error_ids)] = scorer.error_ids
        n_errors, queue = len(scorer.error_ids), scorer.queue
        queued, head, in_order = scorer.queued, scorer.queue_head, scorer.queue_in_order
    else:
        f32 = np.zeros(0, np.float32)
        tally_parts = (np.zeros(0), NO_COUNTS.grade_of_bin, NO_COUNTS.counted)
        bins = (NO_COUNTS.bin_counts, NO_COUNTS.grade_counts)
        score, spare, error_points = f32, f32.copy(), f32.copy()
        with_errors, outside = np.zeros(0, np.bool_), np.zeros(n // 8 + 1, np.bool_)
        error_ids, n_errors = np.zeros(1024, np.int64), 0
        queue = NO_SCORER_QUEUE  # (not read)
        queued, head, in_order = 0, 0, True
    tally = TallyArgs(
        ent.collector.cell,
        tally_parts[0],
        tally_parts[1],
        ent.common_grade,
        ent.collector.cell_count,
        HIST_LO,
        score_columns,
        np.zeros((len(ent.acc), 3 + -(-len(score_columns) // 4) * 4)),
        tally_parts[2],
        bins[0],
        bins[1],
        groups.indptr,
        groups.indices,
        values,
        hist,
    )
    collecting = Collecting(
        groups.groups_indptr,
        groups.groups_of_cell,
        groups.sum_cells(ent.collector.cell_count[:, None].astype(np.float64))[:, 0],
        values,
        np.zeros((2, len(score)), np.float32),  # (drift reads yesterday's row)
        collect,
        tally,
        True,
        no_agents,
        no_agents,
        counted,
        list_counts,
        groups.sum_cells(ent.ever_counts),
        -1,
        np.zeros(0),
    )
    side = SideDays(
        1,
        scorer is not None,
        bool((ent.lists.rule == RULE_RECORDS).any()),
        ent.collector.cell,
        tables[0],
        ScoreArrays(error_points, with_errors, outside, np.zeros(0, np.uint8)),
        list_arrays(state, np.zeros(0, st.listed_contacts.dtype)),
        tables[1],
        collecting,
    )
    grown = Grown(
        score,
        spare,
        ent.listed,
        error_ids,
        n_errors,
        log,
        0,
        0,
        empty_changes(),
        0,
        queue,
        queued,
        head,
        in_order,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )
    firms = Firms(
        side,
        grown,
        pop.enterprises.legal_rep.astype(np.int64),
        pop.represented.indptr,
        pop.represented.indices,
        firm_activity_table(st),
    )
    return firms


def firms_back(st: RunState, firms: Firms, values: np.ndarray, start: int) -> None:
    """The enterprises' state as the general loop leaves it, from compiled days
    `start` to st.days (their rows `values`; the listing changes are given back with
    the residents', listing_changes)."""
    ent, grown = st.ent, firms.grown
    scorer = ent.scorer
    if scorer is not None:
        score = grown.score
        own = (scorer.state.score, scorer.spare)
        assert score is own[0] or score is own[1]
        scorer.state.score, scorer.spare = score, own[1] if score is own[0] else own[0]
        scorer.error_ids = grown.error_ids[: grown.n_error_ids].copy()
        scorer.queue, scorer.queued = grown.queue, grown.queued
        scorer.queue_head, scorer.queue_in_order = grown.queue_head, grown.queue_in_order
    ent.listed = grown.listed
    ent.ever_counts[:] = 0.0  # (the general loop keeps them per cell)
    count_ever(ent.cell, ent.list_state.ever, ent.ever_counts)
    ent.series.values = ent.series.values[:start] + list(values[start:])


def listing_changes(st: RunState, res: Grown, ent: Grown) -> None:
    """The listing changes of compiled days into the harm trail, in the general loop's
    order: day by day, the residents' then the enterprises'."""
    if not ent.n_changes or not res.n_changes:  # (one side's, in day order already)
        code, g = (0, res) if res.n_changes else (1, ent)
        if g.n_changes:
            ch_day, *rest = (a[: g.n_changes].copy() for a in g.changes)
            st.trail.listing_changes(code, ch_day, Changes(*rest))
        return
    parts = [[a[: g.n_changes] for a in g.changes] for g in (res, ent)]
    day = np.concatenate([parts[0][0], parts[1][0]])
    side = np.repeat([0, 1], [res.n_changes, ent.n_changes])
    order = np.lexsort((side, day))  # (stable: each side's changes stay in order)
    columns = [np.concatenate([p[c] for p in parts])[order] for c in range(6)]
    side = side[order]
    cuts = np.flatnonzero(np.diff(side)) + 1
    for lo, hi in zip([0, *cuts], [*cuts, len(side)], strict=True):
        if hi > lo:
            ch_day, *rest = (c[lo:hi] for c in columns)
            st.trail.listing_changes(int(side[lo]), ch_day, Changes(*rest))
