"""Run directories are whole or absent, and scslab never deletes or writes into what it
did not write: refusals before any work, --overwrite, disk full, two writers, kills."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from scslab import Simulation
from scslab.cli import app
from scslab.presentation.report import write_report
from scslab.rundir.claim import PARTIAL_MARK, RunDirError, claim, is_run_dir
from scslab.rundir.results import TABLES, load_run

runner = CliRunner()
TINY = ["--residents", "1500", "--days", "8", "-q"]


def cli(*args: str) -> subprocess.Popen[str]:
    """`scslab ARGS` in a child process (stdout and stderr captured)."""
    return subprocess.Popen(
        [sys.executable, "-m", "scslab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tree(path: Path) -> dict[str, bytes]:
    """Every file under path with its bytes."""
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def assert_whole_run(path: Path, seeds: set[int]) -> int:
    """path holds a complete run of one of `seeds`: manifest, scenario and every table
    readable; returns its seed."""
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["seed"] in seeds
    assert (path / "scenario.yaml").read_text().strip()
    for name in TABLES:
        pq.read_table(path / f"{name}.parquet")
    assert not (path / PARTIAL_MARK).exists()
    return int(manifest["seed"])


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.fixture()
def no_city(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a run gets as far as building the city."""

    def refuse(*args, **kwargs):
        raise AssertionError("the city was built before the output was checked")

    monkeypatch.setattr("scslab.engine.simulation.build_population", refuse)


def test_a_folder_that_is_not_a_run_is_never_touched(tmp_path: Path, no_city) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    before = tree(tmp_path)
    for extra in ([], ["--overwrite"]):
        line = one_error_line(runner.invoke(app, ["run", *TINY, "--out", str(thesis), *extra]))
        assert "is not a scslab run directory" in line
        assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "out, says",
    [
        ("file.txt", "not a directory"),
        (".", "not a scslab run directory"),
        ("", "not a scslab run directory"),  # typer reads '' as '.'
        ("file.txt/run", "is a file, not a directory"),
        ("x" * 300, "File name too long"),
        ("new/" + "y" * 250, "File name too long"),  # the partial name is longer still
    ],
)
def test_bad_outputs_fail_in_one_line_before_the_city_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_city, out: str, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("mine too")
    before = tree(tmp_path)
    line = one_error_line(runner.invoke(app, ["run", *TINY, "--out", out]))
    assert says in line
    assert tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "notes"]


def test_a_read_only_place_fails_in_one_line(tmp_path: Path, monkeypatch, no_city) -> None:
    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    line = one_error_line(runner.invoke(app, ["run", *TINY, "--out", str(tmp_path / "r")]))
    assert "Permission denied" in line and not any(tmp_path.iterdir())


