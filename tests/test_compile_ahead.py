"""A first run's helper process (engine/compile_ahead.py): it runs the steps of each
day in reverse order on a small city without failing, starts only for a first run on
the general loop, and has ended when the run returns."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numba as nb
import pytest

from scslab import Simulation, kernelcache
from scslab.engine import compile_ahead
from scslab.engine.compile_ahead import HelperRun
from scslab.scenario.loader import load_scenario

SCENARIOS = [
    "beijing-2018",
    "beijing-2018-loyalty",
    "beijing-2018-safeguards",
    "china-courts-2014",
    "rongcheng",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_step_runs_in_reverse(name: str) -> None:
    """No step of a built-in scenario fails when run before the steps it follows (a
    failed step would leave its kernels to the run), with per-agent tables or not."""
    sc = load_scenario(name)
    for agents in (True, False):
        run = HelperRun(sc, residents=2000, days=sc.burn_in_days + 40, agents=agents)
        assert compile_ahead.compile_ahead(run) == []


def test_helper_days_are_capped() -> None:
    """A long run's helper stops after HELPER_DAYS days past the burn-in."""
    sc = load_scenario("rongcheng")
    days = sc.burn_in_days + compile_ahead.HELPER_DAYS + 400
    steps_run: list[int] = []

    class Counting(compile_ahead.RunState):
        def report_from(self, day: int) -> None:
            steps_run.append(day)
            super().report_from(day)

    mp = pytest.MonkeyPatch()
    mp.setattr(compile_ahead, "RunState", Counting)
    try:
        compile_ahead.compile_ahead(HelperRun(sc, residents=500, days=days, agents=False))
    finally:
        mp.undo()
    assert len(steps_run) == sc.burn_in_days + compile_ahead.HELPER_DAYS


def test_off_switch_and_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    run = HelperRun(load_scenario("rongcheng"), 500, 10, False)
    monkeypatch.setenv(compile_ahead.OFF_SWITCH, "0")
    assert not compile_ahead.helper_wanted() and compile_ahead.start(run) is None
    monkeypatch.delenv(compile_ahead.OFF_SWITCH)
    monkeypatch.setattr(nb, "get_num_threads", lambda: 1)
    assert not compile_ahead.helper_wanted() and compile_ahead.start(run) is None
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

    monkeypatch.delenv(compile_ahead.OFF_SWITCH)
    monkeypatch.setattr(nb, "get_num_threads", lambda: 2)
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
    assert started[0].returncode is not None  # ended (and waited for)
    monkeypatch.setenv(compile_ahead.OFF_SWITCH, "0")
    alone = Simulation("beijing-2018", seed=2, residents=2000, days=20, engine="general").run()
    assert res.metrics.equals(alone.metrics)


def test_no_helper_once_cached_or_on_compiled_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with kernels cached, or on compiled days, compiles alone (compiled days'
    loop is one kernel: a helper could not share it)."""
    started = started_helpers(monkeypatch)
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda *a: True)
    Simulation("rongcheng", seed=1, residents=500, days=5, engine="general").run()
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda *a: False)
    Simulation("rongcheng", seed=1, residents=500, days=5, engine="compiled").run()
    assert started == []


def test_helper_process_runs_to_the_end() -> None:
    """The helper as started (python -m scslab.engine.compile_ahead, the run pickled on
    stdin) runs its days and ends without error; it writes nothing to stdout."""
    run = HelperRun(load_scenario("rongcheng"), residents=500, days=20, agents=True)
    done = subprocess.run(
        [sys.executable, "-m", "scslab.engine.compile_ahead"],
        input=pickle.dumps(run),
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b""
