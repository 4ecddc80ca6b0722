"""Departments: they observe behaviour and turn it into records.

Each record kind has a base rate (events per subject per year at the reference
coverage) modulated by the subject's attributes and state. Events are sparse, so a day's
events are drawn by thinning: a Poisson number of candidates at the maximum rate, each
accepted with probability rate / max_rate; only those candidates are touched. A
department sees a share `coverage` of the events, writes each seen one as a record after
`delay_days`, and a share `error_rate` of its records name the wrong person.

Every draw comes from the record kind's counter-based stream (streams.hash_uniform with
the kind's key, the day and a counter), in compiled kernels: no random Generator is
made per kind and day, and the same kernels serve the engine's compiled days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.behaviour import Recovering, factor_at
from scslab.model.containers import Recovery
from scslab.model.records import RecordBatch
from scslab.scenario.rates import decile_multipliers, deterrence_factor
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import Eligibility
from scslab.scenario.tables import AGE_BANDS
from scslab.streams import hash_poisson, hash_uniform

SUBJECT_CODE = {"resident": 0, "enterprise": 1}
N_CLASSES = 32
"""Residents' eligibility classes: age band x 4 + employed x 2 + migrant (resident_classes)."""
NO_CLASSES = np.zeros(0, np.bool_)
NO_SUBJECT_CLASSES = np.zeros(0, np.uint8)
"""The eligibility classes of subjects that have none (enterprises)."""


class KindRule(NamedTuple):
    """One record kind's draws, as the compiled kernels read them (see RecordKinds)."""

    key: np.uint64  # the kind's random stream
    max_mult: float  # the thinning bound: the largest rate multiplier (thinning_bound)
    listed_multiplier: float  # rate multiplier of a blacklisted subject
    decile_multiplier: np.ndarray  # float64 [10]: rate multiplier by income decile
    migrant_multiplier: float  # rate multiplier of a migrant (no local hukou)
    eligible: np.ndarray  # bool [N_CLASSES]: the classes that can get it; empty: anyone
    coverage: float  # share of events the department records
    error_rate: float  # share of its records that name the wrong subject
    income_elasticity: float  # default risk elasticity of the income factor (0: none)


class Subjects(NamedTuple):
    """What the draws of records read about the subjects of one kind, by id (each of
    income_decile, migrant and subject_class empty when the subjects have none)."""

    list_mask: np.ndarray  # uint8: lists the subject is on at the start of the day
    black_bits: int  # which bits of list_mask are blacklists
    income_decile: np.ndarray  # uint8, 0 = poorest
    migrant: np.ndarray  # uint8, 1 = no local hukou
    subject_class: np.ndarray  # uint8, eligibility class (resident_classes)


NO_INCOME = Recovering(0, 1.0).arrays
"""The income of subjects that have none (enterprises)."""


def resident_classes(age_band: np.ndarray, sector: np.ndarray, migrant: np.ndarray) -> np.ndarray:
    """Each resident's eligibility class (uint8): age band x 4 + employed x 2 + migrant
    (worked out in uint8 throughout: no wider temporaries)."""
    klass = age_band.astype(np.uint8) * np.uint8(4)
    klass += (sector >= 0).view(np.uint8) * np.uint8(2)
    klass += migrant.astype(np.uint8, copy=False)
    return klass


def eligible_classes(eligible: Eligibility | None) -> np.ndarray:
    """bool [N_CLASSES]: the classes an eligibility admits (all without one)."""
    out = np.ones(N_CLASSES, np.bool_)
    if eligible is None:
        return out
    for c in range(N_CLASSES):
        band, employed, migrant = c // 4, (c // 2) % 2, c % 2
        if eligible.age_bands is not None and AGE_BANDS[band] not in eligible.age_bands:
            out[c] = False
        if eligible.employment != "any" and employed != (eligible.employment == "employed"):
            out[c] = False
        if eligible.hukou != "any" and migrant != (eligible.hukou == "migrant"):
            out[c] = False
    return out


# Counters of a record kind's stream on one day: candidates (two uniforms each), the
# records' coverage, error and wrong-person draws (three each), the Poisson count, and
# the further wrong-person draws of a kind some subjects cannot get (WRONG_PERSON_TRIES
# each).
CANDIDATES, OBSERVATIONS, COUNT, REDRAWS = 0, 1 << 40, 1 << 41, 3 << 40


