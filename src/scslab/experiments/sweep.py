"""Running an experiment: one run per (design point, seed), in this process or on Dask,
each written as it finishes into a sweep folder.

A sweep folder holds, beside one run directory per (point, seed) named `pPPPP-sS`:

- `experiment.yaml`: the experiment as run; `sweep.json`: what it was run with (the
  experiment's and the base scenario's digests, scslab's source digest);
- `points.parquet`: each point's unit-cube coordinates and parameter values;
- `rows/NAME.json`: one per finished run (its figures, or its error);
- `sweep.parquet`: one row per run (point, seed, parameters, figures, status, error),
  rewritten as runs finish.

Each run is written as it finishes, so nothing is held in memory and a sweep killed at
any moment resumes (`resume=True`) by running only what has no row; it refuses to
resume when the experiment, the base scenario or scslab's source changed.
"""

from __future__ import annotations

import json
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from scslab.analysis.figures import compute_figures, needs_agents
from scslab.experiments.spec import ExperimentError, ExperimentSpec, Scalar
from scslab.rundir.claim import (
    hold_lock,
    is_run_dir,
    make_parents,
    release_lock,
    remove_empty,
    write_file,
)
from scslab.scenario.schema import Scenario

ROW_SIGNATURE = '{"run": '  # a row file starts so (written by scslab)
TABLE_EVERY_S = 10.0  # sweep.parquet is rewritten at most this often while runs finish


