"""The kernels of residents' activities that both loops call (engine/steps.py's
activities step and engine/compiled_acts.py): the closed-form count of the attempts of
residents whom no measure or reward reaches (others_by_cell, count_others), the count of
posts that went ahead (count_done), and the set of residents whose score opens a green
channel, kept from the subjects whose score records raised (keep_high).

See activities.py for the draw as a whole and measures.py for the resolution of the
attempts that measures may meet."""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.model.lists import update_members
from scslab.streams import hash_poisson

CELL_STRIDE = np.int64(1) << np.int64(32)
"""The counters of cell c's draw in a day's stream start at c x this (hash_poisson's b)."""


@nb.njit(cache=True)
def others_by_cell(
    present: np.ndarray,
    class_bits: int,
    lam: float,
    mults: np.ndarray,
    reached_rate: np.ndarray,
    unflagged: float,
    key: np.uint64,
    day: int,
    out: np.ndarray,
) -> None:
    """out[c] = the attempts on `day` of cell c's residents whom no measure or reward of
    the activity's domain reaches, and whose attempt is not flagged: Poisson with mean
    max(0, lam x sum over deciles d of mults[d] x the residents present in the
    eligible classes (bit k of class_bits: class k) - reached_rate[c]) x unflagged.

    present [cells, 10 deciles, 4 classes]: residents by group, less what chilling takes
    off their propensity; lam: attempts per resident per day; reached_rate [cells]: the
    expected attempts per day of the reached residents (draw_reached); unflagged: the
    share of attempts not flagged. Drawn from the counter-based stream `key` (a = day,
    counters from c x CELL_STRIDE), so the count is the same in either loop."""
    n_cells, n_deciles, n_classes = present.shape
    for c in range(n_cells):
        total = 0.0
        for d in range(n_deciles):
            people = 0.0
            for k in range(n_classes):
                if (class_bits >> k) & 1:
                    people += present[c, d, k]
            total += people * mults[d]
        mean = max(lam * total - reached_rate[c], 0.0) * unflagged
        out[c] = hash_poisson(key, day, np.int64(c) * CELL_STRIDE, mean)


@nb.njit(cache=True)
def count_others(
    acc: np.ndarray, cols: np.ndarray, posts: int, others: np.ndarray, base_wait: float
) -> None:
    """Count per cell the attempts that meet no measure (others[c]): in acc[c, cols[0]]
    (attempts), their wait of base_wait days each in acc[c, cols[5]] (wait_days), and
    in acc[c, posts] when they are posts (posts >= 0)."""
    for c in range(len(others)):
        k = others[c]
        if k == 0:
            continue
        acc[c, cols[0]] += k
        acc[c, cols[5]] += k * base_wait
        if posts >= 0:
            acc[c, posts] += k


@nb.njit(cache=True)
def count_done(acc: np.ndarray, cell: np.ndarray, done: np.ndarray, col: int) -> None:
    """Add 1 to acc[cell[i], col] for each i in `done` (one entry per attempt)."""
    for i in done:
        acc[cell[i], col] += 1.0


@nb.njit(cache=True)
def keep_high(ids: np.ndarray, risen: np.ndarray, score: np.ndarray, at_least: float) -> np.ndarray:
    """The residents (increasing int64 ids) whose score is at least `at_least` points,
    from yesterday's set `ids` and the subjects whose score records raised since
    (`risen`, with repeats): only records raise a score above the base."""
    fresh = np.unique(risen.astype(np.int64))
    cand = update_members(ids, fresh, np.ones(len(fresh), np.bool_))
    out = np.empty(len(cand), np.int64)
    m = 0
    for i in cand:
        if score[i] >= at_least:
            out[m] = i
            m += 1
    return out[:m]
