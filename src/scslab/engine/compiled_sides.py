"""The phases of compiled days (engine/compiled.py) that run once per kind of subject:
the residents' side and the enterprises' (containers.SideDays) go through the same
functions, as the general loop's steps (engine/steps.py) take st.res and st.ent through
the same code:

    scoring       score_side: drift, the day's effective records of the side;
                  expire_side: its expiries (each holding the subjects it changed
                  that are not enrolled at the base: scoring.hold_subjects)
    lists         list_side, list_changes, entered_since (engine/compiled_lists.py)
    collectors    collect_side: the list columns; tally_side: the score tally of the day

A phase takes the parts of the side that it reads, taken once before the days
(side_views: a ScoreView, ListView, ChangeView and CollectView per side), and what of
the side's state it changes (the scores, the subjects with erroneous points, the
listed, the changes), and returns only what it changed. The arrays run_days is given
are borrowed (engine/borrow.py): binding them costs no reference counts. What run_days
makes (scratch, what grows) is counted as numba counts any array, atomically, each
time a call binds it or returns it: so what a day would otherwise make anew is kept in
scratch made once per run_days call (DayRecords, ExpiryRoom, and in the views: drift's
flags, the lists' subjects to visit and changed), grown when a day needs more, and a
phase returns only what it changed. The phases are calls, not inlined into run_days: a
call binds its arguments as inlined code does, and run_days' first compilation (one
function, optimised whole) grows faster than the code in it."""

from __future__ import annotations

import numpy as np

from scslab.engine.collectors import _collect_lists, recount_lists
from scslab.engine.containers import (
    ChangeView,
    Collecting,
    CollectView,
    DayRecords,
    Expiry,
    ExpiryRoom,
    Ids,
    KindTable,
    ListMarks,
    ListView,
    ScoreView,
    SideDays,
)
from scslab.engine.growth import grow as _grow
from scslab.engine.growth import grow_queue
from scslab.engine.tally import tally_days
from scslab.kernelcache import kernel
from scslab.model.containers import ByGroup, DailyRules, Listings
from scslab.model.points import (
    Ending,
    Scores,
    Taking,
    add_points,
    expire_due,
    risen_by_expiry,
    schedule_expiry,
)
from scslab.model.records import ACTIVE, LogColumns
from scslab.model.scoring import (
    FLAG_BLOCK,
    DriftMarks,
    DriftRules,
    decay_error_points,
    drift,
    hold_subjects,
)


# The per-record loops of score_side are calls with the arrays as arguments, not
# helpers that numba inlines (inline="always") nor loops over a tuple's fields: in a
# function that branches as score_side does, each array so bound costs two reference
# counts per record (atomic for the arrays run_days makes, a null test for those it
# borrows).
@kernel(inner=True)
def _count_records(
    row: np.ndarray,
    groups_indptr: np.ndarray,
    groups_of_cell: np.ndarray,
    cell: np.ndarray,
    subjects: np.ndarray,
    kinds: np.ndarray,
    erroneous: np.ndarray,
    col_true: np.ndarray,
    col_erroneous: np.ndarray,
) -> None:
    """Add 1 to row[group, col] for each record (subjects, kinds, erroneous) and each
    group of its subject's cell, col the column of its kind's true or erroneous
    records."""
    for r in range(len(subjects)):
        k = kinds[r]
        col = col_erroneous[k] if erroneous[r] else col_true[k]
        c = cell[subjects[r]]
        for q in range(groups_indptr[c], groups_indptr[c + 1]):
            row[groups_of_cell[q], col] += 1.0


@kernel(inner=True)
def _mark_records(
    subjects: np.ndarray,
    erroneous: np.ndarray,
    outside: np.ndarray,
    with_errors: np.ndarray,
    error_ids: np.ndarray,
    n_error_ids: int,
) -> int:
    """Mark the runs of eight of the records' subjects for the lists' update (outside),
    and add the subjects of erroneous records that had no erroneous points before to
    error_ids (room for each erroneous record given); returns how many error_ids are
    used."""
    for r in range(len(subjects)):
        i = subjects[r]
        outside[i >> 3] = True
        if erroneous[r] and not with_errors[i]:
            with_errors[i] = True
            error_ids[n_error_ids] = i
            n_error_ids += 1
    return n_error_ids


