"""The sections of the HTML report that are more than a figure and its explanation: the
scenario in short, the key figures and disparity ratios, disparate impact by group with
the numbers behind it, audit findings and the runs in the report; and the list of
sections (`SECTIONS`) that the page follows.

Audit findings get their own section when a run directory holds an `audit.json`
(`scslab audit RUN` writes it): a list of findings, `{"findings": [...]}`, or the lint
part of an audit, `{"lint": {"findings": [...]}, ...}`; each finding a flat mapping (keys
such as severity, rule, title, finding, detail are shown first). Without one, the
section says how to get findings.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pandas as pd

from scslab.analysis import figures, stats
from scslab.presentation import plots
from scslab.presentation.grouprates import GROUP_LABELS, disparity_ratios, group_rates
from scslab.presentation.htmlpage import esc, figure_html, how_html, table_html
from scslab.presentation.variants import Variant, band_note, family, scenario_dict
from scslab.rundir.results import Results

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

FINDING_KEYS = ("severity", "id", "rule", "title", "finding", "detail", "evidence")


def section(sid: str, body: str) -> str:
    """One section of the report: its heading (from SECTIONS) above `body` (HTML)."""
    heading = dict(SECTIONS)[sid]
    return f'<section id="{sid}"><h2>{esc(heading)}</h2>{body}</section>'


def load_lint_findings(results: Results) -> list[dict[str, Any]] | None:
    """The findings in a run directory's audit.json (`scslab audit RUN` writes it), or
    None when there is none."""
    if results.path is None or not (results.path / "audit.json").is_file():
        return None
    data = json.loads((results.path / "audit.json").read_text("utf-8"))
    if isinstance(data, dict) and isinstance(data.get("lint"), dict):
        data = data["lint"]  # `scslab audit RUN` writes {"lint": {...}, "harm": {...}}
    findings = data.get("findings", []) if isinstance(data, dict) else data
    return [f for f in findings if isinstance(f, dict)]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def scenario_summary(results: Results) -> str:
    """The scenario of a run in short: departments, lists and what they block, rewards."""
    sc = scenario_dict(results)
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


def scenario_section(vs: list[Variant]) -> str:
    """The scenario of each variant in short, and where the variants' scenarios differ."""
    body = []
    for k, v in enumerate(vs):
        inner = scenario_summary(v.runs[0])
        if len(vs) == 1:
            body.append(inner)
        else:
            opened = " open" if k == 0 else ""
            body.append(f"<details{opened}><summary>{esc(v.label)}</summary>{inner}</details>")
    if len(vs) > 1:
        flats = [_flatten(scenario_dict(v.runs[0])) for v in vs]
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
    return section("scenario", "".join(body))


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
    items = family(figures.city_frame(runs[0]), prefix)
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


def bands_and_markers(vs: list[Variant]) -> str:
    """What the shaded bands are and how coinciding lines of variants are told apart."""
    note = band_note(vs)
    text = f" {note[0].upper()}{note[1:]}." if note else ""
    if len(vs) > 1:
        text += (
            " Each variant has its own marker, placed apart from the others', so that "
            "where two variants' lines coincide both stay visible."
        )
    return text


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def key_figures_section(runs: list[Results], vs: list[Variant]) -> str:
    """The key figures of each variant and the disparity ratios between groups."""
    kf = key_figures(vs)
    ratios = disparity_ratios(runs)
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
    return section("key-figures", "".join(body))


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


def disparate_section(runs: list[Results], vs: list[Variant]) -> str:
    """Rates by hukou, income decile and district, with their intervals and numbers."""
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
        rates = group_rates(runs, group_by, "blacklisted")
        tables.append(f"<h4>{esc(GROUP_LABELS[group_by])}</h4>" + _rates_table(rates))
    body.append(
        "<details><summary>The numbers behind the first figure (on a blacklist on the last "
        "day)</summary>" + "".join(tables) + "</details>"
    )
    return section("disparate-impact", "".join(body))


def audit_section(runs: list[Results]) -> str:
    """The findings in the runs' audit.json files, or how to get them."""
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
    return section("audit", "".join(blocks))


def runs_section(runs: list[Results], vs: list[Variant]) -> str:
    """Every run in the report: its directory, seed, size, scenario hash, version, time."""
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
    return section(
        "runs",
        how_html("A run is a pure function of scenario, seed, size and scslab version.")
        + table_html(pd.DataFrame(rows), {"run time (s)": 1}),
    )
