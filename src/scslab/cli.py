"""The `scslab` command line: run scenarios, list and show them."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scslab.population import available_bytes, estimated_bytes, resident_count
from scslab.results import Results
from scslab.scenario import ScenarioError, builtin_names, builtin_text, load_scenario

app = typer.Typer(
    name="scslab",
    help="A laboratory for social credit systems: simulate the rules on a synthetic city.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print one error line and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{name}-{stamp}"
    k = 1
    while out.exists():
        k += 1
        out = Path("runs") / f"{name}-{stamp}-{k}"
    return out


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
    for col in city.columns:
        if col.startswith(("blocked:", "enterprise.blocked:")):
            dom = col.split(":", 1)[1]
            who = "firms " if col.startswith("enterprise.") else ""
            wcol = col.replace("blocked:", "wrongful_blocked:")
            row(f"{who}blocked attempts: {dom}", total[col], total.get(wcol))
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


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")] = "beijing-2018",
    scale: Annotated[
        float | None, typer.Option(help="Share of the whole city (1 = 21.5M residents).")
    ] = None,
    residents: Annotated[int | None, typer.Option(help="Absolute number of residents.")] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate (default: scenario).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/NAME-TIME).")
    ] = None,
    agents: Annotated[
        bool | None,
        typer.Option("--agents/--no-agents", help="Write per-agent tables (default: up to 1M)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write report.html into the run directory.")
    ] = False,
) -> None:
    """Simulate a scenario and write its run directory (Parquet tables + manifest)."""
    from scslab.engine import Simulation

    if scale is not None and scale <= 0:
        fail(f"--scale: must be > 0 (got {scale})")
    if residents is not None and residents < 1:
        fail(f"--residents: must be >= 1 (got {residents})")
    if days is not None and days < 1:
        fail(f"--days: must be >= 1 (got {days})")
    try:
        sc = load_scenario(scenario)
    except ScenarioError as err:
        fail(str(err))
    n = resident_count(sc.population, scale, residents)
    need, have = estimated_bytes(sc.population, n), available_bytes()
    if need > have:
        flag = "--residents" if residents is not None else "--scale"
        fail(
            f"{flag}: {n:,} residents need about {need / 2**30:.1f} GiB of memory; "
            f"{have / 2**30:.1f} GiB is available"
        )
    out = out or _default_out(sc.name)
    sim = Simulation(sc, seed=seed, scale=scale, residents=residents, days=days, agents=agents)
    if quiet or not sys.stderr.isatty():
        results = sim.run(out=out)
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
            task = progress.add_task(f"{sc.name}: {n:,} residents", total=sim.days)
            results = sim.run(out=out, progress=lambda d, _: progress.update(task, completed=d))
    if not quiet:
        console.print(summary_table(results))
        t = results.manifest["timings"]
        console.print(
            f"build {t['build_population_s']:.1f} s, simulate {t['simulate_s']:.1f} s, "
            f"write {t['write_s']:.1f} s; results in [bold]{out}[/]"
        )
    if report:
        from scslab.report import write_report

        page = write_report(results, out / "report.html")
        if not quiet:
            console.print(f"report: [bold]{page}[/]")


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
def validate(path: Annotated[str, typer.Argument(help="Scenario file or built-in name.")]) -> None:
    """Check a scenario without running it."""
    try:
        sc = load_scenario(path)
    except ScenarioError as err:
        fail(str(err))
    console.print(f"{path}: valid scenario '{sc.name}'")


@app.command("report")
def report_cmd(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Run directories (or folders of runs) to report, side by side."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
) -> None:
    """Write one self-contained HTML report (plots inline, opens offline) of one or more runs.

    Runs of the same scenario that differ only in seed are pooled, with intervals across
    seeds; different scenarios are drawn side by side.
    """
    from scslab.report import expand_run_paths, load_for_report, write_report

    try:
        paths = expand_run_paths(runs)
        loaded = [load_for_report(p) for p in paths]
    except (FileNotFoundError, OSError, ValueError) as err:
        fail(str(err))
    page = write_report(loaded, output, title)
    console.print(f"report of {len(loaded)} run(s): [bold]{page}[/]")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    runs: Annotated[
        Path, typer.Option(help="Results folder: past runs to browse, new runs go here.")
    ] = Path("runs"),
) -> None:
    """Open the interactive dashboard (Solara) on http://127.0.0.1:PORT, this machine only."""
    from scslab.dashboard import serve

    if not 1 <= port <= 65535:
        fail(f"--port: must be 1..65535 (got {port})")
    try:
        code = serve(port=port, runs_dir=runs)
    except ImportError as err:
        fail(f"the dashboard needs Solara: pip install 'scslab[dashboard]' ({err})")
    raise typer.Exit(code)


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
