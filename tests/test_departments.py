"""Departments: thinning draws events at the stated rates; coverage, errors, delay."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from scslab.engine.compiled_departments import day_candidates, departments_day
from scslab.engine.containers import Flagged, KindTable
from scslab.engine.growth import grow_log
from scslab.model.behaviour import Recovering
from scslab.model.departments import (
    N_CLASSES,
    KindRule,
    RecordKinds,
    Subjects,
    SubjectView,
    _accepted,
    candidate_count,
    candidates,
    decile_multipliers,
    deterrence_factor,
    draw_behaviour,
    observe,
    observed,
)
from scslab.model.records import RecordLog
from scslab.scenario.loader import builtin_text, parse_scenario
from scslab.streams import stream_key


def scenario(**kind):
    """beijing-2018 with judgment defaults of `kind`, open to every resident (the views
    below carry no classes of residents: eligibility has its own tests)."""
    data = yaml.safe_load(builtin_text("beijing-2018"))
    data["departments"]["courts"]["records"]["judgment_default"].pop("eligible")
    data["departments"]["courts"]["records"]["judgment_default"].update(kind)
    return parse_scenario(yaml.safe_dump(data))


def view(n, mask=None, deciles=None, migrant=None):
    return SubjectView(
        n=n,
        income_decile=deciles,
        migrant=migrant,
        list_mask=np.zeros(n, np.uint8) if mask is None else mask,
        black_bits=1,
        income=None,
        income_factor_floor=0.5,
    )


def test_decile_multipliers() -> None:
    m = decile_multipliers(4.0)
    assert m.mean() == pytest.approx(1.0)
    assert m[0] / m[-1] == pytest.approx(4.0)
    assert np.allclose(decile_multipliers(1.0), 1.0)


def test_deterrence() -> None:
    assert deterrence_factor(0.5, 0.5, 0.3) == 1.0
    assert deterrence_factor(1.0, 0.5, 0.3) == pytest.approx(2**-0.3)
    assert deterrence_factor(0.9, 0.5, 0.0) == 1.0


def test_thinning_rate_and_multipliers() -> None:
    sc = scenario(rate_per_year=36.5, listed_multiplier=3.0, poorest_to_richest=1.0)
    kinds = RecordKinds.compile(sc)
    k = kinds.names.index("judgment_default")
    beh = sc.behaviour
    deter = deterrence_factor(0.95, beh.reference_coverage, beh.deterrence_elasticity)
    n = 20_000
    mask = np.zeros(n, np.uint8)
    mask[: n // 2] = 1  # first half blacklisted
    counts = np.zeros(n)
    days = 60
    for day in range(days):
        ids = draw_behaviour(kinds, k, day, view(n, mask), 0.0, stream_key(1, "t"))
        counts += np.bincount(ids, minlength=n)
    per_day = counts / days
    assert per_day[n // 2 :].mean() == pytest.approx(0.1 * deter, rel=0.03)
    assert per_day[: n // 2].mean() == pytest.approx(0.3 * deter, rel=0.03)


def test_income_gradient() -> None:
    sc = scenario(rate_per_year=36.5, poorest_to_richest=4.0)
    kinds = RecordKinds.compile(sc)
    k = kinds.names.index("judgment_default")
    n = 50_000
    deciles = (np.arange(n) % 10).astype(np.uint8)
    ids = np.concatenate(
        [
            draw_behaviour(kinds, k, d, view(n, deciles=deciles), 0.0, stream_key(2, "t"))
            for d in range(20)
        ]
    )
    per = np.bincount(deciles[ids], minlength=10)
    assert per[0] / per[9] == pytest.approx(4.0, rel=0.1)


def test_observe_coverage_errors_delay() -> None:
    sc = scenario()
    kinds = RecordKinds.compile(sc)
    k = kinds.names.index("judgment_default")
    actors = np.arange(200_000) % 1000
    batch = observe(kinds, k, 5, actors, view(1000), stream_key(3, "t"))
    assert len(batch) == pytest.approx(0.95 * len(actors), rel=0.01)
    assert batch.erroneous.mean() == pytest.approx(0.01, abs=0.002)
    assert (batch.subject[~batch.erroneous] == batch.actor[~batch.erroneous]).all()
    assert (batch.subject[batch.erroneous] != batch.actor[batch.erroneous]).all()
    assert batch.effective_day == 5 + 30


@pytest.mark.parametrize("with_income", [False, True])
@pytest.mark.parametrize("residents", [True, False])
def test_accepted_is_the_thinning_rule(with_income: bool, residents: bool) -> None:
    """A candidate is accepted when its uniform draw is below the product of its
    multipliers (blacklisted, income decile, migrant, income feedback; enterprises have
    no decile or migrant status)."""
    rng = np.random.default_rng(11)
    n, m = 500, 4000
    mask = rng.integers(0, 4, n).astype(np.uint8)
    decile = rng.integers(0, 10, n).astype(np.uint8)
    migrant = rng.random(n) < 0.3
    deciles = rng.uniform(0.5, 2.0, 10)
    cand = rng.integers(0, n, m)
    u = rng.random(m) * 5.0
    income = Recovering(n, half_life_days=20.0, floor=0.3)
    income.shock(np.flatnonzero(rng.random(n) < 0.5), 2, 0.6)
    elasticity = 0.8 if with_income else 0.0
    if not residents:
        decile, migrant = np.zeros(0, np.uint8), np.zeros(0, bool)
    none = (np.zeros(0, bool), np.zeros(0, np.uint8))  # no eligibility
    subjects = Subjects(mask, 0b10, decile, migrant.view(np.uint8), none[1])
    kind = KindRule(np.uint64(0), 5.0, 1.7, deciles, 1.3, none[0], 1.0, 0.0, elasticity)
    got = _accepted(cand, u, subjects, kind, income.arrays, 9)
    mult = np.where((mask[cand] & 0b10) != 0, 1.7, 1.0)
    if residents:
        mult *= deciles[decile[cand]]
        mult *= np.where(migrant[cand], 1.3, 1.0)
    if with_income:
        mult *= income.at(cand, 9) ** -elasticity
    assert got.tolist() == cand[u < mult].tolist()


@pytest.mark.parametrize("coverage, error_rate", [(1.0, 0.0), (0.6, 0.2), (0.0, 0.5)])
@pytest.mark.parametrize("residents", [True, False])
@pytest.mark.parametrize("restricted", [False, True])
def test_departments_day_writes_the_records_of_the_three_steps(
    coverage: float, error_rate: float, residents: bool, restricted: bool
) -> None:
    """departments_day (the compiled days' departments, allocating nothing) writes, day
    by day, exactly the records that candidates, _accepted and observed give, in order,
    with their day, kind, delay and status (the enterprises' kinds without the income
    feedback)."""
    rng = np.random.default_rng(3)
    n = 2000
    mask = rng.integers(0, 4, n).astype(np.uint8)
    decile = rng.integers(0, 10, n).astype(np.uint8) if residents else np.zeros(0, np.uint8)
    migrant = (rng.random(n) < 0.3).view(np.uint8) if residents else np.zeros(0, np.uint8)
    deciles = decile_multipliers(3.0)
    key, max_mult = stream_key(9, "records:kind"), 1.7 * deciles.max() * 1.4
    classes = rng.integers(0, N_CLASSES, n).astype(np.uint8)
    elig = (rng.random(N_CLASSES) < 0.5) if restricted else np.ones(N_CLASSES, bool)
    income = Recovering(n, half_life_days=20.0, floor=0.5)  # the feedback's bound: 1.4
    income.shock(np.flatnonzero(rng.random(n) < 0.3), 0, 0.5)
    max_mult *= 0.5**-0.5
    elasticity = 0.5 if residents else 0.0
    mean = n * 0.01 * max_mult
    one = np.ones(1)
    table = KindTable(
        np.array([key], np.uint64),
        np.array([mean]),
        np.array([max_mult]),
        1.7 * one,
        deciles.reshape(1, 10),
        1.4 * one,
        coverage * one,
        error_rate * one,
        -10.0 * one,
        np.zeros(1, np.int64),
        np.ones(1, np.int64),
        elig.reshape(1, N_CLASSES),
        np.array([restricted]),
        np.array([3], np.int64),
        np.zeros(1, np.int64),
        np.zeros(1, np.uint8),
        np.array([0 if residents else 1], np.uint8),
    )
    subjects = Subjects(mask, 0b10, decile, migrant, classes)
    nobody = Subjects(np.zeros(0, np.uint8), 0, *[np.zeros(0, np.uint8)] * 3)
    sides = (subjects, nobody) if residents else (nobody, subjects)
    no_flags = Flagged(np.zeros(0, np.int64), np.zeros(1, np.int64))
    records, written = RecordLog(8).kernel_columns(), 0  # (grown as it fills)
    of_kind = np.array([-1])
    for day in range(40):
        cand, u = candidates(key, day, n, mean, max_mult)
        eligible = elig if restricted else np.zeros(0, bool)
        kind = KindRule(
            key, max_mult, 1.7, deciles, 1.4, eligible, coverage, error_rate, elasticity
        )
        actors = _accepted(cand, u, subjects, kind, income.arrays, day)
        if restricted:
            assert elig[classes[actors]].all()
        expect = observed(kind, day, actors, n, classes)
        if restricted:  # the wrong person too is one the kind can name
            assert elig[classes[expect[0]]].all()
        assert candidate_count(key, day, mean) == len(cand)
        most = np.full(1, -7, np.int64)  # (day_candidates writes it whole)
        need = written + day_candidates(day, table.key, table.mean, of_kind, no_flags.indptr, most)
        records = grow_log(records, written, need)
        now = departments_day(
            day,
            table,
            *sides,
            income.arrays,
            np.array([elasticity]),
            of_kind,
            no_flags,
            records,
            written,
            most,
        )
        got = now - written
        assert got == len(expect[0])
        columns = (records.subject, records.actor, records.erroneous)
        for column, want in zip(columns, expect, strict=True):
            assert column[written:now].tolist() == want.tolist()
        assert (records.day[written:now] == day).all()
        assert (records.effective_day[written:now] == day + 3).all()
        assert (records.kind[written:now] == 0).all() and (records.status[written:now] == 0).all()
        written = now
    assert written > 100 or coverage == 0.0


def test_the_wrong_person_is_always_another_eligible_subject() -> None:
    """With one eligible subject among 50 (so that the redraws mostly miss and the walk
    after them decides), every record about the wrong person names that subject, never
    the actor, whichever subject the walk starts from."""
    n, only = 50, 7
    classes = np.zeros(n, np.uint8)
    classes[only] = 1
    eligible = np.zeros(N_CLASSES, bool)
    eligible[1] = True
    kind = KindRule(stream_key(11, "t"), 1.0, 1.0, np.ones(10), 1.0, eligible, 1.0, 1.0, 0.0)
    actors = np.full(20_000, 20, np.int32)
    subject, _, erroneous = observed(kind, 3, actors, n, classes)
    assert erroneous.all() and (subject == only).all()
    alone = np.full(200, only, np.int32)  # the only eligible subject is the actor
    subject, _, erroneous = observed(kind, 3, alone, n, classes)
    assert erroneous.all() and (subject == only).all()  # no one else: it names the actor
