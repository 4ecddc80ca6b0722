"""A first run's compiling, on two processes.

A run on the general loop with no kernel cached (a first run: kernelcache.py) compiles
its kernels as it first reaches them, one after another: numba compiles in one thread at
a time. So the run starts a helper process (start()) that compiles them from the other
end, writing what it compiles to the same kernel cache. When the run reaches a kernel
that the helper has compiled, numba loads it from the cache instead of compiling it
(kernelcache.py saves under a lock: the two processes may save at once).

The helper first compiles the kernels that a first run of the same scenario calls from
Python, with their argument types, in the reverse of the order of their first calls
(compile_recorded()): the kernels of its later days (records taking effect, a listing
changed, a first block, a record ended) first, then those of its first day, then those
of its city's build; where it meets the run, it loads what the run has compiled from the
cache. Which they are is recorded from first runs of the built-in scenarios
(FIRST_CALLS, first_calls.py). Then it builds a small city of the same scenario and runs
its days with each day's steps in reverse order (compile_ahead()): the kernels the
record missed (a scenario of other paths, or of other types) are compiled there. The
run stops the helper when its days are done (stop(); helping() does both); a helper
whose run has died stops at its next kernel or day.

The helper's city, its results and its errors are thrown away: only numba's cache keeps
what it did. A step that fails (run out of order, it may find what an earlier step
hands on missing) is skipped for that day: the run compiles what the helper did not.
Each of its days starts with what the day before handed on (Today), so that steps run
before their inputs' steps still see records and listings.

It runs only where a second processor and a second thread are allowed (numba's thread
count above one, as for the general loop's worker thread), numba compiles, and
SCSLAB_COMPILE_HELPER is not "0".
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numba as nb
from numba.core import config

from scslab import kernelcache
from scslab.engine.state import RunState
from scslab.engine.steps import PHASES, STEPS, Today
from scslab.scenario.population import build_population
from scslab.scenario.schema import Scenario

HELPER_RESIDENTS = 20_000
"""The most residents of the helper's city (ASSUMED: a city small enough that its days
take little time beside their compiling)."""
HELPER_DAYS = 730
"""The most days the helper runs after the burn-in (the run stops it when its own days
are done, if sooner): the paths of a run's later days are those of its first years."""
HELPER_ENV = "SCSLAB_COMPILE_HELPER"
"""Environment variable: "0" has a first run compile in its own process alone."""
HELPER_MAIN = (
    "import sys; sys.path.append(sys.argv[1]); from scslab.engine.compile_ahead import main; main()"
)
"""The helper process's program: main(), with this scslab's folder last on its path (an
scslab found before it, of another source, compiles nothing: HelperRun.digest)."""
FIRST_CALLS = Path(__file__).with_name("first_calls.json")
"""The kernels that first runs of the built-in scenarios call from Python, under one
numba ("numba": its version): for the "scenarios" recorded, each kernel's "kernel"
("module:qualified name"), "signature" (numba's text of its argument types), "types"
(those types pickled, base64) and the "runs" that call it (scenario, agents: with
per-agent tables, first_day: the day of its first call, burn-in included, -1 while the
city is built, order: the place of that first call among the run's). Written by
first_calls.write_first_calls() (`scripts/record-first-calls`)."""
RECORD_DEFAULT = "beijing-2018"
"""The recorded scenario whose kernels a run of a scenario not recorded takes (ASSUMED:
most scenarios are variants of the default one; a wrong guess only costs the helper
time)."""
STOP_WAIT_S = 5.0
"""Seconds stop() waits for a helper to end once asked, before killing it."""


@dataclass(frozen=True)
class HelperRun:
    """What the helper compiles for: the run's scenario, and its city's size and days
    (days: the run's days, burn-in included; agents: whether it keeps per-agent
    tables, which take other paths)."""

    scenario: Scenario
    residents: int
    days: int
    agents: bool
    digest: str = ""
    """The run's source digest (kernelcache): a helper of another source (another
    scslab found first on its path) compiles nothing."""
    parent: int = 0
    """The run's process id: the helper stops once it is no longer its parent."""