def test_an_existing_run_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", *TINY, "--out", str(out), "--seed", "1"]).exit_code == 0
    first = tree(out)
    line = one_error_line(runner.invoke(app, ["run", *TINY, "--out", str(out), "--seed", "2"]))
    assert "--overwrite" in line and tree(out) == first
    done = runner.invoke(app, ["run", *TINY, "--out", str(out), "--seed", "2", "--overwrite"])
    assert done.exit_code == 0, done.output
    assert assert_whole_run(out, {2}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial, lock, aside


def test_an_empty_folder_may_be_filled(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert runner.invoke(app, ["run", *TINY, "--out", str(out)]).exit_code == 0
    assert_whole_run(out, {1})


def test_python_api_refuses_the_same_way(tmp_path: Path, no_city) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a scslab run directory"):
        Simulation("beijing-2018", residents=1000, days=3).run(out=tmp_path)
    assert tree(tmp_path) == {"keep.txt": b"mine"}


def test_a_full_disk_keeps_the_older_run_and_leaves_no_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", *TINY, "--out", str(out)]).exit_code == 0
    old = tree(out)
    calls = []

    def full(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return pq_write(table, where, **kwargs)

    pq_write = pq.write_table
    monkeypatch.setattr("scslab.rundir.results.pq.write_table", full)
    result = runner.invoke(app, ["run", *TINY, "--out", str(out), "--seed", "9", "--overwrite"])
    line = one_error_line(result)
    assert "No space left on device" in line and "is kept" in line
    assert tree(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failed_write_of_a_new_run_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    res = Simulation("beijing-2018", seed=1, residents=1000, days=3).run()

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("scslab.rundir.results.pq.write_table", boom)
    with pytest.raises(RunDirError, match="No space left on device"):
        res.write(tmp_path / "a" / "run")
    assert list(tmp_path.iterdir()) == []  # the parent it made is gone too


def test_a_second_writer_is_refused_while_the_first_holds_the_directory(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    stage = claim(out)
    try:
        second = cli("run", *TINY, "--out", str(out))
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2
        assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1
        assert f"another scslab process (pid {os.getpid()})" in err
    finally:
        stage.abandon()
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_two_runs_into_one_directory(tmp_path: Path) -> None:
    """Two real runs into one --out: the second (started here, in this process, so that
    it asks at once) refuses while the first runs, and the first leaves a whole run of
    its own seed."""
    out = tmp_path / "run"
    first = cli("run", "--residents", "30000", "--days", "200", "-q", "--out", str(out))
    partial = tmp_path / ".run.partial"
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    second = runner.invoke(app, ["run", *TINY, "--seed", "2", "--out", str(out)])
    assert not out.exists(), "the first run ended before the second asked"
    assert "another scslab process" in one_error_line(second)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert assert_whole_run(out, {1, 2}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_kill_at_any_moment_leaves_one_whole_run(tmp_path: Path) -> None:
    """SIGKILL at random moments of a run that replaces another: the path always holds
    one whole run (old or new), and the next run cleans what the killed one left."""
    out = tmp_path / "run"
    args = ["run", "--residents", "3000", "--days", "30", "-q", "--out", str(out)]
    start = time.monotonic()
    done = cli(*args, "--seed", "1")
    assert done.wait(timeout=300) == 0
    full = time.monotonic() - start
    rng = random.Random(20)
    seen = set()
    for k in range(8):
        child = cli(*args, "--seed", str(2 + k % 2), "--overwrite")
        time.sleep(rng.uniform(0.0, 1.1 * full))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        seen.add(assert_whole_run(out, {1, 2, 3}))
    last = cli(*args, "--seed", "4", "--overwrite")
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert assert_whole_run(out, {4}) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert seen  # every kill was checked


def test_a_killed_exchange_is_put_back_by_the_next_claim(tmp_path: Path) -> None:
    """The states a kill can leave inside a commit: the old run set aside (two-rename
    fallback) with nothing at the path, or the old run in the partial's name."""
    out = tmp_path / "run"
    Simulation("beijing-2018", seed=1, residents=1000, days=3).run(out=out)
    os.replace(out, tmp_path / ".run.old")  # killed between the two renames
    stage = claim(out, overwrite=True)
    assert is_run_dir(out) and not (tmp_path / ".run.old").exists()
    stage.abandon()
    os.replace(out, tmp_path / ".run.partial")  # killed after an exchange, before removal
    Simulation("beijing-2018", seed=2, residents=1000, days=3).run(out=out)
    assert assert_whole_run(out, {2}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_partial_not_written_by_scslab_is_never_removed(tmp_path: Path) -> None:
    odd = tmp_path / ".run.partial"
    odd.mkdir()
    (odd / "mine.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not written by scslab"):
        claim(tmp_path / "run")
    assert (odd / "mine.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.partial"]


def test_reports_replace_only_reports(tmp_path: Path, small_run) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    with pytest.raises(RunDirError, match="not written by scslab"):
        write_report(small_run, mine)
    assert mine.read_text() == "<html>my notes</html>"
    page = write_report(small_run, tmp_path / "r.html")
    assert write_report(small_run, page) == page  # its own report is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.html", "r.html"]
    result = runner.invoke(app, ["report", str(small_run.path), "-o", str(mine)])
    assert "not written by scslab" in one_error_line(result)


def test_load_run_reads_what_was_written(tmp_path: Path) -> None:
    res = Simulation("beijing-2018", seed=1, residents=1000, days=3).run(out=tmp_path / "r")
    back = load_run(tmp_path / "r")
    assert back.manifest["seed"] == 1 and set(back.tables) == set(res.tables)


def test_overwrite_without_an_atomic_exchange_uses_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system without renameat2's exchange the old run is set aside, the new
    one renamed in, and the old one removed."""
    monkeypatch.setattr("scslab.rundir.claim._exchange", lambda a, b: False)
    out = tmp_path / "run"
    Simulation("beijing-2018", seed=1, residents=1000, days=3).run(out=out)
    Simulation("beijing-2018", seed=2, residents=1000, days=3).run(out=out, overwrite=True)
    assert assert_whole_run(out, {2}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
