"""The phases of compiled days (engine/compiled.py) that run once per kind of subject:
the residents' side and the enterprises' (containers.SideDays) go through the same
functions, as the general loop's steps (engine/steps.py) take st.res and st.ent through
the same code:

    scoring       score_side: drift, the day's effective records of the side;
                  expire_side: its expiries (each holding the subjects it changed
                  that are not enrolled at the base: scoring.hold_subjects)
    lists         list_side: entries by records, score rules and exits;
                  list_changes: the changes kept and counted;
                  entered_since: the day of listing, for responses that learn
    collectors    collect_side: the list columns; tally_side: the score tally of the day

A phase takes the parts of the side that it reads, taken once before the days
(side_views: a ScoreView, ListView, ChangeView and CollectView per side), and what of
the side's state it changes (the scores, the subjects with erroneous points, the
listed, the changes), and returns only what it changed. Not the whole SideDays nor a
tuple of all that grows: a tuple of arrays bound or built costs a reference count per
array, and once a day for a small city that was most of a day. The phases are calls,
not inlined into run_days: a call binds its arguments as inlined code does, and
run_days' first compilation (one function, optimised whole) grows faster than the code
in it."""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.engine.collectors import _collect_lists, recount_lists
from scslab.engine.containers import (
    Changed,
    ChangeView,
    Collecting,
    CollectView,
    Columns6,
    Expiry,
    Ids,
    KindTable,
    ListMarks,
    ListView,
    ScoreView,
    SideDays,
    Today,
)
from scslab.engine.growth import grow as _grow
from scslab.engine.growth import grow_changes, grow_queue, grow_scratch
from scslab.engine.listcounts import count_changes
from scslab.engine.tally import tally_days
from scslab.model.containers import ByGroup, ChangeColumns, DailyRules, Listings, Points
from scslab.model.lists import (
    ENTRY,
    _agents_to_visit,
    _daily,
    enlist_into,
    mark_leaving,
    update_members,
)
from scslab.model.measures import mark_entered
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
from scslab.model.scoring import DriftMarks, DriftRules, decay_error_points, drift, hold_subjects


# The per-record loops of score_side are calls with the arrays as arguments, not
# helpers that numba inlines (inline="always") nor loops over a tuple's fields: in a
# function that branches as score_side does, each array so bound costs two reference
# counts (atomic) per record.
@nb.njit(cache=True)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def side_views(
    side: SideDays, kinds: KindTable, enlisting: bool
) -> tuple[ScoreView, ListView, ChangeView, CollectView]:
    """The parts of one side that its scoring, lists and collectors phases read, taken
    once before the days (enlisting: a kind of the side's records triggers one of its
    lists)."""
    lists, rules, c = side.lists, side.list_rules, side.collecting
    r = side.score_rules
    score_view = ScoreView(
        side.scored,
        side.cell,
        r,
        DriftRules(r.base, r.decay, r.association, r.lo, r.hi, rules.stay[0, 0], rules.stay[0, 1]),
        side.scoring,
        DriftMarks(side.scoring.outside, lists.mask, side.scoring.held),
        lists.listed_contacts,
        c.groups_indptr,
        c.groups_of_cell,
        c.values,
        c.snapshots,
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
    )
    n = len(mask)
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


@nb.njit(cache=True)
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
) -> tuple[np.ndarray, Ids, Today, Ids]:
    """The scoring phase of one side (v: its ScoreView) on `day` but the expiries
    (expire_side): drift and association penalties from `score` (into the side's
    snapshot row of the day; the residents not enrolled held at the base), then the
    points of its records effective today (`ids`, increasing: ids into `records`, made
    ACTIVE) in order, counted into the day's row, and their subjects not enrolled held
    at the base again (hold_subjects). Returns (the day's scores, the subjects with
    erroneous points, the day's records, risen): with keep_high, risen gains the subjects
    whose score went up."""
    base, decay, _, _, _, min_score, max_score, _ = v.rules
    error_points, with_errors, outside, held = v.scoring
    error_ids, n_error_ids = errors
    scored = v.scored
    if scored:
        today = v.snapshots[(day - first_day) % len(v.snapshots)]
        drift(score, today, v.drift_rules, v.listed_contacts, v.marks)
        score = today
        decay_error_points(error_points, decay, error_ids[:n_error_ids])
    m = len(ids)
    if m == 0 or ids[m - 1] - ids[0] == m - 1:  # (no delays: a run of ids)
        a = ids[0] if m else 0
        records.status[a : a + m] = ACTIVE
        subjects = records.subject[a : a + m]
        day_kinds = records.kind[a : a + m]
        errs = records.erroneous[a : a + m]
    else:
        records.status[ids] = ACTIVE
        subjects = records.subject[ids]
        day_kinds = records.kind[ids]
        errs = records.erroneous[ids]
    day_points = v.points[day_kinds.astype(np.int64)]
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
    today_records = Today(ids, subjects, day_kinds, day_points, errs)
    return score, Ids(error_ids, n_error_ids), today_records, risen


