"""The calendar and the timeline: a rule changed on a date shows on that day and not
before, the same in both loops; a change on day 0 is the scenario with that value; bad
timelines are refused with one line."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scslab.cli import app
from scslab.engine import support
from scslab.rundir.run import Simulation
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError
from scslab.scenario.schema import Scenario
from tests.test_compiled import ACTIVITIES, assert_same_tables, both, core


def city(sim: Simulation, metric: str) -> np.ndarray:
    m = sim.results.tables["metrics"]  # type: ignore[attr-defined]
    rows = m[(m["group_by"] == "city") & (m["metric"] == metric)]
    return rows.sort_values("day")["value"].to_numpy()


def with_timeline(*entries: dict, **edits: object) -> object:
    sc = core(**edits)
    return sc.with_changes({"start_date": "2020-01-01", "timeline": list(entries)})


def test_a_step_shows_on_its_day_and_not_before_in_both_loops() -> None:
    """The courts record nothing (coverage 0) until 2020-02-01, day 31; then they do
    (about 30 records a day)."""
    sc = with_timeline(
        {"date": "2020-01-01", "set": {"departments.courts.coverage": 0.0}},
        {"date": "2020-02-01", "set": {"departments.courts.coverage": 1.0}},
        **{"departments.courts.records.court.rate_per_year": 3.65},
    )
    general, compiled = both(sc, seed=3, residents=3000, days=60)
    assert_same_tables(general, compiled)
    courts = city(general, "records_true:courts")
    assert courts[:31].sum() == 0
    assert courts[31] > 0 and courts[31:].sum() > 10 * 29
    assert city(general, "records_true:tax")[:31].sum() > 0  # the others recorded all along


def test_a_change_on_day_zero_is_the_scenario_with_that_value() -> None:
    changed = core().with_changes(
        {"lists.blacklist.trigger.score_below": 990, "start_date": "2020-01-01"}
    )
    on_day_zero = with_timeline(
        {"date": "2020-01-01", "set": {"lists.blacklist.trigger.score_below": 990}}
    )
    for engine in ("general", "compiled"):
        a = Simulation(changed, seed=5, residents=2000, days=40, engine=engine).run()
        b = Simulation(on_day_zero, seed=5, residents=2000, days=40, engine=engine).run()
        pd.testing.assert_frame_equal(a.tables["metrics"], b.tables["metrics"], check_exact=True)


def test_a_ramp_moves_in_steps_and_both_loops_agree() -> None:
    """A list's threshold ramped up over two months: more listed as it rises, and the
    same tables from both loops (the compiled days cut their chunks at each change)."""
    sc = with_timeline(
        {
            "start": "2020-01-10",
            "end": "2020-03-10",
            "ramp": {"lists.blacklist.trigger.score_below": [960, 1000]},
            "every_days": 10,
        }
    )
    days = sc.timeline_by_day()  # type: ignore[attr-defined]
    assert [d for d, _ in days] == [9, 19, 29, 39, 49, 59, 69]
    assert days[-1][1] == {"lists.blacklist.trigger.score_below": 1000.0}
    general, compiled = both(sc, seed=7, residents=3000, days=90)
    assert_same_tables(general, compiled)
    listed = city(general, "listed:blacklist")
    fixed = Simulation(core(), seed=7, residents=3000, days=90).run().tables["metrics"]
    base = fixed[(fixed["group_by"] == "city") & (fixed["metric"] == "listed:blacklist")]
    assert listed[:9].tolist() == base.sort_values("day")["value"].to_numpy()[:9].tolist()
    assert listed[-1] > 2 * base["value"].iloc[-1]


def test_dates_of_days_in_the_outputs() -> None:
    sc = with_timeline()
    assert sc.date_of(0) == dt.date(2020, 1, 1)  # type: ignore[attr-defined]
    assert sc.date_of(366) == dt.date(2021, 1, 1)  # type: ignore[attr-defined]
    res = Simulation(sc, seed=1, residents=500, days=40).run()  # type: ignore[arg-type]
    m = res.tables["metrics"]
    assert (m["date"] - m["day"].astype("timedelta64[D]") == np.datetime64("2020-01-01")).all()
    assert res.manifest["start_date"] == "2020-01-01"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"date": "2021-06-01", "set": {"departments.courts.coverage": 0.5}},
            "timeline.0: 2021-06-01 is outside the run (2020-01-01 to 2020-12-30)",
        ),
        (
            {"date": "2020-06-01", "set": {"departments.courts.coverage": 1.5}},
            "timeline.0.departments.courts.coverage: Input should be less than or equal to 1",
        ),
        (
            {"date": "2020-06-01", "set": {"departments.nowhere.coverage": 0.5}},
            "timeline.0.departments.nowhere.coverage: not a value of the scenario",
        ),
        (
            {"date": "2020-06-01", "set": {"population.friends_per_resident": 3}},
            "timeline.0.population.friends_per_resident: a timeline changes only the rules",
        ),
        (
            {"date": "2020-06-01", "set": {"scoring.base": 900}},
            "timeline.0.scoring.base: fixed for a run",
        ),
        (
            {"start": "2020-06-01", "end": "2020-05-01", "ramp": {"scoring.drift_per_day": [0, 1]}},
            "timeline.0.ramp: end (2020-05-01) must come after start (2020-06-01)",
        ),
    ],
)
def test_bad_timelines_are_refused_with_one_line(entry: dict, message: str, tmp_path) -> None:
    with pytest.raises(ScenarioError, match="timeline"):
        core().with_changes({"start_date": "2020-01-01", "timeline": [entry]})
    data = yaml.safe_load(core().to_yaml())
    data.update(start_date="2020-01-01", timeline=[entry])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert str(path) in lines[0]


def test_builtin_scenarios_still_load() -> None:
    assert load_scenario("beijing-2018").start_date == dt.date(2018, 7, 1)


def test_a_timeline_that_switches_on_what_compiled_days_do_not_run_runs_general(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A feature that compiled days did not run (here: a list response, marked so for
    the test) switched on mid-run: auto takes the general loop, and asking for compiled
    days names the key and the date. Chilling switched on mid-run runs on compiled days,
    as the general loop runs it."""
    acts = copy.deepcopy(ACTIVITIES)
    respond = {"measures.slow_loans.attempt_multiplier": 0.5}
    sc = with_timeline({"date": "2020-01-11", "set": respond}, **acts)
    plain = support.unsupported

    def without_responses(scenario: Scenario) -> list[str]:
        responds = [
            f"measures.{n}: a response" for n, m in scenario.measures.items() if m.responds()
        ]
        return plain(scenario) + responds

    monkeypatch.setattr(support, "unsupported", without_responses)
    assert Simulation(sc, residents=500, days=30).engine_used == "general"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"slow_loans: a response \(from 2020-01-11\)"):
        Simulation(sc, residents=500, days=30, engine="compiled")  # type: ignore[arg-type]
    monkeypatch.undo()
    assert Simulation(sc, residents=500, days=30).engine_used == "compiled"  # type: ignore[arg-type]
    chill = {"behaviour.chilling_self": 0.2, "behaviour.chilling_contacts": 0.05}
    sc = with_timeline({"date": "2020-01-11", "set": chill}, **acts)
    general, compiled = both(sc, seed=2, residents=2000, days=40)  # type: ignore[arg-type]
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    propensity = compiled.state.chill
    chilled = propensity.value < 1.0
    assert chilled.sum() > 10 and (propensity.since[chilled] >= 10).all()


