"""A slow, plain-Python reference of the resident side of the daily loop.

It takes the records a fast run wrote (the stochastic input) and recomputes, one
resident and one day at a time with no numba and no vectorisation, everything that
follows from them deterministically: scores (drift, association penalty from listed
contacts, points, expiry, bounds), list membership (records, durations, extensions,
compliance exits, score rules) and wrongful flags. The counter-based draws for
compliance and extension are the engine's own pure function of (key, day, id), so the
two must agree exactly.
"""

from __future__ import annotations

import numpy as np

from scslab.rundir.run import Simulation
from scslab.streams import hash_uniform


def reference_residents(sim: Simulation) -> dict:
    """Replay the run of `sim` (already run) in plain Python; return daily and final state."""
    pop = sim.population
    assert pop is not None
    n = pop.n_residents
    kinds, lists = sim.state.kinds, sim.state.res.lists
    rules = sim.state.res.scorer.rules if sim.state.res.scorer else None
    contacts = [list(pop.contacts.neighbours(i)) for i in range(n)]
    log = sim.state.log.as_columns()
    resident_records = [r for r in range(len(log["kind"])) if kinds.subject[log["kind"][r]] == 0]
    by_day: dict[int, list[int]] = {}
    for r in resident_records:
        by_day.setdefault(int(log["effective_day"][r]), []).append(r)

    base = rules.base if rules else 0.0
    score = [np.float32(base)] * n
    err_pts = [np.float32(0.0)] * n
    mask = [0] * n
    wrongful = [0] * n
    extended = [0] * n
    until = [[0] * n for _ in lists.names]
    true_until = [[0] * n for _ in lists.names]
    expiring: dict[int, list[int]] = {}
    key = sim.state.list_key[0]
    black = lists.black_bits
    daily_listed = []
    for day in range(sim.days):
        # scoring: drift and association penalty from start-of-day listings
        if rules is not None:
            for i in range(n):
                listed_contacts = sum(1 for j in contacts[i] if mask[j] & black)
                s = base + rules.decay * (float(score[i]) - base)
                s -= rules.association_penalty * listed_contacts
                score[i] = np.float32(min(max(s, rules.min_score), rules.max_score))
                err_pts[i] = np.float32(float(err_pts[i]) * rules.decay)
        today = sorted(by_day.get(day, []))
        for r in today:
            i, k = int(log["subject"][r]), int(log["kind"][r])
            if rules is not None:
                pts = float(kinds.points[k])
                score[i] = np.float32(
                    min(max(float(score[i]) + pts, rules.min_score), rules.max_score)
                )
                if log["erroneous"][r]:
                    err_pts[i] = np.float32(float(err_pts[i]) + pts)
                if rules.expiry_days:
                    expiring.setdefault(day + rules.expiry_days, []).append(r)
        for r in expiring.pop(day, []):
            i, k = int(log["subject"][r]), int(log["kind"][r])
            pts = -float(kinds.points[k]) * rules.decay**rules.expiry_days
            score[i] = np.float32(min(max(float(score[i]) + pts, rules.min_score), rules.max_score))
            if log["erroneous"][r]:
                err_pts[i] = np.float32(float(err_pts[i]) + pts)
        # lists: records first, in order
        for r in today:
            i, k = int(log["subject"][r]), int(log["kind"][r])
            for b in range(len(lists.names)):
                if not (lists.kind_bits[k] >> b) & 1:
                    continue
                end = day + int(lists.duration[b])
                if not mask[i] >> b & 1:
                    mask[i] |= 1 << b
                    extended[i] &= ~(1 << b)
                    until[b][i] = end
                    true_until[b][i] = day
                else:
                    until[b][i] = max(until[b][i], end)
                if not log["erroneous"][r]:
                    true_until[b][i] = max(true_until[b][i], end)
                wrongful[i] = (
                    (wrongful[i] | (1 << b))
                    if true_until[b][i] <= day
                    else (wrongful[i] & ~(1 << b))
                )
        # then every resident: exits, extensions, score rules
        for i in range(n):
            for b in range(len(lists.names)):
                flag = 1 << b
                on = bool(mask[i] & flag)
                if lists.rule[b] == 0:
                    if not on:
                        continue
                    leave = False
                    if (
                        lists.daily_compliance[b] > 0
                        and hash_uniform(key, day, i * 16 + b) < lists.daily_compliance[b]
                    ):
                        leave = True
                    elif until[b][i] <= day:
                        if (
                            not extended[i] & flag
                            and lists.extension[b] > 0
                            and hash_uniform(key, day, i * 16 + 8 + b)
                            < lists.extension_probability[b]
                        ):
                            extended[i] |= flag
                            if true_until[b][i] >= until[b][i]:
                                true_until[b][i] = day + int(lists.extension[b])
                            until[b][i] = day + int(lists.extension[b])
                        else:
                            leave = True
                    if leave:
                        mask[i] &= ~flag
                        wrongful[i] &= ~flag
                    elif true_until[b][i] <= day:
                        wrongful[i] |= flag
                else:
                    s = float(score[i])
                    thr = lists.threshold[b]
                    holds = s < thr if lists.rule[b] == 1 else s >= thr
                    clean = s - float(err_pts[i])
                    clean_holds = clean < thr if lists.rule[b] == 1 else clean >= thr
                    if holds:
                        mask[i] |= flag
                        wrongful[i] = wrongful[i] & ~flag if clean_holds else wrongful[i] | flag
                    else:
                        mask[i] &= ~flag
                        wrongful[i] &= ~flag
        daily_listed.append(
            [sum(1 for i in range(n) if mask[i] >> b & 1) for b in range(len(lists.names))]
        )
    return {
        "score": np.array(score, np.float32),
        "mask": np.array(mask, np.uint8),
        "wrongful": np.array(wrongful, np.uint8),
        "daily_listed": np.array(daily_listed),
        "listed_contacts": np.array(
            [sum(1 for j in contacts[i] if mask[j] & black) for i in range(n)]
        ),
    }
