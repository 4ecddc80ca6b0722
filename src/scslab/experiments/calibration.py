"""Calibration: fit a scenario's free parameters to published figures (Optuna).

A calibration file names a base scenario, the free parameters (dotted keys with a range
or levels, as in an experiment), the targets (a figure of `scslab.analysis.figures`,
optionally read on a given day or date and with its flows summed from a given day or
date on, with its published value, its uncertainty and its source), the seeds, the size
and days of each run, and the number of trials. A trial runs the base with the
trial's parameters once per seed (common random numbers: every trial uses the same
seeds), reads each target's figure, and scores the fit as the mean over targets of the
squared standardised error of the seeds' mean:

    objective = mean_t ((mean over seeds of figure_t - value_t) / sd_t) ** 2

Optuna (TPE or CMA-ES) proposes the trials. Its study is kept in the output folder
(`study.db`, SQLite), with every trial's simulated figures per seed, so a killed
calibration resumes from what it has; trials run in parallel on Dask like a sweep's runs.
At the end the folder holds `best.yaml` (a scenario that `extends` the base with the best
parameters), `fit.csv` and `fit.png` (each target against the simulated median and 10-90%
range across seeds at the best parameters), `importances.json` (Optuna's parameter
importances) and `trials.parquet`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, model_validator

from scslab.analysis.figures import check_figures, compute_figures, day_index, takes_day
from scslab.experiments.spec import ExperimentError, Parameter, Spec, _Strict, read_spec
from scslab.experiments.sweep import check_resume, connect, identity, local_cluster
from scslab.rundir.claim import hold_lock, release_lock
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError
from scslab.scenario.schema import Scenario


class Target(_Strict):
    """A published figure to fit: `figure` (scslab.analysis.figures), its `value` and `sd` (its
    uncertainty, in the figure's unit), the `day` it is read on (a day number or a date;
    default: the last day), `since`: the first day of its flows (a day number or a date;
    default: day 0), and its `source`."""

    figure: str
    value: float
    sd: float = Field(gt=0)
    day: Annotated[int, Field(ge=0)] | dt.date | None = None
    since: Annotated[int, Field(ge=0)] | dt.date | None = None
    source: str = ""

    def days(self, start: dt.date) -> tuple[int | None, int | None]:
        """(day, since) as day numbers of a run that starts on `start` (None: not given)."""
        return (
            None if self.day is None else day_index(self.day, start),
            None if self.since is None else day_index(self.since, start),
        )


class Calibration(Spec):
    """A calibration file."""

    parameters: dict[str, Parameter] = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    trials: int = Field(50, ge=1, le=100_000)
    sampler: Literal["tpe", "cmaes"] = "tpe"
    sampler_seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.sampler == "cmaes" and any(p.levels for p in self.parameters.values()):
            raise ValueError("sampler: cmaes takes ranges only; use tpe for levels")
        return self

    def digest(self) -> str:
        """SHA-256 of the calibration's resolved content, trials left out (a resumed
        calibration may ask for more)."""
        import hashlib

        doc = self.model_dump(mode="json")
        doc.pop("trials")
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's parameter values, from Optuna."""
        values: dict[str, Any] = {}
        for key, p in self.parameters.items():
            if p.levels is not None:
                values[key] = trial.suggest_categorical(key, p.levels)
            elif p.integer:
                assert p.range is not None
                lo, hi = p.range
                values[key] = trial.suggest_int(key, math.ceil(lo), math.floor(hi), log=p.log)
            else:
                assert p.range is not None
                values[key] = trial.suggest_float(key, p.range[0], p.range[1], log=p.log)
        return values


