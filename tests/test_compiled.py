"""Compiled days: the same tables as the general loop, bit for bit, for every scenario of
the points-and-lists core; other scenarios are refused by name."""

from __future__ import annotations

import copy
import subprocess
import sys
import typing
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from scslab import Simulation, kernelcache
from scslab.engine import loops, simulation, support
from scslab.engine.simulation import many_runs_engine
from scslab.engine.support import unsupported, unsupported_in_run
from scslab.model.records import EXPIRED, PENDING
from scslab.scenario.loader import load_scenario, parse_scenario
from scslab.scenario.schema import Scenario

SCS_REF = Path(__file__).resolve().parents[1] / "benchmarks" / "scs-ref-1.yaml"


def core(**edits: object) -> Scenario:
    """SCS-ref-1 with its score tally on (outputs.scores; the shipped file has it off) and
    edits: dotted keys into its YAML set to a value (None: removed)."""
    data = yaml.safe_load(SCS_REF.read_text())
    data["outputs"] = {"scores": True}
    for dotted, value in edits.items():
        *path, last = dotted.split(".")
        node = data
        for part in path:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return parse_scenario(yaml.safe_dump(data))


def both(scenario: Scenario, **run: object) -> tuple[Simulation, Simulation]:
    """The scenario run on the general loop and on compiled days."""
    sims = []
    for engine in ("general", "compiled"):
        sim = Simulation(scenario, engine=engine, **run)  # type: ignore[arg-type]
        sim.results = sim.run()  # type: ignore[attr-defined]
        sims.append(sim)
    return sims[0], sims[1]


def assert_same_tables(general: Simulation, compiled: Simulation) -> None:
    a, b = general.results.tables, compiled.results.tables  # type: ignore[attr-defined]
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.parametrize("scores", [True, False])
def test_the_reference_model_runs_compiled_with_the_same_tables(scores: bool) -> None:
    """SCS-ref-1 (the score tally on, or off as shipped) on both engines."""
    general, compiled = both(core(**{"outputs.scores": scores}), seed=2, residents=3000, days=80)
    assert general.engine_used == "general" and compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[(m["group_by"] == "city") & (m["metric"] == "listed:blacklist")]
    assert city["value"].iloc[-1] > 0  # the lists did fill
    # the state left behind is the general loop's too
    assert np.array_equal(general.state.res.score, compiled.state.res.score)
    assert np.array_equal(general.state.listed_contacts, compiled.state.listed_contacts)
    assert general.state.res.listed.tolist() == compiled.state.res.listed.tolist()
    assert (
        compiled.state.res.listed.tolist()
        == np.flatnonzero(compiled.state.res.list_state.mask).tolist()
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coverage=st.sampled_from([1.0, 0.7]),
    error_rate=st.sampled_from([0.0, 0.05, 0.3]),
    listed_multiplier=st.sampled_from([1.0, 2.5]),
    poorest_to_richest=st.sampled_from([1.0, 3.0]),
    migrant_multiplier=st.sampled_from([1.0, 1.6]),
    rate_scale=st.sampled_from([1.0, 20.0]),
    drift=st.sampled_from([0.0, 0.001, 0.02]),
    association=st.sampled_from([0.0, 0.02, 1.5]),
    black_below=st.sampled_from([960.0, 995.1, 1000.0]),
    green=st.sampled_from([None, 1030.0, 1001.5]),
    grade_floor=st.sampled_from([1030.0, 1012.5]),
    lower_grades=st.integers(0, 5),
    clamp=st.booleans(),
    agents=st.booleans(),
    behind=st.booleans(),
    scores=st.booleans(),
    residents=st.integers(1, 1500),
    seed=st.integers(1, 10_000),
)
def test_compiled_days_equal_the_general_loop(
    coverage: float,
    error_rate: float,
    listed_multiplier: float,
    poorest_to_richest: float,
    migrant_multiplier: float,
    rate_scale: float,
    drift: float,
    association: float,
    black_below: float,
    green: float | None,
    grade_floor: float,
    lower_grades: int,
    clamp: bool,
    agents: bool,
    behind: bool,
    scores: bool,
    residents: int,
    seed: int,
) -> None:
    """Every table identical over the core's parameters: coverage and wrong-person
    errors (wrongful listings), rate multipliers, dense events, drift, association
    penalties, score rules (also off whole numbers), grades on and off the histogram's
    bin edges and three to eight of them (the tally sums four columns at a time), score
    bounds, with and without per-agent tables, the score tally at the end of each day
    or in the worker thread a chunk behind or not at all, down to a city of one."""
    edits: dict[str, object] = {
        "departments.courts.coverage": coverage,
        "departments.tax.error_rate": error_rate,
        "departments.traffic_police.error_rate": error_rate / 2,
        "departments.courts.records.court.listed_multiplier": listed_multiplier,
        "departments.tax.records.tax.poorest_to_richest": poorest_to_richest,
        "departments.finance.records.finance.migrant_multiplier": migrant_multiplier,
        "departments.traffic_police.records.traffic.rate_per_year": 0.365 * rate_scale,
        "scoring.drift_per_day": drift,
        "scoring.association_penalty": association,
        "outputs.scores": scores,
        "scoring.grades": [
            {"name": "G", "min_score": grade_floor},
            {"name": "N", "min_score": 960},
            *(
                {"name": "L" + c, "min_score": 940 - 20 * k}
                for k, c in enumerate("abcde"[:lower_grades])
            ),
            {"name": "L", "min_score": -100000},
        ],
        "lists.blacklist.trigger": {"score_below": black_below},
        # a second blacklist by grade, so that a resident can be on two lists at once
        "lists.low_grade": {
            "kind": "black",
            "context": "general",
            "trigger": {"grade_at_most": "L"},
        },
    }
    if clamp:
        edits["scoring.min_score"] = 900
        edits["scoring.max_score"] = 1040
    edits["lists.green_channel"] = (
        None
        if green is None
        else {"kind": "red", "context": "general", "trigger": {"score_at_least": green}}
    )
    scenario = core(**edits)
    with mock.patch("scslab.engine.loops.tally_behind", lambda residents: behind):
        general, compiled = both(scenario, seed=seed, residents=residents, days=25, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)


