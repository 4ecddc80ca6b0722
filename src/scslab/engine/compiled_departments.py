"""The departments' phase of compiled days (engine/compiled.py run_days): the records of
a day, every record kind's, in one call.

One call a day, not one per kind: a kind's draws read some fifteen arrays, here bound
once a day and read by kind index; the candidates' loop is
model/departments.py's thinning (candidates, _accepted, observed) with nothing
allocated, the same draws and the same records (tests/test_departments.py); the fields
of the candidate AHEAD places on are prefetched. The day's room in the record log is found
first (day_candidates), so that the caller grows the log, rarely, and departments_day
returns a count, not the log's columns."""

from __future__ import annotations

import numpy as np

from scslab.engine.containers import Flagged, KindTable
from scslab.kernelcache import kernel
from scslab.model.containers import Recovery
from scslab.model.departments import (
    KindRule,
    Subjects,
    candidate_at,
    candidate_count,
    eligible_other,
    flagged_into,
    income_multiplier,
    observation,
)
from scslab.model.prefetch import AHEAD, prefetch
from scslab.model.records import PENDING, LogColumns


@kernel
def day_candidates(
    day: int,
    key: np.ndarray,
    mean: np.ndarray,
    of_kind: np.ndarray,
    flagged_indptr: np.ndarray,
    most: np.ndarray,
) -> int:
    """most[k] = the most records of kind k on `day` (KindTable's key and mean, of_kind
    and Flagged.indptr as departments_day reads them): its Poisson number of candidates,
    or the attempts of its flag kind flagged the day before. Returns their sum."""
    total = 0
    for k in range(len(key)):
        f = of_kind[k]  # records of yesterday's flagged attempts (f >= 0)
        most[k] = 0
        if f >= 0:
            most[k] = flagged_indptr[f + 1] - flagged_indptr[f] if day > 0 else 0
        elif mean[k] > 0.0:
            most[k] = candidate_count(key[k], day, mean[k])
        total += most[k]
    return total


@kernel
def departments_day(
    day: int,
    kinds: KindTable,
    residents: Subjects,
    firms: Subjects,
    income: Recovery,
    income_elasticity: np.ndarray,
    of_kind: np.ndarray,
    flagged: Flagged,
    records: LogColumns,
    n_records: int,
    most: np.ndarray,
) -> int:
    """The records of `day`, kind by kind, about the residents or the enterprises
    (kinds.subject) as their lists stand at the start of the day, written to the record
    log from n_records on. A kind drawn from behaviour (of_kind[k] -1): a Poisson number
    of candidates (kinds.mean a day) thinned by each one's rate multiplier (blacklisted,
    income decile, migrant; the residents' `income` factor to the power
    -income_elasticity[k]; none the kind cannot name, kinds.eligible), then observed
    (coverage, errors); effective kinds.delay days later. A kind made of the attempts
    flagged the day before (of_kind[k] >= 0: flagged's ids of that flag kind):
    departments.flagged_into. most: each kind's most records of the day
    (day_candidates), for which the log has room from n_records on. Returns how many of
    the log's entries are used."""
    key, max_mult = kinds.key, kinds.max_mult
    listed_mult, decile_mult, migrant_mult = (
        kinds.listed_multiplier,
        kinds.decile_multiplier,
        kinds.migrant_multiplier,
    )
    coverage, error_rate, eligible, restricted = (
        kinds.coverage,
        kinds.error_rate,
        kinds.eligible,
        kinds.restricted,
    )
    delay, kind_subject = kinds.delay, kinds.subject
    res_mask, res_black, income_decile, migrant, subject_class = residents
    firm_mask, firm_black, firm_classes = firms.list_mask, firms.black_bits, firms.subject_class
    (
        record_day,
        effective_day,
        record_kind,
        subject,
        actor,
        erroneous,
        status,
        end_day,
        notice_day,
        appeal_day,
        decision_day,
    ) = records
    for k in range(len(key)):
        f = of_kind[k]
        if most[k] == 0:
            continue
        seen, when, m = day, day + delay[k], 0
        if f >= 0:
            who = flagged.ids[flagged.indptr[f] : flagged.indptr[f + 1]]
            kind = KindRule(
                key[k],
                max_mult[k],
                listed_mult[k],
                decile_mult[k],
                migrant_mult[k],
                eligible[k] if restricted[k] else eligible[k][:0],
                coverage[k],
                error_rate[k],
                0.0,
            )
            written = (subject[n_records:], actor[n_records:], erroneous[n_records:])
            m, seen, when = flagged_into(kind, day, delay[k], who, residents, written)
        else:
            about_firms = kind_subject[k] != 0
            mask = firm_mask if about_firms else res_mask
            black_bits = firm_black if about_firms else res_black
            classes = firm_classes if about_firms else subject_class
            n = len(mask)
            elasticity = 0.0 if about_firms else income_elasticity[k]
            accepted = int(np.int64(0))  # (not a literal: as model/departments.py calls)
            for j in range(most[k]):
                if j + AHEAD < most[k]:  # (the fields read below, of the candidate AHEAD on)
                    c = candidate_at(key[k], day, j + AHEAD, n, max_mult[k])[0]
                    prefetch(mask, c)
                    if restricted[k]:
                        prefetch(classes, c)
                    if not about_firms:
                        if len(income_decile):
                            prefetch(income_decile, c)
                        if len(migrant):
                            prefetch(migrant, c)
                    if elasticity > 0.0:
                        prefetch(income.value, c)
                i, u = candidate_at(key[k], day, j, n, max_mult[k])
                if restricted[k] and not eligible[k, classes[i]]:
                    continue  # (its rate multiplier is 0: never accepted)
                mult = listed_mult[k] if mask[i] & black_bits else 1.0
                if not about_firms:
                    if len(income_decile):
                        mult *= decile_mult[k, income_decile[i]]
                    if len(migrant):
                        mult *= migrant_mult[k] if migrant[i] else 1.0
                if elasticity > 0.0:
                    mult *= income_multiplier(i, income, elasticity, day)
                if u < mult:
                    p = accepted
                    accepted += 1
                    seen_it, named, err = observation(
                        key[k], coverage[k], error_rate[k], day, p, i, n
                    )
                    if err and restricted[k] and n > 1:  # (the wrong person: one it can name)
                        named = eligible_other(key[k], eligible[k], day, p, i, named, n, classes)
                    if seen_it:
                        r = n_records + m
                        actor[r], subject[r], erroneous[r] = i, named, err
                        m += 1
        for r in range(n_records, n_records + m):  # (a loop: no views made)
            record_day[r] = seen
            effective_day[r] = when
            notice_day[r] = appeal_day[r] = decision_day[r] = -1
            record_kind[r] = k
            status[r] = PENDING
            end_day[r] = -1
        n_records += m
    return n_records
