"""A burn-in: days run before day 0 and not reported. Day 0 starts with lists already
formed; the metrics and score histogram start at day 0 with `days` rows; both loops give
the same tables; the timeline's dates are of the reported days; the records table and
per-agent counts are of the reported days, the listings table keeps the burn-in's
changes with negative days."""

from __future__ import annotations

import pytest

from scslab.rundir.run import Simulation
from scslab.scenario.bounds import MAX_DAYS, RunSizeError
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError
from tests.test_compiled import assert_same_tables, both, core
from tests.test_timeline import city


def test_day_zero_starts_with_the_lists_formed_in_both_loops() -> None:
    """SCS-ref-1's blacklist is empty on day 0 and fills over time; after a 60-day
    burn-in it is not empty on day 0, and 30 reported days are 30 rows from day 0."""
    cold = Simulation(core(), seed=2, residents=3000, days=30, engine="compiled")
    cold.results = cold.run()  # type: ignore[attr-defined]
    listed_cold = city(cold, "listed:blacklist")
    general, compiled = both(core(burn_in_days=60), seed=2, residents=3000, days=30)
    assert_same_tables(general, compiled)
    listed = city(general, "listed:blacklist")
    assert len(listed) == 30 and listed[0] > 3 * max(1.0, listed_cold[0])
    tables = general.results.tables  # type: ignore[attr-defined]
    assert sorted(tables["metrics"]["day"].unique()) == list(range(30))
    assert sorted(tables["score_histogram"]["day"].unique()) == list(range(30))
    assert str(tables["metrics"]["date"].min().date()) == core().start_date.isoformat()
    assert tables["records"]["day"].min() == 0 and tables["records"]["day"].max() == 29
    assert (tables["records"]["effective_day"] >= 0).all()
    listings = tables["listings"]
    assert listings["day"].min() < 0 and listings["day"].max() <= 29
    # the per-agent days on the blacklist are of the 30 reported days
    assert tables["residents"]["days_blacklisted"].max() == 30
    manifest = general.results.manifest  # type: ignore[attr-defined]
    assert manifest["burn_in_days"] == 60 and manifest["days"] == 30


def test_a_timeline_date_shows_on_its_reported_day_after_a_burn_in() -> None:
    """The courts record nothing until 2020-02-01 (day 31 of the reported run, internal
    day 31 + 20); the burn-in runs on the scenario's own rules (coverage 1)."""
    sc = core(**{"departments.courts.records.court.rate_per_year": 3.65, "burn_in_days": 20})
    sc = sc.with_changes(
        {
            "start_date": "2020-01-01",
            "timeline": [
                {"date": "2020-01-01", "set": {"departments.courts.coverage": 0.0}},
                {"date": "2020-02-01", "set": {"departments.courts.coverage": 1.0}},
            ],
        }
    )
    general, compiled = both(sc, seed=3, residents=3000, days=60)
    assert_same_tables(general, compiled)
    courts = city(general, "records_true:courts")
    assert len(courts) == 60
    assert courts[:31].sum() == 0
    assert courts[31] > 0 and courts[31:].sum() > 10 * 29


def test_without_a_burn_in_the_tables_are_as_before() -> None:
    a = Simulation(core(), seed=4, residents=1500, days=20, engine="general").run()
    b = Simulation(core(burn_in_days=0), seed=4, residents=1500, days=20, engine="general").run()
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name


def test_the_general_loop_counts_only_the_reported_days() -> None:
    """beijing-2018 (activities, income shocks: the general loop) after a burn-in: the
    per-agent counts and first shock days are of the reported days."""
    sc = load_scenario("beijing-2018").with_changes({"burn_in_days": 30})
    out = Simulation(sc, seed=1, residents=3000, days=20).run()
    res = out.tables["residents"]
    assert res["days_blacklisted"].max() <= 20
    first = res["first_income_shock_day"].to_numpy()
    assert ((first == -1) | ((first >= 0) & (first < 20))).all()
    assert sorted(out.tables["metrics"]["day"].unique()) == list(range(20))
    assert (out.tables["records"]["day"] >= 0).all()
    records = out.tables["records"]
    assert res["records"].sum() == (records["subject_type"] == "resident").sum()


def test_a_burn_in_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ScenarioError, match="burn_in_days"):
        core(burn_in_days=MAX_DAYS, days=1)
    with pytest.raises(ScenarioError, match="burn_in_days"):
        core(burn_in_days=-1)
    with pytest.raises(RunSizeError, match="burn_in_days"):
        Simulation(core(burn_in_days=MAX_DAYS - 100, days=10), residents=100, days=200)
