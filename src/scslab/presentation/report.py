"""The HTML report: one self-contained file (inline SVG plots, inline CSS, no scripts).

`write_report([run, ...], "report.html")` draws every figure of `scslab.presentation.plots` for one
or several runs and writes a page that opens offline. Runs of the same scenario, size
and length that differ only in seed form one variant (intervals across seeds from 3
seeds on; see `scslab.analysis.stats` for every interval and when there is none); different
variants are drawn side by side.

The findings of the rights lint of a run's scenario, where available, get their own
section ("Audit findings"): read from the file `audit.json` that `scslab audit RUN` writes
into a run directory (`{"lint": {"findings": [...]}, "harm": ...}`), or a file there
holding a list of findings or `{"findings": [...]}`, each finding a flat mapping (keys
such as severity, rule, title, finding, detail are shown first). Without one, the
section says how to get findings.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from scslab import __version__
from scslab.analysis import figures, stats
from scslab.presentation import plots
from scslab.presentation.plots import PER, Variant
from scslab.rundir.claim import write_file
from scslab.rundir.manifest import check_tables, read_manifest, run_dirs
from scslab.rundir.results import Results

REPORT_SIGNATURE = "<meta name='generator' content='scslab"  # marks a file as ours

log = logging.getLogger(__name__)

SECTIONS: tuple[tuple[str, str], ...] = (
    ("scenario", "The scenario in short"),
    ("key-figures", "Key figures"),
    ("lists", "Lists over time"),
    ("scores", "Scores and grades"),
    ("blocked", "Blocked attempts by domain"),
    ("records", "Records by department"),
    ("wrongful", "Wrongful sanctions"),
    ("disparate-impact", "Disparate impact by group"),
    ("green-channel", "Green channel"),
    ("posting", "Online posting"),
    ("audit", "Audit findings"),
    ("runs", "Runs in this report"),
)
"""(id, heading) of every section, in page order."""

REPORT_TABLES = ("metrics", "score_histogram")
FINDING_KEYS = ("severity", "id", "rule", "title", "finding", "detail", "evidence")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
header{background:#263238;color:#fff;padding:1.2em 2em}
header h1{margin:0 0 .2em;font-size:1.6em}
header p{margin:.2em 0;color:#cfd8dc}
nav{background:#eceff1;padding:.5em 2em;font-size:.9em;position:sticky;top:0;z-index:1}
nav a{margin-right:1em;color:#37474f;text-decoration:none;white-space:nowrap}
main{max-width:1150px;margin:0 auto;padding:0 1.5em 3em}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:.6em 1.4em 1em;
margin:1.2em 0}
h2{border-bottom:2px solid #eceff1;padding-bottom:.2em}
.how{color:#455a64;max-width:60em}
figure{margin:.8em 0}
figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border-bottom:1px solid #e0e0e0;padding:.25em .7em;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f5f5f5}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:.5em 1em}
.bad{color:#c62828;font-weight:600}
details summary{cursor:pointer;color:#37474f}
footer{color:#78909c;font-size:.85em;text-align:center;margin:2em}
"""


# --------------------------------------------------------------------------- loading
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


def load_lint_findings(results: Results) -> list[dict[str, Any]] | None:
    """The rights lint's findings in a run directory's audit.json (`scslab audit RUN`
    writes it), or None when there is none."""
    if results.path is None or not (results.path / "audit.json").is_file():
        return None
    data = json.loads((results.path / "audit.json").read_text("utf-8"))
    if isinstance(data, dict) and isinstance(data.get("lint"), dict):
        data = data["lint"]  # `scslab audit RUN` writes {"lint": {...}, "harm": {...}}
    findings = data.get("findings", []) if isinstance(data, dict) else data
    return [f for f in findings if isinstance(f, dict)]


# --------------------------------------------------------------------------- HTML bits
def esc(x: object) -> str:
    """Text escaped for HTML."""
    return html.escape(str(x))


