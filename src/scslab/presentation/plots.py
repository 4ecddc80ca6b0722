"""Plots of runs: matplotlib figures (Agg backend) for the report, the dashboard and notebooks.

Every function takes one run or several (`Results` or a list of them) and returns a
`matplotlib.figure.Figure`. Several runs are drawn side by side: runs of the same
scenario, size and length (differing only in seed) form one *variant*, drawn as the
median of its seeds with their spread; different variants get different colours.

Units: days on time axes; points for scores; rates per 100,000 residents of the group.
Intervals are 95% (`scslab.analysis.stats`): across seeds (Student t) when a variant has 3 runs
or more; otherwise, with the runs' residents pooled, Wilson for a share of residents and
a bootstrap over residents for counts of events (events cluster on residents). Groups
with too few events get no interval but a reason. Daily lines are the median of the
seeds, and the shaded band around them says what it is in the legend (`band_note`): the
10-90% quantiles of the seeds' daily values from 3 seeds, their range with 2.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scslab.analysis.figures import city_frame, daily_by_seed, totals_by_seed
from scslab.analysis.stats import (
    MIN_SEEDS,
    cluster_rate,
    seed_interval,
    too_few,
    wilson_interval,
)
from scslab.rundir.results import Results

log = logging.getLogger(__name__)

PER = 100_000
"""Rates are per this many residents of the group."""
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""One marker per variant: lines of variants that coincide stay distinguishable."""
GREY = "#7f7f7f"
WRONG = "#d62728"

Runs = Results | Sequence[Results]
GroupBy = Literal["hukou", "district", "income_decile"]
RateKind = Literal["blacklisted", "new_listings", "blocked", "wrongful_blocked", "green_channel"]

RATE_LABELS: dict[str, str] = {
    "blacklisted": "Residents on a blacklist on the last day",
    "new_listings": "Residents newly blacklisted during the run",
    "blocked": "Blocked attempts during the run",
    "wrongful_blocked": "Attempts blocked by an erroneous record during the run",
    "green_channel": "Green-channel uses during the run",
}
GROUP_LABELS = {"hukou": "hukou", "district": "district", "income_decile": "income decile"}


city = city_frame
"""Daily city-wide metrics of a run, one column per metric (`figures.city_frame`)."""


# ------------------------------------------------------------------ runs and variants
@dataclass
class Variant:
    """Runs of one scenario, size and length that differ only in their seed."""

    label: str
    runs: list[Results]
    color: str
    marker: str = ""
    index: int = 0

    @property
    def seeds(self) -> list[int]:
        """The seed of each run."""
        return [int(r.manifest.get("seed", 0)) for r in self.runs]


def as_list(runs: Runs) -> list[Results]:
    """One run or several, as a list."""
    return [runs] if isinstance(runs, Results) else list(runs)


def variants(runs: Runs) -> list[Variant]:
    """Group runs into variants (same scenario hash, residents and days), in input order.

    A variant is labelled by its scenario's name, with what tells apart variants of the
    same name: size, length, or the start of the scenario's hash.
    """
    groups: dict[tuple[Any, ...], list[Results]] = {}
    for r in as_list(runs):
        m = r.manifest
        key = (m.get("scenario_sha256"), m.get("residents"), m.get("days"))
        groups.setdefault(key, []).append(r)
    keys = list(groups)
    out = []
    for k, key in enumerate(keys):
        m = groups[key][0].manifest
        name = str(m.get("scenario", "run"))
        twins = [o for o in keys if groups[o][0].manifest.get("scenario") == name]
        extra = []
        if len({o[1] for o in twins}) > 1:
            extra.append(f"{m.get('residents', 0):,} residents")
        if len({o[2] for o in twins}) > 1:
            extra.append(f"{m.get('days')} days")
        if len({o[0] for o in twins}) > 1:
            extra.append(f"rules {str(key[0])[:6]}")
        label = f"{name} ({', '.join(extra)})" if extra else name
        marker = MARKERS[k % len(MARKERS)] if len(keys) > 1 else ""
        out.append(Variant(label, groups[key], COLORS[k % len(COLORS)], marker, k))
    return out


def scenario_dict(results: Results) -> dict[str, Any]:
    """The run's resolved scenario as plain data (read with yaml.safe_load, never eval)."""
    data = yaml.safe_load(results.scenario_yaml or "") or {}
    return data if isinstance(data, dict) else {}


def no_scores(results: Results, missing: str = "points score") -> str:
    """Why a run has no score metrics (`missing`: what a panel lacks): its scenario has
    no points score, or it did not collect them (outputs.scores: false)."""
    data = scenario_dict(results)
    if data.get("scoring") and not (data.get("outputs") or {}).get("scores", True):
        return "scores not collected (outputs.scores: false)"
    return f"no {missing} in this scenario"


def black_lists(results: Results, subject: str = "resident") -> list[str]:
    """Names of the blacklists (not red lists) about this kind of subject."""
    lists = scenario_dict(results).get("lists", {}) or {}
    return [
        name
        for name, rule in lists.items()
        if rule.get("kind") == "black" and rule.get("subject", "resident") == subject
    ]