@pytest.mark.parametrize("agents", [True, False])
def test_wrongful_listings_as_erroneous_points_drift_away(agents: bool) -> None:
    """Wrong-person records put residents on the lists wrongfully, and stop doing so as
    their erroneous points drift away: the same flags, counts and tables either way
    (with per-agent tables, compiled days count the lists' columns by visiting every
    listed resident; without, from the residents that may have changed, which must
    include those whose listing turns wrongful or rightful with no listing change)."""
    scenario = core(
        **{
            "departments.tax.error_rate": 0.4,
            "departments.courts.error_rate": 0.4,
            "scoring.drift_per_day": 0.03,
            "lists.blacklist.trigger": {"score_below": 990},
        }
    )
    general, compiled = both(scenario, seed=5, residents=3000, days=120, agents=agents)
    assert_same_tables(general, compiled)
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[m["group_by"] == "city"].pivot(index="day", columns="metric", values="value")
    wrongful = city["listed_wrongful:blacklist"]
    assert wrongful.max() > 0 and city["new_listings_wrongful:blacklist"].sum() > 0
    # listings that turned wrongful with no listing change: days on which the wrongful
    # count grew by more than the day's wrongful new listings
    assert (wrongful.diff() > city["new_listings_wrongful:blacklist"]).sum() > 0
    assert np.array_equal(general.state.res.error_points, compiled.state.res.error_points)


def test_no_lists_and_progress_in_steps() -> None:
    scenario = core(lists={})
    seen: list[int] = []
    sim = Simulation(scenario, seed=1, residents=500, days=41, engine="compiled")
    res = sim.run(progress=lambda done, total: seen.append(done))
    assert seen == sorted(seen) and seen[-1] == 41 and len(seen) > 10
    general = Simulation(scenario, seed=1, residents=500, days=41, engine="general").run()
    for name in res.tables:
        pd.testing.assert_frame_equal(res.tables[name], general.tables[name], check_exact=True)


@pytest.mark.parametrize("behind", [False, True])
@pytest.mark.parametrize(("days", "snapshot_bytes"), [(37, 1), (37, None), (7, None), (1, 1)])
def test_scores_tallied_each_day_or_a_chunk_behind_give_the_same_tables(
    monkeypatch, behind: bool, days: int, snapshot_bytes: int | None
) -> None:
    """The score tally runs at the end of each day, or in the worker thread while the
    next chunk of days runs, in chunks of one day (scores kept for a day at most) or of
    many, for fewer days than chunks too: the general loop's tables and state either
    way, progress reported in order up to the last day."""
    monkeypatch.setattr("scslab.engine.loops.tally_behind", lambda residents: behind)
    if snapshot_bytes is not None:
        monkeypatch.setattr("scslab.engine.loops.SNAPSHOT_BYTES", snapshot_bytes)
    scenario = core()
    general, compiled = both(scenario, seed=4, residents=2500, days=days)
    assert_same_tables(general, compiled)
    assert (compiled.state.worker_seconds["score_tally"] > 0) == behind
    assert np.array_equal(general.state.res.score, compiled.state.res.score)
    assert np.array_equal(general.state.res.error_points, compiled.state.res.error_points)
    assert np.array_equal(general.state.listed_contacts, compiled.state.listed_contacts)
    assert general.state.res.listed.tolist() == compiled.state.res.listed.tolist()
    seen: list[int] = []
    Simulation(scenario, seed=4, residents=300, days=days, engine="compiled").run(
        progress=lambda done, total: seen.append(done)
    )
    assert seen == sorted(seen) and seen[-1] == days


@pytest.mark.parametrize("snapshot_bytes", [1, None])
def test_enterprises_scores_tallied_beside_the_residents_give_the_same_tables(
    monkeypatch, snapshot_bytes: int | None
) -> None:
    """With the tally a chunk behind, the enterprises' scores (beijing-2018: corporate
    credit, its timeline restarting chunks) are kept and tallied beside the residents'
    in the worker thread, a day or many at a time: the general loop's tables and the
    enterprises' scores."""
    import scslab.engine.loops as loops

    monkeypatch.setattr(loops, "tally_behind", lambda residents: True)
    if snapshot_bytes is not None:
        monkeypatch.setattr(loops, "SNAPSHOT_BYTES", snapshot_bytes)
    sides: list[int] = []
    tally_chunk = loops.tally_chunk

    def counted(first_day: int, tallies: list) -> None:
        sides.append(len(tallies))
        tally_chunk(first_day, tallies)

    monkeypatch.setattr(loops, "tally_chunk", counted)
    # (62 days: chunks of 4, one cut short by the ramp's change on day 30)
    general, compiled = both(load_scenario("beijing-2018"), seed=8, residents=2500, days=62)
    assert sides and set(sides) == {2}  # (both sides, each chunk, in the worker)
    assert_same_tables(general, compiled)
    scores = [sim.state.ent.scorer.state.score for sim in (general, compiled)]
    assert np.array_equal(*scores) and (scores[0] != scores[0][0]).any()
    hist = compiled.results.tables["score_histogram"]  # type: ignore[attr-defined]
    firm_bins = hist[(hist["subject"] == "enterprise") & (hist["bin_lo"] != 1000.0)]
    assert firm_bins["count"].sum() > 0  # (enterprises off the base score, tallied)


def test_manifest_names_the_engine_and_times_its_phases() -> None:
    res = Simulation(str(SCS_REF), seed=1, residents=2000, days=30).run()
    m = res.manifest
    assert m["engine"] == "compiled"
    phases = m["timings"]["phases_s"]
    assert min(phases.values()) >= 0 and phases["collectors"] > 0 and phases["departments"] > 0
    assert sum(phases.values()) <= m["timings"]["simulate_s"] + 1e-3
    general = Simulation(str(SCS_REF), seed=1, residents=2000, days=30, engine="general").run()
    assert general.manifest["engine"] == "general"


def test_other_scenarios_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """What support.unsupported() names keeps a scenario off compiled days: `compiled`
    refuses it naming the feature, auto falls back to the general loop (here a feature
    marked unsupported for the test, whatever compiled days come to run)."""
    assert unsupported(load_scenario(str(SCS_REF))) == []
    assert unsupported(load_scenario("beijing-2018")) == []
    plain = support.unsupported
    marked = "due_process (marked for the test)"

    def without_due_process(scenario: Scenario) -> list[str]:
        return plain(scenario) + ([marked] if scenario.due_process is not None else [])

    monkeypatch.setattr(support, "unsupported", without_due_process)
    refused = core(**{"due_process": {}})
    with pytest.raises(ValueError, match=r"due_process \(marked for the test\)"):
        Simulation(refused, engine="compiled")
    assert Simulation(refused).engine_used == "general"  # auto falls back
    assert many_runs_engine(refused) == "general" and not Simulation(refused).compiled_later
    with pytest.raises(ValueError, match="engine: must be one of"):
        Simulation(refused, engine="fast")


