"""`scslab run` and the commands about scenarios: `scenarios` (the built-ins), `show`,
`validate` and `schema` (the reference of scenario files); with the summary that `run`
prints and its progress bar."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scslab.cli.common import SetOption, app, console, err_console, fail, scenario_with_sets
from scslab.rundir.claim import RunDirError
from scslab.rundir.results import Results
from scslab.scenario.bounds import MAX_RESIDENTS, RECORD_BYTES, RunSizeError, check_run_size
from scslab.scenario.loader import builtin_names, builtin_text, load_scenario
from scslab.scenario.population import available_bytes, estimated_bytes, resident_count
from scslab.scenario.safeyaml import ScenarioError


def _default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{name}-{stamp}"
    k = 1
    while out.exists():
        k += 1
        out = Path("runs") / f"{name}-{stamp}-{k}"
    return out


def _measures(results: Results) -> list[dict[str, Any]]:
    """The measures (joint punishment) of the run's scenario, as written in its YAML."""
    try:
        measures = (yaml.safe_load(results.scenario_yaml) or {}).get("measures") or {}
    except yaml.YAMLError:
        return []
    return [m for m in measures.values() if isinstance(m, dict)]


def _sanctioned_domains(results: Results, effect: str) -> set[str]:
    """Domains in which some measure of the run's scenario has `effect` (block, delay)."""
    return {
        d for m in _measures(results) if m.get("effect", "block") == effect for d in m["domains"]
    }


LIST_COUNTS = ("listed:", "enterprise.listed:", "new_listings:", "enterprise.new_listings:")
"""Metrics that count who is on a list (each day) and who enters it."""