def family(frame: pd.DataFrame, prefix: str) -> list[str]:
    """Columns of a wide metrics frame named `prefix:<item>`, in order."""
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(prefix + ":")]


def _totals(v: Variant, column: str, rate: bool = True) -> float:
    """A metric summed over all days, mean over seeds (`figures.totals_by_seed`)."""
    return float(np.mean(totals_by_seed(v.runs, column, rate)))


def band_note(vs: Sequence[Variant]) -> str:
    """What the line and the shaded band of a daily series are, for legends and captions
    ('' when no variant has several runs)."""
    sizes = sorted({len(v.runs) for v in vs if len(v.runs) > 1})
    if not sizes:
        return ""
    if sizes[0] >= MIN_SEEDS:
        return "line: median of the seeds; shaded: 10-90% of the seeds' daily values"
    if sizes[-1] < MIN_SEEDS:
        return "line: mean of the seeds; shaded: range across seeds (min to max)"
    return (
        "line: median of the seeds; shaded: 10-90% of the seeds' daily values "
        f"({MIN_SEEDS}+ seeds) or their range (fewer)"
    )


def _band(series: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """The spread of per-seed daily values around their median: the 10-90% quantiles
    across seeds from MIN_SEEDS seeds, else the range; and its legend label. It shows how
    far single runs fall apart, not an interval of the mean."""
    if series.shape[1] >= MIN_SEEDS:
        lo, hi = series.quantile(0.1, axis=1), series.quantile(0.9, axis=1)
        return lo.to_numpy(), hi.to_numpy(), "10-90% of seeds"
    return series.min(axis=1).to_numpy(), series.max(axis=1).to_numpy(), "range across seeds"


def _line(ax: Axes, variant: Variant, series: pd.DataFrame, label: str | None, **kw: Any) -> None:
    """The median over seeds as a line (with the variant's marker, placed apart from other
    variants' so that coinciding lines show both), and a labelled band across seeds."""
    mean = series.median(axis=1)
    if variant.marker:
        step = max(len(mean) // 8, 1)
        kw = {"marker": variant.marker, "markersize": 4, "markevery": (0, step)} | kw
        kw["markevery"] = ((variant.index * step) // len(MARKERS), step)
    (line,) = ax.plot(mean.index, mean.to_numpy(), label=label, lw=1.6, **kw)
    if series.shape[1] > 1:
        lo, hi, what = _band(series)
        seen = {t.get_label() for t in ax.collections}
        band_label = f"shaded: {what}" if label is not None else None
        if band_label in seen:
            band_label = None
        ax.fill_between(series.index, lo, hi, color=line.get_color(), alpha=0.2, label=band_label)


def _short(name: str) -> str:
    return name.replace("_", " ")


def _finish(fig: Figure) -> Figure:
    fig.set_layout_engine("constrained")
    return fig


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _per_day_axis(ax: Axes, ylabel: str) -> None:
    ax.set_xlabel("day")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)


# ------------------------------------------------------------------------ statistics
def _group_counts(results: Results, group_by: str, kind: str) -> pd.DataFrame:
    """Per group: residents (n) and the count behind a rate (k)."""
    m = results.metrics
    m = m[m["group_by"] == group_by]
    if m.empty:
        raise ValueError(f"group_by: no metrics by '{group_by}'")
    m = m.assign(group=m["group"].astype(str))
    metric = m["metric"].astype(str)
    day0 = m["day"] == m["day"].min()
    last = m["day"] == m["day"].max()
    n = m[day0 & (metric == "residents")].groupby("group", sort=False)["value"].sum()
    if kind == "blacklisted":
        sel = last & (metric == "blacklisted")
    elif kind == "new_listings":
        names = {f"new_listings:{b}" for b in black_lists(results)}
        sel = metric.isin(names)
    else:
        sel = metric.str.startswith(kind + ":")
    k = m[sel].groupby("group", sort=False)["value"].sum().reindex(n.index, fill_value=0.0)
    out = pd.DataFrame({"n": n, "k": k})
    order = _group_order(group_by, list(out.index))
    return out.loc[order]


def _group_order(group_by: str, groups: list[str]) -> list[str]:
    """Deciles in numeric order, local before migrant, districts as in the run (census order)."""
    if group_by == "income_decile":
        return sorted(groups, key=lambda g: int(g) if str(g).isdigit() else 99)
    if group_by == "hukou":
        return [g for g in ("local", "migrant") if g in groups] + [
            g for g in groups if g not in ("local", "migrant")
        ]
    return groups


RESIDENT_COUNTS = {"blocked": "blocked_attempts", "wrongful_blocked": "wrongful_blocked_attempts"}
"""Kinds of event counted per resident in residents.parquet, and the column."""

GROUP_COLUMNS = ("hukou", "income_decile", "district")
GROUP_NAMES = {"migrant": "migrants", "local": "local residents"}


def _agent_table(results: Results, name: str, columns: list[str]) -> pd.DataFrame | None:
    """Columns of a per-agent table of a run: in memory, or read from its directory
    (only those columns); None when the run has no such table."""
    table = results.tables.get(name)
    file = None if results.path is None else results.path / f"{name}.parquet"
    if table is None and file is not None and file.is_file():
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file, columns=columns).to_pandas()
        except Exception as err:  # unreadable or without those columns: no per-agent counts
            log.warning("%s: not read (%s); intervals that need it are left out", file, err)
            return None
    if table is None or any(c not in table for c in columns):
        return None
    return table[columns]


def resident_counts(results: Results, kind: str) -> pd.DataFrame | None:
    """Events of a kind per resident, with the resident's groups (hukou, income_decile,
    district as text, and `count`); None when the run has no per-resident counts of it
    (no per-agent tables, or a kind not counted per resident, such as green-channel uses).
    """
    cached: dict[str, Any] = results.__dict__.setdefault("_resident_counts", {})
    if kind in cached:
        return cached[kind]
    out = None
    if kind in RESIDENT_COUNTS:
        col = RESIDENT_COUNTS[kind]
        res = _agent_table(results, "residents", [*GROUP_COLUMNS, col])
        out = None if res is None else res.rename(columns={col: "count"})
    elif kind == "new_listings":
        res = _agent_table(results, "residents", list(GROUP_COLUMNS))
        lst = _agent_table(results, "listings", ["subject_type", "subject", "list", "entered"])
        if res is not None and lst is not None:
            black = black_lists(results)
            sel = (lst["subject_type"] == "resident") & lst["entered"] & lst["list"].isin(black)
            counts = np.bincount(lst["subject"][sel].to_numpy(np.int64), minlength=len(res))
            out = res.assign(count=counts[: len(res)])
    if out is not None:
        out = out.astype({g: str for g in GROUP_COLUMNS})
    cached[kind] = out
    return out


def _interval(
    kind: str, k: float, n: float, per_seed: list[float], pooled: list[np.ndarray] | None
) -> dict[str, Any]:
    """The 95% interval of one group's rate per 100,000 (see the module docstring):
    {lo, hi, from_residents, interval (method), reason}."""
    who = float(sum(int((c > 0).sum()) for c in pooled)) if pooled is not None else math.nan
    if kind == "blacklisted":
        who = k  # one listing per resident on the last day
    few = too_few(k, None if math.isnan(who) else who)
    out: dict[str, Any] = {"lo": None, "hi": None, "from_residents": who, "reason": few}
    if len(per_seed) >= MIN_SEEDS:
        c = seed_interval(per_seed)
        return (
            out | {"interval": "t across seeds"} | ({} if few else {"lo": c["lo"], "hi": c["hi"]})
        )
    if kind == "blacklisted":
        lo, hi = wilson_interval(k, n)
        return out | {"interval": "Wilson"} | ({} if few else {"lo": PER * lo, "hi": PER * hi})
    if pooled is None:
        why = "no interval: the runs have no per-resident counts of these events"
        return out | {"interval": "", "reason": few or why}
    c = cluster_rate(np.concatenate(pooled), int(n), per=PER)
    return out | {"interval": "residents resampled", "lo": c["lo"], "hi": c["hi"]}


def _members(
    per_res: list[pd.DataFrame | None], group_by: str, group: str
) -> list[np.ndarray] | None:
    """Per-resident counts of one group in each run (None if a run has none)."""
    out = []
    for p in per_res:
        if p is None:
            return None
        out.append(p.loc[p[group_by] == group, "count"].to_numpy())
    return out


def group_rates(runs: Runs, group_by: str, kind: str = "blacklisted") -> pd.DataFrame:
    """Rates per 100,000 residents of each group, with 95% intervals, for each variant.

    `kind`: 'blacklisted' (residents on a blacklist on the last day; a share), or events
    during the run: 'new_listings' (blacklist entries), 'blocked', 'wrongful_blocked',
    'green_channel'. The rate is the mean over seeds. The interval: the t interval
    across seeds from 3 seeds; with fewer, the runs' residents pooled: Wilson for a
    share, a bootstrap over residents for events (counted per resident in the per-agent
    tables; green-channel uses are not, and get no interval). Too few events (fewer than
    10, or from fewer than 5 residents): no interval, and `reason` says so.
    Columns: variant, group, residents, count, rate, lo, hi, runs, from_residents,
    interval, reason (count and residents are means over seeds; lo and hi NaN without
    an interval).
    """
    rows = []
    for v in variants(runs):
        counts = [_group_counts(r, group_by, kind) for r in v.runs]
        per_res = [resident_counts(r, kind) for r in v.runs]
        for g in counts[0].index:
            ns = [float(c.loc[g, "n"]) if g in c.index else 0.0 for c in counts]
            ks = [float(c.loc[g, "k"]) if g in c.index else 0.0 for c in counts]
            per_seed = [PER * k / n if n else 0.0 for k, n in zip(ks, ns, strict=True)]
            pooled = _members(per_res, group_by, str(g))
            iv = _interval(kind, sum(ks), sum(ns), per_seed, pooled)
            if iv["lo"] is None:
                iv["interval"] = ""
            rows.append(
                {
                    "variant": v.label,
                    "group": str(g),
                    "residents": float(np.mean(ns)),
                    "count": float(np.mean(ks)),
                    "rate": float(np.mean(per_seed)),
                    "lo": math.nan if iv["lo"] is None else iv["lo"],
                    "hi": math.nan if iv["hi"] is None else iv["hi"],
                    "runs": len(counts),
                    "from_residents": iv["from_residents"],
                    "interval": iv["interval"],
                    "reason": iv["reason"] or "",
                }
            )
    return pd.DataFrame(rows)


def disparity_ratios(runs: Runs) -> pd.DataFrame:
    """Headline disparities per variant: migrant/local and poorest/richest decile rate ratios.

    A ratio of 2 means the first group's rate per 100,000 is twice the second's. No
    ratio (NaN) where either group has too few events (`scslab.analysis.stats.too_few`); `reason`
    says so. Columns: variant, measure, comparison, ratio, reason.
    """
    rows = []
    for kind in ("blacklisted", "blocked", "wrongful_blocked", "green_channel"):
        for group_by, a, b, label in (
            ("hukou", "migrant", "local", "migrant / local"),
            ("income_decile", "1", "10", "poorest / richest decile"),
        ):
            rates = group_rates(runs, group_by, kind)
            for vname, r in rates.groupby("variant", sort=False):
                ra = r[r["group"] == a]
                rb = r[r["group"] == b]
                if ra.empty or rb.empty:
                    continue
                why = _ratio_reason(ra.iloc[0], a) or _ratio_reason(rb.iloc[0], b)
                x, y = float(ra["rate"].iloc[0]), float(rb["rate"].iloc[0])
                rows.append(
                    {
                        "variant": vname,
                        "measure": RATE_LABELS[kind],
                        "comparison": label,
                        "ratio": math.nan if why else x / y,
                        "reason": why,
                    }
                )
    return pd.DataFrame(rows, columns=["variant", "measure", "comparison", "ratio", "reason"])


def _ratio_reason(row: pd.Series, group: str) -> str:
    """Why a group's rate cannot be the side of a ratio ('' when it can)."""
    who = row["from_residents"]
    events = float(row["count"]) * int(row["runs"])
    few = too_few(events, None if math.isnan(who) else who)
    if few is None and row["rate"] <= 0:
        few = "no events"
    label = f"decile {group}" if group.isdigit() else GROUP_NAMES.get(group, group)
    return f"{few} among {label}" if few else ""


# ---------------------------------------------------------------------------- figures
RES_RATE = "per 100,000 residents"
ENT_RATE = "per 100,000 market entities"


def _rate_ylim(ax: Axes, rates: pd.DataFrame) -> None:
    """Room for the rates and the intervals of groups with events.

    The interval of a group with no event (0 to about 3.7 events' worth) may run off the top.
    """
    hi = rates.loc[rates["count"] > 0, "hi"].dropna()
    top = max(float(rates["rate"].max()) * 1.3, float(hi.max()) * 1.05 if len(hi) else 0.0)
    ax.set_ylim(0, top if top > 0 else 1.0)


def _yerr(r: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above each rate (0 where there is no interval)."""
    lo, hi = r["lo"].fillna(r["rate"]), r["hi"].fillna(r["rate"])
    return np.vstack([r["rate"] - lo, hi - r["rate"]]).clip(min=0)


def _legend_below(fig: Figure, ax: Axes, ncols: int = 4) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8)


def list_sizes(runs: Runs, subject: str = "resident") -> Figure:
    """Subjects on each list per 100,000, day by day (a panel per list, a line per variant)."""
    vs = variants(runs)
    prefix = "listed" if subject == "resident" else "enterprise.listed"
    names: list[str] = []
    for v in vs:
        for c in family(city(v.runs[0]), prefix):
            if c not in names:
                names.append(c)
    ncols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.7 * ncols, 2.4 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    who = "residents" if subject == "resident" else "market entities"
    for ax, col in zip(axes, names, strict=False):
        for v in vs:
            _line(ax, v, daily_by_seed(v.runs, col), v.label, color=v.color)
            w = daily_by_seed(v.runs, col.replace("listed:", "listed_wrongful:"))
            if w.fillna(0).to_numpy().any():
                _line(ax, v, w, f"{v.label}: by an erroneous record", color=v.color, ls="--")
        ax.set_title(_short(col.split(":", 1)[1]), fontsize=10)
        _per_day_axis(ax, RES_RATE if subject == "resident" else ENT_RATE)
        ax.yaxis.label.set_fontsize(8)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    if not names:
        axes[0].set_visible(True)
        _empty(axes[0], f"no lists for {who}")
    if len(vs) > 1 or band_note(vs):
        _legend_below(fig, axes[0])
    fig.suptitle(f"{who.capitalize()} on each list (dashed: listed by an erroneous record)")
    return _finish(fig)


def score_distribution(runs: Runs) -> Figure:
    """Residents' scores on the last day (histogram, points) and grades over time."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.6))
    ax_h, ax_g = fig.subplots(1, 2)
    lo, hi = math.inf, -math.inf
    for v in vs:
        hist = pd.concat(
            [r.tables.get("score_histogram", pd.DataFrame()) for r in v.runs], ignore_index=True
        )
        if hist.empty:
            continue
        hist = hist[(hist["subject"] == "resident") & (hist["day"] == hist["day"].max())]
        if hist.empty:
            continue
        counts = hist.groupby("bin_lo")["count"].sum()
        lo, hi = min(lo, counts.index.min()), max(hi, counts.index.max() + 10)
        ax_h.bar(
            counts.index,
            PER * counts / counts.sum(),
            width=10,
            align="edge",
            color=v.color,
            alpha=0.8 if len(vs) == 1 else 0.5,
            label=v.label,
        )
    if math.isfinite(lo):
        ax_h.set_yscale("log")
        ax_h.set_xlim(lo - 20, hi + 20)
        ax_h.set_xlabel("score (points)")
        ax_h.set_ylabel(RES_RATE)
        ax_h.set_title("Score distribution on the last day (log scale)", fontsize=10)
        ax_h.grid(alpha=0.3)
        scoring = scenario_dict(vs[0].runs[0]).get("scoring") or {}
        for g in scoring.get("grades", []):
            if lo - 20 <= g["min_score"] <= hi + 20:
                ax_h.axvline(g["min_score"], color=GREY, lw=0.8, ls=":")
                ax_h.text(
                    g["min_score"] + 2,
                    0.97,
                    g["name"],
                    transform=ax_h.get_xaxis_transform(),
                    fontsize=8,
                    color=GREY,
                    va="top",
                )
        if len(vs) > 1:
            ax_h.legend(fontsize=7, loc="center left")
    else:
        _empty(ax_h, no_scores(vs[0].runs[0]))
    gcols = family(city(vs[0].runs[0]), "grade")
    if gcols:
        cmap = matplotlib.colormaps["RdYlGn"]
        colors = [cmap(x) for x in np.linspace(0.95, 0.05, len(gcols))]
        for c, color in zip(gcols, colors, strict=True):
            for v in vs:
                ls = ["-", "--", ":", "-."][vs.index(v) % 4]
                label = c.split(":", 1)[1] if v is vs[0] else None
                _line(ax_g, v, daily_by_seed(v.runs, c), label, color=color, ls=ls)
        ax_g.set_yscale("symlog", linthresh=10)
        ax_g.set_ylim(0, 2 * PER)
        ax_g.set_xlabel("day")
        ax_g.set_ylabel(RES_RATE)
        ax_g.grid(alpha=0.3)
        ax_g.set_title("Residents in each grade (log scale)", fontsize=10)
        ax_g.legend(fontsize=7, loc="center left", title="grade", ncols=2)
    else:
        _empty(ax_g, no_scores(vs[0].runs[0], "grades"))
    title = "Scores and grades"
    if len(vs) > 1:
        title += (
            " (grades: "
            + ", ".join(
                f"{['solid', 'dashed', 'dotted', 'dash-dot'][k % 4]} {v.label}"
                for k, v in enumerate(vs)
            )
            + ")"
        )
    fig.suptitle(title, fontsize=10 if len(vs) > 1 else None)
    return _finish(fig)


def _bars(
    ax: Axes,
    vs: list[Variant],
    items: list[str],
    values: dict[str, list[float]],
    wrong: dict[str, list[float]] | None = None,
    wrong_label: str = "",
) -> None:
    """Horizontal bars per item, one per variant; the wrongful part hatched at the bar's end."""
    n = len(vs)
    height = 0.8 / n
    y = np.arange(len(items))
    for k, v in enumerate(vs):
        pos = y - 0.4 + height * (k + 0.5)
        total = np.asarray(values[v.label], float)
        ax.barh(pos, total, height=height, color=v.color, label=v.label)
        if wrong is None:
            continue
        w = np.asarray(wrong[v.label], float)
        if w.any():
            ax.barh(
                pos,
                w,
                left=total - w,
                height=height,
                color="white",
                edgecolor=WRONG,
                hatch="////",
                lw=0.6,
                label=wrong_label if k == 0 else None,
            )
        for p, t, x in zip(pos, total, w, strict=True):
            if x > 0:
                ax.text(t, p, f" {100 * x / t:.0f}% wrong", va="center", fontsize=7, color=WRONG)
    if not any(any(values[v.label]) for v in vs):
        ax.set_xlim(0, 1)
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_yticks(y, [_short(i) for i in items], fontsize=8)
    ax.set_ylim(max(len(items), 4) - 0.5, -0.5)  # top to bottom; thin bars when few
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.15)
    ax.set_xlim(left=0)


def _log_x(ax: Axes, values: dict[str, list[float]]) -> None:
    """A log x axis (linear below 10) with room for the labels at the bars' ends."""
    top = max((max(v) for v in values.values() if v), default=10.0)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, max(100.0, top * 5))