def svg(fig: Figure, key: str) -> str:
    """A figure as inline SVG markup (text drawn as paths: no fonts needed to view it).

    `key` salts the SVG's internal ids so that several figures on one page never clash,
    and keeps the output deterministic.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": f"scslab-{key}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{esc(key)}"', 1)


def figure_html(draw: Callable[[], Figure], key: str, caption: str = "") -> str:
    """Draw one figure as a <figure>; a drawing error becomes a visible note, not a crash."""
    try:
        fig = draw()
    except Exception as err:
        log.exception("figure %s failed", key)
        return f'<p class="note">This figure could not be drawn: {esc(err)}</p>'
    cap = f"<figcaption class='how'>{caption}</figcaption>" if caption else ""
    return f'<figure id="fig-{esc(key)}">{svg(fig, key)}{cap}</figure>'


def _num(x: float, digits: int = 0) -> str:
    if x != x:  # NaN
        return "–"
    if x in (float("inf"), float("-inf")):
        return "∞"
    return f"{x:,.{digits}f}"


def table_html(frame: pd.DataFrame, num_digits: dict[str, int] | None = None) -> str:
    """A DataFrame as a plain HTML table; numeric columns right-aligned and formatted."""
    num_digits = num_digits or {}
    head = "".join(
        f'<th class="{"num" if pd.api.types.is_numeric_dtype(frame[c]) else ""}">{esc(c)}</th>'
        for c in frame.columns
    )
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            if isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(f'<td class="num">{_num(float(v), num_digits.get(c, 0))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _section(sid: str, body: str) -> str:
    heading = dict(SECTIONS)[sid]
    return f'<section id="{sid}"><h2>{esc(heading)}</h2>{body}</section>'


def how_html(text: str) -> str:
    return f'<p class="how">{text}</p>'


# ------------------------------------------------------------------------- sections
def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def scenario_summary(results: Results) -> str:
    """The scenario of a run in short: departments, lists and what they block, rewards."""
    sc = plots.scenario_dict(results)
    parts = [f"<p><b>{esc(sc.get('name', '?'))}</b>: {esc(sc.get('description', ''))}</p>"]
    layers = []
    if sc.get("lists"):
        layers.append(f"{len(sc['lists'])} lists")
    if sc.get("scoring"):
        s = sc["scoring"]
        grades = ", ".join(f"{g['name']} ≥ {g['min_score']:g}" for g in s.get("grades", []))
        layers.append(f"a points score for residents (base {s.get('base', 0):g} points; {grades})")
    if sc.get("corporate_scoring"):
        layers.append("a points score for market entities")
    parts.append(
        f"<p>Layers: {esc('; '.join(layers) or 'none')}. {len(sc.get('measures', {}))} measures "
        f"of joint punishment, {len(sc.get('rewards', {}))} rewards.</p>"
    )
    depts = [
        {
            "department": name,
            "records": ", ".join((d.get("records") or {}).keys()),
            "coverage": d.get("coverage", 1.0),
            "error rate": d.get("error_rate", 0.0),
            "delay (days)": d.get("delay_days", 0),
        }
        for name, d in (sc.get("departments") or {}).items()
        if d.get("records")
    ]
    if depts:
        parts.append(
            "<p>Departments that write records (coverage: share of behaviour seen; error "
            "rate: share of records about the wrong person or wrong facts):</p>"
        )
        parts.append(table_html(pd.DataFrame(depts), {"coverage": 2, "error rate": 3}))
    measures = sc.get("measures") or {}
    rows = []
    for name, rule in (sc.get("lists") or {}).items():
        trig = rule.get("trigger", {})
        trigger = (
            "records: " + ", ".join(trig["records"])
            if trig.get("records")
            else "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in trig.items() if v)
        )
        domains = sorted(
            {d for m in measures.values() if m.get("list") == name for d in m["domains"]}
        )
        rows.append(
            {
                "list": name,
                "kind": rule.get("kind"),
                "about": rule.get("subject", "resident"),
                "trigger": trigger,
                "days on the list": rule.get("duration_days") or "while the rule holds",
                "blocks or slows": ", ".join(domains) or "–",
            }
        )
    if rows:
        parts.append("<p>Lists, what puts a subject on them, and where they are enforced:</p>")
        parts.append(table_html(pd.DataFrame(rows)))
    return "".join(parts)


def _setting(value: Any) -> str:
    """A scenario setting as plain text for a table cell (table_html escapes it once):
    a list as its items joined by commas, a mapping as key: value pairs."""
    if isinstance(value, list | tuple):
        return ", ".join(_setting(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_setting(v)}" for k, v in value.items()) or "(none)"
    return str(value)


def _scenario_section(vs: list[Variant]) -> str:
    body = []
    for k, v in enumerate(vs):
        inner = scenario_summary(v.runs[0])
        if len(vs) == 1:
            body.append(inner)
        else:
            opened = " open" if k == 0 else ""
            body.append(f"<details{opened}><summary>{esc(v.label)}</summary>{inner}</details>")
    if len(vs) > 1:
        flats = [_flatten(plots.scenario_dict(v.runs[0])) for v in vs]
        keys = sorted(set().union(*flats))
        diff = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
        if diff:
            frame = pd.DataFrame(
                {"setting": diff}
                | {
                    v.label: [_setting(f.get(k, "–")) for k in diff]
                    for v, f in zip(vs, flats, strict=True)
                }
            )
            body.append("<p>Where the scenarios differ:</p>" + table_html(frame.head(60)))
    return _section("scenario", "".join(body))


def key_figures(vs: list[Variant]) -> pd.DataFrame:
    """Headline figures per variant, formatted as text for display: means over seeds;
    rates per 100,000 residents come with their 95% interval across seeds from
    `stats.MIN_SEEDS` seeds on (`stats.seed_interval`, as `scslab audit` and
    `scslab compare` give it). Shares in percent.
    """
    columns: dict[str, list[str]] = {}
    labels: list[str] = []
    for v in vs:
        total = partial(_family_by_seed, v.runs)
        black = figures.daily_by_seed(v.runs, "blacklisted").iloc[-1].tolist()
        wrong = figures.daily_by_seed(v.runs, "wrongfully_blacklisted").iloc[-1].tolist()
        blocked, wblocked = total("blocked"), total("wrongful_blocked")
        rec_t, rec_e = _mean(total("records_true", False)), _mean(total("records_erroneous", False))
        m = v.runs[0].manifest
        rows = [
            ("residents simulated", f"{m.get('residents', 0):,}"),
            ("days", f"{m.get('days', 0):,}"),
            ("runs (seeds)", f"{len(v.runs)} ({', '.join(map(str, v.seeds))})"),
            ("on a blacklist on the last day, per 100,000", rate_cell(black)),
            ("… of them only by erroneous records, per 100,000", rate_cell(wrong)),
            ("blocked attempts over the run, per 100,000", rate_cell(blocked)),
            ("… blocked by an erroneous record", _pct(_mean(wblocked), _mean(blocked))),
            ("records written about residents", f"{rec_t + rec_e:,.0f}"),
            ("… erroneous", _pct(rec_e, rec_t + rec_e)),
            ("green-channel uses over the run, per 100,000", rate_cell(total("green_channel"))),
        ]
        labels = [label for label, _ in rows]
        columns[v.label] = [value for _, value in rows]
    return pd.DataFrame({"figure": labels} | columns)


def _family_by_seed(runs: list[Results], prefix: str, rate: bool = True) -> list[float]:
    """Per seed: the city metrics `prefix:<item>` summed over items and all days (per
    100,000 residents if rate)."""
    items = plots.family(figures.city_frame(runs[0]), prefix)
    per_item = [figures.totals_by_seed(runs, c, rate) for c in items]
    return [sum(seed) for seed in zip(*per_item, strict=True)] or [0.0] * len(runs)


def rate_cell(per_seed: list[float]) -> str:
    """A rate's per-seed values as the report shows them: the mean, and from
    `stats.MIN_SEEDS` seeds on its 95% interval across seeds (`stats.seed_interval`),
    '12.3 [8.1, 16.5]'."""
    c = stats.seed_interval(per_seed)
    if c["mean"] is None:
        return "–"
    if c["lo"] is None:
        return f"{c['mean']:,.1f}"
    return f"{c['mean']:,.1f} [{c['lo']:,.1f}, {c['hi']:,.1f}]"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _bands_and_markers(vs: list[Variant]) -> str:
    """What the shaded bands are and how coinciding lines of variants are told apart."""
    note = plots.band_note(vs)
    text = f" {note[0].upper()}{note[1:]}." if note else ""
    if len(vs) > 1:
        text += (
            " Each variant has its own marker, placed apart from the others', so that "
            "where two variants' lines coincide both stay visible."
        )
    return text


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _key_figures_section(runs: list[Results], vs: list[Variant]) -> str:
    kf = key_figures(vs)
    ratios = plots.disparity_ratios(runs)
    body = [
        how_html(
            "Rates are per 100,000 residents, so that runs of different sizes compare and "
            "a small run stands for the whole city. With several seeds, figures are means; "
            f"from {stats.MIN_SEEDS} seeds on, a rate is followed by its 95% t interval "
            "across seeds, the one `scslab audit` and `scslab compare` give."
        ),
        table_html(kf),
    ]
    if not ratios.empty:
        cells = ratios.assign(
            shown=[
                f"{x:,.2f}" if x == x else str(why)
                for x, why in zip(ratios["ratio"], ratios["reason"], strict=True)
            ]
        )
        pivot = cells.pivot_table(
            index=["measure", "comparison"],
            columns="variant",
            values="shown",
            aggfunc="first",
            sort=False,
        ).reset_index()
        pivot.columns.name = None
        body.append(
            how_html(
                "Disparity ratios: how many times the first group's rate is the second's "
                "(1 = equal; above 1 the first group is hit more often). Where a group has "
                f"fewer than {stats.MIN_EVENTS} events, or events from fewer than "
                f"{stats.MIN_RESIDENTS} residents, no ratio is given: the cell says so."
            )
        )
        body.append(table_html(pivot))
    return _section("key-figures", "".join(body))


def interval_method(vs: list[Variant]) -> str:
    """In words, how the report's intervals of group rates are made for these variants."""
    seeds = [len(v.runs) for v in vs]
    across = max(seeds) >= stats.MIN_SEEDS
    text = []
    if across:
        text.append(
            f"For variants with {stats.MIN_SEEDS} seeds or more, the black bar is the 95% "
            "Student t interval across seeds of the per-seed rates."
        )
    if min(seeds) < stats.MIN_SEEDS:
        if any(1 < n < stats.MIN_SEEDS for n in seeds):
            text.append(
                f"With fewer than {stats.MIN_SEEDS} seeds, intervals across seeds are not "
                "available, and the runs' residents are pooled."
            )
        text.append(
            ("For the other variants, the" if across else "The")
            + " black bar is a 95% Wilson interval for the share on a list, and for counts "
            f"of blocked attempts a 95% interval from resampling residents "
            f"({stats.BOOTSTRAP_REPS:,} resamples, fixed seed), because one resident can be "
            "blocked many times and such events are not independent."
        )
    text.append(
        f"Where a group has fewer than {stats.MIN_EVENTS} events, or events from fewer "
        f"than {stats.MIN_RESIDENTS} residents, no interval is drawn (the bar is hatched): "
        "the figure rests on too few people to say more."
    )
    return " ".join(text)


