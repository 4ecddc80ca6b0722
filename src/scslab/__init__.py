"""scslab: a laboratory for social credit systems, simulated on synthetic cities.

scslab simulates and never scores real people: populations are synthetic, drawn from
aggregate statistics, and no person-level record is ever read.

The package is in layers, each a folder that imports only the layers below it:
scenario (rules and population), model (the mechanisms), engine (state, steps, loops),
rundir (run directories, Results), analysis (lint, harm, explain, compare, statistics),
experiments (sweeps, calibration, sensitivity) and presentation (plots, reports, the
dashboard); the command line (scslab.cli) is on top. The names below are imported on
first use, so that `import scslab` loads nothing but the kernel cache's locator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scslab import kernelcache

__version__ = "0.1.0"

# before any kernel is defined: scslab's kernels are cached by source digest
kernelcache.register()

_EXPORTS = {
    "Simulation": "scslab.rundir.run",
    "Experiment": "scslab.experiments.experiment",
    "load_experiment": "scslab.experiments.experiment",
    "Results": "scslab.rundir.results",
    "load_run": "scslab.rundir.results",
    "query": "scslab.rundir.results",
    "Scenario": "scslab.scenario.schema",
    "ScenarioError": "scslab.scenario.safeyaml",
    "load_scenario": "scslab.scenario.loader",
    "plot": "scslab.presentation.plots",
    "report": "scslab.presentation.report",
}

if TYPE_CHECKING:
    from scslab.experiments.experiment import Experiment, load_experiment
    from scslab.presentation.plots import plot
    from scslab.presentation.report import report
    from scslab.rundir.results import Results, load_run, query
    from scslab.rundir.run import Simulation
    from scslab.scenario.loader import load_scenario
    from scslab.scenario.safeyaml import ScenarioError
    from scslab.scenario.schema import Scenario


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scslab' has no attribute {name!r}")


__all__ = [
    "Experiment",
    "Results",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "__version__",
    "load_experiment",
    "load_run",
    "load_scenario",
    "plot",
    "query",
    "report",
]