def test_auto_waits_for_compiled_days_to_be_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until compiled days' loop is compiled (in this process or in the kernel cache),
    auto takes the general loop, whose kernels compile in less than half the time, and
    says why; engine "compiled" and many runs take compiled days all the same. Once a
    run has compiled the loop, auto takes it."""
    monkeypatch.setattr(simulation, "compiled_days_ready", lambda: False)
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda: False)
    sc = load_scenario(str(SCS_REF))
    cold = Simulation(sc)
    assert cold.engine_used == "general" and cold.compiled_later and cold.compiles_first()
    asked = Simulation(sc, engine="compiled")
    assert asked.engine_used == "compiled" and not asked.compiled_later
    assert asked.compiles_first()
    assert not Simulation(sc, engine="general").compiled_later
    assert many_runs_engine(sc) == "compiled"
    monkeypatch.undo()  # (the machine's own cache, and conftest's stand-in, undone)
    Simulation(sc, residents=300, days=2, engine="compiled").run()
    assert loops.compiled_days_ready()
    # (and a later process finds compiled days in the kernel cache, before it runs any)
    probe = "from scslab.engine.loops import compiled_days_ready; print(compiled_days_ready())"
    later = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert later.stdout.strip() == "True", later.stderr
    warm = Simulation(sc)
    assert warm.engine_used == "compiled" and not warm.compiled_later
    assert not warm.compiles_first()


def test_auto_takes_compiled_days_at_any_size() -> None:
    """Compiled days are the faster at every size measured (nothing is built here)."""
    whole_city = 21_542_000
    assert Simulation(str(SCS_REF), residents=whole_city).engine_used == "compiled"
    assert Simulation(str(SCS_REF), residents=whole_city, engine="general").engine_used == (
        "general"
    )


# Every key of the scenario schema, by what compiled days do with it: run it as the
# general loop does, refuse it (compiled.unsupported names it when it is in use), or
# nothing, because it has no effect in the scenarios they run.
RUN = {
    "name", "description", "days", "burn_in_days", "start_date", "timeline.",
    "population.table", "population.residents_at_scale_1", "population.migrant_share",
    "population.enterprises_per_resident", "population.individual_businesses_per_resident",
    "population.legal_rep_poorest_to_richest", "departments.*.records.*.subject",
    "lists.*.subject", "corporate_scoring.",
    "population.household_size_mean", "population.employment_rate",
    "population.friends_per_resident", "population.friends_same_district",
    "population.coworker_contacts", "population.children_share_of_parents",
    "population.household_size_max", "population.income.",
    "departments.*.context", "departments.*.coverage", "departments.*.error_rate",
    "departments.*.records.*.points", "departments.*.records.*.rate_per_year",
    "departments.*.records.*.poorest_to_richest",
    "departments.*.records.*.migrant_multiplier",
    "departments.*.records.*.listed_multiplier", "departments.*.records.*.context",
    "departments.*.records.*.eligible.", "departments.*.delay_days",
    "departments.*.records.*.source", "departments.*.records.*.activity",
    "departments.*.records.*.probability_per_attempt",
    "departments.*.records.*.probability_per_post",
    "scoring.record_expiry_days", "lists.*.trigger.records", "lists.*.duration_days",
    "lists.*.extension_days", "lists.*.extension_probability", "lists.*.compliance_per_year",
    "scoring.base", "scoring.min_score", "scoring.max_score", "scoring.drift_per_day",
    "scoring.enrolled_share",
    "scoring.association_penalty", "scoring.grades.[].name", "scoring.grades.[].min_score",
    "lists.*.kind", "lists.*.context", "lists.*.trigger.score_below",
    "lists.*.trigger.score_at_least", "lists.*.trigger.grade_at_most",
    "lists.*.trigger.grade_at_least",
    "behaviour.deterrence_elasticity", "behaviour.reference_coverage", "outputs.scores",
    "behaviour.chilling_self", "behaviour.chilling_contacts", "behaviour.chilling_half_life_days",
    "behaviour.income_recovery_half_life_days", "behaviour.min_income_factor",
    "behaviour.default_risk_elasticity", "departments.*.records.*.income_sensitive", "due_process.",
    "activities.", "measures.", "rewards.",
}  # fmt: skip
REFUSED: set[str] = set()
NO_EFFECT: set[str] = set()


def schema_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of a pydantic model, '*' for the keys of a mapping, '[]' for a list."""

    def models_in(t: object) -> list[tuple[str, type[BaseModel]]]:
        if isinstance(t, type) and issubclass(t, BaseModel):
            return [("", t)]
        args = typing.get_args(t)
        if typing.get_origin(t) is dict:
            return [("*.", m) for _, m in models_in(args[1])]
        if typing.get_origin(t) in (list, tuple):
            return [("[].", m) for a in args for _, m in models_in(a)]
        return [x for a in args for x in models_in(a)]  # unions, optionals

    keys = []
    for name, f in model.model_fields.items():
        inner = models_in(f.annotation)
        if inner:
            for sep, m in inner:
                keys += schema_keys(m, f"{prefix}{name}.{sep}")
        else:
            keys.append(prefix + name)
    return keys


def test_every_scenario_key_is_run_refused_or_without_effect() -> None:
    """A key added to the schema fails here until someone decides what compiled days do
    with it (and, to run it, adds it to compiled.run_days and the equality tests; to
    refuse it, to compiled.unsupported)."""

    def classified(key: str) -> bool:
        return any(key == c or (c.endswith(".") and key.startswith(c)) for c in classes)

    classes = RUN | REFUSED | NO_EFFECT
    unclassified = [k for k in schema_keys(Scenario) if not classified(k)]
    assert not unclassified, f"classify for compiled days: {unclassified}"
    assert not (RUN & REFUSED) and not (RUN & NO_EFFECT) and not (REFUSED & NO_EFFECT)
    # what compiled days still refuse is named by unsupported() when it is in use
    many = {f"a{i}": {"domain": "flights", "rate_per_year": 1.0} for i in range(65)}
    assert unsupported(core(activities=many)) == ["activities (more than 64)"]


