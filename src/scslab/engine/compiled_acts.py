"""The activities phase of compiled days (engine/compiled.py): the day's attempts of the
residents, resolved against the measures and rewards, with the kernels that the general
loop's activities step (engine/steps.py) calls, in its order:

    whom measures may reach   keep_high (attempts.py) or reached_scan (measures.py)
    their attempts            draw_reached_rows (activities.py)
    chilled propensities      bring (behaviour.py)
    everyone else's           others_by_cell, flag_unreached, count_others (attempts.py)
    listed ones' responses    attempts_made (measures.py)
    outcomes                  resolve (measures.py), count_done, flag_done (attempts.py)

The attempts flagged for a department (posts it screens, attempts at the activities
record kinds come from) are kept by flag kind, in the general loop's order, for the next
day's departments (engine/compiled.py).

The counts go to a day's accumulator by cell, as the general loop's, and are summed into
the groups' rows in the collectors' order (GroupMap.sum_cells), so that the rows are the
same bit for bit (wait_days are sums of fractions, whose order matters)."""

from __future__ import annotations

import numpy as np

from scslab.engine.containers import Firms, Flagged, MayReach, ResidentActs
from scslab.engine.growth import grow
from scslab.kernelcache import kernel
from scslab.model.activities import draw_reached_rows, enterprise_activity
from scslab.model.attempts import (
    count_done,
    count_others,
    flag_done,
    flag_unreached,
    keep_high,
    others_by_cell,
)
from scslab.model.behaviour import bring
from scslab.model.containers import (
    AttemptShare,
    DomainReach,
    Measures,
    Outcomes,
    Pool,
    Reachable,
    Resolving,
    Responding,
    Response,
    Standing,
)
from scslab.model.measures import attempts_made, reached_scan, resolve
from scslab.model.members import update_members


@kernel(inner=True)
def activities_day(
    day: int,
    residents: ResidentActs,
    standing: Standing,
    may: MayReach,
    row: np.ndarray,
    flagged: Flagged,
) -> tuple[np.ndarray, Flagged, np.ndarray, np.ndarray, np.ndarray]:
    """The residents' activities on `day` (their order is the general loop's), counted
    into row [groups, metrics] (the day's row; its activity columns zero); returns the
    set of residents whose score opens a green channel (acts.keep_high: may.high, kept
    from the subjects whose score records raised today, may.risen; else as it came),
    the residents whose attempts were flagged today (in `flagged`'s arrays, grown if
    need be), the blocked attempts at activities with an income loss (ids, one per
    attempt, in the activities' order) with the share of income each loses, and the
    residents blocked by a measure (once per blocked attempt, activity by activity).
    standing: the residents' lists, collector cells and scores, and the lists of the
    enterprises they represent; may.listed: the ids on some list or representing an
    enterprise on one (increasing); residents.responses: the listed residents'
    responses to the measures (attempts avoided, some replaced). Monitored activities
    are attempted by the residents present less what chilling takes off their
    propensities (arrays.chill's deficits, brought to `day`)."""
    acts, arrays, responses, flags = residents
    listed, high, risen = may
    cell, mask, score = standing.cell, standing.own_mask, standing.score
    n_acts = len(acts.lam)
    blocked, lost = np.zeros(0, np.int64), np.zeros(0)
    met = np.zeros(0, np.int64)  # blocked by a measure, at any activity
    n_met = 0
    if n_acts == 0:
        return high, flagged, blocked, lost, met
    # whom the measures and rewards of some domain may reach
    if acts.keep_high:
        high = keep_high(high, risen, score, acts.green)
        ids = update_members(listed, high, np.ones(len(high), np.bool_))
    else:
        ids = reached_scan(mask, arrays.rep_mask, score, acts.green)
    acc = arrays.acc
    n_cells = acc.shape[0]
    reachable = Reachable(mask, arrays.rep_mask, score, arrays.group)
    reached = draw_reached_rows(ids, reachable, arrays.chill, acts.reach, day, n_cells)
    no_rate = np.zeros(n_cells)
    others = np.zeros(n_cells, np.int64)
    n_flags = len(flagged.indptr) - 1
    today = [np.empty(0, np.int64) for _ in range(n_flags)]  # flagged, by flag kind
    counts = np.zeros(n_flags, np.int64)
    present = acts.size
    if acts.chilled.any():
        bring(arrays.chill, day)
        present = acts.size - arrays.chill.deficit.reshape(acts.size.shape)
    for a in range(n_acts):
        slot = acts.slot[a]
        rate = reached.rate[slot] if slot >= 0 else no_rate
        others_by_cell(
            present if acts.chilled[a] else acts.size,
            acts.class_bits[a],
            AttemptShare(acts.lam[a], acts.mults[a], flags.unflagged[a], acts.others_key[a]),
            rate,
            day,
            others,
        )
        bits, numbers = acts.bits[a], acts.numbers[a]
        code = flags.eligible[a]
        who = Pool(flags.pool_ids[code], flags.pool_n[code], flags.income_decile)
        reach = DomainReach(reachable, bits[0] | bits[2] | bits[4], bits[1] | bits[3], numbers[1])
        for j in range(flags.n_of[a]):  # those flagged among the residents not reached
            draw = AttemptShare(
                acts.lam[a], acts.mults[a], flags.probability[a, j], flags.keys[a, j]
            )
            ids = flag_unreached(who, draw, arrays.chill, day, reach, others)
            _keep(today, counts, flags.of[a, j], ids)
        count_others(acc, acts.cols[a], acts.posts[a], others, acts.base_wait[a])
        if slot < 0 or reached.counts[slot] == 0:
            continue
        attempts = reached.attempts[slot, : reached.counts[slot]]
        measures = Measures(
            bits[0],
            bits[1],
            bits[2],
            bits[3],
            numbers[0],
            bits[4],
            numbers[1],
            numbers[2],
            acts.base_wait[a],
        )
        outcomes = Outcomes(
            acc, acts.cols[a], acts.blocked_by[a], arrays.blocked_count, arrays.wrongful_count
        )
        d = responses.domain[a]
        if d >= 0:  # the listed residents' responses: the attempts still made
            r = responses
            response = Response(r.multiplier[d], r.floor[d], r.half_life[d], r.avoidance[d])
            responding = Responding(True, response, r.key[a], r.since, r.avoided[a])
            resolving = Resolving(standing, measures, outcomes)
            attempts = attempts_made(attempts, day, responding, resolving)
            if len(attempts) == 0:
                continue
        out_blocked = np.empty(len(attempts), np.int64)
        out_done = np.empty(len(attempts), np.int64)
        n_blocked, n_done = resolve(attempts, standing, measures, outcomes, out_blocked, out_done)
        if acts.income_loss[a] > 0.0 and n_blocked:
            blocked = np.concatenate((blocked, out_blocked[:n_blocked]))
            lost = np.concatenate((lost, np.full(n_blocked, acts.income_loss[a])))
        if n_blocked:
            met = grow(met, n_met, n_met + n_blocked)
            met[n_met : n_met + n_blocked] = out_blocked[:n_blocked]
            n_met += n_blocked
        if acts.posts[a] >= 0 and n_done:
            count_done(acc, cell, out_done[:n_done], acts.posts[a])
        if flags.n_of[a] and n_done:  # those flagged among the attempts that went ahead
            done = out_done[:n_done]
            which = flag_done(done, flags.probability[a, : flags.n_of[a]], flags.done_key[a], day)
            for j in range(flags.n_of[a]):
                _keep(today, counts, flags.of[a, j], done[which == j])
    # the day's counts into the groups' rows, cell by cell in each group's order
    for g in range(len(acts.group_indptr) - 1):
        for j in range(acts.group_indptr[g], acts.group_indptr[g + 1]):
            c = acts.group_cells[j]
            for col in acts.sum_cols:
                row[g, col] += acc[c, col]
    for c in range(n_cells):
        for col in acts.sum_cols:
            acc[c, col] = 0.0
    return high, _flagged(flagged, today, counts), blocked, lost, met[:n_met]