def _rates_table(rates: pd.DataFrame) -> str:
    """Group rates with their interval, or the reason there is none, as an HTML table."""
    shown = [
        why or (f"[{lo:,.1f}, {hi:,.1f}]" if lo == lo else "–")
        for lo, hi, why in zip(rates["lo"], rates["hi"], rates["reason"], strict=True)
    ]
    frame = pd.DataFrame(
        {
            "variant": rates["variant"],
            "group": rates["group"],
            "residents": rates["residents"],
            "listed": rates["count"],
            "per 100,000": rates["rate"],
            "95% interval": shown,
            "method": rates["interval"],
        }
    )
    return table_html(frame, {"per 100,000": 1, "listed": 1})


def _disparate_section(runs: list[Results], vs: list[Variant]) -> str:
    how = (
        "Each bar is a rate per 100,000 residents of the group. "
        + interval_method(vs)
        + " Groups whose intervals do not overlap differ beyond chance. Hukou: local "
        "residents hold a Beijing household registration, migrants do not."
    )
    body = [how_html(how)]
    for kind in ("blacklisted", "blocked", "wrongful_blocked"):
        body.append(figure_html(partial(plots.disparate_impact, runs, kind), f"disparate-{kind}"))
    tables = []
    for group_by in ("hukou", "income_decile", "district"):
        rates = plots.group_rates(runs, group_by, "blacklisted")
        tables.append(f"<h4>{esc(plots.GROUP_LABELS[group_by])}</h4>" + _rates_table(rates))
    body.append(
        "<details><summary>The numbers behind the first figure (on a blacklist on the last "
        "day)</summary>" + "".join(tables) + "</details>"
    )
    return _section("disparate-impact", "".join(body))