def summary_table(results: Results) -> Table:
    """The headline figures of a run: lists, blocked attempts, wrongful sanctions, rewards."""
    m = results.manifest
    city = results.to_frame("city")
    last = city.iloc[-1]
    total = city.sum()
    table = Table(
        title=f"{m['scenario']}: {m['residents']:,} residents, {m['enterprises']:,} market "
        f"entities, {m['days']} days, seed {m['seed']}",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("of which wrongful", justify="right")

    def row(label: str, value: float, wrongful: float | None = None) -> None:
        table.add_row(label, f"{value:,.0f}", "" if wrongful is None else f"{wrongful:,.0f}")

    for col in city.columns:
        if col.startswith(("listed:", "enterprise.listed:")):
            name = col.split(":", 1)[1]
            who = "firms on " if col.startswith("enterprise.") else "on "
            wcol = col.replace("listed:", "listed_wrongful:")
            row(f"{who}{name} (last day)", last[col], last.get(wcol))
    table.add_section()
    blocking = _sanctioned_domains(results, "block")
    delaying = _sanctioned_domains(results, "delay")
    for col in city.columns:
        if col.startswith(("blocked:", "enterprise.blocked:")):
            dom = col.split(":", 1)[1]
            who = "firms " if col.startswith("enterprise.") else ""
            if dom in blocking or total[col] > 0:  # not domains with rewards only
                wcol = col.replace("blocked:", "wrongful_blocked:")
                row(f"{who}blocked attempts: {dom}", total[col], total.get(wcol))
            dcol = col.replace("blocked:", "delayed:")
            if dcol in total and (dom in delaying or total[dcol] > 0):
                row(f"{who}delayed attempts: {dom}", total[dcol])
    table.add_section()
    for col in city.columns:
        if col.startswith("green_channel:") and total[col] > 0:
            dom = col.split(":", 1)[1]
            row(f"green channel uses: {dom}", total[col])
    true = sum(v for k, v in total.items() if "records_true:" in k)
    wrong = sum(v for k, v in total.items() if "records_erroneous:" in k)
    table.add_section()
    row("records written", true + wrong, wrong)
    if "posts" in total:
        row("online posts", total["posts"])
    return table


def summary_notes(results: Results) -> list[str]:
    """Lines under the summary table: each list that measures hang on but that no one
    (resident or firm) was on during the run, so that its sanctions' zeros are read as
    what they are rather than as a fault."""
    city = results.to_frame("city")
    domains: dict[str, set[str]] = {}
    for m in _measures(results):
        domains.setdefault(str(m.get("list")), set()).update(m["domains"])
    notes = []
    for name, doms in domains.items():
        cols = [c for c in city.columns if c.startswith(LIST_COUNTS) and c.endswith(f":{name}")]
        if cols and not city[cols].to_numpy().any():
            notes.append(
                f"no one was on {name} during the run, so its measures "
                f"({', '.join(sorted(doms))}) acted on no one"
            )
    return notes


class RunProgress:
    """The progress bar of `scslab run`: what the run is doing before its first day is
    done (building the city; compiling the kernels, on a first run), then the days."""

    def __init__(self, progress: Progress, title: str, days: int, first_run: bool) -> None:
        """A bar of `days` days titled `title`; `first_run`: the run compiles kernels
        before its first day is done (Simulation.compiles_first)."""
        self.progress, self.title, self.first_run = progress, title, first_run
        self.task = progress.add_task(self.describe("build"), total=days)

    def describe(self, stage: str) -> str:
        """What the bar says in a stage of Simulation.run ("build", "days", "write")."""
        if stage == "build":
            return "building the city" + (" and compiling kernels" if self.first_run else "")
        if stage == "days" and self.first_run:
            return "compiling kernels (first run only)"
        if stage == "write":
            return "writing the run directory"
        return self.title

    def phase(self, stage: str) -> None:
        """Simulation.run's phase callback: say what the run is doing now."""
        self.progress.update(self.task, description=self.describe(stage), refresh=True)

    def days(self, done: int, total: int) -> None:
        """Simulation.run's progress callback: `done` of `total` days."""
        self.progress.update(self.task, completed=done, description=self.title)


def check_run_options(
    scale: float | None, residents: int | None, days: int | None, seed: int
) -> None:
    """Refuse (fail) numeric options of `run` out of range (scenario.check_run_size)."""
    try:
        check_run_size(scale, residents, days, seed)
    except RunSizeError as err:
        fail(f"{' and '.join(f'--{k}' for k in err.keys)}: {err.message}")


def _continuation(
    run_dir: Path, days: int | None, keep_state: bool, engine: str, given: dict[str, bool]
) -> Any:
    """The Simulation of `run --from run_dir` (fail on options that cannot go with it or
    a run directory that cannot be continued)."""
    from scslab.engine.snapshot import SnapshotError
    from scslab.rundir.manifest import RunError
    from scslab.rundir.run import Simulation

    if any(given.values()):
        flags = ", ".join(k for k, v in given.items() if v)
        fail(
            f"--from: {flags} cannot go with it (the run goes on with the scenario, seed "
            "and size of RUN; --days, --out, --engine, --keep-state, --overwrite, --report "
            "and --quiet may)"
        )
    if days is not None and days < 1:
        fail(f"--days: must be at least 1 (got {days})")
    try:
        return Simulation.continue_from(run_dir, days, keep_state, engine)
    except (RunError, SnapshotError) as err:
        fail(f"--from: {err}")
    except ValueError as err:  # the run's size or engine, refused as for a new run
        fail(f"--from: {run_dir}: {err}")


@app.command()
def run(
    scenario: Annotated[
        str | None, typer.Argument(help="Built-in name or YAML file (default beijing-2018).")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help="Share of the whole city (1 = 21.5M residents).")
    ] = None,
    residents: Annotated[int | None, typer.Option(help="Absolute number of residents.")] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate (default: scenario).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 1).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/NAME-TIME).")
    ] = None,
    agents: Annotated[
        bool | None,
        typer.Option("--agents/--no-agents", help="Write per-agent tables (default: up to 1M)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary; print the run path.")
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write report.html into the run directory.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="auto (compiled days when the scenario allows them and they are compiled: "
            "scslab compile; else the general loop), general or compiled: the same results "
            "either way."
        ),
    ] = "auto",
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace the run already at --out (kept until the new one is complete). "
            "Anything else there is never replaced.",
        ),
    ] = False,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Run once per seed ('1-10', '1,3,5') into the folder --out, as a sweep "
            "(see scslab sweep)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="With --seeds: local worker processes (0: in this process).")
    ] = 2,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="With --seeds: finish the folder of seeds begun before."),
    ] = False,
    set_: SetOption = None,
    keep_state: Annotated[
        bool,
        typer.Option(
            "--keep-state",
            help="Also write the state the run ends in (state.npz), so that --from can "
            "continue it.",
        ),
    ] = False,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="RUN",
            help="Continue the run directory RUN (made with --keep-state) for --days more "
            "days into a new run directory of the whole history.",
        ),
    ] = None,
) -> None:
    """Simulate a scenario and write its run directory (Parquet tables + manifest)."""
    from scslab.cli.experiments import run_seeds
    from scslab.rundir.run import Simulation

    if from_ is not None:
        given = {
            "SCENARIO": scenario is not None,
            "--scale": scale is not None,
            "--residents": residents is not None,
            "--seed": seed is not None,
            "--seeds": seeds is not None,
            "--agents/--no-agents": agents is not None,
            "--set": bool(set_),
            "--resume": resume,
        }
        sim = _continuation(from_, days, keep_state, engine, given)
        _run_and_report(sim, out or _default_out(sim.scenario.name), quiet, overwrite, report)
        return
    scenario = scenario or "beijing-2018"
    if seeds is not None:
        given = {"--seed": seed is not None, "--report": report, "--overwrite": overwrite}
        given["--engine"] = engine != "auto"
        given["--keep-state"] = keep_state
        if any(given.values()):
            flags = ", ".join(k for k, v in given.items() if v)
            fail(
                f"--seeds: {flags} cannot go with it (each run has its own seed; "
                "--resume finishes a folder of seeds; scslab report reads it)"
            )
        check_run_options(scale, residents, days, 1)
        run_seeds(
            scenario, seeds, (scale, residents, days, agents), out, workers, resume, quiet, set_
        )
        return
    if resume:
        fail("--resume: goes with --seeds (a single run is replaced with --overwrite)")
    seed = 1 if seed is None else seed
    check_run_options(scale, residents, days, seed)
    sc = scenario_with_sets(scenario, set_)
    n = resident_count(sc.population, scale, residents)
    records = sc.records_at_most(n, (days or sc.days) + sc.burn_in_days) * RECORD_BYTES
    need, have = estimated_bytes(sc.population, n) + int(records), available_bytes()
    if need > have:
        flag = "--residents" if residents is not None else "--scale"
        fail(
            f"{flag}: {n:,} residents need about {need / 2**30:.1f} GiB of memory; "
            f"{have / 2**30:.1f} GiB is available"
        )
    if n > MAX_RESIDENTS:
        flag = "--residents" if residents is not None else "--scale"
        fail(f"{flag}: {n:,} residents; at most {MAX_RESIDENTS:,}: ids are int32")
    if n > sc.population.residents_at_scale_1:
        err_console.print(
            f"[yellow]note:[/] {n:,} residents is more than the whole city "
            f"({sc.population.residents_at_scale_1:,} at --scale 1); this will take a while",
            highlight=False,
        )
    out = out or _default_out(sc.name)
    try:
        sim = Simulation(
            sc,
            seed=seed,
            scale=scale,
            residents=residents,
            days=days,
            agents=agents,
            engine=engine,
            keep_state=keep_state,
        )
    except ValueError as err:
        fail(f"--engine: {err}")
    _run_and_report(sim, out, quiet, overwrite, report)


