"""What the dashboard reads and writes, apart from Solara: the results folder and the
run directories and scenario files it may open, the runs in that folder, a synthetic
resident's history, and the figure drawn while a run goes.

What a browser sends is not trusted: the app opens only the run directories in its
results folder (`run_path`) and the scenario files named on the command line
(`scenario_path`); anything else is `PathRefused`. Large runs are read from their run
directories (metrics and single rows of the agent tables), never held whole.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from scslab.presentation.drawing import short
from scslab.presentation.variants import PER, family
from scslab.rundir.manifest import ManifestError, dirs_with_manifest, read_manifest, warn_skipped
from scslab.rundir.run import Simulation

RUNS_ENV = "SCSLAB_RUNS_DIR"
"""Environment variable naming the results folder the app browses and writes to."""

SCENARIOS_ENV = "SCSLAB_DASHBOARD_SCENARIOS"
"""Environment variable listing (os.pathsep between them) the scenario files the app may
open: those named on the command line with `--scenario`, resolved."""


def runs_dir() -> Path:
    """The results folder: $SCSLAB_RUNS_DIR, or ./runs."""
    return Path(os.environ.get(RUNS_ENV, "runs"))


class PathRefused(ValueError):
    """A path the app will not open: not a run in its results folder, or not a scenario
    file named on the command line."""


def run_path(folder: Path, name: str) -> Path:
    """The run directory `name` in the results folder, resolved; PathRefused otherwise.

    Symlinks and `..` are resolved first, so the run must really be a folder directly in
    the results folder, holding a manifest.json.
    """
    root = folder.resolve()
    run = (root / name).resolve()
    if run.parent != root or not (run / "manifest.json").is_file():
        raise PathRefused(
            f"{name}: not a run directory in {folder}; the dashboard opens only the runs "
            "in its results folder (scslab dashboard --runs FOLDER)"
        )
    return run


def report_path(run: Path) -> Path:
    """Where a run's report.html is read and written; PathRefused when it leads elsewhere
    (a report.html that is a symlink out of the run directory)."""
    page = run / "report.html"
    if page.resolve().parent != run.resolve():
        raise PathRefused(f"{page}: leads out of the run directory; not opened")
    return page


def named_scenarios() -> list[Path]:
    """The scenario files named on the command line (resolved), in the order given."""
    listed = os.environ.get(SCENARIOS_ENV, "")
    return [Path(p) for p in listed.split(os.pathsep) if p]


def scenario_path(path: str) -> Path:
    """`path` resolved, when it is one of the scenario files named on the command line;
    PathRefused otherwise (symlinks and `..` are resolved before comparing)."""
    resolved = Path(path).expanduser().resolve()
    if resolved not in named_scenarios():
        raise PathRefused(
            f"{path}: not a scenario file named on the command line; the dashboard opens "
            "only those (scslab dashboard --scenario FILE) or a file dropped here"
        )
    return resolved


def new_run_dir(folder: Path, name: str) -> Path:
    """A fresh run directory name under folder: dashboard-NAME-TIME (with -2, -3... if taken)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = folder / f"dashboard-{name}-{stamp}"
    k = 1
    while out.exists() or out.with_name(f".{out.name}.partial").exists():
        k += 1
        out = folder / f"dashboard-{name}-{stamp}-{k}"
    return out