@kernel(inner=True)
def day_records(capacity: int) -> DayRecords:
    """Room for a side's records of a day (DayRecords): `capacity` of them."""
    return DayRecords(
        np.empty(capacity, np.int32),
        np.empty(capacity, np.uint8),
        np.empty(capacity),
        np.empty(capacity, np.bool_),
    )


@kernel(inner=True)
def expiry_room(capacity: int) -> ExpiryRoom:
    """A side's scratch of its expiries (ExpiryRoom), with room for `capacity`."""
    return ExpiryRoom(
        np.empty(capacity, np.int64), np.empty(capacity, np.int64), np.empty(capacity, np.int32)
    )


@kernel(inner=True)
def side_views(
    side: SideDays, kinds: KindTable, enlisting: bool, n_listed: int, snapshots: np.ndarray
) -> tuple[ScoreView, ListView, ChangeView, CollectView]:
    """The parts of one side that its scoring, lists and collectors phases read, taken
    once before the days (enlisting: a kind of the side's records triggers one of its
    lists; n_listed: how many of its subjects are on a list), with the phases' scratch
    (drift's flags, the lists' subjects to visit and changed). snapshots: the side's
    Collecting.snapshots as numba counts them, not borrowed (engine/borrow.py): drift
    writes each day's scores into a row of them, and the last row may be given back."""
    lists, rules, c = side.lists, side.list_rules, side.collecting
    r = side.score_rules
    n = len(lists.mask)
    cap = max(1024, n // 64)
    score_view = ScoreView(
        side.scored,
        side.cell,
        r,
        DriftRules(r.base, r.decay, r.association, r.lo, r.hi, rules.stay[0, 0], rules.stay[0, 1]),
        side.scoring,
        DriftMarks(
            side.scoring.outside, lists.mask, side.scoring.held, np.empty(FLAG_BLOCK, np.uint8)
        ),
        lists.listed_contacts,
        c.groups_indptr,
        c.groups_of_cell,
        c.values,
        snapshots,
        kinds.points,
        kinds.col_true,
        kinds.col_erroneous,
        kinds.expiry,
    )
    mask, wrongful, extended, released, repaired, ever, until, true_until, _ = lists
    list_view = ListView(
        side.every_listed,
        enlisting,
        Listings(mask, wrongful, extended, released, repaired, until, true_until),
        DailyRules(
            rules.rule,
            rules.threshold,
            rules.extension,
            rules.extension_probability,
            rules.daily_compliance,
            rules.key,
        ),
        rules.stay,
        rules.duration,
        side.scoring.error_points,
        side.scoring.outside,
        kinds.list_bits,
        np.empty(n + n // 8 + 2 * n_listed + 1024, np.int64),  # (more: a day makes its own)
    )
    change_view = ChangeView(
        side.cell,
        mask,
        ever,
        rules.black_bits,
        rules.change_columns,
        c.groups_indptr,
        c.groups_of_cell,
        c.values,
        c.ever_counts,
        np.empty(cap, np.int64),
        np.empty(cap, np.uint8),
        np.empty(cap, np.bool_),
        np.empty(cap, np.bool_),
        np.empty(cap, np.bool_),
    )
    counted = c.counted
    incremental = len(counted[0]) == n and len(c.days_blacklisted) != n and not side.every_listed
    collect_view = CollectView(
        side.every_listed,
        incremental,
        side.cell,
        mask,
        wrongful,
        rules.black_bits,
        len(rules.rule),
        rules.col_ever,
        c.groups_indptr,
        c.groups_of_cell,
        c.group_count,
        c.values,
        c.days_blacklisted,
        counted,
        c.list_counts,
        c.ever_counts,
        c.enrolled_col,
        c.enrolled,
    )
    return score_view, list_view, change_view, collect_view


@kernel(inner=True)
def score_side(
    day: int,
    first_day: int,
    v: ScoreView,
    score: np.ndarray,
    errors: Ids,
    records: LogColumns,
    ids: np.ndarray,
    keep_high: bool,
    risen: Ids,
    today: DayRecords,
) -> tuple[np.ndarray, Ids, Ids]:
    """The scoring phase of one side (v: its ScoreView) on `day` but the expiries
    (expire_side): drift and association penalties from `score` (into the side's
    snapshot row of the day; the residents not enrolled held at the base), then the
    points of its records effective today (`ids`, increasing: ids into `records`, made
    ACTIVE, copied to `today`'s first len(ids) entries with their points) in order,
    counted into the day's row, and their subjects not enrolled held at the base again
    (hold_subjects). Returns (the day's scores, the subjects with erroneous points,
    risen): with keep_high, risen gains the subjects whose score went up."""
    base, decay, _, _, _, min_score, max_score, _ = v.rules
    error_points, with_errors, outside, held = v.scoring
    error_ids, n_error_ids = errors
    scored = v.scored
    if scored:
        today_scores = v.snapshots[(day - first_day) % len(v.snapshots)]
        drift(score, today_scores, v.drift_rules, v.listed_contacts, v.marks)
        score = today_scores
        decay_error_points(error_points, decay, error_ids[:n_error_ids])
    m = len(ids)
    status, log_subject, log_kind, log_erroneous = (
        records.status,
        records.subject,
        records.kind,
        records.erroneous,
    )
    subjects, day_kinds, day_points, errs = today
    points_of = v.points
    for r in range(m):
        q = ids[r]
        status[q] = ACTIVE
        k = log_kind[q]
        subjects[r], day_kinds[r], errs[r] = log_subject[q], k, log_erroneous[q]
        day_points[r] = points_of[k]
    subjects, day_kinds, day_points, errs = subjects[:m], day_kinds[:m], day_points[:m], errs[:m]
    row = v.values[day]
    if scored:
        add_points(score, error_points, subjects, day_points, errs, min_score, max_score)
        hold_subjects(score, error_points, subjects, held, base)
        if keep_high:
            risen = _risen(risen, subjects, day_points)
    _count_records(
        row,
        v.groups_indptr,
        v.groups_of_cell,
        v.cell,
        subjects,
        day_kinds,
        errs,
        v.col_true,
        v.col_erroneous,
    )
    if scored:
        error_ids = _grow(error_ids, n_error_ids, n_error_ids + int(errs.sum()))
        n_error_ids = _mark_records(subjects, errs, outside, with_errors, error_ids, n_error_ids)
    return score, Ids(error_ids, n_error_ids), risen


@kernel(inner=True)
def _risen(risen: Ids, subjects: np.ndarray, points: np.ndarray) -> Ids:
    """risen with the subjects whose points are positive added."""
    ids, n = risen
    ids = _grow(ids, n, n + len(subjects))
    for r in range(len(subjects)):
        if points[r] > 0:
            ids[n] = subjects[r]
            n += 1
    return Ids(ids, n)


@kernel(inner=True)
def expire_side(
    day: int,
    v: ScoreView,
    expiry: Expiry,
    records: LogColumns,
    ids: np.ndarray,
    today: DayRecords,
    score: np.ndarray,
    keep_high: bool,
    risen: Ids,
    room: ExpiryRoom,
) -> tuple[Expiry, Ids, ExpiryRoom]:
    """The expiries of one side on `day` (after score_side; a side with a score): the
    day's records (`ids`, their columns in `today`) scheduled, the points of those due
    taken off `score` (their subjects not enrolled held at the base). Returns the queue,
    risen (with keep_high, the subjects whose score rose by an expiry added) and the
    scratch `room`, grown if need be."""
    base, _, _, _, _, min_score, max_score, left = v.rules
    error_points, _, outside, held = v.scoring
    queue, queued, head, in_order = expiry
    m = len(ids)
    if queued + m > len(queue.day):  # (its columns grow together)
        queue = grow_queue(queue, queued, queued + m)
    if m > len(room.days):
        room = ExpiryRoom(_grow(room.days, 0, m), room.expired, room.subjects)
    days, expiry_of, kinds = room.days, v.expiry, today.kind
    for r in range(m):
        days[r] = expiry_of[kinds[r]]
    queued, in_order = schedule_expiry(
        queue,
        queued,
        day,
        Taking(ids, today.subject[:m], today.points[:m], today.erroneous[:m], days[:m]),
        in_order,
    )
    if in_order and (head == queued or queue.day[head] > day):  # (nothing due today)
        return Expiry(queue, queued, head, in_order), risen, room
    if queued - head > len(room.expired):
        waiting = queued - head
        room = ExpiryRoom(
            room.days, _grow(room.expired, 0, waiting), _grow(room.subjects, 0, waiting)
        )
    expired = room.expired
    n_expired, head = expire_due(
        Expiry(queue, queued, head, in_order),
        day,
        left,
        Ending(records.status, records.end_day),
        Scores(score, error_points, outside, min_score, max_score),
        expired,
    )
    if len(held) and n_expired:
        subjects, subject_of = room.subjects, queue.subject
        for q in range(n_expired):
            subjects[q] = subject_of[expired[q]]
        hold_subjects(score, error_points, subjects[:n_expired], held, base)
    if keep_high and n_expired:
        risen_ids, n = risen
        risen_ids = _grow(risen_ids, n, n + n_expired)
        n = risen_by_expiry(queue, expired[:n_expired], left, risen_ids, n)
        risen = Ids(risen_ids, n)
    return Expiry(queue, queued, head, in_order), risen, room


@kernel(inner=True)
def collect_side(
    day: int, v: CollectView, listed: np.ndarray, error_ids: np.ndarray, touched: np.ndarray
) -> None:
    """The collectors of one side (v: its CollectView) on `day`: the list columns into
    the day's row (kept up to date from the subjects that may have changed, `touched`
    and those with erroneous points, or counted over every listed subject: see
    run_days), the count of subjects, those ever on each list and the enrolled."""
    mask, wrongful = v.mask, v.wrongful
    black_bits, n_lists = v.black_bits, v.n_lists
    cell, groups_indptr, groups_of_cell = v.cell, v.groups_indptr, v.groups_of_cell
    row_today = v.values[day]
    if v.incremental:
        list_counts = v.list_counts
        if len(touched) or len(error_ids):
            marks = ListMarks(mask, wrongful, black_bits, n_lists)
            counts = ByGroup(list_counts, cell, groups_indptr, groups_of_cell)
            if len(touched):
                recount_lists(touched, marks, v.counted, counts)
            if len(error_ids):
                recount_lists(error_ids, marks, v.counted, counts)
        # (a loop: `values[day] += list_counts` would allocate a temporary each day;
        # over the list columns only, the ones recount_lists counts into: 1, 2 and
        # 4 .. 4 + 2 n_lists)
        for gr in range(list_counts.shape[0]):
            for col in range(1, 3):
                row_today[gr, col] += list_counts[gr, col]
            for col in range(4, 4 + 2 * n_lists):
                row_today[gr, col] += list_counts[gr, col]
    else:
        _collect_lists(
            ByGroup(row_today, cell, groups_indptr, groups_of_cell),
            ListMarks(mask, wrongful, black_bits, n_lists),
            listed,
            v.days_blacklisted,
        )
    row_today[:, 0] = v.group_count
    col_ever, ever_counts = v.col_ever, v.ever_counts
    for gr in range(ever_counts.shape[0]):
        for b in range(n_lists):
            row_today[gr, col_ever[b]] += ever_counts[gr, b]
    if v.enrolled_col >= 0:
        row_today[:, v.enrolled_col] = v.enrolled


@kernel(inner=True)
def tally_side(day: int, first_day: int, c: Collecting) -> None:
    """With tally_each_day, the day's score tally of one side (tally_days of its
    snapshot row of the day)."""
    row = (day - first_day) % len(c.snapshots)
    tally_days(day, c.snapshots[row : row + 1], c.tally)


@kernel(inner=True)
def keep_side(
    score: np.ndarray, given_score: np.ndarray, given_spare: np.ndarray, keep: bool
) -> tuple[np.ndarray, np.ndarray]:
    """After the last day, (score, spare) of one side: with `keep`, the last day's
    scores (`score`) copied to the spare array given, and the two swapped (the score the
    spare given, the spare the score given); without, `score` (the last day's snapshot
    row) and the spare given."""
    if not keep:
        return score, given_spare
    given_spare[:] = score
    return given_spare, given_score
