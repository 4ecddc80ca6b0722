"""`scslab.Experiment`: an experiment file that runs and plots itself.

An Experiment is an ExperimentSpec (`scslab.experiments.spec`: the base scenario, the
parameters, the design, seeds and figures) with `run(out)`, which runs its sweep into a
folder (`scslab.experiments.sweep`) and returns the table, and `plot()`, each figure
against each parameter. `load_experiment` reads and checks an experiment file;
`seeds_experiment` is the experiment of `scslab run NAME --seeds ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import PrivateAttr

from scslab.experiments.spec import ExperimentSpec, check_experiment, read_spec
from scslab.experiments.sweep import prepare, run_sweep
from scslab.scenario.schema import Scenario


class Experiment(ExperimentSpec):
    """An experiment file: what to vary, how, and what to record per run; run() runs it
    and plot() draws its table."""

    _table: pd.DataFrame | None = PrivateAttr(None)  # the last run()'s table, for plot()

    def run(
        self,
        out: str | Path,
        workers: int = 2,
        scheduler: str | None = None,
        resume: bool = False,
    ) -> pd.DataFrame:
        """Run the sweep into the folder `out` (see `run_sweep`); returns its table, one
        row per run: run, point, seed, param:KEY..., each figure, status, error."""
        scenario = check_experiment(self, self.base, self.name)
        table = run_sweep(prepare(self, scenario, out, resume), workers, scheduler)
        self._table = table
        return table

    def plot(self, table: pd.DataFrame | None = None):  # -> matplotlib Figure
        """Each figure against each parameter: one dot per run, the mean over seeds at
        each point as a line (grid) or dots (sampled designs). `table`: a sweep's table
        (default: the one this experiment's last run() returned)."""
        from matplotlib.figure import Figure

        if table is None:
            if self._table is None:
                raise ValueError("table: run() the experiment first, or give a sweep's table")
            table = self._table
        params = list(self.parameters) or ["seed"]
        fig = Figure(figsize=(3.2 * len(params), 2.6 * len(self.outputs)), layout="constrained")
        axes = fig.subplots(len(self.outputs), len(params), squeeze=False)
        ok = table[table["status"] == "ok"]
        for i, figure in enumerate(self.outputs):
            for j, key in enumerate(params):
                ax = axes[i][j]
                col = f"param:{key}" if key != "seed" else "seed"
                x = pd.to_numeric(ok[col], errors="coerce")
                if x.isna().all():  # categorical levels: their order
                    x = ok[col].astype("category").cat.codes
                ax.scatter(x, ok[figure], s=8, alpha=0.5, label="one run")
                means = ok.assign(_x=x).groupby("_x")[figure].mean()
                if self.design == "grid" and len(means) > 1:
                    ax.plot(means.index, means.to_numpy(), color="k", lw=1, label="mean over seeds")
                ax.set_xlabel(key, fontsize=8)
                if j == 0:
                    ax.set_ylabel(figure, fontsize=8)
                if i == 0 and j == 0:
                    ax.legend(fontsize=7)
        return fig


def load_experiment(
    path: str | Path, changes: dict[str, Any] | None = None
) -> tuple[Experiment, Scenario]:
    """Read and check an experiment file (read_spec), its base scenario, every design
    point's scenario and its figures; raise ExperimentError (one line) on any problem."""
    exp = read_spec(path, Experiment, changes)
    return exp, check_experiment(exp, exp.base, str(path))


def seeds_experiment(
    base: str,
    seeds: list[int],
    residents: int | None,
    scale: float | None,
    days: int | None,
    agents: bool | None = None,
    changes: dict[str, Any] | None = None,
) -> Experiment:
    """The experiment of `scslab run NAME --seeds ...`: the base scenario (with the
    command line's --set `changes`) over seeds, per-agent tables as `agents`."""
    name = Path(base).stem if base.endswith((".yaml", ".yml")) else base
    return Experiment(
        name=f"{name}-seeds".lower(),
        base=base,
        changes=changes or {},
        seeds=seeds,
        residents=residents,
        scale=scale,
        days=days,
        agents=agents,
    )


__all__ = ["Experiment", "load_experiment", "seeds_experiment"]
