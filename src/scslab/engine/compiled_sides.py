"""The phases of compiled days (engine/compiled.py) that run once per kind of subject:
the residents' side and the enterprises' (containers.SideDays) go through the same
functions, as the general loop's steps (engine/steps.py) take st.res and st.ent through
the same code:

    scoring       score_side: drift, the day's effective records of the side, expiry
    lists         list_side: entries by records, score rules and exits, the changes;
                  entered_since: the day of listing, for responses that learn
    collectors    collect_side: the list columns, the score tally of the day

Each takes the parts of the side's containers.SideDays that it reads (the residents'
are run_days' own parameters, the enterprises' Firms.side: the same containers) and
the side's Grown, which it returns with what it grew or swapped. The parts, not the
whole SideDays, and inlined: a tuple of arrays passed whole costs a reference count per
array and call, which for a small city is most of a day."""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.engine.collectors import _collect_lists, recount_lists
from scslab.engine.containers import (
    Collecting,
    Columns6,
    Grown,
    KindTable,
    ListArrays,
    ListTable,
    ScoreArrays,
    ScoreTable,
)
from scslab.engine.growth import grow as _grow
from scslab.engine.growth import grow_changes, grow_queue
from scslab.engine.listcounts import count_changes
from scslab.engine.tally import tally_days
from scslab.model.containers import ChangeColumns, DailyRules, Listings, Points
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
    ExpiryQueue,
    add_points,
    expire_due,
    risen_by_expiry,
    schedule_expiry,
)
from scslab.model.records import ACTIVE, LogColumns
from scslab.model.scoring import decay_error_points, drift, hold_at_base


@nb.njit(cache=True, inline="always")
def _count_in_groups(
    row: np.ndarray, groups_indptr: np.ndarray, groups_of_cell: np.ndarray, c: int, col: int
) -> None:
    """Add 1 to row[group, col] for each group of cell c."""
    for q in range(groups_indptr[c], groups_indptr[c + 1]):
        row[groups_of_cell[q], col] += 1.0


@nb.njit(cache=True, inline="always")
def regrown(
    g: Grown,
    score: np.ndarray,
    listed: np.ndarray,
    error_ids: np.ndarray,
    n_error_ids: int,
    changes: tuple,
    n_changes: int,
    queue: ExpiryQueue,
    queued: int,
    queue_head: int,
    queue_in_order: bool,
) -> Grown:
    """g with the side's own parts replaced (the run's parts as they were)."""
    return Grown(
        score,
        g.spare,
        listed,
        error_ids,
        n_error_ids,
        g.records,
        g.n_records,
        g.first_pending,
        changes,
        n_changes,
        queue,
        queued,
        queue_head,
        queue_in_order,
        g.high,
        g.rep_ids,
    )


@nb.njit(cache=True, inline="always")
def score_side(
    day: int,
    first_day: int,
    scored: bool,
    cell: np.ndarray,
    score_rules: ScoreTable,
    scoring: ScoreArrays,
    lists: ListArrays,
    stay: np.ndarray,
    c: Collecting,
    g: Grown,
    records: LogColumns,
    ids: np.ndarray,
    kinds: KindTable,
    expiring: bool,
    keep_high: bool,
    risen: np.ndarray,
    n_risen: int,
    expired: np.ndarray,
) -> tuple:
    """The scoring phase of one side (SideDays' scored, cell, score_rules, scoring,
    lists, list_rules.stay and collecting) on `day`: drift and association
    penalties (into the side's snapshot row of the day), then the points of its records
    effective today (`ids`, increasing: ids into `records`, made ACTIVE) in order,
    counted into the day's row, then the day's expiries, and the unenrolled held at
    the base. Returns (g, subjects, kinds, erroneous of the records, risen, n_risen, expired): with
    keep_high, risen[:n_risen] gains the subjects whose score went up; expired:
    scratch."""
    base, decay, association, lo, hi, min_score, max_score, left = score_rules
    error_points, with_errors, outside, unenrolled = scoring
    mask = lists.mask
    groups_indptr, groups_of_cell = c.groups_indptr, c.groups_of_cell
    score, error_ids, n_error_ids = g.score, g.error_ids, g.n_error_ids
    queue, queued, queue_head, queue_in_order = g.queue, g.queued, g.queue_head, g.queue_in_order
    if scored:
        snapshots = c.snapshots
        today = snapshots[(day - first_day) % len(snapshots)]
        drift(
            score,
            today,
            base,
            decay,
            association,
            lists.listed_contacts,
            lo,
            hi,
            stay[0, 0],
            stay[0, 1],
            outside,
            mask,
        )
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
    day_points = kinds.points[day_kinds.astype(np.int64)]
    row = c.values[day]
    if scored:
        add_points(score, error_points, subjects, day_points, errs, min_score, max_score)
        if keep_high:
            risen = _grow(risen, n_risen, n_risen + len(subjects))
            for r in range(len(subjects)):
                if day_points[r] > 0:
                    risen[n_risen] = subjects[r]
                    n_risen += 1
    for r in range(len(subjects)):
        i = subjects[r]
        k = day_kinds[r]
        col = kinds.col_erroneous[k] if errs[r] else kinds.col_true[k]
        _count_in_groups(row, groups_indptr, groups_of_cell, cell[i], col)
        if not scored:
            continue
        outside[i >> 3] = True
        if errs[r] and not with_errors[i]:
            with_errors[i] = True
            error_ids = _grow(error_ids, n_error_ids, n_error_ids + 1)
            error_ids[n_error_ids] = i
            n_error_ids += 1
    if expiring and scored:
        queue = grow_queue(queue, queued, queued + m)
        queued, queue_in_order = schedule_expiry(
            queue,
            queued,
            day,
            ids,
            subjects,
            day_points,
            errs,
            kinds.expiry[day_kinds.astype(np.int64)],
            queue_in_order,
        )
        expired = _grow(expired, 0, queued - queue_head)
        n_expired, queue_head = expire_due(
            queue,
            queue_head,
            queued,
            day,
            left,
            records.status,
            records.end_day,
            score,
            error_points,
            outside,
            min_score,
            max_score,
            expired,
            queue_in_order,
        )
        if keep_high and n_expired:
            given = risen_by_expiry(queue, expired[:n_expired], left)
            risen = _grow(risen, n_risen, n_risen + len(given))
            risen[n_risen : n_risen + len(given)] = given
            n_risen += len(given)
    if scored:
        hold_at_base(score, error_points, unenrolled, base)
    g = regrown(
        g,
        score,
        g.listed,
        error_ids,
        n_error_ids,
        g.changes,
        g.n_changes,
        queue,
        queued,
        queue_head,
        queue_in_order,
    )
    return g, subjects, day_kinds, errs, risen, n_risen, expired