def test_many_changes_errors_and_records_in_one_day(monkeypatch) -> None:
    """Everyone enters a list on day 0 (the lists' update returns early and resumes),
    thousands of subjects get erroneous points, the record arrays grow from their
    smallest size, and the city is large enough for the score tally's (cell, bin) table:
    the same tables either way."""
    monkeypatch.setattr("scslab.engine.loops.RECORD_CAPACITY_SLACK", 0.0)
    scenario = core(
        **{
            "departments.traffic_police.error_rate": 1.0,
            "departments.traffic_police.records.traffic.rate_per_year": 3.65,
            "lists.at_base": {
                "kind": "red",
                "context": "general",
                "trigger": {"score_at_least": 1000},
            },
        }
    )
    residents = 4 * 320 * 200 + 1000  # at least 4 agents per (cell, bin) of the tally
    general, compiled = both(scenario, seed=3, residents=residents, days=4, agents=True)
    assert_same_tables(general, compiled)
    listings = compiled.results.tables["listings"]  # type: ignore[attr-defined]
    assert (listings["day"] == 0).sum() > residents // 2
    records = compiled.results.tables["records"]  # type: ignore[attr-defined]
    assert len(records) > 1024 and records["erroneous"].sum() > 1024


@pytest.mark.parametrize("agents", [True, False])
def test_expiry_delays_and_record_lists_run_compiled(agents: bool) -> None:
    """Records that take effect days after they are written (per department), expire
    after record_expiry_days and give back what is left of their points, and put their
    subjects on record-triggered lists (with extensions and compliance exits) beside
    the score rules: the general loop's tables and state, bit for bit."""
    scenario = core(
        **{
            "scoring.record_expiry_days": 30,
            "scoring.drift_per_day": 0.01,
            "departments.tax.delay_days": 3,
            "departments.courts.delay_days": 7,
            "departments.courts.error_rate": 0.2,
            "departments.traffic_police.error_rate": 0.1,
            "lists.court_list": {
                "kind": "black",
                "context": "judicial",
                "trigger": {"records": ["court"]},
                "duration_days": 20,
                "extension_days": 10,
                "extension_probability": 0.5,
                "compliance_per_year": 4.0,
            },
            "lists.tax_red": {
                "kind": "red",
                "context": "tax",
                "trigger": {"records": ["tax", "volunteering"]},
                "duration_days": 15,
            },
        }
    )
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=7, residents=4000, days=90, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    log = compiled.state.log.as_columns()
    assert all(np.array_equal(a, log[k]) for k, a in general.state.log.as_columns().items())
    assert (log["status"] == EXPIRED).sum() > 100 and (log["status"] == PENDING).sum() > 0
    assert set(np.unique(log["effective_day"] - log["day"])) == {0, 3, 7}
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[m["group_by"] == "city"].pivot(index="day", columns="metric", values="value")
    for name in ("court_list", "tax_red"):
        entered = city[f"new_listings:{name}"].sum()
        assert entered > 10 and city[f"listed:{name}"].iloc[-1] < entered - 10  # some left
    assert np.array_equal(general.state.res.score, compiled.state.res.score)
    assert np.array_equal(general.state.res.error_points, compiled.state.res.error_points)
    assert general.state.res.listed.tolist() == compiled.state.res.listed.tolist()
    g, c = general.state.res.scorer, compiled.state.res.scorer
    assert g is not None and c is not None
    assert (g.queue_head, g.queued) == (c.queue_head, c.queued)
    assert general.state.log.first_pending == compiled.state.log.first_pending


def test_a_timeline_turns_expiry_and_delays_on_in_compiled_days() -> None:
    """Expiry and a delay switched on (and the expiry shortened) by the timeline: the
    queue's days go out of order, and compiled days still give the general loop's
    tables."""
    scenario = core(
        **{
            "scoring.drift_per_day": 0.005,
            "start_date": "2020-01-01",
            "timeline": [
                {
                    "date": "2020-01-21",
                    "set": {
                        "scoring.record_expiry_days": 40,
                        "departments.tax.delay_days": 5,
                    },
                },
                {"date": "2020-02-10", "set": {"scoring.record_expiry_days": 10}},
            ],
        }
    )
    general, compiled = both(scenario, seed=3, residents=3000, days=100)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    assert (compiled.state.log.column("status") == EXPIRED).sum() > 100
    c = compiled.state.res.scorer
    assert c is not None and not c.queue_in_order


@pytest.mark.parametrize("agents", [True, False])
def test_inert_enterprises_run_compiled(agents: bool) -> None:
    """A city with enterprises and individual businesses that no record, list, score or
    activity reaches: compiled days run its residents and count its enterprises as the
    general loop does (their number by group each day, all else zero)."""
    scenario = core(
        **{
            "population.enterprises_per_resident": 0.02,
            "population.individual_businesses_per_resident": 0.03,
        }
    )
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=6, residents=3000, days=30, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[(m["group_by"] == "city") & (m["metric"] == "enterprise.enterprises")]
    assert len(city) == 30 and (city["value"] == compiled.state.ent.n).all()
    assert compiled.state.ent.n > 100


FIRMS: dict[str, object] = {
    "population.enterprises_per_resident": 0.05,
    "population.individual_businesses_per_resident": 0.03,
    "departments.market_regulation": {
        "context": "commerce",
        "coverage": 0.7,
        "error_rate": 0.2,
        "delay_days": 3,
        "records": {
            "annual_report_missing": {"subject": "enterprise", "points": -20, "rate_per_year": 3},
            "counterfeit_goods": {
                "subject": "enterprise",
                "points": -30,
                "rate_per_year": 1.0,
                "listed_multiplier": 2.0,
            },
            "model_firm": {"subject": "enterprise", "points": 15, "rate_per_year": 2.0},
        },
    },
    "corporate_scoring": {
        "base": 1000,
        "min_score": 0,
        "max_score": 2000,
        "drift_per_day": 0.01,
        "record_expiry_days": 20,
        "grades": [
            {"name": "A", "min_score": 1010},
            {"name": "B", "min_score": 980},
            {"name": "C", "min_score": 0},
        ],
    },
    "lists.abnormal_operations": {
        "kind": "black",
        "subject": "enterprise",
        "context": "commerce",
        "trigger": {"records": ["annual_report_missing"]},
        "duration_days": 30,
        "extension_days": 10,
        "extension_probability": 0.5,
        "compliance_per_year": 4.0,
    },
    "lists.low_credit_firms": {
        "kind": "black",
        "subject": "enterprise",
        "context": "commerce",
        "trigger": {"grade_at_most": "C"},
    },
    "lists.model_firms": {
        "kind": "red",
        "subject": "enterprise",
        "context": "commerce",
        "trigger": {"score_at_least": 1010},
    },
}
"""Enterprises with records about them (errors, delays, a listed multiplier), a
corporate score (drift, expiry, grades) and lists by records, by grade and by score."""


