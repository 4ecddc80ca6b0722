"""A simulation run into a run directory: the engine's Simulation, whose run() claims
the directory before anything is simulated and writes it whole or not at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from scslab.engine.simulation import Simulation as Engine
from scslab.rundir.claim import claimed
from scslab.rundir.results import Results


class Simulation(Engine):
    """A scenario run on a synthetic city (see scslab.engine.simulation.Simulation for
    the arguments), written to a run directory when asked.

    >>> sim = Simulation("beijing-2018", seed=1, residents=20_000, days=30)
    >>> results = sim.run()
    >>> results.to_frame().tail()
    """

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

        progress(k, days) and phase(name) as for simulate(), with the stage "write" (the
        run directory) after "build" and "days".
        """
        with claimed(out, overwrite) as stage:
            outputs = self.simulate(progress, phase)
            results = Results(outputs.tables, outputs.manifest, outputs.scenario_yaml)
            if stage is not None:
                if phase is not None:
                    phase("write")
                results.write_to(stage, elapsed_s=time.perf_counter() - outputs.started)
        return results
