"""The national table: its figures add up, bad figures are refused, and a population drawn
from it has the provinces' shares."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from scslab import Simulation, load_scenario
from scslab.scenario.loader import parse_scenario
from scslab.scenario.nation import N_PROVINCES, NationTable, load_nation, population_spec
from scslab.scenario.population import build_population, resident_count
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.tables import AGE_BANDS, city_table

CENSUS_TOTAL = 1_411_778_724  # the 2020 census, the 31 provinces and the military
MILITARY = 2_000_000


@pytest.fixture(scope="module")
def nation() -> NationTable:
    return load_nation()


def test_totals(nation: NationTable) -> None:
    assert nation.national_total == CENSUS_TOTAL
    assert len(nation.districts) == N_PROVINCES == 31
    # the provinces hold every census resident but the military: within 0.1% of the total
    assert nation.province_total == CENSUS_TOTAL - MILITARY
    assert abs(nation.province_total - CENSUS_TOTAL) <= 0.0015 * CENSUS_TOTAL
    assert sum(nation.age_bands.values()) == CENSUS_TOTAL
    # the census' own 60+ (264,018,766) is the sum of the two oldest bands
    assert nation.age_bands["60-69"] + nation.age_bands["70+"] == 264_018_766
    urban = sum(nation.urban_share[k] * v for k, v in nation.districts.items()) + MILITARY
    assert abs(urban - nation.urban_total) < 10_000
    assert nation.floating_population == 375_815_933
    assert nation.inter_provincial_migrants == 124_837_153
    assert abs(nation.male_share - nation.males / CENSUS_TOTAL) < 1e-5
    assert sum(nation.province_shares().values()) == pytest.approx(1.0)


def test_bounds(nation: NationTable) -> None:
    assert all(v > 0 for v in nation.districts.values())
    assert all(0.0 <= s <= 1.0 for s in nation.urban_share.values())
    assert 0.3 < nation.urban_share["Tibet"] < nation.urban_share["Shanghai"] < 0.95
    assert nation.districts["Guangdong"] == max(nation.districts.values())
    assert nation.districts["Tibet"] == min(nation.districts.values())
    assert tuple(nation.age_bands) == AGE_BANDS
    shares = [nation.in_migrant_share(p) for p in nation.districts]
    assert all(s is None or 0.0 < s < 0.5 for s in shares)
    shanghai, guangdong = nation.in_migrant_share("Shanghai"), nation.in_migrant_share("Guangdong")
    assert shanghai is not None and guangdong is not None and shanghai > guangdong
    assert nation.in_migrant_share("Henan") is None
    spec = population_spec()
    assert spec.table == "china-2020"
    assert spec.residents_at_scale_1 == nation.province_total
    assert population_spec(migrant_share=0.09).migrant_share == 0.09


def _edited(**changes) -> dict:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in city_table("china-2020").items()}
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = data
        for p in parents:
            node = node[p]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"districts.Tibet": None, "urban_share.Tibet": None}, "31 provinces"),
        ({"districts.Tibet": 0}, "greater than or equal to 1"),
        ({"districts.Hebei": 74_610_235 * 2}, "national_total"),
        ({"urban_share.Hainan": 1.2}, "less than or equal to 1"),
        ({"urban_share.Hainan": 0.9}, "urban residents"),
        ({"age_bands.0-9": 168_125_000 + 20_000_000}, "age_bands"),
        ({"male_share": 0.6}, "male_share"),
        ({"inter_provincial_in_migrants.Tibet": 5_000_000}, "more than its residents"),
        ({"sectors.agriculture": 0.5}, "sectors"),
        ({"individual_business_employees": [3, 1]}, "individual_business_employees"),
        ({"individual_business_employees": [0, 3]}, "greater than or equal to 1"),
        ({"population_spec.residents_at_scale_1": 21_542_000}, "residents_at_scale_1"),
    ],
)
def test_bad_figures_are_refused(changes: dict, words: str) -> None:
    NationTable.model_validate(_edited())  # the table as shipped passes
    with pytest.raises(ValidationError, match=words):
        NationTable.model_validate(_edited(**changes))


@pytest.fixture(scope="module")
def pop():
    spec = population_spec()
    n = resident_count(spec, 0.0001, None)
    return build_population(spec, n, seed=5)


def test_population_of_provinces(nation: NationTable, pop) -> None:
    r = pop.residents
    n = len(r)
    assert n == round(nation.province_total * 0.0001) == 140_978
    assert pop.district_names == list(nation.districts)
    share = np.bincount(r.district, minlength=N_PROVINCES) / n
    expected = np.array(list(nation.province_shares().values()))
    # provinces are drawn household by household: the variance of a share is that of
    # n / 2.62 households of 1 + Poisson(1.62) members, about 3.2 times a person's draw
    sd = np.sqrt(expected * (1 - expected) * 3.3 / n)
    assert np.abs(share - expected).max() < 4.5 * sd.max()
    assert (np.abs(share - expected) < 4.5 * sd).all()
    assert share[pop.district_names.index("Guangdong")] > 0.08
    ages = np.array(list(nation.age_shares().values()))
    assert np.abs(np.bincount(r.age_band, minlength=8) / n - ages).max() < 0.006
    assert abs(r.male.mean() - nation.male_share) < 0.006
    assert abs(r.migrant.mean() - population_spec().migrant_share) < 0.01
    assert abs(n / (r.household.max() + 1) - 2.62) < 0.05
    assert pop.sector_names == list(nation.sectors)


def test_a_scenario_runs_on_the_provinces() -> None:
    base = load_scenario("beijing-2018")
    scenario = base.with_changes({"population": population_spec().model_dump()})
    assert scenario.population == population_spec()
    again = parse_scenario(scenario.to_yaml())
    assert again.population.table == "china-2020"
    with pytest.raises(ValidationError):
        PopulationSpec.model_validate({"table": "china-2010"})
    final = Simulation(scenario, seed=2, residents=3_000, days=5).run().final("district")
    assert {"Tibet", "Inner Mongolia", "Guangdong"} <= set(final.index.get_level_values(-1))
