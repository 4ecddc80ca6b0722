"""A simulation run into a run directory: the engine's Simulation, whose run() claims
the directory before anything is simulated and writes it whole or not at all; with
keep_state, the state the run ended in (rundir/state.py), from which continue_from()
makes a run that goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scslab.engine.simulation import Simulation as Engine
from scslab.engine.snapshot import SnapshotError
from scslab.rundir.claim import RunDirError, claimed
from scslab.rundir.manifest import SCENARIO, read_manifest
from scslab.rundir.results import Results
from scslab.rundir.state import STATE, StateError, read_state, write_state
from scslab.scenario.bounds import MAX_DAYS
from scslab.scenario.loader import load_scenario


class Simulation(Engine):
    """A scenario run on a synthetic city (see scslab.engine.simulation.Simulation for
    the arguments), written to a run directory when asked.

    >>> sim = Simulation("beijing-2018", seed=1, residents=20_000, days=30)
    >>> results = sim.run()
    >>> results.to_frame().tail()
    """

    continued_from: dict[str, Any] | None = None
    """The run this one goes on from (continue_from): path, scenario_sha256, days."""

    @classmethod
    def continue_from(
        cls,
        run_dir: str | Path,
        days: int | None = None,
        keep_state: bool = False,
        engine: str = "auto",
    ) -> Simulation:
        """A run that goes on from the run directory `run_dir` (made with keep_state) for
        `days` more days (default: the scenario's days), with its scenario, seed, size and
        per-agent tables, on `engine` (either loop goes on from the state either kept):
        its tables are the whole history, equal to those of one run of all the days.
        Raises RunError (ManifestError, StateError) or SnapshotError, one line naming the
        file, when run_dir cannot be continued."""
        run_dir = Path(run_dir)
        manifest = read_manifest(run_dir)
        snapshot = read_state(run_dir, manifest.to_dict().get("state"))
        scenario = load_scenario(run_dir / SCENARIO)
        done = manifest.days
        more = scenario.days if days is None else days
        if more < 1 or done + more + scenario.burn_in_days > MAX_DAYS:
            raise StateError(
                f"days: {run_dir} has {done} days; 1 to "
                f"{MAX_DAYS - scenario.burn_in_days - done} more are allowed (got {more})"
            )
        if snapshot.day != done + scenario.burn_in_days:
            raise StateError(
                f"{run_dir / STATE}: kept after {snapshot.day} days, but the manifest says "
                f"{done} (+ {scenario.burn_in_days} burn-in): not this run's state"
            )
        sim = cls(
            scenario,
            seed=manifest.seed,
            residents=manifest.residents,
            days=done + more,
            agents=manifest.agent_tables,
            engine=engine,
            keep_state=keep_state,
            resume=snapshot,
        )
        try:
            sim.check_resume()
        except SnapshotError as err:
            raise StateError(f"{run_dir / STATE}: {err}") from None
        sim.continued_from = {
            "path": str(run_dir.resolve()),
            "scenario_sha256": manifest.scenario_sha256,
            "days": done,
        }
        return sim

    def run(
        self,
        out: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        overwrite: bool = False,
        phase: Callable[[str], None] | None = None,
    ) -> Results:
        """Simulate every day; returns Results, written to the run directory `out` when
        given. `out` is claimed before anything is simulated (scslab.rundir.claim: a new
        directory, or an existing run replaced only with `overwrite`); a run that fails
        or is interrupted leaves no partial files and an older run there as it was.
        With keep_state, the directory also holds state.npz (the manifest's `state`
        gives its bytes); a continued run's manifest names the run in
        `continued_from`.

        progress(k, days) and phase(name) as for simulate(), with the stage "write" (the
        run directory) after "build" and "days".
        """
        if self.continued_from is not None and out is not None:
            _apart_from(Path(out), Path(self.continued_from["path"]))
        with claimed(out, overwrite) as stage:
            outputs = self.simulate(progress, phase)
            if self.continued_from is not None:
                outputs.manifest["continued_from"] = self.continued_from
            results = Results(outputs.tables, outputs.manifest, outputs.scenario_yaml)
            if stage is not None:
                if phase is not None:
                    phase("write")
                if outputs.state is not None:
                    outputs.manifest["state"] = write_state(stage.partial, outputs.state)
                results.write_to(stage, elapsed_s=time.perf_counter() - outputs.started)
        return results


def _apart_from(out: Path, source: Path) -> None:
    """RunDirError unless `out` is neither the run continued from (`source`), nor in it,
    nor around it: a continued run leaves its source as it was."""
    out, source = out.resolve(), source.resolve()
    if out == source or source in out.parents or out in source.parents:
        raise RunDirError(
            f"{out}: the run continued from is {source}; write the continued run to a "
            "directory apart from it (it is left as it was)"
        )
