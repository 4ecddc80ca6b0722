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
from typing import cast

import numba as nb
import numpy as np

from scslab.engine.arena import zeroed_arrays
from scslab.engine.collectors import (
    recount_lists,
)
from scslab.engine.compiled import N_PHASES, run_days
from scslab.engine.containers import (
    ActArrays,
    ActTable,
    Collecting,
    Columns6,
    DueDays,
    Flagged,
    Flagging,
    Grown,
    KindTable,
    ListArrays,
    ListTable,
    People,
    Responses,
    ScoreArrays,
    ScoreTable,
    TallyArgs,
)
from scslab.engine.state import HIST_LO, RunState
from scslab.engine.steps import PHASES, STEPS, Today, behaviour_rules, finish_collect
from scslab.engine.tally import tally_days
from scslab.model.activities import ELIGIBLE_CLASSES, _reach_rules, unflagged_share
from scslab.model.departments import (
    SubjectView,
    thinning_bound,
)
from scslab.model.lists import (
    Changes,
)
from scslab.model.measures import Reach
from scslab.model.scoring import Scorer, ScoreRules, _finite
from scslab.streams import stream_key

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
    assert pop is not None
    res, kinds = st.res, st.kinds
    scorer = res.scorer or unscored(res.n)
    rules, lists, state = scorer.rules, res.lists, res.list_state
    r = pop.residents
    kind_table, score_table, list_table = _rule_tables(st, scorer)
    act_table, responses = _act_table(st), _responses(st)
    flags = _flag_table(st)
    behaviour = behaviour_rules(st)
    due = _due_days(st)
    if st.high_scores is not None and scorer.track_risen:
        scorer.take_risen()  # (taken each day by the activities)
    max_mult = kind_table.max_mult
    days, n_bins = st.days, len(res.hist)
    expected = res.n * kinds.daily_rate.sum() * max_mult.max() * (days - start)
    st.log.reserve(int(expected * RECORD_CAPACITY_SLACK))
    changes = cast(
        Columns6,
        tuple(
            np.empty(1024, t) for t in (np.int16, np.int32, np.uint8, np.bool_, np.bool_, np.uint8)
        ),
    )
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
        Flagged(
            np.concatenate([np.zeros(0, np.int64), *st.flagged_yesterday]).astype(np.int64),
            np.cumsum([0] + [len(ids) for ids in st.flagged_yesterday]).astype(np.int64),
        ),
        st.dp.state(),
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
    collect = st.scenario.outputs.scores and res.scorer is not None
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
    counted: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    list_counts = np.zeros(values.shape[1:])
    ever_counts = groups.sum_cells(res.ever_counts)  # (per group: run_days counts into groups)
    if len(st.days_blacklisted) != res.n:
        counted = (np.zeros(res.n, np.uint8), np.zeros(res.n, np.uint8))
        recount_lists(
            res.listed,
            state.mask,
            state.wrongful,
            *counted,
            res.collector.cell,
            groups.groups_indptr,
            groups.groups_of_cell,
            lists.black_bits,
            len(lists.rule),
            list_counts,
        )
    in_days = 0.0  # seconds in run_days (the cycle counts' span)
    try:
        # chunks of `step` days, and a chunk from each day the timeline changes a rule
        # (and one from the burn-in's end)
        changed = {d for d in [*st.changes, st.burn_in] if start < d < days}
        starts = sorted(set(range(start, days, step)) | changed)
        for chunk, (first, last) in enumerate(itertools.pairwise([*starts, days])):
            st.report_from(first)
            if first > start and st.apply_timeline(first):
                kind_table, score_table, list_table = _rule_tables(st, scorer)
                act_table, responses = _act_table(st), _responses(st)
                flags = _flag_table(st)
                behaviour = behaviour_rules(st)
                due = _due_days(st)
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
            grown = run_days(
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
                responses,
                flags,
                behaviour,
                due,
                cycles,
            )
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
    if res.scorer is None:  # (the general loop keeps no scores)
        assert not scorer.queued
    scorer.state.score, scorer.spare = score, own[1] if score is own[0] else own[0]
    scorer.error_ids = grown.error_ids[: grown.n_error_ids].copy()
    res.listed = grown.listed
    ids, indptr = grown.flagged
    st.flagged_yesterday = [ids[a:b].copy() for a, b in itertools.pairwise(indptr)]
    for b in range(len(lists)):  # (the general loop keeps them per cell)
        res.ever_counts[:, b] = np.bincount(res.cell, (state.ever >> b) & 1, len(res.ever_counts))
    st.log.adopt(grown.records, grown.n_records, grown.first_pending)
    st.dp.adopt(grown.due)
    scorer.queue, scorer.queued = grown.queue, grown.queued
    scorer.queue_head, scorer.queue_in_order = grown.queue_head, grown.queue_in_order
    ch_day, *rest = (a[: grown.n_changes] for a in grown.changes)
    st.trail.listing_changes(0, ch_day, Changes(*rest))
    res.series.values = res.series.values[:start] + list(values[start:])
    inert = _inert_enterprises_row(st)
    st.ent.series.values = st.ent.series.values[:start] + [inert] * (days - start)
    if collect:
        ran = np.arange(start, days)
        kept = np.column_stack([ran, np.zeros(len(ran)), hist[start:]])
        st.hist_rows = st.hist_rows[:start] + list(kept)
    per_cycle = in_days / max(1, int(cycles.sum()))
    for p, name in enumerate(PHASES):
        st.phase_seconds[name] = float(cycles[p]) * per_cycle


