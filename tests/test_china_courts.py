"""The national court-debtor list, 2014-2024 (china-courts-2014), and what reads a list's
growth off a run: the ever_listed metric (those ever listed, counted once), figures
over a window of days and by calendar year, and calibration targets on dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scslab.analysis.figures import (
    city_frame,
    compute_figures,
    day_index,
    figures_by_period,
    list_figures,
)
from scslab.cli import app
from scslab.experiments.calibration import load_calibration
from scslab.experiments.spec import ExperimentError
from scslab.rundir.results import Results
from scslab.rundir.run import Simulation
from scslab.scenario.loader import builtin_text, load_scenario
from scslab.scenario.nation import population_spec
from tests.test_compiled import assert_same_tables, both, core

ROOT = Path(__file__).resolve().parents[1]
LIST = "dishonest_judgment_debtors"
EXAMPLE = ROOT / "examples" / "china-courts-2014-calibrate.yaml"


def test_the_scenario_is_the_nation_from_2014_to_2024() -> None:
    sc = load_scenario("china-courts-2014")
    assert sc.start_date == dt.date(2014, 1, 1)
    assert sc.date_of(sc.days - 1) == dt.date(2024, 12, 31)
    given = yaml.safe_load(builtin_text("china-courts-2014"))["population"]
    national = population_spec().model_dump()
    assert {k: national[k] for k in given} == given  # the national table's own figures
    assert sc.lists[LIST].trigger.records == ["judgment_default"]
    blocked = {d for m in sc.measures.values() if m.list == LIST for d in m.domains}
    assert blocked == {"flights", "high_speed_rail"}
    # the courts' reach grows in 2016 and falls in 2024, as the published flows do
    changes = dict(sc.timeline_by_day())
    reach = [v["departments.courts.coverage"] for _, v in sorted(changes.items())]
    assert reach[0] == sc.departments["courts"].coverage < reach[-2] and reach[-1] < reach[-2]
    assert sc.date_of(max(changes)) == dt.date(2024, 1, 1)


def test_a_short_run_lists_more_and_more_debtors() -> None:
    """Two years of 28,000 residents: the list fills, everyone listed is counted once in
    the ever-listed count, and the list's figures by year add up."""
    res = Simulation("china-courts-2014", seed=2, scale=0.00002, days=730).run()
    city = res.to_frame()
    listed = city[f"listed:{LIST}"].to_numpy()
    assert listed[364] > 0 and listed[729] > listed[364]
    log = res.tables["listings"]
    entered = log[log["entered"] & (log["list"] == LIST)]
    first = entered.groupby("subject")["day"].min()
    ever = city[f"ever_listed:{LIST}"].to_numpy()
    assert ever[-1] == len(first) > 0
    assert ever[364] == (first <= 364).sum()
    names, cumulative = list_figures(LIST)
    years = figures_by_period(res, names, "year", cumulative)
    assert years["year"].tolist() == ["2014", "2015"]
    per = 100_000 / res.manifest["residents"]
    flows = years[f"new_listings_per_100k:{LIST}"].sum()
    assert flows == pytest.approx(city[f"new_listings:{LIST}"].sum() * per)
    assert years[f"ever_listed_per_100k:{LIST}"].tolist() == pytest.approx(
        [ever[364] * per, ever[729] * per]
    )
    stock = years[f"listed_per_100k:{LIST}"].tolist()
    assert stock == pytest.approx([listed[364] * per, listed[729] * per])


