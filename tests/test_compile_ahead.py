"""A first run's helper process (engine/compile_ahead.py): it first compiles the kernels
its run calls, the last first (from a record that stays current), then runs the steps
of each day in reverse order on a small city without failing; it starts only for a
first run on the general loop, and has ended when the run returns."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numba as nb
import pytest

from scslab import Simulation, kernelcache
from scslab.engine import compile_ahead, first_calls
from scslab.engine.compile_ahead import RECORD_DEFAULT, HelperRun
from scslab.scenario.loader import builtin_names, load_scenario

SCENARIOS = builtin_names()


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_step_runs_in_reverse(name: str) -> None:
    """No step of a built-in scenario fails when run before the steps it follows (a
    failed step would leave its kernels to the run), with per-agent tables or not."""
    sc = load_scenario(name)
    for agents in (True, False):
        run = HelperRun(sc, residents=2000, days=sc.burn_in_days + 40, agents=agents)
        assert compile_ahead.compile_ahead(run) == []


def test_helper_days_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long run's helper stops after HELPER_DAYS days past the burn-in."""
    sc = load_scenario("rongcheng")
    days = sc.burn_in_days + compile_ahead.HELPER_DAYS + 400
    days_run = counted_days(monkeypatch)
    compile_ahead.compile_ahead(HelperRun(sc, residents=500, days=days, agents=False))
    assert len(days_run) == sc.burn_in_days + compile_ahead.HELPER_DAYS


def test_helper_of_a_dead_run_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper whose run is no longer its parent runs no day."""
    days_run = counted_days(monkeypatch)
    run = HelperRun(load_scenario("rongcheng"), 500, 30, False, parent=os.getppid() + 1)
    compile_ahead.compile_ahead(run)
    assert days_run == []


def counted_days(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The days that compile_ahead() runs from now on."""
    days_run: list[int] = []

    class Counting(compile_ahead.RunState):
        def report_from(self, day: int) -> None:
            days_run.append(day)
            super().report_from(day)

    monkeypatch.setattr(compile_ahead, "RunState", Counting)
    return days_run


def test_when_no_helper_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The off switch, one thread, one processor or numba's JIT off: no helper."""
    run = HelperRun(load_scenario("rongcheng"), 500, 10, False)
    monkeypatch.setenv(compile_ahead.HELPER_ENV, "0")
    assert not compile_ahead.helper_wanted() and compile_ahead.start(run) is None
    monkeypatch.delenv(compile_ahead.HELPER_ENV)
    monkeypatch.setattr(nb, "get_num_threads", lambda: 1)
    assert not compile_ahead.helper_wanted() and compile_ahead.start(run) is None
    monkeypatch.setattr(nb, "get_num_threads", lambda: 2)
    monkeypatch.setattr(compile_ahead, "_processors", lambda: 1)
    assert not compile_ahead.helper_wanted()
    monkeypatch.setattr(compile_ahead, "_processors", lambda: 2)
    monkeypatch.setattr(compile_ahead.config, "DISABLE_JIT", True)
    assert not compile_ahead.helper_wanted()
    monkeypatch.setattr(compile_ahead.config, "DISABLE_JIT", False)
    assert compile_ahead.helper_wanted()
    with compile_ahead.helping(None):
        pass  # no run: no helper, nothing to stop


def started_helpers(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes] | None]:
    """Record the helpers that runs start from now on (the real start())."""
    started: list[subprocess.Popen[bytes] | None] = []
    real_start = compile_ahead.start

    def start(run: HelperRun) -> subprocess.Popen[bytes] | None:
        proc = real_start(run)
        started.append(proc)
        return proc

    monkeypatch.delenv(compile_ahead.HELPER_ENV)
    monkeypatch.setattr(nb, "get_num_threads", lambda: 2)
    monkeypatch.setattr(compile_ahead, "_processors", lambda: 2)
    monkeypatch.setattr(compile_ahead, "start", start)
    return started


def test_first_run_on_the_general_loop_has_a_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run (nothing cached) on the general loop starts one helper, which has
    ended when the run returns; its results are the run's alone."""
    started = started_helpers(monkeypatch)
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda *a: False)
    sim = Simulation("beijing-2018", seed=2, residents=2000, days=20, engine="general")
    res = sim.run()
    assert len(started) == 1 and started[0] is not None
    assert started[0].returncode in (0, -signal.SIGTERM)  # ended (and waited for)
    monkeypatch.setenv(compile_ahead.HELPER_ENV, "0")
    alone = Simulation("beijing-2018", seed=2, residents=2000, days=20, engine="general").run()
    assert res.metrics.equals(alone.metrics)


