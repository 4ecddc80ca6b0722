"""Due process's kernels: each new record's path, each appeal's outcome, and the release
of the listings that records ended by an appeal or by credit repair held.

The draws are counter-based hashes of (seed, subject, kind, effective day), on the
stream that DueProcessState keys (dueprocess.py): the notice, the appeal and its day, the
repair day (plan: draws 0 to 3 of a record; plan_learned draws 1 and 2 again for a subject
who learns of the record when blocked) and the review's verdict (decide: draw 4).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.streams import hash_uniform


@nb.njit(cache=True)
def _key_a(subject: np.int64, kind_word: np.int64) -> np.int64:
    return (subject << 32) | kind_word


@nb.njit(cache=True)
def _appeal_day(
    key: np.uint64, a: np.int64, b0: np.int64, p: float, start: np.int64, window: np.int64
) -> np.int64:
    """Day of the appeal (-1: none) of a subject who appeals with probability `p` on a day
    drawn uniformly in [start, start + window] (draws 1 and 2 of the record)."""
    if hash_uniform(key, a, b0 + 1) < p:
        return start + np.int64(hash_uniform(key, a, b0 + 2) * (window + 1))
    return np.int64(-1)


@nb.njit(cache=True)
def plan(
    kind: np.ndarray,
    subject: np.ndarray,
    effective_day: np.ndarray,
    erroneous: np.ndarray,
    education: np.ndarray,
    decile: np.ndarray,
    kind_word: np.ndarray,
    adverse: np.ndarray,
    notice_share: np.ndarray,
    notice_delay: np.ndarray,
    appeal_on: np.ndarray,
    window: np.ndarray,
    base_probability: np.ndarray,
    education_multiplier: np.ndarray,
    decile_multiplier: np.ndarray,
    erroneous_multiplier: np.ndarray,
    repair_on: np.ndarray,
    repair_wait: np.ndarray,
    repair_daily: np.ndarray,
    repair_decile_multiplier: np.ndarray,
    key: np.uint64,
    out_notice: np.ndarray,
    out_appeal: np.ndarray,
    out_repair: np.ndarray,
) -> None:
    """Draw each new record's notice day, appeal day and repair day (days; -1 = never).

    `education` and `decile` are those of the subject (of an enterprise's legal
    representative), one per record.
    """
    for r in range(len(kind)):
        k = kind[r]
        out_notice[r] = -1
        out_appeal[r] = -1
        out_repair[r] = -1
        if not adverse[k]:
            continue
        a = _key_a(np.int64(subject[r]), kind_word[k])
        b0 = np.int64(effective_day[r]) * 8
        eff = np.int64(effective_day[r])
        if notice_share[k] > 0.0 and hash_uniform(key, a, b0) < notice_share[k]:
            nd = eff + notice_delay[k]
            out_notice[r] = nd
            if appeal_on[k]:
                p = (
                    base_probability[k]
                    * education_multiplier[k, education[r]]
                    * decile_multiplier[k, decile[r]]
                )
                if erroneous[r]:
                    p *= erroneous_multiplier[k]
                out_appeal[r] = _appeal_day(key, a, b0, p, nd, window[k])
        if repair_on[k]:
            start = eff + repair_wait[k]
            rate = repair_daily[k]
            if np.isinf(rate):
                out_repair[r] = start
            elif rate > 0.0:
                rate *= repair_decile_multiplier[k, decile[r]]
                u = hash_uniform(key, a, b0 + 3)
                wait = -np.log1p(-u) / rate
                if start + wait < 30000.0:
                    out_repair[r] = start + np.int64(wait)


@nb.njit(cache=True)
def plan_learned(
    kind: np.ndarray,
    subject: np.ndarray,
    effective_day: np.ndarray,
    erroneous: np.ndarray,
    education: np.ndarray,
    decile: np.ndarray,
    day: int,
    kind_word: np.ndarray,
    window: np.ndarray,
    base_probability: np.ndarray,
    education_multiplier: np.ndarray,
    decile_multiplier: np.ndarray,
    erroneous_multiplier: np.ndarray,
    key: np.uint64,
    out_appeal: np.ndarray,
) -> None:
    """Appeal day (-1: none) of records whose unnotified subject learned of them on `day`
    (blocked by a measure): drawn as plan() draws a notified subject's, the window counted
    from `day` (the same draws: who would appeal a notice appeals a block)."""
    for r in range(len(kind)):
        k = kind[r]
        a = _key_a(np.int64(subject[r]), kind_word[k])
        b0 = np.int64(effective_day[r]) * 8
        p = (
            base_probability[k]
            * education_multiplier[k, education[r]]
            * decile_multiplier[k, decile[r]]
        )
        if erroneous[r]:
            p *= erroneous_multiplier[k]
        out_appeal[r] = _appeal_day(key, a, b0, p, np.int64(day), window[k])


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def release(
    subjects: np.ndarray,
    ended_bits: np.ndarray,
    repair_bits: np.ndarray,
    trig_ids: np.ndarray,
    rec_subject: np.ndarray,
    rec_kind: np.ndarray,
    rec_status: np.ndarray,
    rec_effective: np.ndarray,
    rec_erroneous: np.ndarray,
    kind_bits: np.ndarray,
    duration: np.ndarray,
    mask: np.ndarray,
    wrongful: np.ndarray,
    extended: np.ndarray,
    released: np.ndarray,
    repaired: np.ndarray,
    until: np.ndarray,
    true_until: np.ndarray,
    day: int,
) -> int:
    """Release subjects from record-triggered lists whose triggering record ended today.

    `subjects`: sorted unique subjects with an ended record; `ended_bits`: per subject, the
    lists those records fed; `repair_bits`: those of them fed only by records ended by
    credit repair (the others by an appeal or review). A subject stays on list b while
    another ACTIVE record of a kind triggering b would still hold them (effective day +
    duration > today); otherwise the listing is set to end today (and not to be
    extended), marked in `repaired` or `released` (ListState's masks: the exit's reason),
    so that the lists' daily update takes them off. Returns how many listings were ended.

    `true_until` ([lists, n], days; shape [1, 0] when the list state has none): the day
    the cover of true records ends; for listings that stay, it becomes the end of the
    remaining true records' cover (today when none is left).
    """
    m = len(subjects)
    keep = np.full((8, m), -1, np.int64)
    keep_true = np.full((8, m), -1, np.int64)
    rightful = np.zeros((8, m), np.bool_)
    has_true_until = true_until.shape[1] == len(mask)
    for t in trig_ids:
        if rec_status[t] != 1:  # ACTIVE
            continue
        s = rec_subject[t]
        p = np.searchsorted(subjects, s)
        if p >= m or subjects[p] != s:
            continue
        kb = kind_bits[rec_kind[t]] & ended_bits[p]
        for b in range(8):
            if (kb >> b) & 1:
                end = np.int64(rec_effective[t]) + duration[b]
                if end > day:
                    keep[b, p] = max(keep[b, p], end)
                    if not rec_erroneous[t]:
                        rightful[b, p] = True
                        keep_true[b, p] = max(keep_true[b, p], end)
    n_ended = 0
    for p in range(m):
        i = subjects[p]
        for b in range(8):
            flag = np.uint8(1 << b)
            if not (ended_bits[p] & flag) or not (mask[i] & flag):
                continue
            if keep[b, p] < 0:
                until[b, i] = day
                extended[i] |= flag
                if repair_bits[p] & flag:
                    repaired[i] |= flag
                else:
                    released[i] |= flag
                n_ended += 1
            else:
                if not (extended[i] & flag):
                    until[b, i] = min(np.int64(until[b, i]), keep[b, p])
                if rightful[b, p]:
                    wrongful[i] &= ~flag
                else:
                    wrongful[i] |= flag
                if has_true_until:
                    true_until[b, i] = max(keep_true[b, p], np.int64(day))
    return n_ended