def test_names_and_rules_that_hold_only_together_are_refused() -> None:
    with pytest.raises(ScenarioError, match="numbers and switches, not names"):
        with_timeline({"date": "2020-02-01", "set": {"lists.blacklist.kind": "red"}})
    with pytest.raises(ScenarioError, match="fixed for a run"):
        with_timeline({"date": "2020-02-01", "set": {"behaviour.min_income_factor": 0.5}})
    # a step keeps its number as given: a fraction of a day is refused, not rounded
    with pytest.raises(ScenarioError, match=r"lists\.blacklist\.duration_days"):
        with_timeline({"date": "2020-02-01", "set": {"lists.blacklist.duration_days": 30.5}})


def test_a_ramp_may_run_on_past_the_end_but_not_start_before_the_run() -> None:
    """A shorter run of a longer plan (`days: 90` in a file that extends beijing-2018)
    keeps the plan's ramp, cut at its last day; a ramp from before the start is refused."""
    ramp = {"ramp": {"departments.courts.coverage": [0.2, 1.0]}, "every_days": 30}
    sc = with_timeline({"start": "2020-06-01", "end": "2022-06-01", **ramp})
    first_day, first = sc.timeline_by_day()[0]  # type: ignore[attr-defined]
    assert sc.date_of(first_day) == dt.date(2020, 6, 1)  # type: ignore[attr-defined]
    assert first == {"departments.courts.coverage": 0.2}
    with pytest.raises(ScenarioError, match="2019-06-01 is outside the run"):
        with_timeline({"start": "2019-06-01", "end": "2020-06-01", **ramp})
