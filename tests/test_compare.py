"""`compare`: paired differences by seed with common random numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scslab.analysis.compare import compare, expand
from scslab.analysis.harm import RunError
from scslab.cli import app
from tests.audit_helpers import tiny_run

runner = CliRunner()


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Path]]:
    return {
        "a": [tiny_run("beijing-2018", seed=s) for s in (1, 2)],
        "b": [tiny_run("beijing-2018-safeguards", seed=s) for s in (1, 2)],
    }


def test_same_scenario_same_seed_differs_by_nothing(runs: dict, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(runs["a"][0], copy)
    comp = compare([runs["a"][0]], [copy])
    for row in comp.rows:
        assert row["diff"] in (0.0, None) or row["diff"] != row["diff"], row  # 0 or NaN


def test_safeguards_against_the_plan(runs: dict) -> None:
    comp = compare(runs["a"], runs["b"])
    assert comp.seeds == [1, 2]
    rows = {r["figure"]: r for r in comp.rows}
    filed = rows["appeals filed per 100k"]
    assert filed["n"] == 2 and filed["lo"] is None  # two seeds: no interval across seeds
    assert "at least 3 seeds" in filed["reason"]
    assert filed["diff"] > 0  # full notice: more appeals
    assert rows["posting reduction from monitoring"]["b"] in (0.0, None)


def test_compare_cli_table_json_and_globs(runs: dict) -> None:
    a_glob = str(runs["a"][0]).replace("-s1", "-s*")
    b1, b2 = (str(p) for p in runs["b"])
    out = runner.invoke(app, ["compare", a_glob, b1, "--b", b2])
    assert out.exit_code == 0, out.stderr
    assert "95%" in out.stdout and "wrongfully" in out.stdout and "seeds" in out.stdout
    doc = json.loads(runner.invoke(app, ["compare", a_glob, b1, "--b", b2, "--json"]).stdout)
    assert doc["seeds"] == [1, 2] and doc["scenario_b"] == "beijing-2018-safeguards"


def test_unpaired_or_mixed_runs_are_errors(runs: dict) -> None:
    with pytest.raises(RunError, match="no seed in common"):
        compare([runs["a"][0]], [runs["b"][1]])
    with pytest.raises(RunError, match="different scenarios"):
        compare([runs["a"][0], runs["b"][1]], [runs["b"][0]])
    out = runner.invoke(app, ["compare", str(runs["a"][0]), "/no/such/run*"])
    assert out.exit_code == 2 and out.stderr.startswith("error:")
    comp = compare(runs["a"], [runs["b"][0]])
    assert comp.seeds == [1] and comp.notes and "one side only" in comp.notes[0]


def test_expand_skips_counterfactual_runs(runs: dict, tmp_path: Path) -> None:
    cf = tmp_path / "x.no-monitoring"
    shutil.copytree(runs["a"][0], cf)
    manifest = json.loads((cf / "manifest.json").read_text())
    manifest["counterfactual"] = {"of": "x"}
    (cf / "manifest.json").write_text(json.dumps(manifest))
    assert expand([str(tmp_path / "*")]) == []