def _items(vs: list[Variant], prefix: str) -> list[str]:
    """The items of a metric family (domains, departments...) across variants, in order."""
    items: list[str] = []
    for v in vs:
        for c in family(city(v.runs[0]), prefix):
            if c.split(":", 1)[1] not in items:
                items.append(c.split(":", 1)[1])
    return items


def blocked_by_domain(runs: Runs) -> Figure:
    """Attempts blocked by a measure per 100,000, by domain, over the run (hatched: wrongful)."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 4.0))
    ax_r, ax_e = fig.subplots(1, 2, width_ratios=[3, 2])
    for ax, prefix, who, unit in (
        (ax_r, "", "residents", RES_RATE),
        (ax_e, "enterprise.", "market entities", ENT_RATE),
    ):
        domains = _items(vs, prefix + "blocked")
        if not domains:
            _empty(ax, f"no measures on {who}")
            continue
        vals = {v.label: [_totals(v, f"{prefix}blocked:{d}") for d in domains] for v in vs}
        wrong = {
            v.label: [_totals(v, f"{prefix}wrongful_blocked:{d}") for d in domains] for v in vs
        }
        _bars(ax, vs, domains, vals, wrong, "blocked by an erroneous record")
        ax.set_xlabel(unit + ", whole run")
        ax.set_title(who.capitalize(), fontsize=10)
    _legend_below(fig, ax_r)
    fig.suptitle("Attempts blocked by joint punishment, by domain")
    return _finish(fig)


def records_by_department(runs: Runs) -> Figure:
    """Records per 100,000 written by each department over the run (hatched: erroneous)."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 4.0))
    ax_r, ax_e = fig.subplots(1, 2, width_ratios=[3, 2])
    for ax, prefix, who, unit in (
        (ax_r, "", "residents", RES_RATE),
        (ax_e, "enterprise.", "market entities", ENT_RATE),
    ):
        depts = _items(vs, prefix + "records_true")
        if not depts:
            _empty(ax, f"no records about {who}")
            continue
        true = {v.label: [_totals(v, f"{prefix}records_true:{d}") for d in depts] for v in vs}
        err = {v.label: [_totals(v, f"{prefix}records_erroneous:{d}") for d in depts] for v in vs}
        total = {k: [a + b for a, b in zip(true[k], err[k], strict=True)] for k in true}
        _bars(ax, vs, depts, total, err, "erroneous (wrong person or wrong facts)")
        _log_x(ax, total)
        ax.set_xlabel(f"{unit}, whole run (log)")
        ax.set_title(f"About {who}", fontsize=10)
    _legend_below(fig, ax_r)
    fig.suptitle("Records written by each department (hatched: erroneous)")
    return _finish(fig)