def _lint_findings_section(runs: list[Results]) -> str:
    blocks = []
    for r in runs:
        findings = load_lint_findings(r)
        if findings is None:
            continue
        name = r.path.name if r.path is not None else r.manifest.get("scenario", "run")
        if not findings:
            blocks.append(f"<p>{esc(name)}: the audit found nothing to report.</p>")
            continue
        keys = [k for k in FINDING_KEYS if any(k in f for f in findings)]
        keys += [k for f in findings for k in f if k not in keys]
        keys = list(dict.fromkeys(keys))
        frame = pd.DataFrame(
            [
                {
                    k: (
                        json.dumps(f.get(k), default=str)
                        if isinstance(f.get(k), dict | list)
                        else f.get(k, "")
                    )
                    for k in keys
                }
                for f in findings
            ]
        )
        blocks.append(f"<h4>{esc(name)}</h4>" + table_html(frame, {}))
    if not blocks:
        blocks.append(
            '<p class="note">No audit findings for these runs. The audit (<code>scslab audit'
            "</code>) writes <code>audit.json</code> into a run directory; a report made "
            "after it lists its findings here.</p>"
        )
    return _section("audit", "".join(blocks))


def _runs_section(runs: list[Results], vs: list[Variant]) -> str:
    rows = []
    for v in vs:
        for r in v.runs:
            m = r.manifest
            t = m.get("timings", {})
            rows.append(
                {
                    "variant": v.label,
                    "run directory": str(r.path) if r.path is not None else "(in memory)",
                    "seed": m.get("seed"),
                    "residents": m.get("residents"),
                    "market entities": m.get("enterprises"),
                    "days": m.get("days"),
                    "scenario sha256": str(m.get("scenario_sha256", ""))[:12],
                    "scslab": m.get("scslab_version"),
                    "engine": m.get("engine", "general"),  # (runs before engines: general)
                    "run time (s)": t.get("total_s", float("nan")),
                }
            )
    return _section(
        "runs",
        how_html("A run is a pure function of scenario, seed, size and scslab version.")
        + table_html(pd.DataFrame(rows), {"run time (s)": 1}),
    )


