"""`explain`: one synthetic resident's history, replayed from a run directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scslab import load_run
from scslab.analysis.explain import explain
from scslab.analysis.harm import listing_episodes, open_run
from scslab.analysis.replay import Model, blacklisted_contacts, replay
from scslab.cli import app
from scslab.scenario.population import build_population
from scslab.streams import stream_key
from tests.audit_helpers import ALWAYS_APPEAL, builtin_dict, error_prone, scenario, tiny_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir() -> Path:
    return tiny_run("beijing-2018")


def test_explain_replays_every_kind_of_resident_exactly(run_dir: Path) -> None:
    res = load_run(run_dir).tables["residents"]
    rng = np.random.default_rng(0)
    picks = set(rng.choice(len(res), 10, replace=False).tolist())
    for col in ("records", "days_blacklisted", "listed_contacts", "erroneous_records"):
        picks |= set(res.index[res[col] > 0][:3].tolist())
    picks |= {0, len(res) - 1}
    for i in sorted(picks):
        e = explain(run_dir, int(i))
        assert e.exact, (i, e.notes)
        assert len(e.score) == 60
        assert e.score[-1] == pytest.approx(float(res.loc[i, "score"]), abs=0.01)
        assert len(e.records) == int(res.loc[i, "records"])
        json.dumps(e.to_dict())  # JSON-ready


def test_association_penalty_is_replayed(run_dir: Path) -> None:
    res = load_run(run_dir).tables["residents"]
    lonely = res[(res["listed_contacts"] > 0) & (res["records"] == 0)]
    assert len(lonely)
    e = explain(run_dir, int(lonely.index[0]))
    assert e.score[-1] < 1000.0 and e.exact


def test_decisive_erroneous_record_of_a_wrongful_listing() -> None:
    run_dir = tiny_run(error_prone())
    listings = load_run(run_dir).tables["listings"]
    wrong = listings[
        listings["entered"] & listings["wrongful"] & (listings["list"] == "railway_misconduct")
    ]
    who = int(wrong["subject"].iloc[0])
    e = explain(run_dir, who)
    ep = next(x for x in e.listings if x["wrongful"])
    assert ep["decisive_records"]
    rec = {r["id"]: r for r in e.records}
    assert all(rec[i]["truth"] == "erroneous" for i in ep["decisive_records"])
    assert ep["listed_without_erroneous_records"] is False
    assert any("rail" in m for m in ep["measures"])


def test_decisive_record_of_a_score_listing() -> None:
    d = builtin_dict()
    d["name"] = "drunk"
    d["departments"]["traffic_police"]["records"]["drunk_driving"]["rate_per_year"] = 0.5
    d["departments"]["traffic_police"]["delay_days"] = 0
    run_dir = tiny_run(scenario(d))
    listings = load_run(run_dir).tables["listings"]
    low = listings[listings["entered"] & (listings["list"] == "low_credit")]
    assert len(low)
    e = explain(run_dir, int(low["subject"].iloc[0]))
    ep = next(x for x in e.listings if x["list"] == "low_credit")
    kinds = {r["id"]: r["kind"] for r in e.records}
    assert "drunk_driving" in {kinds[i] for i in ep["decisive_records"]}


def test_explain_cli(run_dir: Path) -> None:
    res = load_run(run_dir).tables["residents"]
    who = int(res.index[res["records"] > 0][0])
    out = runner.invoke(app, ["explain", str(run_dir), str(who)])
    assert out.exit_code == 0 and "Synthetic resident" in out.stdout
    doc = json.loads(runner.invoke(app, ["explain", str(run_dir), str(who), "--json"]).stdout)
    assert doc["resident"] == who and doc["records"]
    for args in ([str(run_dir), "5000"], [str(run_dir), "--", "-1"], ["/nonexistent", "1"]):
        bad = runner.invoke(app, ["explain", *args])
        assert bad.exit_code == 2 and bad.stderr.startswith("error:"), args


def test_explain_without_per_agent_tables_is_a_clear_error(tmp_path: Path) -> None:
    from scslab import Simulation

    out = tmp_path / "lean"
    Simulation("beijing-2018", residents=2000, days=5, agents=False).run(out=out)
    bad = runner.invoke(app, ["explain", str(out), "1"])
    assert bad.exit_code == 2 and "--agents" in bad.stderr
    assert isinstance(pd.read_parquet(out / "metrics.parquet"), pd.DataFrame)


@pytest.fixture(scope="module")
def churn_run() -> Path:
    """beijing-2018 with short railway bans that residents leave by compliance or keep by
    extension (random draws), a score list fed by drunk driving with erroneous records,
    every erroneous record corrected on appeal ten days after it took effect (while a
    later record may keep its subject on the list), expiry after 20 days and a heavy
    association penalty: every path into and out of a list, and the score's every term."""
    d = builtin_dict()
    d["name"] = "churn"
    d["departments"]["transport"].update(error_rate=0.3, coverage=1.0, delay_days=0)
    d["departments"]["transport"]["records"]["fare_evasion"]["rate_per_year"] = 1.0
    d["departments"]["traffic_police"].update(delay_days=0, error_rate=0.2)
    d["departments"]["traffic_police"]["records"]["drunk_driving"]["rate_per_year"] = 0.5
    d["lists"]["railway_misconduct"].update(
        duration_days=8, extension_days=6, extension_probability=0.5, compliance_per_year=20.0
    )
    d["scoring"]["association_penalty"] = 2.0
    review = {**ALWAYS_APPEAL["review"], "days_to_decide": 10}
    d["due_process"] = {"defaults": {**ALWAYS_APPEAL, "review": review, "expiry_days": 20}}
    return tiny_run(scenario(d))


