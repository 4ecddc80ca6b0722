"""Enrolment in the score: a resident not enrolled keeps the base score, so no score
rule lists them, while their records and record-triggered lists still apply; a rollout
in the timeline enrols more residents as the share rises, the same in both loops."""

from __future__ import annotations

import numpy as np

from scslab.rundir.run import Simulation
from scslab.scenario.loader import load_scenario
from tests.test_compiled import assert_same_tables, both, core
from tests.test_timeline import city


def test_a_rollout_enrols_residents_and_both_loops_agree() -> None:
    sc = core().with_changes(
        {
            "start_date": "2020-01-01",
            "scoring.enrolled_share": 0.0,
            "timeline": [
                {
                    "start": "2020-01-01",
                    "end": "2020-03-01",
                    "ramp": {"scoring.enrolled_share": [0.0, 1.0]},
                    "every_days": 15,
                }
            ],
        }
    )
    general, compiled = both(sc, seed=2, residents=3000, days=90)
    assert_same_tables(general, compiled)
    enrolled = city(general, "enrolled")
    assert enrolled[0] == 0 and enrolled[-1] == 3000
    assert (np.diff(enrolled) >= 0).all() and 0 < enrolled[30] < 3000
    listed = city(general, "listed:blacklist")
    assert listed[:14].sum() == 0  # nobody enrolled, nobody on a score list
    assert listed[-1] > 0


def test_residents_not_enrolled_keep_the_base_and_record_lists_still_apply() -> None:
    sc = load_scenario("beijing-2018").with_changes(
        {"scoring.enrolled_share": 0.3, "timeline": []}  # 30% enrolled throughout
    )
    sim = Simulation(sc, seed=4, residents=4000, days=120)
    res = sim.run()
    assert sim.state is not None
    out = np.flatnonzero(sim.state.held)
    assert abs(len(out) / 4000 - 0.7) < 0.03
    assert res.to_frame()["enrolled"].iloc[-1] == 4000 - len(out)
    residents = res.tables["residents"].set_index("id")
    assert (residents.loc[out, "score"] == sc.scoring.base).all()  # type: ignore[union-attr]
    mine = {n: rule for n, rule in sc.lists.items() if rule.subject == "resident"}
    score_lists = [n for n, rule in mine.items() if not rule.trigger.records]
    record_lists = [n for n, rule in mine.items() if rule.trigger.records]
    assert score_lists and record_lists
    for name in score_lists:
        assert not residents.loc[out, f"on_{name}"].any()
    on_record_lists = residents.loc[out, [f"on_{n}" for n in record_lists]].any(axis=1)
    assert on_record_lists.sum() > 0  # records still list them


def test_the_rollout_scenario_follows_the_plan() -> None:
    """beijing-2018: 2018-07-01 to 2020-12-31, all enrolled from 2020-01-01."""
    sc = load_scenario("beijing-2018")
    assert sc.date_of(0).isoformat() == "2018-07-01"
    assert sc.date_of(sc.days - 1).isoformat() == "2020-12-31"
    by_day = sc.timeline_by_day()
    last_day, last = by_day[-1]
    assert sc.date_of(last_day).isoformat() == "2020-01-01"
    assert last == {"scoring.enrolled_share": 1.0}
    shares = [v["scoring.enrolled_share"] for _, v in by_day]
    assert shares == sorted(shares) and shares[0] == 0.0


def test_a_falling_share_clears_the_erroneous_points_of_those_it_unenrols() -> None:
    """Residents enrolled with erroneous points, then not enrolled (the share falls),
    lose those points as the general loop's daily hold takes them: compiled days,
    whose drift holds only the scores, give the same tables and erroneous points."""
    sc = core(
        **{
            "start_date": "2020-01-01",
            "scoring.enrolled_share": 0.9,
            "departments.tax.error_rate": 0.4,
            "departments.traffic_police.error_rate": 0.3,
            "timeline": [
                {"date": "2020-01-21", "set": {"scoring.enrolled_share": 0.2}},
                {"date": "2020-02-20", "set": {"scoring.enrolled_share": 1.0}},
            ],
        }
    )
    general, compiled = both(sc, seed=5, residents=3000, days=90, agents=True)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    assert general.state is not None and compiled.state is not None
    errors = general.state.res.error_points
    assert np.array_equal(errors, compiled.state.res.error_points) and errors.any()
