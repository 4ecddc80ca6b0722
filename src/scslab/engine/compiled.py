"""Compiled days: many days of a run in one numba call.

The general loop runs a day's steps from Python: some 150 calls of a few microseconds
each, most of a small city's run. Scenarios within what is run here (records about
residents' behaviour and their attempts flagged the day before, with reporting delays;
the points score with drift, association penalties and record expiry; lists triggered
by scores or records; due process of the residents' records; residents' activities
against the measures, rewards and listed residents' responses; chilling, income lost to
blocked attempts and income-sensitive records; inert enterprises) run their days in one
compiled loop that calls the model's kernels in the order of the steps
(engine/steps.py), on the run's own state, with the same random streams:

    departments   candidate_count, records_into, flagged_into  (departments.py)
    scoring       take_effective_into, add_points,
                  schedule_expiry, expire_due, risen_by_expiry (records.py, points.py)
                  drift, decay_error_points, hold_at_base      (scoring.py)
    lists         enlist_into, mark_leaving, _agents_to_visit,
                  _daily, update_members                       (lists.py)
                  count_listed_contacts, mark_entered          (measures.py)
                  count_changes                                (listcounts.py)
    due process   count_wrongful_days (per-agent tables only)  (engine/trail.py)
                  due_process_day, learn_of_blocks             (engine/compiled_due.py)
    activities    activities_day                               (engine/compiled_acts.py)
    behaviour     behaviour_day                                (behaviour.py)
    collectors    _collect_lists or recount_lists; tally_days  (collectors.py, tally.py)

so that a run gives the same tables bit for bit either way (tests/test_compiled.py);
`Simulation(engine="general")` forces the general loop. `support.unsupported()` names
what is not run here, one reason per feature; such a scenario runs on the general loop.

The loop counts processor cycles per phase (cycles.py): the manifest's seconds per phase.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.engine.collectors import _collect_lists, recount_lists
from scslab.engine.compiled_acts import activities_day
from scslab.engine.compiled_due import due_process_day, learn_of_blocks
from scslab.engine.containers import (
    ActArrays,
    ActTable,
    Collecting,
    DueDays,
    Flagging,
    Grown,
    KindTable,
    ListArrays,
    ListTable,
    People,
    Responses,
    ScoreArrays,
    ScoreTable,
)
from scslab.engine.cycles import cycle_count as _cycles
from scslab.engine.growth import grow as _grow
from scslab.engine.growth import grow_changes, grow_log, grow_queue
from scslab.engine.listcounts import count_changes
from scslab.engine.tally import tally_days
from scslab.engine.trail import count_wrongful_days
from scslab.model.behaviour import behaviour_day
from scslab.model.containers import Behaviour, ByGroup, ChangeColumns, DailyRules, Listings, Points
from scslab.model.departments import (
    KindRule,
    Subjects,
    candidate_count,
    flagged_into,
    records_into,
)
from scslab.model.lists import (
    ENTRY,
    RULE_RECORDS,
    _agents_to_visit,
    _daily,
    enlist_into,
    mark_leaving,
    update_members,
)
from scslab.model.measures import count_listed_contacts, mark_entered
from scslab.model.points import add_points, expire_due, risen_by_expiry, schedule_expiry
from scslab.model.records import ACTIVE, PENDING, take_effective_into
from scslab.model.scoring import decay_error_points, drift, hold_at_base

N_PHASES = 7  # engine/steps.py's PHASES, in order


@nb.njit(cache=True, inline="always")
def _count_in_groups(
    row: np.ndarray, groups_indptr: np.ndarray, groups_of_cell: np.ndarray, c: int, col: int
) -> None:
    """Add 1 to row[group, col] for each group of cell c."""
    for q in range(groups_indptr[c], groups_indptr[c + 1]):
        row[groups_of_cell[q], col] += 1.0


@nb.njit(cache=True, nogil=True)
def run_days(
    first_day: int,
    last_day: int,
    kinds: KindTable,
    people: People,
    score_rules: ScoreTable,
    scoring: ScoreArrays,
    lists: ListArrays,
    list_rules: ListTable,
    collecting: Collecting,
    acts: ActTable,
    act_arrays: ActArrays,
    grown: Grown,
    responses: Responses,
    flags: Flagging,
    behaviour: Behaviour,
    due: DueDays,
    cycles: np.ndarray,
) -> Grown:
    """Days first_day to last_day - 1 of the engine's loop for a scenario without
    unsupported() features (engine/support.py), on the run's state in the containers of
    engine/containers.py (changed in place; what is grown or swapped comes back in the
    returned Grown).

    grown.score and grown.spare: the scores as the scorer keeps them. values[day]
    [groups, metrics] (zeros) receives each day's row of the resident series, its score
    columns (score sum and grades) from tally_days(). The day's scores are
    snapshots[(day - first_day) % len(snapshots)] (drift writes them there): with
    tally_each_day, tally_days(day, those scores, tally) counts them at the end of the
    day (two rows are enough); else the caller does, a chunk of days later (a row per
    day). With keep, the last day's scores are copied to spare and the two swap (the
    returned score is spare, the returned spare the score passed in); without, the
    returned score is the last day's row of snapshots (for the next call to drift from)
    and spare is returned as it came.

    Each count goes straight to the groups of the agent's cell (cell c is in
    groups_of_cell[groups_indptr[c]:groups_indptr[c + 1]]): the sums are of whole
    numbers, exact in any order, so the rows are the general loop's (which sums cells
    into groups) bit for bit; group_count: agents per group.

    The lists' update visits the runs of eight that drift marks (an agent on no list with
    a score outside the band, where no score rule holds) or records, and those in which a
    listed agent's score has left the band of its list mask (mark_leaving; stay:
    ListRules.stay_bands, whose row 0 is that score band) or a listed agent has erroneous
    points; unless a list has rules other than scores, when every listed agent is
    visited every day.

    The list columns (agents on each list, wrongfully, blacklisted, wrongfully
    blacklisted) are counted by visiting every listed agent each day (_collect_lists)
    when days_blacklisted is kept per agent or a list has rules other than scores; else
    list_counts [groups, metrics] is kept equal to them from the agents that may have
    changed (recount_lists over the day's listing changes and the agents with erroneous
    points, whose wrongful flags may change alone; counted: the (mask, wrongful) each
    was last counted with, per agent, or empty arrays to count the first way), and
    added to each day's row. The listing changes are counted by listcounts.count_changes
    (ever_counts: residents ever on each list per group, added to each day's row).

    records: (day, kind, subject, actor, erroneous) of the records written; changes:
    (day, subject, bit, entered, wrongful, reason) of the listing changes. flags: how
    the day's attempts are flagged for departments (activities_day), grown.flagged those
    of the day before, made records today. due: due process's rules and the residents'
    side (its state: grown.due). cycles[phase]: processor cycles per phase.
    """
    (
        kind_key,
        kind_mean,
        kind_max_mult,
        listed_multiplier,
        decile_multiplier,
        migrant_multiplier,
        coverage,
        error_rate,
        points,
        col_true,
        col_erroneous,
        eligible,
        restricted,
        kind_delay,
        kind_expiry,
        list_bits,
    ) = kinds
    income_decile, migrant, cell, contacts_of_indptr, contacts_of_indices, subject_class = people
    no_classes = np.zeros(0, np.bool_)
    base, decay, association, lo, hi, min_score, max_score, left = score_rules
    error_points, with_errors, outside, unenrolled = scoring
    mask, wrongful, extended, released, repaired, ever, until, true_until, listed_contacts = lists
    (
        rule,
        threshold,
        extension,
        extension_probability,
        daily_compliance,
        list_key,
        black_bits,
        stay,
        change_columns,
        col_ever,
        duration,
    ) = list_rules
    (
        groups_indptr,
        groups_of_cell,
        group_count,
        values,
        snapshots,
        tally_each_day,
        tally,
        keep,
        days_blacklisted,
        days_wrongful,
        counted,
        list_counts,
        ever_counts,
        enrolled_col,
        enrolled,
    ) = collecting
    (
        score,
        spare,
        listed,
        error_ids,
        n_error_ids,
        records,
        n_records,
        first_pending,
        changes,
        n_changes,
        queue,
        queued,
        queue_head,
        queue_in_order,
        high,
        flagged,
        due_state,
    ) = grown
    given_score, given_spare = score, spare
    band_lo, band_hi = stay[0, 0], stay[0, 1]  # the score band: no score rule holds
    n = len(mask)
    n_lists = len(rule)
    residents = Subjects(mask, black_bits, income_decile, migrant, subject_class)
    listings = Listings(mask, wrongful, extended, released, repaired, until, true_until)
    daily_rules = DailyRules(
        rule, threshold, extension, extension_probability, daily_compliance, list_key
    )
    ch_day, ch_subject, ch_bit, ch_entered, ch_wrongful, ch_reason = changes
    no_reps = np.zeros(n, np.uint8) if len(days_wrongful) else np.zeros(0, np.uint8)
    counted_mask, counted_wrongful = counted
    # with score rules only, a listed agent changes only if its score leaves its stay
    # band (drift and records mark its run) or it has erroneous points; else (expiry,
    # compliance) every listed agent is visited every day
    every_listed = False
    for b in range(n_lists):
        every_listed |= rule[b] == RULE_RECORDS
    # (with other rules, a listing can also turn wrongful with no erroneous points)
    incremental = len(counted_mask) == n and len(days_blacklisted) != n and not every_listed
    no_ids = np.zeros(0, np.int64)
    cap = max(1024, n // 64)
    out_subject = np.empty(cap, np.int32)
    out_bit = np.empty(cap, np.uint8)
    out_entered = np.empty(cap, np.bool_)
    out_wrongful = np.empty(cap, np.bool_)
    out_reason = np.empty(cap, np.uint8)
    effective = np.empty(1024, np.int64)
    expired = np.empty(1024, np.int64)
    expiring = False
    for k in range(len(kind_expiry)):
        expiring |= kind_expiry[k] > 0
    risen = np.empty(1024, np.int64)  # subjects whose score records raised today
    n_risen = 0
    n_acts = len(acts.lam)
    no_shares = np.zeros(0)
    chilling = behaviour.chilling_self > 0.0 or behaviour.chilling_contacts > 0.0
    enlisting = False
    for k in range(len(list_bits)):
        enlisting |= list_bits[k] != 0
    for day in range(first_day, last_day):
        t0 = _cycles()
        # departments: the records of the day, kind by kind, against the start-of-day lists
        for k in range(len(kind_key)):
            f = flags.of_kind[k]  # records of yesterday's flagged attempts (f >= 0)
            if n == 0 or (day == 0 if f >= 0 else kind_mean[k] <= 0.0):
                continue
            who = flagged.ids[flagged.indptr[f] : flagged.indptr[f + 1]] if f >= 0 else no_ids
            most = len(who) if f >= 0 else candidate_count(kind_key[k], day, kind_mean[k])
            if n_records + most > len(records.subject):  # (rarely: no call, no copy)
                records = grow_log(records, n_records, n_records + most)
            kind = KindRule(
                kind_key[k],
                kind_max_mult[k],
                listed_multiplier[k],
                decile_multiplier[k],
                migrant_multiplier[k],
                eligible[k] if restricted[k] else no_classes,
                coverage[k],
                error_rate[k],
                behaviour.income_elasticity[k],
            )
            written = (
                records.subject[n_records:],
                records.actor[n_records:],
                records.erroneous[n_records:],
            )
            seen, when = day, day + kind_delay[k]
            if f >= 0:
                m, seen, when = flagged_into(kind, day, kind_delay[k], who, residents, written)
            else:
                m = records_into(kind, day, most, residents, behaviour.income, written)
            for r in range(n_records, n_records + m):  # (a loop: no views made)
                records.day[r] = seen
                records.effective_day[r] = when
                records.kind[r] = k
                records.status[r] = PENDING
                records.end_day[r] = -1
                records.notice_day[r] = records.appeal_day[r] = records.decision_day[r] = -1
            n_records += m
        t1 = _cycles()
        cycles[0] += t1 - t0
        # scoring: drift and association penalties, the day's effective records in
        # order, then the day's expiries
        row = (day - first_day) % len(snapshots)
        today = snapshots[row]
        drift(
            score,
            today,
            base,
            decay,
            association,
            listed_contacts,
            lo,
            hi,
            band_lo,
            band_hi,
            outside,
            mask,
        )
        score = today
        decay_error_points(error_points, decay, error_ids[:n_error_ids])
        effective = _grow(effective, 0, n_records - first_pending)
        m, first_pending = take_effective_into(
            records.effective_day, first_pending, n_records, day, effective
        )
        today_ids = effective[:m]
        if m == 0 or today_ids[m - 1] - today_ids[0] == m - 1:  # (no delays: a run of ids)
            a = today_ids[0] if m else 0
            records.status[a : a + m] = ACTIVE
            subjects = records.subject[a : a + m]
            day_kinds = records.kind[a : a + m]
            errs = records.erroneous[a : a + m]
        else:
            records.status[today_ids] = ACTIVE
            subjects = records.subject[today_ids]
            day_kinds = records.kind[today_ids]
            errs = records.erroneous[today_ids]
        day_points = points[day_kinds.astype(np.int64)]
        add_points(score, error_points, subjects, day_points, errs, min_score, max_score)
        if acts.keep_high:
            risen = _grow(risen, n_risen, n_risen + len(subjects))
            for r in range(len(subjects)):
                if day_points[r] > 0:
                    risen[n_risen] = subjects[r]
                    n_risen += 1
        for r in range(len(subjects)):
            i = subjects[r]
            outside[i >> 3] = True
            k = day_kinds[r]
            col = col_erroneous[k] if errs[r] else col_true[k]
            _count_in_groups(values[day], groups_indptr, groups_of_cell, cell[i], col)
            if errs[r] and not with_errors[i]:
                with_errors[i] = True
                error_ids = _grow(error_ids, n_error_ids, n_error_ids + 1)
                error_ids[n_error_ids] = i
                n_error_ids += 1
        if expiring:
            queue = grow_queue(queue, queued, queued + m)
            queued, queue_in_order = schedule_expiry(
                queue,
                queued,
                day,
                today_ids,
                subjects,
                day_points,
                errs,
                kind_expiry[day_kinds.astype(np.int64)],
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
            if acts.keep_high and n_expired:
                given = risen_by_expiry(queue, expired[:n_expired], left)
                risen = _grow(risen, n_risen, n_risen + len(given))
                risen[n_risen : n_risen + len(given)] = given
                n_risen += len(given)
        hold_at_base(score, error_points, unenrolled, base)
        t2 = _cycles()
        cycles[1] += t2 - t1
        # due process: wrongfully blacklisted days (per agent), then the rest of the step
        if len(days_wrongful):
            count_wrongful_days(mask, wrongful, black_bits, no_reps, no_reps, 0, days_wrongful)
        kept = (error_ids, n_error_ids, risen, n_risen)
        due_state, kept = due_process_day(
            day, due, due_state, today_ids, records, values[day], score, scoring, score_rules, kept
        )
        error_ids, n_error_ids, risen, n_risen = kept
        t3 = _cycles()
        cycles[2] += t3 - t2
        # lists: entries by the day's records, then score rules and exits of the agents
        # that may change
        touched = no_ids
        newly_black = no_ids
        if n_lists:
            n_out = 0
            visit = listed
            if enlisting and len(subjects):
                need = 8 * len(subjects)
                if need > len(out_subject):
                    out_subject = _grow(out_subject, 0, need)
                    out_bit = _grow(out_bit, 0, need)
                    out_entered = _grow(out_entered, 0, need)
                    out_wrongful = _grow(out_wrongful, 0, need)
                    out_reason = _grow(out_reason, 0, need)
                n_out = enlist_into(
                    listings,
                    list_bits,
                    day_kinds,
                    subjects,
                    errs,
                    duration,
                    day,
                    (out_subject, out_bit, out_wrongful),
                )
                out_entered[:n_out] = True
                out_reason[:n_out] = ENTRY
                new = np.unique(out_subject[:n_out]).astype(np.int64)
                visit = update_members(listed, new, np.ones(len(new), np.bool_))
            n_entries = n_out
            if not every_listed:
                mark_leaving(listed, score, mask, stay, outside)
                # a listing may turn wrongful or rightful as erroneous points drift
                for e in range(n_error_ids):
                    i = error_ids[e]
                    if mask[i]:
                        outside[i >> 3] = True
            ids = _agents_to_visit(visit, outside, score, band_lo, band_hi, every_listed)
            start = 0
            while True:
                out = ChangeColumns(
                    out_subject[n_out:],
                    out_bit[n_out:],
                    out_entered[n_out:],
                    out_wrongful[n_out:],
                    out_reason[n_out:],
                )
                got, start = _daily(
                    listings, daily_rules, Points(score, error_points), day, ids, start, out
                )
                n_out += got
                if start >= len(ids):
                    break
                out_subject = _grow(out_subject, n_out, 2 * len(out_subject))
                out_bit = _grow(out_bit, n_out, 2 * len(out_bit))
                out_entered = _grow(out_entered, n_out, 2 * len(out_entered))
                out_wrongful = _grow(out_wrongful, n_out, 2 * len(out_wrongful))
                out_reason = _grow(out_reason, n_out, 2 * len(out_reason))
            if n_out:
                need = n_changes + n_out
                changes = grow_changes(changes, n_changes, need)
                ch_day, ch_subject, ch_bit, ch_entered, ch_wrongful, ch_reason = changes
                count_changes(
                    out_subject[:n_out],
                    out_bit[:n_out],
                    out_entered[:n_out],
                    out_wrongful[:n_out],
                    out_reason[:n_out],
                    cell,
                    groups_indptr,
                    groups_of_cell,
                    change_columns,
                    ever,
                    values[day],
                    ever_counts,
                )
                for c in range(n_out):
                    ch_day[n_changes + c] = day
                    ch_subject[n_changes + c] = out_subject[c]
                    ch_bit[n_changes + c] = out_bit[c]
                    ch_entered[n_changes + c] = out_entered[c]
                    ch_wrongful[n_changes + c] = out_wrongful[c]
                    ch_reason[n_changes + c] = out_reason[c]
                n_changes = need
                # list responses: the day of listing, for those that learn
                mark_entered(responses.since, out_subject, out_bit, out_entered, n_out, day)
                # the update's changes come in increasing subject order, the entries by
                # records before them in the records' order
                order = np.argsort(out_subject[:n_out], kind="mergesort") if n_entries else no_ids
                touched = np.empty(n_out, np.int64)
                toggles = np.zeros(n_out, np.uint8)
                n_touched = 0
                for q in range(n_out):
                    c = order[q] if n_entries else q
                    i = out_subject[c]
                    if n_touched == 0 or touched[n_touched - 1] != i:
                        touched[n_touched] = i
                        n_touched += 1
                    toggles[n_touched - 1] ^= np.uint8(1 << out_bit[c])
                touched = touched[:n_touched]
                now_member = np.empty(n_touched, np.bool_)
                was_black = np.empty(n_touched, np.bool_)
                is_black = np.empty(n_touched, np.bool_)
                for t in range(n_touched):
                    now = mask[touched[t]]
                    now_member[t] = now != 0
                    is_black[t] = (now & black_bits) != 0
                    was_black[t] = ((now ^ toggles[t]) & black_bits) != 0
                listed = update_members(listed, touched, now_member)
                newly_black = touched[is_black & ~was_black]
                count_listed_contacts(
                    touched,
                    was_black,
                    is_black,
                    contacts_of_indptr,
                    contacts_of_indices,
                    listed_contacts,
                )
        t4 = _cycles()
        cycles[3] += t4 - t3
        # activities: attempts resolved against the measures and rewards
        blocked, lost = no_ids, no_shares
        if n_acts:
            high, flagged, blocked, lost, met = activities_day(
                day,
                acts,
                act_arrays,
                mask,
                wrongful,
                cell,
                score,
                listed,
                high,
                risen[:n_risen],
                values[day],
                responses,
                flags,
                flagged,
            )
            # (due process: the residents blocked learn of their listings)
            due_state = learn_of_blocks(day, due, due_state, met, records, n_records, values)
        n_risen = 0
        t5 = _cycles()
        cycles[4] += t5 - t4
        # behaviour: chilling after penalties, income lost to blocked attempts
        if chilling or len(blocked):
            by_group = ByGroup(values[day], cell, groups_indptr, groups_of_cell)
            behaviour_day(day, behaviour, day_kinds, subjects, newly_black, blocked, lost, by_group)
        t6 = _cycles()
        cycles[5] += t6 - t5
        # collectors: list counts into the day's row, the scores kept for tally_days()
        if incremental:
            for ids in (touched, error_ids[:n_error_ids]):
                recount_lists(
                    ids,
                    mask,
                    wrongful,
                    counted_mask,
                    counted_wrongful,
                    cell,
                    groups_indptr,
                    groups_of_cell,
                    black_bits,
                    n_lists,
                    list_counts,
                )
            # (a loop: `values[day] += list_counts` would allocate a temporary each day)
            row_today = values[day]
            for g in range(list_counts.shape[0]):
                for col in range(list_counts.shape[1]):
                    row_today[g, col] += list_counts[g, col]
        else:
            _collect_lists(
                cell,
                groups_indptr,
                groups_of_cell,
                mask,
                wrongful,
                listed,
                black_bits,
                n_lists,
                days_blacklisted,
                values[day],
            )
        values[day, :, 0] = group_count
        for g in range(ever_counts.shape[0]):
            for b in range(n_lists):
                values[day, g, col_ever[b]] += ever_counts[g, b]
        if enrolled_col >= 0:
            values[day, :, enrolled_col] = enrolled
        if tally_each_day:
            tally_days(day, snapshots[row : row + 1], tally)
        cycles[6] += _cycles() - t6
    if keep and last_day > first_day:
        spare = given_spare
        spare[:] = score
        score, spare = spare, given_score
    return Grown(
        score,
        spare,
        listed,
        error_ids,
        n_error_ids,
        records,
        n_records,
        first_pending,
        changes,
        n_changes,
        queue,
        queued,
        queue_head,
        queue_in_order,
        high,
        flagged,
        due_state,
    )
