"""The commands over many runs: `scslab sweep` (an experiment's design points and seeds),
`scslab sensitivity` (indices of a finished sweep), `scslab calibrate` (fitting a
scenario to published figures), and `scslab run --seeds` (one scenario over seeds, run
as a sweep)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scslab.cli.common import SchedulerOption, SetOption, app, console, err_console, fail
from scslab.rundir.claim import RunDirError
from scslab.scenario.bounds import RECORD_BYTES
from scslab.scenario.changes import parse_changes
from scslab.scenario.population import available_bytes, estimated_bytes, resident_count
from scslab.scenario.safeyaml import ScenarioError


def run_seeds(
    scenario: str,
    seeds: str,
    size: tuple[float | None, int | None, int | None, bool | None],
    out: Path | None,
    workers: int,
    resume: bool,
    quiet: bool,
    sets: list[str] | None,
) -> None:
    """`scslab run NAME --seeds ...`: the scenario over seeds, as a sweep into --out.
    `size`: (scale, residents, days, agents) as given to run."""
    from pydantic import ValidationError

    from scslab.experiments.experiment import seeds_experiment
    from scslab.experiments.spec import ExperimentError, check_experiment, parse_seeds
    from scslab.experiments.sweep import prepare

    scale, residents, days, agents = size
    try:
        changes = parse_changes(sets or [])
        exp = seeds_experiment(
            scenario, parse_seeds(seeds), residents, scale, days, agents, changes
        )
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        fail(f"--{key}: {first['msg'].removeprefix('Value error, ')}")
    except ScenarioError as err:
        fail(str(err))
    except ValueError as err:
        fail(f"--{err}")
    try:
        sc = check_experiment(exp, scenario, scenario)
        sw = prepare(exp, sc, out or Path("runs") / exp.name, resume)
        _run_sweep_cli(sw, workers, None, quiet)
    except (ExperimentError, RunDirError) as err:
        fail(str(err))


def _run_sweep_cli(sweep, workers: int, scheduler: str | None, quiet: bool) -> None:
    """Print the plan, run the sweep with a progress bar, print where the table is."""
    from rich.progress import TimeRemainingColumn

    from scslab.experiments.sweep import run_sweep

    exp = sweep.experiment
    todo = sweep.missing()
    n = resident_count(sweep.scenario.population, exp.scale, exp.residents)
    days = exp.days or sweep.scenario.days
    records = sweep.scenario.records_at_most(n, days + sweep.scenario.burn_in_days) * RECORD_BYTES
    need = estimated_bytes(sweep.scenario.population, n) + int(records)
    per_worker = available_bytes() / max(1, workers)
    if scheduler is None and need > per_worker:
        fail(
            f"{sweep.folder}: a run of {n:,} residents needs about {need / 2**30:.1f} GiB; "
            f"{workers} workers have {per_worker / 2**30:.1f} GiB each: use fewer --workers"
        )
    where = scheduler or (f"{workers} local workers" if workers else "this process")
    if not quiet:
        err_console.print(
            f"{exp.name}: {len(sweep.tasks)} runs ({len(sweep.tasks) // len(exp.seeds)} "
            f"points x {len(exp.seeds)} seeds), {len(todo)} to do, on {where}; each "
            f"{n:,} residents x {days} days, about {need / 2**30:.2f} GiB",
            highlight=False,
            markup=False,
        )
    failed = 0

    def count(row: dict) -> None:
        nonlocal failed
        failed += row["status"] != "ok"

    def probe(first: dict, left: int) -> None:
        if not quiet:
            err_console.print(
                f"first run {first['seconds']:.1f} s (compiling included when the kernels "
                f"were not cached); the other {left} about "
                f"{left * first['seconds'] / workers / 60:.1f} min",
                highlight=False,
                markup=False,
            )

    if quiet or not sys.stderr.isatty():
        run_sweep(sweep, workers, scheduler, on_row=count, on_probe=probe)
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            bar = progress.add_task(exp.name, total=len(todo))

            def advance(row: dict) -> None:
                count(row)
                progress.advance(bar)

            run_sweep(sweep, workers, scheduler, on_row=advance, on_probe=probe)
    table = sweep.folder / "sweep.parquet"
    if quiet:
        console.print(str(sweep.folder), highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(
            f"{len(sweep.tasks) - failed} runs ok, {failed} failed; table: {table}",
            highlight=False,
            markup=False,
        )
    if failed:
        err_console.print(
            f"note: {failed} runs failed; their errors are in {table} (column error); "
            "--resume runs them again",
            highlight=False,
            markup=False,
        )


@app.command()
def sweep(
    experiment: Annotated[Path, typer.Argument(help="Experiment file (YAML).")],
    out: Annotated[Path | None, typer.Option(help="Sweep folder (default: runs/NAME).")] = None,
    workers: Annotated[
        int, typer.Option(help="Local Dask worker processes (0: in this process).")
    ] = 2,
    scheduler: SchedulerOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Run only what an earlier sweep left missing.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No plan or progress; print the folder.")
    ] = False,
    set_: SetOption = None,
) -> None:
    """Run an experiment: every design point with every seed, one run directory each,
    and one table of parameters and figures (sweep.parquet)."""
    from scslab.experiments.experiment import load_experiment
    from scslab.experiments.spec import ExperimentError
    from scslab.experiments.sweep import prepare

    if not 0 <= workers <= 1024:
        fail(f"--workers: must be 0 to 1024 (got {workers})")
    try:
        exp, scenario = load_experiment(experiment, parse_changes(set_ or []))
        sw = prepare(exp, scenario, out or Path("runs") / exp.name, resume)
        _run_sweep_cli(sw, workers, scheduler, quiet)
    except (ExperimentError, RunDirError, ScenarioError) as err:
        fail(str(err))


@app.command()
def sensitivity(
    folder: Annotated[Path, typer.Argument(help="A finished sobol or morris sweep folder.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Also write a bar chart with intervals (PNG, SVG, PDF).")
    ] = None,
) -> None:
    """Sobol indices (S1, ST) or Morris mu* of each figure, with 95% bootstrap intervals,
    and the share of each figure's variance that is the seeds' noise alone."""
    from scslab.experiments.sensitivity import analyse
    from scslab.experiments.sensitivity import plot as plot_indices
    from scslab.experiments.spec import ExperimentError

    try:
        result = analyse(folder)
    except ExperimentError as err:
        fail(str(err))
    if plot is not None:
        if plot.exists() or plot.is_symlink():
            fail(f"--plot: {plot}: exists; scslab writes a new file, give another name")
        tmp = plot.with_name(f".{plot.name}.partial{plot.suffix}")
        try:
            plot_indices(result).savefig(tmp)
            tmp.replace(plot)
        except (OSError, ValueError) as err:
            tmp.unlink(missing_ok=True)
            fail(f"--plot: {plot}: {err}")
    if json_out:
        sys.stdout.write(result.to_json() + "\n")
        return
    table = Table("figure", "parameter", "index", "value", "95% interval", title=str(folder))
    for row in result.indices.itertuples():
        ci = "" if row.lo is None or row.lo != row.lo else f"[{row.lo:.3g}, {row.hi:.3g}]"
        table.add_row(row.figure, row.parameter, row.index, f"{row.value:.3g}", ci)
    console.print(table)
    for figure, share in result.seed_share.items():
        if share is not None:
            console.print(f"{figure}: seeds alone make {share:.0%} of its variance", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


@app.command()
def calibrate(
    calibration: Annotated[Path, typer.Argument(help="Calibration file (YAML).")],
    out: Annotated[
        Path | None, typer.Option(help="Calibration folder (default: runs/NAME).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Trials at once on local Dask workers (0: in this process).")
    ] = 2,
    scheduler: SchedulerOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on from the trials an earlier run left.")
    ] = False,
    trials: Annotated[
        int | None,
        typer.Option(help="Complete trials wanted, instead of the file's (1 to 100,000)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress; print the folder.")
    ] = False,
    set_: SetOption = None,
) -> None:
    """Fit a scenario's free parameters to published figures (Optuna): writes best.yaml
    (extends the base), fit.csv and fit.png, importances.json and trials.parquet."""
    from scslab.experiments.calibration import calibrate as run_calibration
    from scslab.experiments.calibration import load_calibration, prepare_folder
    from scslab.experiments.spec import ExperimentError

    if not 0 <= workers <= 1024:
        fail(f"--workers: must be 0 to 1024 (got {workers})")
    try:
        cal, scenario = load_calibration(calibration, parse_changes(set_ or []))
        if trials is not None:
            if not 1 <= trials <= 100_000:
                fail(f"--trials: must be 1 to 100,000 (got {trials})")
            cal = cal.model_copy(update={"trials": trials})
        folder = prepare_folder(cal, scenario, out or Path("runs") / cal.name, resume)
    except (ExperimentError, RunDirError, ScenarioError) as err:
        fail(str(err))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials, best {task.fields[best]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not sys.stderr.isatty(),
    ) as progress:
        bar = progress.add_task(cal.name, total=cal.trials, best="-")

        def advance(number: int, value: float | None, best: float | None) -> None:
            progress.update(bar, advance=1, best="-" if best is None else f"{best:.3g}")

        try:
            best = run_calibration(cal, scenario, folder, workers, scheduler, advance)
        except (ExperimentError, RunDirError) as err:
            fail(str(err))
        except ValueError as err:  # no trial completed (Optuna has no best trial)
            fail(f"{calibration}: no trial gave every target's figure ({err})")
    if quiet:
        console.print(str(folder), highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(
        "parameter",
        "best",
        title=f"{cal.name}: best of trial {best['trial']}, "
        f"objective {best['value']:.3g} (mean squared standardised error)",
    )
    for key, value in best["params"].items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"fit, plot and best scenario in {folder}", markup=False, highlight=False)
