"""Synthetic population: marginals follow the aggregate tables; graphs are consistent."""

from __future__ import annotations

import numpy as np
import pytest

from scslab.scenario.graphs import transpose
from scslab.scenario.loader import load_scenario
from scslab.scenario.population import build_population, estimated_bytes, resident_count
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.tables import city_table


@pytest.fixture(scope="module")
def pop():
    return build_population(PopulationSpec(), 60_000, seed=11)


def test_sizes(pop) -> None:
    spec = PopulationSpec()
    assert pop.n_residents == 60_000
    expected = round(60_000 * spec.enterprises_per_resident) + round(
        60_000 * spec.individual_businesses_per_resident
    )
    assert pop.n_enterprises == expected
    assert resident_count(spec, 1.0, None) == spec.residents_at_scale_1
    assert resident_count(spec, None, 1234) == 1234
    assert resident_count(spec, None, None) == round(spec.residents_at_scale_1 * 0.01)


def test_marginals_match_tables(pop) -> None:
    r = pop.residents
    table = city_table()
    census = np.array(list(table["districts"].values()), float)
    share = np.bincount(r.district, minlength=16) / len(r)
    assert np.abs(share - census / census.sum()).max() < 0.01
    ages = np.array(list(table["age_bands"].values()), float)
    assert np.abs(np.bincount(r.age_band, minlength=8) / len(r) - ages / ages.sum()).max() < 0.01
    assert abs(r.migrant.mean() - 0.385) < 0.02
    assert abs(r.male.mean() - table["male_share"]) < 0.01
    deciles = np.bincount(r.income_decile, minlength=10) / len(r)
    assert np.abs(deciles - 0.1).max() < 0.01
    assert abs(len(r) / (r.household.max() + 1) - 2.31) < 0.05
    # migrants are poorer on average in this synthetic city (ASSUMED gradient)
    assert r.income_decile[r.migrant].mean() < r.income_decile[~r.migrant].mean()


def test_households_are_contiguous_and_share_district(pop) -> None:
    r = pop.residents
    assert np.all(np.diff(r.household) >= 0)
    starts = np.flatnonzero(np.diff(r.household)) + 1
    same = r.district[1:] == r.district[:-1]
    within = np.ones(len(r) - 1, bool)
    within[starts - 1] = False
    assert same[within].all()


def test_enterprises(pop) -> None:
    e, r = pop.enterprises, pop.residents
    assert ((r.age_band[e.legal_rep] >= 2) & (r.age_band[e.legal_rep] <= 6)).all()
    assert (e.district == r.district[e.legal_rep]).all()
    employed = r.employer >= 0
    assert (np.bincount(r.employer[employed], minlength=len(e)) == e.employees).all()
    assert (r.sector[employed] == e.sector[r.employer[employed]]).all()
    # represented is the inverse of legal_rep
    for i in np.unique(e.legal_rep)[:200]:
        assert set(pop.represented.neighbours(i)) == set(np.flatnonzero(e.legal_rep == i))


def test_contacts(pop) -> None:
    r = pop.residents
    c = pop.contacts
    n = len(r)
    assert c.indptr[0] == 0 and c.indptr[-1] == len(c.indices)
    assert (c.indices >= 0).all() and (c.indices < n).all()
    src = np.repeat(np.arange(n), c.degree())
    assert (src != c.indices).all(), "no self-contacts"
    # household members are contacts of each other
    i = int(np.flatnonzero(np.bincount(r.household) >= 3)[0])
    members = np.flatnonzero(r.household == i)
    for m in members:
        assert set(members) - {m} <= set(c.neighbours(m))
    # the transpose holds exactly the reversed edges
    t = pop.contacts_of
    assert t.indptr[-1] == c.indptr[-1]
    fwd = np.sort(src.astype(np.int64) * n + c.indices)
    tsrc = np.repeat(np.arange(n), t.degree())
    back = np.sort(t.indices.astype(np.int64) * n + tsrc)
    assert (fwd == back).all()


def test_transpose_small() -> None:
    indptr = np.array([0, 2, 3, 3])
    indices = np.array([1, 2, 0], np.int32)
    t_ptr, t_idx = transpose(indptr, indices, 3)
    assert list(t_ptr) == [0, 1, 2, 3] and list(t_idx) == [1, 0, 0]


def test_deterministic() -> None:
    a = build_population(PopulationSpec(), 5000, seed=4)
    b = build_population(PopulationSpec(), 5000, seed=4)
    c = build_population(PopulationSpec(), 5000, seed=5)
    assert (a.contacts.indices == b.contacts.indices).all()
    assert (a.residents.income_decile == b.residents.income_decile).all()
    assert not (a.residents.income_decile == c.residents.income_decile).all()


def test_scs_ref_population_has_uniform_named_contacts() -> None:
    from tests.conftest import BENCHMARKS

    spec = load_scenario(BENCHMARKS / "scs-ref-1.yaml").population
    p = build_population(spec, 2000, seed=1)
    assert (p.contacts.degree() == 10).all()
    assert p.n_enterprises == 0
    for i in range(50):
        assert len(set(p.contacts.neighbours(i))) == 10


def test_memory_estimate_refuses_impossible_sizes() -> None:
    with pytest.raises(MemoryError, match="GiB"):
        build_population(PopulationSpec(), 10**11, seed=1)
    assert estimated_bytes(PopulationSpec(), 21_542_000) < 8 * 2**30