def test_only_adults_default_on_a_judgment() -> None:
    """A year of 141,000 residents: every judgment default is an adult's (20 and over, the
    scenario's eligible bands), and so is everyone a record names, those about the wrong
    person (error_rate) included."""
    sc = load_scenario("china-courts-2014")
    bands = sc.departments["courts"].records["judgment_default"].eligible.age_bands  # type: ignore[union-attr]
    assert bands == ["20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
    wrong = sc.with_changes({"departments.courts.error_rate": 0.2})  # many wrong persons
    res = Simulation(wrong, seed=2, scale=0.0001, days=365).run()
    band = res.tables["residents"].set_index("id")["age_band"].astype(str)
    records = res.tables["records"]
    defaults = records[records["kind"] == "judgment_default"]
    assert len(defaults) > 100
    assert set(band[defaults["actor"]]) <= set(bands)
    assert set(band[defaults["subject"]]) <= set(bands)
    assert defaults["erroneous"].sum() > 10  # (the wrong person is an adult too)
    assert (band[records["actor"]].isin(["0-9", "10-19"])).sum() == 0
    assert band.isin(["0-9", "10-19"]).mean() > 0.2  # the population has minors to leave out


def assert_ever_listed(res: Results, lists: list[str]) -> pd.DataFrame:
    """Each list's ever_listed on a day is the number of agents the listing log shows
    on it by then, and the figures' first_listings its daily increments; new_listings
    counts every entry. Returns the figures' city frame."""
    city = city_frame(res)
    log = res.tables["listings"]
    for name in lists:
        entered = log[log["entered"] & (log["list"] == name)]
        first = entered.groupby("subject")["day"].min()
        ever = city[f"ever_listed:{name}"].to_numpy()
        assert np.cumsum(city[f"first_listings:{name}"].to_numpy()).tolist() == ever.tolist()
        assert ever[-1] == len(first)
        assert ever[59] == (first <= 59).sum()
        assert city[f"new_listings:{name}"].sum() == len(entered)
    return city


def test_first_listings_count_each_agent_once() -> None:
    """A list of 5 days after each traffic record: drivers fined twice come back onto it,
    so its listings outnumber the residents ever on it."""
    fined = {"kind": "black", "context": "traffic", "trigger": {"records": ["traffic"]}}
    sc = core(**{"lists.fined": {**fined, "duration_days": 5}})
    res = Simulation(sc, seed=4, residents=3000, days=120).run()
    city = assert_ever_listed(res, list(sc.lists))
    assert city["new_listings:fined"].sum() > city["first_listings:fined"].sum() > 0


def test_both_engines_count_those_ever_listed_alike() -> None:
    general, compiled = both(core(), seed=4, residents=3000, days=120)
    assert_same_tables(general, compiled)
    city = assert_ever_listed(compiled.results, ["blacklist", "green_channel"])  # type: ignore[attr-defined]
    assert city["first_listings:blacklist"].sum() > 0


def hand_run() -> Results:
    """Four days over a new year (2023-12-30 to 2024-01-02) in a city of 100,000, so that
    a count is its figure per 100,000: A listed on day 0, B on day 1 (the first time),
    A off on day 3."""
    metrics = {
        "residents": [100_000] * 4,
        f"listed:{LIST}": [1, 2, 2, 1],
        f"new_listings:{LIST}": [1, 1, 0, 0],
        f"ever_listed:{LIST}": [1, 2, 2, 2],
        f"exits:{LIST}": [0, 0, 0, 1],
    }
    rows = [
        {"day": d, "group_by": "city", "group": "all", "metric": m, "value": float(v[d])}
        for m, v in metrics.items()
        for d in range(4)
    ]
    manifest = {"residents": 100_000, "start_date": "2023-12-30", "days": 4}
    return Results({"metrics": pd.DataFrame(rows)}, manifest, "")


def test_figures_by_year_on_a_hand_checked_run() -> None:
    names, cumulative = list_figures(LIST)
    years = figures_by_period(hand_run(), names, "year", cumulative)
    assert years["year"].tolist() == ["2023", "2024"]
    assert years["date"].tolist() == [dt.date(2023, 12, 31), dt.date(2024, 1, 2)]
    assert years["days"].tolist() == [2, 2]
    assert years[f"listed_per_100k:{LIST}"].tolist() == [2, 1]
    assert years[f"ever_listed_per_100k:{LIST}"].tolist() == [2, 2]  # from the start
    assert years[f"new_listings_per_100k:{LIST}"].tolist() == [2, 0]  # in the year
    assert years[f"exits_per_100k:{LIST}"].tolist() == [0, 1]
    # in the year, not from the start: no one new was listed in 2024
    in_year = figures_by_period(hand_run(), [f"ever_listed_per_100k:{LIST}"])
    assert in_year[f"ever_listed_per_100k:{LIST}"].tolist() == [2, 0]
    with pytest.raises(ValueError, match="period"):
        figures_by_period(hand_run(), names, "week")


def test_figures_over_a_window_of_days() -> None:
    run = hand_run()
    fig = compute_figures(run, [f"exits_per_100k:{LIST}", f"listed_per_100k:{LIST}"], day=2)
    assert fig == {f"exits_per_100k:{LIST}": 0, f"listed_per_100k:{LIST}": 2}
    window = compute_figures(run, [f"new_listings_per_100k:{LIST}"], day=3, since=1)
    assert window == {f"new_listings_per_100k:{LIST}": 1}
    assert day_index(dt.date(2024, 1, 2), dt.date(2023, 12, 30)) == 3
    assert day_index(7, dt.date(2023, 12, 30)) == 7


def test_the_figures_command_prints_and_writes_a_run_by_year(tmp_path: Path) -> None:
    out = tmp_path / "run"
    Simulation("china-courts-2014", seed=1, scale=0.00001, days=400).run(out=out)
    result = CliRunner().invoke(app, ["figures", str(out), "--csv", str(tmp_path / "y.csv")])
    assert result.exit_code == 0, result.output
    assert "2015" in result.output and "from start" in result.output
    table = pd.read_csv(tmp_path / "y.csv")
    assert table["year"].tolist() == [2014, 2015] and table["days"].tolist() == [365, 35]
    bad = CliRunner().invoke(app, ["figures", str(out), "--figure", "median_days_to_clear"])
    assert bad.exit_code == 2 and "whole run" in bad.output


def test_calibration_targets_on_dates(tmp_path: Path) -> None:
    cal, scenario = load_calibration(EXAMPLE)
    days = [t.days(scenario.start_date) for t in cal.targets]
    assert days[0] == (14, None)  # 2014-01-15
    assert days[-1] == (4017, 3652)  # the flows of 2024
    doc = yaml.safe_load(EXAMPLE.read_text())
    for target, why in (
        ({"day": dt.date(2025, 1, 1)}, "targets.0.day: 2025-01-01 is outside the run"),
        ({"since": dt.date(2019, 1, 1), "day": dt.date(2018, 1, 1)}, "comes after its day"),
    ):
        doc["targets"] = [{**doc["targets"][0], **target}]
        doc["base"] = "china-courts-2014"
        path = tmp_path / "cal.yaml"
        path.write_text(yaml.safe_dump(doc))
        with pytest.raises(ExperimentError, match=why):
            load_calibration(path)
