"""Compiled days: many days of a run in one numba call.

The general loop runs a day's steps from Python: some 150 calls of a few microseconds
each, most of a small city's run. Scenarios within what is run here (records about
residents and enterprises, from behaviour and from residents' attempts flagged the day
before, with reporting delays; the points score with drift, association penalties and
record expiry, residents' and corporate; lists of either, triggered by scores or
records, and the legal representatives they reach; due process of the records of
either; residents' activities against the measures, rewards and listed residents'
responses, and enterprises' against their own lists' measures and responses; chilling,
income lost to blocked attempts and income-sensitive records) run their days in one
compiled loop that calls the model's kernels in the order of the steps
(engine/steps.py), on the run's own state, with the same random streams (the phases of
each side, residents and enterprises, in engine/compiled_sides.py and
engine/compiled_lists.py):

    departments   day_candidates, departments_day (engine/compiled_departments.py)
    scoring       take_effective_into, add_points,
                  schedule_expiry, expire_due, risen_by_expiry (records.py, points.py)
                  drift, decay_error_points, hold_subjects     (scoring.py)
    due process   count_wrongful_days (per-agent tables only)  (engine/trail.py)
                  due_process_day, learn_of_blocks             (engine/compiled_due.py)
    lists         enlist_into, _daily                          (lists.py)
                  mark_leaving, agents_to_visit_into           (listvisits.py)
                  update_members, update_members_into          (members.py)
                  count_listed_contacts, representative_masks,
                  mark_entered                                 (measures.py)
                  count_changes                                (listcounts.py)
    activities    activities_day, firm_activities_day          (engine/compiled_acts.py)
    behaviour     behaviour_day                                (behaviour.py)
    collectors    _collect_lists or recount_lists; tally_days  (collectors.py, tally.py)

so that a run gives the same tables bit for bit either way (tests/test_compiled.py);
`Simulation(engine="general")` forces the general loop. `support.unsupported()` names
what is not run here, one reason per feature; such a scenario runs on the general loop.
The loop counts processor cycles per phase (cycles.py): the manifest's seconds per phase.
"""

from __future__ import annotations

import numpy as np

from scslab.engine.borrow import borrowed
from scslab.engine.compiled_acts import activities_day, firm_activities_day
from scslab.engine.compiled_departments import day_candidates, departments_day
from scslab.engine.compiled_due import due_process_day, learn_of_blocks
from scslab.engine.compiled_lists import entered_since, list_changes, list_side
from scslab.engine.compiled_sides import (
    collect_side,
    day_records,
    expire_side,
    expiry_room,
    keep_side,
    score_side,
    side_views,
    tally_side,
)
from scslab.engine.containers import (
    Carried,
    Expiry,
    Firms,
    Grown,
    Ids,
    MayReach,
    ResidentActs,
    RunTables,
    SideDays,
)
from scslab.engine.cycles import cycle_count as _cycles
from scslab.engine.growth import grow as _grow
from scslab.engine.growth import grow_changes, grow_log
from scslab.engine.trail import count_wrongful_days
from scslab.kernelcache import kernel
from scslab.model.behaviour import behaviour_day
from scslab.model.containers import ByGroup, ChangeColumns, Standing
from scslab.model.departments import Subjects
from scslab.model.lists import RULE_RECORDS
from scslab.model.measures import count_listed_contacts, representative_masks
from scslab.model.members import update_members, update_members_into
from scslab.model.records import take_effective_into

N_PHASES = 7  # engine/steps.py's PHASES, in order


