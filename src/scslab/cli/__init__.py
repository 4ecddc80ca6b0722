"""The `scslab` command line: run scenarios, list and show them, report, audit, explain
and compare runs, sweep, analyse and calibrate.

`app` is the Typer app and `main` the entry point (`scslab = "scslab.cli:main"`). The
commands are in modules by what they work on: `scenario` (run, scenarios, show,
validate, schema), `pages` (report, dashboard), `analysis` (audit, explain, compare) and
`experiments` (sweep, sensitivity, calibrate); what they share (the app, the consoles,
the one-line error `fail`) is in `common`. Importing this package adds every command to
`app`, in the order `scslab --help` lists them.
"""

from __future__ import annotations

import sys

import click
from rich.text import Text

from scslab.cli.common import app, err_console, one_line

# isort: off
# Each module adds its commands to `app` when imported; `scslab --help` lists them in
# this order.
from scslab.cli import scenario, pages, analysis, experiments  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def _click_errors(name: str) -> tuple[type[Exception], ...]:
    """click's exception class `name`, from click and from the copy newer typers carry."""
    found = [getattr(click.exceptions, name)]
    try:
        from typer._click import exceptions as vendored  # typer >= 0.20 carries its own click
    except ImportError:
        return tuple(found)
    mine = getattr(vendored, name, None)  # some of its copies leave classes out (Abort)
    return (*found, mine) if mine is not None else tuple(found)


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