def _inert_enterprises_row(st: RunState) -> np.ndarray:
    """The enterprises' row of every day [groups, metrics] where nothing acts on them (no
    lists, records, score or activities of theirs: engine/support.py): what the general
    loop's collectors count of them each day (their number by cell, all else zero),
    summed into groups as it does."""
    side = st.ent
    assert len(side.lists) == 0 and "enrolled" not in side.cols
    acc = np.zeros_like(side.acc)
    side.collector.collect_lists(
        side.list_state.mask,
        side.list_state.wrongful,
        side.lists.black_bits,
        0,
        np.zeros(0, np.int16),
        side.state_sums,
        side.listed,
    )
    acc[:, side.cols["state"]] += side.state_sums
    acc[:, side.cols["ever_listed"]] += side.ever_counts
    return side.series.groups.sum_cells(acc)


def unscored(n: int) -> Scorer:
    """A points layer for compiled days where the scenario keeps none (no scoring
    section): every score stays at 0, no record has points or expires, nothing reads
    the scores, and the run's state keeps none (Side.score is empty, as in the general
    loop)."""
    rules = ScoreRules(
        base=0.0,
        min_score=-np.inf,
        max_score=np.inf,
        decay=1.0,
        expiry_days=0,
        association_penalty=0.0,
        grade_names=[],
        grade_floors=np.zeros(0),
    )
    return Scorer(rules, n)


def _rule_tables(st: RunState, scorer: Scorer) -> tuple[KindTable, ScoreTable, ListTable]:
    """The rules of the run's residents as compiled days take them (the record kinds,
    the score kept by `scorer` and the lists), from the rules as they are now."""
    pop, res, kinds = st.population, st.res, st.kinds
    scored = res.scorer is not None
    rules, lists, r = scorer.rules, res.lists, pop.residents
    view = SubjectView(
        n=res.n,
        income_decile=r.income_decile,
        migrant=r.migrant,
        list_mask=res.list_state.mask,
        black_bits=lists.black_bits,
        income=None,
        income_factor_floor=st.scenario.behaviour.min_income_factor,
        subject_class=st.subject_class,
    )
    elasticity = st.scenario.behaviour.default_risk_elasticity
    max_mult = np.array([thinning_bound(kinds, k, view, elasticity)[0] for k in range(len(kinds))])
    dept = kinds.department.astype(np.int64)
    kind_table = KindTable(
        np.array(st.kind_keys, np.uint64),
        res.n * kinds.daily_rate * max_mult,
        max_mult,
        kinds.listed_multiplier,
        kinds.decile_multiplier,
        kinds.migrant_multiplier,
        kinds.coverage,
        kinds.error_rate,
        kinds.points if scored else np.zeros_like(kinds.points),
        res.cols["records_true"][dept],
        res.cols["records_erroneous"][dept],
        kinds.eligible,
        kinds.restricted,
        kinds.delay_days,
        st.dp_rules.expiry_days.astype(np.int64) * scored,
        lists.kind_bits if len(lists.kind_bits) else np.zeros(len(kinds), np.uint8),
    )
    scorer.longest_expiry = max(scorer.longest_expiry, int(kind_table.expiry.max(initial=0)))
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
    list_table = ListTable(
        lists.rule,
        lists.threshold,
        lists.extension,
        lists.extension_probability,
        lists.daily_compliance,
        st.list_key[0],
        lists.black_bits,
        lists.stay_bands,
        res.cols["changes"],
        res.cols["ever_listed"],
        lists.duration,
    )
    return kind_table, score_table, list_table