# --------------------------------------------------------------------------- the page
def build_report(runs: Results | Sequence[Results], title: str | None = None) -> str:
    """The report of one or several runs as a self-contained HTML page (a string)."""
    rl = plots.as_list(runs)
    if not rl:
        raise ValueError("runs: give at least one run")
    vs = plots.variants(rl)
    title = title or "scslab report: " + " vs ".join(v.label for v in vs)
    n_res = ", ".join(f"{v.runs[0].manifest.get('residents', 0):,}" for v in vs)
    has_ent = any(plots.family(plots.city(r), "enterprise.listed") for r in rl)
    sections = [
        _scenario_section(vs),
        _key_figures_section(rl, vs),
        _section(
            "lists",
            how_html(
                "How many residents (and market entities) are on each blacklist and red "
                "list, day by day, per 100,000. Lines that keep rising mean people enter "
                "faster than they leave. Dashed lines count those listed only because of an "
                "erroneous record." + _bands_and_markers(vs)
            )
            + figure_html(lambda: plots.list_sizes(rl, "resident"), "lists-residents")
            + (
                figure_html(lambda: plots.list_sizes(rl, "enterprise"), "lists-enterprises")
                if has_ent
                else ""
            ),
        ),
        _section(
            "scores",
            how_html(
                "Left: how residents' points are spread on the last day (everyone starts at "
                "the base score; records move them). Dotted lines mark where each grade "
                "begins. Right: how many residents hold each grade, day by day."
                + _bands_and_markers(vs)
            )
            + figure_html(lambda: plots.score_distribution(rl), "scores"),
        ),
        _section(
            "blocked",
            how_html(
                "Attempts to fly, take a train, book a hotel, get a loan, register a "
                "business and so on that a measure blocked, per 100,000 over the whole run. "
                "The hatched end of a bar, and the red percentage, are the attempts blocked "
                "because of an erroneous record."
            )
            + figure_html(lambda: plots.blocked_by_domain(rl), "blocked"),
        ),
        _section(
            "records",
            how_html(
                "Records each department wrote about residents and market entities, per "
                "100,000 over the run (log scale). The hatched end and the red percentage "
                "are erroneous records: about the wrong person or wrong facts."
            )
            + figure_html(lambda: plots.records_by_department(rl), "records"),
        ),
        _section(
            "wrongful",
            how_html(
                "Residents on a blacklist although every record that put them there is "
                "erroneous, and the share of blocked attempts that such wrong records caused "
                "(with how many residents those attempts came from: a few residents blocked "
                "many times are not many residents wronged)." + _bands_and_markers(vs)
            )
            + figure_html(lambda: plots.wrongful_sanctions(rl), "wrongful"),
        ),
        _disparate_section(rl, vs),
        _section(
            "green-channel",
            how_html(
                "Rewards: shorter waits and priority in medical care and education for high "
                "grades and red lists. Right: who gets them, by income decile; error bars "
                f"are 95% t intervals across seeds, drawn from {stats.MIN_SEEDS} seeds on "
                "(uses are not counted per resident, so fewer seeds give no interval)."
            )
            + figure_html(lambda: plots.green_channel(rl), "green-channel"),
        ),
        _section(
            "posting",
            how_html(
                "Online posts per 1,000 residents a day. A penalty for a post makes the "
                "penalised resident and their contacts post less (the chilling effect)."
                + _bands_and_markers(vs)
            )
            + figure_html(lambda: plots.posting(rl), "posting"),
        ),
        _lint_findings_section(rl),
        _runs_section(rl, vs),
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