@pytest.mark.parametrize(("agents", "scored"), [(True, True), (False, True), (True, False)])
def test_enterprise_records_lists_and_scores_run_compiled(agents: bool, scored: bool) -> None:
    """Enterprises go through compiled days as the residents do (records, corporate
    score, lists), with or without a corporate score (then their lists by records
    only): the general loop's tables and state, bit for bit, their listings reaching
    their legal representatives' masks."""
    firms = copy.deepcopy(FIRMS)
    if not scored:
        for key in ("corporate_scoring", "lists.low_credit_firms", "lists.model_firms"):
            del firms[key]
    scenario = core(**firms)  # type: ignore[arg-type]
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=6, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[m["group_by"] == "city"].pivot(index="day", columns="metric", values="value")
    assert city["enterprise.records_true:market_regulation"].sum() > 50
    assert city["enterprise.records_erroneous:market_regulation"].sum() > 10
    assert city["enterprise.new_listings:abnormal_operations"].sum() > 20
    assert city["enterprise.exits:abnormal_operations"].sum() > 5
    assert city["listed:blacklist"].iloc[-1] > 0  # the residents' own lists still fill
    g, c = general.state, compiled.state
    if scored:
        for name in ("low_credit_firms", "model_firms"):
            assert city[f"enterprise.new_listings:{name}"].sum() > 10
        assert city["enterprise.grade:C"].iloc[-1] > 0
        hist = compiled.results.tables["score_histogram"]  # type: ignore[attr-defined]
        assert set(hist["subject"]) == {"resident", "enterprise"}
        assert np.array_equal(g.ent.score, c.ent.score)
        assert np.array_equal(g.ent.error_points, c.ent.error_points)
    if agents:
        listings = compiled.results.tables["listings"]  # type: ignore[attr-defined]
        assert (listings["subject_type"] == "enterprise").sum() > 20
    listed = np.flatnonzero(c.ent.list_state.mask).tolist()
    assert g.ent.listed.tolist() == c.ent.listed.tolist() == listed
    assert np.array_equal(g.ent.list_state.mask, c.ent.list_state.mask)
    assert np.array_equal(g.rep_mask, c.rep_mask) and c.rep_mask.any()
    assert np.array_equal(g.rep_wrongful, c.rep_wrongful)
    assert g.rep_ids.tolist() == c.rep_ids.tolist() == np.flatnonzero(c.rep_mask).tolist()
    assert np.array_equal(g.trail.days_wrongful, c.trail.days_wrongful)


ACTIVITIES = {
    "departments.volunteering": {
        "context": "commerce",
        "records": {"volunteered": {"points": 20, "rate_per_year": 3.0}},
    },
    "activities": {
        "seek_medical_care": {"domain": "medical", "rate_per_year": 6.0, "base_wait_days": 7},
        "apply_for_loan": {
            "domain": "loans",
            "rate_per_year": 2.0,
            "eligible": "adults",
            "base_wait_days": 5,
            "poorest_to_richest": 2.0,
        },
        "apply_for_public_job": {
            "domain": "public_jobs",
            "rate_per_year": 1.5,
            "eligible": "working_age",
        },
        "post_online": {"domain": "online_accounts", "rate_per_year": 50.0},
    },
    "measures": {
        "no_jobs": {"list": "blacklist", "department": "courts", "domains": ["public_jobs"]},
        "slow_loans": {
            "list": "blacklist",
            "department": "tax",
            "domains": ["loans"],
            "effect": "delay",
            "delay_days": 30,
        },
        "no_posts": {"list": "blacklist", "department": "courts", "domains": ["online_accounts"]},
    },
    "rewards": {
        "by_grade": {"grade_at_least": "G", "domains": ["medical"], "wait_factor": 0.5},
        "by_list": {"list": "green_channel", "domains": ["loans"], "wait_factor": 0.8},
    },
}


def with_activities(**edits: object) -> Scenario:
    """core() with residents' activities, measures on its blacklist and green channels
    (by a grade above the base, reached by volunteering records, and by its red list)."""
    return core(**copy.deepcopy(ACTIVITIES), **edits)  # type: ignore[arg-type]


def city_sum(sim: Simulation, prefix: str) -> float:
    frame = sim.results.to_frame()  # type: ignore[attr-defined]
    return float(frame[[c for c in frame.columns if c.startswith(prefix)]].to_numpy().sum())


@pytest.mark.parametrize("agents", [True, False])
def test_activities_with_measures_and_rewards_run_compiled(agents: bool) -> None:
    """The core with activities blocked, delayed and sped up (the green channel by grade
    kept as a set, and by list): the same tables on both loops."""
    scenario = with_activities()
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=3, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled" and compiled.state.high_scores is not None
    assert_same_tables(general, compiled)
    for prefix in ("blocked:", "delayed:", "green_channel:", "blocked_by:", "posts"):
        assert city_sum(compiled, prefix) > 0, prefix
    assert compiled.state.high_scores.ids.tolist() == general.state.high_scores.ids.tolist()
    assert np.array_equal(general.state.blocked_count, compiled.state.blocked_count)


@pytest.mark.parametrize("agents", [True, False])
def test_measures_of_enterprise_lists_reach_legal_representatives(agents: bool) -> None:
    """Measures of enterprise lists block and delay the residents' attempts of the
    firms' legal representatives, on compiled days as in the general loop (the set of
    residents the measures may reach kept with the representatives of listed firms,
    beside the green channel by grade)."""
    scenario = with_activities(
        **copy.deepcopy(FIRMS),
        **{
            "activities.seek_medical_care.rate_per_year": 20.0,
            "departments.market_regulation.records.annual_report_missing.rate_per_year": 10,
        },
    )
    scenario.measures["firms_reps_no_jobs"] = scenario.measures["no_jobs"].model_copy(
        update={"list": "abnormal_operations", "domains": ["medical", "public_jobs"]}
    )
    scenario.measures["low_credit_no_loans"] = scenario.measures["no_jobs"].model_copy(
        update={"list": "low_credit_firms", "domains": ["loans"]}
    )
    scenario.measures["low_credit_slow_loans"] = scenario.measures["slow_loans"].model_copy(
        update={"list": "low_credit_firms", "domains": ["medical"]}
    )
    scenario = parse_scenario(yaml.safe_dump(scenario.model_dump(mode="json")))
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=4, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled" and compiled.state.high_scores is not None
    assert_same_tables(general, compiled)
    for name in ("blocked_by:abnormal_operations:medical", "blocked_by:low_credit_firms:loans"):
        assert city_sum(compiled, name) > 0, name
    assert np.array_equal(general.state.blocked_count, compiled.state.blocked_count)
    assert np.array_equal(general.state.wrongful_count, compiled.state.wrongful_count)


