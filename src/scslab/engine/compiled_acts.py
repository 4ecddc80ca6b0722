"""The activities phase of compiled days (engine/compiled.py): the day's attempts of the
residents, resolved against the measures and rewards, with the kernels that the general
loop's activities step (engine/steps.py) calls, in its order:

    whom measures may reach   keep_high (attempts.py) or reached_scan (measures.py)
    their attempts            draw_reached_rows (activities.py)
    everyone else's           others_by_cell, count_others (attempts.py)
    outcomes                  resolve (measures.py), count_done (attempts.py)

The counts go to a day's accumulator by cell, as the general loop's, and are summed into
the groups' rows in the collectors' order (GroupMap.sum_cells), so that the rows are the
same bit for bit (wait_days are sums of fractions, whose order matters)."""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.engine.containers import ActArrays, ActTable
from scslab.model.activities import draw_reached_rows
from scslab.model.attempts import count_done, count_others, keep_high, others_by_cell
from scslab.model.containers import Measures, Outcomes, Reachable, Standing
from scslab.model.lists import update_members
from scslab.model.measures import reached_scan, resolve


@nb.njit(cache=True)
def activities_day(
    day: int,
    acts: ActTable,
    arrays: ActArrays,
    mask: np.ndarray,
    wrongful: np.ndarray,
    cell: np.ndarray,
    score: np.ndarray,
    listed: np.ndarray,
    high: np.ndarray,
    risen: np.ndarray,
    row: np.ndarray,
) -> np.ndarray:
    """The residents' activities on `day` (their order is the general loop's), counted
    into row [groups, metrics] (the day's row; its activity columns zero); returns the
    set of residents whose score opens a green channel (acts.keep_high: `high`, kept
    from the subjects whose score records raised today, `risen`; else as it came).
    mask, wrongful: the residents' lists; cell: each one's collector cell; listed: the
    ids on some list or representing an enterprise on one (increasing)."""
    n_acts = len(acts.lam)
    if n_acts == 0:
        return high
    # whom the measures and rewards of some domain may reach
    if acts.keep_high:
        high = keep_high(high, risen, score, acts.green)
        ids = update_members(listed, high, np.ones(len(high), np.bool_))
    else:
        ids = reached_scan(mask, arrays.rep_mask, score, acts.green)
    acc = arrays.acc
    n_cells = acc.shape[0]
    residents = Reachable(mask, arrays.rep_mask, score, arrays.group)
    reached = draw_reached_rows(ids, residents, arrays.chill, acts.reach, day, n_cells)
    standing = Standing(cell, mask, wrongful, arrays.rep_mask, arrays.rep_wrongful, score)
    no_rate = np.zeros(n_cells)
    others = np.zeros(n_cells, np.int64)
    for a in range(n_acts):
        slot = acts.slot[a]
        rate = reached.rate[slot] if slot >= 0 else no_rate
        others_by_cell(
            acts.size,
            acts.class_bits[a],
            acts.lam[a],
            acts.mults[a],
            rate,
            1.0,
            acts.others_key[a],
            day,
            others,
        )
        count_others(acc, acts.cols[a], acts.posts[a], others, acts.base_wait[a])
        if slot < 0 or reached.counts[slot] == 0:
            continue
        attempts = reached.attempts[slot, : reached.counts[slot]]
        bits, numbers = acts.bits[a], acts.numbers[a]
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
        out_blocked = np.empty(len(attempts), np.int64)
        out_done = np.empty(len(attempts), np.int64)
        _, n_done = resolve(attempts, standing, measures, outcomes, out_blocked, out_done)
        if acts.posts[a] >= 0 and n_done:
            count_done(acc, cell, out_done[:n_done], acts.posts[a])
    # the day's counts into the groups' rows, cell by cell in each group's order
    for g in range(len(acts.group_indptr) - 1):
        for j in range(acts.group_indptr[g], acts.group_indptr[g + 1]):
            c = acts.group_cells[j]
            for col in acts.sum_cols:
                row[g, col] += acc[c, col]
    for c in range(n_cells):
        for col in acts.sum_cols:
            acc[c, col] = 0.0
    return high
