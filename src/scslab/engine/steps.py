"""The steps of a simulated day, in order, as a table that both loops run.

Each step is a function of the run's state (`RunState`) and the day's values (`Today`,
which carries what one step hands to the next: the day's records to the lists and to
behaviour, the residents newly blacklisted, the income shocks). The general loop calls
the steps in `STEPS` day by day from Python, timing each (the manifest's phases_s); the
compiled loop (engine/compiled.py) runs the same phases for the scenarios it supports,
in the same order, and counts its time under the same names.

1. departments: behaviour events drawn by thinning -> records (coverage, errors, delay);
   yesterday's flagged attempts (online posts the speech department screens, and the
   attempts at other activities that record kinds come from) become records;
2. scoring: drift and association penalties (dense), today's effective records (sparse),
   expiry;
3. due process: notices, appeals, decisions and repairs (model/dueprocess.py);
4. lists and measures: listings from today's records, expiry/extension/compliance exits
   and score rules (one compiled pass), then contact counts and legal representatives;
5. activities: attempts resolved against measures and rewards;
6. behaviour: chilling after penalties, income lost to blocked jobs and businesses;
7. collectors: state summed by cell, and the day's group totals.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from scslab.engine.collectors import (
    count_into,
)
from scslab.engine.compiled import N_PHASES
from scslab.engine.containers import ListMarks
from scslab.engine.listcounts import count_changes
from scslab.engine.state import HIST_LO, RunState, Side
from scslab.model.activities import (
    draw_by_cell,
    draw_reached,
    enterprise_activity,
)
from scslab.model.attempts import count_done, count_others, flag_done
from scslab.model.behaviour import behaviour_day
from scslab.model.containers import (
    Behaviour,
    ByGroup,
    ChangeColumns,
    Outcomes,
    Points,
    Resolving,
    Responding,
    Response,
    Standing,
)
from scslab.model.departments import (
    SubjectView,
    draw_behaviour,
    observe,
    observe_flagged,
)
from scslab.model.lists import (
    Changes,
    daily_update,
    enlist,
)
from scslab.model.measures import (
    Reach,
    attempts_made_from_python,
    count_listed_contacts,
    mark_entered,
    reached_ids,
    representative_masks,
    resolve,
    union_sorted,
)
from scslab.model.members import update_members
from scslab.model.records import ACTIVE
from scslab.model.scoring import hold_at_base
from scslab.streams import stream_key


def departments(st: RunState, day: int) -> None:
    kinds = st.kinds
    pop = st.population
    assert pop is not None
    beh = st.scenario.behaviour
    views = (
        SubjectView(
            n=st.res.n,
            income_decile=pop.residents.income_decile,
            migrant=pop.residents.migrant,
            list_mask=st.res.list_state.mask,
            black_bits=st.res.lists.black_bits,
            income=st.income.arrays,
            income_factor_floor=beh.min_income_factor,
            subject_class=st.subject_class,
        ),
        SubjectView(
            n=st.ent.n,
            income_decile=None,
            migrant=None,
            list_mask=st.ent.list_state.mask,
            black_bits=st.ent.lists.black_bits,
            income=None,
            income_factor_floor=1.0,
        ),
    )
    for k in range(len(kinds)):
        key = st.kind_keys[k]
        view = views[kinds.subject[k]]
        if kinds.from_posts[k] or kinds.from_activity[k]:
            if kinds.subject[k] != 0 or day == 0:
                continue
            actors = st.flagged_yesterday[int(np.searchsorted(st.flag_kinds, k))]
            batch = observe_flagged(kinds, k, day, actors, view, key)
        else:
            actors = draw_behaviour(kinds, k, day, view, beh.default_risk_elasticity, key)
            batch = observe(kinds, k, day, actors, view, key)
        if len(batch):
            st.log.append(batch)


def scoring(st: RunState, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = st.log.take_effective(day)
    st.log.column("status")[ids] = ACTIVE
    st.today_ids = ids
    kind = st.log.column("kind")[ids]
    subject = st.log.column("subject")[ids]
    erroneous = st.log.column("erroneous")[ids]
    for work in st.drifting:  # the day's drift, worked out in the worker thread
        work.result()
    st.drifting = []
    for s, side in enumerate((st.res, st.ent)):
        if side.scorer is not None:
            side.scorer.drift(st.listed_contacts[: side.n if s == 0 else 0])
        sel = st.kinds.subject[kind] == s
        k, subj, err = kind[sel], subject[sel], erroneous[sel]
        if side.scorer is not None:
            side.scorer.apply(day, subj, st.points[k], err, ids[sel], st.dp_rules.expiry_days[k])
            side.scorer.expire(day, st.log)
        dept = st.kinds.department[k]
        cols = np.where(err, side.cols["records_erroneous"][dept], side.cols["records_true"][dept])
        count_into(side.acc, side.cell[subj], cols)
    hold_unenrolled(st)
    return kind, subject, erroneous


def hold_unenrolled(st: RunState) -> None:
    """Residents not enrolled back at the base score (after the day's points and after
    due process, which gives points back: both before the lists read the scores)."""
    if len(st.held) and st.res.scorer is not None:
        hold_at_base(st.res.score, st.res.error_points, st.held, st.res.scorer.rules.base)


def drift_ahead(st: RunState, pool: ThreadPoolExecutor) -> None:
    """Work out tomorrow's drift in `pool`'s thread: nothing changes scores or
    listed contacts after today's lists (Scorer.drift_work); tomorrow's scoring
    takes the drifted scores in."""
    for s, side in enumerate((st.res, st.ent)):
        if side.scorer is not None:
            work = side.scorer.drift_work(st.listed_contacts[: side.n if s == 0 else 0])
            st.drifting.append(pool.submit(st.timed("drift", work)))


def due_process(st: RunState, day: int) -> None:
    """Notices, appeals, decisions and repairs (see dueprocess.py), before the lists."""
    sides = (st.res, st.ent)
    st.trail.count_day(
        st.res.list_state,
        st.res.lists.black_bits,
        st.rep_mask,
        st.rep_wrongful,
        st.ent.lists.black_bits,
    )
    st.dp.count_unaware(day, st.res.list_state.mask)
    st.dp.plan(day, st.today_ids, st.log, sides)
    st.dp.step(day, st.log, sides)
    hold_unenrolled(st)


def lists_and_measures(
    st: RunState, day: int, kind: np.ndarray, subject: np.ndarray, erroneous: np.ndarray
) -> np.ndarray:
    """Returns residents newly put on a blacklist today."""
    pop = st.population
    assert pop is not None
    newly_black = np.zeros(0, np.int32)
    for s, side in enumerate((st.res, st.ent)):
        if len(side.lists) == 0:
            continue
        sel = st.kinds.subject[kind] == s
        state = side.list_state
        listings = enlist(side.lists, state, day, subject[sel], kind[sel], erroneous[sel])
        new = np.unique(listings.subject).astype(np.int64)
        changes = Changes.concat(
            [
                listings,
                daily_update(
                    side.lists,
                    state,
                    day,
                    Points(side.score, side.error_points),
                    st.list_key[s],
                    score_outside=side.scorer.outside if side.scorer else None,
                    listed=update_members(side.listed, new, np.ones(len(new), np.bool_)),
                ),
            ]
        )
        if len(changes) == 0:
            continue
        st.trail.listing_changes(s, day, changes)
        mark_entered(side.since, changes.subject, changes.bit, changes.entered, len(changes), day)
        count_changes(
            ChangeColumns(
                changes.subject, changes.bit, changes.entered, changes.wrongful, changes.reason
            ),
            ByGroup(side.acc, side.cell, *side.cell_rows),
            side.cols["changes"],
            state.ever,
            side.ever_counts,
        )
        bits = changes.bit.astype(np.int64)
        touched, inverse = np.unique(changes.subject, return_inverse=True)
        toggles = np.zeros(len(touched), np.uint8)
        np.bitwise_xor.at(toggles, inverse, (1 << bits).astype(np.uint8))
        black = side.lists.black_bits
        now = state.mask[touched]
        is_black = (now & black) != 0
        was_black = ((now ^ toggles) & black) != 0
        side.listed = update_members(side.listed, touched, now != 0)
        if s == 0:
            count_listed_contacts(
                touched,
                was_black,
                is_black,
                pop.contacts_of.indptr,
                pop.contacts_of.indices,
                st.listed_contacts,
            )
            newly_black = touched[is_black & ~was_black]
        else:
            representative_masks(
                touched,
                pop.enterprises.legal_rep,
                pop.represented.indptr,
                pop.represented.indices,
                state.mask,
                state.wrongful,
                st.rep_mask,
                st.rep_wrongful,
            )
            reps = np.unique(pop.enterprises.legal_rep[touched]).astype(np.int64)
            st.rep_ids = update_members(st.rep_ids, reps, st.rep_mask[reps] != 0)
    return newly_black


def activities(st: RunState, day: int) -> list[tuple[np.ndarray, float]]:
    """Returns (blocked residents, income share lost) pairs; keeps today's flagged
    attempts (posts and other monitored activities)."""
    acts = st.activities
    shocks: list[tuple[np.ndarray, float]] = []
    blocked: list[np.ndarray] = []  # residents blocked by a measure
    flagged: list[list[np.ndarray]] = [[] for _ in st.flag_kinds]
    posts = st.res.cols["posts"][0]
    mask, score = st.res.list_state.mask, st.res.score
    if st.high_scores is not None and st.res.scorer is not None:
        high = st.high_scores.update(score, st.res.scorer.take_risen())
        ids = union_sorted(union_sorted(st.res.listed, st.rep_ids), high)
    else:  # no score reward, or one at or below the base: scan the scores
        ids = reached_ids(mask, st.rep_mask, score, st.green_score)
    res_dom = st.res.domains
    reaches = [
        None
        if acts.enterprise[a]
        else Reach(
            mask,
            int(res_dom.block_own[d] | res_dom.delay_own[d] | res_dom.reward_bits[d]),
            st.rep_mask,
            int(res_dom.block_rep[d] | res_dom.delay_rep[d]),
            score,
            float(res_dom.reward_score[d]),
        )
        for a, d in enumerate(acts.domain)
    ]
    keys = [k for k, _ in st.cell_keys]
    reached = draw_reached(acts, reaches, st.groups, ids, st.chill.arrays, keys, day)
    for a in range(len(acts)):
        if acts.enterprise[a]:
            enterprises_attempt(st, a, day)
            continue
        side = st.res
        d = int(acts.domain[a])
        dom = side.domains
        cols = side.cols["outcomes"][d]
        posting = acts.posting[a]
        flag_of, flag_probability = st.flag_of[a], st.flag_probability[a]
        drawn = draw_by_cell(
            acts,
            a,
            st.groups,
            st.pools[acts.eligible[a]],
            reached,
            chill=st.chill if acts.chilled[a] else None,
            flag_probability=flag_probability,
            flag_keys=st.cell_keys[a][1],
            others_key=st.others_keys[a],
            day=day,
        )
        count_others(side.acc, cols, posts if posting else -1, drawn.others, acts.base_wait[a])
        for f, ids in zip(flag_of, drawn.flagged, strict=True):
            flagged[f].append(ids)
        attempts = drawn.reached
        standing = Standing(
            side.cell,
            side.list_state.mask,
            side.list_state.wrongful,
            st.rep_mask,
            st.rep_wrongful,
            side.score,
        )
        outcomes = Outcomes(
            side.acc, cols, side.cols["blocked_by"][d], st.blocked_count, st.wrongful_count
        )
        measures = dom.measures(d, float(acts.base_wait[a]))
        if dom.response is not None and len(attempts):
            responding = responding_to_lists(st, side, a, d)
            if responding.active:  # (the attempts still made: the avoided are counted)
                resolving = Resolving(standing, measures, outcomes)
                attempts = attempts_made_from_python(
                    attempts.astype(np.int64), day, responding, resolving
                )
        if len(attempts) == 0:
            continue
        out_blocked = np.empty(len(attempts), np.int64)
        out_done = np.empty(len(attempts), np.int64)
        nb_, nd_ = resolve(attempts, standing, measures, outcomes, out_blocked, out_done)
        if nb_:
            blocked.append(out_blocked[:nb_])
            if acts.income_loss[a] > 0:
                shocks.append((out_blocked[:nb_], float(acts.income_loss[a])))
        if nd_ and (posting or len(flag_of)):
            done = out_done[:nd_]
            if posting:
                count_done(st.res.acc, st.res.cell, done, posts)
            if len(flag_of):
                which = flag_done(done, flag_probability, st.activity_keys[a], day)
                for j, f in enumerate(flag_of):
                    flagged[f].append(done[which == j])
    if blocked:  # (they learn of their listings: due process)
        st.dp.blocked(day, np.concatenate(blocked), st.log, (st.res, st.ent))
    st.flagged_yesterday = [
        np.concatenate(parts) if parts else np.zeros(0, np.int64) for parts in flagged
    ]
    return shocks


NO_RESPONSE = Response(np.zeros(8), np.zeros(8), np.zeros(8), np.zeros(8))
"""The response of a domain where nobody responds (not read)."""


def enterprises_attempt(st: RunState, a: int, day: int) -> None:
    """The enterprises' attempts at activity a on `day`, resolved against the measures
    of their lists in its domain and counted into their accumulator
    (activities.enterprise_activity, which compiled days call too)."""
    acts, side = st.activities, st.ent
    d = int(acts.domain[a])
    empty8 = np.zeros(0, np.uint8)
    empty32 = np.zeros(0, np.int32)
    resolving = Resolving(
        Standing(
            side.cell, side.list_state.mask, side.list_state.wrongful, empty8, empty8, side.score
        ),
        side.domains.measures(d, float(acts.base_wait[a])),
        Outcomes(side.acc, side.cols["outcomes"][d], side.cols["blocked_by"][d], empty32, empty32),
    )
    enterprise_activity(
        side.n,
        float(acts.daily_rate[a]),
        st.activity_keys[a],
        day,
        resolving,
        responding_to_lists(st, side, a, d),
    )


def responding_to_lists(st: RunState, side: Side, a: int, d: int) -> Responding:
    """How the listed subjects of `side` respond to their lists' measures at activity a
    (domain d): those they avoid are counted in avoided:<domain>, and the replaced ones
    among them in attempts and wait_days (with the activity's base wait), never met by
    a measure (measures.attempts_made, which compiled days call too). Not active where
    nobody responds in the domain."""
    response = side.domains.response
    active = response is not None and d in response.domains()
    return Responding(
        active,
        response.rule(d) if response is not None and active else NO_RESPONSE,
        stream_key(st.seed, f"listresponse.{st.activities.names[a]}"),
        side.since,
        int(side.cols["avoided"][d]),
    )


def behaviour(
    st: RunState,
    day: int,
    kind: np.ndarray,
    subject: np.ndarray,
    newly_black: np.ndarray,
    shocks: list[tuple[np.ndarray, float]],
) -> None:
    """Chilling after penalties, income lost to blocked attempts (behaviour_day)."""
    if shocks:
        blocked = np.concatenate([ids for ids, _ in shocks]).astype(np.int64)
        lost = np.concatenate([np.full(len(ids), share) for ids, share in shocks])
    else:
        blocked, lost = np.zeros(0, np.int64), np.zeros(0)
    n_cells = len(st.res.acc)
    by_cell = ByGroup(st.res.acc, st.res.cell, np.arange(n_cells + 1), np.arange(n_cells))
    beh = behaviour_rules(st)
    behaviour_day(day, beh, kind, subject, newly_black.astype(np.int64), blocked, lost, by_cell)


def behaviour_rules(st: RunState) -> Behaviour:
    """The behaviour step's rules (from the rules as they are now) and state."""
    pop = st.population
    assert pop is not None
    beh = st.scenario.behaviour
    kinds = st.kinds
    feedback = kinds.income_sensitive & (kinds.subject == 0)
    return Behaviour(
        beh.chilling_self,
        beh.chilling_contacts,
        (kinds.subject == 0) & (st.points < 0),
        np.where(feedback, beh.default_risk_elasticity, 0.0),
        st.chill.arrays,
        st.income.arrays,
        st.trail.first_shock_day,
        st.trail.income_shocks,
        pop.contacts_of.indptr,
        pop.contacts_of.indices,
        int(st.res.cols["income_shocks"][0]),
    )


def collect(st: RunState, day: int, pool: ThreadPoolExecutor | None) -> None:
    """The day's list state is counted now; its scores are tallied in `pool`'s thread
    (here, without one) while the next day runs (the scorer leaves them untouched
    until the day after, see Scorer.drift), and the day's row is added when the tally
    is in."""
    finish_collect(st)
    for side in (st.res, st.ent):
        side.collector.collect_lists(
            ListMarks(
                side.list_state.mask,
                side.list_state.wrongful,
                side.lists.black_bits,
                len(side.lists),
            ),
            st.days_blacklisted if side is st.res else np.zeros(0, np.int16),
            side.state_sums,
            side.listed,
        )
        side.acc[:, side.cols["state"]] += side.state_sums
        side.acc[:, side.cols["ever_listed"]] += side.ever_counts
        if "enrolled" in side.cols:
            side.acc[:, side.cols["enrolled"][0]] += st.enrolled_cells
        side.acc, side.pending = side.pending, side.acc
        side.acc[:] = 0.0
    scores = [side.score for side in (st.res, st.ent)]
    if pool is None or not st.scenario.outputs.scores:
        done: Future[list[np.ndarray] | None] = Future()
        done.set_result(tally_scores(st, scores))
        st.tally_pending = (day, done)
    else:
        st.tally_pending = (day, pool.submit(st.timed("score_tally", tally_scores, st, scores)))


def tally_scores(st: RunState, scores: list[np.ndarray]) -> list[np.ndarray] | None:
    """Score columns of the state of each side (see StateCollector.collect_scores);
    None when the scenario does not collect them (outputs.scores)."""
    if not st.scenario.outputs.scores:
        return None
    return [
        side.collector.collect_scores(
            score,
            side.scorer.rules.grade_floors if side.scorer else np.zeros(0),
            HIST_LO,
            len(side.lists),
            side.state_sums.shape[1],
            side.hist,
            side.common_grade,
        )
        for side, score in zip((st.res, st.ent), scores, strict=True)
    ]


def finish_collect(st: RunState) -> None:
    """Waits for the last day's score tally and adds that day's rows."""
    if st.tally_pending is None:
        return
    day, future = st.tally_pending
    st.tally_pending = None
    tallied = future.result()
    for k, side in enumerate((st.res, st.ent)):
        if tallied is not None:
            side.pending[:, side.cols["state"]] += tallied[k]
        side.series.add_day(side.pending)
        if side.scorer is not None and tallied is not None:
            st.hist_rows.append(np.concatenate([[day, side is st.ent], side.hist]))


# ----------------------------------------------------------------- run


@dataclass
class Today:
    """The values one step of a day hands to the next."""

    day: int
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    """Kinds of the records effective today (scoring), with their subjects and truth."""
    subject: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    erroneous: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    newly_black: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    """Residents put on a blacklist today (lists and measures)."""
    shocks: list[tuple[np.ndarray, float]] = field(default_factory=list)
    """(residents blocked, share of income lost) of today's activities."""


def _departments_step(st: RunState, today: Today) -> None:
    departments(st, today.day)


def _scoring_step(st: RunState, today: Today) -> None:
    today.kind, today.subject, today.erroneous = scoring(st, today.day)


def _due_process_step(st: RunState, today: Today) -> None:
    due_process(st, today.day)


def _lists_step(st: RunState, today: Today) -> None:
    today.newly_black = lists_and_measures(
        st, today.day, today.kind, today.subject, today.erroneous
    )
    tomorrow = today.day + 1
    if st.worker is not None and tomorrow < st.days and tomorrow not in st.changes:
        drift_ahead(st, st.worker)  # (tomorrow's rules are today's)


def _activities_step(st: RunState, today: Today) -> None:
    today.shocks = activities(st, today.day)


def _behaviour_step(st: RunState, today: Today) -> None:
    behaviour(st, today.day, today.kind, today.subject, today.newly_black, today.shocks)


def _collectors_step(st: RunState, today: Today) -> None:
    collect(st, today.day, st.worker)


@dataclass(frozen=True)
class Step:
    """One step of the day: its name (the manifest's phase) and what it does."""

    name: str
    run: Callable[[RunState, Today], None]


STEPS = (
    Step("departments", _departments_step),
    Step("scoring", _scoring_step),
    Step("due_process", _due_process_step),
    Step("lists_and_measures", _lists_step),
    Step("activities", _activities_step),
    Step("behaviour", _behaviour_step),
    Step("collectors", _collectors_step),
)
"""The day, in order. The compiled loop's phases are these, in this order."""
PHASES = tuple(step.name for step in STEPS)
assert len(PHASES) == N_PHASES