@dataclass(frozen=True)
class RecordKinds:
    """The scenario's record kinds compiled to arrays (index = kind id)."""

    names: list[str]
    department_names: list[str]
    department: np.ndarray  # int16, index into department_names
    points: np.ndarray  # float64, score points
    subject: np.ndarray  # uint8, 0 resident, 1 enterprise
    from_posts: np.ndarray  # bool
    from_activity: np.ndarray  # bool, drawn from the attempts at an activity
    daily_rate: np.ndarray  # float64, events per subject per day, deterrence applied
    probability_per_post: np.ndarray  # float64
    decile_multiplier: np.ndarray  # float64 [kinds, 10]
    migrant_multiplier: np.ndarray  # float64
    listed_multiplier: np.ndarray  # float64
    income_sensitive: np.ndarray  # bool
    coverage: np.ndarray  # float64, of the kind's department
    error_rate: np.ndarray  # float64
    delay_days: np.ndarray  # int64
    eligible: np.ndarray  # bool [kinds, N_CLASSES]: who can get the record, by class
    restricted: np.ndarray  # bool: the kind has an eligibility (else anyone can get it)

    @classmethod
    def compile(cls, scenario: Scenario) -> RecordKinds:
        """Arrays of per-kind parameters for a scenario."""
        dept_names = list(scenario.departments)
        beh = scenario.behaviour
        rows = list(scenario.record_kinds())
        deps = [scenario.departments[d] for d, _, _ in rows]

        def arr(values: list, dtype: type) -> np.ndarray:
            return np.array(values, dtype=dtype)

        daily = []
        for dep, (_, _, kind) in zip(deps, rows, strict=True):
            deter = (
                deterrence_factor(dep.coverage, beh.reference_coverage, beh.deterrence_elasticity)
                if kind.points < 0
                else 1.0
            )
            daily.append(kind.rate_per_year / 365.0 * deter)
        return cls(
            names=[k for _, k, _ in rows],
            department_names=dept_names,
            department=arr([dept_names.index(d) for d, _, _ in rows], np.int16),
            points=arr([k.points for _, _, k in rows], np.float64),
            subject=arr([SUBJECT_CODE[k.subject] for _, _, k in rows], np.uint8),
            from_posts=arr([k.source == "posts" for _, _, k in rows], np.bool_),
            from_activity=arr([k.source == "activity" for _, _, k in rows], np.bool_),
            daily_rate=arr(daily, np.float64),
            probability_per_post=arr([k.probability_per_post for _, _, k in rows], np.float64),
            decile_multiplier=np.array(
                [decile_multipliers(k.poorest_to_richest) for _, _, k in rows], np.float64
            ).reshape(len(rows), 10),
            migrant_multiplier=arr([k.migrant_multiplier for _, _, k in rows], np.float64),
            listed_multiplier=arr([k.listed_multiplier for _, _, k in rows], np.float64),
            income_sensitive=arr([k.income_sensitive for _, _, k in rows], np.bool_),
            coverage=arr([d.coverage for d in deps], np.float64),
            error_rate=arr([d.error_rate for d in deps], np.float64),
            delay_days=arr([d.delay_days for d in deps], np.int64),
            eligible=np.array([eligible_classes(k.eligible) for _, _, k in rows], np.bool_).reshape(
                len(rows), N_CLASSES
            ),
            restricted=arr([k.eligible is not None for _, _, k in rows], np.bool_),
        )

    def eligible_of(self, k: int) -> np.ndarray:
        """The classes that can get a record of kind k, or an empty array when anyone can
        (the draws then skip the check)."""
        return self.eligible[k] if self.restricted[k] else NO_CLASSES

    def rule(
        self, k: int, key: np.uint64, max_mult: float, income_elasticity: float = 0.0
    ) -> KindRule:
        """Kind k's draws from stream `key` with thinning bound max_mult (no unit), the
        rate raised by income_elasticity as income falls (0: not at all)."""
        return KindRule(
            key,
            max_mult,
            float(self.listed_multiplier[k]),
            self.decile_multiplier[k],
            float(self.migrant_multiplier[k]),
            self.eligible_of(k),
            float(self.coverage[k]),
            float(self.error_rate[k]),
            income_elasticity,
        )

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class SubjectView:
    """What departments may read about the subjects of one kind (residents or enterprises)."""

    n: int
    income_decile: np.ndarray | None  # uint8, residents only
    migrant: np.ndarray | None  # bool, residents only
    list_mask: np.ndarray  # uint8: lists the subject is on at the start of the day
    black_bits: int  # which bits of list_mask are blacklists
    income: Recovery | None  # income left (1 = all), by id (behaviour.Recovering's arrays)
    income_factor_floor: float  # the lowest an income factor can go
    subject_class: np.ndarray | None = None  # uint8, residents' eligibility class


