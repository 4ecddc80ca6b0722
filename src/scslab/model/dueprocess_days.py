"""Due process's day as kernels, called by the general loop's due-process step (through
DueProcessState, dueprocess.py) and by compiled days (engine/compiled.py) alike:

    count_unaware   a day listed unaware for each listed resident who has no notice or
                    block since, and what those no longer listed knew forgotten
    plan_day        the path of the records taking effect today (notices, appeal and
                    repair days, plan() in dueprocess_kernels.py), and the records of
                    list-triggering kinds kept (keep_triggers)
    step_day        today's appeals filed, decided (decide()) and repairs completed
    end_side        records ended today: their end day, what is left of their points
                    (for the score to give back) and their listings released (release())
    blocked_day     residents blocked by a measure today learn of their listing; the
                    records of `from_first_block` kinds that hold them may be appealed

The state (DueState) is arrays with their used lengths, returned anew by a kernel that
grows one; the events wait in a queue with one chain of entries per day, in the order
they were scheduled (so that a day's appeals are handled in the same order however the
days are run). Counts go to a row [rows, metrics] through each subject's cell (cell c
counts into rows groups_of_cell[indptr[c]:indptr[c + 1]]: the cell itself for the
general loop's accumulator, the cell's groups for compiled days' daily row); they are
whole numbers, exact in any order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import Listings
from scslab.model.dueprocess_kernels import (
    Appeals,
    Ended,
    NewRecords,
    PathDays,
    PathRules,
    RecordColumns,
    Triggers,
    among,
    count_unaware_days,
    decide,
    forget_unlisted,
    grown_to,
    plan,
    plan_learned,
    release,
)
from scslab.model.records import ACTIVE, CORRECTED, REPAIRED, LogColumns

NEVER = np.iinfo(np.int64).max
"""A day that never comes (a resident who does not know of their listing)."""

FILE, DECIDE, REPAIR = (np.int64(e) for e in range(3))
"""Due-process events: an appeal is filed, an appeal is decided, a repair completes.
(numpy integers, as are the metrics below: a kernel passed a Python int constant is
compiled anew for each value, as a literal; passed these, once, for int64.)"""

NOTICES, FILED, WON, CORRECTED_COL, OVERTURNED, REPAIRED_COL = (np.int64(m) for m in range(6))
"""Places in DueSide.cols of the metrics (dueprocess.DUE_PROCESS_METRICS, in order)."""

N_AWARE_NEW, N_TRIGGERS, N_ENT_TRIGGERS, N_ENTRIES = range(4)
"""Places in DueState.used."""


class DueQueue(NamedTuple):
    """Due-process events waiting for their day: a chain of entries per day."""

    head: np.ndarray  # int64 per day: the day's first entry (-1: none)
    tail: np.ndarray  # int64 per day: the day's last entry
    next: np.ndarray  # int64 per entry: the next entry of its day (-1: the last)
    event: np.ndarray  # int64 per entry: FILE, DECIDE or REPAIR
    record: np.ndarray  # int64 per entry: the record's id in the log


class DueState(NamedTuple):
    """What due process keeps from day to day (whole arrays, capacity included)."""

    queue: DueQueue
    used: np.ndarray  # int64 [4]: aware_new, triggers, ent_triggers, queue entries used
    aware_from: np.ndarray  # int64 per resident: the day they know of a listing from
    days_unaware: np.ndarray  # int32 per resident: days listed not knowing (both: empty
    # without per-agent tables)
    aware_ids: np.ndarray  # int64, increasing: the residents whose aware_from is set
    aware_new: np.ndarray  # int64: residents whose aware_from was set since the last count
    learned: np.ndarray  # bool per record: its subject learned of it when blocked
    triggers: np.ndarray  # int64: ids of the residents' records of list-triggering kinds
    ent_triggers: np.ndarray  # int64: those of the enterprises' records
    trigger_subjects: np.ndarray  # int64: the subject of each of `triggers`
    ent_trigger_subjects: np.ndarray  # int64: that of each of `ent_triggers`


class DueRules(NamedTuple):
    """The due process of every record kind as the kernels take it (index = kind id)."""

    on: bool  # the scenario has a due_process section
    learn_any: bool  # some kind's appeal is from_first_block
    paths: PathRules
    appeals: Appeals
    learn_blocked: np.ndarray  # bool: the unnotified may appeal from their first block
    decide_days: np.ndarray  # int64, days from the appeal to the decision
    find_error: np.ndarray  # float64, probability that a review corrects an error
    overturn_true: np.ndarray  # float64, that it overturns a true record
    subject: np.ndarray  # uint8, 0 resident, 1 enterprise
    points: np.ndarray  # float64, the kind's points
    key: np.uint64  # the stream of due process's draws


class DueSide(NamedTuple):
    """What due process reads and changes of one kind of subject (residents or
    enterprises)."""

    education: np.ndarray  # per subject: education level 0 to 2 (an enterprise's rep's)
    decile: np.ndarray  # per subject: income decile, 0 = poorest (the rep's)
    kind_bits: np.ndarray  # uint8 per record kind: the lists it triggers (empty: no lists)
    duration: np.ndarray  # int64 per list: days a record keeps its subject on it
    listings: Listings
    decay: float  # the score's daily decay of a record's points (1.0: no score)
    cell: np.ndarray  # int16 per subject: its collector cell
    indptr: np.ndarray  # int64: cell c counts into rows rows_of_cell[indptr[c]:indptr[c+1]]
    rows_of_cell: np.ndarray  # int64
    cols: np.ndarray  # int64 [6]: the metrics' columns (-1: not counted)


class DueDays(NamedTuple):
    """Due process as the kernels run it (its state apart, in DueState): its rules, the
    residents' side and the enterprises' (each counting into its own rows)."""

    rules: DueRules
    res: DueSide
    ent: DueSide


class DueRows(NamedTuple):
    """The day's rows [rows, metrics] that each side's counts go into (DueSide.indptr and
    rows_of_cell index them: cells in the general loop, groups in compiled days)."""

    res: np.ndarray  # float64, the residents'
    ent: np.ndarray  # float64, the enterprises'


@kernel(inner=True)
def _count(side: DueSide, row: np.ndarray, metric: np.int64, subject: np.int64) -> None:
    col = side.cols[metric]
    if col < 0:
        return
    c = side.cell[subject]
    for q in range(side.indptr[c], side.indptr[c + 1]):
        row[side.rows_of_cell[q], col] += 1.0


@kernel(inner=True)
def _count_by_side(
    rules: DueRules,
    kind: np.int64,
    subject: np.int64,
    metric: np.int64,
    res: DueSide,
    ent: DueSide,
    res_row: np.ndarray,
    ent_row: np.ndarray,
) -> None:
    if rules.subject[kind] == 0:
        _count(res, res_row, metric, subject)
    else:
        _count(ent, ent_row, metric, subject)


@kernel(inner=True)
def _with(
    state: DueState,
    queue: DueQueue,
    aware_ids: np.ndarray,
    aware_new: np.ndarray,
    learned: np.ndarray,
    triggers: np.ndarray,
    ent_triggers: np.ndarray,
) -> DueState:
    return DueState(
        queue,
        state.used,
        state.aware_from,
        state.days_unaware,
        aware_ids,
        aware_new,
        learned,
        triggers,
        ent_triggers,
        state.trigger_subjects,
        state.ent_trigger_subjects,
    )


@kernel(inner=True)
def _room(state: DueState, entries: int | np.int64, last_day: int | np.int64) -> DueState:
    """Room in the queue for `entries` more entries on days up to `last_day`."""
    q = state.queue
    used = state.used[N_ENTRIES]
    queue = DueQueue(
        grown_to(q.head, len(q.head), int(last_day) + 1, -1),
        grown_to(q.tail, len(q.tail), int(last_day) + 1, -1),
        grown_to(q.next, used, used + entries, -1),
        grown_to(q.event, used, used + entries, 0),
        grown_to(q.record, used, used + entries, 0),
    )
    s = state
    return _with(s, queue, s.aware_ids, s.aware_new, s.learned, s.triggers, s.ent_triggers)


@kernel(inner=True)
def _push(state: DueState, day: np.int64, event: np.int64, record: np.int64) -> None:
    """Schedule an event (after _room)."""
    q = state.queue
    e = state.used[N_ENTRIES]
    q.next[e] = -1
    q.event[e] = event
    q.record[e] = record
    if q.tail[day] >= 0:
        q.next[q.tail[day]] = e
    else:
        q.head[day] = e
    q.tail[day] = e
    state.used[N_ENTRIES] = e + 1


@kernel(inner=True)
def _aware(state: DueState, residents: np.ndarray, day: np.ndarray) -> DueState:
    """Residents who know of their listing from day[r] (the earliest day kept)."""
    if len(state.aware_from) == 0:
        return state
    n_new = state.used[N_AWARE_NEW]
    aware_new = grown_to(state.aware_new, n_new, n_new + len(residents), 0)
    for r in range(len(residents)):
        i = residents[r]
        state.aware_from[i] = min(state.aware_from[i], day[r])
        aware_new[n_new + r] = i
    state.used[N_AWARE_NEW] = n_new + len(residents)
    s = state
    return _with(s, s.queue, s.aware_ids, aware_new, s.learned, s.triggers, s.ent_triggers)


@kernel
def count_unaware(state: DueState, rules: DueRules, day: int, mask: np.ndarray) -> DueState:
    """Count a day listed without knowing for each resident on a list (`mask`, the
    residents' list bits at the start of `day`) who has had neither a notice of a record
    that put them on a list nor a block by a measure since; forget what those no longer
    listed knew (a later listing is news again). Nothing without per-resident days
    (state.aware_from empty: no per-agent table)."""
    if not rules.on or len(mask) != len(state.aware_from):
        return state
    whole = len(mask) // 8 * 8  # the list bits eight residents at a time
    count_unaware_days(
        mask[:whole].view(np.uint64), mask, state.aware_from, state.days_unaware, day
    )
    aware_ids = state.aware_ids
    n_new = state.used[N_AWARE_NEW]
    if n_new:
        aware_ids = np.unique(np.concatenate((aware_ids, state.aware_new[:n_new])))
        state.used[N_AWARE_NEW] = 0
    aware_ids = forget_unlisted(aware_ids, mask, state.aware_from, NEVER)
    s = state
    return _with(s, s.queue, aware_ids, s.aware_new, s.learned, s.triggers, s.ent_triggers)


@kernel(inner=True)
def keep_triggers(
    state: DueState,
    ids: np.ndarray,
    kind: np.ndarray,
    subject: np.ndarray,
    rules: DueRules,
    res: DueSide,
    ent: DueSide,
) -> DueState:
    """Keep the records `ids` (taking effect today, of kinds `kind`, about `subject`)
    that put their subject on a list, and their subjects: end_side() and blocked_day()
    look among them by subject (read in order, not from the log)."""
    if len(res.kind_bits) == 0 and len(ent.kind_bits) == 0:
        return state
    n_res, n_ent = state.used[N_TRIGGERS], state.used[N_ENT_TRIGGERS]
    triggers = grown_to(state.triggers, n_res, n_res + len(ids), 0)
    ent_triggers = grown_to(state.ent_triggers, n_ent, n_ent + len(ids), 0)
    trig_subj = grown_to(state.trigger_subjects, n_res, n_res + len(ids), 0)
    ent_trig_subj = grown_to(state.ent_trigger_subjects, n_ent, n_ent + len(ids), 0)
    for r in range(len(ids)):
        t, k = ids[r], np.int64(kind[r])
        if rules.subject[k] == 0:
            if len(res.kind_bits) and res.kind_bits[k] != 0:
                triggers[n_res] = t
                trig_subj[n_res] = subject[r]
                n_res += 1
        elif len(ent.kind_bits) and ent.kind_bits[k] != 0:
            ent_triggers[n_ent] = t
            ent_trig_subj[n_ent] = subject[r]
            n_ent += 1
    state.used[N_TRIGGERS], state.used[N_ENT_TRIGGERS] = n_res, n_ent
    s = state
    return DueState(
        s.queue,
        s.used,
        s.aware_from,
        s.days_unaware,
        s.aware_ids,
        s.aware_new,
        s.learned,
        triggers,
        ent_triggers,
        trig_subj,
        ent_trig_subj,
    )


@kernel
def plan_day(
    state: DueState, due: DueDays, day: int, ids: np.ndarray, log: LogColumns, rows: DueRows
) -> DueState:
    """Draw the due-process path of the records `ids` taking effect today: each notice
    day into the log (counted into `rows`), the residents told of a record of a
    list-triggering kind aware from their notice, the appeals and repairs scheduled."""
    (rules, res, ent), (res_row, ent_row) = due, rows
    state = keep_triggers(state, ids, log.kind[ids], log.subject[ids], rules, res, ent)
    n = len(ids)
    if not rules.on or n == 0:
        return state
    kind = np.empty(n, np.int64)
    education = np.empty(n, np.int64)
    decile = np.empty(n, np.int64)
    for r in range(n):
        k = np.int64(log.kind[ids[r]])
        kind[r] = k
        education[r] = decile[r] = 0
        if not rules.paths.adverse[k]:  # (no path: plan() reads neither)
            continue
        s = log.subject[ids[r]]
        side = res if rules.subject[k] == 0 else ent
        education[r] = side.education[s]
        decile[r] = side.decile[s]
    subject = log.subject[ids]
    records = NewRecords(
        kind, subject, log.effective_day[ids], log.erroneous[ids], education, decile
    )
    out = PathDays(np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64))
    plan(records, rules.paths, rules.appeals, rules.key, out)
    know = np.empty(n, np.int64)
    know_day = np.empty(n, np.int64)
    n_know = 0
    n_events = last = np.int64(0)  # (not 0: _room would be compiled for a literal 0 too)
    for r in range(n):
        n_events += (out.appeal[r] >= 0) + (out.repair[r] >= 0)
        last = max(last, out.appeal[r], out.repair[r])
        if out.notice[r] < 0:
            continue
        k, i = kind[r], np.int64(subject[r])
        log.notice_day[ids[r]] = min(out.notice[r], 32767)
        if rules.subject[k] == 0 and len(res.kind_bits) and res.kind_bits[k] != 0:
            know[n_know] = i
            know_day[n_know] = out.notice[r]
            n_know += 1
        _count_by_side(rules, k, i, NOTICES, res, ent, res_row, ent_row)
    if len(res.kind_bits):
        state = _aware(state, know[:n_know], know_day[:n_know])
    state = _room(state, n_events, last)
    for r in range(n):
        if out.appeal[r] >= 0:
            _push(state, out.appeal[r], FILE, ids[r])
    for r in range(n):
        if out.repair[r] >= 0:
            _push(state, out.repair[r], REPAIR, ids[r])
    return state


@kernel(inner=True)
def _file(
    state: DueState, due: DueDays, day: int, ids: np.ndarray, log: LogColumns, rows: DueRows
) -> DueState:
    """Appeals filed today (of records `ids`, those still ACTIVE, counted into `rows`):
    decided later."""
    (rules, res, ent), (res_row, ent_row) = due, rows
    filed = ids[log.status[ids] == ACTIVE]
    if len(filed) == 0:
        return state
    last = np.int64(0)  # (see plan_day)
    for t in filed:
        k = np.int64(log.kind[t])
        log.appeal_day[t] = day
        _count_by_side(rules, k, np.int64(log.subject[t]), FILED, res, ent, res_row, ent_row)
        last = max(last, day + rules.decide_days[k])
    state = _room(state, len(filed), last)
    for t in filed:
        _push(state, day + rules.decide_days[np.int64(log.kind[t])], DECIDE, t)
    return state


@kernel(inner=True)
def _take_day(state: DueState, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Today's events off the queue (FILE, DECIDE and REPAIR records, each in the order
    scheduled); events scheduled for today from now on are never handled."""
    q = state.queue
    if day >= len(q.head) or q.head[day] < 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    n = np.zeros(3, np.int64)
    e = q.head[day]
    while e >= 0:
        n[q.event[e]] += 1
        e = q.next[e]
    got = [np.empty(n[0], np.int64), np.empty(n[1], np.int64), np.empty(n[2], np.int64)]
    n[:] = 0
    e = q.head[day]
    while e >= 0:
        ev = q.event[e]
        got[ev][n[ev]] = q.record[e]
        n[ev] += 1
        e = q.next[e]
    q.head[day] = -1
    q.tail[day] = -1
    return got[0], got[1], got[2]


@kernel
def step_day(
    state: DueState, due: DueDays, day: int, log: LogColumns, rows: DueRows
) -> tuple[DueState, np.ndarray]:
    """Handle today's appeals, decisions and repairs (after plan_day for today; counted
    into `rows`): returns the records ended today (withdrawn, then repaired; end_side()
    ends them)."""
    (rules, res, ent), (res_row, ent_row) = due, rows
    filed, decided, repaired = _take_day(state, day)
    if len(filed) + len(decided) + len(repaired) == 0:
        return state, filed
    state = _file(state, due, day, filed, log, rows)
    decided = decided[log.status[decided] == ACTIVE]
    n_won = 0
    if len(decided):
        kind = np.empty(len(decided), np.int64)
        for r in range(len(decided)):
            log.decision_day[decided[r]] = day
            kind[r] = log.kind[decided[r]]
        won = decide(
            kind,
            log.subject[decided],
            log.effective_day[decided],
            log.erroneous[decided],
            rules.appeals.kind_word,
            rules.find_error,
            rules.overturn_true,
            rules.key,
        )
        for r in range(len(decided)):
            if not won[r]:
                continue
            t = decided[r]
            decided[n_won] = t
            n_won += 1
            log.status[t] = CORRECTED
            k, i = kind[r], np.int64(log.subject[t])
            _count_by_side(rules, k, i, WON, res, ent, res_row, ent_row)
            metric = CORRECTED_COL if log.erroneous[t] else OVERTURNED
            _count_by_side(rules, k, i, metric, res, ent, res_row, ent_row)
    repaired = repaired[log.status[repaired] == ACTIVE]
    for t in repaired:
        log.status[t] = REPAIRED
        k, i = np.int64(log.kind[t]), np.int64(log.subject[t])
        _count_by_side(rules, k, i, REPAIRED_COL, res, ent, res_row, ent_row)
    return state, np.concatenate((decided[:n_won], repaired))


@kernel
def end_side(
    state: DueState,
    rules: DueRules,
    day: int,
    ids: np.ndarray,
    log: LogColumns,
    s: int,
    side: DueSide,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records `ids` ended today (withdrawn or repaired) whose subjects are of kind
    `s` (0 residents, 1 enterprises, `side`): their end day set, their subjects released
    from every record-triggered list they fed unless another record keeps them there
    (release()). Returns what the score gives back: (subjects, what is left of each
    record's points after its days of decay, erroneous)."""
    mine = np.empty(len(ids), np.int64)
    m = 0
    for t in ids:
        if rules.subject[np.int64(log.kind[t])] == s:
            log.end_day[t] = day
            mine[m] = t
            m += 1
    mine = mine[:m]
    subjects = log.subject[mine].astype(np.int64)
    left = np.empty(m, np.float64)
    for r in range(m):
        t = mine[r]
        age = np.float64(day - np.int64(log.effective_day[t]))
        left[r] = rules.points[np.int64(log.kind[t])] * np.power(side.decay, age)
    erroneous = log.erroneous[mine]
    if m == 0 or len(side.kind_bits) == 0:
        return subjects, left, erroneous
    hit = np.empty(m, np.int64)
    n_hit = 0
    for r in range(m):
        if side.kind_bits[np.int64(log.kind[mine[r]])] != 0:
            hit[n_hit] = r
            n_hit += 1
    if n_hit == 0:
        return subjects, left, erroneous
    hit = hit[:n_hit]
    ended = np.unique(subjects[hit])
    bits = np.zeros(len(ended), np.uint8)
    appealed = np.zeros(len(ended), np.uint8)
    for h in hit:
        t = mine[h]
        p = np.searchsorted(ended, subjects[h])
        b = side.kind_bits[np.int64(log.kind[t])]
        bits[p] |= b
        if log.status[t] != REPAIRED:  # (else withdrawn: CORRECTED)
            appealed[p] |= b
    trig = state.triggers if s == 0 else state.ent_triggers
    trig_subj = state.trigger_subjects if s == 0 else state.ent_trigger_subjects
    n_trig = state.used[N_TRIGGERS if s == 0 else N_ENT_TRIGGERS]
    release(  # (the triggers of the subjects ended alone: release passes over the rest)
        Ended(ended, bits, bits & ~appealed),
        trig[among(ended, trig_subj, n_trig)],
        RecordColumns(log.subject, log.kind, log.status, log.effective_day, log.erroneous),
        Triggers(side.kind_bits, side.duration),
        side.listings,
        day,
    )
    return subjects, left, erroneous


@kernel
def blocked_day(
    state: DueState,
    due: DueDays,
    day: int,
    residents: np.ndarray,
    log: LogColumns,
    n_records: int,
    res_row: np.ndarray,
) -> DueState:
    """Residents blocked by a measure today (after today's step_day): they know of their
    listing from today; the records that hold them on a list and of which they had no
    notice may now be appealed (kinds whose appeal is `from_first_block`, counted into
    the residents' row res_row), on a day drawn in the window that opens today.
    n_records: the records in the log."""
    rules, res = due.rules, due.res
    if not rules.on or len(residents) == 0:
        return state
    who = np.unique(residents)
    state = _aware(state, who, np.full(len(who), day, np.int64))
    n_trig = state.used[N_TRIGGERS]
    if not rules.learn_any or n_trig == 0 or len(res.kind_bits) == 0:
        return state
    learned = state.learned
    if len(learned) < n_records:
        learned = grown_to(learned, len(learned), n_records + 1024, False)
    s = state
    state = _with(s, s.queue, s.aware_ids, s.aware_new, learned, s.triggers, s.ent_triggers)
    ids = state.triggers[among(who, state.trigger_subjects, n_trig)]  # (in their order)
    m = 0
    for t in ids.copy():
        k = np.int64(log.kind[t])
        i = log.subject[t]
        if (
            rules.learn_blocked[k]
            and log.status[t] == ACTIVE
            and log.notice_day[t] < 0
            and log.appeal_day[t] < 0
            and not learned[t]
            and (res.kind_bits[k] & res.listings.mask[i]) != 0
        ):
            ids[m] = t
            m += 1
    if m == 0:
        return state
    ids = ids[:m]
    kind = np.empty(m, np.int64)
    education = np.empty(m, np.int64)
    decile = np.empty(m, np.int64)
    for r in range(m):
        learned[ids[r]] = True
        kind[r] = log.kind[ids[r]]
        education[r] = res.education[log.subject[ids[r]]]
        decile[r] = res.decile[log.subject[ids[r]]]
    records = NewRecords(
        kind, log.subject[ids], log.effective_day[ids], log.erroneous[ids], education, decile
    )
    appeal = np.empty(m, np.int64)
    plan_learned(records, day, rules.appeals, rules.key, appeal)
    state = _file(state, due, day, ids[appeal == day], log, DueRows(res_row, res_row))
    later = appeal > day
    state = _room(state, int(later.sum()), max(day, appeal.max()))
    for r in range(m):
        if later[r]:
            _push(state, appeal[r], FILE, ids[r])
    return state
