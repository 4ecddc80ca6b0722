"""Plots of runs: the figures of the report, the overview and one metric day by day
(matplotlib, Agg backend), for the report, the dashboard and notebooks.

Every function takes one run or several (`Results` or a list of them) and returns a
`matplotlib.figure.Figure`. Several runs are drawn side by side: runs of the same
scenario, size and length (differing only in seed) form one *variant*
(`scslab.presentation.variants`), drawn as the median of its seeds with their spread;
different variants get different colours.

Units: days on time axes; points for scores; rates per 100,000 residents of the group.
Intervals are 95% (`scslab.presentation.grouprates`, `scslab.analysis.stats`): across
seeds (Student t) when a variant has 3 runs or more; otherwise, with the runs' residents
pooled, Wilson for a share of residents and a bootstrap over residents for counts of
events. Groups with too few events get no interval but a reason. Daily lines are the
median of the seeds, and the shaded band around them says what it is in the legend
(`band_note`): the 10-90% quantiles of the seeds' daily values from 3 seeds, their
range with 2.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scslab.analysis.figures import daily_by_seed
from scslab.presentation import drawing as draw
from scslab.presentation.drawing import ENT_RATE, GREY, RES_RATE
from scslab.presentation.grouprates import GROUP_LABELS, RATE_LABELS, group_rates, resident_counts
from scslab.presentation.variants import (
    PER,
    Runs,
    Variant,
    as_list,
    band_note,
    city,
    family,
    family_items,
    no_scores,
    scenario_dict,
    totals,
    variants,
)


def list_sizes(runs: Runs, subject: str = "resident") -> Figure:
    """Subjects on each list per 100,000, day by day (a panel per list, a line per
    variant); in a rollout, first the share of residents enrolled in the score."""
    vs = variants(runs)
    prefix = "listed" if subject == "resident" else "enterprise.listed"
    names: list[str] = []
    for v in vs:
        if subject == "resident" and "enrolled" in city(v.runs[0]) and "enrolled" not in names:
            names.insert(0, "enrolled")
        for c in family(city(v.runs[0]), prefix):
            if c not in names:
                names.append(c)
    ncols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.7 * ncols, 2.4 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    who = "residents" if subject == "resident" else "market entities"
    for ax, col in zip(axes, names, strict=False):
        if col == "enrolled":  # a rollout: the share of residents enrolled in the score
            for v in vs:
                share = daily_by_seed(v.runs, col) / 1000.0  # per 100,000 -> %
                draw.seed_line(ax, v, share, v.label, color=v.color)
            ax.set_title("enrolled in the score", fontsize=10)
            draw.per_day_axis(ax, "% of residents")
            ax.set_ylim(0, 105)
            continue
        for v in vs:
            draw.seed_line(ax, v, daily_by_seed(v.runs, col), v.label, color=v.color)
            w = daily_by_seed(v.runs, col.replace("listed:", "listed_wrongful:"))
            if w.fillna(0).to_numpy().any():
                draw.seed_line(
                    ax, v, w, f"{v.label}: by an erroneous record", color=v.color, ls="--"
                )
        ax.set_title(draw.short(col.split(":", 1)[1]), fontsize=10)
        draw.per_day_axis(ax, RES_RATE if subject == "resident" else ENT_RATE)
        ax.yaxis.label.set_fontsize(8)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    if not names:
        axes[0].set_visible(True)
        draw.empty(axes[0], f"no lists for {who}")
    if len(vs) > 1 or band_note(vs):
        draw.legend_below(fig, axes[0])
    fig.suptitle(f"{who.capitalize()} on each list (dashed: listed by an erroneous record)")
    return draw.finish(fig)


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
        draw.empty(ax_h, no_scores(vs[0].runs[0]))
    gcols = family(city(vs[0].runs[0]), "grade")
    if gcols:
        cmap = matplotlib.colormaps["RdYlGn"]
        colors = [cmap(x) for x in np.linspace(0.95, 0.05, len(gcols))]
        for c, color in zip(gcols, colors, strict=True):
            for v in vs:
                ls = ["-", "--", ":", "-."][vs.index(v) % 4]
                label = c.split(":", 1)[1] if v is vs[0] else None
                draw.seed_line(ax_g, v, daily_by_seed(v.runs, c), label, color=color, ls=ls)
        ax_g.set_yscale("symlog", linthresh=10)
        ax_g.set_ylim(0, 2 * PER)
        ax_g.set_xlabel("day")
        ax_g.set_ylabel(RES_RATE)
        ax_g.grid(alpha=0.3)
        ax_g.set_title("Residents in each grade (log scale)", fontsize=10)
        ax_g.legend(fontsize=7, loc="center left", title="grade", ncols=2)
    else:
        draw.empty(ax_g, no_scores(vs[0].runs[0], "grades"))
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
    return draw.finish(fig)


def blocked_by_domain(runs: Runs) -> Figure:
    """Attempts blocked by a measure per 100,000, by domain, over the run (hatched: wrongful)."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 4.0))
    ax_r, ax_e = fig.subplots(1, 2, width_ratios=[3, 2])
    for ax, prefix, who, unit in (
        (ax_r, "", "residents", RES_RATE),
        (ax_e, "enterprise.", "market entities", ENT_RATE),
    ):
        domains = family_items(vs, prefix + "blocked")
        if not domains:
            draw.empty(ax, f"no measures on {who}")
            continue
        vals = {v.label: [totals(v, f"{prefix}blocked:{d}") for d in domains] for v in vs}
        wrong = {v.label: [totals(v, f"{prefix}wrongful_blocked:{d}") for d in domains] for v in vs}
        draw.bars(ax, vs, domains, vals, wrong, "blocked by an erroneous record")
        ax.set_xlabel(unit + ", whole run")
        ax.set_title(who.capitalize(), fontsize=10)
    draw.legend_below(fig, ax_r)
    fig.suptitle("Attempts blocked by joint punishment, by domain")
    return draw.finish(fig)


