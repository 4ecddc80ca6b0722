"""The two ways of running days on a run's state: the general loop (the day's steps
from Python, day by day: hooks, progress and debugging live here) and compiled days
(engine/compiled.py: many days of the points-and-lists core in one numba call, with the
same tables bit for bit)."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numba as nb
import numpy as np

from scslab.engine.arena import zeroed_arrays
from scslab.engine.borrow import check_owned
from scslab.engine.collectors import count_ever
from scslab.engine.compiled import N_PHASES, run_days
from scslab.engine.compiled_firms import (
    NO_COUNTS,
    counted_lists,
    empty_changes,
    firm_days,
    firms_back,
    listing_changes,
)
from scslab.engine.containers import (
    ActArrays,
    Carried,
    Collecting,
    Flagged,
    Grown,
    People,
    RunTables,
    ScoreArrays,
    TallyArgs,
    list_arrays,
)
from scslab.engine.daytables import (
    activity_table,
    due_days,
    firm_activity_table,
    flag_table,
    responses_table,
    rule_tables,
    side_tables,
    unscored,
)
from scslab.engine.state import HIST_LO, RunState, Side
from scslab.engine.steps import PHASES, STEPS, Today, behaviour_rules, finish_collect
from scslab.engine.tally import tally_days
from scslab.kernelcache import is_cached
from scslab.model.lists import RULE_RECORDS

PROGRESS_STEPS = 20  # compiled days: chunks a run (progress; the tally a chunk behind)
TALLY_BEHIND_MIN_RESIDENTS = 5_000
"""Compiled days tally the scores in the worker thread (a chunk of days behind) from this
many residents, on two threads or more; below, at the end of each day (where the
worker's hand-over costs more than the tally it takes off the loop: docs/benchmarks.md)."""


def tally_behind(residents: int) -> bool:
    """Whether compiled days of a city of `residents` tally its scores in the worker
    thread, a chunk of days behind (else at the end of each day)."""
    return nb.get_num_threads() > 1 and residents >= TALLY_BEHIND_MIN_RESIDENTS


SNAPSHOT_BYTES = 16 * 2**20
"""Compiled days, the tally a chunk behind: the most bytes of scores (both sides') kept
per chunk (or one day's, when a day's are more): more, and the kept rows fall out of the
processor's cache before the tally reads them."""
RECORD_CAPACITY_SLACK = 1.2  # compiled days' first record arrays: expected records x this


def run_general(st: RunState, progress: Callable[[int, int], None] | None, start: int = 0) -> None:
    """The day loop: the steps of STEPS in order, each timed (st.phase_seconds), with
    st.worker (if any) drifting tomorrow's scores and tallying today's while the next
    steps run; progress(k, days) is called once the rows of the first k days are in.
    start: the first day to run (a state restored after `start` days, see
    engine/snapshot.py)."""
    phase = st.phase_seconds
    clock = time.perf_counter
    for day in range(start, st.days):
        st.report_from(day)
        st.apply_timeline(day)
        today = Today(day)
        for step in STEPS:
            t = clock()
            step.run(st, today)
            phase[step.name] += clock() - t
        if progress is not None and day > start:
            progress(day, st.days)  # days whose rows are in (today's tally runs on)
    t = clock()
    finish_collect(st)
    phase["collectors"] += clock() - t
    if progress is not None:
        progress(st.days, st.days)


def clear_held_errors(st: RunState) -> None:
    """No erroneous points for the residents not enrolled: compiled days' drift holds
    their scores at the base (DriftMarks.held), and this their erroneous points, which
    the general loop's hold_at_base clears each day, once each time the enrolment may
    have changed (a run's first chunk, a rule change)."""
    if len(st.held) and st.res.scorer is not None:
        st.res.error_points[st.held != 0] = 0.0


def flagged_of(flagged_yesterday: list[np.ndarray]) -> Flagged:
    """RunState.flagged_yesterday (the ids flagged under each flag kind) as compiled
    days take them: the ids one kind after the other, and where each kind's start."""
    indptr = np.zeros(len(flagged_yesterday) + 1, np.int64)
    if not flagged_yesterday:
        return Flagged(np.zeros(0, np.int64), indptr)
    np.cumsum([len(ids) for ids in flagged_yesterday], out=indptr[1:])
    return Flagged(np.concatenate(flagged_yesterday).astype(np.int64), indptr)


def recount_ever(side: Side) -> None:
    """side.ever_counts [cells, lists]: the agents of each cell ever on each list (whole
    numbers), from the lists' `ever` bits."""
    side.ever_counts[:] = 0.0
    count_ever(side.cell, side.list_state.ever, side.ever_counts)


def compiled_days_ready() -> bool:
    """Whether compiled days start without compiling their loop, compiled.run_days (the
    larger part of their first compile: it links every phase's kernels into one): it
    was compiled or loaded in this process, or numba's cache holds it from an earlier
    process of this source (kernelcache.py)."""
    return bool(run_days.signatures) or is_cached(run_days)


def tally_chunk(first_day: int, tallies: list[tuple[np.ndarray, TallyArgs]]) -> None:
    """The score tally of a chunk of days from first_day, side by side: each side's
    kept scores (a row per day) with what its tally reads and writes (tally_days)."""
    for snapshots, tally in tallies:
        tally_days(first_day, snapshots, tally)


def run_compiled(st: RunState, progress: Callable[[int, int], None] | None, start: int = 0) -> None:
    """Every day from `start` (0, or the days of a restored state: engine/snapshot.py)
    in compiled.run_days (in chunks, for progress or for the tally a chunk behind), on
    the run's state; leaves the state as run_general() would, bit for bit, but for the
    scorer's scratch (`spare`, and `outside`, marked by unlisted subjects and by listed
    ones whose score rules' verdicts changed: still every run the lists' update must
    visit)."""
    st.apply_timeline(start)
    pop = st.population
    assert pop is not None
    res, kinds = st.res, st.kinds
    scorer = res.scorer or unscored(res.n)
    rules, state = scorer.rules, res.list_state
    r = pop.residents
    kind_table, score_table, list_table = rule_tables(st, scorer)
    act_table, responses = activity_table(st), responses_table(st)
    flags = flag_table(st)
    behaviour = behaviour_rules(st)
    due = due_days(st)
    if st.high_scores is not None and scorer.track_risen:
        scorer.take_risen()  # (taken each day by the activities)
    max_mult = kind_table.max_mult
    days, n_bins = st.days, len(res.hist)
    expected = res.n * kinds.daily_rate.sum() * max_mult.max() * (days - start)
    st.log.reserve(int(expected * RECORD_CAPACITY_SLACK))
    changes = empty_changes()
    cycles = np.zeros(N_PHASES, np.int64)
    own = (scorer.state.score, scorer.spare)
    error_ids = np.zeros(max(1024, 2 * len(scorer.error_ids)), np.int64)
    error_ids[: len(scorer.error_ids)] = scorer.error_ids
    grown = Grown(
        *own,
        res.listed,
        error_ids,
        len(scorer.error_ids),
        st.log.kernel_columns(),
        st.log.n,
        st.log.first_pending,
        changes,
        0,
        scorer.queue,
        scorer.queued,
        scorer.queue_head,
        scorer.queue_in_order,
        st.high_scores.ids if st.high_scores is not None else np.zeros(0, np.int64),
        st.rep_ids,
    )
    carried = Carried(flagged_of(st.flagged_yesterday), st.dp.state())
    ent = st.ent
    # the year's rows and histograms of both sides, and the score snapshots (apart:
    # freed after the run): fresh memory, written once, in huge pages where the
    # platform has them (the enterprises' in the residents' pages: without any, they
    # stay zero, unwritten)
    values, hist, firm_values, firm_hist = zeroed_arrays(
        [
            ((days, len(res.series.groups.group), len(res.space)), np.float64),
            ((days, n_bins), np.float64),
            ((days, len(ent.series.groups.group), len(ent.space)), np.float64),
            ((days, len(ent.hist)), np.float64),
        ]
    )
    firms = firm_days(
        st,
        kind_table,
        side_tables(st, 1, kind_table, ent.scorer),
        grown.records,
        (firm_values, firm_hist),
    )
    floors = rules.grade_floors
    # the state columns come first, in the order the collectors write them
    assert res.cols["state"].tolist() == list(range(len(res.cols["state"])))
    groups = res.series.groups
    # the scores are tallied at the end of each day in run_days, or (tally_behind) in
    # the worker thread a chunk of days behind, while the next chunk runs (two
    # chunks' scores kept; the enterprises' beside the residents'); not at all without
    # outputs.scores
    collect = st.scenario.outputs.scores and res.scorer is not None
    behind = collect and tally_behind(res.n)
    # the score tally's running counts (kept in the collector, as the general loop's;
    # none made where nothing tallies, as there)
    counts = res.collector.running_counts(floors, HIST_LO) if collect else NO_COUNTS
    # the enterprises' scores tallied beside the residents' (in the worker, behind)
    firm_collecting = firms.side.collecting
    firm_behind = behind and firms.side.scored and firm_collecting.tally_each_day
    kept_per_day = res.n + (ent.n if firm_behind else 0)  # scores
    step = max(1, -(-(days - start) // (PROGRESS_STEPS if progress is not None or behind else 1)))
    if behind:
        step = max(1, min(step, SNAPSHOT_BYTES // max(1, 4 * kept_per_day)))
    rows = step if behind else 2  # (drift reads yesterday's row)
    if firm_behind:  # (both sides' in one mapping)
        *snapshots, firm_snapshot_a, firm_snapshot_b = zeroed_arrays(
            [((rows, res.n), np.float32)] * 2 + [((rows, ent.n), np.float32)] * 2
        )
        firm_snapshots = [firm_snapshot_a, firm_snapshot_b]
        firm_collecting = firm_collecting._replace(tally_each_day=False)
    else:
        snapshots = zeroed_arrays([((rows, res.n), np.float32)] * (2 if behind else 1))
    # the score sum's column, then the grades' in order (as tally_days counts them)
    score_columns = np.concatenate([res.cols["score"], res.cols["grade"]])
    tally_args = TallyArgs(
        res.collector.cell,
        floors[:-1].astype(np.float64),
        counts.grade_of_bin,
        res.common_grade,
        res.collector.cell_count,
        HIST_LO,
        score_columns,
        np.zeros((len(res.acc), 3 + -(-len(score_columns) // 4) * 4)),
        counts.counted,
        counts.bin_counts,
        counts.grade_counts,
        groups.indptr,
        groups.indices,
        values,
        hist,
    )
    pool = ThreadPoolExecutor(1, "scslab-tally") if behind else None
    tallied: tuple[int, Future[None]] | None = None  # (last day, its tally)

    def shown(upto: int) -> None:
        """The residents' rows of the days before `upto` in the run's series, for
        whoever watches the progress (the dashboard's live plot)."""
        res.series.values = res.series.values[:start] + list(values[start:upto])

    def tally_in(wait_for: tuple[int, Future[None]] | None) -> None:
        """Wait for a chunk's tally, then report its days as done."""
        if wait_for is not None:
            wait_for[1].result()
            if progress is not None:
                shown(wait_for[0])
                progress(wait_for[0], days)

    # arguments of run_days that are the same for every chunk (or from a change on)
    people = People(
        r.income_decile,
        r.migrant.view(np.uint8),
        res.collector.cell,
        pop.contacts_of.indptr,
        pop.contacts_of.indices,
        st.subject_class,
    )
    score_arrays = ScoreArrays(
        scorer.state.error_points, scorer.with_errors, scorer.outside, st.held
    )
    lists_now = list_arrays(state, st.listed_contacts)
    act_arrays = ActArrays(
        st.groups.group,
        st.chill.arrays,
        st.rep_mask,
        st.rep_wrongful,
        st.blocked_count,
        st.wrongful_count,
        # (the activities' counts by cell: none without activities)
        np.zeros((len(res.acc) if len(st.activities) else 0, res.acc.shape[1])),
    )
    group_count = groups.sum_cells(res.collector.cell_count[:, None].astype(np.float64))[:, 0]
    # without per-agent days on the blacklist, the list columns may be kept up to date
    # from the agents that may change (recount_lists; run_days says when), from the
    # lists as they start
    list_counts = np.zeros(values.shape[1:])
    ever_counts = groups.sum_cells(res.ever_counts)  # (per group: run_days counts into groups)
    counted = counted_lists(res, groups, st.days_blacklisted, list_counts)
    in_days = 0.0  # seconds in run_days (the cycle counts' span)
    clear_held_errors(st)
    try:
        # chunks of `step` days, and a chunk from each day the timeline changes a rule
        # (and one from the burn-in's end)
        changed = {d for d in [*st.changes, st.burn_in] if start < d < days}
        starts = sorted(set(range(start, days, step)) | changed)
        for chunk, (first, last) in enumerate(itertools.pairwise([*starts, days])):
            st.report_from(first)
            if first > start and st.apply_timeline(first):
                kind_table, score_table, list_table = rule_tables(st, scorer)
                act_table, responses = activity_table(st), responses_table(st)
                flags = flag_table(st)
                behaviour = behaviour_rules(st)
                due = due_days(st)
                firm_rules = side_tables(st, 1, kind_table, st.ent.scorer)
                firm_side = firms.side._replace(
                    score_rules=firm_rules[0],
                    list_rules=firm_rules[1],
                    every_listed=bool((firm_rules[1].rule == RULE_RECORDS).any()),
                )
                firms = firms._replace(side=firm_side, acts=firm_activity_table(st))
                if st.high_scores is not None:  # (a timeline may have made it anew)
                    grown = grown._replace(high=st.high_scores.ids)
                score_arrays = score_arrays._replace(held=st.held)
                clear_held_errors(st)
            snapshot = snapshots[chunk % 2][: last - first] if behind else snapshots[0]
            tallies = [(snapshot, tally_args)]
            if firm_behind:  # (the enterprises' row of each day kept as the residents')
                firm_snapshot = firm_snapshots[chunk % 2][: last - first]
                tallies.append((firm_snapshot, firm_collecting.tally))
                chunk_collecting = firm_collecting._replace(
                    snapshots=firm_snapshot, keep=last == days
                )
                firms = firms._replace(side=firms.side._replace(collecting=chunk_collecting))
            t_chunk = time.perf_counter()
            collecting = Collecting(
                groups.groups_indptr,
                groups.groups_of_cell,
                group_count,
                values,
                snapshot,
                collect and not behind,
                tally_args,
                not behind or last == days,  # (behind, the next chunk drifts from the row)
                st.days_blacklisted,
                st.trail.days_wrongful,
                counted,
                list_counts,
                ever_counts,
                int(res.cols["enrolled"][0]) if "enrolled" in res.cols else -1,
                groups.sum_cells(st.enrolled_cells[:, None])[:, 0]
                if len(st.enrolled_cells)
                else np.zeros(0),
            )
            run = RunTables(
                kind_table,
                people,
                score_table,
                score_arrays,
                lists_now,
                list_table,
                collecting,
                act_table,
                act_arrays,
                responses,
                flags,
                behaviour,
                due,
            )
            grown, firm_grown, carried = run_days(first, last, run, firms, grown, carried, cycles)
            check_owned((grown, firm_grown, carried), "compiled.run_days")
            firms = firms._replace(grown=firm_grown)
            if st.high_scores is not None:
                st.high_scores.ids = grown.high
            in_days += time.perf_counter() - t_chunk
            if pool is None:  # tallied day by day in run_days
                if progress is not None:
                    shown(last)
                    progress(last, days)
                continue
            tally_in(tallied)  # the chunk before, which used the other snapshots
            work = functools.partial(tally_chunk, first, tallies)
            tallied = (last, pool.submit(st.timed("score_tally", work)))
        tally_in(tallied)
    finally:
        if pool is not None:
            pool.shutdown()
    # the state as the general loop leaves it (the last chunk kept its scores in one
    # of the scorer's own arrays)
    score = grown.score
    assert score is own[0] or score is own[1]
    if res.scorer is None:  # (the general loop keeps no scores)
        assert not scorer.queued
    scorer.state.score, scorer.spare = score, own[1] if score is own[0] else own[0]
    scorer.error_ids = grown.error_ids[: grown.n_error_ids].copy()
    res.listed = grown.listed
    recount_ever(res)  # (the general loop keeps them per cell)
    st.log.adopt(grown.records, grown.n_records, grown.first_pending)
    ids, indptr = carried.flagged
    st.flagged_yesterday = [ids[a:b].copy() for a, b in itertools.pairwise(indptr)]
    st.dp.adopt(carried.due)
    scorer.queue, scorer.queued = grown.queue, grown.queued
    scorer.queue_head, scorer.queue_in_order = grown.queue_head, grown.queue_in_order
    st.rep_ids = grown.rep_ids
    listing_changes(st, grown, firms.grown)
    res.series.values = res.series.values[:start] + list(values[start:])
    firms_back(st, firms, firm_values, start)
    if collect:  # (day by day, the residents' histogram then the enterprises')
        ran = np.arange(start, days)
        kept = [np.column_stack([ran, np.zeros(len(ran)), hist[start:]])]
        if firms.side.scored:
            kept.append(np.column_stack([ran, np.ones(len(ran)), firm_hist[start:]]))
        by_day = np.stack(kept, axis=1).reshape(-1, kept[0].shape[1])
        st.hist_rows = st.hist_rows[: start * len(kept)] + list(by_day)
    per_cycle = in_days / max(1, int(cycles.sum()))
    for p, name in enumerate(PHASES):
        st.phase_seconds[name] = float(cycles[p]) * per_cycle