def load_calibration(
    path: str | Path, changes: dict[str, Any] | None = None
) -> tuple[Calibration, Scenario]:
    """Read and check a calibration file and its targets before anything runs; raise
    ExperimentError (one line naming the file and key). `changes`: more fixed changes to
    the base (the command line's --set)."""
    path = Path(path)
    cal = read_spec(path, Calibration, changes)
    base = cal.base
    try:
        scenario = load_scenario(base).with_changes(cal.changes)
    except ScenarioError as err:
        raise ExperimentError(f"{path}: base: {err}") from None
    days = cal.days or scenario.days
    for k, target in enumerate(cal.targets):
        try:
            check_figures([target.figure], scenario)
        except ValueError as err:
            raise ExperimentError(f"{path}: targets.{k}.figure: {err}") from None
        day, since = target.days(scenario.start_date)
        for key, at, given in (("day", day, target.day), ("since", since, target.since)):
            if at is None:
                continue
            if not takes_day(target.figure):
                raise ExperimentError(
                    f"{path}: targets.{k}.{key}: {target.figure} is a figure of the whole "
                    "run; it takes no day"
                )
            if not 0 <= at < days:
                raise ExperimentError(
                    f"{path}: targets.{k}.{key}: {given} is outside the run (days 0 to "
                    f"{days - 1}, {scenario.start_date} to {scenario.date_of(days - 1)})"
                )
        if day is not None and since is not None and since > day:
            raise ExperimentError(
                f"{path}: targets.{k}.since: {target.since} comes after its day {target.day}"
            )
    for key, p in cal.parameters.items():
        probes = p.levels if p.levels is not None else list(p.range or ())
        for value in probes:
            try:
                scenario.with_changes({key: value})
            except ScenarioError as err:
                raise ExperimentError(f"{path}: parameters.{err.key}: {err.message}") from None
    return cal, scenario


# ------------------------------------------------------------------ one trial
@dataclass(frozen=True)
class TrialTask:
    """One trial's runs: the scenario with its parameters, once per seed (picklable)."""

    number: int
    scenario_yaml: str
    seeds: tuple[int, ...]
    residents: int | None
    scale: float | None
    days: int | None
    targets: tuple[tuple[str, int | None, int | None], ...]  # (figure, day, since)


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Run a trial's seeds (no run directories) and read its targets' figures: returns
    {'number', 'figures': [[value or None per seed] per target]} or {'error'}."""
    import numba

    from scslab.engine.simulation import many_runs_engine
    from scslab.rundir.run import Simulation
    from scslab.scenario.loader import parse_scenario

    numba.set_num_threads(1)
    try:
        sc = parse_scenario(task.scenario_yaml, f"trial {task.number}")
        per_target: list[list[float | None]] = [[] for _ in task.targets]
        for seed in task.seeds:
            res = Simulation(
                sc,
                seed=seed,
                scale=task.scale,
                residents=task.residents,
                days=task.days,
                engine=many_runs_engine(sc),
                agents=False,
            ).run()
            for k, (figure, day, since) in enumerate(task.targets):
                value = compute_figures(res, [figure], day=day, since=since)[figure]
                per_target[k].append(value)
        return {"number": task.number, "figures": per_target}
    except Exception as err:  # recorded as a failed trial; the calibration goes on
        return {"number": task.number, "error": " ".join(str(err).split())}


def objective(cal: Calibration, figures: list[list[float | None]]) -> float | None:
    """Mean over targets of the squared standardised error of the seeds' mean; None
    when a target's figure is undefined in some seed."""
    total = 0.0
    for target, values in zip(cal.targets, figures, strict=True):
        if any(v is None for v in values):
            return None
        mean = float(np.mean([float(v) for v in values if v is not None]))
        total += ((mean - target.value) / target.sd) ** 2
    return total / len(cal.targets)


