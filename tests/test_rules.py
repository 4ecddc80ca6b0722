"""The rules a run compiles from its scenario, kept per scenario object and shared by its
runs (engine/rules.py), and the group maps shared per list of districts: runs share
them and leave them as they were made."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from typing import Any

import numpy as np
import pytest

from scslab import Simulation, load_scenario
from scslab.engine import rules as rules_module
from scslab.engine.collectors import GroupMap, MetricSpace, enterprise_groups, resident_groups
from scslab.engine.daytables import flag_rules, kind_table_of, side_tables
from scslab.engine.rules import ScenarioRules, scenario_rules
from scslab.engine.state import RunState
from scslab.engine.steps import PHASES


def assert_same(made: Any, fresh: Any, path: str = "") -> None:
    """Two structures of rules equal, array by array (dtype and values) and field by field."""
    if isinstance(made, np.ndarray):
        assert isinstance(fresh, np.ndarray), path
        assert made.dtype == fresh.dtype and made.shape == fresh.shape, path
        assert np.array_equal(made, fresh, equal_nan=made.dtype.kind == "f"), path
    elif isinstance(made, MetricSpace):
        assert made.names == fresh.names and made.index == fresh.index, path
    elif isinstance(made, GroupMap):
        assert made.group_by == fresh.group_by and made.group == fresh.group, path
        for name in ("indptr", "indices", "groups_of_cell", "groups_indptr"):
            assert_same(getattr(made, name), getattr(fresh, name), f"{path}.{name}")
        for k, members in enumerate(made.members):
            assert_same(members, fresh.members[k], f"{path}.members[{k}]")
    elif isinstance(made, dict):
        assert made.keys() == fresh.keys(), path
        for k in made:
            assert_same(made[k], fresh[k], f"{path}[{k!r}]")
    elif isinstance(made, (list, tuple)):
        assert type(made) is type(fresh) and len(made) == len(fresh), path
        for k, (a, b) in enumerate(zip(made, fresh, strict=True)):
            assert_same(a, b, f"{path}[{k}]")
    elif dataclasses.is_dataclass(made) and not isinstance(made, type):
        assert type(made) is type(fresh), path
        for f in dataclasses.fields(made):  # (but memos of what the rest gives)
            if f.compare:
                assert_same(getattr(made, f.name), getattr(fresh, f.name), f"{path}.{f.name}")
    else:
        assert made == fresh, path


@pytest.mark.parametrize("engine", ["general", "auto"])
def test_runs_share_the_rules_of_their_scenario_and_leave_them_as_made(engine: str) -> None:
    """Two runs of one scenario object (beijing-2018 without its timeline, whose first
    change would compile the rules anew: activities, enterprises, due process) take the
    same ScenarioRules, tables and group maps, and after the runs they equal the ones
    made anew: no run wrote into them."""
    sc = load_scenario("beijing-2018").model_copy(update={"timeline": []})
    sims = [
        Simulation(sc, seed=seed, residents=3000, days=40, engine=engine, keep_state=True)
        for seed in (1, 2)
    ]
    for sim in sims:
        sim.simulate()
    made = scenario_rules(sc)
    first, second = (sim.state for sim in sims)
    assert first is not None and second is not None
    assert first.kinds is second.kinds is made.rules.kinds
    assert first.res.space is second.res.space is made.spaces[0][0]
    assert first.res.cols is not second.res.cols  # (each run its own dict)
    assert first.res.series.groups is second.res.series.groups
    assert_same(made, ScenarioRules.compile(sc), "rules")
    # the tables built from the shared rules, as a fresh state of each run builds them
    shared = rules_module._SHARED.get(sc)
    assert shared is not None and shared.rules is made.rules
    names = {key[0] for key in shared.tables}
    assert names == {"kinds", "lists", "due", "flags", "longest expiry"} or engine == "general"
    for sim in sims:
        pop = sim.population
        assert pop is not None
        fresh = RunState(sc, pop, sim.seed, sim.days, sim.agents, PHASES)
        kinds = kind_table_of(fresh)
        made_anew = {
            ("kinds", sim.seed, fresh.res.n, fresh.ent.n, False): kinds,
            ("due", sim.seed): fresh.dp.kernel_rules(),
            ("flags", sim.seed): flag_rules(fresh),
        }
        for code in (0, 1):
            made_anew["lists", code, sim.seed] = side_tables(fresh, code, kinds, None)[1]
            mine = kinds.expiry[kinds.subject == code]
            made_anew["longest expiry", code, False] = int(mine.max(initial=0))
        compared = [key for key in made_anew if key in shared.tables]
        assert len(compared) == len(made_anew) or engine == "general"
        for key in compared:
            assert_same(shared.tables[key], made_anew[key], str(key))
    districts = first.population.district_names
    assert resident_groups(districts) is first.res.series.groups
    assert_same(
        resident_groups(districts),
        GroupMap.from_rows(_resident_rows(districts), 20 * len(districts)),
    )
    assert_same(
        enterprise_groups(districts),
        GroupMap.from_rows(_enterprise_rows(districts), len(districts)),
    )


def _resident_rows(districts: list[str]) -> list[tuple[str, str, np.ndarray]]:
    cells = np.arange(len(districts) * 20)
    rows = [("city", "all", np.ones(len(cells), bool))]
    rows += [("district", name, cells // 20 == d) for d, name in enumerate(districts)]
    rows += [("hukou", lab, (cells // 10) % 2 == m) for m, lab in enumerate(("local", "migrant"))]
    rows += [("income_decile", str(k + 1), cells % 10 == k) for k in range(10)]
    return rows


def _enterprise_rows(districts: list[str]) -> list[tuple[str, str, np.ndarray]]:
    nd = len(districts)
    rows = [("city", "all", np.ones(nd, bool))]
    rows += [("district", name, np.arange(nd) == d) for d, name in enumerate(districts)]
    return rows


def test_the_rules_of_a_scenario_go_with_it() -> None:
    """A scenario's ScenarioRules are kept while the scenario lives, and dropped with it;
    another scenario object (even an equal one) gets its own."""
    sc = load_scenario("rongcheng")
    made = scenario_rules(sc)
    assert scenario_rules(sc) is made
    other = load_scenario("rongcheng")
    assert scenario_rules(other) is not made
    alive, key = weakref.ref(sc), id(sc)
    assert rules_module._ROOTS.get(sc) is made and rules_module._SHARED.get(sc) is not None
    del sc, made
    gc.collect()
    assert alive() is None
    assert key not in rules_module._ROOTS._by_id and key not in rules_module._SHARED._by_id


def test_runs_share_the_rules_of_their_timeline() -> None:
    """The rules of a timeline's days are made once per scenario object (and changes so
    far) and shared by its runs, with the tables built from them; a run of them gives
    the tables of the same run with every rule compiled anew (the general loop's)."""
    sc = load_scenario("beijing-2018")
    runs = [Simulation(sc, seed=1, residents=2000, days=70, keep_state=True) for _ in range(2)]
    outputs = [sim.simulate() for sim in runs]
    first, second = (sim.state for sim in runs)
    assert first is not None and second is not None
    assert first.scenario is second.scenario is not sc  # (the rules of day 60 on)
    assert first.kinds is second.kinds
    assert first.scenario.scoring is not None
    assert first.scenario.scoring.enrolled_share == pytest.approx(0.1092896174863388)
    shared = rules_module._SHARED.get(first.scenario)
    assert shared is not None and shared.rules.kinds is first.kinds and shared.tables
    fresh = Simulation(
        sc.model_copy(), seed=1, residents=2000, days=70, engine="general"
    ).simulate()
    for name, table in outputs[0].tables.items():
        assert table.equals(fresh.tables[name]), name
        assert table.equals(outputs[1].tables[name]), name
