"""The lists' phase of compiled days (engine/compiled.py), once per kind of subject (see
engine/compiled_sides.py):

    list_side      entries by records, score rules and exits, into a scratch of changes;
    list_changes   the changes kept and counted, the listed subjects brought up to date;
    entered_since  the day of listing, for responses that learn"""

from __future__ import annotations

import numpy as np

from scslab.engine.containers import ChangeView, Columns6, DayRecords, Ids, ListView
from scslab.engine.growth import grow_scratch
from scslab.engine.listcounts import count_changes
from scslab.kernelcache import kernel
from scslab.model.containers import ByGroup, ChangeColumns, Points
from scslab.model.lists import ENTRY, _daily, enlist_into
from scslab.model.listvisits import agents_to_visit_into, mark_leaving
from scslab.model.measures import mark_entered
from scslab.model.members import update_members


@kernel(inner=True)
def list_side(
    day: int,
    v: ListView,
    score: np.ndarray,
    errors: Ids,
    listed: np.ndarray,
    out: ChangeColumns,
    today: DayRecords,
    m: int,
) -> tuple[ChangeColumns, int, int]:
    """The lists of one side (v: its ListView; `score`, the day's scores; `listed`, the
    subjects on some list, increasing) on `day`: entries by the day's m records
    (`today`), then score rules and exits of the subjects that may change (see
    run_days), written into the scratch `out`. Returns (out, grown if need be; how many
    changes; how many of them, first, are entries by records): list_changes keeps and
    counts them."""
    listings, outside = v.listings, v.outside
    mask = listings.mask
    stay = v.stay
    band_lo, band_hi = stay[0, 0], stay[0, 1]
    all_listed = v.every_listed
    n_out = 0
    visit = listed
    if v.enlisting and m:
        need = 8 * m
        if need > len(out.subject):
            out = grow_scratch(out, int(np.int64(0)), need)  # (not a literal: as `start`)
        n_out = enlist_into(
            listings,
            v.list_bits,
            today.kind[:m],
            today.subject[:m],
            today.erroneous[:m],
            v.duration,
            day,
            (out.subject, out.bit, out.wrongful),
        )
        out.entered[:n_out] = True
        out.reason[:n_out] = ENTRY
        if n_out:
            visit = _with_entered(listed, out.subject[:n_out])
    n_entries = n_out
    if not all_listed:
        mark_leaving(listed, score, mask, stay, outside)
        # a listing may turn wrongful or rightful as erroneous points drift
        error_ids = errors.ids
        for e in range(errors.n):
            i = error_ids[e]
            if mask[i]:
                outside[i >> 3] = True
    to_visit, n_ids = agents_to_visit_into(
        visit, outside, score, band_lo, band_hi, all_listed, v.visit
    )
    ids = to_visit[:n_ids]
    # (an int64 0, not a literal 0, which would compile _daily and grow_scratch once
    # more than the general loop's calls do)
    start = int(np.int64(0))
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


@kernel(inner=True)
def _with_entered(listed: np.ndarray, entered: np.ndarray) -> np.ndarray:
    """The set `listed` (increasing) with the subjects `entered` added (in any order,
    with repeats)."""
    new = entered.astype(np.int64)
    new.sort()
    k = 0
    for c in range(len(new)):
        if k == 0 or new[k - 1] != new[c]:
            new[k] = new[c]
            k += 1
    return update_members(listed, new[:k], np.ones(k, np.bool_))


@kernel(inner=True)
def list_changes(
    day: int,
    v: ChangeView,
    listed: np.ndarray,
    changes: Columns6,
    n_changes: int,
    out: ChangeColumns,
    n_out: int,
    n_entries: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The day's listing changes of one side (out[:n_out], from list_side; n_out > 0)
    counted into the day's row and kept in `changes` from n_changes on (room for them).
    Returns (listed, touched: the subjects whose lists changed, increasing, was_black and
    is_black: whether each was and is on a blacklist; the last three in v's scratch
    where they fit)."""
    mask = v.mask
    ch_day, ch_subject, ch_bit, ch_entered, ch_wrongful, ch_reason = changes
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
    subject, bit = out.subject, out.bit
    for c in range(n_out):
        ch_day[n_changes + c] = day
        ch_subject[n_changes + c] = subject[c]
        ch_bit[n_changes + c] = bit[c]
        ch_entered[n_changes + c] = out.entered[c]
        ch_wrongful[n_changes + c] = out.wrongful[c]
        ch_reason[n_changes + c] = out.reason[c]
    touched, toggles, now_member = v.touched, v.toggles, v.now_member
    was_black, is_black = v.was_black, v.is_black
    if n_out > len(touched):  # (a day with more changes than the scratch has room for)
        touched, toggles = np.empty(n_out, np.int64), np.empty(n_out, np.uint8)
        now_member, was_black, is_black = (
            np.empty(n_out, np.bool_),
            np.empty(n_out, np.bool_),
            np.empty(n_out, np.bool_),
        )
    # the subjects touched, each with the lists it entered or left (in any order): the
    # entries by records (in the records' order, sorted as subject * 8 + list) merged
    # with the update's changes, which come in increasing subject order
    keys = touched[:0]
    if n_entries:
        keys = np.empty(n_entries, np.int64)
        for c in range(n_entries):
            keys[c] = np.int64(subject[c]) * 8 + bit[c]
        keys.sort()
    n_touched = 0
    e, c = 0, n_entries
    while e < n_entries or c < n_out:
        if c == n_out or (e < n_entries and keys[e] >> 3 <= subject[c]):
            i, b = keys[e] >> 3, keys[e] & 7
            e += 1
        else:
            i, b = np.int64(subject[c]), np.int64(bit[c])
            c += 1
        if n_touched == 0 or touched[n_touched - 1] != i:
            touched[n_touched] = i
            toggles[n_touched] = 0
            n_touched += 1
        toggles[n_touched - 1] ^= np.uint8(1 << b)
    black_bits = v.black_bits
    for t in range(n_touched):
        now = mask[touched[t]]
        now_member[t] = now != 0
        is_black[t] = (now & black_bits) != 0
        was_black[t] = ((now ^ toggles[t]) & black_bits) != 0
    listed = update_members(listed, touched[:n_touched], now_member[:n_touched])
    return listed, touched[:n_touched], was_black[:n_touched], is_black[:n_touched]


@kernel(inner=True)
def entered_since(since: np.ndarray, changes: Columns6, start: int, stop: int, day: int) -> None:
    """since[bit, subject] = day for the listing changes start to stop - 1 of `changes`
    that entered a list (measures.mark_entered; nothing where since is empty)."""
    _, subject, bit, entered, _, _ = changes
    mark_entered(
        since, subject[start:stop], bit[start:stop], entered[start:stop], stop - start, day
    )
