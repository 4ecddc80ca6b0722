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
from scslab.engine.compiled import N_PHASES, run_days
from scslab.engine.compiled_firms import (
    counted_lists,
    empty_changes,
    firm_days,
    firms_back,
    listing_changes,
)
from scslab.engine.containers import (
    ActArrays,
    ActTable,
    Collecting,
    Grown,
    KindTable,
    ListArrays,
    ListTable,
    People,
    ScoreArrays,
    ScoreTable,
    TallyArgs,
)
from scslab.engine.state import HIST_LO, RunState
from scslab.engine.steps import PHASES, STEPS, Today, finish_collect
from scslab.engine.tally import tally_days
from scslab.model.activities import ELIGIBLE_CLASSES, _reach_rules
from scslab.model.departments import (
    SubjectView,
    thinning_bound,
)
from scslab.model.lists import RULE_RECORDS
from scslab.model.measures import Reach
from scslab.model.scoring import _finite

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
"""Compiled days, the tally a chunk behind: the most bytes of scores kept per chunk (or
one day's, when a day's are more): more, and the kept rows fall out of the processor's
cache before the tally reads them."""
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


def run_compiled(st: RunState, progress: Callable[[int, int], None] | None, start: int = 0) -> None:
    """Every day from `start` (0, or the days of a restored state: engine/snapshot.py)
    in compiled.run_days (in chunks, for progress or for the tally a chunk behind), on
    the run's state; leaves the state as run_general() would, bit for bit, but for the
    scorer's scratch (`spare`, and `outside`, marked by unlisted subjects and by listed
    ones whose score rules' verdicts changed: still every run the lists' update must
    visit)."""
    st.apply_timeline(start)
    pop = st.population
    assert pop is not None and st.res.scorer is not None
    res, kinds, scorer = st.res, st.kinds, st.res.scorer
    rules, lists, state = scorer.rules, res.lists, res.list_state
    r = pop.residents
    kind_table, score_table, list_table = _rule_tables(st)
    act_table = _act_table(st)
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
    firms, firm_values, firm_hist = firm_days(
        st, kind_table, _side_tables(st, 1, kind_table), grown.records
    )
    floors = rules.grade_floors
    # the state columns come first, in the order the collectors write them
    assert res.cols["state"].tolist() == list(range(len(res.cols["state"])))
    groups = res.series.groups
    # the score tally's running counts (kept in the collector, as the general loop's)
    counts = res.collector.running_counts(floors, HIST_LO)
    # the scores are tallied at the end of each day in run_days, or (tally_behind) in
    # the worker thread a chunk of days behind, while the next chunk runs (two
    # chunks' scores kept); not at all without outputs.scores
    collect = st.scenario.outputs.scores
    behind = tally_behind(res.n) and collect
    step = max(1, -(-(days - start) // (PROGRESS_STEPS if progress is not None or behind else 1)))
    if behind:
        step = max(1, min(step, SNAPSHOT_BYTES // max(1, 4 * res.n)))
    rows = step if behind else 2  # (drift reads yesterday's row)
    # the year's rows and histograms, and the score snapshots (apart: freed after the
    # run): fresh memory, written once, in huge pages where the platform has them
    values, hist = zeroed_arrays(
        [
            ((days, len(res.series.groups.group), len(res.space)), np.float64),
            ((days, n_bins), np.float64),
        ]
    )
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

    def tally_in(wait_for: tuple[int, Future[None]] | None) -> None:
        """Wait for a chunk's tally, then report its days as done."""
        if wait_for is not None:
            wait_for[1].result()
            if progress is not None:
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
        scorer.state.error_points, scorer.with_errors, scorer.outside, st.unenrolled
    )
    list_arrays = ListArrays(
        state.mask,
        state.wrongful,
        state.extended,
        state.released,
        state.repaired,
        state.ever,
        state.until,
        state.true_until,
        st.listed_contacts,
    )
    act_arrays = ActArrays(
        st.groups.group,
        st.chill.arrays,
        st.rep_mask,
        st.rep_wrongful,
        st.blocked_count,
        st.wrongful_count,
        np.zeros_like(res.acc),
    )
    group_count = groups.sum_cells(res.collector.cell_count[:, None].astype(np.float64))[:, 0]
    # without per-agent days on the blacklist, the list columns may be kept up to date
    # from the agents that may change (recount_lists; run_days says when), from the
    # lists as they start
    list_counts = np.zeros(values.shape[1:])
    ever_counts = groups.sum_cells(res.ever_counts)  # (per group: run_days counts into groups)
    counted = counted_lists(res, groups, st.days_blacklisted, list_counts)
    in_days = 0.0  # seconds in run_days (the cycle counts' span)
    try:
        # chunks of `step` days, and a chunk from each day the timeline changes a rule
        # (and one from the burn-in's end)
        changed = {d for d in [*st.changes, st.burn_in] if start < d < days}
        starts = sorted(set(range(start, days, step)) | changed)
        for chunk, (first, last) in enumerate(itertools.pairwise([*starts, days])):
            st.report_from(first)
            if first > start and st.apply_timeline(first):
                kind_table, score_table, list_table = _rule_tables(st)
                act_table = _act_table(st)
                firm_rules = _side_tables(st, 1, kind_table)
                firm_side = firms.side._replace(
                    score_rules=firm_rules[0],
                    list_rules=firm_rules[1],
                    every_listed=bool((firm_rules[1].rule == RULE_RECORDS).any()),
                )
                firms = firms._replace(side=firm_side)
                if st.high_scores is not None:  # (a timeline may have made it anew)
                    grown = grown._replace(high=st.high_scores.ids)
                score_arrays = score_arrays._replace(unenrolled=st.unenrolled)
            snapshot = snapshots[chunk % 2][: last - first] if behind else snapshots[0]
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
            grown, firm_grown = run_days(
                first,
                last,
                kind_table,
                people,
                score_table,
                score_arrays,
                list_arrays,
                list_table,
                collecting,
                act_table,
                act_arrays,
                grown,
                firms,
                cycles,
            )
            firms = firms._replace(grown=firm_grown)
            if st.high_scores is not None:
                st.high_scores.ids = grown.high
            in_days += time.perf_counter() - t_chunk
            if pool is None:  # tallied day by day in run_days
                if progress is not None:
                    progress(last, days)
                continue
            tally_in(tallied)  # the chunk before, which used the other snapshots
            work = functools.partial(tally_days, first, snapshot, tally_args)
            tallied = (last, pool.submit(st.timed("score_tally", work)))
        tally_in(tallied)
    finally:
        if pool is not None:
            pool.shutdown()
    # the state as the general loop leaves it (the last chunk kept its scores in one
    # of the scorer's own arrays)
    score = grown.score
    assert score is own[0] or score is own[1]
    scorer.state.score, scorer.spare = score, own[1] if score is own[0] else own[0]
    scorer.error_ids = grown.error_ids[: grown.n_error_ids].copy()
    res.listed = grown.listed
    for b in range(len(lists)):  # (the general loop keeps them per cell)
        res.ever_counts[:, b] = np.bincount(res.cell, (state.ever >> b) & 1, len(res.ever_counts))
    st.log.adopt(grown.records, grown.n_records, grown.first_pending)
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


def _rule_tables(st: RunState) -> tuple[KindTable, ScoreTable, ListTable]:
    """The rules of the run as compiled days take them (the record kinds, about
    residents and enterprises, and the residents' score and lists), from the rules as
    they are now."""
    pop, res, kinds = st.population, st.res, st.kinds
    assert res.scorer is not None
    lists, r = res.lists, pop.residents
    view = SubjectView(
        n=res.n,
        income_decile=r.income_decile,
        migrant=r.migrant,
        list_mask=res.list_state.mask,
        black_bits=lists.black_bits,
        income_factor_of=None,
        income_factor_floor=st.scenario.behaviour.min_income_factor,
        subject_class=st.subject_class,
    )
    firm_view = SubjectView(
        n=st.ent.n,
        income_decile=None,
        migrant=None,
        list_mask=st.ent.list_state.mask,
        black_bits=st.ent.lists.black_bits,
        income_factor_of=None,
        income_factor_floor=1.0,
    )
    elasticity = st.scenario.behaviour.default_risk_elasticity
    views = (view, firm_view)
    max_mult = np.array(
        [
            thinning_bound(kinds, k, views[kinds.subject[k]], elasticity)[0]
            for k in range(len(kinds))
        ]
    )
    dept = kinds.department.astype(np.int64)
    firm = kinds.subject == 1
    n_subjects = np.where(firm, st.ent.n, res.n)
    col_true = np.where(firm, st.ent.cols["records_true"][dept], res.cols["records_true"][dept])
    col_erroneous = np.where(
        firm, st.ent.cols["records_erroneous"][dept], res.cols["records_erroneous"][dept]
    )
    list_bits = np.zeros(len(kinds), np.uint8)
    for side_lists, code in ((lists, 0), (st.ent.lists, 1)):
        if len(side_lists.kind_bits):
            list_bits = np.where(kinds.subject == code, side_lists.kind_bits, list_bits)
    kind_table = KindTable(
        np.array(st.kind_keys, np.uint64),
        n_subjects * kinds.daily_rate * max_mult,
        max_mult,
        kinds.listed_multiplier,
        kinds.decile_multiplier,
        kinds.migrant_multiplier,
        kinds.coverage,
        kinds.error_rate,
        kinds.points,
        col_true.astype(np.int64),
        col_erroneous.astype(np.int64),
        kinds.eligible,
        kinds.restricted,
        kinds.delay_days,
        st.dp_rules.expiry_days.astype(np.int64),
        list_bits.astype(np.uint8),
        kinds.subject.astype(np.uint8),
    )
    score_table, list_table = _side_tables(st, 0, kind_table)
    return kind_table, score_table, list_table


def _side_tables(st: RunState, code: int, kind_table: KindTable) -> tuple[ScoreTable, ListTable]:
    """The score's and the lists' rules of one side (code 0 residents, 1 enterprises)
    as compiled days take them; a side without a score gets a score table that is not
    read."""
    side = (st.res, st.ent)[code]
    scorer, lists = side.scorer, side.lists
    if scorer is not None:
        rules = scorer.rules
        mine = kind_table.expiry[kind_table.subject == code]
        scorer.longest_expiry = max(scorer.longest_expiry, int(mine.max(initial=0)))
        score_table = ScoreTable(
            rules.base,
            rules.decay,
            rules.association_penalty,
            _finite(rules.min_score),
            _finite(rules.max_score),
            rules.min_score,
            rules.max_score,
            scorer.expiry_left(),
        )
    else:
        score_table = ScoreTable(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.ones(1))
    list_table = ListTable(
        lists.rule,
        lists.threshold,
        lists.extension,
        lists.extension_probability,
        lists.daily_compliance,
        st.list_key[code],
        lists.black_bits,
        lists.stay_bands,
        side.cols["changes"],
        side.cols["ever_listed"],
        lists.duration,
    )
    return score_table, list_table


def _act_table(st: RunState) -> ActTable:
    """The residents' activities as compiled days run them, from the rules as they are
    now (engine/support.py: no enterprises' activities, flags, responses or chilling)."""
    acts, res = st.activities, st.res
    if len(acts) == 0 and _NO_ACTIVITIES:  # (the same whatever the run: nothing is read)
        return _NO_ACTIVITIES[0]
    dom = res.domains
    resident = np.flatnonzero(~acts.enterprise)
    assert len(resident) == len(acts) and len(acts) <= 64
    reaches = [
        Reach(
            res.list_state.mask,
            int(dom.block_own[d] | dom.delay_own[d] | dom.reward_bits[d]),
            st.rep_mask,
            int(dom.block_rep[d] | dom.delay_rep[d]),
            res.score,
            float(dom.reward_score[d]),
        )
        for d in acts.domain
    ]
    drawn = [a for a in range(len(acts)) if acts.daily_rate[a] > 0.0]
    keys = np.array([st.cell_keys[a][0] for a in drawn], np.uint64)
    slot = np.full(len(acts), -1, np.int64)
    slot[drawn] = np.arange(len(drawn))
    d = acts.domain
    cols = res.cols["outcomes"][d].astype(np.int64)
    blocked_by = res.cols["blocked_by"][d].astype(np.int64)
    posts = np.where(acts.posting, int(res.cols["posts"][0]) if "posts" in res.cols else -1, -1)
    counted = np.concatenate([cols.ravel(), blocked_by.ravel(), posts])
    groups = res.series.groups
    table = ActTable(
        ELIGIBLE_CLASSES[acts.eligible].astype(np.int64),
        acts.daily_rate,
        acts.decile_multiplier,
        acts.base_wait,
        posts.astype(np.int64),
        slot,
        _reach_rules(acts, reaches, drawn, keys),
        np.stack(
            [
                dom.block_own[d],
                dom.block_rep[d],
                dom.delay_own[d],
                dom.delay_rep[d],
                dom.reward_bits[d],
            ],
            axis=1,
        )
        .astype(np.int64)
        .reshape(len(acts), 5),
        np.stack([dom.delay_days[d], dom.reward_score[d], dom.wait_factor[d]], axis=1).reshape(
            len(acts), 3
        ),
        cols.reshape(len(acts), 6),
        blocked_by.reshape(len(acts), 16),
        np.array(st.others_keys, np.uint64),
        st.groups.size,
        st.green_score,
        st.high_scores is not None,
        groups.indptr.astype(np.int64),
        groups.indices.astype(np.int64),
        np.unique(counted[counted >= 0]).astype(np.int64),
    )
    if len(acts) == 0:
        _NO_ACTIVITIES.append(table)
    return table


_NO_ACTIVITIES: list[ActTable] = []
"""_act_table() of a run without activities, made once."""
