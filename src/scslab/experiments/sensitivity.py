"""Sensitivity of a sweep's figures to its parameters (SALib), and to the seeds alone.

For a `sobol` sweep: first-order (S1) and total (ST) Sobol indices per figure and
parameter, with bootstrap 95% intervals; for a `morris` sweep: mu* (the mean absolute
elementary effect, in the figure's unit) with its bootstrap 95% interval, and sigma.
Each point's figure is its mean over the sweep's seeds.

Beside the indices, each figure's `seed_share`: the share of its variance across all
runs that is variance between seeds at a fixed point (the mean within-point variance
over the total). Near 1, the seeds' noise swamps every parameter; it needs 2 seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from scslab.experiments.experiment import Experiment
from scslab.experiments.spec import ExperimentError

RESAMPLES = 1000  # bootstrap resamples of SALib's intervals
CONF = 0.95


@dataclass
class Sensitivity:
    """Indices of one sweep: `indices` has columns figure, parameter, index, value, lo,
    hi; `seed_share` maps each figure to its seeds' share of variance (None: 1 seed)."""

    design: str
    runs: int
    indices: pd.DataFrame
    seed_share: dict[str, float | None]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        rows = self.indices.astype(object).where(self.indices.notna(), None)
        return {
            "design": self.design,
            "runs": self.runs,
            "indices": rows.to_dict(orient="records"),
            "seed_share": self.seed_share,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        """Indented JSON."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def seed_share(table: pd.DataFrame, figure: str) -> float | None:
    """Mean variance across seeds within a point over the variance of all runs (0-1);
    None with fewer than 2 seeds or no variance at all."""
    ok = table[table["status"] == "ok"]
    if ok["seed"].nunique() < 2:
        return None
    total = float(ok[figure].var(ddof=1))
    if not np.isfinite(total) or total == 0:
        return None
    within = float(ok.groupby("point")[figure].var(ddof=1).mean())
    return min(1.0, within / total)


def analyse(folder: str | Path) -> Sensitivity:
    """Sensitivity indices of the sweep in `folder` (sobol or morris design)."""
    folder = Path(folder)
    try:
        exp = Experiment.model_validate(yaml.safe_load((folder / "experiment.yaml").read_text()))
        table = pd.read_parquet(folder / "sweep.parquet")
        points = pd.read_parquet(folder / "points.parquet")
    except (OSError, ValueError) as err:
        raise ExperimentError(f"{folder}: not a finished scslab sweep ({err})") from None
    if exp.design not in ("sobol", "morris"):
        raise ExperimentError(
            f"{folder}: design {exp.design}: sensitivity indices need a sobol or morris sweep"
        )
    failed = table[table["status"] != "ok"]
    if len(failed) or len(table) < len(points) * len(exp.seeds):
        raise ExperimentError(
            f"{folder}: {len(points) * len(exp.seeds) - int((table['status'] == 'ok').sum())} "
            "runs are missing or failed; finish the sweep (scslab sweep ... --resume) first"
        )
    problem = exp.problem()
    x = points[[f"u:{k}" for k in exp.parameters]].to_numpy()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for figure in exp.outputs:
        y = table.groupby("point")[figure].mean().reindex(points["point"]).to_numpy(float)
        if not np.all(np.isfinite(y)):
            notes.append(f"{figure}: not defined in every run (too few events); no indices")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{figure}: the same in every run; no indices")
            continue
        rows.extend(_indices(exp, problem, x, y, figure))
    shares = {f: seed_share(table, f) for f in exp.outputs}
    if len(exp.seeds) < 2:
        notes.append("one seed per point: the seeds' share of variance is not known")
    return Sensitivity(exp.design, len(table), pd.DataFrame(rows), shares, notes)


def _indices(
    exp: Experiment, problem: dict[str, Any], x: np.ndarray, y: np.ndarray, figure: str
) -> list[dict[str, Any]]:
    half = CONF  # SALib's *_conf are half-widths of the CONF interval
    rows = []
    if exp.design == "sobol":
        from SALib.analyze import sobol

        si = sobol.analyze(
            problem,
            y,
            calc_second_order=exp.second_order,
            num_resamples=RESAMPLES,
            conf_level=half,
            seed=exp.sample_seed,
        )
        pairs = (("S1", "S1_conf"), ("ST", "ST_conf"))
    else:
        from SALib.analyze import morris

        si = morris.analyze(
            problem,
            x,
            y,
            num_resamples=RESAMPLES,
            conf_level=half,
            num_levels=exp.morris_levels,
            seed=exp.sample_seed,
        )
        pairs = (("mu_star", "mu_star_conf"), ("sigma", ""))
    for k, name in enumerate(problem["names"]):
        for index, conf in pairs:
            value = float(si[index][k])
            width = float(si[conf][k]) if conf else float("nan")
            rows.append(
                {
                    "figure": figure,
                    "parameter": name,
                    "index": index,
                    "value": value,
                    "lo": value - width if conf else None,
                    "hi": value + width if conf else None,
                }
            )
    return rows


def plot(result: Sensitivity):  # -> matplotlib Figure
    """A bar chart per figure: each parameter's indices with their 95% intervals."""
    from matplotlib.figure import Figure

    figures = list(dict.fromkeys(result.indices["figure"])) if len(result.indices) else []
    fig = Figure(figsize=(7, 2.2 + 2.4 * max(1, len(figures))), layout="constrained")
    if not figures:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no indices: " + "; ".join(result.notes), ha="center", wrap=True)
        ax.set_axis_off()
        return fig
    axes = fig.subplots(len(figures), 1, squeeze=False)[:, 0]
    kinds = list(dict.fromkeys(result.indices["index"]))
    for ax, figure in zip(axes, figures, strict=True):
        part = result.indices[result.indices["figure"] == figure]
        names = list(dict.fromkeys(part["parameter"]))
        width = 0.8 / len(kinds)
        for j, kind in enumerate(kinds):
            rows = part[part["index"] == kind].set_index("parameter").reindex(names)
            pos = np.arange(len(names)) + (j - (len(kinds) - 1) / 2) * width
            lo = (rows["value"] - rows["lo"].astype(float)).clip(lower=0).fillna(0)
            hi = (rows["hi"].astype(float) - rows["value"]).clip(lower=0).fillna(0)
            ax.barh(pos, rows["value"], height=width, xerr=[lo, hi], label=kind, capsize=3)
        ax.set_yticks(np.arange(len(names)), names)
        share = result.seed_share.get(figure)
        extra = "" if share is None else f"; seeds' share of variance {share:.0%}"
        ax.set_title(f"{figure}{extra}", fontsize=9, loc="left")
        ax.legend(
            fontsize=8,
            title=f"bars: {CONF:.0%} bootstrap\nintervals",
            title_fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    return fig
