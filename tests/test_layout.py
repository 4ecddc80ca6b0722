"""resident_layout: the residents' cells, classes and groups that a run sets up, in one
pass, are the arrays of the functions that define them (departments.resident_classes,
activities.eligibility_class and ResidentGroups.of, StateCollector)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab import Simulation
from scslab.engine.collectors import StateCollector
from scslab.engine.state import resident_layout
from scslab.model.activities import ResidentGroups, eligibility_class
from scslab.model.departments import resident_classes
from scslab.scenario.people import Residents


def assert_layout_of(r: Residents, n_districts: int) -> None:
    n_cells = 20 * n_districts
    got = resident_layout(r, n_cells)
    cell = (r.district.astype(np.int16) * 20 + r.migrant * 10 + r.income_decile).astype(np.int16)
    klass = eligibility_class(r.age_band, r.parent)
    groups = ResidentGroups.of(cell, n_cells, r.income_decile, klass)
    collector = StateCollector(cell, n_cells, 200)
    expected = [
        (got.cell, cell),
        (got.counted[0], collector.cell),
        (got.counted[1], collector.cell_count),
        (got.subject_class, resident_classes(r.age_band, r.sector, r.migrant)),
        (got.groups.klass, klass),
        (got.groups.group, groups.group),
        (got.groups.size, groups.size),
        (got.groups.cell, groups.cell),
        (got.groups.income_decile, groups.income_decile),
    ]
    for k, (a, b) in enumerate(expected):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k


@pytest.mark.parametrize(
    ("scenario", "residents", "seed"), [("beijing-2018", 20_000, 3), ("rongcheng", 5_000, 1)]
)
def test_the_layout_of_a_city_is_the_functions_arrays(
    scenario: str, residents: int, seed: int
) -> None:
    pop = Simulation(scenario, seed=seed, residents=residents, days=1).build()
    assert_layout_of(pop.residents, len(pop.district_names))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 300), st.integers(0, 2**32 - 1))
def test_the_layout_of_any_attributes_is_the_functions_arrays(
    districts: int, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    r = Residents(
        district=rng.integers(0, districts, n).astype(np.uint8),
        migrant=rng.random(n) < 0.3,
        age_band=rng.integers(0, 8, n).astype(np.uint8),
        male=rng.random(n) < 0.5,
        income_decile=rng.integers(0, 10, n).astype(np.uint8),
        education=rng.integers(0, 3, n).astype(np.uint8),
        sector=rng.integers(-1, 12, n).astype(np.int8),
        employer=np.full(n, -1, np.int32),
        household=np.arange(n, dtype=np.int32),
        parent=rng.random(n) < 0.4,
    )
    assert_layout_of(r, districts)


def test_a_cell_out_of_range_is_refused() -> None:
    pop = Simulation("rongcheng", seed=1, residents=500, days=1).build()
    with pytest.raises(ValueError, match="out of range"):
        resident_layout(pop.residents, 20 * (int(pop.residents.district.max()) + 1) - 20)