def _run_and_report(sim: Any, out: Path, quiet: bool, overwrite: bool, report: bool) -> None:
    """Run `sim` into `out`, then print its summary (or, quiet, its path) and write its
    report when asked (fail on a run directory that cannot be written)."""
    sc, n = sim.scenario, sim.n_residents
    try:
        if quiet or not sys.stderr.isatty():
            if not quiet and sim.compiles_first():  # (no bar to say so)
                err_console.print("compiling kernels first (first run only)", highlight=False)
            results = sim.run(out=out, overwrite=overwrite)
        else:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("days"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                title = f"{sc.name}: {n:,} residents"
                shown = RunProgress(progress, title, sim.days, first_run=sim.compiles_first())
                results = sim.run(
                    out=out, overwrite=overwrite, progress=shown.days, phase=shown.phase
                )
    except (RunDirError, RunSizeError) as err:
        fail(f"--{err}" if isinstance(err, RunSizeError) else str(err))
    if quiet:
        console.print(str(out), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(summary_table(results))
        for note in summary_notes(results):
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        t = results.manifest["timings"]
        console.print(
            f"build {t['build_population_s']:.1f} s, simulate {t['simulate_s']:.1f} s "
            f"({results.manifest['engine']} engine), write {t['write_s']:.1f} s; "
            f"results in [bold]{escape(str(out))}[/]"
        )
        if sim.compiled_later:
            console.print(
                "[yellow]note:[/] this run took the general loop; compiled days (faster, "
                "the same results) are not compiled yet for this version of scslab: "
                "`scslab compile` compiles them, once",
                highlight=False,
            )
        if "continued_from" in results.manifest:
            was = results.manifest["continued_from"]
            console.print(
                f"continued from {escape(was['path'])} after its {was['days']} days: "
                f"the tables hold all {results.manifest['days']} days",
                highlight=False,
            )
        if "state" in results.manifest:
            size = results.manifest["state"]["bytes"]
            console.print(
                f"state kept in state.npz ({size / 2**20:,.1f} MiB): "
                f"scslab run --from {escape(str(out))} goes on from it",
                highlight=False,
            )
    if report:
        from scslab.presentation.report import write_report

        try:
            page = write_report(results, out / "report.html")
        except RunDirError as err:
            fail(str(err))
        if not quiet:
            console.print(f"report: [bold]{escape(str(page))}[/]")


COMPILE_DAYS = 2
"""Days of the run that `scslab compile` makes (and writes nowhere) to compile kernels."""


@app.command(name="compile")
def compile_kernels(
    scenario: Annotated[
        str, typer.Argument(help="Scenario file or built-in name.")
    ] = "beijing-2018",
    set_: SetOption = None,
) -> None:
    """Compile a scenario's kernels before its runs need them, by a short run kept
    nowhere: compiled days where the scenario allows them (which `run` then takes), else
    the general loop. Kernels stay cached for this source of scslab, numba and processor;
    a kernel that only some runs call (per-agent tables, a timeline's change) still
    compiles when first called."""
    import time

    from scslab.engine.loops import TALLY_BEHIND_MIN_RESIDENTS
    from scslab.engine.simulation import many_runs_engine
    from scslab.rundir.run import Simulation

    sc = scenario_with_sets(scenario, set_)
    engine = many_runs_engine(sc)
    # a city large enough to take the paths of larger ones (the tally in the worker thread)
    sim = Simulation(
        sc, residents=TALLY_BEHIND_MIN_RESIDENTS, days=COMPILE_DAYS, agents=False, engine=engine
    )
    what = "compiled days" if engine == "compiled" else "the general loop"
    t0 = time.perf_counter()
    with err_console.status(f"compiling the kernels of {what} for {sc.name}"):
        sim.simulate()
    console.print(
        f"{sc.name}: the kernels of {what} are compiled ({time.perf_counter() - t0:.0f} s)",
        markup=False,
        highlight=False,
    )


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    table = Table("name", "description")
    for name in builtin_names():
        table.add_row(name, load_scenario(name).description)
    console.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="Built-in scenario name.")]) -> None:
    """Print a built-in scenario as YAML, to save, edit and run."""
    try:
        text = builtin_text(name)
    except ScenarioError as err:
        fail(str(err))
    sys.stdout.write(text)


@app.command()
def validate(
    path: Annotated[str, typer.Argument(help="Scenario file or built-in name.")],
    set_: SetOption = None,
) -> None:
    """Check a scenario (with its --set changes) without running it."""
    sc = scenario_with_sets(path, set_)
    console.print(
        f"{path}: valid scenario '{sc.name}'", markup=False, highlight=False, soft_wrap=True
    )


@app.command()
def schema() -> None:
    """Print the scenario reference: every key, its type, bounds, default and meaning
    (Markdown, as in docs/scenario-reference.md)."""
    from scslab.presentation.schemadoc import scenario_reference

    sys.stdout.write(scenario_reference())