def _due_days(st: RunState) -> DueDays:
    """Due process as compiled days run it, from the rules as they are now: the
    residents counting into the groups' rows (the enterprises have no records there)."""
    groups = st.res.series.groups
    cells = (groups.groups_indptr.astype(np.int64), groups.groups_of_cell.astype(np.int64))
    res = st.dp.side(0, st.res, cells)
    return DueDays(st.dp.kernel_rules(), res, st.dp.side(1, st.ent, st.ent.cell_rows))


def _act_table(st: RunState) -> ActTable:
    """The residents' activities as compiled days run them, from the rules as they are
    now (engine/support.py: no enterprises' activities)."""
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
    avoided = res.cols["avoided"][d].astype(np.int64)  # (-1 where nobody responds)
    counted = np.concatenate([cols.ravel(), blocked_by.ravel(), posts, avoided])
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
        acts.chilled,
        acts.income_loss,
    )
    if len(acts) == 0:
        _NO_ACTIVITIES.append(table)
    return table


_NO_ACTIVITIES: list[ActTable] = []
"""_act_table() of a run without activities, made once."""


def _responses(st: RunState) -> Responses:
    """The residents' responses to their lists' measures as compiled days run them, from
    the rules as they are now (measures.ListResponse), with the run's Side.since."""
    acts, res = st.activities, st.res
    response = res.domains.response
    n = len(acts)
    keys = np.zeros(n, np.uint64)
    domain = np.full(n, -1, np.int64)
    if response is None:
        rows = np.zeros((0, 8))
        return Responses(res.since, keys, domain, domain, rows, rows, rows, rows)
    responding = response.domains()
    for a in range(n):
        if acts.domain[a] in responding:
            domain[a] = acts.domain[a]
            keys[a] = stream_key(st.seed, f"listresponse.{acts.names[a]}")
    avoided = np.where(domain >= 0, res.cols["avoided"][acts.domain], -1).astype(np.int64)
    return Responses(
        res.since,
        keys,
        domain,
        avoided,
        response.multiplier,
        response.floor,
        response.half_life,
        response.avoidance,
    )


def _flag_table(st: RunState) -> Flagging:
    """How compiled days flag the residents' attempts that departments record, from the
    rules as they are now (RunState.flag_kinds, flag_of, flag_probability; the streams
    of the general loop's activities step)."""
    acts, kinds = st.activities, st.kinds
    of_kind = np.full(len(kinds), -1, np.int64)
    of_kind[st.flag_kinds] = np.arange(len(st.flag_kinds))
    n_of = np.array([len(f) for f in st.flag_of], np.int64).reshape(len(acts))
    most = int(n_of.max(initial=0))
    of = np.zeros((len(acts), most), np.int64)
    probability = np.zeros((len(acts), most))
    keys = np.zeros((len(acts), most), np.uint64)
    for a in range(len(acts)):
        of[a, : n_of[a]] = st.flag_of[a]
        probability[a, : n_of[a]] = st.flag_probability[a]
        keys[a, : n_of[a]] = st.cell_keys[a][1]
    empty = np.zeros(0, np.int32)
    pools = [empty if isinstance(p, int) else p.astype(np.int32) for p in st.pools]
    assert len(pools) == 4
    pop = st.population
    assert pop is not None
    return Flagging(
        of_kind,
        n_of,
        of,
        probability,
        np.array([unflagged_share(p) for p in st.flag_probability], np.float64),
        keys,
        np.array(st.activity_keys, np.uint64).reshape(len(acts)),
        acts.eligible.astype(np.int64),
        (pools[0], pools[1], pools[2], pools[3]),
        np.array([p if isinstance(p, int) else len(p) for p in st.pools], np.int64),
        pop.residents.income_decile,
    )
