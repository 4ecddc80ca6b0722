"""A simulation: a scenario, a synthetic city and the days run on it.

`Simulation` fixes a run (scenario, seed, size, days, engine), builds the city, makes
the run's state (engine/state.py) and runs its days with the general loop or compiled
days (engine/loops.py); simulate() returns the output tables and the manifest. Writing
them to a run directory is the run directory layer's (scslab.rundir.run.Simulation).
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scslab import __version__, kernelcache
from scslab.engine import compile_ahead
from scslab.engine.arena import MAPPED_ALONE_BYTES, keeping_freed_memory
from scslab.engine.loops import compiled_days_ready, run_compiled, run_general
from scslab.engine.snapshot import Snapshot, SnapshotError, population_digest, restore, take
from scslab.engine.state import RunState
from scslab.engine.steps import PHASES
from scslab.engine.support import unsupported_in_run
from scslab.engine.tables import tables
from scslab.scenario.bounds import MAX_DAYS, RunSizeError, check_run_size
from scslab.scenario.loader import load_scenario
from scslab.scenario.population import (
    Population,
    available_bytes,
    build_population,
    resident_count,
)
from scslab.scenario.schema import Scenario

METRIC_ROW_BYTES = 64
"""Peak bytes of memory a run takes per value of its daily metrics (one metric, one
group, one day): the daily series (float64), the long metrics table built from them and
its Arrow copy for Parquet. A run at 1% of beijing-2018 for ten years peaks at about 53
a value above the same run's first days (6,560 values a day); rounded up."""

ENGINES = ("auto", "general", "compiled")
"""How days are run: "general" runs the day's steps from Python and runs every
mechanism; "compiled" runs them in one numba call (engine/compiled.py; only scenarios of
the points-and-lists core, with the same results); "auto" runs compiled days where the
scenario allows them and their loop is compiled already (loops.compiled_days_ready: for
some types of its arguments; a scenario whose arrays take other types compiles it once
more), else the general loop, whose kernels compile in less than half the time
(docs/benchmarks.md, "Cold compile"): a single run gains more from that than compiled
days gain on its days; many runs take compiled days all the same (many_runs_engine)."""
AGENT_TABLES_AUTO_LIMIT = 1_000_000
"""Per-agent tables are written by default up to this many residents."""


def many_runs_engine(scenario: Scenario) -> str:
    """The engine for one of many runs of `scenario` (a sweep, a calibration, `scslab
    compile`): compiled days wherever the scenario allows them, whose first compile is
    paid once for all the runs; else the general loop."""
    return "general" if unsupported_in_run(scenario) else "compiled"


