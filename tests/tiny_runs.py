"""Tiny runs shared by the plot, report and dashboard tests, made once per test session.

Three run directories of 5,000 synthetic residents for 30 days: beijing-2018 with seeds
1 and 2 (one variant, intervals across seeds) and a variant with ten times the error
rates, named beijing-2018-noisy (drawn side by side).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from scslab import Simulation, load_scenario

RESIDENTS = 5_000
DAYS = 30


def noisy_scenario():
    """beijing-2018 with every department's error rate ten times higher (at most 0.5)."""
    base = load_scenario("beijing-2018")
    edits = {
        f"departments.{name}.error_rate": min(0.5, 10 * dep.error_rate)
        for name, dep in base.departments.items()
    }
    edits["name"] = "beijing-2018-noisy"
    return base.with_changes(edits)


@lru_cache(maxsize=1)
def tiny_runs() -> dict[str, Path]:
    """{'seed1', 'seed2', 'noisy'}: paths of the run directories (deleted at exit)."""
    root = Path(tempfile.mkdtemp(prefix="scslab-test-runs-"))
    atexit.register(shutil.rmtree, root, True)
    runs = {}
    for seed in (1, 2):
        out = root / f"seed{seed}"
        Simulation("beijing-2018", seed=seed, residents=RESIDENTS, days=DAYS).run(out=out)
        runs[f"seed{seed}"] = out
    runs["noisy"] = root / "noisy"
    Simulation(noisy_scenario(), seed=1, residents=RESIDENTS, days=DAYS).run(out=runs["noisy"])
    return runs
