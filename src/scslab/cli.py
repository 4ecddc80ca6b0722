"""The `scslab` command line: run scenarios, list and show them."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from scslab.analysis.explain import PICKS
from scslab.rundir.claim import RunDirError
from scslab.rundir.results import Results
from scslab.scenario.bounds import MAX_RESIDENTS, RECORD_BYTES, RunSizeError, check_run_size
from scslab.scenario.changes import parse_changes
from scslab.scenario.loader import builtin_names, builtin_text, load_scenario
from scslab.scenario.population import available_bytes, estimated_bytes, resident_count
from scslab.scenario.safeyaml import ScenarioError
from scslab.scenario.schema import Scenario


def _plain_switches(params: list[Any]) -> None:
    """Show no value type (typer prints `<bool>`) after switches, which take no value.
    (Typed loosely: typer carries its own copy of click, whose classes differ by version.)"""
    for p in params:
        if getattr(p, "is_flag", False):
            p.metavar = ""


class Commands(TyperGroup):
    """scslab's commands, their switches shown without a value type in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's own options (--help)."""
        params = super().get_params(ctx)
        _plain_switches(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A command, its switches shown without a value type."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_switches(cmd.get_params(ctx))
        return cmd


class WideWhenPiped(Console):
    """A Console that, writing to a file or a pipe rather than a terminal, widens the
    page (80 columns, or COLUMNS) for each renderable to the least width at which none
    of its cells is cut: text still wraps where it can, but no figure is shortened to
    fit a terminal that is not there."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Console.print, as wide as the objects need when not writing to a terminal."""
        if self.is_terminal or not objects:
            super().print(*objects, **kwargs)
            return
        wide = self.options.update_width(1 << 16)
        need = max(Measurement.get(self, wide, o).minimum for o in objects)
        page = self._width  # None: found anew at each print (COLUMNS, or 80)
        self.width = max(self.width, need)
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = page


app = typer.Typer(
    name="scslab",
    help="A laboratory for social credit systems: simulate the rules on a synthetic city.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Commands,
)
console = WideWhenPiped()
err_console = WideWhenPiped(stderr=True)


def one_line(text: str) -> str:
    """`text` on one line: line breaks and other control characters written as escapes."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def fail(message: str) -> NoReturn:
    """Print one error line and exit with status 2. The message is printed as given (rich
    markup in it is shown, not applied) on one line."""
    line = Text("error:", style="bold red")
    line.append(" " + one_line(message))
    err_console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


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
        """A bar of `days` days titled `title`; `first_run`: no kernels are cached yet,
        so this run compiles them (20-60 s before the first day is done)."""
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


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Change one scenario key (repeatable), e.g. departments.courts.error_rate=0.05.",
    ),
]


SchedulerOption = Annotated[
    str | None,
    typer.Option(
        help="Address of a running Dask scheduler (tcp://HOST:8786), instead of local workers."
    ),
]


def scenario_with_sets(name_or_path: str, sets: list[str] | None) -> Scenario:
    """Load a scenario and apply the command line's --set changes (fail on bad input)."""
    try:
        sc = load_scenario(name_or_path)
        return sc.with_changes(parse_changes(sets), source="--set") if sets else sc
    except ScenarioError as err:
        fail(str(err))


def check_run_options(
    scale: float | None, residents: int | None, days: int | None, seed: int
) -> None:
    """Refuse (fail) numeric options of `run` out of range (scenario.check_run_size)."""
    try:
        check_run_size(scale, residents, days, seed)
    except RunSizeError as err:
        fail(f"{' and '.join(f'--{k}' for k in err.keys)}: {err.message}")


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")] = "beijing-2018",
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
            help="auto (compiled days when the scenario allows), general or compiled: "
            "the same results either way."
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
) -> None:
    """Simulate a scenario and write its run directory (Parquet tables + manifest)."""
    from scslab.rundir.run import Simulation

    if seeds is not None:
        given = {"--seed": seed is not None, "--report": report, "--overwrite": overwrite}
        given["--engine"] = engine != "auto"
        if any(given.values()):
            flags = ", ".join(k for k, v in given.items() if v)
            fail(
                f"--seeds: {flags} cannot go with it (each run has its own seed; "
                "--resume finishes a folder of seeds; scslab report reads it)"
            )
        check_run_options(scale, residents, days, 1)
        _run_seeds(
            scenario, seeds, (scale, residents, days, agents), out, workers, resume, quiet, set_
        )
        return
    if resume:
        fail("--resume: goes with --seeds (a single run is replaced with --overwrite)")
    seed = 1 if seed is None else seed
    check_run_options(scale, residents, days, seed)
    sc = scenario_with_sets(scenario, set_)
    n = resident_count(sc.population, scale, residents)
    records = sc.records_at_most(n, days or sc.days) * RECORD_BYTES
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
            sc, seed=seed, scale=scale, residents=residents, days=days, agents=agents, engine=engine
        )
    except ValueError as err:
        fail(f"--engine: {err}")
    try:
        if quiet or not sys.stderr.isatty():
            results = sim.run(out=out, overwrite=overwrite)
        else:
            from scslab.kernelcache import has_cached_kernels

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
                shown = RunProgress(progress, title, sim.days, first_run=not has_cached_kernels())
                results = sim.run(
                    out=out, overwrite=overwrite, progress=shown.days, phase=shown.phase
                )
    except RunDirError as err:
        fail(str(err))
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
    if report:
        from scslab.presentation.report import write_report

        try:
            page = write_report(results, out / "report.html")
        except RunDirError as err:
            fail(str(err))
        if not quiet:
            console.print(f"report: [bold]{escape(str(page))}[/]")


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