def records_by_department(runs: Runs) -> Figure:
    """Records per 100,000 written by each department over the run (hatched: erroneous)."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 4.0))
    ax_r, ax_e = fig.subplots(1, 2, width_ratios=[3, 2])
    for ax, prefix, who, unit in (
        (ax_r, "", "residents", RES_RATE),
        (ax_e, "enterprise.", "market entities", ENT_RATE),
    ):
        depts = family_items(vs, prefix + "records_true")
        if not depts:
            draw.empty(ax, f"no records about {who}")
            continue
        true = {v.label: [totals(v, f"{prefix}records_true:{d}") for d in depts] for v in vs}
        err = {v.label: [totals(v, f"{prefix}records_erroneous:{d}") for d in depts] for v in vs}
        total = {k: [a + b for a, b in zip(true[k], err[k], strict=True)] for k in true}
        draw.bars(ax, vs, depts, total, err, "erroneous (wrong person or wrong facts)")
        draw.log_x(ax, total)
        ax.set_xlabel(f"{unit}, whole run (log)")
        ax.set_title(f"About {who}", fontsize=10)
    draw.legend_below(fig, ax_r)
    fig.suptitle("Records written by each department (hatched: erroneous)")
    return draw.finish(fig)


def wrongful_sanctions(runs: Runs) -> Figure:
    """Residents blacklisted, and blacklisted only by erroneous records, per 100,000 over time."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.6))
    ax_n, ax_s = fig.subplots(1, 2)
    for v in vs:
        draw.seed_line(
            ax_n, v, daily_by_seed(v.runs, "blacklisted"), f"{v.label}: blacklisted", color=v.color
        )
        draw.seed_line(
            ax_n,
            v,
            daily_by_seed(v.runs, "wrongfully_blacklisted"),
            f"{v.label}: only by erroneous records",
            color=v.color,
            ls="--",
        )
        blocked = sum(totals(v, c, rate=False) for c in family(city(v.runs[0]), "blocked"))
        wblocked = sum(
            totals(v, c, rate=False) for c in family(city(v.runs[0]), "wrongful_blocked")
        )
        share = 100 * wblocked / blocked if blocked else 0.0
        ax_s.bar(v.label, share, color=v.color)
        ax_s.text(v.label, share, _wrongful_label(v, wblocked, blocked), ha="center", va="bottom")
    draw.per_day_axis(ax_n, RES_RATE)
    ax_n.set_title("On a blacklist (dashed: only by erroneous records)", fontsize=10)
    ax_n.legend(fontsize=7)
    ax_s.set_ylabel("% of blocked attempts")
    ax_s.set_title("Blocked attempts caused by erroneous records", fontsize=10)
    ax_s.grid(axis="y", alpha=0.3)
    ax_s.set_ylim(0, max(1.0, ax_s.get_ylim()[1] * 1.15))
    ax_s.tick_params(axis="x", labelsize=8)
    fig.suptitle("Wrongful sanctions")
    return draw.finish(fig)


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
            draw.empty(ax, f"none in {'this run' if len(as_list(runs)) == 1 else 'these runs'}")
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
                    yerr=draw.yerr(r)[:, ~few],
                    fmt="none",
                    ecolor="black",
                    lw=0.8,
                    capsize=2,
                )
        draw.rate_ylim(ax, rates)
        ax.set_xticks(x, groups, rotation=60 if group_by == "district" else 0, fontsize=8)
        ax.set_xlabel(GROUP_LABELS[group_by] + (" (1 = poorest)" if "decile" in group_by else ""))
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel(RES_RATE + " of the group")
    if len(vs) > 1:
        draw.legend_below(fig, axes[0])
    fig.suptitle(
        f"{RATE_LABELS[kind]}, per 100,000 residents\n(95% intervals; hatched: too few "
        "events for an interval)",
        fontsize=10,
    )
    return draw.finish(fig)