def wrongful_sanctions(runs: Runs) -> Figure:
    """Residents blacklisted, and blacklisted only by erroneous records, per 100,000 over time."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.6))
    ax_n, ax_s = fig.subplots(1, 2)
    for v in vs:
        _line(
            ax_n, v, daily_by_seed(v.runs, "blacklisted"), f"{v.label}: blacklisted", color=v.color
        )
        _line(
            ax_n,
            v,
            daily_by_seed(v.runs, "wrongfully_blacklisted"),
            f"{v.label}: only by erroneous records",
            color=v.color,
            ls="--",
        )
        blocked = sum(_totals(v, c, rate=False) for c in family(city(v.runs[0]), "blocked"))
        wblocked = sum(
            _totals(v, c, rate=False) for c in family(city(v.runs[0]), "wrongful_blocked")
        )
        share = 100 * wblocked / blocked if blocked else 0.0
        ax_s.bar(v.label, share, color=v.color)
        ax_s.text(v.label, share, _wrongful_label(v, wblocked, blocked), ha="center", va="bottom")
    _per_day_axis(ax_n, RES_RATE)
    ax_n.set_title("On a blacklist (dashed: only by erroneous records)", fontsize=10)
    ax_n.legend(fontsize=7)
    ax_s.set_ylabel("% of blocked attempts")
    ax_s.set_title("Blocked attempts caused by erroneous records", fontsize=10)
    ax_s.grid(axis="y", alpha=0.3)
    ax_s.set_ylim(0, max(1.0, ax_s.get_ylim()[1] * 1.15))
    ax_s.tick_params(axis="x", labelsize=8)
    fig.suptitle("Wrongful sanctions")
    return _finish(fig)


def _wrongful_label(v: Variant, wblocked: float, blocked: float) -> str:
    """'W of B' blocked attempts (means over seeds), and from how many residents the
    wrongful ones came when the runs count them per resident."""
    text = f"{wblocked:,.0f} of {blocked:,.0f}" + (" a run" if len(v.runs) > 1 else "")
    per_res = [resident_counts(r, "wrongful_blocked") for r in v.runs]
    if wblocked > 0 and all(p is not None for p in per_res):
        who = np.mean([int((p["count"] > 0).sum()) for p in per_res])  # type: ignore[index]
        text += f"\nfrom {who:,.0f} resident{'s' if who != 1 else ''}"
    return text


def disparate_impact(runs: Runs, kind: str = "blacklisted") -> Figure:
    """Rates per 100,000 residents by hukou, income decile and district, with 95% intervals."""
    vs = variants(runs)
    fig = Figure(figsize=(12, 4.0))
    axes = fig.subplots(1, 3, width_ratios=[1, 2.5, 4])
    for ax, group_by in zip(axes, ("hukou", "income_decile", "district"), strict=True):
        rates = group_rates(runs, group_by, kind)
        if not (rates["count"] > 0).any():
            _empty(ax, f"none in {'this run' if len(as_list(runs)) == 1 else 'these runs'}")
            ax.set_xlabel(GROUP_LABELS[group_by])
            continue
        groups = list(dict.fromkeys(rates["group"]))
        x = np.arange(len(groups))
        width = 0.8 / len(vs)
        for k, v in enumerate(vs):
            r = rates[rates["variant"] == v.label].set_index("group").reindex(groups)
            pos = x - 0.4 + width * (k + 0.5)
            few = (r["reason"] != "").to_numpy()
            bars = ax.bar(pos, r["rate"], width=width, color=v.color, label=v.label)
            for bar, hatch in zip(bars, few, strict=True):
                if hatch:  # too few events: no interval, the bar drawn faint and hatched
                    bar.set(alpha=0.35, hatch="///", edgecolor=GREY)
            if (~few).any():
                ax.errorbar(
                    pos[~few],
                    r["rate"][~few],
                    yerr=_yerr(r)[:, ~few],
                    fmt="none",
                    ecolor="black",
                    lw=0.8,
                    capsize=2,
                )
        _rate_ylim(ax, rates)
        ax.set_xticks(x, groups, rotation=60 if group_by == "district" else 0, fontsize=8)
        ax.set_xlabel(GROUP_LABELS[group_by] + (" (1 = poorest)" if "decile" in group_by else ""))
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel(RES_RATE + " of the group")
    if len(vs) > 1:
        _legend_below(fig, axes[0])
    fig.suptitle(
        f"{RATE_LABELS[kind]}, per 100,000 residents\n(95% intervals; hatched: too few "
        "events for an interval)",
        fontsize=10,
    )
    return _finish(fig)


def green_channel(runs: Runs) -> Figure:
    """Green-channel uses per 100,000 residents by domain and by income decile."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.6))
    ax_d, ax_i = fig.subplots(1, 2)
    domains = [
        d for d in _items(vs, "green_channel") if any(_totals(v, f"green_channel:{d}") for v in vs)
    ]
    if domains:
        vals = {v.label: [_totals(v, f"green_channel:{d}") for d in domains] for v in vs}
        _bars(ax_d, vs, domains, vals)
        ax_d.set_xlabel(f"uses {RES_RATE}, whole run")
        ax_d.set_title("Uses by domain", fontsize=10)
        rates = group_rates(runs, "income_decile", "green_channel")
        for v in vs:
            r = rates[rates["variant"] == v.label]
            ax_i.errorbar(
                r["group"],
                r["rate"],
                yerr=_yerr(r),
                color=v.color,
                marker="o",
                capsize=2,
                label=v.label,
            )
        ax_i.set_xlabel("income decile (1 = poorest)")
        ax_i.set_ylabel(f"uses {RES_RATE}")
        ax_i.set_title(
            "Who gets it: uses by income decile"
            + (" (95% t interval across seeds)" if rates["lo"].notna().any() else ""),
            fontsize=10,
        )
        ax_i.grid(alpha=0.3)
        _rate_ylim(ax_i, rates)
        if len(vs) > 1:
            ax_i.legend(fontsize=7)
    else:
        _empty(ax_d, "no green-channel use in these runs")
        _empty(ax_i, "")
    fig.suptitle("Green channel: priority and shorter waits for high grades and red lists")
    return _finish(fig)