@app.command("report")
def report_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run directories (paths or glob patterns, or folders of runs) to report, "
            "side by side."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
) -> None:
    """Write one self-contained HTML report (plots inline, opens offline) of one or more runs.

    Runs of the same scenario that differ only in seed are pooled, with intervals across
    seeds; different scenarios are drawn side by side. A sweep folder alone gets the
    sweep's report: figures across runs and against parameters, sensitivity indices.
    """
    from scslab.presentation.report import (
        REPORT_SIGNATURE,
        expand_run_paths,
        load_for_report,
        write_report,
    )
    from scslab.presentation.sweepreport import build_sweep_report, is_sweep_folder

    if len(runs) == 1 and is_sweep_folder(runs[0]):  # a sweep: its own report
        from scslab.experiments.experiment import ExperimentError
        from scslab.rundir.claim import write_file

        try:
            page = write_file(output, build_sweep_report(runs[0], title), REPORT_SIGNATURE)
        except (ExperimentError, RunDirError) as err:
            fail(str(err))
        console.print(f"report of the sweep {escape(runs[0])}: [bold]{escape(str(page))}[/]")
        return
    try:
        paths = expand_run_paths(_matched_runs(runs))
        loaded = [load_for_report(p) for p in paths]
    except (FileNotFoundError, OSError, ValueError) as err:
        fail(str(err))
    try:
        page = write_report(loaded, output, title)
    except RunDirError as err:
        fail(str(err))
    console.print(f"report of {len(loaded)} run(s): [bold]{escape(str(page))}[/]")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    runs: Annotated[
        Path, typer.Option(help="Results folder: past runs to browse, new runs go here.")
    ] = Path("runs"),
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="A scenario YAML file the dashboard may open (repeat for more); it opens "
            "no other file of this machine.",
        ),
    ] = None,
) -> None:
    """Open the interactive dashboard (Solara) on http://127.0.0.1:PORT, this machine only."""
    from scslab.presentation.dashboard import serve

    if not 1 <= port <= 65535:
        fail(f"--port: must be 1..65535 (got {port})")
    for path in scenario or []:
        if not path.is_file():
            fail(f"--scenario {path}: no such file")
        try:
            load_scenario(str(path))
        except ScenarioError as err:
            fail(str(err))
    try:
        code = serve(port=port, runs_dir=runs, scenarios=scenario or [])
    except ImportError as err:
        fail(f"the dashboard needs Solara: pip install 'scslab[dashboard]' ({err})")
    except OSError as err:
        fail(str(err))
    raise typer.Exit(code)


# ------------------------------------------------------------- audit, explain, compare
def _expand_targets(targets: list[str]) -> list[str]:
    """Targets with glob patterns expanded, and a folder of runs (a sweep, seeds made with
    --seeds) standing for the runs directly inside it."""
    import glob

    from scslab.rundir.manifest import MANIFEST, dirs_with_manifest

    out: list[str] = []
    for t in targets:
        hits = sorted(glob.glob(t)) if any(c in t for c in "*?[") else [t]
        if not hits:
            fail(f"{t}: nothing matches")
        for h in hits:
            p = Path(h)
            folder = p.is_dir() and not (p / MANIFEST).is_file()
            inside = [str(q) for q in dirs_with_manifest(p)] if folder else []
            out.extend(x for x in (inside or [h]) if x not in out)
    return out