def green_channel(runs: Runs) -> Figure:
    """Green-channel uses per 100,000 residents by domain and by income decile."""
    vs = variants(runs)
    fig = Figure(figsize=(11, 3.6))
    ax_d, ax_i = fig.subplots(1, 2)
    domains = [
        d
        for d in family_items(vs, "green_channel")
        if any(totals(v, f"green_channel:{d}") for v in vs)
    ]
    if domains:
        vals = {v.label: [totals(v, f"green_channel:{d}") for d in domains] for v in vs}
        draw.bars(ax_d, vs, domains, vals)
        ax_d.set_xlabel(f"uses {RES_RATE}, whole run")
        ax_d.set_title("Uses by domain", fontsize=10)
        rates = group_rates(runs, "income_decile", "green_channel")
        for v in vs:
            r = rates[rates["variant"] == v.label]
            ax_i.errorbar(
                r["group"],
                r["rate"],
                yerr=draw.yerr(r),
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
        draw.rate_ylim(ax_i, rates)
        if len(vs) > 1:
            ax_i.legend(fontsize=7)
    else:
        draw.empty(ax_d, "no green-channel use in these runs")
        draw.empty(ax_i, "")
    fig.suptitle("Green channel: priority and shorter waits for high grades and red lists")
    return draw.finish(fig)


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
        draw.seed_line(ax, v, _posts_per_1000(v), v.label, color=v.color)
    draw.per_day_axis(ax, "posts per 1,000 residents per day")
    ax.set_title("Online posting, 7-day mean (a fall is the chilling effect)", fontsize=10)
    if len(vs) > 1 or band_note(vs):
        ax.legend(fontsize=8)
    return draw.finish(fig)


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
                draw.seed_line(ax, v, daily_by_seed(v.runs, c, rate=False), label)
    else:
        wide = rl[0].to_frame(group_by)
        if metric not in wide:
            raise ValueError(f"metric: no metric '{metric}' by {group_by}")
        for g, sub in wide.groupby("group", sort=False, observed=True):
            ax.plot(sub["day"], sub[metric], label=str(g), lw=1.2)
    draw.per_day_axis(ax, metric)
    ax.set_title(metric if group_by == "city" else f"{metric} by {group_by}")
    ax.legend(fontsize=7, ncols=2 if len(ax.lines) > 8 else 1)
    return draw.finish(fig)


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
            label = draw.short(c.split(":", 1)[1]) if j == 0 else None
            draw.seed_line(ax, v, daily_by_seed(v.runs, c), label, color=f"C{k}", ls=styles[j % 4])
    draw.per_day_axis(ax, RES_RATE)
    ax.set_title("On each list", fontsize=10)
    ax.legend(fontsize=7)
    if "enrolled" in frame0:  # a rollout: the share enrolled in the score, on the right
        share = ax.twinx()
        for j, v in enumerate(vs):
            enrolled = daily_by_seed(v.runs, "enrolled") / 1000.0  # per 100,000 -> %
            label = "enrolled in the score (%, right)" if j == 0 else None
            draw.seed_line(share, v, enrolled, label, color="0.5", ls=styles[j % 4])
        share.set_ylim(0, 105)
        share.set_ylabel("% enrolled", fontsize=8)
        share.legend(fontsize=7, loc="lower right")
    # 2 blacklisted vs wrongful
    ax = axes[1]
    for v in vs:
        draw.seed_line(ax, v, daily_by_seed(v.runs, "blacklisted"), f"{v.label}", color=v.color)
        draw.seed_line(
            ax, v, daily_by_seed(v.runs, "wrongfully_blacklisted"), None, color=v.color, ls="--"
        )
    draw.per_day_axis(ax, RES_RATE)
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
        draw.empty(ax, no_scores(vs[0].runs[0]))
    ax.set_title("Grades on the last day", fontsize=10)
    # 4 blocked by domain
    ax = axes[3]
    domains = family_items(vs, "blocked")
    if domains:
        vals = {v.label: [totals(v, f"blocked:{d}") for d in domains] for v in vs}
        wrong = {v.label: [totals(v, f"wrongful_blocked:{d}") for d in domains] for v in vs}
        draw.bars(ax, vs, domains, vals, wrong, "wrongful")
        ax.set_xlabel(RES_RATE + ", whole run")
    ax.set_title("Blocked attempts (hatched: wrongful)", fontsize=10)
    # 5 records by department
    ax = axes[4]
    depts = family_items(vs, "records_true")
    if depts:
        true = {v.label: [totals(v, f"records_true:{d}") for d in depts] for v in vs}
        err = {v.label: [totals(v, f"records_erroneous:{d}") for d in depts] for v in vs}
        tot = {k: [a + b for a, b in zip(true[k], err[k], strict=True)] for k in true}
        draw.bars(ax, vs, depts, tot, err, "erroneous")
        draw.log_x(ax, tot)
        ax.set_xlabel(RES_RATE + ", whole run (log)")
    ax.set_title("Records about residents (hatched: erroneous)", fontsize=10)
    # 6 posting
    ax = axes[5]
    for v in vs:
        draw.seed_line(ax, v, _posts_per_1000(v), v.label, color=v.color)
    draw.per_day_axis(ax, "per 1,000 residents per day")
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
    return draw.finish(fig)


def plot(runs: Runs, metric: str | None = None, group_by: str = "city") -> Figure:
    """A matplotlib Figure of a run (or runs): the six-panel overview, or one metric day
    by day (`metric`: a name such as 'blacklisted', or a family prefix such as 'blocked'
    for every 'blocked:<domain>'; counts as recorded, not per 100,000). `scslab.plot`."""
    if metric is None:
        return overview(runs)
    return plot_metric(runs, metric, group_by)
