"""The due-process phase of compiled days (engine/compiled.py): the kernels of
model/dueprocess_days.py that the general loop's due-process step calls through
DueProcessState, in its order (count_unaware, plan_day, step_day, end_side), and the
points of the records ended given back to the score as Scorer._add gives them back;
after the activities, blocked_day for the residents a measure blocked."""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.engine.containers import DueDays, ScoreArrays, ScoreTable
from scslab.engine.growth import grow
from scslab.model.dueprocess_days import (
    DueState,
    blocked_day,
    count_unaware,
    end_side,
    plan_day,
    step_day,
)
from scslab.model.points import add_points
from scslab.model.records import LogColumns
from scslab.model.scoring import hold_at_base


@nb.njit(cache=True)
def due_process_day(
    day: int,
    due: DueDays,
    state: DueState,
    today_ids: np.ndarray,
    records: LogColumns,
    row: np.ndarray,
    score: np.ndarray,
    scoring: ScoreArrays,
    rules: ScoreTable,
    ids: tuple[np.ndarray, int, np.ndarray, int],
) -> tuple[DueState, tuple[np.ndarray, int, np.ndarray, int]]:
    """Due process on `day` for the residents (today_ids: the records taking effect
    today), counted into the day's row [groups, metrics]. ids: (error_ids, how many,
    risen, how many), the residents with erroneous points and those whose score rose
    today, returned with the subjects of the records ended added as the scorer adds
    them."""
    error_ids, n_error_ids, risen, n_risen = ids
    state = count_unaware(state, due.rules, day, due.res.listings.mask)
    state = plan_day(state, due.rules, day, today_ids, records, due.res, due.ent, row, row)
    state, ended = step_day(state, due.rules, day, records, due.res, due.ent, row, row)
    if len(ended) == 0:
        return state, ids
    subjects, left, erroneous = end_side(state, due.rules, day, ended, records, 0, due.res)
    points = -left
    add_points(
        score, scoring.error_points, subjects, points, erroneous, rules.min_score, rules.max_score
    )
    for r in range(len(subjects)):
        i = subjects[r]
        scoring.outside[i >> 3] = True
        if points[r] > 0:
            risen = grow(risen, n_risen, n_risen + 1)
            risen[n_risen] = i
            n_risen += 1
        if erroneous[r] and not scoring.with_errors[i]:
            scoring.with_errors[i] = True
            error_ids = grow(error_ids, n_error_ids, n_error_ids + 1)
            error_ids[n_error_ids] = i
            n_error_ids += 1
    hold_at_base(score, scoring.error_points, scoring.unenrolled, rules.base)
    return state, (error_ids, n_error_ids, risen, n_risen)


@nb.njit(cache=True)
def learn_of_blocks(
    day: int,
    due: DueDays,
    state: DueState,
    blocked: np.ndarray,
    records: LogColumns,
    n_records: int,
    values: np.ndarray,
) -> DueState:
    """The residents `blocked` by a measure today learn of their listings (blocked_day;
    counted into values[day], the day's row)."""
    row = values[day]
    return blocked_day(state, due.rules, day, blocked, records, n_records, due.res, due.ent, row)