def observe(
    kinds: RecordKinds,
    k: int,
    day: int,
    actors: np.ndarray,
    view: SubjectView,
    key: np.uint64,
) -> RecordBatch:
    """Turn behaviour events of `day` by `actors` (subjects of `view`) into records:
    coverage, errors and delay applied (draws from stream `key`, see observed)."""
    classes = view.subject_class if view.subject_class is not None else NO_SUBJECT_CLASSES
    subject, actor, erroneous = observed(kinds.rule(k, key, 1.0), day, actors, view.n, classes)
    return RecordBatch(
        kind=k,
        day=day,
        effective_day=day + int(kinds.delay_days[k]),
        subject=subject,
        actor=actor,
        erroneous=erroneous,
    )


WRONG_PERSON_TRIES = 64
"""Draws of a wrong person among those the record kind can name before the first such
subject after the last draw is taken (with 3 in 4 eligible, 64 draws all miss with
probability 10^-39)."""


@kernel(inner=True, inline="always")  # per event, and too large for LLVM to inline by itself
def observation(
    key: np.uint64, coverage: float, error_rate: float, day: int, p: int, a: int, n: int
) -> tuple[bool, int, bool]:
    """(seen, subject, erroneous) of the record of event p of the day (by actor a) with
    the kind's stream, coverage and error rate, among n subjects: see observed. A wrong
    subject is drawn among all others; the caller then draws it among those the kind
    can name (eligible_other). (Numbers, not the KindRule: a tuple of arrays bound
    once per event costs a reference count per array.)"""
    c = OBSERVATIONS + 3 * p
    if coverage < 1.0 and hash_uniform(key, day, c) >= coverage:
        return False, a, False
    err = error_rate > 0.0 and hash_uniform(key, day, c + 1) < error_rate
    subject = a
    if err and n > 1:
        shift = 1 + min(int(hash_uniform(key, day, c + 2) * (n - 1)), n - 2)
        subject = (a + shift) % n
    return True, subject, err


@kernel(inner=True)
def eligible_other(
    key: np.uint64,
    eligible: np.ndarray,
    day: int,
    p: int,
    a: int,
    drawn: int,
    n: int,
    subject_class: np.ndarray,
) -> int:
    """The wrong person of event p's record (by actor a) among the subjects a kind can
    name (eligible[subject_class[i]]): `drawn` if it can be, else another uniformly
    drawn other subject, up to WRONG_PERSON_TRIES draws (counters REDRAWS + p *
    WRONG_PERSON_TRIES + t of the kind's stream `key` on `day`), then the first such
    subject after the last draw (a if none)."""
    subject = drawn
    for t in range(WRONG_PERSON_TRIES):
        if eligible[subject_class[subject]]:
            return subject
        u = hash_uniform(key, day, REDRAWS + p * WRONG_PERSON_TRIES + t)
        subject = (a + 1 + min(int(u * (n - 1)), n - 2)) % n
    for _ in range(n):
        if eligible[subject_class[subject]] and subject != a:
            return subject
        subject = (subject + 1) % n
    return a