def _matched_runs(targets: list[str]) -> list[str]:
    """`targets` with their glob patterns expanded: a path named is kept as given (to be
    read, or refused with an error), while of what a pattern matched only readable run
    directories are kept (a damaged run is left out with a warning, as audit does)."""
    from scslab.rundir.manifest import ManifestError, read_manifest, warn_skipped

    out = []
    for path in _expand_targets(targets):
        if path not in targets:
            if not Path(path).is_dir():
                continue  # a file that the pattern matched is not a run
            try:
                read_manifest(path)
            except ManifestError as err:
                warn_skipped(err)
                continue
        out.append(path)
    if not out:
        fail(f"{' '.join(targets)}: no readable run directory matches")
    return out


def _print_json(doc: object) -> None:
    import json

    from scslab.analysis.harm import finite

    sys.stdout.write(json.dumps(finite(doc), indent=2, default=str, allow_nan=False) + "\n")


@app.command()
def audit(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="A scenario (built-in name or YAML file) to lint without running it, or run "
            "directories (paths or glob patterns, several seeds of one scenario) to measure."
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a prohibited practice is found.")
    ] = False,
    counterfactual: Annotated[
        Path | None,
        typer.Option(
            help="A run of the same scenario and seed without online monitoring (chilling)."
        ),
    ] = None,
    run_counterfactual: Annotated[
        bool,
        typer.Option(
            "--run-counterfactual",
            help="When no counterfactual is found, run it (written as RUN.no-monitoring).",
        ),
    ] = False,
    write: Annotated[
        bool, typer.Option("--write/--no-write", help="Write audit.json into each run directory.")
    ] = True,
) -> None:
    """Audit rules against human-rights law (SCENARIO), or measure their harm (RUN...)."""
    from scslab.analysis.harm import RunError, harm_view, measure, summarise, write_audit_json
    from scslab.analysis.lint import lint, lint_summary, lint_table, principles_table

    paths = _expand_targets(targets)
    dirs = [p for p in paths if Path(p).is_dir()]
    if not dirs:
        if len(paths) > 1:
            fail(f"audit: give one scenario at a time (got {len(paths)}: {', '.join(paths)})")
        try:
            report = lint(paths[0])
        except ScenarioError as err:
            fail(str(err))
        if json_out:
            sys.stdout.write(report.to_json() + "\n")
        else:
            console.print(lint_table(report))
            console.print(principles_table(report))
            console.print(lint_summary(report), highlight=False)
            console.print(
                "[dim]A structured reading of the rules, not legal advice. Contexts and "
                "relatedness: scslab.analysis.lint.DOMAIN_CONTEXT and RELATED_CONTEXTS.[/]"
            )
        if strict and report.prohibited:
            raise typer.Exit(1)
        return
    if len(dirs) != len(paths):
        bad = next(p for p in paths if not Path(p).is_dir())
        fail(f"audit: {bad}: mix of scenario and run directories; give one or the other")
    if counterfactual is not None and len(dirs) > 1:
        fail("--counterfactual: give it with a single run directory")
    from scslab.rundir.manifest import ManifestError, read_manifest, warn_skipped

    runs, digests = [], set()
    for d in dirs:
        try:
            manifest = read_manifest(d)
        except ManifestError as err:
            if d in targets:  # named: an error; matched by a pattern: left out
                fail(str(err))
            warn_skipped(err)
            continue
        if manifest.counterfactual is not None:
            continue
        digests.add(manifest.scenario_sha256)
        runs.append(d)
    if not runs:
        fail("audit: only counterfactual runs given; give the runs to measure")
    if len(digests) > 1:
        fail("audit: the runs are of different scenarios; audit one scenario's runs at a time")
    try:
        measures = [measure(d, counterfactual, run_counterfactual) for d in runs]
        report = lint(Path(runs[0]) / "scenario.yaml")
    except (RunError, ScenarioError) as err:
        fail(str(err))
    if write:
        try:
            for d, m in zip(runs, measures, strict=True):
                write_audit_json(d, m, report.to_dict())
        except RunDirError as err:
            fail(str(err))
    if json_out:
        _print_json(
            {
                "lint": report.to_dict(),
                "runs": measures,
                "summary": summarise(measures) if len(measures) > 1 else None,
            }
        )
    else:
        for item in harm_view(measures):
            console.print(item, highlight=False)
        console.print(lint_summary(report), highlight=False)
        if write:
            console.print(f"[dim]audit.json written into {len(runs)} run directory(ies)[/]")
    if strict and report.prohibited:
        raise typer.Exit(1)


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    resident: Annotated[
        int | None,
        typer.Argument(help="Id of a synthetic resident (0 to residents - 1), or use --pick."),
    ] = None,
    pick: Annotated[
        str | None,
        typer.Option(
            metavar="WHAT",
            help="Instead of RESIDENT, the resident with the most "
            + "; ".join(f"{k}: {' then '.join(w for _, w in p.columns)}" for k, p in PICKS.items())
            + " (ties: the lowest id).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """One synthetic resident's history: records, score, listings, sanctions, appeals."""
    from scslab.analysis.explain import explain as explain_resident
    from scslab.analysis.explain import explain_view
    from scslab.analysis.harm import RunError

    if (resident is None) == (pick is None):
        fail("RESIDENT and --pick: give one of them (a resident's id, or --pick wrongful)")
    if pick is not None and pick not in PICKS:
        fail(f"--pick: must be one of {', '.join(PICKS)} (got {pick!r})")
    try:
        e = explain_resident(run_dir, resident, pick=pick)
    except (RunError, ScenarioError) as err:
        fail(str(err))
    if json_out:
        _print_json(e.to_dict())
        return
    for item in explain_view(e):
        console.print(item, highlight=False)


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Runs of scenario A: a path or glob pattern.")],
    run_b: Annotated[str, typer.Argument(help="Runs of scenario B: a path or glob pattern.")],
    a: Annotated[list[str] | None, typer.Option("--a", help="More runs of A (repeatable).")] = None,
    b: Annotated[list[str] | None, typer.Option("--b", help="More runs of B (repeatable).")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    run_counterfactual: Annotated[
        bool,
        typer.Option(
            "--run-counterfactual",
            help="Run missing counterfactuals without online monitoring (for chilling).",
        ),
    ] = False,
) -> None:
    """Paired differences (B - A) of the headline figures, by seed, with 95% intervals."""
    from scslab.analysis.compare import compare as compare_runs
    from scslab.analysis.compare import compare_table
    from scslab.analysis.harm import RunError

    try:
        comp = compare_runs([run_a, *(a or [])], [run_b, *(b or [])], run_counterfactual)
    except (RunError, ScenarioError) as err:
        fail(str(err))
    if json_out:
        sys.stdout.write(comp.to_json() + "\n")
        return
    console.print(compare_table(comp))
    for note in comp.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


# ------------------------------------------------------------- many runs
def _run_seeds(
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

    from scslab.experiments.experiment import (
        ExperimentError,
        check_experiment,
        parse_seeds,
        prepare,
        seeds_experiment,
    )

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

    from scslab.experiments.experiment import run_sweep

    exp = sweep.experiment
    todo = sweep.missing()
    n = resident_count(sweep.scenario.population, exp.scale, exp.residents)
    days = exp.days or sweep.scenario.days
    records = sweep.scenario.records_at_most(n, days) * RECORD_BYTES
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
    from scslab.experiments.experiment import ExperimentError, load_experiment, prepare

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
    from scslab.experiments.experiment import ExperimentError
    from scslab.experiments.sensitivity import analyse
    from scslab.experiments.sensitivity import plot as plot_indices

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
    from scslab.experiments.experiment import ExperimentError

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


def _click_errors(name: str) -> tuple[type[Exception], ...]:
    """click's exception class `name`, from click and from the copy newer typers carry."""
    found = [getattr(click.exceptions, name)]
    try:
        from typer._click import exceptions as vendored  # typer >= 0.20 carries its own click
    except ImportError:
        return tuple(found)
    return (*found, getattr(vendored, name))


def main() -> None:
    """Entry point. A malformed command line (unknown option, a value of the wrong type)
    gets one error line and exit status 2, like every other bad input."""
    try:
        code = app(standalone_mode=False)
    except _click_errors("NoArgsIsHelpError"):
        sys.exit(2)  # the help is printed already
    except _click_errors("UsageError") as err:
        ctx = err.ctx  # type: ignore[attr-defined]
        command = ctx.command_path if ctx is not None else "scslab"
        message = err.format_message()  # type: ignore[attr-defined]
        line = Text("error:", style="bold red")
        line.append(f" {command}: {one_line(message)} (see {command} --help)")
        err_console.print(line, highlight=False, soft_wrap=True)
        sys.exit(2)
    except _click_errors("Abort"):
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
