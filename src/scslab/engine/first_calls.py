"""Which of scslab's kernels a first run calls from Python, and on which day.

A first run compiles each kernel when it first calls it; its helper process
(compile_ahead.py) compiles them from the other end, the last first. Which kernels a
first run calls from Python, with their argument types, the day and the order of their
first calls, is recorded here from first runs of the built-in scenarios into
compile_ahead.FIRST_CALLS (`scripts/record-first-calls` rewrites it;
`tests/test_compile_ahead.py` says when it is out of date).
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple

import numba
from numba.core.dispatcher import Dispatcher

from scslab.engine.compile_ahead import FIRST_CALLS, HELPER_ENV
from scslab.engine.state import RunState
from scslab.scenario.loader import builtin_names

RECORD_RESIDENTS = 215_420
"""Residents of each recorded run: those of the default `scslab run` (1% of the
default scenario's city), whose days of first calls the record holds. (ASSUMED: each
scenario's kernels are first called on about the same days at this size as in its own
default run.)"""


class Call(NamedTuple):
    """A kernel called from Python with one signature, on the day it was first called
    (from 0, burn-in included; -1 while the city is built)."""

    kernel: str
    """"module:qualified name" of the kernel's Python function."""
    signature: str
    """numba's text of the argument types."""
    types: str
    """The argument types (numba types), pickled, base64. (Two pickles of equal types
    may differ: a type pickles a number of this process's.)"""
    day: int


@contextmanager
def recording() -> Iterator[tuple[list[Call], list[int]]]:
    """Record, while the block runs, each call from Python (not from another kernel) of
    one of scslab's kernels with argument types that this process had not compiled or
    loaded it for, on day today[0] (which the block sets). A kernel compiled before in
    this process, inside another kernel included, is not seen: record in a fresh
    process with nothing cached, as a first run."""
    calls: list[Call] = []
    today = [-1]
    depth = threading.local()
    real = Dispatcher.compile

    def compile_recorded(self: Dispatcher, sig: Any) -> Any:
        module = getattr(self.py_func, "__module__", "")
        if getattr(depth, "n", 0) == 0 and module.split(".")[0] == "scslab":
            types = tuple(sig)
            pickled = base64.b64encode(pickle.dumps(types)).decode("ascii")
            kernel = f"{module}:{self.py_func.__qualname__}"
            calls.append(Call(kernel, str(types), pickled, today[0]))
        depth.n = getattr(depth, "n", 0) + 1  # (kernels compile their callees inside)
        try:
            return real(self, sig)
        finally:
            depth.n -= 1

    Dispatcher.compile = compile_recorded  # type: ignore[method-assign]
    try:
        yield calls, today
    finally:
        Dispatcher.compile = real  # type: ignore[method-assign]


def first_calls(scenario: str, residents: int, agents: bool) -> list[Call]:
    """Run `scenario` (a built-in name or file) on the general loop in this process,
    from a city of `residents`, for its days, and return the calls recording() sees,
    each on the day that was starting (work handed to the worker thread is recorded on
    the day then running)."""
    from scslab.engine.simulation import Simulation  # (it imports compile_ahead)

    sim = Simulation(scenario, residents=residents, engine="general", agents=agents)
    starts_day = RunState.report_from  # (called as each day starts)
    with recording() as (calls, today):

        def report_from(st: RunState, day: int) -> None:
            today[0] = day
            starts_day(st, day)

        RunState.report_from = report_from  # type: ignore[method-assign, assignment]
        try:
            sim.simulate()
        finally:
            RunState.report_from = starts_day  # type: ignore[method-assign]
    return calls


def first_calls_fresh(
    scenario: str, agents: bool, residents: int = RECORD_RESIDENTS, empty_cache: bool = True
) -> list[Call]:
    """first_calls() in a fresh Python process with two threads (a worker thread, as
    where a helper runs) and no helper, with an empty kernel cache of its own as on a
    first run (empty_cache), else this process's cache: then a kernel called from
    Python is recorded on the day of that call, though a first run would have compiled
    it before, inside another kernel."""
    code = (
        "import json, sys; from scslab.engine.first_calls import first_calls; "
        "calls = first_calls(sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'); "
        "json.dump(calls, sys.stdout)"
    )
    args = [sys.executable, "-c", code, scenario, str(residents), "1" if agents else "0"]
    with tempfile.TemporaryDirectory(prefix="scslab-record-") as cache:
        env = dict(os.environ, NUMBA_NUM_THREADS="2", **{HELPER_ENV: "0"})
        if empty_cache:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run(args, capture_output=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"recording {scenario} failed: {out.stderr.decode()[-2000:]}")
    return [Call(*row) for row in json.loads(out.stdout)]


def write_first_calls(scenarios: tuple[str, ...] | None = None) -> None:
    """Record FIRST_CALLS from first runs of `scenarios` (default: every built-in one)
    of RECORD_RESIDENTS residents for their days, with per-agent tables and without,
    two at a time: each kernel and signature that one of them calls from Python, with
    the runs that call it, the day of their first call and its place among their
    first calls."""
    names = tuple(builtin_names()) if scenarios is None else scenarios
    runs = [(name, agents) for name in names for agents in (True, False)]
    with ThreadPoolExecutor(2) as pool:  # (each in its own process)
        found = list(pool.map(lambda run: first_calls_fresh(*run), runs))
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for (name, agents), calls in zip(runs, found, strict=True):
        for order, c in enumerate(calls):
            entry = entries.setdefault(
                (c.kernel, c.signature),
                {"kernel": c.kernel, "signature": c.signature, "types": c.types, "runs": []},
            )
            run = {"scenario": name, "agents": agents, "first_day": c.day, "order": order}
            entry["runs"].append(run)
    record = {
        "numba": numba.__version__,
        "scenarios": list(names),
        "calls": [entries[key] for key in sorted(entries)],
    }
    FIRST_CALLS.write_text(json.dumps(record, indent=1) + "\n")