@kernel
def observed(
    kind: KindRule, day: int, actors: np.ndarray, n_subjects: int, subject_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subject, actor, erroneous) of the records the department writes about the
    events of `actors` on `day` (see observed_into)."""
    m = len(actors)
    out = (np.empty(m, np.int32), np.empty(m, np.int32), np.empty(m, np.bool_))
    r = observed_into(kind, day, actors, n_subjects, subject_class, out)
    return out[0][:r], out[1][:r], out[2][:r]


@kernel(inner=True)
def observed_into(
    kind: KindRule,
    day: int,
    actors: np.ndarray,
    n_subjects: int,
    subject_class: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """The records the department writes about the events of `actors` on `day`, into
    out = (subject, actor, erroneous) (each at least len(actors) long); returns how
    many. Each event is seen with probability kind.coverage, and a seen one names the
    wrong subject (a uniformly drawn other one, among those the kind can name:
    kind.eligible by subject_class) with probability kind.error_rate. Draws: counters
    OBSERVATIONS + 3p.. of (kind.key, day) for actors[p]."""
    subject, actor, erroneous = out
    key, coverage, error_rate = kind.key, kind.coverage, kind.error_rate
    restricted = len(kind.eligible) > 0
    r = 0
    for p in range(len(actors)):
        a = actors[p]
        seen, named, err = observation(key, coverage, error_rate, day, p, a, n_subjects)
        if err and restricted and n_subjects > 1:  # (the wrong person: one it can name)
            named = eligible_other(key, kind.eligible, day, p, a, named, n_subjects, subject_class)
        if seen:
            actor[r], subject[r], erroneous[r] = actors[p], named, err
            r += 1
    return r


@kernel
def flagged_into(
    kind: KindRule,
    day: int,
    delay_days: int,
    actors: np.ndarray,
    subjects: Subjects,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[int, int, int]:
    """The records made on `day` of the attempts of `actors` flagged the day before
    (posts the speech department screens, attempts at the activities record kinds come
    from; one entry per attempt) about the len(subjects.list_mask) subjects: observed_into
    on `day - 1` (the attempts' day). Returns (how many records, their day, the day they
    take effect: `delay_days` after the attempt, and no earlier than `day`)."""
    n = len(subjects.list_mask)
    m = observed_into(kind, day - 1, actors, n, subjects.subject_class, out)
    return m, day - 1, max(day - 1 + delay_days, day)


def observe_flagged(
    kinds: RecordKinds,
    k: int,
    day: int,
    actors: np.ndarray,
    view: SubjectView,
    key: np.uint64,
) -> RecordBatch:
    """Records of kind k made on `day` of the attempts of `actors` flagged the day
    before (see flagged_into; draws from stream `key`)."""
    none = np.zeros(0, np.uint8)
    classes = view.subject_class if view.subject_class is not None else NO_SUBJECT_CLASSES
    subjects = Subjects(view.list_mask, view.black_bits, none, none, classes)
    m = len(actors)
    out = (np.empty(m, np.int32), np.empty(m, np.int32), np.empty(m, np.bool_))
    r, seen, effective = flagged_into(
        kinds.rule(k, key, 1.0), day, int(kinds.delay_days[k]), actors, subjects, out
    )
    return RecordBatch(
        kind=k,
        day=seen,
        effective_day=effective,
        subject=out[0][:r],
        actor=out[1][:r],
        erroneous=out[2][:r],
    )


@kernel
def candidate_count(key: np.uint64, day: int, mean: float) -> int:
    """The Poisson(mean) number of candidate events of `day` (see candidates)."""
    return hash_poisson(key, day, np.int64(COUNT), mean)  # (int64 as attempts.py's calls)


@kernel(inner=True)
def candidate_at(key: np.uint64, day: int, j: int, n: int, max_mult: float) -> tuple[int, float]:
    """(id, draw) of candidate j of the day: see candidates."""
    i = min(int(hash_uniform(key, day, CANDIDATES + 2 * j) * n), n - 1)
    return i, hash_uniform(key, day, CANDIDATES + 2 * j + 1) * max_mult


@kernel
def candidates(
    key: np.uint64, day: int, n: int, mean: float, max_mult: float
) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson(mean) number of candidate events on `day`, each by a uniformly drawn one
    of n subjects, with a uniform draw on [0, max_mult) for thinning: (ids, draws)."""
    m = candidate_count(key, day, mean)
    cand = np.empty(m, np.int64)
    u = np.empty(m)
    for j in range(m):
        cand[j], u[j] = candidate_at(key, day, j, n, max_mult)
    return cand, u


def thinning_bound(
    kinds: RecordKinds, k: int, view: SubjectView, default_risk_elasticity: float
) -> tuple[float, bool]:
    """The largest rate multiplier of kind k over the subjects of `view` (no unit: the
    thinning's maximum rate is daily_rate[k] times it), and whether the income feedback
    on default risk applies to the kind."""
    max_mult = max(1.0, kinds.listed_multiplier[k])
    if view.income_decile is not None:
        max_mult *= kinds.decile_multiplier[k].max()
    if view.migrant is not None:
        max_mult *= max(1.0, kinds.migrant_multiplier[k])
    feedback = bool(kinds.income_sensitive[k]) and default_risk_elasticity > 0.0
    if feedback:
        max_mult *= view.income_factor_floor ** (-default_risk_elasticity)
    return float(max_mult), feedback


