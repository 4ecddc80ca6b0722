"""`scslab report` (HTML reports of runs and of sweeps) and `scslab dashboard` (the
interactive app, served to this machine only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scslab.cli.common import app, console, fail, matched_runs
from scslab.rundir.claim import RunDirError
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError


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
    from scslab.presentation.htmlpage import REPORT_SIGNATURE
    from scslab.presentation.report import expand_run_paths, load_for_report, write_report
    from scslab.presentation.sweepreport import build_sweep_report, is_sweep_folder

    if len(runs) == 1 and is_sweep_folder(runs[0]):  # a sweep: its own report
        from scslab.experiments.spec import ExperimentError
        from scslab.rundir.claim import write_file

        try:
            page = write_file(output, build_sweep_report(runs[0], title), REPORT_SIGNATURE)
        except (ExperimentError, RunDirError) as err:
            fail(str(err))
        console.print(f"report of the sweep {escape(runs[0])}: [bold]{escape(str(page))}[/]")
        return
    try:
        paths = expand_run_paths(matched_runs(runs))
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
    from scslab.presentation.dashserver import serve

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