@kernel(inner=True)
def firm_activities_day(day: int, firms: Firms, score: np.ndarray) -> None:
    """The enterprises' activities on `day` (firms.acts), in their order
    (activities.enterprise_activity, which the general loop calls), against their lists
    (firms.side) and `score` (empty: none), counted into their row of the day
    [groups, metrics] (its activity columns zero) by way of acts.acc, cell by cell in
    each group's order as the collectors sum them."""
    acts, side = firms.acts, firms.side
    row = side.collecting.values[day]
    no_reps = np.zeros(0, np.uint8)
    no_counts = np.zeros(0, np.int32)
    standing = Standing(side.cell, side.lists.mask, side.lists.wrongful, no_reps, no_reps, score)
    acc = acts.acc
    for k in range(len(acts.lam)):
        bits, numbers = acts.bits[k], acts.numbers[k]
        measures = Measures(bits[0], 0, bits[1], 0, numbers[0], 0, np.inf, numbers[1], numbers[2])
        outcomes = Outcomes(acc, acts.cols[k], acts.blocked_by[k], no_counts, no_counts)
        rows = acts.response[k]
        responding = Responding(
            acts.responding[k],
            Response(rows[0], rows[1], rows[2], rows[3]),
            acts.response_key[k],
            acts.since,
            acts.avoided[k],
        )
        resolving = Resolving(standing, measures, outcomes)
        enterprise_activity(acts.n, acts.lam[k], acts.key[k], day, resolving, responding)
    for g in range(len(acts.group_indptr) - 1):
        for j in range(acts.group_indptr[g], acts.group_indptr[g + 1]):
            c = acts.group_cells[j]
            for col in acts.sum_cols:
                row[g, col] += acc[c, col]
    for c in range(acc.shape[0]):
        for col in acts.sum_cols:
            acc[c, col] = 0.0


@kernel(inner=True)
def _keep(today: list, counts: np.ndarray, f: int, ids: np.ndarray) -> None:
    """Append `ids` to flag kind f's residents of the day (today[f][:counts[f]])."""
    need = counts[f] + len(ids)
    today[f] = grow(today[f], counts[f], need)
    today[f][counts[f] : need] = ids
    counts[f] = need


@kernel(inner=True)
def _flagged(flagged: Flagged, today: list, counts: np.ndarray) -> Flagged:
    """The day's flagged residents (today[f][:counts[f]] by flag kind) in `flagged`'s
    arrays, grown if need be."""
    ids = grow(flagged.ids, 0, counts.sum())
    indptr = flagged.indptr
    for f in range(len(counts)):
        indptr[f + 1] = indptr[f] + counts[f]
        ids[indptr[f] : indptr[f + 1]] = today[f][: counts[f]]
    return Flagged(ids, indptr)
