"""scslab: a laboratory for social credit systems, simulated on synthetic cities.

scslab simulates and never scores real people: populations are synthetic, drawn from
aggregate statistics, and no person-level record is ever read.
"""

__version__ = "0.1.0"

from scslab import kernelcache

# before any kernel is loaded from numba's cache (all of scslab's share one folder)
_kernels = kernelcache.kernel_cache_dir()
if _kernels is not None:
    kernelcache.refresh(_kernels)

from scslab.engine import Simulation  # noqa: E402
from scslab.experiments import Experiment, load_experiment  # noqa: E402
from scslab.results import Results, load_run, query  # noqa: E402
from scslab.scenario import Scenario, ScenarioError, load_scenario  # noqa: E402

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
    "query",
]