# ------------------------------------------------------------------ the study
def _study(cal: Calibration, folder: Path) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=cal.name,
        storage=f"sqlite:///{folder / 'study.db'}",
        load_if_exists=True,
        direction="minimize",
    )
    # a resumed study gets a sampler seeded past the trials it has, so that it does not
    # propose its first trials again
    seed = cal.sampler_seed + len(study.trials)
    if cal.sampler == "cmaes":
        study.sampler = optuna.samplers.CmaEsSampler(seed=seed)
    else:
        study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def prepare_folder(cal: Calibration, scenario: Scenario, out: str | Path, resume: bool) -> Path:
    """Make (or with `resume` reopen) the calibration folder; ExperimentError (one line)
    for a folder that is not this calibration's."""
    label = str(out)
    folder = Path(os.path.abspath(out))
    if folder.parent == folder:
        raise ExperimentError(f"{label}: the root directory cannot be a calibration folder")
    ident = identity(cal.digest(), scenario)
    mark = folder / "calibration.json"
    if folder.exists() and not folder.is_dir():
        raise ExperimentError(f"{label}: exists and is not a directory")
    occupied = folder.is_dir() and any(folder.iterdir())
    if occupied and not mark.is_file():
        raise ExperimentError(f"{label}: exists and is not a scslab calibration folder")
    if occupied and not resume:
        raise ExperimentError(
            f"{label}: a calibration is already there; give --resume to go on, or another --out"
        )
    if occupied:
        check_resume(label, json.loads(mark.read_text("utf-8")), ident, "calibration file")
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "calibration.yaml").write_text(
            yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False), "utf-8"
        )
        mark.write_text(json.dumps(ident, indent=2), "utf-8")
    except OSError as err:
        raise ExperimentError(f"{label}: cannot write here: {err.strerror}") from None
    return folder


def calibrate(
    cal: Calibration,
    scenario: Scenario,
    folder: Path,
    workers: int = 2,
    scheduler: str | None = None,
    on_trial: Callable[[int, float | None, float | None], None] | None = None,
) -> dict[str, Any]:
    """Run the trials still missing (up to cal.trials complete ones) and write the
    results; returns the best {'value', 'params'}. on_trial(number, value, best)."""
    from optuna.trial import TrialState

    lock_path = folder.with_name(f".{folder.name}.lock")
    lock = hold_lock(lock_path, str(folder))
    try:
        study = _study(cal, folder)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.FAIL)  # in flight when it was killed
        for trial, result in _trials(cal, scenario, study, workers, scheduler):
            value = None
            if "error" in result:
                trial.set_user_attr("error", result["error"])
            else:
                trial.set_user_attr("figures", result["figures"])
                value = objective(cal, result["figures"])
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, value)
            if on_trial is not None:
                on_trial(trial.number, value, _best_value(study))
        return write_results(cal, scenario, folder, study)
    finally:
        release_lock(lock, lock_path)


def _best_value(study: Any) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