@pytest.mark.parametrize("agents", [True, False])
def test_rongcheng_runs_compiled(agents: bool) -> None:
    """The built-in rongcheng runs on compiled days under auto with the general loop's
    tables; with its lists' triggers widened (grade A and below listed, a green channel
    for grade A) its measures block and its rewards speed up attempts, still the same."""
    assert unsupported_in_run(load_scenario("rongcheng")) == []
    auto = Simulation("rongcheng", seed=3, residents=3000, days=60, agents=agents)
    auto.results = auto.run()  # type: ignore[attr-defined]
    general, _ = both(load_scenario("rongcheng"), seed=3, residents=3000, days=60, agents=agents)
    assert auto.engine_used == "compiled"
    assert_same_tables(general, auto)
    data = load_scenario("rongcheng").model_dump(mode="json", exclude_unset=True)
    data["lists"]["low_grade"]["trigger"] = {"grade_at_most": "A"}
    data["rewards"]["by_grade"] = {"grade_at_least": "A", "domains": ["medical"]}
    general, compiled = both(
        parse_scenario(yaml.safe_dump(data)), seed=3, residents=3000, days=60, agents=agents
    )
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    assert city_sum(compiled, "blocked:") > 0 and city_sum(compiled, "green_channel:") > 0


@pytest.mark.parametrize("agents", [True, False])
def test_a_scenario_without_scores_runs_compiled(agents: bool) -> None:
    """china-courts-2014 keeps no score (no scoring section): under auto it runs on
    compiled days, through its timeline's changes of the courts' reach (2016), with the
    general loop's tables, and the state keeps no scores either way."""
    sc = load_scenario("china-courts-2014")
    assert sc.scoring is None and unsupported_in_run(sc) == []
    run = {"seed": 2, "scale": 0.0001, "days": 900, "agents": agents}
    auto = Simulation(sc, **run)  # type: ignore[arg-type]
    auto.results = auto.run()  # type: ignore[attr-defined]
    general, _ = both(sc, **run)
    assert auto.engine_used == "compiled"
    assert_same_tables(general, auto)
    assert len(auto.state.res.score) == 0 and auto.state.res.scorer is None
    assert city_sum(auto, "listed:") > 0 and city_sum(auto, "blocked:") > 0


RESPONSES = {
    "lists.blacklist.trigger.score_below": 995.0,  # (more listed, trying more often)
    "activities.apply_for_public_job.rate_per_year": 30.0,
    "activities.apply_for_loan.rate_per_year": 30.0,
    "measures.no_jobs.attempt_multiplier": 0.7,
    "measures.no_jobs.attempt_multiplier_floor": 0.1,
    "measures.no_jobs.learning_half_life_days": 15.0,
    "measures.no_jobs.avoidance": 0.3,
    "measures.slow_loans.attempt_multiplier": 0.5,
    "measures.slow_loans.avoidance": 0.6,
    "measures.no_posts.attempt_multiplier": 0.2,
}


@pytest.mark.parametrize("agents", [True, False])
def test_list_responses_run_compiled(agents: bool) -> None:
    """Listed residents who make fewer attempts (a multiplier that learns toward its
    floor, another that does not), some replaced by an alternative: the same tables on
    both loops, and the same day of listing kept for every listed resident."""
    scenario = with_activities(**RESPONSES)
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=4, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    for domain in ("public_jobs", "loans", "online_accounts"):
        assert city_sum(compiled, f"avoided:{domain}") > 0, domain
    assert np.array_equal(general.state.res.since, compiled.state.res.since)
    assert compiled.state.res.since.max() > 0  # listings after day 0, read by learning
    assert city_sum(compiled, "blocked:public_jobs") > 0  # (not every attempt avoided)


POSTS = {
    "departments.cyberspace": {
        "context": "online_speech",
        "coverage": 0.5,
        "error_rate": 0.05,
        "delay_days": 2,
        "records": {
            "harmful_post": {"source": "posts", "points": -50, "probability_per_post": 0.02},
            "rumour": {"source": "posts", "points": -20, "probability_per_post": 0.01},
        },
    },
    "departments.letters_and_visits": {
        "context": "petitioning",
        "coverage": 0.8,
        "error_rate": 0.02,
        "records": {
            "loan_fraud": {
                "source": "activity",
                "activity": "apply_for_loan",
                "probability_per_attempt": 0.2,
                "points": -30,
            }
        },
    },
}


def with_posts(**edits: object) -> Scenario:
    """with_activities() with records from posts (two kinds, delayed, with errors) and
    from the attempts at a loan (no delay), as beijing-2018's cyberspace department and
    beijing-2018-loyalty's kinds from activities."""
    return with_activities(**copy.deepcopy(POSTS), **edits)


@pytest.mark.parametrize("agents", [True, False])
def test_records_from_posts_and_activities_run_compiled(agents: bool) -> None:
    """Posts and loan applications flagged (among residents whom no measure reaches, and
    among the attempts that went ahead past the measures) and recorded the next day: the
    same tables on both loops, in one chunk of days or in many (the flagged residents
    carried from one to the next)."""
    scenario = with_posts()
    assert unsupported(scenario) == []
    run = {"seed": 3, "residents": 3000, "days": 60, "agents": agents}
    general, compiled = both(scenario, **run)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    log = compiled.state.log
    names = np.array(compiled.state.kinds.names)[log.column("kind")[: log.n]]
    made = {k: int((names == k).sum()) for k in ("harmful_post", "rumour", "loan_fraud")}
    assert min(made.values()) > 10, made
    flagged = compiled.state.log.column("day")[: log.n][names == "harmful_post"]
    assert flagged.max() < 59  # (the last day's flags become records the day after)
    assert city_sum(compiled, "blocked:online_accounts") > 0  # some posters were reached
    for a, b in zip(general.state.flagged_yesterday, compiled.state.flagged_yesterday, strict=True):
        assert a.tolist() == b.tolist()
    chunked = Simulation(scenario, engine="compiled", **run)  # type: ignore[arg-type]
    chunked.results = chunked.run(progress=lambda done, total: None)  # type: ignore[attr-defined]
    assert_same_tables(general, chunked)