@nb.njit(cache=True, inline="always")
def _risen(risen: Ids, subjects: np.ndarray, points: np.ndarray) -> Ids:
    """risen with the subjects whose points are positive added."""
    ids, n = risen
    ids = _grow(ids, n, n + len(subjects))
    for r in range(len(subjects)):
        if points[r] > 0:
            ids[n] = subjects[r]
            n += 1
    return Ids(ids, n)


@nb.njit(cache=True)
def expire_side(
    day: int,
    v: ScoreView,
    expiry: Expiry,
    records: LogColumns,
    today: Today,
    score: np.ndarray,
    keep_high: bool,
    risen: Ids,
) -> tuple[Expiry, Ids]:
    """The expiries of one side on `day` (after score_side; a side with a score): the
    day's records scheduled, the points of those due taken off `score` (their subjects
    not enrolled held at the base). Returns the queue and risen (with keep_high, the
    subjects whose score rose by an expiry added)."""
    base, _, _, _, _, min_score, max_score, left = v.rules
    error_points, _, outside, held = v.scoring
    queue, queued, head, in_order = expiry
    if queued + len(today.ids) > len(queue.day):  # (its columns grow together)
        queue = grow_queue(queue, queued, queued + len(today.ids))
    queued, in_order = schedule_expiry(
        queue,
        queued,
        day,
        Taking(
            today.ids,
            today.subjects,
            today.points,
            today.erroneous,
            v.expiry[today.kinds.astype(np.int64)],
        ),
        in_order,
    )
    if in_order and (head == queued or queue.day[head] > day):  # (nothing due today)
        return Expiry(queue, queued, head, in_order), risen
    expired = np.empty(queued - head, np.int64)
    n_expired, head = expire_due(
        Expiry(queue, queued, head, in_order),
        day,
        left,
        Ending(records.status, records.end_day),
        Scores(score, error_points, outside, min_score, max_score),
        expired,
    )
    if len(held) and n_expired:
        hold_subjects(score, error_points, queue.subject[expired[:n_expired]], held, base)
    if keep_high and n_expired:
        given = risen_by_expiry(queue, expired[:n_expired], left)
        ids, n = risen
        ids = _grow(ids, n, n + len(given))
        ids[n : n + len(given)] = given
        risen = Ids(ids, n + len(given))
    return Expiry(queue, queued, head, in_order), risen


@nb.njit(cache=True)
def list_side(
    day: int,
    v: ListView,
    score: np.ndarray,
    errors: Ids,
    listed: np.ndarray,
    out: ChangeColumns,
    today: Today,
) -> tuple[ChangeColumns, int, int]:
    """The lists of one side (v: its ListView; `score`, the day's scores; `listed`, the
    subjects on some list, increasing) on `day`: entries by the day's records (`today`),
    then score rules and exits of the subjects that may change (see run_days), written
    into the scratch `out`. Returns (out, grown if need be; how many changes; how many
    of them, first, are entries by records): list_changes keeps and counts them."""
    listings, outside = v.listings, v.outside
    mask = listings.mask
    stay = v.stay
    band_lo, band_hi = stay[0, 0], stay[0, 1]
    all_listed = v.every_listed
    subjects = today.subjects
    n_out = 0
    visit = listed
    if v.enlisting and len(subjects):
        need = 8 * len(subjects)
        if need > len(out.subject):
            out = grow_scratch(out, 0, need)
        n_out = enlist_into(
            listings,
            v.list_bits,
            today.kinds,
            subjects,
            today.erroneous,
            v.duration,
            day,
            (out.subject, out.bit, out.wrongful),
        )
        out.entered[:n_out] = True
        out.reason[:n_out] = ENTRY
        new = np.unique(out.subject[:n_out]).astype(np.int64)
        visit = update_members(listed, new, np.ones(len(new), np.bool_))
    n_entries = n_out
    if not all_listed:
        mark_leaving(listed, score, mask, stay, outside)
        # a listing may turn wrongful or rightful as erroneous points drift
        error_ids = errors.ids
        for e in range(errors.n):
            i = error_ids[e]
            if mask[i]:
                outside[i >> 3] = True
    ids = _agents_to_visit(visit, outside, score, band_lo, band_hi, all_listed)
    start = 0
    points = Points(score, v.error_points)
    while True:
        rest = ChangeColumns(
            out.subject[n_out:],
            out.bit[n_out:],
            out.entered[n_out:],
            out.wrongful[n_out:],
            out.reason[n_out:],
        )
        got, start = _daily(listings, v.daily, points, day, ids, start, rest)
        n_out += got
        if start >= len(ids):
            break
        out = grow_scratch(out, n_out, 2 * len(out.subject))
    return out, n_out, n_entries


