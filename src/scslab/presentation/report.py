"""The HTML report: one self-contained file (inline SVG plots, inline CSS, no scripts).

`write_report([run, ...], "report.html")` draws every figure of `scslab.presentation.plots` for one
or several runs and writes a page that opens offline. Runs of the same scenario, size
and length that differ only in seed form one variant (intervals across seeds from 3
seeds on; see `scslab.analysis.stats` for every interval and when there is none); different
variants are drawn side by side.

Here: reading what a report needs from run directories, and the page, section by
section; the sections with tables (scenario, key figures, disparate impact, audit
findings, runs) are in `scslab.presentation.reportsections`, the HTML pieces in
`scslab.presentation.htmlpage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from scslab import __version__
from scslab.analysis import stats
from scslab.presentation import plots
from scslab.presentation.htmlpage import CSS, REPORT_SIGNATURE, esc, figure_html, how_html
from scslab.presentation.reportsections import (
    SECTIONS,
    audit_section,
    bands_and_markers,
    disparate_section,
    key_figures_section,
    runs_section,
    scenario_section,
    section,
)
from scslab.presentation.variants import PER, as_list, city, family, variants
from scslab.rundir.claim import write_file
from scslab.rundir.manifest import check_tables, read_manifest, run_dirs
from scslab.rundir.results import Results

REPORT_TABLES = ("metrics", "score_histogram")


def load_for_report(path: str | Path) -> Results:
    """Read what a report needs from a run directory: manifest, scenario, metrics, histogram.

    Per-agent tables (residents, records) are not read, so large runs load quickly. The
    manifest is checked as `load_run` checks it (ManifestError, one line, when it fails).
    """
    path = Path(path)
    manifest = read_manifest(path)
    tables = {
        name: pq.read_table(path / f"{name}.parquet").to_pandas()
        for name in REPORT_TABLES
        if (path / f"{name}.parquet").is_file()
    }
    check_tables(path, manifest, tables)
    return Results(tables, manifest.to_dict(), (path / "scenario.yaml").read_text("utf-8"), path)


def expand_run_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories named, or the run directories directly inside a named folder
    (corrupt ones inside a folder are skipped with a warning on stderr)."""
    return run_dirs(paths)


def build_report(runs: Results | Sequence[Results], title: str | None = None) -> str:
    """The report of one or several runs as a self-contained HTML page (a string)."""
    rl = as_list(runs)
    if not rl:
        raise ValueError("runs: give at least one run")
    vs = variants(rl)
    title = title or "scslab report: " + " vs ".join(v.label for v in vs)
    n_res = ", ".join(f"{v.runs[0].manifest.get('residents', 0):,}" for v in vs)
    has_ent = any(family(city(r), "enterprise.listed") for r in rl)
    sections = [
        scenario_section(vs),
        key_figures_section(rl, vs),
        section(
            "lists",
            how_html(
                "How many residents (and market entities) are on each blacklist and red "
                "list, day by day, per 100,000. Lines that keep rising mean people enter "
                "faster than they leave. Dashed lines count those listed only because of an "
                "erroneous record." + bands_and_markers(vs)
            )
            + figure_html(lambda: plots.list_sizes(rl, "resident"), "lists-residents")
            + (
                figure_html(lambda: plots.list_sizes(rl, "enterprise"), "lists-enterprises")
                if has_ent
                else ""
            ),
        ),
        section(
            "scores",
            how_html(
                "Left: how residents' points are spread on the last day (everyone starts at "
                "the base score; records move them). Dotted lines mark where each grade "
                "begins. Right: how many residents hold each grade, day by day."
                + bands_and_markers(vs)
            )
            + figure_html(lambda: plots.score_distribution(rl), "scores"),
        ),
        section(
            "blocked",
            how_html(
                "Attempts to fly, take a train, book a hotel, get a loan, register a "
                "business and so on that a measure blocked, per 100,000 over the whole run. "
                "The hatched end of a bar, and the red percentage, are the attempts blocked "
                "because of an erroneous record."
            )
            + figure_html(lambda: plots.blocked_by_domain(rl), "blocked"),
        ),
        section(
            "records",
            how_html(
                "Records each department wrote about residents and market entities, per "
                "100,000 over the run (log scale). The hatched end and the red percentage "
                "are erroneous records: about the wrong person or wrong facts."
            )
            + figure_html(lambda: plots.records_by_department(rl), "records"),
        ),
        section(
            "wrongful",
            how_html(
                "Residents on a blacklist although every record that put them there is "
                "erroneous, and the share of blocked attempts that such wrong records caused "
                "(with how many residents those attempts came from: a few residents blocked "
                "many times are not many residents wronged)." + bands_and_markers(vs)
            )
            + figure_html(lambda: plots.wrongful_sanctions(rl), "wrongful"),
        ),
        disparate_section(rl, vs),
        section(
            "green-channel",
            how_html(
                "Rewards: shorter waits and priority in medical care and education for high "
                "grades and red lists. Right: who gets them, by income decile; error bars "
                f"are 95% t intervals across seeds, drawn from {stats.MIN_SEEDS} seeds on "
                "(uses are not counted per resident, so fewer seeds give no interval)."
            )
            + figure_html(lambda: plots.green_channel(rl), "green-channel"),
        ),
        section(
            "posting",
            how_html(
                "Online posts per 1,000 residents a day. A penalty for a post makes the "
                "penalised resident and their contacts post less (the chilling effect)."
                + bands_and_markers(vs)
            )
            + figure_html(lambda: plots.posting(rl), "posting"),
        ),
        audit_section(rl),
        runs_section(rl, vs),
    ]
    nav = "\n".join(f'<a href="#{sid}">{esc(h)}</a>' for sid, h in SECTIONS)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"{REPORT_SIGNATURE} {__version__}'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>"
        f"<p>{len(rl)} run{'s' if len(rl) > 1 else ''} of a synthetic city ({n_res} residents). "
        "Synthetic agents only: no real person is scored. Rates are per "
        f"{PER:,} residents; durations in days; scores in points.</p></header>"
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        f"<footer>Made by scslab {__version__} on {stamp}.</footer></body></html>\n"
    )


def write_report(
    runs: Results | Sequence[Results], out: str | Path, title: str | None = None
) -> Path:
    """Write the HTML report of one or several runs to `out` (whole or not at all);
    returns the path. An existing file is replaced only if it is a scslab report
    (RunDirError otherwise)."""
    return write_file(out, build_report(runs, title), REPORT_SIGNATURE)


def report(results: Results, out: str | Path | None = None) -> Path:
    """Write one run's HTML report (default: report.html in its run directory); returns
    the path. `scslab.presentation.report`."""
    if out is None:
        if results.path is None:
            raise ValueError("out: this run has no directory; give a file name")
        out = results.path / "report.html"
    return write_report(results, out)
