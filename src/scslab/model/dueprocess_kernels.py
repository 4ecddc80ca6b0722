"""Due process's kernels: each new record's path, each appeal's outcome, and the release
of the listings that records ended by an appeal or by credit repair held.

The draws are counter-based hashes of (seed, subject, kind, effective day), on the
stream that DueProcessState keys (dueprocess.py): the notice, the appeal and its day, the
repair day (plan: draws 0 to 3 of a record; plan_learned draws 1 and 2 again for a subject
who learns of the record when blocked) and the review's verdict (decide: draw 4).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import Listings
from scslab.streams import hash_uniform


class Appeals(NamedTuple):
    """Who appeals a record, by record kind (DueProcessRules' arrays; index = kind id)."""

    kind_word: np.ndarray  # int64, a hash of the kind's name (keys the draws)
    window: np.ndarray  # int64, days from the notice (or first block) to the last appeal day
    base_probability: np.ndarray  # float64, probability of appealing before the multipliers
    education_multiplier: np.ndarray  # float64 [kinds, 3], by education level
    decile_multiplier: np.ndarray  # float64 [kinds, 10], by income decile, poorest first
    erroneous_multiplier: np.ndarray  # float64, on the probability when the record is wrong


class PathRules(NamedTuple):
    """The rest of a record's path, by record kind (DueProcessRules' arrays)."""

    adverse: np.ndarray  # bool: negative points or triggers a blacklist (others: no path)
    notice_share: np.ndarray  # float64, probability that the subject is told (0: never)
    notice_delay: np.ndarray  # int64, days from the effective day to the notice
    appeal_on: np.ndarray  # bool, a told subject may appeal
    repair_on: np.ndarray  # bool, the subject may end the record by credit repair
    repair_wait: np.ndarray  # int64, days from the effective day before repair is possible
    repair_daily: np.ndarray  # float64, repair hazard per day after the wait (inf: certain)
    repair_decile_multiplier: np.ndarray  # float64 [kinds, 10], on the hazard, by decile


class NewRecords(NamedTuple):
    """Records whose path is drawn, one entry each (from the record log, and for
    education and decile the subject's or its legal representative's)."""

    kind: np.ndarray  # int64, record kind id
    subject: np.ndarray  # int32, the subject's id (resident or enterprise)
    effective_day: np.ndarray  # int16, the day the record took effect (internal days)
    erroneous: np.ndarray  # bool, the record names the wrong subject
    education: np.ndarray  # int64, education level 0 to 2
    decile: np.ndarray  # int64, income decile, 0 = poorest


class PathDays(NamedTuple):
    """Where plan() writes each record's days (int64, internal days; -1 = never)."""

    notice: np.ndarray  # the notice reaches the subject
    appeal: np.ndarray  # the subject files an appeal
    repair: np.ndarray  # the subject ends the record by credit repair


class Ended(NamedTuple):
    """Subjects with a record that ended today by an appeal, a review or credit repair."""

    subjects: np.ndarray  # int64, sorted and unique
    bits: np.ndarray  # uint8, per subject: the lists those records fed
    repair_bits: np.ndarray  # uint8, those of them fed only by records ended by repair


class RecordColumns(NamedTuple):
    """The record log's columns that release() reads, by record id."""

    subject: np.ndarray  # int32
    kind: np.ndarray  # uint8 or wider, record kind id
    status: np.ndarray  # uint8, records.ACTIVE and the others
    effective_day: np.ndarray  # int16, internal days
    erroneous: np.ndarray  # bool


class Triggers(NamedTuple):
    """What puts subjects on the record-triggered lists (ListRules' arrays)."""

    kind_bits: np.ndarray  # uint8 per record kind: the lists that kind triggers
    duration: np.ndarray  # int64 per list, days a record keeps its subject on it


@kernel(inner=True)
def _key_a(subject: np.int64, kind_word: np.int64) -> np.int64:
    return (subject << 32) | kind_word


@kernel(inner=True)
def _appeal_day(
    key: np.uint64, a: np.int64, b0: np.int64, p: float, start: np.int64, window: np.int64
) -> np.int64:
    """Day of the appeal (-1: none) of a subject who appeals with probability `p` on a day
    drawn uniformly in [start, start + window] (draws 1 and 2 of the record)."""
    if hash_uniform(key, a, b0 + 1) < p:
        return start + np.int64(hash_uniform(key, a, b0 + 2) * (window + 1))
    return np.int64(-1)


@kernel(inner=True)
def plan(
    records: NewRecords, rules: PathRules, appeals: Appeals, key: np.uint64, out: PathDays
) -> None:
    """Draw each new record's notice day, appeal day and repair day (days; -1 = never)."""
    for r in range(len(records.kind)):
        k = records.kind[r]
        out.notice[r] = -1
        out.appeal[r] = -1
        out.repair[r] = -1
        if not rules.adverse[k]:
            continue
        a = _key_a(np.int64(records.subject[r]), appeals.kind_word[k])
        b0 = np.int64(records.effective_day[r]) * 8
        eff = np.int64(records.effective_day[r])
        if rules.notice_share[k] > 0.0 and hash_uniform(key, a, b0) < rules.notice_share[k]:
            nd = eff + rules.notice_delay[k]
            out.notice[r] = nd
            if rules.appeal_on[k]:
                p = (
                    appeals.base_probability[k]
                    * appeals.education_multiplier[k, records.education[r]]
                    * appeals.decile_multiplier[k, records.decile[r]]
                )
                if records.erroneous[r]:
                    p *= appeals.erroneous_multiplier[k]
                out.appeal[r] = _appeal_day(key, a, b0, p, nd, appeals.window[k])
        if rules.repair_on[k]:
            start = eff + rules.repair_wait[k]
            rate = rules.repair_daily[k]
            if np.isinf(rate):
                out.repair[r] = start
            elif rate > 0.0:
                rate *= rules.repair_decile_multiplier[k, records.decile[r]]
                u = hash_uniform(key, a, b0 + 3)
                wait = -np.log1p(-u) / rate
                if start + wait < 30000.0:
                    out.repair[r] = start + np.int64(wait)


@kernel(inner=True)
def plan_learned(
    records: NewRecords, day: int, appeals: Appeals, key: np.uint64, out_appeal: np.ndarray
) -> None:
    """Appeal day (-1: none) of records whose unnotified subject learned of them on `day`
    (blocked by a measure): drawn as plan() draws a notified subject's, the window counted
    from `day` (the same draws: who would appeal a notice appeals a block)."""
    for r in range(len(records.kind)):
        k = records.kind[r]
        a = _key_a(np.int64(records.subject[r]), appeals.kind_word[k])
        b0 = np.int64(records.effective_day[r]) * 8
        p = (
            appeals.base_probability[k]
            * appeals.education_multiplier[k, records.education[r]]
            * appeals.decile_multiplier[k, records.decile[r]]
        )
        if records.erroneous[r]:
            p *= appeals.erroneous_multiplier[k]
        out_appeal[r] = _appeal_day(key, a, b0, p, np.int64(day), appeals.window[k])


@kernel(inner=True)
def decide(
    kind: np.ndarray,
    subject: np.ndarray,
    effective_day: np.ndarray,
    erroneous: np.ndarray,
    kind_word: np.ndarray,
    find_error: np.ndarray,
    overturn_true: np.ndarray,
    key: np.uint64,
) -> np.ndarray:
    """Outcome of each appeal (True: the record is withdrawn)."""
    won = np.zeros(len(kind), np.bool_)
    for r in range(len(kind)):
        k = kind[r]
        a = _key_a(np.int64(subject[r]), kind_word[k])
        p = find_error[k] if erroneous[r] else overturn_true[k]
        won[r] = hash_uniform(key, a, np.int64(effective_day[r]) * 8 + 4) < p
    return won


@kernel
def release(
    ended: Ended,
    trig_ids: np.ndarray,
    records: RecordColumns,
    triggers: Triggers,
    listings: Listings,
    day: int,
) -> int:
    """Release subjects from record-triggered lists whose triggering record ended today.

    `ended.subjects`: sorted unique subjects with an ended record; `ended.bits`: per
    subject, the lists those records fed; `ended.repair_bits`: those of them fed only by
    records ended by credit repair (the others by an appeal or review). `trig_ids`: the
    ids of the records of list-triggering kinds. A subject stays on list b while
    another ACTIVE record of a kind triggering b would still hold them (effective day +
    duration > today); otherwise the listing is set to end today (and not to be
    extended), marked in `repaired` or `released` (the listings' masks: the exit's
    reason), so that the lists' daily update takes them off. Returns how many listings
    were ended.

    `listings.true_until` ([lists, n], days; shape [1, 0] when there are none): the day
    the cover of true records ends; for listings that stay, it becomes the end of the
    remaining true records' cover (today when none is left).
    """
    m = len(ended.subjects)
    keep = np.full((8, m), -1, np.int64)
    keep_true = np.full((8, m), -1, np.int64)
    rightful = np.zeros((8, m), np.bool_)
    has_true_until = listings.true_until.shape[1] == len(listings.mask)
    for t in trig_ids:
        if records.status[t] != 1:  # ACTIVE
            continue
        s = records.subject[t]
        p = np.searchsorted(ended.subjects, s)
        if p >= m or ended.subjects[p] != s:
            continue
        kb = triggers.kind_bits[records.kind[t]] & ended.bits[p]
        for b in range(8):
            if (kb >> b) & 1:
                end = np.int64(records.effective_day[t]) + triggers.duration[b]
                if end > day:
                    keep[b, p] = max(keep[b, p], end)
                    if not records.erroneous[t]:
                        rightful[b, p] = True
                        keep_true[b, p] = max(keep_true[b, p], end)
    n_ended = 0
    for p in range(m):
        i = ended.subjects[p]
        for b in range(8):
            flag = np.uint8(1 << b)
            if not (ended.bits[p] & flag) or not (listings.mask[i] & flag):
                continue
            if keep[b, p] < 0:
                listings.until[b, i] = day
                listings.extended[i] |= flag
                if ended.repair_bits[p] & flag:
                    listings.repaired[i] |= flag
                else:
                    listings.released[i] |= flag
                n_ended += 1
            else:
                if not (listings.extended[i] & flag):
                    listings.until[b, i] = min(np.int64(listings.until[b, i]), keep[b, p])
                if rightful[b, p]:
                    listings.wrongful[i] &= ~flag
                else:
                    listings.wrongful[i] |= flag
                if has_true_until:
                    listings.true_until[b, i] = max(keep_true[b, p], np.int64(day))
    return n_ended


@kernel(inner=True)
def count_unaware_days(
    words: np.ndarray, mask: np.ndarray, aware_from: np.ndarray, days_unaware: np.ndarray, day: int
) -> None:
    """A day more listed without knowing for each resident on a list (`mask` != 0) whose
    aware_from is after `day` (DueProcessState.count_unaware). `words`: the first
    len(mask) // 8 * 8 list bits as uint64, eight residents each, so that a stretch of
    residents on no list (most of them) is passed over eight at a time."""
    for w in range(len(words)):
        if words[w] != 0:
            for i in range(8 * w, 8 * w + 8):
                if mask[i] != 0 and aware_from[i] > day:
                    days_unaware[i] += 1
    for i in range(8 * len(words), len(mask)):
        if mask[i] != 0 and aware_from[i] > day:
            days_unaware[i] += 1


@kernel(inner=True)
def forget_unlisted(
    ids: np.ndarray, mask: np.ndarray, aware_from: np.ndarray, never: int
) -> np.ndarray:
    """aware_from back to `never` for each of `ids` (the residents whose aware_from is
    set) on no list (a later listing is news again); returns the ids still set."""
    kept = np.empty(len(ids), np.int64)
    k = 0
    for i in ids:
        if mask[i] == 0:
            aware_from[i] = never
        else:
            kept[k] = i
            k += 1
    return kept[:k]


@kernel
def grown_to(a: np.ndarray, used: int, need: int, fill: int) -> np.ndarray:
    """a, or a copy twice as large (or more) when `need` entries do not fit, the new
    entries `fill`."""
    if need <= len(a):
        return a
    out = np.full(max(2 * len(a), need), fill, a.dtype)
    for i in range(used):  # (a loop: a slice copy compiles numba's shape-error message)
        out[i] = a[i]
    return out


@kernel
def among(subjects: np.ndarray, of: np.ndarray, n: int) -> np.ndarray:
    """The places p < n (increasing) where of[p] is one of `subjects` (sorted, unique):
    of[:n] read in order, each looked up in a table of 2^16 bits hashed from the
    subjects (a few kilobytes, in cache), and only those it may hold searched for."""
    table = np.zeros(1024, np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    for i in subjects:
        h = (np.uint64(i) * mult) >> np.uint64(48)
        table[h >> np.uint64(6)] |= np.uint64(1) << (h & np.uint64(63))
    out = np.empty(64, np.int64)
    m = 0
    for p in range(n):
        h = (np.uint64(of[p]) * mult) >> np.uint64(48)
        if (table[h >> np.uint64(6)] >> (h & np.uint64(63))) & np.uint64(1) == 0:
            continue
        q = np.searchsorted(subjects, of[p])
        if q < len(subjects) and subjects[q] == of[p]:
            out = grown_to(out, m, m + 1, 0)
            out[m] = p
            m += 1
    return out[:m]
