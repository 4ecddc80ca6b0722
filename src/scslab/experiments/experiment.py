"""Many runs: an experiment file, its design points, and a sweep that runs them on Dask.

An experiment names a base scenario, the parameters to vary (dotted scenario keys, each
with levels or a range), a design (`grid`, `lhs`, `sobol`, `morris`: SALib's samplers
over the unit cube, mapped onto each parameter), seeds (every point runs with every
seed: common random numbers, so paired differences between points are the rules'
effect), the size and days of each run, and the figures to record (`scslab.analysis.figures`).

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

import hashlib
import itertools
import json
import math
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from scslab.analysis.figures import FIGURES, check_figures, compute_figures, needs_agents
from scslab.rundir.claim import hold_lock, is_run_dir, release_lock, write_file
from scslab.scenario.bounds import MAX_DAYS, check_run_size
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError, read_scenario_file, read_yaml
from scslab.scenario.schema import Scenario

DESIGNS = ("grid", "lhs", "sobol", "morris")
ROW_SIGNATURE = '{"run": '  # a row file starts so (written by scslab)
TABLE_EVERY_S = 10.0  # sweep.parquet is rewritten at most this often while runs finish
DEFAULT_FIGURES = (
    "blacklisted_per_100k",
    "wrongfully_blacklisted_per_100k",
    "new_listings_per_100k",
    "blocked_per_100k",
    "wrongful_blocked_per_100k",
)


class ExperimentError(Exception):
    """An experiment that cannot be run; str() is one line naming the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Scalar = float | int | str | bool


class Parameter(_Strict):
    """How one scenario key varies: `levels` (the values to use), or `range` [low, high]
    sampled uniformly (on a log scale with `log: true`; rounded with `integer: true`)."""

    levels: list[Scalar] | None = Field(None, min_length=1)
    range: tuple[float, float] | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.levels is None) == (self.range is None):
            raise ValueError("give either levels or range")
        if self.range is not None:
            lo, hi = self.range
            if not lo < hi:
                raise ValueError(f"range: low must be below high (got {list(self.range)})")
            if self.log and lo <= 0:
                raise ValueError("range: a log range must be above 0")
        return self

    def value(self, u: float) -> Scalar:
        """The parameter's value at unit-cube coordinate u (0 <= u < 1)."""
        if self.levels is not None:
            return self.levels[min(int(u * len(self.levels)), len(self.levels) - 1)]
        assert self.range is not None
        lo, hi = self.range
        x = (
            math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
            if self.log
            else lo + u * (hi - lo)
        )
        return round(x) if self.integer else float(x)


def parse_seeds(value: Any) -> list[int]:
    """Seeds from a list of integers or a string like '1-10' or '1,3,5-7'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list):
        return [int(v) for v in value]
    if not isinstance(value, str):
        raise ValueError("seeds: a list of integers or a string like '1-10'")
    seeds: list[int] = []
    for part in value.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"seeds: '{value}' is not like '1-10' or '1,3,5-7'")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return seeds


class Spec(_Strict):
    """What experiment and calibration files share: a name, the base scenario and the
    fixed changes made to it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
    description: str = ""
    base: str = Field(
        description="A built-in scenario name, or a YAML file (relative to this file)."
    )
    changes: dict[str, Any] = Field(default_factory=dict, description="Fixed changes to the base.")
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    residents: int | None = Field(None, ge=1)
    scale: float | None = Field(None, gt=0)
    days: int | None = Field(None, ge=1, le=MAX_DAYS)

    @model_validator(mode="before")
    @classmethod
    def _seeds(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seeds" in data:
            data = {**data, "seeds": parse_seeds(data["seeds"])}
        return data

    @model_validator(mode="after")
    def _runs(self) -> Self:
        for seed in (min(self.seeds), max(self.seeds)):
            check_run_size(self.scale, self.residents, self.days, seed)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: each seed once")
        return self


class Experiment(Spec):
    """An experiment file: what to vary, how, and what to record per run."""

    _table: pd.DataFrame | None = PrivateAttr(None)  # the last run()'s table, for plot()

    parameters: dict[str, Parameter] = Field(default_factory=dict)
    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=(
            "lhs: points; sobol: N (N*(2D+2) points, N a power of 2); morris: trajectories "
            "(N*(D+1) points)."
        ),
    )
    second_order: bool = True
    morris_levels: int = Field(4, ge=2, le=100)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_FIGURES), min_length=1)
    agents: bool | None = Field(
        None,
        description="Write per-agent tables in each run: true, false, or null as `scslab "
        "run` does (up to 1M residents); always when a figure needs them.",
    )
    sample_seed: int = Field(0, ge=0, description="Seed of the design's sampler.")

    @model_validator(mode="after")
    def _design(self) -> Self:
        if self.design == "grid":
            ranged = [k for k, p in self.parameters.items() if p.levels is None]
            if ranged:
                raise ValueError(
                    f"parameters.{ranged[0]}: a grid takes levels; give levels, or use "
                    "design lhs, sobol or morris for a range"
                )
        else:
            if not self.parameters:
                raise ValueError(f"parameters: design {self.design} needs parameters")
            if self.samples is None:
                raise ValueError(f"samples: design {self.design} needs samples")
            if self.design == "sobol" and self.samples & (self.samples - 1):
                raise ValueError(f"samples: a power of 2 for sobol (got {self.samples})")
        return self

    def digest(self) -> str:
        """SHA-256 of the experiment's resolved content."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def problem(self) -> dict[str, Any]:
        """The SALib problem over the unit cube (one variable per parameter)."""
        names = list(self.parameters)
        return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}

    def unit_points(self) -> np.ndarray:
        """The design's points in the unit cube, [points, parameters]."""
        d = len(self.parameters)
        if d == 0:
            return np.zeros((1, 0))  # one point: the base scenario
        if self.design == "grid":
            axes = [
                (np.arange(len(p.levels or [])) + 0.5) / len(p.levels or [])
                for p in self.parameters.values()
            ]
            return np.array(list(itertools.product(*axes)), float).reshape(-1, d)
        from SALib.sample import latin, morris, sobol

        n = int(self.samples or 1)
        if self.design == "lhs":
            return latin.sample(self.problem(), n, seed=self.sample_seed)
        if self.design == "sobol":
            return sobol.sample(
                self.problem(), n, calc_second_order=self.second_order, seed=self.sample_seed
            )
        return morris.sample(
            self.problem(), n, num_levels=self.morris_levels, seed=self.sample_seed
        )

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

    def points(self) -> list[dict[str, Scalar]]:
        """Each design point's parameter values ({dotted key: value})."""
        return [
            {k: p.value(float(u)) for (k, p), u in zip(self.parameters.items(), row, strict=True)}
            for row in self.unit_points()
        ]