@kernel(nogil=True)
def run_days(
    first_day: int,
    last_day: int,
    run: RunTables,
    firms: Firms,
    grown: Grown,
    carried: Carried,
    cycles: np.ndarray,
) -> tuple[Grown, Grown, Carried]:
    """Days first_day to last_day - 1 of the engine's loop for a scenario without
    unsupported() features (engine/support.py), on the run's state in the containers of
    engine/containers.py (changed in place; what is grown or swapped comes back in the
    returned Grown): the rules and the residents' arrays (`run`), the enterprises', and
    the state that grows.

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
    the day's attempts are flagged for departments (activities_day), carried.flagged
    those of the day before, made records today. due: due process's rules and both sides
    (its state: carried.due), counting into each side's rows of the day.

    The enterprises (firms) go through the same phases as the residents (one
    containers.SideDays each, engine/compiled_sides.py): records of the kinds about
    them (KindTable.subject), their score, lists and collectors into their own rows;
    their list changes make anew the masks of their legal representatives
    (act_arrays.rep_mask, rep_wrongful; grown.rep_ids), which the residents' measures
    and the count of wrongful days read. Returns the residents' Grown and the
    enterprises'. cycles[phase] adds the processor cycles spent in each phase.

    The containers given are borrowed for the call (engine/borrow.py; but the score
    snapshots), so run_days is called from Python only: what comes back is an array
    given, whole (numba returns the caller's own), or one made here (run_compiled
    checks: borrow.check_owned).
    """
    # (borrowed, as the docstring says; the snapshots kept counted)
    snapshots, firm_snapshots = run.collecting.snapshots, firms.side.collecting.snapshots
    run, firms, grown, carried = borrowed(run), borrowed(firms), borrowed(grown), borrowed(carried)
    (
        kinds,
        people,
        score_rules,
        scoring,
        lists,
        list_rules,
        collecting,
        acts,
        act_arrays,
        responses,
        flags,
        behaviour,
        due,
    ) = run
    kind_expiry, list_bits, kind_subject = kinds.expiry, kinds.list_bits, kinds.subject
    income_decile, migrant, cell, contacts_of_indptr, contacts_of_indices, subject_class = people
    every_listed = False
    for b in range(len(list_rules.rule)):
        every_listed |= list_rules.rule[b] == RULE_RECORDS
    # what the day reads, taken out of its containers once
    ent = firms.side
    n_lists = len(list_rules.rule)
    with_firms = len(ent.lists.mask) > 0
    n_firm_lists = len(ent.list_rules.rule) if with_firms else 0
    residents = Subjects(lists.mask, list_rules.black_bits, income_decile, migrant, subject_class)
    no_attributes = np.zeros(0, np.uint8)
    firm_subjects = Subjects(
        ent.lists.mask, ent.list_rules.black_bits, no_attributes, no_attributes, no_attributes
    )
    values, days_wrongful = collecting.values, collecting.days_wrongful
    rep_mask, rep_wrongful = act_arrays.rep_mask, act_arrays.rep_wrongful
    of_kind, income, elasticity = flags.of_kind, behaviour.income, behaviour.income_elasticity
    listed_contacts, since = lists.listed_contacts, responses.since
    due_on, firm_black = due.rules.on, ent.list_rules.black_bits
    ent_collecting = ent.collecting
    firm_values, firm_since = ent_collecting.values, firms.acts.since
    n_firm_acts = len(firms.acts.lam)
    ent_scoring, ent_score_rules = ent.scoring, ent.score_rules
    keep_high = acts.keep_high
    # the state that the days change: each side's, the record log, the run's
    score, listed, errors = grown.score, grown.listed, Ids(grown.error_ids, grown.n_error_ids)
    changes, n_changes = grown.changes, grown.n_changes
    expiry = Expiry(grown.queue, grown.queued, grown.queue_head, grown.queue_in_order)
    firm = firms.grown
    firm_score, firm_listed = firm.score, firm.listed
    firm_errors = Ids(firm.error_ids, firm.n_error_ids)
    firm_changes, n_firm_changes = firm.changes, firm.n_changes
    firm_expiry = Expiry(firm.queue, firm.queued, firm.queue_head, firm.queue_in_order)
    records, n_records, first_pending = grown.records, grown.n_records, grown.first_pending
    high, rep_ids = grown.high, grown.rep_ids
    flagged, due_state = carried
    no_ids = np.zeros(0, np.int64)
    # (values worked out, not literals, where the residents' calls pass variables: a
    # literal argument would compile the callee once more)
    none_used = len(no_ids)
    off = none_used > 0
    cap = max(1024, len(lists.mask) // 64)
    out = ChangeColumns(
        np.empty(cap, np.int32),
        np.empty(cap, np.uint8),
        np.empty(cap, np.bool_),
        np.empty(cap, np.bool_),
        np.empty(cap, np.uint8),
    )
    firm_out = ChangeColumns(
        np.empty(1024, np.int32),
        np.empty(1024, np.uint8),
        np.empty(1024, np.bool_),
        np.empty(1024, np.bool_),
        np.empty(1024, np.uint8),
    )
    effective = np.empty(1024, np.int64)
    # scratch made once here, so that no day makes it anew: each kind's candidates, each
    # side's records of the day and expiries, the listed with the representatives
    most = np.zeros(len(kinds.key), np.int64)
    kind_key, kind_mean = kinds.key, kinds.mean
    res_day, res_room = day_records(cap), expiry_room(cap)
    firm_day, firm_room = day_records(1024), expiry_room(1024)
    reach_buf = np.empty(1024, np.int64)
    every_one = np.zeros(0, np.bool_)  # (update_members_into: every one touched a member)
    expiring = False
    for k in range(len(kind_expiry)):
        expiring |= kind_expiry[k] > 0
    risen = Ids(np.empty(1024, np.int64), 0)  # subjects whose score records raised today
    n_acts = len(acts.lam)
    no_shares = np.zeros(0)
    chilling = behaviour.chilling_self > 0.0 or behaviour.chilling_contacts > 0.0
    enlisting = firm_enlisting = two_sided = off
    for k in range(len(list_bits)):
        enlisting |= list_bits[k] != 0 and kind_subject[k] == 0
        firm_enlisting |= list_bits[k] != 0 and kind_subject[k] == 1
        two_sided |= kind_subject[k] == 1
    sides = 3 if two_sided else 1
    res_side = SideDays(
        0, True, every_listed, cell, score_rules, scoring, lists, list_rules, collecting
    )
    view, list_view, change_view, collect_view = side_views(
        res_side, kinds, enlisting, len(listed), snapshots
    )
    firm_views = side_views(ent, kinds, firm_enlisting, len(firm_listed), firm_snapshots)
    firm_view, firm_list_view, firm_change_view, firm_collect_view = firm_views
    tallying = collecting.tally_each_day
    firm_tallying = ent_collecting.tally_each_day and ent.scored
    firm_ids = touched = firm_touched = newly_black = no_ids
    blocked, lost = no_ids, no_shares
    for day in range(first_day, last_day):
        t0 = _cycles()
        # departments: the records of the day, kind by kind, against the start-of-day lists
        # (the day's room in the log first: departments_day returns only a count)
        need = n_records + day_candidates(day, kind_key, kind_mean, of_kind, flagged.indptr, most)
        if need > len(records.subject):  # (rarely)
            records = grow_log(records, n_records, need)
        n_records = departments_day(
            day,
            kinds,
            residents,
            firm_subjects,
            income,
            elasticity,
            of_kind,
            flagged,
            records,
            n_records,
            most,
        )
        t1 = _cycles()
        cycles[0] += t1 - t0
        # scoring: the day's effective records, side by side: drift and association
        # penalties, the side's records in order, then its expiries
        # (two-sided: each side's ids too, after the day's: room for three times them)
        if sides * (n_records - first_pending) > len(effective):
            effective = _grow(effective, none_used, sides * (n_records - first_pending))
        m, first_pending = take_effective_into(
            records.effective_day, first_pending, n_records, day, effective
        )
        today_ids = effective[:m]
        res_ids = today_ids
        if two_sided:
            n_res, n_ent = _by_side(effective, m, records.kind, kind_subject)
            res_ids, firm_ids = effective[m : m + n_res], effective[2 * m : 2 * m + n_ent]
        if len(res_ids) > len(res_day.subject):  # (rarely: room for the day's records)
            res_day = day_records(2 * len(res_ids))
        score, errors, risen = score_side(
            day, first_day, view, score, errors, records, res_ids, keep_high, risen, res_day
        )
        if expiring and view.scored:
            expiry, risen, res_room = expire_side(
                day, view, expiry, records, res_ids, res_day, score, keep_high, risen, res_room
            )
        if with_firms:
            if len(firm_ids) > len(firm_day.subject):
                firm_day = day_records(2 * len(firm_ids))
            firm_score, firm_errors, _ = score_side(
                day,
                first_day,
                firm_view,
                firm_score,
                firm_errors,
                records,
                firm_ids,
                off,
                risen,
                firm_day,
            )
            if expiring and firm_view.scored:
                firm_expiry, _, firm_room = expire_side(
                    day,
                    firm_view,
                    firm_expiry,
                    records,
                    firm_ids,
                    firm_day,
                    firm_score,
                    off,
                    risen,
                    firm_room,
                )
        t2 = _cycles()
        cycles[1] += t2 - t1
        # due process: wrongfully blacklisted days (per agent), then the rest of the step
        if len(days_wrongful):
            count_wrongful_days(
                lists.mask,
                lists.wrongful,
                list_rules.black_bits,
                rep_mask,
                rep_wrongful,
                firm_black,
                days_wrongful,
            )
        if due_on:
            kept = (errors.ids, errors.n, risen.ids, risen.n)
            firm_kept = (firm_errors.ids, firm_errors.n, no_ids, none_used)
            due_state, kept, firm_kept = due_process_day(
                day,
                due,
                due_state,
                today_ids,
                records,
                (values[day], firm_values[day]),
                (score, scoring, score_rules, kept),
                (firm_score, ent_scoring, ent_score_rules, firm_kept),
            )
            errors, risen = Ids(kept[0], kept[1]), Ids(kept[2], kept[3])
            firm_errors = Ids(firm_kept[0], firm_kept[1])
        t3 = _cycles()
        cycles[2] += t3 - t2
        # lists: entries by the day's records, then score rules and exits of the agents
        # that may change; the residents' listed contacts, and the masks of the legal
        # representatives of the enterprises whose lists changed
        touched = no_ids
        if chilling or n_acts:
            newly_black = no_ids
        if n_lists:
            out, n_out, n_entries = list_side(
                day, list_view, score, errors, listed, out, res_day, len(res_ids)
            )
            if n_out:
                n_before = n_changes
                n_changes += n_out
                if n_changes > len(changes[0]):  # (the columns grow together)
                    changes = grow_changes(changes, n_before, n_changes)
                listed, touched, was_black, is_black = list_changes(
                    day, change_view, listed, changes, n_before, out, n_out, n_entries
                )
                count_listed_contacts(
                    touched,
                    was_black,
                    is_black,
                    contacts_of_indptr,
                    contacts_of_indices,
                    listed_contacts,
                )
                if chilling or n_acts:  # (read by the behaviour step only)
                    newly_black = touched[is_black & ~was_black]
                if len(since):  # list responses: the day of listing, for those that learn
                    entered_since(since, changes, n_before, n_changes, day)
        if n_firm_lists:
            firm_touched = no_ids
            firm_out, n_out, n_entries = list_side(
                day,
                firm_list_view,
                firm_score,
                firm_errors,
                firm_listed,
                firm_out,
                firm_day,
                len(firm_ids),
            )
            if n_out:
                n_before = n_firm_changes
                n_firm_changes += n_out
                if n_firm_changes > len(firm_changes[0]):
                    firm_changes = grow_changes(firm_changes, n_before, n_firm_changes)
                firm_listed, firm_touched, _, _ = list_changes(
                    day,
                    firm_change_view,
                    firm_listed,
                    firm_changes,
                    n_before,
                    firm_out,
                    n_out,
                    n_entries,
                )
                rep_ids = _representatives(firms, firm_touched, rep_mask, rep_wrongful, rep_ids)
                if len(firm_since):  # (their responses: the day of listing, for those that learn)
                    entered_since(firm_since, firm_changes, n_before, n_firm_changes, day)
        t4 = _cycles()
        cycles[3] += t4 - t3
        # activities: attempts resolved against the measures and rewards (of the
        # residents' lists, and of the lists of the enterprises they represent)
        if n_acts:
            reachable = listed
            if len(rep_ids):  # (the representatives: members now, every one)
                reach_buf, n_reach = update_members_into(listed, rep_ids, every_one, reach_buf)
                reachable = reach_buf[:n_reach]
            high, flagged, blocked, lost, met = activities_day(
                day,
                ResidentActs(acts, act_arrays, responses, flags),
                Standing(
                    cell,
                    lists.mask,
                    lists.wrongful,
                    act_arrays.rep_mask,
                    act_arrays.rep_wrongful,
                    score,
                ),
                MayReach(reachable, high, risen.ids[: risen.n]),
                values[day],
                flagged,
            )
            if due_on:  # (due process: the residents blocked learn of their listings)
                due_state = learn_of_blocks(day, due, due_state, met, records, n_records, values)
        # the enterprises' (after the residents': each activity draws from its own
        # streams into its own side's rows, so the order is in effect the general loop's)
        if n_firm_acts:
            firm_activities_day(day, firms, firm_score)
        if risen.n:
            risen = Ids(risen.ids, 0)
        t5 = _cycles()
        cycles[4] += t5 - t4
        # behaviour: chilling after penalties, income lost to blocked attempts
        if chilling or len(blocked):
            by_group = ByGroup(
                values[day], cell, collecting.groups_indptr, collecting.groups_of_cell
            )
            n_today = len(res_ids)
            kinds_today, subjects_today = res_day.kind[:n_today], res_day.subject[:n_today]
            behaviour_day(
                day, behaviour, kinds_today, subjects_today, newly_black, blocked, lost, by_group
            )
        t6 = _cycles()
        cycles[5] += t6 - t5
        # collectors: list counts into the day's rows, the scores kept for tally_days()
        collect_side(day, collect_view, listed, errors.ids[: errors.n], touched)
        if tallying:
            tally_side(day, first_day, collecting)
        if with_firms:  # (no enterprises: their rows stay zero)
            firm_error_ids = firm_errors.ids[: firm_errors.n]
            collect_side(day, firm_collect_view, firm_listed, firm_error_ids, firm_touched)
            if firm_tallying:
                tally_side(day, first_day, ent_collecting)
        cycles[6] += _cycles() - t6
    ran = last_day > first_day
    score, spare = keep_side(score, grown.score, grown.spare, collecting.keep and ran)
    firm_score, firm_spare = keep_side(
        firm_score, firm.score, firm.spare, ent_collecting.keep and ran
    )
    res_grown = Grown(
        score,
        spare,
        listed,
        errors.ids,
        errors.n,
        records,
        n_records,
        first_pending,
        changes,
        n_changes,
        expiry.queue,
        expiry.queued,
        expiry.head,
        expiry.in_order,
        high,
        rep_ids,
    )
    firm_grown = Grown(
        firm_score,
        firm_spare,
        firm_listed,
        firm_errors.ids,
        firm_errors.n,
        firm.records,
        firm.n_records,
        firm.first_pending,
        firm_changes,
        n_firm_changes,
        firm_expiry.queue,
        firm_expiry.queued,
        firm_expiry.head,
        firm_expiry.in_order,
        firm.high,
        firm.rep_ids,
    )
    return res_grown, firm_grown, Carried(flagged, due_state)


@kernel(inner=True)
def _by_side(
    ids: np.ndarray, m: int, record_kind: np.ndarray, kind_subject: np.ndarray
) -> tuple[int, int]:
    """The records ids[:m] about residents copied, in order, to ids[m:] and those about
    enterprises to ids[2m:] (room for them: nothing made a day); returns how many of
    each."""
    n_res = n_ent = 0
    for j in range(m):
        r = ids[j]
        if kind_subject[record_kind[r]] == 0:
            ids[m + n_res] = r
            n_res += 1
        else:
            ids[2 * m + n_ent] = r
            n_ent += 1
    return n_res, n_ent


@kernel(inner=True)
def _representatives(
    firms: Firms,
    touched: np.ndarray,
    rep_mask: np.ndarray,
    rep_wrongful: np.ndarray,
    rep_ids: np.ndarray,
) -> np.ndarray:
    """The legal representatives' masks of the enterprises `touched` (their lists
    changed) made anew; returns rep_ids, the residents representing a listed enterprise,
    brought up to date."""
    ent_lists = firms.side.lists
    representative_masks(
        touched,
        firms.legal_rep,
        firms.represented_indptr,
        firms.represented_indices,
        ent_lists.mask,
        ent_lists.wrongful,
        rep_mask,
        rep_wrongful,
    )
    reps = np.unique(firms.legal_rep[touched]).astype(np.int64)
    now = np.empty(len(reps), np.bool_)
    for q in range(len(reps)):
        now[q] = rep_mask[reps[q]] != 0
    return update_members(rep_ids, reps, now)
