"""A run continued from the state another ended in (--keep-state, then run --from) has
the tables of one run of all the days, bit for bit: on the general loop (enterprises,
activities, due process, a timeline), on compiled days and after a burn-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scslab.cli import app
from scslab.engine import simulation
from scslab.rundir.results import Results, load_run
from scslab.rundir.run import Simulation
from scslab.rundir.state import STATE, StateError
from scslab.scenario.loader import load_scenario
from scslab.scenario.schema import Scenario
from tests.test_compiled import DUE_PROCESS, RESPONSES, core, with_activities, with_posts

runner = CliRunner()


def through_and_continued(
    tmp_path: Path, scenario: Scenario | str, first: int, more: int, **run: object
) -> tuple[Results, Results]:
    """One run of first + more days, and a run of `first` days continued for `more`
    (each written and read back)."""
    Simulation(scenario, days=first + more, **run).run(tmp_path / "whole")  # type: ignore[arg-type]
    Simulation(scenario, days=first, keep_state=True, **run).run(tmp_path / "first")  # type: ignore[arg-type]
    engine = str(run.get("engine", "auto"))
    Simulation.continue_from(tmp_path / "first", days=more, engine=engine).run(
        tmp_path / "continued"
    )
    return load_run(tmp_path / "whole"), load_run(tmp_path / "continued")


def assert_same_tables(a: Results, b: Results) -> None:
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True, obj=name)


def city(results: Results, metric: str) -> np.ndarray:
    m = results.metrics
    rows = m[(m["group_by"] == "city") & (m["metric"] == metric)].sort_values("day")
    return rows["value"].to_numpy()


@pytest.mark.parametrize("kept_on", ["general", "compiled"])
def test_a_run_continues_on_the_other_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept_on: str
) -> None:
    """A continued run takes auto's engine, whichever loop kept the state: compiled days
    go on from the general loop's state, and the general loop (compiled days not yet
    compiled) from theirs, with the tables of one run through."""
    run = {"seed": 5, "residents": 3000}
    Simulation("beijing-2018", days=120, engine=kept_on, **run).run(tmp_path / "whole")  # type: ignore[arg-type]
    first = Simulation("beijing-2018", days=60, engine=kept_on, keep_state=True, **run)  # type: ignore[arg-type]
    first.run(tmp_path / "first")
    if kept_on == "compiled":
        monkeypatch.setattr(simulation, "compiled_days_ready", lambda: False)
    continued = Simulation.continue_from(tmp_path / "first", days=60)
    assert continued.engine_used == ("general" if kept_on == "compiled" else "compiled")
    continued.run(tmp_path / "continued")
    assert_same_tables(load_run(tmp_path / "whole"), load_run(tmp_path / "continued"))


@pytest.mark.parametrize("engine", ["general", "compiled"])
def test_beijing_2018_continued_equals_run_through(tmp_path: Path, engine: str) -> None:
    """beijing-2018 (enterprises, activities, due process, chilling, income) on either
    loop: 60 days, then 60 more, is one run of 120 days."""
    whole, continued = through_and_continued(
        tmp_path, "beijing-2018", 60, 60, seed=5, residents=3000, engine=engine
    )
    assert whole.manifest["engine"] == continued.manifest["engine"] == engine
    assert_same_tables(whole, continued)
    assert continued.manifest["days"] == 120
    assert continued.metrics["day"].max() == 119
    assert len(continued.tables["records"]) > 0 and len(continued.tables["listings"]) > 0
    was = continued.manifest["continued_from"]
    assert was["days"] == 60 and Path(was["path"]) == (tmp_path / "first").resolve()
    assert was["scenario_sha256"] == whole.manifest["scenario_sha256"]
    first = json.loads((tmp_path / "first" / "manifest.json").read_text())
    assert first["state"]["bytes"] == (tmp_path / "first" / STATE).stat().st_size
    assert not (tmp_path / "continued" / STATE).exists()  # only with keep_state


@pytest.mark.parametrize("residents", [3000, 6000])
def test_compiled_days_continued_equal_run_through(tmp_path: Path, residents: int) -> None:
    """SCS-ref-1 (with its score tally) on compiled days, the tally each day and (from
    5,000 residents, on two threads) a chunk behind."""
    whole, continued = through_and_continued(tmp_path, core(), 60, 60, seed=2, residents=residents)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    assert len(continued.tables["score_histogram"]) > 0


def test_compiled_days_continued_with_records_pending_and_queued_to_expire(
    tmp_path: Path,
) -> None:
    """Compiled days with reporting delays, record expiry and a record-triggered list,
    stopped while records wait to take effect and to expire: the continued run takes
    them in on their days (the log's first_pending and the scorer's expiry queue are
    state)."""
    scenario = core(
        **{
            "scoring.record_expiry_days": 25,
            "departments.tax.delay_days": 9,
            "lists.court_list": {
                "kind": "black",
                "context": "judicial",
                "trigger": {"records": ["court"]},
                "duration_days": 15,
            },
        }
    )
    whole, continued = through_and_continued(tmp_path, scenario, 40, 40, seed=4, residents=3000)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    status = continued.tables["records"]["status"].astype(str)
    assert (status == "expired").sum() > 50


def test_compiled_days_continued_with_activities(tmp_path: Path) -> None:
    """Compiled days with activities, measures and a green channel kept as a set: the
    continued run keeps the set (HighScores) and the per-agent counts."""
    scenario = with_activities()
    whole, continued = through_and_continued(tmp_path, scenario, 40, 40, seed=4, residents=3000)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    assert city(continued, "green_channel:medical").sum() > 0


def test_compiled_days_continued_with_list_responses(tmp_path: Path) -> None:
    """Compiled days with listed residents' responses that learn: the continued run
    reads the days of listing kept in the state (Side.since)."""
    scenario = with_activities(**RESPONSES)
    whole, continued = through_and_continued(tmp_path, scenario, 30, 30, seed=4, residents=3000)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    assert city(continued, "avoided:public_jobs").sum() > 0


def test_compiled_days_continued_with_records_from_posts(tmp_path: Path) -> None:
    """Compiled days with records from posts and from attempts at an activity: the
    attempts flagged on the last day kept become records on the continued run's first
    (RunState.flagged_yesterday is state)."""
    whole, continued = through_and_continued(tmp_path, with_posts(), 40, 40, seed=4, residents=3000)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    records = continued.tables["records"]
    assert (records["kind"].astype(str) == "harmful_post").sum() > 0


def test_compiled_days_continued_with_due_process(tmp_path: Path) -> None:
    """Compiled days with due process, stopped while appeals, decisions and repairs
    wait in its queue: the continued run handles them on their days."""
    scenario = with_activities(**DUE_PROCESS)  # type: ignore[arg-type]
    whole, continued = through_and_continued(tmp_path, scenario, 40, 40, seed=4, residents=3000)
    assert continued.manifest["engine"] == "compiled"
    assert_same_tables(whole, continued)
    records = continued.tables["records"]
    assert ((records["decision_day"] >= 40) & (records["appeal_day"] < 40)).sum() > 0


def test_a_timeline_change_in_the_continued_days_shows_on_its_day(tmp_path: Path) -> None:
    """beijing-2018 enrols residents every 30 days from day 0: the run is
    stopped at day 45, the change of day 60 is the continued run's own."""
    whole, continued = through_and_continued(
        tmp_path, "beijing-2018", 45, 30, seed=1, residents=3000
    )
    assert_same_tables(whole, continued)
    enrolled = city(continued, "enrolled")
    assert enrolled[59] == enrolled[45] == enrolled[30] < enrolled[60]