def _logged(listings: pd.DataFrame, who: int) -> pd.DataFrame:
    mine = listings[(listings["subject_type"] == "resident") & (listings["subject"] == who)]
    return mine[["day", "list", "entered", "wrongful"]].reset_index(drop=True)


def test_the_replay_is_the_runs_score_and_listings(churn_run: Path) -> None:
    run, sc = open_run(churn_run)
    res, rec, listings = (run.tables[t] for t in ("residents", "records", "listings"))
    days, seed = int(run.manifest["days"]), int(run.manifest["seed"])
    pop = build_population(sc.population, len(res), seed)
    model = Model.of(sc, seed)
    listed = np.unique(listings.loc[listings["subject_type"] == "resident", "subject"])
    # a sample, and everyone with a ban's record withdrawn while another may keep them on
    fare = rec[(rec["kind"] == "fare_evasion") & (rec["subject_type"] == "resident")]
    kept = fare.groupby("subject")["status"].agg(lambda s: len(s) > 1 and "corrected" in set(s))
    who = np.union1d(listed[:: max(1, len(listed) // 120)], kept.index[kept.to_numpy(bool)])
    seen = pd.concat([_logged(listings, int(i)) for i in who])
    assert set(seen["list"]) == {"railway_misconduct", "low_credit"}
    assert seen["wrongful"].any() and (~seen["entered"]).sum() > 50
    # draws of compliance and extension, and association penalties, shape the run:
    # a model with another list stream, or no penalty, would not replay it
    other_draws = dataclasses.replace(model, list_key=stream_key(seed + 1, "lists.resident"))
    no_penalty = dataclasses.replace(
        model, score=dataclasses.replace(model.score, association_penalty=0.0)
    )
    differ = {"draws": 0, "penalty": 0}
    for i in who:
        mine = rec[(rec["subject_type"] == "resident") & (rec["subject"] == i)]
        black = blacklisted_contacts(sc, pop.contacts.neighbours(int(i)), listings, days)
        rp = replay(model, mine, int(i), days, black)
        assert rp.score[-1] == res.loc[i, "score"], i  # float32, bit for bit
        pd.testing.assert_frame_equal(rp.changes, _logged(listings, int(i)), check_dtype=False)
        for r in mine[mine["effective_day"] < days].itertuples():
            assert (rp.status[r.id], rp.end_day[r.id]) == (r.status, r.end_day), (i, r.id)
        differ["draws"] += not replay(other_draws, mine, int(i), days, black).changes.equals(
            rp.changes
        )
        differ["penalty"] += replay(no_penalty, mine, int(i), days).score[-1] != rp.score[-1]
    assert differ["draws"] > len(who) // 4 and differ["penalty"] > len(who) // 4, differ


def test_each_explained_listing_is_one_of_the_run(churn_run: Path) -> None:
    run = load_run(churn_run)
    res, listings = run.tables["residents"], run.tables["listings"]
    episodes = listing_episodes(listings, int(run.manifest["days"]) - 1)
    busy = listings[listings["subject_type"] == "resident"]["subject"].value_counts()
    for i in busy.index[:6]:
        e = explain(churn_run, int(i))
        assert e.exact, e.notes
        assert e.score[-1] == pytest.approx(float(res.loc[i, "score"]), abs=1e-3)
        mine = episodes[(episodes["subject_type"] == "resident") & (episodes["subject"] == i)]
        stored = sorted(
            zip(mine["list"], mine["start"], mine["end"], mine["wrongful"], strict=True)
        )
        explained = sorted((x["list"], x["start"], x["end"], x["wrongful"]) for x in e.listings)
        assert explained == stored
        rec = {r["id"]: r for r in e.records}
        for x in e.listings:
            # a decisive record took effect by the day of listing; a listing that rests
            # only on erroneous records would not have been made without them
            assert all(rec[r]["effective_day"] <= x["start"] for r in x["decisive_records"])
            if x["wrongful"] and x["list"] == "railway_misconduct":
                assert x["listed_without_erroneous_records"] is False


def test_a_run_whose_rules_change_is_replayed_with_them(tmp_path) -> None:
    """explain replays a run with the rules in force each day: beijing-2018's enrolment
    (a resident not yet enrolled is held at the base) and a record's points changed on a
    date. The replayed scores are the run's; replayed with day 0's rules only, not."""
    from scslab import Simulation, load_scenario
    from scslab.model.scoring import enrolment_order

    sc = load_scenario("beijing-2018")
    step = {
        "date": "2018-08-01",
        "set": {"departments.traffic_police.records.traffic_ticket.points": -40},
    }
    sc = sc.with_changes(
        {
            "timeline": [e.model_dump(mode="json") for e in sc.timeline] + [step],
            "departments.traffic_police.records.traffic_ticket.rate_per_year": 3.0,
        }
    )
    out = tmp_path / "rollout"
    Simulation(sc, seed=1, residents=3000, days=100).run(out=out)
    run, sc = open_run(out)
    res, rec = run.tables["residents"], run.tables["records"]
    place = enrolment_order(1, len(res))
    with_records = res.index[res["records"] > 0]
    enrolled = [int(i) for i in with_records if place[i] < 0.1][:15]
    held = [int(i) for i in with_records if place[i] > 0.3][:15]
    assert len(enrolled) >= 5 and len(held) >= 5
    day0 = Model.by_day(sc, 1)[0]  # nobody enrolled: everyone held at the base
    moved = 0
    for i in enrolled + held:
        e = explain(out, i)
        assert e.exact, (i, e.notes)
        if i in held:
            assert e.final_score_stored == 1000.0, i
        mine = rec[(rec["subject_type"] == "resident") & (rec["subject"] == i)]
        if res.loc[i, "score"] != 1000.0:
            moved += 1
            assert replay(day0, mine, i, 100).score[-1] == 1000.0, i
    assert moved >= 3  # enrolled residents whose score the replay had to follow
