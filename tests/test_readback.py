"""Run directories read back: validated manifests, the scenario's hash, corrupt
neighbours, sizes bounded by the files, and `scslab.query` with hostile folder names.

One small run is made per module; corrupt variants are copies of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import scslab
from scslab import Simulation, load_scenario
from scslab.analysis.harm import RunError, measure
from scslab.cli import app
from scslab.presentation.report import expand_run_paths, load_for_report
from scslab.rundir import manifest
from scslab.rundir.manifest import ManifestError, read_manifest
from scslab.rundir.results import load_run

runner = CliRunner()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small beijing-2018 run (2,000 residents, 20 days, per-agent tables)."""
    out = tmp_path_factory.mktemp("readback") / "b18"
    Simulation("beijing-2018", seed=1, residents=2000, days=20).run(out=out)
    return out


def copy_run(base: Path, dest: Path, edit: Callable[[Any], Any] | None = None) -> Path:
    """A copy of `base` at `dest`; `edit(manifest)` returns the manifest JSON value to
    write instead (text written as is when it returns a str)."""
    shutil.copytree(base, dest)
    if edit is not None:
        value = edit(json.loads((dest / "manifest.json").read_text("utf-8")))
        text = value if isinstance(value, str) else json.dumps(value)
        (dest / "manifest.json").write_text(text, "utf-8")
    return dest


def _without(key: str) -> Callable[[dict], dict]:
    return lambda m: {k: v for k, v in m.items() if k != key}


def _with(key: str, value: Any) -> Callable[[dict], dict]:
    return lambda m: {**m, key: value}


