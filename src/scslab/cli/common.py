"""What every command of the `scslab` command line shares: the Typer app (`app`) that
the command modules add their commands to, the consoles, the one-line error (`fail`),
the options several commands take (--set, --scheduler) and which run directories a
command's arguments name (paths, glob patterns, folders of runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.text import Text
from typer.core import TyperGroup

from scslab.scenario.changes import parse_changes
from scslab.scenario.loader import load_scenario
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


def expand_targets(targets: list[str]) -> list[str]:
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


def matched_runs(targets: list[str]) -> list[str]:
    """`targets` with their glob patterns expanded: a path named is kept as given (to be
    read, or refused with an error), while of what a pattern matched only readable run
    directories are kept (a damaged run is left out with a warning, as audit does)."""
    from scslab.rundir.manifest import ManifestError, read_manifest, warn_skipped

    out = []
    for path in expand_targets(targets):
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
