"""`scslab audit` (rules against human-rights law, harm measured in runs), `scslab
explain` (one synthetic resident's history), `scslab compare` (paired differences
between two scenarios' runs) and `scslab figures` (a run's figures by calendar period)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from scslab.analysis.explain import PICKS
from scslab.cli.common import app, console, expand_targets, fail
from scslab.rundir.claim import RunDirError
from scslab.scenario.safeyaml import ScenarioError


def _print_json(doc: object) -> None:
    import json

    from scslab.analysis.harmsummary import finite

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
        typer.Option(help="A run of the same scenario and seed without monitoring (chilling)."),
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
    from scslab.analysis.findings import lint_summary, lint_table, principles_table
    from scslab.analysis.harm import RunError, measure
    from scslab.analysis.harmsummary import harm_view, summarise, write_audit_json
    from scslab.analysis.lint import lint

    paths = expand_targets(targets)
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
                "relatedness: scslab.analysis.principles.DOMAIN_CONTEXT and RELATED_CONTEXTS.[/]"
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
            help="Run missing counterfactuals without monitoring (for chilling).",
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


@app.command("figures")
def figures_cmd(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    figure: Annotated[
        list[str] | None,
        typer.Option(
            "--figure",
            help="A figure of the daily metrics (repeatable; default: for every list, those "
            "on it, ever on it, put on and taken off it).",
        ),
    ] = None,
    from_start: Annotated[
        list[str] | None,
        typer.Option(
            "--from-start", help="A figure summed from day 0 to each period's end (repeatable)."
        ),
    ] = None,
    by: Annotated[str, typer.Option(help="year, quarter or month.")] = "year",
    csv: Annotated[Path | None, typer.Option(help="Write the table to this CSV file.")] = None,
) -> None:
    """A run's figures per 100,000 residents by calendar period: stocks at each period's
    end, flows over it (or from the start: cumulative)."""
    from rich.table import Table

    from scslab.analysis.figures import check_figures, figures_by_period, list_figures
    from scslab.rundir.manifest import RunError
    from scslab.rundir.results import load_run
    from scslab.scenario.loader import parse_scenario

    try:
        results = load_run(run)
        scenario = parse_scenario(results.scenario_yaml, str(run / "scenario.yaml"))
    except (RunError, RunDirError, ScenarioError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{run}: {err}")
    cumulative = list(from_start or [])
    names = [*(figure or []), *(n for n in cumulative if n not in (figure or []))]
    if not names:
        for list_name in scenario.lists:
            more, ever = list_figures(list_name)
            names += more
            cumulative += ever
    if not names:
        fail(f"{run}: the scenario has no lists; name figures with --figure")
    try:
        check_figures(names, scenario)
        table = figures_by_period(results, names, by, cumulative)
    except ValueError as err:
        fail(str(err))
    if csv is not None:
        table.to_csv(csv, index=False)
    out = Table(title=f"{scenario.name}: per 100,000 residents, by {by}")
    columns = [by, "date", *names]
    for c in columns:
        label = f"{c} (from start)" if c in cumulative else c
        out.add_column(label, justify="left" if c in (by, "date") else "right")
    for _, row in table.iterrows():
        cells = [str(row[by]), str(row["date"])]
        cells += ["" if row[n] is None or row[n] != row[n] else f"{row[n]:,.1f}" for n in names]
        out.add_row(*cells)
    console.print(out)