@nb.njit(cache=True)
def _grow_out(out: ChangeColumns, used: int, need: int) -> ChangeColumns:
    """grow() for each column of the lists' scratch."""
    return ChangeColumns(
        _grow(out.subject, used, need),
        _grow(out.bit, used, need),
        _grow(out.entered, used, need),
        _grow(out.wrongful, used, need),
        _grow(out.reason, used, need),
    )


@nb.njit(cache=True, inline="always")
def list_side(
    day: int,
    every_listed: bool,
    cell: np.ndarray,
    lists: ListArrays,
    rules: ListTable,
    scoring: ScoreArrays,
    collecting: Collecting,
    g: Grown,
    out: ChangeColumns,
    subjects: np.ndarray,
    day_kinds: np.ndarray,
    errs: np.ndarray,
    list_bits: np.ndarray,
    enlisting: bool,
) -> tuple:
    """The lists of one side (SideDays' every_listed, cell, lists, list_rules, scoring
    and collecting) on `day`: entries by the day's records (subjects, kinds,
    erroneous, in order; list_bits: the lists each kind triggers), then score rules and
    exits of the subjects that may change (see run_days), the changes counted into the
    day's row and kept in g.changes. Returns (g, out: the scratch, touched: the subjects
    whose lists changed, increasing, was_black and is_black: whether each was and is on
    a blacklist)."""
    mask, wrongful, extended, released, repaired, ever, until, true_until, _ = lists
    score, error_points, outside = g.score, scoring.error_points, scoring.outside
    listings = Listings(mask, wrongful, extended, released, repaired, until, true_until)
    daily_rules = DailyRules(
        rules.rule,
        rules.threshold,
        rules.extension,
        rules.extension_probability,
        rules.daily_compliance,
        rules.key,
    )
    stay = rules.stay
    band_lo, band_hi = stay[0, 0], stay[0, 1]
    all_listed = every_listed
    listed = g.listed
    n_out = 0
    visit = listed
    if enlisting and len(subjects):
        need = 8 * len(subjects)
        if need > len(out.subject):
            out = _grow_out(out, 0, need)
        n_out = enlist_into(
            listings,
            list_bits,
            day_kinds,
            subjects,
            errs,
            rules.duration,
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
        for e in range(g.n_error_ids):
            i = g.error_ids[e]
            if mask[i]:
                outside[i >> 3] = True
    ids = _agents_to_visit(visit, outside, score, band_lo, band_hi, all_listed)
    start = 0
    while True:
        rest = ChangeColumns(
            out.subject[n_out:],
            out.bit[n_out:],
            out.entered[n_out:],
            out.wrongful[n_out:],
            out.reason[n_out:],
        )
        got, start = _daily(
            listings, daily_rules, Points(score, error_points), day, ids, start, rest
        )
        n_out += got
        if start >= len(ids):
            break
        out = _grow_out(out, n_out, 2 * len(out.subject))
    if n_out == 0:  # (views: nothing allocated)
        return g, out, g.error_ids[:0], out.entered[:0], out.wrongful[:0]
    n_changes = g.n_changes
    need = n_changes + n_out
    changes = grow_changes(g.changes, n_changes, need)
    ch_day, ch_subject, ch_bit, ch_entered, ch_wrongful, ch_reason = changes
    count_changes(
        out.subject[:n_out],
        out.bit[:n_out],
        out.entered[:n_out],
        out.wrongful[:n_out],
        out.reason[:n_out],
        cell,
        collecting.groups_indptr,
        collecting.groups_of_cell,
        rules.change_columns,
        ever,
        collecting.values[day],
        collecting.ever_counts,
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
    order = np.argsort(out.subject[:n_out], kind="mergesort") if n_entries else g.error_ids[:0]
    touched = np.empty(n_out, np.int64)
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
    black_bits = rules.black_bits
    for t in range(n_touched):
        now = mask[touched[t]]
        now_member[t] = now != 0
        is_black[t] = (now & black_bits) != 0
        was_black[t] = ((now ^ toggles[t]) & black_bits) != 0
    listed = update_members(listed, touched, now_member)
    g = regrown(
        g,
        score,
        listed,
        g.error_ids,
        g.n_error_ids,
        changes,
        need,
        g.queue,
        g.queued,
        g.queue_head,
        g.queue_in_order,
    )
    return g, out, touched, was_black, is_black


@nb.njit(cache=True, inline="always")
def collect_side(
    day: int,
    first_day: int,
    c: Collecting,
    lists: ListArrays,
    list_rules: ListTable,
    cell: np.ndarray,
    every_listed: bool,
    scored: bool,
    listed: np.ndarray,
    error_ids: np.ndarray,
    touched: np.ndarray,
) -> None:
    """The collectors of one side on `day`: the list columns into the day's row (kept
    up to date from the subjects that may have changed, `touched` and those with
    erroneous points, or counted over every listed subject: see run_days), the count
    of subjects, those ever on each list, the enrolled, and with tally_each_day the
    day's score tally."""
    mask, wrongful = lists.mask, lists.wrongful
    black_bits = list_rules.black_bits
    n_lists = len(list_rules.rule)
    counted_mask, counted_wrongful = c.counted
    n = len(mask)
    row_today = c.values[day]
    incremental = len(counted_mask) == n and len(c.days_blacklisted) != n and not every_listed
    if incremental:
        for ids in (touched, error_ids):
            recount_lists(
                ids,
                mask,
                wrongful,
                counted_mask,
                counted_wrongful,
                cell,
                c.groups_indptr,
                c.groups_of_cell,
                black_bits,
                n_lists,
                c.list_counts,
            )
        # (a loop: `values[day] += list_counts` would allocate a temporary each day)
        for gr in range(c.list_counts.shape[0]):
            for col in range(c.list_counts.shape[1]):
                row_today[gr, col] += c.list_counts[gr, col]
    else:
        _collect_lists(
            cell,
            c.groups_indptr,
            c.groups_of_cell,
            mask,
            wrongful,
            listed,
            black_bits,
            n_lists,
            c.days_blacklisted,
            row_today,
        )
    row_today[:, 0] = c.group_count
    col_ever = list_rules.col_ever
    for gr in range(c.ever_counts.shape[0]):
        for b in range(n_lists):
            row_today[gr, col_ever[b]] += c.ever_counts[gr, b]
    if c.enrolled_col >= 0:
        row_today[:, c.enrolled_col] = c.enrolled
    if c.tally_each_day and scored:
        row = (day - first_day) % len(c.snapshots)
        tally_days(day, c.snapshots[row : row + 1], c.tally)


@nb.njit(cache=True, inline="always")
def keep_side(g: Grown, given_score: np.ndarray, given_spare: np.ndarray, keep: bool) -> Grown:
    """After the last day: with `keep`, the last day's scores copied to the spare
    array given, and the two swapped (g's score the spare given, its spare the score
    given); without, g as it is (its score the last day's snapshot row)."""
    if not keep:
        return g
    given_spare[:] = g.score
    return Grown(
        given_spare,
        given_score,
        g.listed,
        g.error_ids,
        g.n_error_ids,
        g.records,
        g.n_records,
        g.first_pending,
        g.changes,
        g.n_changes,
        g.queue,
        g.queued,
        g.queue_head,
        g.queue_in_order,
        g.high,
        g.rep_ids,
    )


# The enterprises' phases, as calls: run_days inlines only the residents' (a second
# inlined copy of each would add some 40 s to its first compilation)
score_firms = nb.njit(cache=True)(score_side.py_func)


@nb.njit(cache=True)
def entered_since(since: np.ndarray, changes: Columns6, start: int, stop: int, day: int) -> None:
    """since[bit, subject] = day for the listing changes start to stop - 1 of `changes`
    that entered a list (measures.mark_entered; nothing where since is empty)."""
    _, subject, bit, entered, _, _ = changes
    mark_entered(
        since, subject[start:stop], bit[start:stop], entered[start:stop], stop - start, day
    )


list_firms = nb.njit(cache=True)(list_side.py_func)
collect_firms = nb.njit(cache=True)(collect_side.py_func)
