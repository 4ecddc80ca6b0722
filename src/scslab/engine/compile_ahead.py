"""A first run's compiling, on two processes.

A run on the general loop with no kernel cached (a first run: kernelcache.py) compiles
its kernels as it first reaches them, one after another: numba compiles in one thread at
a time. So the run starts a helper process (start()) that compiles them from the other
end: it builds a small city of the same scenario and runs its days with each day's steps
in reverse order (compile_ahead()), writing what it compiles to the same kernel cache.
When the run reaches a kernel that the helper has compiled, numba loads it from the
cache instead of compiling it; the two meet about halfway through each day's kernels.
The run stops the helper when its days are done (stop(); helping() does both).

The helper's city, its results and its errors are thrown away: only numba's cache keeps
what it did. A step run out of order may find the input of an earlier step missing;
the helper skips that step for that day (the run compiles what the helper did not).

It runs only where a second thread is allowed (numba's thread count above one, as for
the general loop's worker thread), and not when SCSLAB_COMPILE_HELPER is "0".
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numba as nb

from scslab.engine.state import RunState
from scslab.engine.steps import PHASES, STEPS, Today
from scslab.scenario.population import build_population
from scslab.scenario.schema import Scenario

HELPER_RESIDENTS = 20_000
"""The most residents of the helper's city: enough that the rarer paths of a day (an
appeal decided, a record repaired) come within its first months; small enough that
its days take no time beside their compiling."""
HELPER_DAYS = 730
"""The most days the helper runs after the burn-in (the run stops it when its own days
are done, if sooner): the paths of a run's later days are those of its first years."""
OFF_SWITCH = "SCSLAB_COMPILE_HELPER"
"""Environment variable: "0" runs a first run's compiling in its own process only."""


@dataclass(frozen=True)
class HelperRun:
    """What the helper compiles for: the run's scenario, and its city's size and days
    (days: the run's days, burn-in included; agents: whether it keeps per-agent
    tables, which take other paths)."""

    scenario: Scenario
    residents: int
    days: int
    agents: bool


def helper_wanted() -> bool:
    """Whether a first run may start a helper: a second thread is allowed and the
    off switch is not set."""
    return nb.get_num_threads() > 1 and os.environ.get(OFF_SWITCH, "1") != "0"


def start(run: HelperRun) -> subprocess.Popen[bytes] | None:
    """Start the helper process for `run` (None where helper_wanted() is false). It
    writes nothing but numba's kernel cache and says nothing."""
    if not helper_wanted():
        return None
    env = dict(os.environ, NUMBA_NUM_THREADS="1")  # (its second core is the run's)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scslab.engine.compile_ahead"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(pickle.dumps(run))
        proc.stdin.close()
    except OSError:  # it ended already (it could not start): the run compiles alone
        stop(proc)
        return None
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """End the helper (if still running) and wait for it: the run has compiled what it
    needs. A helper ended while writing a kernel leaves at most a temporary file in the
    cache's folder (numba writes each file under another name, then renames it)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    proc.wait()


@contextmanager
def helping(run: HelperRun | None) -> Iterator[None]:
    """A helper process for `run` (none for None) while the block runs."""
    proc = start(run) if run is not None else None
    try:
        yield
    finally:
        stop(proc)


def compile_ahead(run: HelperRun, seed: int = 1) -> list[tuple[int, str]]:
    """Build a city of min(run.residents, HELPER_RESIDENTS) residents and run its days
    (run.days, at most HELPER_DAYS after the burn-in) with each day's steps in reverse
    order, compiling what they call. Returns the (day, step) pairs that failed (were
    skipped) for want of an earlier step's input."""
    scenario = run.scenario
    residents = min(run.residents, HELPER_RESIDENTS)
    pop = build_population(scenario.population, residents, seed)
    burn_in = scenario.burn_in_days
    days = min(run.days, burn_in + HELPER_DAYS)
    st = RunState(scenario, pop, seed, days, run.agents, PHASES, burn_in)
    failed: list[tuple[int, str]] = []
    for day in range(st.days):
        st.report_from(day)
        st.apply_timeline(day)
        today = Today(day)
        for step in reversed(STEPS):
            try:
                step.run(st, today)
            except Exception:  # (the step's input is missing: see the module's docstring)
                failed.append((day, step.name))
    return failed


def main() -> None:
    """The helper process: compile_ahead() for the HelperRun pickled on stdin."""
    run = pickle.loads(sys.stdin.buffer.read())
    compile_ahead(run)


if __name__ == "__main__":
    main()
