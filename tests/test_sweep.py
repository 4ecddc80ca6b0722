"""Many runs: experiment files, sweeps on Dask, resuming, and sensitivity indices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scslab import load_scenario
from scslab.analysis.figures import FIGURES, check_figures, compute_figures
from scslab.cli import app
from scslab.experiments.experiment import Experiment, load_experiment
from scslab.experiments.sensitivity import analyse
from scslab.experiments.spec import ExperimentError, parse_seeds
from scslab.experiments.sweep import prepare, run_sweep
from scslab.scenario.safeyaml import ScenarioError

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = {"base": "beijing-2018", "residents": 1000, "days": 10}


def write_experiment(folder: Path, **fields) -> Path:
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "t", **TINY, **fields}, sort_keys=False))
    return path


def grid(folder: Path, **fields) -> Path:
    return write_experiment(
        folder,
        parameters={"departments.courts.error_rate": {"levels": [0.01, 0.2]}},
        seeds="1-2",
        outputs=["blacklisted_per_100k", "new_listings_per_100k"],
        **fields,
    )


def test_with_changes_applies_validates_and_names_the_key() -> None:
    base = load_scenario("beijing-2018")
    changed = base.with_changes({"departments.courts.error_rate": 0.2})
    assert changed.departments["courts"].error_rate == 0.2
    assert base.departments["courts"].error_rate != 0.2  # the base is untouched
    with pytest.raises(ScenarioError, match=r"departments.courts.error_rate.*less than or equal"):
        base.with_changes({"departments.courts.error_rate": 1.5})
    with pytest.raises(ScenarioError, match=r"departments.nope.error_rate: departments.nope"):
        base.with_changes({"departments.nope.error_rate": 0.1})
    with pytest.raises(ScenarioError, match="unknown key"):
        base.with_changes({"departments.courts.eror_rate": 0.1})
    without = base.with_changes({}, remove=["measures.rail_ban"])
    assert "rail_ban" not in without.measures


def test_seeds_are_read_from_ranges_and_lists() -> None:
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert parse_seeds([4, 5]) == [4, 5]
    with pytest.raises(ValueError, match="not like"):
        parse_seeds("1..3")


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"colour": "red"}, "colour: unknown key"),
        (
            {"parameters": {"departments.courts.error_rate": {"range": [0, 1]}}},
            "a grid takes levels",
        ),
        (
            {
                "design": "sobol",
                "samples": 6,
                "parameters": {"departments.courts.error_rate": {"range": [0, 0.1]}},
            },
            "a power of 2",
        ),
        ({"parameters": {"departments.nope.error_rate": {"levels": [0.1]}}}, "departments.nope"),
        (
            {"parameters": {"departments.courts.error_rate": {"levels": [2.0]}}},
            "less than or equal",
        ),
        ({"outputs": ["listed_per_100k:nope"]}, "no list 'nope'"),
        ({"outputs": ["happiness"]}, "happiness: not a figure"),
        ({"seeds": "1-x"}, "not like"),
    ],
)
def test_bad_experiments_fail_in_one_line_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_experiment(tmp_path, **fields)
    with pytest.raises(ExperimentError, match=says):
        load_experiment(path)
    result = runner.invoke(app, ["sweep", str(path), "--out", "sw", "--workers", "0"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:")
    assert says in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]


def test_every_example_is_valid() -> None:
    from scslab.experiments.calibration import load_calibration

    kinds = set()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if "targets" in yaml.safe_load(path.read_text()):
            load_calibration(path)
            kinds.add("calibration")
        else:
            exp, _ = load_experiment(path)
            assert len(exp.points()) >= 1, path
            kinds.add(exp.design)
    assert kinds == {"grid", "lhs", "sobol", "morris", "calibration"}


def test_design_points_cover_levels_and_ranges() -> None:
    exp = Experiment(
        name="d",
        base="beijing-2018",
        parameters={
            "a.b": {"levels": [1, 2, 3]},
            "c.d": {"range": [0.01, 1.0], "log": True},
        },
        design="lhs",
        samples=30,
    )
    points = exp.points()
    assert len(points) == 30
    assert {p["a.b"] for p in points} == {1, 2, 3}
    c = np.array([p["c.d"] for p in points])
    assert c.min() >= 0.01 and c.max() <= 1.0 and (c < 0.1).sum() >= 10  # log-uniform
    sobol = exp.model_copy(update={"design": "sobol", "samples": 8})
    assert len(sobol.points()) == 8 * (2 * 2 + 2)


def test_a_sweep_on_a_local_cluster_of_two_workers(tmp_path: Path) -> None:
    exp, scenario = load_experiment(grid(tmp_path))
    table = run_sweep(prepare(exp, scenario, tmp_path / "sw", resume=False), workers=2)
    assert list(table["run"]) == ["p0000-s1", "p0000-s2", "p0001-s1", "p0001-s2"]
    assert (table["status"] == "ok").all()
    assert table["param:departments.courts.error_rate"].tolist() == [0.01, 0.01, 0.2, 0.2]
    on_disk = pd.read_parquet(tmp_path / "sw" / "sweep.parquet")
    pd.testing.assert_frame_equal(on_disk, table.drop(columns="seconds"))
    for run in table["run"]:
        manifest = json.loads((tmp_path / "sw" / run / "manifest.json").read_text())
        assert manifest["seed"] == int(run[-1]) and manifest["residents"] == 1000
    from scslab.presentation.sweepreport import build_sweep_report, spread

    html = build_sweep_report(tmp_path / "sw")
    assert "design grid" in html and "gives no sensitivity indices" in html
    stats = spread(table, ["blacklisted_per_100k"]).iloc[0]
    assert stats["runs"] == 4 and stats["median"] == table["blacklisted_per_100k"].median()
    # common random numbers: the same seed draws the same city at every point
    a = pd.read_parquet(tmp_path / "sw" / "p0000-s1" / "residents.parquet")
    b = pd.read_parquet(tmp_path / "sw" / "p0001-s1" / "residents.parquet")
    assert a["district"].equals(b["district"])


def test_an_interrupted_sweep_resumed_equals_one_that_was_not(tmp_path: Path) -> None:
    exp, scenario = load_experiment(grid(tmp_path))
    whole = run_sweep(prepare(exp, scenario, tmp_path / "whole", resume=False), workers=0)

    done: list[str] = []

    def stop_after_two(row: dict) -> None:
        done.append(row["run"])
        if len(done) == 2:
            raise KeyboardInterrupt

    cut = prepare(exp, scenario, tmp_path / "cut", resume=False)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cut, workers=0, on_row=stop_after_two)
    stamps = {r: (tmp_path / "cut" / "rows" / f"{r}.json").stat().st_mtime_ns for r in done}
    again = prepare(exp, scenario, tmp_path / "cut", resume=True)
    assert [t.name for t in again.missing()] == ["p0001-s1", "p0001-s2"]
    resumed = run_sweep(again, workers=0)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), whole.drop(columns="seconds"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cut" / "sweep.parquet"),
        pd.read_parquet(tmp_path / "whole" / "sweep.parquet"),
    )
    for r in done:  # no run done twice
        assert (tmp_path / "cut" / "rows" / f"{r}.json").stat().st_mtime_ns == stamps[r]


def test_a_killed_sweep_command_resumes_to_the_same_table(tmp_path: Path) -> None:
    path = grid(tmp_path)
    path.write_text(path.read_text().replace("residents: 1000", "residents: 6000"))
    args = [sys.executable, "-m", "scslab.cli", "sweep", str(path), "--workers", "0", "-q"]
    whole = subprocess.run([*args, "--out", str(tmp_path / "whole")], capture_output=True)
    assert whole.returncode == 0, whole.stderr
    child = subprocess.Popen([*args, "--out", str(tmp_path / "cut")])
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if len(list((tmp_path / "cut" / "rows").glob("*.json"))) >= 1:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(list((tmp_path / "cut" / "rows").glob("*.json"))) < 4, "killed too late"
    again = subprocess.run([*args, "--out", str(tmp_path / "cut"), "--resume"], capture_output=True)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cut" / "sweep.parquet"),
        pd.read_parquet(tmp_path / "whole" / "sweep.parquet"),
    )


def test_a_changed_experiment_refuses_to_resume(tmp_path: Path) -> None:
    path = grid(tmp_path)
    exp, scenario = load_experiment(path)
    run_sweep(prepare(exp, scenario, tmp_path / "sw", resume=False), workers=0)
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "sw"), "-q"])
    assert result.exit_code == 2 and "--resume" in result.output
    grid(tmp_path, description="seeds 1-3 now").write_text(
        path.read_text().replace("seeds: 1-2", "seeds: 1-3")
    )
    result = runner.invoke(
        app, ["sweep", str(path), "--out", str(tmp_path / "sw"), "--resume", "-q"]
    )
    assert result.exit_code == 2
    assert "cannot resume: the experiment file changed" in result.output


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path: Path) -> None:
    path = grid(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "mine")])
    assert result.exit_code == 2 and "not a scslab sweep folder" in result.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_run_with_seeds_makes_a_folder_of_runs(tmp_path: Path) -> None:
    """In a folder that does not exist yet (`--out runs/b18` on a fresh checkout)."""
    out = tmp_path / "runs" / "seeds"
    result = runner.invoke(
        app,
        [
            "run",
            "--residents",
            "1000",
            "--days",
            "8",
            "--seeds",
            "1-3",
            "--out",
            str(out),
            "--workers",
            "0",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if (p / "manifest.json").is_file()) == [
        "s1",
        "s2",
        "s3",
    ]
    table = pd.read_parquet(out / "sweep.parquet")
    assert table["seed"].tolist() == [1, 2, 3] and (table["status"] == "ok").all()


def test_sobol_indices_find_the_one_parameter_that_decides(tmp_path: Path) -> None:
    """Courts' coverage decides how many are listed; how often residents seek medical
    care does not touch any record (its own random stream), so its indices are 0."""
    path = write_experiment(
        tmp_path,
        parameters={
            "departments.courts.coverage": {"range": [0.05, 1.0]},
            "activities.seek_medical_care.rate_per_year": {"range": [0.5, 5.0]},
        },
        design="sobol",
        samples=8,
        seeds=[1],
        residents=3000,
        days=60,
        outputs=["new_listings_per_100k"],
    )
    exp, scenario = load_experiment(path)
    run_sweep(prepare(exp, scenario, tmp_path / "sw", resume=False), workers=0)
    result = analyse(tmp_path / "sw")
    idx = result.indices.set_index(["parameter", "index"])["value"]
    assert idx[("departments.courts.coverage", "ST")] > 0.5
    assert abs(idx[("activities.seek_medical_care.rate_per_year", "ST")]) < 1e-9
    assert abs(idx[("activities.seek_medical_care.rate_per_year", "S1")]) < 1e-9
    assert result.seed_share["new_listings_per_100k"] is None  # one seed
    cli = runner.invoke(app, ["sensitivity", str(tmp_path / "sw"), "--json"])
    assert cli.exit_code == 0 and json.loads(cli.output)["design"] == "sobol"
    page = runner.invoke(app, ["report", str(tmp_path / "sw"), "-o", str(tmp_path / "sweep.html")])
    assert page.exit_code == 0, page.output
    html = (tmp_path / "sweep.html").read_text()
    for part in ("Figures across runs", "Figures against parameters", "Sensitivity", "ST"):
        assert part in html
    assert "departments.courts.coverage" in html and "<script" not in html


def test_seed_share_is_the_within_point_variance() -> None:
    from scslab.experiments.sensitivity import seed_share

    table = pd.DataFrame(
        {
            "point": [0, 0, 1, 1],
            "seed": [1, 2, 1, 2],
            "status": ["ok"] * 4,
            "y": [0.0, 2.0, 10.0, 12.0],
        }
    )
    total = np.var([0.0, 2.0, 10.0, 12.0], ddof=1)
    assert seed_share(table, "y") == pytest.approx(2.0 / total)


def test_figures_are_the_run_metrics(small_run) -> None:
    names = [
        "blacklisted_per_100k",
        "blocked_per_100k:flights",
        "erroneous_record_share",
        "blacklisted_ratio_migrants_locals",
    ]
    check_figures(names, load_scenario("beijing-2018"))
    got = compute_figures(small_run, names)
    city = small_run.to_frame("city")
    n = small_run.manifest["residents"]
    assert got["blacklisted_per_100k"] == pytest.approx(city["blacklisted"].iloc[-1] * 1e5 / n)
    assert got["blocked_per_100k:flights"] == pytest.approx(city["blocked:flights"].sum() * 1e5 / n)
    assert 0 < got["erroneous_record_share"] < 1
    last = small_run.final("hukou")
    rate = last["blacklisted"] / last["residents"]
    if min(last["blacklisted"]) >= 10:
        assert got["blacklisted_ratio_migrants_locals"] == pytest.approx(
            rate["migrant"] / rate["local"]
        )
    else:  # too few listed to say
        assert got["blacklisted_ratio_migrants_locals"] is None
    assert set(FIGURES) >= {"blacklisted_per_100k", "ever_blacklisted_per_100k"}


def test_a_calibration_recovers_the_value_that_made_its_targets(tmp_path: Path) -> None:
    """Targets made by a run with the traffic police's coverage at 0.6; a calibration of
    that coverage over [0.1, 1] finds it again (the same seeds: common random numbers)."""
    from scslab import Simulation
    from scslab.experiments.calibration import calibrate, load_calibration, prepare_folder

    key, truth, figure = (
        "departments.traffic_police.coverage",
        0.6,
        "records_per_100k:traffic_police",
    )
    made = load_scenario("beijing-2018").with_changes({key: truth})
    values = [
        compute_figures(Simulation(made, seed=s, residents=3000, days=60).run(), [figure])[figure]
        for s in (1, 2)
    ]
    path = tmp_path / "cal.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "cal",
                "base": "beijing-2018",
                "parameters": {key: {"range": [0.1, 1.0]}},
                "targets": [
                    {
                        "figure": figure,
                        "value": float(np.mean(values)),
                        "sd": 100.0,
                        "source": "made by this test",
                    }
                ],
                "seeds": [1, 2],
                "residents": 3000,
                "days": 60,
                "trials": 24,
            }
        )
    )
    cal, scenario = load_calibration(path)
    folder = prepare_folder(cal, scenario, tmp_path / "out", resume=False)
    best = calibrate(cal, scenario, folder, workers=0)
    assert abs(best["params"][key] - truth) < 0.08
    fit = pd.read_csv(folder / "fit.csv")
    assert fit["figure"].tolist() == [figure] and fit["seeds"].tolist() == [2]
    assert (folder / "fit.png").stat().st_size > 0
    best_yaml = yaml.safe_load((folder / "best.yaml").read_text())
    assert best_yaml["extends"] == "beijing-2018"
    assert best_yaml["departments"]["traffic_police"]["coverage"] == best["params"][key]
    fitted = load_scenario(folder / "best.yaml")  # a scenario file that extends the base
    assert fitted.departments["traffic_police"].coverage == best["params"][key]
    assert len(pd.read_parquet(folder / "trials.parquet")) == 24
    # more trials on resume: the study goes on from the 24 it has
    more = cal.model_copy(update={"trials": 26})
    calibrate(more, scenario, prepare_folder(more, scenario, tmp_path / "out", True), workers=0)
    trials = pd.read_parquet(folder / "trials.parquet")
    assert len(trials) == 26
    first, resumed = trials[f"param:{key}"].iloc[:2], trials[f"param:{key}"].iloc[24:]
    assert set(first).isdisjoint(resumed)  # the resumed sampler does not start over


@pytest.mark.parametrize(
    "change, says",
    [
        ({"targets": [{"figure": "happiness", "value": 1, "sd": 1}]}, "targets.0.figure"),
        (
            {"targets": [{"figure": "records_per_100k", "value": 1, "sd": 1, "day": 90}]},
            "targets.0.day: 90 is outside the run",
        ),
        ({"targets": [{"figure": "records_per_100k", "value": 1, "sd": 0}]}, "targets.0.sd"),
        (
            {"targets": [{"figure": "median_days_to_clear", "value": 1, "sd": 1, "day": 9}]},
            "targets.0.day: median_days_to_clear is a figure of the whole run",
        ),
        ({"parameters": {"departments.courts.coverage": {"range": [0.1, 2.0]}}}, "less than"),
        ({"sampler": "annealing"}, "sampler"),
    ],
)
def test_bad_calibrations_fail_in_one_line_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = {
        "name": "cal",
        "base": "beijing-2018",
        "parameters": {"departments.courts.coverage": {"range": [0.1, 1.0]}},
        "targets": [{"figure": "records_per_100k", "value": 1000, "sd": 100}],
        "residents": 1000,
        "days": 60,
        **change,
    }
    (tmp_path / "cal.yaml").write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["calibrate", "cal.yaml", "--out", "c", "--workers", "0"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.yaml"]


def test_the_python_api_runs_an_experiment_and_plots_it(tmp_path: Path) -> None:
    import scslab

    exp = scslab.Experiment(
        name="py",
        base="beijing-2018",
        parameters={"departments.courts.coverage": {"levels": [0.3, 0.9]}},
        seeds=[1, 2],
        residents=800,
        days=8,
        outputs=["records_per_100k:courts", "blacklisted_per_100k"],
    )
    table = exp.run(tmp_path / "py", workers=0)
    assert len(table) == 4 and (table["status"] == "ok").all()
    assert table.groupby("param:departments.courts.coverage")["seed"].apply(list).to_dict() == {
        0.3: [1, 2],
        0.9: [1, 2],
    }
    assert len(exp.plot(table).axes) == 2 * 1
    assert len(exp.plot().axes) == 2  # the table of the last run()
    with pytest.raises(ValueError, match="run"):
        scslab.Experiment(**exp.model_dump()).plot()  # a fresh one has no table


def test_planning_a_sweep_writes_nothing_and_run_seeds_refuses_single_run_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    exp, scenario = load_experiment(grid(tmp_path))
    prepare(exp, scenario, "sw", resume=False)
    assert not (tmp_path / "sw").exists()
    for flag in (["--seed", "3"], ["--report"], ["--overwrite"], ["--engine", "general"]):
        result = runner.invoke(app, ["run", "--seeds", "1-2", "--residents", "500", *flag])
        assert result.exit_code == 2 and f"--seeds: {flag[0]}" in result.output
    result = runner.invoke(app, ["run", "--residents", "500", "--days", "3", "--resume"])
    assert result.exit_code == 2 and "--resume: goes with --seeds" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]


def test_run_seeds_resumes_and_passes_no_agents(tmp_path: Path) -> None:
    args = [
        "run",
        "--residents",
        "600",
        "--days",
        "5",
        "--seeds",
        "1-2",
        "--workers",
        "0",
        "--no-agents",
        "-q",
        "--out",
        str(tmp_path / "s"),
    ]
    assert runner.invoke(app, args).exit_code == 0
    assert not (tmp_path / "s" / "s1" / "residents.parquet").exists()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0


def test_sensitivity_plot_never_overwrites_a_file(tmp_path: Path) -> None:
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my picture")
    path = write_experiment(
        tmp_path,
        parameters={"departments.courts.coverage": {"range": [0.1, 1.0]}},
        design="morris",
        samples=2,
        residents=500,
        days=5,
        outputs=["records_per_100k"],
    )
    exp, scenario = load_experiment(path)
    run_sweep(prepare(exp, scenario, tmp_path / "sw", resume=False), workers=0)
    result = runner.invoke(app, ["sensitivity", str(tmp_path / "sw"), "--plot", str(mine)])
    assert result.exit_code == 2 and "exists" in result.output
    assert mine.read_bytes() == b"my picture"
    png = str(tmp_path / "i.png")
    ok = runner.invoke(app, ["sensitivity", str(tmp_path / "sw"), "--plot", png])
    assert ok.exit_code == 0 and (tmp_path / "i.png").stat().st_size > 0


def test_a_calibration_whose_target_is_never_defined_ends(tmp_path: Path) -> None:
    """A target's figure undefined in every trial (too few listed to give a ratio): the
    trials fail, a bounded number of them, and the command says so in one line."""
    path = tmp_path / "cal.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "never",
                "base": "beijing-2018",
                "parameters": {"departments.courts.coverage": {"range": [0.1, 1.0]}},
                "targets": [{"figure": "blacklisted_ratio_migrants_locals", "value": 1, "sd": 1}],
                "seeds": [1],
                "residents": 300,
                "days": 3,
                "trials": 2,
            }
        )
    )
    result = runner.invoke(
        app, ["calibrate", str(path), "--out", str(tmp_path / "c"), "--workers", "0"]
    )
    assert result.exit_code == 2 and "no trial gave every target's figure" in result.output


def test_harm_figures_are_the_audits_headline(small_run) -> None:
    """One registry: a sweep's harm figures are the headline of audit and compare."""
    from scslab.analysis.harm import measure
    from scslab.analysis.harmsummary import HARM_FIGURES, headline

    head = headline(measure(small_run.path))
    assert list(head) == [label for label, _, _ in HARM_FIGURES.values()]
    names = ["ever_blacklisted_per_100k", "days_wrongfully_blacklisted_per_100k"]
    got = compute_figures(small_run, names, small_run.path)
    assert got["ever_blacklisted_per_100k"] == head["ever blacklisted per 100k"]
    assert (
        got["days_wrongfully_blacklisted_per_100k"] == head["days wrongfully blacklisted per 100k"]
    )
    assert all(name in FIGURES for name in HARM_FIGURES)