FIRM_ACTIVITIES = {
    "activities.firm_loan": {"domain": "loans", "subject": "enterprise", "rate_per_year": 12.0},
    "activities.bid_public_procurement": {
        "domain": "public_services",
        "subject": "enterprise",
        "rate_per_year": 8.0,
        "base_wait_days": 3,
    },
    "activities.seek_medical_care.rate_per_year": 20.0,
    "departments.market_regulation.records.annual_report_missing.rate_per_year": 10,
}
"""beijing-2018's enterprises' activities (a loan, a bid), attempted more often, beside
the residents' (of test_measures_of_enterprise_lists_reach_legal_representatives)."""


@pytest.mark.parametrize("agents", [True, False])
def test_enterprises_activities_run_compiled(agents: bool) -> None:
    """Enterprises' attempts blocked by the measures of their own lists (one with a
    response that learns: fewer attempts, some replaced), delayed by another, between
    the residents' activities (the same lists' measures reaching the legal
    representatives): the same tables on both loops, the enterprises' outcomes in their
    own rows, and the same day of listing kept for every listed enterprise."""
    scenario = with_activities(**copy.deepcopy(FIRMS), **copy.deepcopy(FIRM_ACTIVITIES))
    scenario.measures["abnormal_no_loans"] = scenario.measures["no_jobs"].model_copy(
        update={
            "list": "abnormal_operations",
            "department": "market_regulation",
            "domains": ["loans", "public_jobs"],
            "attempt_multiplier": 0.6,
            "attempt_multiplier_floor": 0.2,
            "learning_half_life_days": 10.0,
            "avoidance": 0.5,
        }
    )
    scenario.measures["low_credit_slow_bids"] = scenario.measures["slow_loans"].model_copy(
        update={
            "list": "low_credit_firms",
            "department": "market_regulation",
            "domains": ["public_services"],
        }
    )
    scenario = parse_scenario(yaml.safe_dump(scenario.model_dump(mode="json")))
    assert unsupported(scenario) == []
    subjects = [act.subject for act in scenario.activities.values()]
    assert subjects[0] == subjects[-1] == "resident" and "enterprise" in subjects  # (between)
    general, compiled = both(scenario, seed=4, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    m = compiled.results.tables["metrics"]  # type: ignore[attr-defined]
    city = m[m["group_by"] == "city"].pivot(index="day", columns="metric", values="value")
    for name in (
        "enterprise.attempts:loans",
        "enterprise.blocked:loans",
        "enterprise.blocked_by:abnormal_operations:loans",
        "enterprise.avoided:loans",
        "enterprise.attempts:public_services",
        "enterprise.delayed:public_services",
        "blocked_by:abnormal_operations:public_jobs",  # (the representatives')
    ):
        assert city[name].sum() > 0, name
    assert np.array_equal(general.state.ent.since, compiled.state.ent.since)
    assert compiled.state.ent.since.max() > 0  # listings after day 0, read by learning
    run = {"seed": 4, "residents": 3000, "days": 60, "agents": agents}
    chunked = Simulation(scenario, engine="compiled", **run)  # type: ignore[arg-type]
    chunked.results = chunked.run(progress=lambda done, total: None)  # type: ignore[attr-defined]
    assert_same_tables(general, chunked)


@pytest.mark.parametrize("agents", [True, False])
def test_chilling_and_income_lost_to_blocks_run_compiled(agents: bool) -> None:
    """Residents penalised by a record or newly blacklisted, and their contacts, post
    less (chilling); blocked job applications cut income: the same tables and the same
    propensities, income and harm trail on both loops."""
    job = "activities.apply_for_public_job"
    scenario = with_activities(
        **{
            "behaviour.chilling_self": 0.3,
            "behaviour.chilling_contacts": 0.1,
            f"{job}.income_loss_if_blocked": 0.2,
            f"{job}.rate_per_year": 12.0,
        }
    )
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=3, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    assert city_sum(compiled, "income_shocks") > 0
    for name in ("chill", "income"):
        g, c = getattr(general.state, name), getattr(compiled.state, name)
        assert np.array_equal(g.value, c.value) and np.array_equal(g.since, c.since)
        assert np.array_equal(g.deficits(60), c.deficits(60))
    assert (compiled.state.chill.value < 1).sum() > 100  # penalised residents and contacts
    assert (compiled.state.income.value < 1).any()
    assert np.array_equal(general.state.trail.income_shocks, compiled.state.trail.income_shocks)
    # chilled residents post less: fewer posts than without chilling
    calm = with_activities(**{f"{job}.rate_per_year": 12.0})
    unchilled = Simulation(calm, seed=3, residents=3000, days=60, agents=agents)
    unchilled.results = unchilled.run()  # type: ignore[attr-defined]
    assert city_sum(compiled, "posts") < city_sum(unchilled, "posts")


def test_income_sensitive_records_run_compiled() -> None:
    """Finance records (income-sensitive, elasticity 2) come far more often to residents
    whose income blocked attempts cut: the same tables on both loops."""
    loss = {
        f"activities.{a}.income_loss_if_blocked": 0.9
        for a in ("apply_for_public_job", "post_online")
    }
    scenario = with_activities(
        **loss,
        **{
            "departments.finance.records.finance.income_sensitive": True,
            "behaviour.default_risk_elasticity": 2.0,
            "behaviour.min_income_factor": 0.05,
        },
    )
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=5, residents=3000, days=60, agents=True)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    tables = compiled.results.tables  # type: ignore[attr-defined]
    shocked = tables["residents"]["income_shocks"].to_numpy() > 0
    records = tables["records"]
    finance = records.loc[records["kind"] == "finance", "subject"].to_numpy()
    assert 0 < shocked.mean() < 0.2
    assert shocked[finance].mean() > 5 * shocked.mean()