CORRUPT = {
    "empty-object": (lambda m: {}, "scslab_version"),
    "list": (lambda m: [], "JSON object"),
    "nan": (lambda m: "NaN", "NaN"),
    "nan-inside": (lambda m: json.dumps(m)[:-1] + ', "scale": NaN}', "NaN"),
    "not-json": (lambda m: '{"seed": 1,', "not valid JSON"),
    "no-days": (_without("days"), "days"),
    "no-seed": (_without("seed"), "seed"),
    "days-text": (_with("days", "20"), "days"),
    "days-bool": (_with("days", True), "days"),
    "days-float": (_with("days", 20.5), "days"),
    "days-huge": (_with("days", 10**9), "days"),
    "seed-negative": (_with("seed", -1), "seed"),
    "residents-null": (_with("residents", None), "residents"),
    "hash-not-hex": (_with("scenario_sha256", "abc"), "scenario_sha256"),
    "timings-list": (_with("timings", [1, 2]), "timings"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_manifest_is_one_line_naming_file_and_key(
    base: Path, tmp_path: Path, name: str
) -> None:
    edit, key = CORRUPT[name]
    run = copy_run(base, tmp_path / "run", edit)
    for read in (load_run, load_for_report, read_manifest):
        with pytest.raises(ManifestError) as err:
            read(run)
        msg = str(err.value)
        assert "\n" not in msg and str(run / "manifest.json") in msg and key in msg, msg
    with pytest.raises(RunError, match=r"manifest\.json"):
        measure(run)


def test_readers_on_the_command_line_give_one_line(base: Path, tmp_path: Path) -> None:
    run = copy_run(base, tmp_path / "empty", lambda m: {})
    for args in (
        ["audit", str(run)],
        ["explain", str(run), "0"],
        ["report", str(run), "-o", str(tmp_path / "r.html")],
        ["compare", str(run), str(base)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "manifest.json" in lines[0], (args, result.output)
    assert not (tmp_path / "r.html").exists()


def _other_scenario_yaml() -> str:
    """beijing-2018 with a different court error rate: same keys, another scenario."""
    sc = load_scenario("beijing-2018")
    name, dep = next(iter(sc.departments.items()))
    changed = dep.model_copy(update={"error_rate": min(0.5, dep.error_rate * 2 + 0.01)})
    return sc.model_copy(update={"departments": {**sc.departments, name: changed}}).to_yaml()


def test_swapped_scenario_is_refused_by_every_reader(base: Path, tmp_path: Path) -> None:
    run = copy_run(base, tmp_path / "swapped")
    (run / "scenario.yaml").write_text(_other_scenario_yaml(), "utf-8")
    for read in (load_run, load_for_report, read_manifest, measure):
        with pytest.raises(ManifestError, match=r"scenario\.yaml: does not match"):
            read(run)
    for args in (
        ["audit", str(run)],
        ["explain", str(run), "0"],
        ["report", str(run), "-o", str(tmp_path / "r.html")],
        ["compare", str(base), str(run)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "scenario.yaml: does not match" in result.output, (args, result.output)
    older = copy_run(run, tmp_path / "older", _with("scslab_version", "0.0.1"))
    with pytest.raises(ManifestError, match=r"made by scslab 0\.0\.1"):
        read_manifest(older)  # a schema that changed between versions is named as a cause


def test_a_run_from_before_a_new_schema_key_is_read(base: Path, tmp_path: Path) -> None:
    """A run written before a key joined the schema (its scenario.yaml lacks the key,
    whose default now applies) still matches its manifest: the digest is of the file's
    values as written."""
    run = copy_run(base, tmp_path / "older")
    data = yaml.safe_load((run / "scenario.yaml").read_text("utf-8"))
    for key in ("start_date", "timeline"):  # keys this run's version did not have
        data.pop(key)
    (run / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    older = copy_run(run, tmp_path / "older2", _with("scenario_sha256", digest))
    assert read_manifest(older).scenario_sha256 == digest
    assert load_run(older).manifest["scenario_sha256"] == digest


def test_missing_scenario_is_refused(base: Path, tmp_path: Path) -> None:
    run = copy_run(base, tmp_path / "noscenario")
    (run / "scenario.yaml").unlink()
    with pytest.raises(ManifestError, match=r"scenario\.yaml: missing"):
        load_for_report(run)


def test_manifest_contradicting_the_tables_is_refused(base: Path, tmp_path: Path) -> None:
    """Days and agent counts are what the tables hold: explain sizes its work by them."""
    fewer = copy_run(base, tmp_path / "days19", _with("days", 19))
    with pytest.raises(ManifestError, match=r"days: 19 does not match metrics\.parquet"):
        load_run(fewer)
    many = copy_run(base, tmp_path / "residents", _with("residents", 10**9))
    with pytest.raises(ManifestError, match="residents: 1,000,000,000 does not match"):
        load_for_report(many)  # per-agent tables counted from the Parquet footer
    result = runner.invoke(app, ["explain", str(many), "0"])
    assert result.exit_code == 2 and "residents.parquet" in result.output, result.output


def test_explain_on_a_manifest_claiming_a_billion_days(base: Path, tmp_path: Path) -> None:
    run = copy_run(base, tmp_path / "billion", _with("days", 10**9))
    result = runner.invoke(app, ["explain", str(run), "0"])
    assert result.exit_code == 2, result.output
    assert "manifest.json: days:" in result.output and "7300" in result.output


def _neighbourhood(base: Path, tmp_path: Path, bad: Callable[[Any], Any]) -> tuple[Path, Path]:
    folder = tmp_path / "runs"
    good = copy_run(base, folder / "a-good")
    copy_run(base, folder / "b-bad", bad)
    return good, folder


@pytest.mark.parametrize("bad", [lambda m: [], lambda m: "{", _with("residents", "x")])
def test_a_corrupt_neighbour_does_not_break_audit(
    base: Path, tmp_path: Path, bad: Callable[[Any], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    good, _ = _neighbourhood(base, tmp_path, bad)
    result = measure(good)  # looks at its siblings for a counterfactual
    assert result["days"] == 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning:" in err[0] and "b-bad" in err[0], err


def test_a_corrupt_neighbour_is_skipped_by_folder_readers(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scslab.analysis.compare import expand
    from scslab.presentation.dashdata import list_runs

    good, folder = _neighbourhood(base, tmp_path, lambda m: [])
    readers = [
        lambda: expand_run_paths([folder]) == [good],
        lambda: list(list_runs(folder)["run"]) == ["a-good"],
        lambda: expand([str(folder / "*")]) == [good],
        lambda: set(scslab.query("SELECT run FROM metrics", runs=folder)["run"]) == {"a-good"},
    ]
    for read in readers:
        manifest._warned.clear()  # each distinct warning is printed once per process
        assert read()
        warning = capsys.readouterr().err.strip().splitlines()
        assert len(warning) == 1 and "b-bad" in warning[0] and "skipped" in warning[0]
    assert expand_run_paths([folder]) == [good]
    assert capsys.readouterr().err == ""  # already said
    result = runner.invoke(app, ["audit", str(folder / "*")])
    assert result.exit_code == 0, result.output
    with pytest.raises(ManifestError):  # a run named on its own is not skipped
        expand_run_paths([folder / "b-bad"])


def test_query_one_run_directory_or_a_list(base: Path, tmp_path: Path) -> None:
    n = scslab.query("SELECT count(*) AS n FROM residents", runs=base)["n"].iloc[0]
    assert n == 2000
    other = copy_run(base, tmp_path / "other")
    both = scslab.query("SELECT run, count(*) AS n FROM residents GROUP BY run", [base, other])
    assert dict(zip(both["run"], both["n"], strict=True)) == {"b18": 2000, "other": 2000}


def test_query_never_runs_sql_from_a_folder_name(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run folder whose name closes the file list's string and adds statements."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "runs"
    name = (
        "a'], filename=true); COPY (SELECT 42 AS v) TO 'pwned.csv'; SELECT 1 FROM read_parquet(['b"
    )
    copy_run(base, root / name)
    shutil.copy(base / "metrics.parquet", root / "a")  # what the injected statements read
    shutil.copytree(base, tmp_path / "b")
    got = scslab.query("SELECT DISTINCT run FROM metrics", runs=root)
    assert not (tmp_path / "pwned.csv").exists()
    assert list(got["run"]) == [name]


def test_a_run_being_written_or_removed_is_not_read(base: Path, tmp_path: Path) -> None:
    """.NAME.partial beside a run is one being written, or an old one being removed."""
    from scslab.presentation.dashdata import list_runs

    folder = tmp_path / "runs"
    good = copy_run(base, folder / "b18")
    copy_run(base, folder / ".b18.partial")
    assert expand_run_paths([folder]) == [good]
    assert list(list_runs(folder)["run"]) == ["b18"]
    assert set(scslab.query("SELECT run FROM metrics", runs=folder)["run"]) == {"b18"}