@pytest.mark.parametrize("shift", [1, 3, 14, 16])
def test_transpose_matches_reference_on_random_graph(shift: int) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    degree = rng.integers(0, 12, n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(degree, out=indptr[1:])
    indices = rng.integers(0, n, int(indptr[-1])).astype(np.int32)
    t_ptr, t_idx = transpose(indptr, indices, n, shift)
    # reference: a stable sort of the edges by target keeps sources ascending per target
    src = np.repeat(np.arange(n, dtype=np.int32), degree)
    order = np.argsort(indices, kind="stable")
    assert t_idx.dtype == np.int32 and t_ptr.dtype == np.int64
    assert (t_ptr == np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n))])).all()
    assert (t_idx == src[order]).all()
    # nodes with no edges, and an empty graph
    e_ptr, e_idx = transpose(np.zeros(4, np.int64), np.zeros(0, np.int32), 3)
    assert list(e_ptr) == [0, 0, 0, 0] and len(e_idx) == 0


def test_search_sorted_matches_numpy() -> None:
    from scslab.scenario.sampling import search_sorted

    rng = np.random.default_rng(5)
    for cdf in (
        np.cumsum(rng.pareto(1.2, 10_000) + 1.0),
        np.cumsum(np.where(rng.random(500) < 0.5, 0.0, rng.random(500))),  # flat runs
        np.array([0.2, 0.2, 0.7, 1.0]),
    ):
        x = rng.random(20_000)
        x[:4] = [0.0, 0.2 / cdf[-1], 0.7 / cdf[-1], np.nextafter(1.0, 0.0)]
        for right in (True, False):
            side = "right" if right else "left"
            got = search_sorted(cdf, x, float(cdf[-1]), right)
            assert (got == np.searchsorted(cdf, x * cdf[-1], side=side)).all()


@pytest.mark.parametrize("coworkers, friends", [(4, 8), (3, 5), (1, 0), (0, 2), (7, 3)])
def test_contacts_of_is_the_transpose(coworkers: int, friends: int) -> None:
    spec = PopulationSpec(coworker_contacts=coworkers, friends_per_resident=friends)
    p = build_population(spec, 4000, seed=2)
    c, t = p.contacts, p.contacts_of
    ref_ptr, ref_idx = transpose(c.indptr, c.indices, p.n_residents)
    assert (t.indptr == ref_ptr).all()
    n = p.n_residents
    rows = np.repeat(np.arange(n, dtype=np.int64), t.degree())
    assert (np.sort(rows * n + t.indices) == rows * n + ref_idx).all()


def test_income_model_is_the_scenarios() -> None:
    """The latent income's constants come from population.income: a larger migrant shift
    moves migrants down the deciles, and without education effects the decile no longer
    follows education; households share more of their income the larger their effect."""
    n = 20_000

    def residents(**income: object):
        spec = PopulationSpec.model_validate({"income": income})
        return build_population(spec, n, seed=3, check_memory=False).residents

    def migrant_gap(r) -> float:
        return float(r.income_decile[~r.migrant].mean() - r.income_decile[r.migrant].mean())

    def degree_gap(r) -> float:
        return float(
            r.income_decile[r.education == 2].mean() - r.income_decile[r.education == 0].mean()
        )

    def household_spread(r) -> float:
        """Mean spread of deciles within households of two or more."""
        sizes = np.bincount(r.household)
        big = sizes[r.household] >= 2
        lo = np.full(len(sizes), 9)
        hi = np.zeros(len(sizes), int)
        np.minimum.at(lo, r.household[big], r.income_decile[big])
        np.maximum.at(hi, r.household[big], r.income_decile[big])
        return float((hi - lo)[sizes >= 2].mean())

    default = residents()
    assert migrant_gap(residents(migrant_shift=-1.5)) > migrant_gap(default) + 1.0
    assert abs(migrant_gap(residents(migrant_shift=0.0, education_effect=[0, 0, 0]))) < 0.3
    assert degree_gap(default) > 1.0
    assert abs(degree_gap(residents(education_effect=[0.0, 0.0, 0.0]))) < 0.3
    assert household_spread(residents(household_sd=0.0)) > household_spread(default) + 1.0


def test_population_constants_are_validated() -> None:
    for bad in (
        {"household_size_mean": 3.0, "household_size_max": 2},
        {"income": {"household_sd": -0.1}},
        {"income": {"education_effect": [0.0, 0.6]}},
        {"income": {"migrant_shift": 9.0}},
        {"legal_rep_poorest_to_richest": 0.0},
    ):
        with pytest.raises(ValueError):
            PopulationSpec.model_validate(bad)
    assert PopulationSpec().legal_rep_weights() == list(np.arange(1.0, 11.0))


def test_households_keep_their_largest_size() -> None:
    """Sizes above household_size_max are counted at it, and the city still gets all its
    residents when the cap leaves households smaller than the mean asked for."""
    spec = PopulationSpec(household_size_mean=2.0, household_size_max=2)
    r = build_population(spec, 5_000, seed=2, check_memory=False).residents
    assert len(r) == 5_000 and np.bincount(r.household).max() == 2


def test_legal_representatives_follow_the_income_weights() -> None:
    def rep_deciles(ratio: float) -> np.ndarray:
        spec = PopulationSpec(legal_rep_poorest_to_richest=ratio)
        pop = build_population(spec, 20_000, seed=4, check_memory=False)
        return pop.residents.income_decile[pop.enterprises.legal_rep]

    richer = rep_deciles(0.1)
    even = rep_deciles(1.0)
    assert richer.mean() > 5.5  # weights 1 to 10: mean decile 6 among adults
    assert abs(even.mean() - 4.5) < 0.4