def list_runs(folder: Path) -> pd.DataFrame:
    """The run directories in a folder, newest first, from their manifests (unreadable
    ones are left out, with a warning on stderr)."""
    rows = []
    for run in dirs_with_manifest(folder):
        try:
            m = read_manifest(run)
        except ManifestError as err:
            warn_skipped(err)
            continue
        rows.append(
            {
                "run": run.name,
                "scenario": m.scenario,
                "residents": m.residents,
                "days": m.days,
                "seed": m.seed,
                "created": (m.created_utc or "")[:19].replace("T", " "),
                "agents": (run / "residents.parquet").is_file(),
                "report": (run / "report.html").is_file(),
            }
        )
    cols = ["run", "scenario", "residents", "days", "seed", "created", "agents", "report"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.sort_values("created", ascending=False, ignore_index=True)


def resident_history(run: Path, resident: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """A synthetic resident's final state and the records about them (read from Parquet).

    Only the rows of that resident are read, so this is quick on large runs.
    """
    table = pq.read_table(run / "residents.parquet", filters=[("id", "=", int(resident))])
    if table.num_rows == 0:
        raise KeyError(f"resident {resident}: no such synthetic resident in {run.name}")
    attrs = {k: v[0] for k, v in table.to_pydict().items()}
    records = pq.read_table(
        run / "records.parquet",
        filters=[("subject", "=", int(resident)), ("subject_type", "=", "resident")],
    ).to_pandas()
    keep = ["day", "effective_day", "department", "kind", "points", "erroneous", "status"]
    records = records[[c for c in keep if c in records.columns]].sort_values("day")
    return attrs, records.reset_index(drop=True)


def pick_resident(run: Path, how: str = "blacklisted") -> int | None:
    """The id of an interesting synthetic resident: 'blacklisted', 'wrongful' or 'records'."""
    cols = pq.read_schema(run / "residents.parquet").names
    if how == "wrongful":
        wanted = [c for c in cols if c.startswith("wrongful_")]
    elif how == "blacklisted":
        wanted = ["days_blacklisted"]
    else:
        wanted = ["records"]
    wanted = [c for c in wanted if c in cols]
    if not wanted:
        return None
    frame = pq.read_table(run / "residents.parquet", columns=["id", *wanted]).to_pandas()
    hits = frame[(frame[wanted] > 0).any(axis=1)]
    return int(hits["id"].iloc[len(hits) // 2]) if len(hits) else None


PICKS = {
    "blacklisted": ("a blacklisted one", "no resident was on a blacklist"),
    "wrongful": ("a wrongly listed one", "no resident was wrongly listed or wrongly blocked"),
    "records": ("one with records", "no resident has a record"),
}
"""Ways to pick a resident: the button's label and what to say when nobody fits."""


def live_frame(sim: Simulation) -> pd.DataFrame | None:
    """City-wide resident metrics of the days simulated so far (None before the first day)."""
    if sim.state is None or not sim.state.res.series.values:
        return None
    series = sim.state.res.series
    arr = np.stack([day[0] for day in list(series.values)])  # group 0 is the whole city
    return pd.DataFrame(arr, columns=series.space.names)


def live_figure(frame: pd.DataFrame | None, days: int) -> Figure:
    """Two panels drawn while a run goes: list sizes and blocked attempts so far, per 100,000."""
    fig = Figure(figsize=(11, 3.6))
    ax_l, ax_b = fig.subplots(1, 2)
    for ax in (ax_l, ax_b):
        ax.set_xlim(0, max(days, 1))
        ax.set_xlabel("day")
        ax.grid(alpha=0.3)
    if frame is None or frame.empty:
        for ax in (ax_l, ax_b):
            ax.text(0.5, 0.5, "press Run", ha="center", va="center", transform=ax.transAxes)
    else:
        res = frame["residents"].where(frame["residents"] > 0)
        for c in family(frame, "listed"):
            ax_l.plot(frame.index, PER * frame[c] / res, label=short(c[7:]))
        blocked = family(frame, "blocked")
        cum = frame[blocked].cumsum()
        shown = [c for c in cum.columns if cum[c].iloc[-1] > 0]
        for c in sorted(shown, key=lambda c: -cum[c].iloc[-1])[:7]:
            ax_b.plot(frame.index, PER * cum[c] / res, label=short(c[8:]))
        ax_l.legend(fontsize=7, loc="upper left")
        if shown:
            ax_b.legend(fontsize=7, loc="upper left")
        else:
            ax_b.text(0.5, 0.5, "no attempt blocked yet", ha="center", transform=ax_b.transAxes)
        ax_l.set_ylim(bottom=0)
        ax_b.set_ylim(bottom=0)
        fig.suptitle(f"day {len(frame)} of {days}", fontsize=10)
    ax_l.set_title("Residents on each list, per 100,000", fontsize=10)
    ax_b.set_title("Blocked attempts so far, per 100,000", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