@pytest.mark.parametrize("engine", ["general", "compiled"])
def test_a_burn_in_run_continued(tmp_path: Path, engine: str) -> None:
    """A run with a burn-in, continued: its days after the burn-in go on, the per-agent
    counts counting the reported days."""
    whole, continued = through_and_continued(
        tmp_path, core(burn_in_days=20), 30, 30, seed=3, residents=2000, engine=engine
    )
    assert continued.manifest["engine"] == engine
    assert_same_tables(whole, continued)
    assert continued.metrics["day"].min() == 0 and continued.metrics["day"].max() == 59


def test_continued_runs_go_on_and_the_first_is_untouched(tmp_path: Path) -> None:
    """scslab run --keep-state, then --from twice (the second from the first
    continuation, itself kept): the runs' files are as they were."""
    first, second, third = (tmp_path / n for n in ("a", "b", "c"))
    args = ["run", "--residents", "2000", "--days", "10", "--seed", "4", "-q"]
    assert runner.invoke(app, [*args, "--out", str(first), "--keep-state"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    cont = ["run", "--days", "10", "-q", "--keep-state"]
    assert runner.invoke(app, [*cont, "--from", str(first), "--out", str(second)]).exit_code == 0
    assert runner.invoke(app, [*cont, "--from", str(second), "--out", str(third)]).exit_code == 0
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    whole_args = ["run", "--residents", "2000", "--days", "30", "--seed", "4", "-q"]
    whole = runner.invoke(app, [*whole_args, "--out", str(tmp_path / "w")])
    assert whole.exit_code == 0, whole.output
    assert_same_tables(load_run(tmp_path / "w"), load_run(third))
    assert json.loads((third / "manifest.json").read_text())["continued_from"]["days"] == 20


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run with its state kept."""
    out = tmp_path_factory.mktemp("kept") / "run"
    Simulation(core(), seed=1, residents=1500, days=10, keep_state=True).run(out)
    return out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["beijing-2018", "--from", "{run}"], "--from: SCENARIO cannot go with it"),
        (["--from", "{run}", "--seed", "2"], "--from: --seed cannot go with it"),
        (["--from", "{run}", "--seeds", "1-2"], "--from: --seeds cannot go with it"),
        (["--from", "{run}", "--residents", "9"], "--from: --residents cannot go with it"),
        (["--from", "{run}", "--set", "days=3"], "--from: --set cannot go with it"),
        (["--from", "{run}", "--days", "0"], "--days: must be at least 1"),
        (["--from", "{run}", "--days", "7300"], "--from: days: "),
        (["--from", "{missing}"], "not a scslab run directory (no manifest.json)"),
        (["--from", "{bare}"], "state.npz: missing; only a run made with --keep-state"),
        (["--from", "{other}"], "kept from a run with another seed"),
        (["--from", "{broken}"], "state.npz: not a state archive"),
        (["--from", "{damaged}"], "state.npz: not the state the run wrote"),
        (["--from", "{edited}"], "scenario.yaml: does not match the manifest"),
    ],
)
def test_bad_continuations_exit_2_and_write_nothing(
    tmp_path: Path, kept: Path, args: list[str], expected: str
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(kept, bare)
    (bare / STATE).unlink()
    other = tmp_path / "other"  # another seed's run, with this run's state (and its sha256)
    Simulation(core(), seed=2, residents=1500, days=10).run(other)
    with_state_of(other, kept)
    broken = tmp_path / "broken"  # not an archive, its sha256 in the manifest
    shutil.copytree(kept, broken)
    (broken / STATE).write_bytes(b"not a zip")
    with_state_of(broken, broken)
    damaged = tmp_path / "damaged"  # a byte changed: the manifest's sha256 tells
    shutil.copytree(kept, damaged)
    data = bytearray((damaged / STATE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / STATE).write_bytes(bytes(data))
    edited = tmp_path / "edited"
    shutil.copytree(kept, edited)
    (edited / "scenario.yaml").write_text(
        (edited / "scenario.yaml").read_text().replace("days: 365", "days: 300")
    )
    paths = {"run": kept, "missing": tmp_path / "nope", "bare": bare}
    paths.update(other=other, broken=broken, damaged=damaged, edited=edited)
    out = tmp_path / "out"
    given = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    result = runner.invoke(app, ["run", *given, "--out", str(out), "-q"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output
    assert not out.exists()


def with_state_of(run: Path, source: Path) -> None:
    """Put source's state.npz into run, and its sha256 into run's manifest (a state
    copied with care from another run)."""
    import hashlib

    if run != source:
        shutil.copy(source / STATE, run / STATE)
    manifest = json.loads((run / "manifest.json").read_text())
    sha = hashlib.sha256((run / STATE).read_bytes()).hexdigest()
    manifest["state"] = {"file": STATE, "bytes": (run / STATE).stat().st_size, "sha256": sha}
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_the_python_api_refuses_a_state_of_another_run(tmp_path: Path, kept: Path) -> None:
    other = tmp_path / "other"
    Simulation(core(), seed=1, residents=1600, days=10).run(other)
    with_state_of(other, kept)
    with pytest.raises(StateError, match="another residents"):
        Simulation.continue_from(other, days=5)


def test_a_timeline_scenario_loads_the_same(tmp_path: Path) -> None:
    """The continued run's scenario is RUN's scenario.yaml, hash for hash."""
    sc = load_scenario("beijing-2018")
    out = tmp_path / "r"
    Simulation(sc, seed=1, residents=1500, days=5, keep_state=True).run(out)
    assert load_scenario(out / "scenario.yaml").digest() == sc.digest()


def test_a_continued_run_is_written_apart_from_its_source(tmp_path: Path, kept: Path) -> None:
    """--out RUN (even with --overwrite), a folder in RUN or one around it: refused,
    exit 2, RUN as it was."""
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    for out, extra in ((kept, ["--overwrite"]), (kept / "more", []), (kept.parent, [])):
        args = ["run", "--from", str(kept), "--days", "3", "--out", str(out), "-q", *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "apart from it" in result.output
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before


def test_a_state_that_does_not_fit_the_run_is_refused(kept: Path) -> None:
    """A state whose per-agent array is short (or of another type) is refused before any
    kernel reads it."""
    from scslab.engine.snapshot import SnapshotError
    from scslab.rundir.state import read_state

    manifest = json.loads((kept / "manifest.json").read_text())
    for key, bad in (
        ("st.res.list_state.mask", lambda a: a[:10]),
        ("st.res.list_state.mask", lambda a: a.astype(np.int64)),
    ):
        snapshot = read_state(kept, manifest["state"])
        snapshot.arrays[key] = bad(snapshot.arrays[key])
        sim = Simulation(core(), seed=1, residents=1500, days=15, resume=snapshot)
        with pytest.raises(SnapshotError, match=key.replace(".", r"\.")):
            sim.simulate()