def test_no_helper_once_cached_or_on_compiled_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with kernels cached, or on compiled days, compiles alone (compiled days'
    loop is one kernel: a helper could not share it)."""
    general = Simulation("rongcheng", seed=1, residents=500, days=5, engine="general")
    compiled = Simulation("rongcheng", seed=1, residents=500, days=5, engine="compiled")
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda *a: False)
    run = general._helper_run()
    assert run is not None and run.days == general.scenario.burn_in_days + 5
    monkeypatch.setattr(Simulation, "compiles_first", lambda self: True)
    assert compiled._helper_run() is None
    monkeypatch.setattr(Simulation, "compiles_first", lambda self: False)
    assert general._helper_run() is None


def helper_process(run: HelperRun, cache: Path) -> None:
    """Run the helper as start() starts it (HELPER_MAIN, the run pickled on stdin) to
    its end, on the kernel cache `cache`: it must end without error and write nothing
    to stdout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    done = subprocess.run(
        [sys.executable, "-c", compile_ahead.HELPER_MAIN, str(kernelcache.PACKAGE_DIR.parent)],
        input=pickle.dumps(run),
        capture_output=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b""


def test_helper_process_compiles_into_the_cache(tmp_path: Path) -> None:
    """The helper process fills an empty kernel cache (the one a run of this source
    reads); one of another source compiles nothing."""
    sc = load_scenario("rongcheng")
    ours = kernelcache.kernel_cache_dir(tmp_path / "scslab")
    run = HelperRun(sc, residents=500, days=sc.burn_in_days + 2, agents=True)
    helper_process(replace(run, digest="another source"), tmp_path)
    assert not kernelcache.has_cached_kernels(ours)
    helper_process(run, tmp_path)
    assert kernelcache.has_cached_kernels(ours)


def test_recorded_kernels_compile_into_the_cache(tmp_path: Path) -> None:
    """compile_recorded() compiles the kernels a run calls, those of its later days and
    of its city's build alike, into the kernel cache (as the helper process runs it,
    before its own city)."""
    sc = load_scenario("rongcheng")
    run = HelperRun(sc, residents=500, days=sc.burn_in_days + 2, agents=True)
    assert {"tally_scores", "_people"} <= set(names(run))
    code = (
        "import pickle, sys; from scslab.engine.compile_ahead import compile_recorded; "
        "compile_recorded(pickle.loads(sys.stdin.buffer.read()))"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(run), env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    ours = kernelcache.kernel_cache_dir(tmp_path / "scslab")
    assert any(ours.rglob("*tally_scores*.nbi"))  # (first called on day 1)
    assert any(ours.rglob("*_people*.nbi"))  # (the city's build)


def names(run: HelperRun) -> list[str]:
    """The names of the recorded kernels (compile_ahead.recorded_kernels) of `run`, in
    turn."""
    return [kernel.py_func.__name__ for kernel, _ in compile_ahead.recorded_kernels(run)]


def test_recorded_kernels_of_a_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A helper compiles the kernels that its scenario, with the same per-agent tables,
    calls first before its last day, the last first: the later days', the first day's,
    the city's build (every one recorded resolving to its kernel and types); those of
    the default scenario for a scenario not recorded; none from a record of another
    numba or one that cannot be read."""
    sc = load_scenario(RECORD_DEFAULT)
    whole = HelperRun(sc, residents=2000, days=sc.days, agents=True)
    record = json.loads(compile_ahead.FIRST_CALLS.read_text())
    assert record["scenarios"] == SCENARIOS
    runs = [r for e in record["calls"] for r in e["runs"]]
    ours = [r for r in runs if r["scenario"] == RECORD_DEFAULT and r["agents"]]
    recorded = compile_ahead.recorded_kernels(whole)
    assert len(recorded) == len(ours) > 40
    assert all(isinstance(types, tuple) and len(types) > 0 for _, types in recorded)
    order = names(whole)
    assert order[0] in ("end_side", "add_points")  # (first called on day 75)
    assert order[-1] == "_household_sizes"  # (the city's first)
    assert order.index("plan_day") < order.index("step_day") < order.index("_people")
    short = names(replace(whole, days=5))  # (day 1 and 0, the build)
    assert "plan_day" in short and "end_side" not in short and "blocked_day" not in short
    assert set(short) < set(order)
    renamed = replace(whole, scenario=sc.model_copy(update={"name": "my-city"}))
    assert names(renamed) == order
    rongcheng = load_scenario("rongcheng")
    first_days = names(HelperRun(rongcheng, 500, rongcheng.burn_in_days + 2, False))
    assert first_days[:2] == ["_sum_rows", "tally_scores"] and "end_side" not in first_days
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**record, "numba": "0.1.0"}))
    monkeypatch.setattr(compile_ahead, "FIRST_CALLS", other)
    assert compile_ahead.recorded_kernels(whole) == []
    other.write_text("not json")
    assert compile_ahead.recorded_kernels(whole) == []


def test_recorded_kernels_are_current() -> None:
    """Each kernel and signature that compile_ahead.FIRST_CALLS records for the default
    scenario (at 1% of the city, as recorded), under this numba, is one that its run
    still calls from Python (with kernels cached here: a first run compiles some of
    them before, inside other kernels, hence a subset). If not, run
    scripts/record-first-calls. (A kernel missing from the record is not seen here: the
    helper leaves it to the run, a loss of speed only.)"""
    record = json.loads(compile_ahead.FIRST_CALLS.read_text())
    stale = "out of date: run scripts/record-first-calls"
    assert record["numba"].split(".")[:2] == nb.__version__.split(".")[:2], stale
    calls = first_calls.first_calls_fresh(RECORD_DEFAULT, True, empty_cache=False)
    recorded = {
        (e["kernel"], e["signature"])
        for e in record["calls"]
        if any(r["scenario"] == RECORD_DEFAULT and r["agents"] for r in e["runs"])
    }
    assert recorded <= {(c.kernel, c.signature) for c in calls}, stale