def lists_manifest(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """What each list's metrics count, for the manifest: {name: {subject, kind,
    counts_representatives, reaches_representatives}}.

    A list's counts (listed, listed_wrongful, new_listings, exits, exits_<reason>,
    ever_listed) are of its own subjects: an enterprise list counts firms (as
    enterprise.listed:<name>, ...), never the legal representatives its measures reach,
    so counts_representatives is false for every list. reaches_representatives: an
    enterprise list with a measure, which reaches the legal representatives of the firms
    on it; their attempts blocked by it are counted among residents' blocked:<domain>,
    wrongful_blocked:<domain> and blocked_by:<name>:<domain> (and, for a blacklist,
    their days in the residents table's days_wrongfully_blacklisted), not in the list's
    counts nor in residents' blacklisted."""
    measured = {m.list for m in scenario.measures.values()}
    return {
        name: {
            "subject": rules.subject,
            "kind": rules.kind,
            "counts_representatives": False,
            "reaches_representatives": rules.subject == "enterprise" and name in measured,
        }
        for name, rules in scenario.lists.items()
    }


@dataclass
class Outputs:
    """What a simulation produced: its tables by name, its manifest (a JSON-ready dict)
    and its resolved scenario as YAML; `started`: time.perf_counter() when it began."""

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    scenario_yaml: str
    started: float
    state: Snapshot | None = None
    """The run's state at its end (with keep_state; engine/snapshot.py)."""


class Simulation:
    """A scenario run on a synthetic city.

    seed, and scale (share of the whole city) or residents, fix the run; days (the
    reported days, after the scenario's burn_in_days) defaults to the scenario's;
    agents: write per-agent tables (default: up to 1M residents);
    engine: see ENGINES (the tables are the same whichever runs);
    keep_state: simulate() also returns the state at the end (Outputs.state), from
    which another run can go on; resume: a state kept so (engine/snapshot.py) of this
    run (the same scenario, seed and size) after fewer days, from which this one goes
    on: its tables are the whole run's, as if it had never stopped.

    >>> sim = Simulation("beijing-2018", seed=1, residents=20_000, days=30)
    >>> outputs = sim.simulate()
    >>> outputs.manifest["engine"]
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "beijing-2018",
        *,
        seed: int = 1,
        scale: float | None = None,
        residents: int | None = None,
        days: int | None = None,
        agents: bool | None = None,
        engine: str = "auto",
        keep_state: bool = False,
        resume: Snapshot | None = None,
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if engine not in ENGINES:
            raise ValueError(f"engine: must be one of {', '.join(ENGINES)} (got {engine!r})")
        why = unsupported_in_run(self.scenario)
        if engine == "compiled" and why:
            more = f"; and {len(why) - 3} more" if len(why) > 3 else ""
            raise ValueError(
                "engine 'compiled' runs only the points-and-lists core; this scenario has "
                f"{'; '.join(why[:3])}{more} (use engine 'auto' or 'general')"
            )
        self.engine = engine
        self.engine_used = "compiled" if engine == "compiled" else "general"
        """The engine run() uses: "compiled" when asked for or, with "auto", when the
        scenario has nothing that support.unsupported() names and compiled days' loop is
        compiled already."""
        self.compiled_later = False
        """Whether auto chose the general loop only because compiled days' loop is not
        compiled yet (a display may say how to compile it: `scslab compile`)."""
        check_run_size(scale, residents, days, seed)
        if days is not None and days + self.scenario.burn_in_days > MAX_DAYS:
            raise RunSizeError(
                ("days",),
                f"with the scenario's burn_in_days ({self.scenario.burn_in_days}) must be at "
                f"most {MAX_DAYS - self.scenario.burn_in_days} (got {days})",
            )
        self.seed = int(seed)
        self.n_residents = resident_count(self.scenario.population, scale, residents)
        self.scale = self.n_residents / self.scenario.population.residents_at_scale_1
        self.days = days or self.scenario.days
        self.agents = self.n_residents <= AGENT_TABLES_AUTO_LIMIT if agents is None else agents
        if engine == "auto" and not why:
            if compiled_days_ready():
                self.engine_used = "compiled"
            else:
                self.compiled_later = True
        self.keep_state = keep_state
        self.resume = resume
        self.resume_checked = False  # check_resume() has passed
        if resume is not None and resume.day >= self.scenario.burn_in_days + self.days:
            done = resume.day - self.scenario.burn_in_days
            raise RunSizeError(
                ("days",),
                f"must be more than the {done} days the state was kept after (got {self.days})",
            )
        self.population: Population | None = None
        self.state: RunState | None = None
        """The run's state, once simulate() has made it (see engine/state.py)."""

    def compiles_first(self) -> bool:
        """Whether this run compiles kernels before its first day is done: compiled days
        whose loop is not compiled yet, or the general loop with no kernel of this source
        cached (kernelcache.py). A display says so while the run waits."""
        if self.engine_used == "compiled":
            return not compiled_days_ready()
        return not kernelcache.has_cached_kernels()

    def build(self) -> Population:
        """Draw the synthetic city (done by run() if not done before)."""
        if self.population is None:
            self.population = build_population(
                self.scenario.population, self.n_residents, self.seed
            )
        return self.population

    def simulate(
        self,
        progress: Callable[[int, int], None] | None = None,
        phase: Callable[[str], None] | None = None,
    ) -> Outputs:
        """Build the city (if not built) and simulate every day; returns the run's
        tables, manifest and scenario (scslab.rundir.run.Simulation.run() makes them
        Results and writes the run directory).

        progress(k, days) is called as days are done; phase(name) as the run enters each
        of its stages, "build" (the synthetic city) and "days" (the day loop, whose first
        day compiles the kernels on a first run), so that a display can say what it is
        waiting for before the first day is done.
        """
        kernelcache.prune_once()  # (before the clock: it reads the cache's folders)
        # (the memory freed kept for the next arrays where arrays get mappings of their own)
        large = 8 * self.n_residents >= MAPPED_ALONE_BYTES
        keeping = keeping_freed_memory() if large else contextlib.nullcontext()
        t0 = time.perf_counter()
        with compile_ahead.helping(self._helper_run()), keeping:
            if phase is not None:
                phase("build")
            pop = self.build()
            t_built = time.perf_counter()
            burn_in = self.scenario.burn_in_days
            st = self.state = RunState(
                self.scenario, pop, self.seed, burn_in + self.days, self.agents, PHASES, burn_in
            )
            check_series_memory(st)
            start = 0
            if self.resume is not None:
                self.check_resume()
                start = self.resume.day
                st.resume_at(start)
                restore(st, self.resume)
            t_setup = time.perf_counter()
            if phase is not None:
                phase("days")
            if self.engine_used == "compiled":
                run_compiled(st, progress, start)
            elif nb.get_num_threads() > 1:
                with ThreadPoolExecutor(1, thread_name_prefix="scslab-worker") as pool:
                    st.worker = pool
                    run_general(st, progress, start)
                    st.worker = None
            else:  # one thread allowed: drift and tally inline
                run_general(st, progress, start)
        t_sim = time.perf_counter()
        return Outputs(
            tables(st),
            self._manifest(t_built - t0, t_setup - t_built, t_sim - t_built),
            self.scenario.to_yaml(),
            started=t0,
            state=take(st, pop, self._identity()) if self.keep_state else None,
        )

    def _helper_run(self) -> compile_ahead.HelperRun | None:
        """What a helper process compiles for while this run compiles its kernels
        (engine/compile_ahead.py): a first run on the general loop; else None."""
        if self.engine_used != "general" or not self.compiles_first():
            return None
        days = self.scenario.burn_in_days + self.days
        return compile_ahead.HelperRun(self.scenario, self.n_residents, days, self.agents)

    def _identity(self) -> dict[str, Any]:
        """What fixes the run's city and rules: the scenario's hash, seed, residents."""
        return {
            "scenario_sha256": self.scenario.digest(),
            "seed": self.seed,
            "residents": self.n_residents,
        }

    def check_resume(self) -> None:
        """SnapshotError (one line) unless the state to resume from is of this run: the
        same scenario, seed and size, and the same synthetic city (built here). Checked
        once: the city's digest reads every array of it."""
        if self.resume is None or self.resume_checked:
            return
        kept, here = self.resume.run, self._identity()
        missing = [k for k in here if k not in kept]
        if missing:
            raise SnapshotError(f"the state does not say its run's {', '.join(missing)}")
        differ = [k for k in here if kept[k] != here[k]]
        if differ:
            raise SnapshotError(
                f"the state was kept from a run with another {' and '.join(differ)} "
                f"({', '.join(f'{k} {kept[k]}' for k in differ)}; this run: "
                f"{', '.join(f'{k} {here[k]}' for k in differ)})"
            )
        if self.resume.population != population_digest(self.build()):
            raise SnapshotError(
                "the synthetic city differs from the one the state was kept from (another "
                "population section, or another scslab version)"
            )
        self.resume_checked = True

    def _manifest(self, build_s: float, setup_s: float, simulate_s: float) -> dict:
        """The run's manifest; timings in seconds: build_s the population's build,
        simulate_s the rest of the run before the tables, setup_s of it the RunState's
        making (the scenario's rules compiled and the state allocated; buffers that the
        day loops allocate for themselves are not in it)."""
        pop, st = self.population, self.state
        assert pop is not None and st is not None
        return {
            "scslab_version": __version__,
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.digest(),
            "seed": self.seed,
            "scale": self.scale,
            "residents": pop.n_residents,
            "enterprises": pop.n_enterprises,
            "days": self.days,
            "burn_in_days": self.scenario.burn_in_days,
            "start_date": self.scenario.start_date.isoformat(),
            "agent_tables": self.agents,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": nb.__version__,
            "threads": nb.get_num_threads(),
            "engine": self.engine_used,
            "lists": lists_manifest(self.scenario),
            "timings": {
                "build_population_s": round(build_s, 4),
                "simulate_s": round(simulate_s, 4),
                "setup_s": round(setup_s, 4),
                "phases_s": {k: round(v, 6) for k, v in st.phase_seconds.items()},
                "worker_s": {k: round(v, 4) for k, v in st.worker_seconds.items()},
            },
        }


def check_series_memory(st: RunState) -> None:
    """Refuse (RunSizeError on `days`) a run whose daily metrics (st.days days, burn-in
    included, of every metric in every group) would take more memory than is available
    once the city is built: a long run at a small scale is bounded by its metrics, not
    its agents."""
    per_day = sum(len(side.series.groups.group) * len(side.space) for side in (st.res, st.ent))
    need, have = st.days * per_day * METRIC_ROW_BYTES, available_bytes()
    if need > have:
        raise RunSizeError(
            ("days",),
            f"{st.days:,} days of daily metrics ({per_day:,} values a day) need about "
            f"{need / 2**30:.1f} GiB of memory; {have / 2**30:.1f} GiB is available",
        )
