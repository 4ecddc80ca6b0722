"""`explain`: one synthetic resident's history, replayed from a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scslab import load_run
from scslab.analysis.explain import explain
from scslab.cli import app
from tests.audit_helpers import builtin_dict, error_prone, scenario, tiny_run

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
