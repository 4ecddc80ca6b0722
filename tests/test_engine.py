"""The daily loop: determinism, common random numbers, invariants, every mechanism on."""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np
import pandas as pd
import pytest
import yaml

from scslab import Results, Simulation, load_run
from scslab.scenario.loader import builtin_text, parse_scenario
from scslab.scenario.sections import DOMAINS
from tests.audit_helpers import builtin_dict


def tables_equal(a: Results, b: Results) -> None:
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)


def test_same_seed_same_tables(tmp_path, small_run) -> None:
    again = Simulation("beijing-2018", seed=3, residents=8000, days=90).run(out=tmp_path / "b")
    tables_equal(load_run(small_run.path), load_run(again.path))


def test_results_do_not_depend_on_threads() -> None:
    """One thread, or more: contacts filled by ranges, scores tallied in a worker thread."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = Simulation("beijing-2018", seed=9, residents=4000, days=40).run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = Simulation("beijing-2018", seed=9, residents=4000, days=40).run()
    finally:
        numba.set_num_threads(before)
    tables_equal(one, many)


def test_other_seed_differs(small_run) -> None:
    other = Simulation("beijing-2018", seed=4, residents=8000, days=90).run()
    assert not small_run.tables["records"].equals(other.tables["records"])


def test_common_random_numbers() -> None:
    """A rule that feeds nothing else (how often people fly) leaves every other draw alone."""
    data = yaml.safe_load(builtin_text("beijing-2018"))
    a = Simulation(parse_scenario(yaml.safe_dump(data)), seed=2, residents=6000, days=60).run()
    data["activities"]["fly"]["rate_per_year"] *= 3
    b = Simulation(parse_scenario(yaml.safe_dump(data)), seed=2, residents=6000, days=60).run()
    pd.testing.assert_frame_equal(a.tables["records"], b.tables["records"])
    fa, fb = a.to_frame(), b.to_frame()
    assert fb["attempts:flights"].sum() > 2 * fa["attempts:flights"].sum()
    pd.testing.assert_series_equal(fa["attempts:medical"], fb["attempts:medical"])


def test_invariants(small_run) -> None:
    city = small_run.to_frame()
    records = small_run.tables["records"]
    # true + erroneous = all records, per department
    for dept, group in records.groupby("department", observed=True):
        if group["subject_type"].eq("resident").all():
            true = city.get(f"records_true:{dept}", pd.Series(0)).sum()
            wrong = city.get(f"records_erroneous:{dept}", pd.Series(0)).sum()
            effective = group[group["status"] != "pending"]
            assert true + wrong == len(effective)
            assert wrong == effective["erroneous"].sum()
    # list sizes never negative, and follow entries minus exits
    for col in [c for c in city.columns if c.startswith("listed:")]:
        name = col.split(":", 1)[1]
        assert (city[col] >= 0).all()
        flows = (city[f"new_listings:{name}"] - city[f"exits:{name}"]).cumsum()
        assert (flows == city[col]).all()
    # scores stay in bounds; grade counts add up to everyone
    res = small_run.tables["residents"]
    assert res["score"].between(0, 2000).all()
    grades = city[[c for c in city.columns if c.startswith("grade:")]].sum(axis=1)
    assert (grades == city["residents"]).all()
    # groups add up to the city
    for group_by in ("district", "hukou", "income_decile"):
        by = small_run.to_frame(group_by).groupby("day")["blacklisted"].sum()
        assert (by.to_numpy() == city["blacklisted"].to_numpy()).all()
    # wrongful sanctions are a subset of sanctions
    for d in DOMAINS:
        if f"blocked:{d}" in city:
            assert (city[f"wrongful_blocked:{d}"] <= city[f"blocked:{d}"]).all()
    # final agent state agrees with the last day's metrics
    last = city.iloc[-1]
    assert res["on_dishonest_judgment_debtors"].sum() == last["listed:dishonest_judgment_debtors"]
    assert res["blocked_attempts"].sum() == sum(
        city[c].sum() for c in city.columns if c.startswith("blocked:")
    )


def test_corporate_sanctions_reach_the_legal_representative(small_sim) -> None:
    sim = small_sim
    pop = sim.population
    ent_mask = sim.state.ent.list_state.mask
    listed_firms = np.flatnonzero(ent_mask)
    assert len(listed_firms) > 0
    reps = pop.enterprises.legal_rep[listed_firms]
    assert (sim.state.rep_mask[reps] != 0).all()
    expect = np.zeros(pop.n_residents, np.uint8)
    np.bitwise_or.at(expect, pop.enterprises.legal_rep, ent_mask)
    assert (expect == sim.state.rep_mask).all()
    # the sets the activities start from, kept from the day's changes without a scan
    assert sim.state.rep_ids.tolist() == np.flatnonzero(sim.state.rep_mask).tolist()
    for side in (sim.state.res, sim.state.ent):
        assert side.listed.tolist() == np.flatnonzero(side.list_state.mask).tolist()


def test_manifest(small_run) -> None:
    m = small_run.manifest
    assert m["scenario"] == "beijing-2018" and m["seed"] == 3 and m["residents"] == 8000
    for key in ("build_population_s", "simulate_s", "setup_s", "write_s", "total_s"):
        assert m["timings"][key] >= 0
    assert m["timings"]["setup_s"] <= m["timings"]["simulate_s"]
    assert set(m["timings"]["phases_s"]) == {
        "departments",
        "scoring",
        "due_process",
        "lists_and_measures",
        "activities",
        "behaviour",
        "collectors",
    }
    worker = m["timings"]["worker_s"]  # the worker thread's tasks (0 when run inline)
    assert set(worker) == {"drift", "score_tally"} and min(worker.values()) >= 0
    if m["threads"] > 1 and m["engine"] == "general":  # (compiled days drift inline)
        assert worker["drift"] > 0 and worker["score_tally"] > 0
    assert (small_run.path / "scenario.yaml").read_text().startswith("name: beijing-2018")
    assert not list(small_run.path.parent.glob(".*partial"))


@pytest.mark.slow
def test_a_year_at_default_scale_touches_every_domain() -> None:
    res = Simulation("beijing-2018", seed=1, days=365, agents=False).run()
    total = res.totals()
    for dom in (
        "flights",
        "high_speed_rail",
        "hotels_tourism",
        "loans",
        "business_registration",
        "public_jobs",
        "public_services",
        "private_schools",
        "online_accounts",
    ):
        assert total[f"blocked:{dom}"] > 0, dom
    assert total["green_channel:medical"] > 0 and total["green_channel:education"] > 0
    assert sum(v for k, v in total.items() if k.startswith("wrongful_blocked:")) > 0
    assert "residents" not in res.tables


def test_green_channel_set_without_a_scan(monkeypatch) -> None:
    """The residents reached by a score reward are kept as a set (records are the only way
    up); the run is identical to one that finds them by scanning every score each day."""
    data = builtin_dict()  # every resident enrolled
    data["departments"]["civil_affairs"]["records"]["volunteering"]["points"] = 40
    scenario = parse_scenario(yaml.safe_dump(data))
    kept = Simulation(scenario, seed=4, residents=8000, days=120)
    a = kept.run()
    assert kept.state.high_scores is not None
    high = np.flatnonzero(kept.state.res.score >= kept.state.green_score)
    assert len(high) > 100 and kept.state.high_scores.ids.tolist() == high.tolist()
    monkeypatch.setattr("scslab.engine.state.HighScores", lambda at_least, score: None)
    scanned = Simulation(scenario, seed=4, residents=8000, days=120)
    b = scanned.run()
    assert scanned.state.high_scores is None
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.to_frame()["green_channel:medical"].sum() > 0


def test_scores_left_out_change_nothing_else() -> None:
    """outputs.scores: false skips the score tally: the metrics lose score_sum and the
    grades (residents' and market entities'), the score histogram is empty, no tally
    runs in the worker thread, and every other table and value is the same."""
    data = yaml.safe_load(builtin_text("beijing-2018"))
    on = Simulation(parse_scenario(yaml.safe_dump(data)), seed=6, residents=5000, days=30)
    data["outputs"] = {"scores": False}
    off = Simulation(parse_scenario(yaml.safe_dump(data)), seed=6, residents=5000, days=30)
    a, b = on.run(), off.run()
    assert off.state.worker_seconds["score_tally"] == 0.0
    score_metric = (
        a.tables["metrics"]["metric"]
        .astype(str)
        .str.contains(r"(?:^|\.)(?:score_sum|grade:)", regex=True)
    )
    assert score_metric.any() and a.tables["metrics"]["metric"].str.startswith("enterprise.").any()
    kept = a.tables["metrics"][~score_metric].reset_index(drop=True)
    kept["metric"] = kept["metric"].cat.remove_unused_categories()
    pd.testing.assert_frame_equal(kept, b.tables["metrics"], check_exact=True)
    assert len(a.tables["score_histogram"]) > 0 and len(b.tables["score_histogram"]) == 0
    for name in a.tables.keys() - {"metrics", "score_histogram"}:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)


def test_large_runs_keep_the_memory_they_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose arrays of one int64 per resident reach MAPPED_ALONE_BYTES keeps the
    memory it frees for its next arrays while it lasts (arena.keeping_freed_memory);
    a smaller one leaves malloc alone; both give the same tables."""
    from contextlib import contextmanager

    import scslab.engine.simulation as simulation

    entered: list[int] = []
    keeping = simulation.keeping_freed_memory

    @contextmanager
    def spy() -> Iterator[None]:
        entered.append(1)
        with keeping():
            yield

    monkeypatch.setattr(simulation, "keeping_freed_memory", spy)
    small = Simulation("beijing-2018", seed=5, residents=2000, days=10).run()
    assert entered == []
    monkeypatch.setattr(simulation, "MAPPED_ALONE_BYTES", 8 * 2000)
    large = Simulation("beijing-2018", seed=5, residents=2000, days=10).run()
    assert entered == [1]
    assert small.tables.keys() == large.tables.keys()
    for name, table in small.tables.items():
        pd.testing.assert_frame_equal(table, large.tables[name])
