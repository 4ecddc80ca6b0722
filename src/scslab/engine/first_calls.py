"""Which of scslab's kernels a first run calls from Python, and on which day.

A first run's helper process (compile_ahead.py) compiles the kernels that the run
reaches only after its first day before anything else: a run compiles each kernel
when it first calls it, so those would otherwise be compiled last, by the run itself.
Which kernels those are, with their argument types, is recorded here from runs of the
built-in scenarios into compile_ahead.LATER_KERNELS (`scripts/record-later-kernels`
rewrites it; `tests/test_compile_ahead.py` says when it is out of date).
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

from scslab.engine.compile_ahead import HELPER_ENV, LATER_KERNELS
from scslab.engine.state import RunState

BUILT_IN = (
    "beijing-2018",
    "beijing-2018-loyalty",
    "beijing-2018-safeguards",
    "china-courts-2014",
    "rongcheng",
)
"""The scenarios whose first runs LATER_KERNELS is recorded from."""
RECORD_RESIDENTS = 215_420
"""Residents of the recorded runs: those of the default run (`scslab run`, 1% of the
city), whose days of first calls they are."""


class Call(NamedTuple):
    """A kernel called from Python with one signature."""

    kernel: str
    """"module:qualified name" of the kernel's Python function."""
    signature: str
    """numba's text of the argument types."""
    types: str
    """The argument types (numba types), pickled, base64."""


@contextmanager
def recording() -> Iterator[tuple[dict[Call, int], list[int]]]:
    """Record, while the block runs, each of scslab's kernels that is called from Python
    (not only from another kernel) with argument types that this process had not yet
    compiled or loaded it for: {Call: day}, where day is today[0] (which the block sets)
    when this process first compiled or loaded it, from Python or inside another kernel
    being compiled (which compiles its callees). Kernels compiled or loaded before in
    this process are not seen, so record in a fresh one; and with nothing cached, so
    that callees compile inside their callers as on a first run."""
    calls: dict[Call, int] = {}
    first_day: dict[tuple[str, str], int] = {}
    today = [-1]
    depth = threading.local()
    real = Dispatcher.compile

    def compile_recorded(self: Dispatcher, sig: Any) -> Any:
        module = getattr(self.py_func, "__module__", "")
        if module.split(".")[0] == "scslab":
            types = tuple(sig)
            kernel = f"{module}:{self.py_func.__qualname__}"
            day = first_day.setdefault((kernel, str(types)), today[0])
            if getattr(depth, "n", 0) == 0:  # (called from Python)
                pickled = base64.b64encode(pickle.dumps(types)).decode("ascii")
                calls.setdefault(Call(kernel, str(types), pickled), day)
        depth.n = getattr(depth, "n", 0) + 1
        try:
            return real(self, sig)
        finally:
            depth.n -= 1

    Dispatcher.compile = compile_recorded  # type: ignore[method-assign]
    try:
        yield calls, today
    finally:
        Dispatcher.compile = real  # type: ignore[method-assign]


def first_calls(scenario: str, residents: int, agents: bool) -> dict[Call, int]:
    """Run `scenario` (a built-in name or file) on the general loop in this process,
    from a city of `residents`, for its days, and return each kernel's first call from
    Python: {Call: day} (day: the run's day, burn-in included, from 0; -1 while the city
    is built). Kernels called before in this process are not seen: call in a fresh
    one."""
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
    scenario: str, residents: int, agents: bool, empty_cache: bool = True
) -> dict[Call, int]:
    """first_calls() in a fresh Python process (no helper), with an empty kernel cache
    of its own as on a first run (empty_cache), else this process's cache: then a
    kernel called from Python is recorded on the day of that call, though a first run
    would have compiled it before, inside another kernel."""
    code = (
        "import json, sys; from scslab.engine.first_calls import first_calls; "
        "calls = first_calls(sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'); "
        "json.dump([[*c, d] for c, d in calls.items()], sys.stdout)"
    )
    args = [sys.executable, "-c", code, scenario, str(residents), "1" if agents else "0"]
    with tempfile.TemporaryDirectory(prefix="scslab-record-") as cache:
        env = dict(os.environ, **{HELPER_ENV: "0"})
        if empty_cache:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run(args, capture_output=True, env=env, check=True)
    return {Call(*row[:3]): int(row[3]) for row in json.loads(out.stdout)}


def later_calls(
    scenario: str, agents: bool, residents: int = RECORD_RESIDENTS, empty_cache: bool = True
) -> dict[Call, int]:
    """The calls that a first run of `scenario` makes first after its first day
    (first_calls_fresh()): {Call: day of the first call}."""
    calls = first_calls_fresh(scenario, residents, agents, empty_cache)
    return {call: day for call, day in calls.items() if day >= 1}


def write_later_kernels(scenarios: tuple[str, ...] = BUILT_IN) -> None:
    """Record LATER_KERNELS from first runs of `scenarios` (RECORD_RESIDENTS residents,
    each scenario's days, with per-agent tables and without; two at a time): each
    kernel and signature first called after the first day by one of them, with the runs
    that call it and the day of their first call."""
    runs = [(name, agents) for name in scenarios for agents in (True, False)]
    with ThreadPoolExecutor(2) as pool:  # (each in its own process)
        found = list(pool.map(lambda run: later_calls(*run), runs))
    by_call: dict[Call, list[dict[str, Any]]] = {}
    for (name, agents), later in zip(runs, found, strict=True):
        for call, day in later.items():
            run = {"scenario": name, "agents": agents, "first_day": day}
            by_call.setdefault(call, []).append(run)
    entries = [{**c._asdict(), "runs": r} for c, r in sorted(by_call.items())]
    text = json.dumps({"numba": numba.__version__, "calls": entries}, indent=1)
    LATER_KERNELS.write_text(text + "\n")