def _processors() -> int:
    """Processors this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def helper_wanted() -> bool:
    """Whether a first run may start a helper (see the module's docstring)."""
    return (
        os.environ.get(HELPER_ENV, "1") != "0"
        and not getattr(config, "DISABLE_JIT", 0)
        and nb.get_num_threads() > 1
        and _processors() > 1
        and bool(sys.executable)
        and not getattr(sys, "frozen", False)  # (a frozen app's executable is the app)
    )


def start(run: HelperRun) -> subprocess.Popen[bytes] | None:
    """Start the helper process for `run` (None where helper_wanted() is false, or where
    it cannot start: the run then compiles alone). It writes nothing but numba's kernel
    cache and says nothing. It uses this process's kernel cache."""
    if not helper_wanted():
        return None
    run = replace(run, digest=kernelcache.package_digest(), parent=os.getpid())
    env = dict(os.environ, NUMBA_NUM_THREADS="1")  # (its second core is the run's)
    cache_dir = getattr(config, "CACHE_DIR", "")  # (numba's, where set: NUMBA_CACHE_DIR)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    proc = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", HELPER_MAIN, str(kernelcache.PACKAGE_DIR.parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(run))
        proc.stdin.close()
    except Exception:  # (it could not start, or ended at once: the run compiles alone)
        stop(proc)
        return None
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """End the helper (if still running) and wait for it, STOP_WAIT_S at most before
    killing it: the run has compiled what it needs. A helper ended while writing a
    kernel leaves at most a temporary file in the cache's folder (numba writes each
    file under another name, then renames it)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
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
    order, each day starting with what the day before handed on, compiling what they
    call; stops early once run.parent (if set) is no longer this process's parent.
    Returns the (day, step) pairs that failed (were skipped)."""
    scenario = run.scenario
    residents = min(run.residents, HELPER_RESIDENTS)
    pop = build_population(scenario.population, residents, seed)
    burn_in = scenario.burn_in_days
    days = min(run.days, burn_in + HELPER_DAYS)
    st = RunState(scenario, pop, seed, days, run.agents, PHASES, burn_in)
    failed: list[tuple[int, str]] = []
    today = Today(0)
    for day in range(st.days):
        if run.parent and os.getppid() != run.parent:
            break  # (the run has died)
        st.report_from(day)
        st.apply_timeline(day)
        today = Today(
            day, today.kind, today.subject, today.erroneous, today.newly_black, today.shocks
        )
        for step in reversed(STEPS):
            try:
                step.run(st, today)
            except Exception:  # (see the module's docstring)
                failed.append((day, step.name))
    return failed


def recorded_kernels(run: HelperRun) -> list[tuple[Any, tuple[Any, ...]]]:
    """The (kernel, argument types) of FIRST_CALLS that `run` may call: those that the
    recorded run of its scenario (else of RECORD_DEFAULT) with the same per-agent tables
    calls first before run.days, in the reverse of the order of their first calls. None
    from a record of another numba (major.minor: its types are numba's own objects) or
    one that cannot be read; an entry that no longer resolves to a kernel of scslab's or
    unpickles is left out."""
    try:
        record = json.loads(FIRST_CALLS.read_text())
        if _minor(record["numba"]) != _minor(nb.__version__):
            return []
        name = run.scenario.name if run.scenario.name in record["scenarios"] else RECORD_DEFAULT
        chosen = [
            (r["order"], e)
            for e in record["calls"]
            for r in e["runs"]
            if (r["scenario"], r["agents"]) == (name, run.agents) and r["first_day"] < run.days
        ]
        chosen.sort(key=lambda pair: -pair[0])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    out = []
    for _, e in chosen:
        try:
            if e["kernel"].split(".")[0] != "scslab":
                continue
            kernel = pkgutil.resolve_name(e["kernel"])  # ("module:qualified name")
            out.append((kernel, pickle.loads(base64.b64decode(e["types"]))))
        except Exception:  # (see the docstring)
            continue
    return out


def _minor(version: str) -> str:
    """A version's major.minor ("0.68" of "0.68.1")."""
    return ".".join(version.split(".")[:2])


def compile_recorded(run: HelperRun) -> None:
    """Compile recorded_kernels(run) in turn (a kernel that fails to compile is
    skipped; one the run has compiled is loaded from the cache); stops once run.parent
    (if set) is no longer this process's parent."""
    for kernel, types in recorded_kernels(run):
        if run.parent and os.getppid() != run.parent:
            return
        try:
            kernel.compile(types)
        except Exception:  # (the run compiles it if it needs it)
            continue


def main() -> None:
    """The helper process: compile_recorded() then compile_ahead() for the HelperRun
    pickled on stdin, unless it is of another source than this one."""
    run = pickle.loads(sys.stdin.buffer.read())
    if run.digest and run.digest != kernelcache.package_digest():
        return
    compile_recorded(run)
    compile_ahead(run)
