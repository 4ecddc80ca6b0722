"""The due-process phase of compiled days (engine/compiled.py): the kernels of
model/dueprocess_days.py that the general loop's due-process step calls through
DueProcessState, in its order (count_unaware, plan_day, step_day, end_side for the
residents then the enterprises), and the points of the records ended given back to
each side's score as Scorer._add gives them back; after the activities, blocked_day
for the residents a measure blocked."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scslab.engine.containers import DueDays, ScoreArrays, ScoreTable
from scslab.engine.growth import grow
from scslab.kernelcache import kernel
from scslab.model.dueprocess_days import (
    DueRows,
    DueSide,
    DueState,
    blocked_day,
    count_unaware,
    end_side,
    plan_day,
    step_day,
)
from scslab.model.points import add_points
from scslab.model.records import LogColumns
from scslab.model.scoring import hold_subjects

Kept = tuple[np.ndarray, int, np.ndarray, int]
"""(error_ids, how many, risen, how many): a side's subjects with erroneous points and
those whose score rose today (kept for the residents only)."""


class Ended(NamedTuple):
    """The records that due process ended today, as one side gives their points back."""

    ids: np.ndarray  # int64, ids in the record log (of either side)
    log: LogColumns  # the record log's columns
    s: int  # the side giving back: 0 residents, 1 enterprises
    side: DueSide  # that side's


ScoreBack = tuple[np.ndarray, ScoreArrays, ScoreTable, Kept]
"""What due process gives points back to on one side: its scores (empty: the side has
no score), the scorer's arrays, the score's rules and the side's Kept."""


@kernel(inner=True)
def due_process_day(
    day: int,
    due: DueDays,
    state: DueState,
    today_ids: np.ndarray,
    records: LogColumns,
    rows: tuple[np.ndarray, np.ndarray],
    res: ScoreBack,
    ent: ScoreBack,
) -> tuple[DueState, Kept, Kept]:
    """Due process on `day` for the records taking effect today (today_ids, of either
    side, in the log's order), each side's counts into its row of the day (rows: the
    residents' and the enterprises' [groups, metrics]). Returns the state and each
    side's Kept (res[3], ent[3]) with the subjects of the records ended added as the
    scorer adds them."""
    state = count_unaware(state, due.rules, day, due.res.listings.mask)
    day_rows = DueRows(rows[0], rows[1])
    state = plan_day(state, due, day, today_ids, records, day_rows)
    state, ended = step_day(state, due, day, records, day_rows)
    if len(ended) == 0:
        return state, res[3], ent[3]
    kept = _give_back(day, due, state, Ended(ended, records, 0, due.res), res)
    firm_kept = _give_back(day, due, state, Ended(ended, records, 1, due.ent), ent)
    return state, kept, firm_kept


@kernel(inner=True)
def _give_back(day: int, due: DueDays, state: DueState, ended: Ended, back: ScoreBack) -> Kept:
    """The records ended today (ended.ids) whose subjects are of side ended.s ended
    (end_side), what is left of their points given back to the side's score (points)
    as Scorer._add gives it back (the residents whose score rose are kept, for the
    activities; not the enterprises)."""
    score, scoring, rules, ids = back
    error_ids, n_error_ids, risen, n_risen = ids
    ids_ended, log, s, side = ended
    rising = s == 0  # (worked out, not a literal: one compilation for both sides)
    subjects, left, erroneous = end_side(state, due.rules, day, ids_ended, log, s, side)
    if len(score) == 0 or len(subjects) == 0:  # (no score: nothing to give back)
        return ids
    points = -left
    add_points(
        score, scoring.error_points, subjects, points, erroneous, rules.min_score, rules.max_score
    )
    for r in range(len(subjects)):
        i = subjects[r]
        scoring.outside[i >> 3] = True
        if rising and points[r] > 0:
            risen = grow(risen, n_risen, n_risen + 1)
            risen[n_risen] = i
            n_risen += 1
        if erroneous[r] and not scoring.with_errors[i]:
            scoring.with_errors[i] = True
            error_ids = grow(error_ids, n_error_ids, n_error_ids + 1)
            error_ids[n_error_ids] = i
            n_error_ids += 1
    hold_subjects(score, scoring.error_points, subjects, scoring.held, rules.base)
    return error_ids, n_error_ids, risen, n_risen


@kernel(inner=True)
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
    return blocked_day(state, due, day, blocked, records, n_records, row)