@nb.njit(cache=True)
def list_changes(
    day: int,
    v: ChangeView,
    listed: np.ndarray,
    changes: Changed,
    out: ChangeColumns,
    n_out: int,
    n_entries: int,
) -> tuple[np.ndarray, Changed, np.ndarray, np.ndarray, np.ndarray]:
    """The day's listing changes of one side (out[:n_out], from list_side; n_out > 0)
    counted into the day's row and kept in `changes`. Returns (listed, changes,
    touched: the subjects whose lists changed, increasing, was_black and is_black:
    whether each was and is on a blacklist)."""
    mask = v.mask
    n_changes = changes.n
    need = n_changes + n_out
    columns = changes.columns
    if need > len(columns[0]):  # (its columns grow together)
        columns = grow_changes(columns, n_changes, need)
    ch_day, ch_subject, ch_bit, ch_entered, ch_wrongful, ch_reason = columns
    count_changes(
        ChangeColumns(
            out.subject[:n_out],
            out.bit[:n_out],
            out.entered[:n_out],
            out.wrongful[:n_out],
            out.reason[:n_out],
        ),
        ByGroup(v.values[day], v.cell, v.groups_indptr, v.groups_of_cell),
        v.change_columns,
        v.ever,
        v.ever_counts,
    )
    for c in range(n_out):
        ch_day[n_changes + c] = day
        ch_subject[n_changes + c] = out.subject[c]
        ch_bit[n_changes + c] = out.bit[c]
        ch_entered[n_changes + c] = out.entered[c]
        ch_wrongful[n_changes + c] = out.wrongful[c]
        ch_reason[n_changes + c] = out.reason[c]
    # the update's changes come in increasing subject order, the entries by records
    # before them in the records' order
    touched = np.empty(n_out, np.int64)
    # (without entries by records `order` is not read: no array made for it)
    order = np.argsort(out.subject[:n_out], kind="mergesort") if n_entries else touched
    toggles = np.zeros(n_out, np.uint8)
    n_touched = 0
    for q in range(n_out):
        c = order[q] if n_entries else q
        i = out.subject[c]
        if n_touched == 0 or touched[n_touched - 1] != i:
            touched[n_touched] = i
            n_touched += 1
        toggles[n_touched - 1] ^= np.uint8(1 << out.bit[c])
    touched = touched[:n_touched]
    now_member = np.empty(n_touched, np.bool_)
    was_black = np.empty(n_touched, np.bool_)
    is_black = np.empty(n_touched, np.bool_)
    black_bits = v.black_bits
    for t in range(n_touched):
        now = mask[touched[t]]
        now_member[t] = now != 0
        is_black[t] = (now & black_bits) != 0
        was_black[t] = ((now ^ toggles[t]) & black_bits) != 0
    listed = update_members(listed, touched, now_member)
    return listed, Changed(columns, need), touched, was_black, is_black


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def tally_side(day: int, first_day: int, c: Collecting) -> None:
    """With tally_each_day, the day's score tally of one side (tally_days of its
    snapshot row of the day)."""
    row = (day - first_day) % len(c.snapshots)
    tally_days(day, c.snapshots[row : row + 1], c.tally)


@nb.njit(cache=True, inline="always")
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


@nb.njit(cache=True)
def entered_since(since: np.ndarray, changes: Columns6, start: int, stop: int, day: int) -> None:
    """since[bit, subject] = day for the listing changes start to stop - 1 of `changes`
    that entered a list (measures.mark_entered; nothing where since is empty)."""
    _, subject, bit, entered, _, _ = changes
    mark_entered(
        since, subject[start:stop], bit[start:stop], entered[start:stop], stop - start, day
    )