SpecT = TypeVar("SpecT", bound=Spec)


def read_spec(path: str | Path, model: type[SpecT], changes: dict[str, Any] | None = None) -> SpecT:
    """Read an experiment or calibration file (a scenario file's limits on size, nesting,
    aliases and duplicate keys), validate it, add `changes` (the command line's --set)
    to its fixed changes and resolve a base file relative to it. ExperimentError (one line
    naming the file and key)."""
    path = Path(path)
    kind = model.__name__.lower()
    try:
        data = read_yaml(read_scenario_file(path), str(path))
    except ScenarioError as err:
        raise ExperimentError(str(err)) from None
    if not isinstance(data, dict):
        raise ExperimentError(
            f"{path}: a{'n' if kind[0] in 'aeiou' else ''} {kind} is a "
            "YAML mapping of keys to values"
        )
    try:
        spec = model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = f"unknown key (not part of the {kind} schema; check the spelling)"
        raise ExperimentError(f"{path}: {key}: {msg}" if key else f"{path}: {msg}") from None
    update: dict[str, Any] = {}
    if changes:
        update["changes"] = {**spec.changes, **changes}
    if spec.base.endswith((".yaml", ".yml")) and not Path(spec.base).is_absolute():
        update["base"] = str((path.parent / spec.base).resolve())
    return spec.model_copy(update=update) if update else spec


def load_experiment(
    path: str | Path, changes: dict[str, Any] | None = None
) -> tuple[Experiment, Scenario]:
    """Read and check an experiment file (read_spec), its base scenario, every design
    point's scenario and its figures; raise ExperimentError (one line) on any problem."""
    exp = read_spec(path, Experiment, changes)
    return exp, check_experiment(exp, exp.base, str(path))


def check_experiment(exp: Experiment, base: str, source: str) -> Scenario:
    """The base scenario with the fixed changes; every design point checked by building
    its scenario, and the figures checked against it. ExperimentError (one line)."""
    try:
        scenario = load_scenario(base).with_changes(exp.changes)
    except ScenarioError as err:
        raise ExperimentError(f"{source}: base: {err}") from None
    for point in exp.points():
        try:
            scenario.with_changes(point)
        except ScenarioError as err:
            raise ExperimentError(f"{source}: parameters.{err.key}: {err.message}") from None
    try:
        check_figures(exp.outputs, scenario)
    except ValueError as err:
        raise ExperimentError(f"{source}: outputs: {err}") from None
    return scenario


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

    experiment: Experiment
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


def prepare(exp: Experiment, scenario: Scenario, out: str | Path, resume: bool) -> Sweep:
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
    lock = hold_lock(lock_path, sweep.label or str(sweep.folder))
    try:
        _begin(sweep)
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
profiler and fast ticks only take time from it (about 5% of a 1-second run)."""


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


__all__ = [
    "DESIGNS",
    "FIGURES",
    "Experiment",
    "ExperimentError",
    "Parameter",
    "RunTask",
    "Sweep",
    "load_experiment",
    "parse_seeds",
    "prepare",
    "run_sweep",
    "run_task",
    "seeds_experiment",
]
