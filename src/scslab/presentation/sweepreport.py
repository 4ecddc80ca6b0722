"""The HTML report of a sweep folder: the experiment, each figure's spread across runs,
the figures against each parameter, and the sensitivity indices where the design has them.

One self-contained page, like the report of runs (inline SVG, no scripts), written by
`scslab report SWEEP_FOLDER`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from scslab import __version__
from scslab.experiments.experiment import Experiment
from scslab.experiments.spec import ExperimentError
from scslab.presentation.htmlpage import (
    CSS,
    REPORT_SIGNATURE,
    esc,
    figure_html,
    how_html,
    table_html,
)

HEADINGS = {
    "experiment": "The experiment",
    "figures": "Figures across runs",
    "parameters": "Figures against parameters",
    "sensitivity": "Sensitivity",
    "runs": "Runs",
}


def _section(sid: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(HEADINGS[sid])}</h2>{body}</section>'


def is_sweep_folder(path: str | Path) -> bool:
    """Whether `path` is a folder that `scslab sweep` (or `run --seeds`) wrote."""
    p = Path(path)
    return (p / "sweep.json").is_file() and (p / "experiment.yaml").is_file()


def _experiment_table(exp: Experiment) -> str:
    rows = []
    for key, p in exp.parameters.items():
        if p.levels is not None:
            values = ", ".join(str(v) for v in p.levels)
        else:
            assert p.range is not None
            values = f"{p.range[0]:g} to {p.range[1]:g}" + (" (log scale)" if p.log else "")
        rows.append({"parameter": key, "values": values})
    if not rows:
        return "<p>No parameter varies: the base scenario over seeds.</p>"
    return table_html(pd.DataFrame(rows))


def spread(table: pd.DataFrame, figures: list[str]) -> pd.DataFrame:
    """Each figure across the sweep's finished runs: runs with a value, median, 10% and
    90% quantiles, min and max (a figure undefined in a run, too few events, is left
    out of its row and counted)."""
    ok = table[table["status"] == "ok"]
    rows = []
    for f in figures:
        values = ok[f].dropna().to_numpy(float)
        q = np.quantile(values, [0.1, 0.5, 0.9]) if len(values) else [np.nan] * 3
        rows.append(
            {
                "figure": f,
                "runs": len(values),
                "undefined": len(ok) - len(values),
                "median": q[1],
                "10%": q[0],
                "90%": q[2],
                "min": values.min() if len(values) else np.nan,
                "max": values.max() if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _sensitivity_section(folder: Path, exp: Experiment) -> str:
    if exp.design not in ("sobol", "morris"):
        return _section(
            "sensitivity",
            how_html(f"A {exp.design} design gives no sensitivity indices (sobol or morris do)."),
        )
    from scslab.experiments.sensitivity import analyse
    from scslab.experiments.sensitivity import plot as plot_indices

    try:
        result = analyse(folder)
    except ExperimentError as err:
        return _section("sensitivity", how_html(f"No indices yet: {err}"))
    what = (
        "First-order (S1) and total (ST) Sobol indices: the share of a figure's variance "
        "that a parameter explains alone, and with its interactions."
        if exp.design == "sobol"
        else "Morris mu*: the mean absolute change of the figure when the parameter moves "
        "one step, in the figure's unit; sigma: how much that change varies (interactions)."
    )
    notes = "".join(f"<p>{esc(n)}</p>" for n in result.notes)
    body = (
        how_html(what + " Bars are 95% bootstrap intervals over the design's points.")
        + figure_html(lambda: plot_indices(result), "sensitivity")
        + (table_html(result.indices) if len(result.indices) else "")
        + notes
    )
    return _section("sensitivity", body)


def build_sweep_report(folder: str | Path, title: str | None = None) -> str:
    """The report of a sweep folder as a self-contained HTML page (a string)."""
    folder = Path(folder)
    try:
        exp = Experiment.model_validate(
            yaml.safe_load((folder / "experiment.yaml").read_text("utf-8"))
        )
        table = pd.read_parquet(folder / "sweep.parquet")
    except (OSError, ValueError) as err:
        raise ExperimentError(f"{folder}: not a readable scslab sweep ({err})") from None
    ok = int((table["status"] == "ok").sum())
    title = title or f"scslab sweep: {exp.name}"
    size = f"{exp.residents:,} residents" if exp.residents else f"scale {exp.scale or 'default'}"
    failed = table[table["status"] != "ok"]
    sections = [
        _section(
            "experiment",
            how_html(
                f"Base scenario {exp.base}, design {exp.design}, "
                f"{table['point'].nunique()} points x {len(exp.seeds)} seeds (the same seeds "
                f"at every point), {size}, {exp.days or 'the scenario’s'} days."
            )
            + _experiment_table(exp),
        ),
        _section(
            "figures",
            how_html(
                "Each figure across the finished runs: median and the 10-90% range of the "
                "runs (not an interval of a mean). 'undefined' counts runs with too few "
                "events for the figure."
            )
            + table_html(spread(table, exp.outputs)),
        ),
        _section(
            "parameters",
            how_html("Each figure against each parameter: one dot per run.")
            + figure_html(lambda: exp.plot(table), "against-parameters"),
        ),
        _sensitivity_section(folder, exp),
        _section(
            "runs",
            how_html(f"{ok} runs finished, {len(failed)} failed.")
            + (table_html(failed[["run", "error"]]) if len(failed) else ""),
        ),
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{sid}">{esc(h)}</a>' for sid, h in HEADINGS.items())
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"{REPORT_SIGNATURE} {__version__}'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{len(table)} runs of a synthetic city. Synthetic "
        "agents only: no real person is scored.</p></header>"
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        f"<footer>Made by scslab {__version__} on {stamp}.</footer></body></html>\n"
    )