def _posts_per_1000(v: Variant) -> pd.DataFrame:
    """Posts per 1,000 residents per day, 7-day mean, one column per seed."""
    per = daily_by_seed(v.runs, "posts") / 100.0
    return per.rolling(7, min_periods=1).mean()


def posting(runs: Runs) -> Figure:
    """Online posts per 1,000 residents per day (the chilling effect shows as a decline)."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    for v in vs:
        _line(ax, v, _posts_per_1000(v), v.label, color=v.color)
    _per_day_axis(ax, "posts per 1,000 residents per day")
    ax.set_title("Online posting, 7-day mean (a fall is the chilling effect)", fontsize=10)
    if len(vs) > 1 or band_note(vs):
        ax.legend(fontsize=8)
    return _finish(fig)


def plot_metric(runs: Runs, metric: str, group_by: str = "city") -> Figure:
    """One metric day by day, as counted (not per 100,000).

    A family prefix such as 'blocked' draws every 'blocked:<item>'. With group_by other
    than 'city', one line per group (first run only).
    """
    rl = as_list(runs)
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    if group_by == "city":
        frame = city(rl[0])
        cols = [metric] if metric in frame else family(frame, metric)
        if not cols:
            raise ValueError(
                f"metric: no metric '{metric}' or family '{metric}:...'; "
                f"e.g. {', '.join(list(frame.columns)[:6])}"
            )
        for v in variants(rl):
            for c in cols:
                label = c if len(rl) == 1 else f"{v.label}: {c}"
                _line(ax, v, daily_by_seed(v.runs, c, rate=False), label)
    else:
        wide = rl[0].to_frame(group_by)
        if metric not in wide:
            raise ValueError(f"metric: no metric '{metric}' by {group_by}")
        for g, sub in wide.groupby("group", sort=False, observed=True):
            ax.plot(sub["day"], sub[metric], label=str(g), lw=1.2)
    _per_day_axis(ax, metric)
    ax.set_title(metric if group_by == "city" else f"{metric} by {group_by}")
    ax.legend(fontsize=7, ncols=2 if len(ax.lines) > 8 else 1)
    return _finish(fig)


def overview(runs: Runs) -> Figure:
    """A six-panel overview: lists, wrongful listings, grades, blocked, records, posting."""
    vs = variants(runs)
    fig = Figure(figsize=(13, 7.5))
    axes = fig.subplots(2, 3).ravel()
    v0 = vs[0]
    frame0 = city(v0.runs[0])
    styles = ["-", "--", ":", "-."]
    # 1 list sizes: colour per list, line style per variant
    ax = axes[0]
    for k, c in enumerate(family(frame0, "listed")):
        for j, v in enumerate(vs):
            label = _short(c.split(":", 1)[1]) if j == 0 else None
            _line(ax, v, daily_by_seed(v.runs, c), label, color=f"C{k}", ls=styles[j % 4])
    _per_day_axis(ax, RES_RATE)
    ax.set_title("On each list", fontsize=10)
    ax.legend(fontsize=7)
    # 2 blacklisted vs wrongful
    ax = axes[1]
    for v in vs:
        _line(ax, v, daily_by_seed(v.runs, "blacklisted"), f"{v.label}", color=v.color)
        _line(ax, v, daily_by_seed(v.runs, "wrongfully_blacklisted"), None, color=v.color, ls="--")
    _per_day_axis(ax, RES_RATE)
    ax.set_title("On a blacklist (dashed: by an erroneous record)", fontsize=10)
    if len(vs) > 1 or band_note(vs):
        ax.legend(fontsize=7)
    # 3 grades on the last day
    ax = axes[2]
    gcols = family(frame0, "grade")
    if gcols:
        x = np.arange(len(gcols))
        width = 0.8 / len(vs)
        for k, v in enumerate(vs):
            last = [float(daily_by_seed(v.runs, c).iloc[-1].mean()) for c in gcols]
            ax.bar(x - 0.4 + width * (k + 0.5), last, width=width, color=v.color, label=v.label)
        ax.set_xticks(x, [c.split(":", 1)[1] for c in gcols])
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylabel(RES_RATE + " (log)")
        ax.grid(axis="y", alpha=0.3)
    else:
        _empty(ax, no_scores(vs[0].runs[0]))
    ax.set_title("Grades on the last day", fontsize=10)
    # 4 blocked by domain
    ax = axes[3]
    domains = _items(vs, "blocked")
    if domains:
        vals = {v.label: [_totals(v, f"blocked:{d}") for d in domains] for v in vs}
        wrong = {v.label: [_totals(v, f"wrongful_blocked:{d}") for d in domains] for v in vs}
        _bars(ax, vs, domains, vals, wrong, "wrongful")
        ax.set_xlabel(RES_RATE + ", whole run")
    ax.set_title("Blocked attempts (hatched: wrongful)", fontsize=10)
    # 5 records by department
    ax = axes[4]
    depts = _items(vs, "records_true")
    if depts:
        true = {v.label: [_totals(v, f"records_true:{d}") for d in depts] for v in vs}
        err = {v.label: [_totals(v, f"records_erroneous:{d}") for d in depts] for v in vs}
        tot = {k: [a + b for a, b in zip(true[k], err[k], strict=True)] for k in true}
        _bars(ax, vs, depts, tot, err, "erroneous")
        _log_x(ax, tot)
        ax.set_xlabel(RES_RATE + ", whole run (log)")
    ax.set_title("Records about residents (hatched: erroneous)", fontsize=10)
    # 6 posting
    ax = axes[5]
    for v in vs:
        _line(ax, v, _posts_per_1000(v), v.label, color=v.color)
    _per_day_axis(ax, "per 1,000 residents per day")
    ax.set_title("Online posts (7-day mean)", fontsize=10)
    if band_note(vs):
        ax.legend(fontsize=7)
    m = v0.runs[0].manifest
    if len(vs) == 1:
        title = (
            f"{v0.label}: {m.get('residents', 0):,} residents, {m.get('days')} days, "
            f"seed{'s' if len(v0.runs) > 1 else ''} {', '.join(map(str, v0.seeds))}"
        )
    else:
        title = " vs ".join(f"{v.label} ({styles[k % 4]})" for k, v in enumerate(vs))
    fig.suptitle(title)
    return _finish(fig)


def plot(runs: Runs, metric: str | None = None, group_by: str = "city") -> Figure:
    """A matplotlib Figure of a run (or runs): the six-panel overview, or one metric day
    by day (`metric`: a name such as 'blacklisted', or a family prefix such as 'blocked'
    for every 'blocked:<domain>'; counts as recorded, not per 100,000). `scslab.plot`."""
    if metric is None:
        return overview(runs)
    return plot_metric(runs, metric, group_by)
