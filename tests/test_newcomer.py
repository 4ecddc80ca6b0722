"""A newcomer's path: report takes globs, explain picks a resident worth explaining, the
first run says what it waits for, rongcheng's zero sanctions are explained, --help shows
no value type after switches, and tables written to a file or pipe are not cut."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.progress import Progress
from rich.table import Table
from typer.testing import CliRunner

from scslab import Simulation, load_run
from scslab.analysis.explain import PICKS, explain
from scslab.cli import app
from scslab.cli.common import WideWhenPiped
from scslab.cli.scenario import RunProgress, summary_notes, summary_table
from scslab.kernelcache import has_cached_kernels
from scslab.scenario.loader import load_scenario
from tests.audit_helpers import error_prone, tiny_run

runner = CliRunner()


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    """The single `error:` line of a CLI result that exited with status 2."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# --------------------------------------------------------------------- report globs
def test_report_takes_glob_patterns_as_audit_and_compare_do(tmp_path: Path) -> None:
    for seed in (1, 2):
        Simulation("beijing-2018", seed=seed, residents=600, days=8).run(
            out=tmp_path / f"b18-s{seed}"
        )
    Simulation("beijing-2018", seed=3, residents=600, days=8).run(out=tmp_path / "other")
    page = tmp_path / "seeds.html"
    result = runner.invoke(app, ["report", str(tmp_path / "b18-s*"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert "report of 2 run(s)" in result.output and page.is_file()
    nothing = runner.invoke(app, ["report", str(tmp_path / "none-*"), "-o", str(page)])
    assert "none-*: nothing matches" in one_error_line(nothing)
    # what a pattern matches is read as audit reads it: a damaged run is left out, with
    # a warning; named, it is an error
    (tmp_path / "b18-s9").mkdir()
    (tmp_path / "b18-s9" / "manifest.json").write_text("{}")
    (tmp_path / "b18-notes.txt").write_text("not a run")
    result = runner.invoke(app, ["report", str(tmp_path / "b18-*"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert "report of 2 run(s)" in result.output and "b18-s9" in result.stderr
    named = runner.invoke(app, ["report", str(tmp_path / "b18-s9"), "-o", str(page)])
    assert "b18-s9" in one_error_line(named)


# --------------------------------------------------------------------- explain --pick
@pytest.fixture(scope="module")
def wrongful_run() -> Path:
    return tiny_run(error_prone())


@pytest.mark.parametrize("what", list(PICKS))
def test_pick_chooses_the_resident_with_the_most_and_says_why(
    wrongful_run: Path, what: str
) -> None:
    residents = load_run(wrongful_run).tables["residents"]
    columns = [c for c, _ in PICKS[what].columns]
    has = residents[(residents[columns] > 0).any(axis=1)]
    assert len(has), what
    best = has.sort_values([*columns, "id"], ascending=[False] * len(columns) + [True])
    e = explain(wrongful_run, pick=what)
    assert e.resident == int(best["id"].iloc[0])
    assert e.picked is not None and f"--pick {what}" in e.picked
    assert f"of the {len(has):,} resident(s)" in e.picked
    assert explain(wrongful_run, pick=what).resident == e.resident  # deterministic


def test_pick_wrongful_on_the_command_line(wrongful_run: Path) -> None:
    result = runner.invoke(app, ["explain", str(wrongful_run), "--pick", "wrongful"])
    assert result.exit_code == 0, result.output
    assert "picked with --pick wrongful: resident" in result.output
    doc = json.loads(
        runner.invoke(app, ["explain", str(wrongful_run), "--pick", "wrongful", "--json"]).output
    )
    row = load_run(wrongful_run).tables["residents"].iloc[doc["resident"]]
    assert row["days_wrongfully_blacklisted"] > 0 or row["wrongful_blocked_attempts"] > 0
    assert doc["picked"].startswith("picked with --pick wrongful")


def test_pick_says_so_when_no_resident_has_such_a_history(tmp_path: Path) -> None:
    out = tmp_path / "quiet"
    Simulation("rongcheng", seed=1, residents=500, days=5).run(out=out)
    line = one_error_line(runner.invoke(app, ["explain", str(out), "--pick", "wrongful"]))
    assert "no synthetic resident with a wrongful sanction in this run" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pick", "richest"], "--pick: must be one of wrongful, listed"),
        ([], "RESIDENT and --pick: give one of them"),
        (["3", "--pick", "wrongful"], "RESIDENT and --pick: give one of them"),
    ],
)
def test_pick_or_resident_bad_input(wrongful_run: Path, args: list[str], expected: str) -> None:
    assert expected in one_error_line(runner.invoke(app, ["explain", str(wrongful_run), *args]))


# --------------------------------------------------------------- the first run's wait
def test_run_reports_its_stages_before_the_first_day() -> None:
    seen: list[str] = []
    Simulation("beijing-2018", seed=1, residents=400, days=3).run(
        out=None,
        progress=lambda done, total: seen.append(f"day {done}"),
        phase=seen.append,
    )
    assert seen[:3] == ["build", "days", "day 1"] and seen[-1] == "day 3"


def test_run_stages_and_writing(tmp_path: Path) -> None:
    seen: list[str] = []
    Simulation("beijing-2018", seed=1, residents=400, days=2).run(
        out=tmp_path / "r", phase=seen.append
    )
    assert seen == ["build", "days", "write"]


@pytest.mark.parametrize("first_run", [True, False])
def test_progress_bar_says_what_it_waits_for(first_run: bool) -> None:
    progress = Progress(console=WideWhenPiped(file=io.StringIO()))
    shown = RunProgress(progress, "beijing-2018: 400 residents", 3, first_run=first_run)
    task = progress.tasks[0]
    assert task.description.startswith("building the city")
    assert ("compiling kernels" in task.description) == first_run
    shown.phase("days")
    expected = "compiling kernels (first run only)" if first_run else "beijing-2018: 400"
    assert task.description.startswith(expected)
    shown.days(1, 3)
    assert task.description == "beijing-2018: 400 residents" and task.completed == 1
    shown.phase("write")
    assert task.description == "writing the run directory"


def test_cached_kernels_are_found(tmp_path: Path) -> None:
    assert not has_cached_kernels(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "scoring.drift-10.py311.nbi").write_text("")
    assert not has_cached_kernels(tmp_path)
    (tmp_path / "model" / "scoring.drift-10.py311.1.nbc").write_text("")
    assert has_cached_kernels(tmp_path)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_run_in_a_terminal_shows_building_the_city(tmp_path: Path) -> None:
    import pty
    import select

    try:
        master, slave = pty.openpty()
    except OSError as err:
        pytest.skip(f"no pseudo-terminal here ({err})")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scslab.cli", "run", "--residents", "800", "--days", "4"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=300) == 0
    shown = set(re.findall(r"\x1b\[1m([^\x1b]+)\x1b", seen.decode(errors="replace")))
    assert "building the city" in shown or "building the city and compiling kernels" in shown
    assert "beijing-2018: 800 residents" in shown


# --------------------------------------------------------------- rongcheng's zeros
def test_rongcheng_explains_why_its_sanctions_are_zero(tmp_path: Path) -> None:
    sc = load_scenario("rongcheng")
    assert "850 points" in sc.description and "sanctions no one" in sc.description
    out = tmp_path / "rc"
    result = runner.invoke(
        app, ["run", "rongcheng", "--residents", "800", "--days", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "note: no one was on low_grade during the run, so its measures" in result.output
    # loans are delayed, not blocked, by rongcheng's measure: the table says delayed
    assert "delayed attempts: loans" in result.output
    assert "blocked attempts: loans" not in result.output


def test_summary_notes_name_the_measured_lists_no_one_was_on() -> None:
    res = load_run(tiny_run("beijing-2018"))
    city = res.to_frame("city")
    notes = " ".join(summary_notes(res))
    for name in {m.list for m in load_scenario("beijing-2018").measures.values()}:
        on = city[[c for c in city.columns if c.endswith(f"listed:{name}")]].to_numpy()
        assert (f"no one was on {name} during" in notes) == (not on.any()), name
    assert summary_table(res).row_count > 0


# ---------------------------------------------------------------- help and width
@pytest.mark.parametrize("command", ["run", "audit", "explain", "compare"])
def test_help_shows_no_value_type_after_switches(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--help" in result.output and "<bool>" not in result.output
    if command == "run":
        assert "--no-agents" in result.output and "<int>" in result.output


def test_tables_written_to_a_file_are_not_cut() -> None:
    table = Table(*(f"column {k}" for k in range(12)))
    table.add_row(*(f"{k}.123456" for k in range(12)))
    page = io.StringIO()
    WideWhenPiped(file=page, width=80).print(table)
    text = page.getvalue()
    assert "…" not in text and all(f"{k}.123456" in text for k in range(12))
    prose = io.StringIO()
    WideWhenPiped(file=prose, width=80).print("word " * 40)
    assert max(map(len, prose.getvalue().splitlines())) <= 80  # text still wraps


def test_harm_tables_piped_from_the_command_line_are_whole() -> None:
    run_dir = tiny_run("beijing-2018")
    result = runner.invoke(app, ["audit", str(run_dir), "--no-write"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