# ------------------------------------------------------------------ running one run
@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: everything a worker needs (picklable)."""

    name: str
    point: int
    seed: int
    values: dict[str, Scalar]
    scenario_yaml: str
    residents: int | None
    scale: float | None
    days: int | None
    outputs: tuple[str, ...]
    out_dir: str
    agents: bool | None = None
    threads: int | None = 1


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one (point, seed) into its run directory (or read the one already there),
    compute its figures and write its row file; returns the row. A failure is returned
    (and written) as a row with status 'failed' and its error, not raised."""
    row: dict[str, Any] = {"run": task.name, "point": task.point, "seed": task.seed}
    row.update({f"param:{k}": v for k, v in task.values.items()})
    folder = Path(task.out_dir)
    run_dir = folder / task.name
    t0 = time.perf_counter()
    try:
        from scslab.engine.simulation import many_runs_engine
        from scslab.rundir.results import load_run
        from scslab.rundir.run import Simulation
        from scslab.scenario.loader import parse_scenario

        if task.threads is not None:
            import numba

            numba.set_num_threads(min(task.threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        if is_run_dir(run_dir):
            results = load_run(run_dir)
        else:
            sc = parse_scenario(task.scenario_yaml, task.name)
            agents = True if needs_agents(list(task.outputs)) else task.agents
            sim = Simulation(
                sc,
                seed=task.seed,
                scale=task.scale,
                residents=task.residents,
                days=task.days,
                engine=many_runs_engine(sc),
                agents=agents,
            )
            results = sim.run(out=run_dir)
        row.update(compute_figures(results, list(task.outputs), run_dir))
        row.update(status="ok", error=None)
    except Exception as err:  # recorded, and the sweep goes on
        last = traceback.format_exception_only(err)[-1].strip()
        row.update({name: None for name in task.outputs})
        row.update(status="failed", error=" ".join(last.split()))
    row["seconds"] = round(time.perf_counter() - t0, 3)
    write_file(folder / "rows" / f"{task.name}.json", json.dumps(row), ROW_SIGNATURE)
    return row


# ------------------------------------------------------------------ the sweep folder
@dataclass
class Sweep:
    """A sweep folder being run: the experiment, its tasks, and the rows so far."""

    experiment: ExperimentSpec
    scenario: Scenario
    folder: Path  # absolute (workers elsewhere write into it)
    tasks: list[RunTask]
    rows: dict[str, dict[str, Any]]
    label: str = ""  # the folder as the user named it, for messages
    ident: dict[str, str] = field(default_factory=dict)
    resume: bool = False

    def missing(self) -> list[RunTask]:
        """Tasks without a finished row (failed ones are tried again)."""
        return [t for t in self.tasks if self.rows.get(t.name, {}).get("status") != "ok"]

    def table(self) -> pd.DataFrame:
        """One row per run in (point, seed) order: parameters, figures, status, error."""
        order = {t.name: k for k, t in enumerate(self.tasks)}
        rows = sorted(
            (r for r in self.rows.values() if r["run"] in order), key=lambda r: order[r["run"]]
        )
        columns = ["run", "point", "seed"]
        columns += [f"param:{k}" for k in self.experiment.parameters]
        columns += [*self.experiment.outputs, "status", "error", "seconds"]
        frame = pd.DataFrame(rows, columns=columns)
        for key in self.experiment.parameters:
            frame[f"param:{key}"] = _column(frame[f"param:{key}"].tolist())
        for name in self.experiment.outputs:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        return frame

    def write_table(self) -> Path:
        """Rewrite sweep.parquet from the rows (atomically); returns its path."""
        path = self.folder / "sweep.parquet"
        tmp = path.with_name(".sweep.parquet.partial")
        table = pa.Table.from_pandas(self.table().drop(columns="seconds"), preserve_index=False)
        pq.write_table(table, tmp)
        tmp.replace(path)
        return path


def identity(spec_digest: str, scenario: Scenario) -> dict[str, str]:
    """What a sweep or calibration folder was begun with: the digests of its file
    (`spec_sha256`), of the base scenario with its changes, and of scslab's source."""
    from scslab.kernelcache import source_digest

    return {
        "spec_sha256": spec_digest,
        "scenario_sha256": scenario.digest(),
        "source_sha256": source_digest(),
    }


def check_resume(label: str, before: dict[str, Any], now: dict[str, str], spec: str) -> None:
    """Refuse (ExperimentError naming what changed) to resume a folder begun with other
    digests; `spec` names the file ('experiment file', 'calibration file')."""
    why = {
        "spec_sha256": f"the {spec} changed",
        "scenario_sha256": "the base scenario changed",
        "source_sha256": "scslab's code changed",
    }
    for key, text in why.items():
        if before.get(key) != now[key]:
            raise ExperimentError(
                f"{label}: cannot resume: {text} since it began ({key} "
                f"{str(before.get(key))[:12]} -> {now[key][:12]}); start anew with another --out"
            )


def _is_sweep(folder: Path) -> bool:
    return (folder / "sweep.json").is_file() and (folder / "experiment.yaml").is_file()


def prepare(exp: ExperimentSpec, scenario: Scenario, out: str | Path, resume: bool) -> Sweep:
    """Plan the sweep into the folder `out` (new, or with `resume` one begun with the
    same experiment): its tasks and the rows already there. Writes nothing (run_sweep
    does, once it holds the folder's lock); ExperimentError (one line) for a folder that
    is not this sweep's."""
    label = str(out)
    folder = Path(os.path.abspath(out))
    if folder.parent == folder:
        raise ExperimentError(f"{label}: the root directory cannot be a sweep folder")
    ident = identity(exp.digest(), scenario)
    _check_folder(folder, label, ident, resume)
    points = exp.points()
    tasks = []
    width = max(4, len(str(len(points) - 1)))
    for k, point in enumerate(points):
        text = scenario.with_changes(point).to_yaml()
        for seed in exp.seeds:
            name = f"s{seed}" if not exp.parameters else f"p{k:0{width}d}-s{seed}"
            tasks.append(
                RunTask(
                    name,
                    k,
                    seed,
                    point,
                    text,
                    exp.residents,
                    exp.scale,
                    exp.days,
                    tuple(exp.outputs),
                    str(folder),
                    exp.agents,
                )
            )
    return Sweep(exp, scenario, folder, tasks, _read_rows(folder), label, ident, resume)


def _check_folder(folder: Path, label: str, ident: dict[str, str], resume: bool) -> bool:
    """Whether `folder` holds this sweep already (resume); ExperimentError when it is a
    file, another sweep, a folder of other things, or a sweep not asked to resume."""
    if folder.exists() and not folder.is_dir():
        raise ExperimentError(f"{label}: exists and is not a directory")
    occupied = folder.is_dir() and any(p for p in folder.iterdir() if not p.name.startswith("."))
    if not occupied:
        return False
    if not _is_sweep(folder):
        raise ExperimentError(
            f"{label}: exists and is not a scslab sweep folder; give another --out"
        )
    if not resume:
        raise ExperimentError(
            f"{label}: a sweep is already there; give --resume to finish it, or another --out"
        )
    try:
        before = json.loads((folder / "sweep.json").read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ExperimentError(f"{label}: sweep.json cannot be read ({err})") from None
    check_resume(label, before if isinstance(before, dict) else {}, ident, "experiment file")
    return True


def _read_rows(folder: Path) -> dict[str, dict[str, Any]]:
    rows = {}
    for path in sorted((folder / "rows").glob("*.json")):
        try:
            row = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # unreadable: its run is done again
        if isinstance(row, dict) and isinstance(row.get("run"), str):
            rows[row["run"]] = row
    return rows


def _begin(sweep: Sweep) -> None:
    """Under the lock: check the folder again and, for a new sweep, write what it is
    (experiment.yaml, points.parquet, then sweep.json, which marks it a sweep)."""
    exp, folder = sweep.experiment, sweep.folder
    if _check_folder(folder, sweep.label, sweep.ident, sweep.resume):
        sweep.rows = _read_rows(folder)
        return
    try:
        (folder / "rows").mkdir(parents=True, exist_ok=True)
        (folder / "experiment.yaml").write_text(
            yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False), "utf-8"
        )
        points = pd.DataFrame(exp.unit_points(), columns=[f"u:{k}" for k in exp.parameters])
        for key in exp.parameters:
            points[f"param:{key}"] = _column([p[key] for p in exp.points()])
        points.insert(0, "point", np.arange(len(points)))
        pq.write_table(
            pa.Table.from_pandas(points, preserve_index=False), folder / "points.parquet"
        )
        write_file(folder / "sweep.json", json.dumps(sweep.ident, indent=2), '"spec_sha256"')
    except OSError as err:
        raise ExperimentError(f"{sweep.label}: cannot write the sweep here: {err}") from None


def _column(values: list[Any]) -> list[Any]:
    """A parameter's values as one Parquet type: as they are when all numbers (or all of
    one type), as text when levels mix types ('a' and 1.0)."""
    kinds = {type(v) for v in values}
    if len(kinds) <= 1 or kinds <= {int, float}:
        return values
    return [str(v) for v in values]


def run_sweep(
    sweep: Sweep,
    workers: int = 2,
    scheduler: str | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    on_probe: Callable[[dict[str, Any], int], None] | None = None,
) -> pd.DataFrame:
    """Run every missing run of the sweep and return its table (also in sweep.parquet,
    rewritten as runs finish and at the end).

    `workers` 0 runs them one after another in this process; otherwise on an embedded
    Dask LocalCluster of that many single-threaded worker processes, or on the cluster
    at `scheduler` ('tcp://host:8786'). `on_row(row)` is called as each run finishes.
    With `on_probe`, local workers and more than one run to do, the first run goes in
    this process (compiling the kernels once for the machine's workers) and
    `on_probe(row, runs_left)` is called with it, for an estimate.
    """
    lock_path = sweep.folder.with_name(f".{sweep.folder.name}.lock")
    label = sweep.label or str(sweep.folder)
    made = make_parents(sweep.folder.parent, label)  # `--out runs/b18` in a new folder
    try:
        lock = hold_lock(lock_path, label)
    except BaseException:
        remove_empty(made)
        raise
    begun = False
    try:
        _begin(sweep)
        begun = True
        todo = sweep.missing()
        if on_probe is not None and len(todo) > 1 and scheduler is None and workers > 0:
            first = run_task(todo[0])
            sweep.rows[first["run"]] = first
            if on_row is not None:
                on_row(first)
            todo = todo[1:]
            on_probe(first, len(todo))
        written = time.monotonic()
        for row in _results(todo, workers, scheduler):
            sweep.rows[row["run"]] = row
            if on_row is not None:
                on_row(row)
            if time.monotonic() - written > TABLE_EVERY_S:
                sweep.write_table()
                written = time.monotonic()
        sweep.write_table()
    finally:
        release_lock(lock, lock_path)
        if not begun:  # the folders made for a sweep that never began
            remove_empty(made)
    return sweep.table()


def _results(todo: list[RunTask], workers: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if workers == 0 and scheduler is None:
        for task in todo:
            yield run_task(RunTask(**{**task.__dict__, "threads": None}))
        return
    from distributed import as_completed

    cluster = None if scheduler is not None else local_cluster(workers)
    client = connect(scheduler if cluster is None else cluster)
    try:
        tag = uuid.uuid4().hex[:12]  # keys of this sweep alone on a shared scheduler
        futures = [client.submit(run_task, t, key=f"scslab-{tag}-{t.name}") for t in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,  # samples the running task every 10 ms
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""Dask settings of scslab's local workers: a run is one long task, so the worker's
profiler (which samples the running task every 10 ms) and fast ticks only take time
from it."""


def local_cluster(workers: int) -> Any:
    """An embedded Dask LocalCluster of `workers` single-threaded worker processes, with
    WORKER_CONFIG (the nannies hand it to the workers) and no web dashboard."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )


def connect(where: Any) -> Any:
    """A Dask Client of a LocalCluster or of a scheduler's address; ExperimentError (one
    line) when the scheduler cannot be reached."""
    from distributed import Client

    try:
        return Client(where, timeout="20s")
    except (OSError, TimeoutError) as err:
        raise ExperimentError(f"--scheduler {where}: cannot connect ({err})") from None