def draw_behaviour(
    kinds: RecordKinds,
    k: int,
    day: int,
    view: SubjectView,
    default_risk_elasticity: float,
    key: np.uint64,
) -> np.ndarray:
    """Ids of the subjects who commit behaviour of kind k today (drawn by thinning from
    stream `key`)."""
    base = kinds.daily_rate[k]
    if base <= 0.0 or view.n == 0:
        return np.zeros(0, np.int64)
    max_mult, feedback = thinning_bound(kinds, k, view, default_risk_elasticity)
    # A Poisson count per subject-day, thinned: an event with probability ~ rate.
    cand, u = candidates(key, day, view.n, view.n * base * max_mult, max_mult)
    none = np.zeros(0, np.uint8)
    subjects = Subjects(
        view.list_mask,
        view.black_bits,
        none if view.income_decile is None else view.income_decile,
        none if view.migrant is None else view.migrant.view(np.uint8),
        none if view.subject_class is None else view.subject_class,
    )
    elasticity = default_risk_elasticity if feedback and view.income is not None else 0.0
    rule = kinds.rule(k, key, max_mult, elasticity)
    return _accepted(
        cand, u, subjects, rule, NO_INCOME if view.income is None else view.income, day
    )


@kernel(inner=True)
def _multiplier(
    i: int,
    list_mask: np.ndarray,
    black_bits: int,
    income_decile: np.ndarray,
    migrant: np.ndarray,
    listed_multiplier: float,
    decile_multiplier: np.ndarray,
    migrant_multiplier: float,
) -> float:
    """Subject i's rate multiplier (no unit): blacklisted, income decile, migrant (each
    left out when its array is empty): the Subjects' arrays and the KindRule's
    multipliers, taken out of them once per day (a tuple of arrays bound once per
    candidate costs a reference count per array)."""
    mult = listed_multiplier if list_mask[i] & black_bits else 1.0
    if len(income_decile):
        mult *= decile_multiplier[income_decile[i]]
    if len(migrant):
        mult *= migrant_multiplier if migrant[i] else 1.0
    return mult


@kernel(inner=True)
def income_multiplier(i: int, income: Recovery, elasticity: float, day: int) -> float:
    """Subject i's rate multiplier from the income feedback on `day` (kinds with an
    income elasticity only): its income factor to the power -elasticity."""
    return factor_at(income, i, day) ** (-elasticity)


@kernel
def _accepted(
    cand: np.ndarray,
    u: np.ndarray,
    subjects: Subjects,
    kind: KindRule,
    income: Recovery,
    day: int,
) -> np.ndarray:
    """The candidates cand[j] accepted by thinning: u[j] (uniform on [0, max multiplier))
    below the candidate's rate multiplier (blacklisted, income decile, migrant: each left
    out when its array is empty; the income feedback of `day`, the subject's `income`
    factor to the power -kind.income_elasticity, when that is above 0); none whose class
    subject_class[i]
    the kind's `eligible` (bool by class; empty: anyone) leaves out. Reads only the
    kind's multipliers and eligibility."""
    out = np.empty(len(cand), np.int64)
    m = 0
    list_mask, black_bits, income_decile, migrant, subject_class = subjects
    listed_mult, decile_mult, migrant_mult = (
        kind.listed_multiplier,
        kind.decile_multiplier,
        kind.migrant_multiplier,
    )
    eligible = kind.eligible
    restricted = len(eligible) > 0
    feedback = kind.income_elasticity > 0.0
    for j in range(len(cand)):
        i = cand[j]
        if restricted and not eligible[subject_class[i]]:
            continue  # (its rate multiplier is 0: never accepted)
        mult = _multiplier(
            i, list_mask, black_bits, income_decile, migrant, listed_mult, decile_mult, migrant_mult
        )
        if feedback:
            mult *= income_multiplier(i, income, kind.income_elasticity, day)
        if u[j] < mult:
            out[m] = i
            m += 1
    return out[:m]