DUE_PROCESS = {
    "due_process": {
        "defaults": {
            "notice": {"share": 0.3, "delay_days": 2},
            "appeal": {
                "window_days": 10,
                "base_probability": 0.5,
                "erroneous_multiplier": 2.0,
                "from_first_block": True,
            },
            "review": {"days_to_decide": 5, "find_error": 0.8, "overturn_true": 0.2},
            "repair": {"method": "comply", "wait_days": 20, "rate_per_year": 6.0},
        },
        "kinds": {"traffic": {"repair": {"method": "wait", "wait_days": 30}}},
    },
    "departments.courts.error_rate": 0.2,
    "lists.court_list": {
        "kind": "black",
        "context": "judicial",
        "trigger": {"records": ["court"]},
        "duration_days": 60,
    },
    "measures.court_ban": {
        "list": "court_list",
        "department": "courts",
        "domains": ["online_accounts"],
    },
}


@pytest.mark.parametrize("agents", [True, False])
def test_due_process_runs_compiled(agents: bool) -> None:
    """The core with activities and due process (notices to some, appeals by the
    notified and, from their first block, by the unnotified; reviews; repairs by
    complying and by waiting, releasing record-triggered listings): the general loop's
    tables, record log and due-process state, bit for bit."""
    scenario = with_activities(**copy.deepcopy(DUE_PROCESS))  # type: ignore[arg-type]
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=5, residents=4000, days=90, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    for metric in (
        "notices",
        "appeals_filed",
        "appeals_won",
        "records_corrected",
        "records_overturned",
        "records_repaired",
    ):
        assert city_sum(compiled, metric) > 0, metric
    log = compiled.state.log.as_columns()
    assert all(np.array_equal(a, log[k]) for k, a in general.state.log.as_columns().items())
    unnotified = (log["appeal_day"] >= 0) & (log["notice_day"] < 0)
    assert unnotified.sum() > 5  # appealed from a first block
    assert np.array_equal(general.state.res.score, compiled.state.res.score)
    g, c = general.state.dp, compiled.state.dp
    for name, value in vars(g).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, getattr(c, name)), name
    if agents:
        unaware = compiled.results.tables["residents"]["days_listed_unaware"]  # type: ignore[attr-defined]
        assert unaware.sum() > 0


@pytest.mark.parametrize(("agents", "scored"), [(True, True), (False, True), (True, False)])
def test_due_process_of_enterprises_runs_compiled(agents: bool, scored: bool) -> None:
    """Due process of the enterprises' records beside the residents' (the enterprises
    appeal with their legal representatives' attributes; a withdrawn or repaired record
    gives its points back to the corporate score, if any, and releases the listing it
    fed): the general loop's tables, record log, scores and due-process state, bit for
    bit, with the enterprises' appeals and repairs counted in their own rows."""
    firms = copy.deepcopy(FIRMS)
    if not scored:
        for key in ("corporate_scoring", "lists.low_credit_firms", "lists.model_firms"):
            del firms[key]
    due = copy.deepcopy(DUE_PROCESS)
    # (repaired by waiting before the corporate score's expiry, 20 days, ends it)
    due["due_process"]["kinds"]["annual_report_missing"] = {  # type: ignore[index]
        "repair": {"method": "wait", "wait_days": 10}
    }
    scenario = with_activities(**firms, **due)  # type: ignore[arg-type]
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=7, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    for side in ("", "enterprise."):
        for metric in ("notices", "appeals_filed", "appeals_won", "records_repaired"):
            assert city_sum(compiled, side + metric) > 0, side + metric
    log = compiled.state.log.as_columns()
    assert all(np.array_equal(a, log[k]) for k, a in general.state.log.as_columns().items())
    g, c = general.state, compiled.state
    assert np.array_equal(g.ent.score, c.ent.score)
    assert np.array_equal(g.ent.error_points, c.ent.error_points)
    if scored:
        assert g.ent.scorer is not None and c.ent.scorer is not None
        errors = [sorted(s.ent.scorer.error_ids.tolist()) for s in (g, c)]  # (any order)
        assert errors[0] == errors[1] and len(errors[0]) > 10
    assert np.array_equal(g.ent.list_state.mask, c.ent.list_state.mask)
    assert np.array_equal(g.rep_mask, c.rep_mask)
    for name, value in vars(g.dp).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, getattr(c.dp, name)), name


@pytest.mark.parametrize("agents", [True, False])
def test_every_residents_mechanism_at_once_runs_compiled(agents: bool) -> None:
    """Records from posts and attempts, due process (from a first block too), list
    responses, chilling and income lost to blocks, all in one scenario: they meet within
    a day (a blocked attempt both shocks income and tells the resident of a listing; a
    listed poster responds, posts less when chilled, and is recorded for the posts that
    went ahead), and the two loops still give the same tables."""
    scenario = with_posts(
        **copy.deepcopy(DUE_PROCESS),  # type: ignore[arg-type]
        **RESPONSES,  # type: ignore[arg-type]
        **{
            "behaviour.chilling_self": 0.3,
            "behaviour.chilling_contacts": 0.1,
            "activities.apply_for_public_job.income_loss_if_blocked": 0.2,
            "departments.finance.records.finance.income_sensitive": True,
            "behaviour.default_risk_elasticity": 1.0,
        },
    )
    assert unsupported(scenario) == []
    general, compiled = both(scenario, seed=6, residents=3000, days=60, agents=agents)
    assert compiled.engine_used == "compiled"
    assert_same_tables(general, compiled)
    for prefix in ("avoided:", "income_shocks", "records_true:cyberspace", "appeals"):
        assert city_sum(compiled, prefix) > 0, prefix


@pytest.mark.parametrize(
    "name", ["beijing-2018", "beijing-2018-loyalty", "beijing-2018-safeguards"]
)
def test_every_builtin_scenario_runs_compiled_with_the_general_loops_tables(name: str) -> None:
    """The plan and its variants (every mechanism: enterprises and their activities,
    due process of either side, chilling, income, records from posts and activities,
    list responses, the enrolment ramp) run on compiled days under auto, with the
    general loop's tables bit for bit; rongcheng and china-courts-2014 are tested above."""
    sc = load_scenario(name)
    assert unsupported_in_run(sc) == []
    run = {"seed": 7, "residents": 4000, "days": 120, "agents": True}
    auto = Simulation(sc, **run)  # type: ignore[arg-type]
    auto.results = auto.run()  # type: ignore[attr-defined]
    general, _ = both(sc, **run)
    assert auto.engine_used == "compiled"
    assert_same_tables(general, auto)
    tables = auto.results.tables  # type: ignore[attr-defined]
    assert len(tables["records"]) > 100 and len(tables["listings"]) > 5
    assert tables["enterprises"]["records"].sum() > 0 and city_sum(auto, "blocked:") > 0