def _trials(
    cal: Calibration, scenario: Scenario, study: Any, workers: int, scheduler: str | None
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Ask, run and yield (trial, result) until cal.trials are complete, `workers` at a
    time."""
    from optuna.trial import TrialState

    def complete() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    asked: dict[int, Any] = {}

    def ask() -> TrialTask:
        trial = study.ask()
        asked[trial.number] = trial
        values = cal.suggest(trial)
        return TrialTask(
            trial.number,
            scenario.with_changes(values).to_yaml(),
            tuple(cal.seeds),
            cal.residents,
            cal.scale,
            cal.days,
            tuple((t.figure, *t.days(scenario.start_date)) for t in cal.targets),
        )

    if workers == 0 and scheduler is None:
        tries = 0
        while complete() < cal.trials and tries < 10 * cal.trials:  # failed trials
            tries += 1  # (an error, or a target's figure undefined) do not go on for ever
            result = run_trial(ask())
            yield asked.pop(result["number"]), result
        return
    from distributed import wait

    cluster = None if scheduler is not None else local_cluster(workers)
    client = connect(scheduler if cluster is None else cluster)
    try:
        slots = max(1, workers or len(client.scheduler_info()["workers"]))
        pending: set[Any] = set()
        tries = 0
        while True:
            while (
                len(pending) < slots
                and complete() + len(pending) < cal.trials
                and tries < 10 * cal.trials  # failing trials do not go on for ever
            ):
                tries += 1
                pending.add(client.submit(run_trial, ask(), pure=False))
            if not pending:
                return
            done, pending = wait(pending, return_when="FIRST_COMPLETED")
            for future in done:
                result = future.result()
                yield asked.pop(result["number"]), result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def write_results(cal: Calibration, scenario: Scenario, folder: Path, study: Any) -> dict:
    """best.yaml, fit.csv, fit.png, importances.json and trials.parquet from the study."""
    import optuna

    best = study.best_trial
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params"))
    frame.columns = [c.replace("params_", "param:") for c in frame.columns]
    frame["state"] = frame["state"].astype(str)
    frame.to_parquet(folder / "trials.parquet", index=False)
    figures = best.user_attrs["figures"]
    rows = []
    for target, values in zip(cal.targets, figures, strict=True):
        sim = np.array(values, float)
        day, since = target.days(scenario.start_date)
        rows.append(
            {
                "figure": target.figure,
                "day": day,
                "date": None if day is None else scenario.date_of(day).isoformat(),
                "since": since,
                "value": target.value,
                "sd": target.sd,
                "simulated_median": float(np.median(sim)),
                "simulated_p10": float(np.quantile(sim, 0.1)),
                "simulated_p90": float(np.quantile(sim, 0.9)),
                "seeds": len(sim),
                "source": target.source,
            }
        )
    fit = pd.DataFrame(rows)
    fit.to_csv(folder / "fit.csv", index=False)
    _fit_plot(fit).savefig(folder / "fit.png", dpi=110)
    doc: dict[str, Any]
    try:
        doc = {"importances": dict(optuna.importance.get_param_importances(study))}
    except (RuntimeError, ValueError) as err:
        doc = {"importances": None, "note": f"not available: {err}"}
    (folder / "importances.json").write_text(json.dumps(doc, indent=2), "utf-8")
    (folder / "best.yaml").write_text(best_scenario_yaml(cal, best.params), "utf-8")
    return {"value": float(best.value), "params": dict(best.params), "trial": best.number}


def best_scenario_yaml(cal: Calibration, params: dict[str, Any]) -> str:
    """A scenario file that extends the base with the calibration's fixed changes and
    the best parameters (nested mappings of the dotted keys)."""
    doc: dict[str, Any] = {"extends": cal.base, "name": f"{cal.name}-best"}
    for key, value in {**cal.changes, **params}.items():
        *parents, leaf = key.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    head = (
        f"# Calibrated by scslab calibrate ({cal.name}): the base with the best trial's\n"
        f"# parameters; every value below is FITTED to the targets of the calibration file.\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False)


def _fit_plot(fit: pd.DataFrame):  # -> matplotlib Figure
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.2 + 0.6 * len(fit)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(fit))
    ax.errorbar(
        fit["value"],
        y + 0.12,
        xerr=2 * fit["sd"],
        fmt="o",
        color="k",
        capsize=3,
        label="target, ±2 sd",
    )
    lo = (fit["simulated_median"] - fit["simulated_p10"]).clip(lower=0)
    hi = (fit["simulated_p90"] - fit["simulated_median"]).clip(lower=0)
    ax.errorbar(
        fit["simulated_median"],
        y - 0.12,
        xerr=[lo, hi],
        fmt="s",
        color="C3",
        capsize=3,
        label="simulated median, 10-90% across seeds",
    )
    labels = [_label(row) for _, row in fit.iterrows()]
    ax.set_yticks(y, labels, fontsize=8)
    ax.legend(fontsize=8)
    ax.set_title("fit at the best parameters", fontsize=9, loc="left")
    return fig


def _label(row: pd.Series) -> str:
    """A target's label in the fit plot: its figure, and the days it is read over."""
    day, since = row["day"], row["since"]
    if since is not None and since == since:
        until = "the end" if day is None or day != day else row["date"]
        return f"{row['figure']} (day {int(since)} to {until})"
    if day is None or day != day:
        return str(row["figure"])
    return f"{row['figure']} ({row['date']})"
