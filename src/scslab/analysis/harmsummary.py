"""Harm summarised for a reader: the headline figures of one run, and every figure
across seeds.

`HARM_FIGURES` is the one list of headline harm figures, each read off a run's harm
measures (`scslab.analysis.harm.measure`); `headline(m)` gives them for one run and
`headline_intervals(m)` their 95% intervals within it (residents resampled, ratios as
measured). Across several runs (seeds) of one scenario, `headline_across_seeds` and
`summarise` give the mean and a 95% t interval of each figure (from 3 seeds on; see
`scslab.analysis.stats`). The figures registry (`scslab.analysis.figures`), sweeps,
`scslab audit`, `scslab compare` and the report all read these.

Also here: `audit.json`, the file `scslab audit RUN` writes into a run directory (the
rights lint of its scenario and the harm measured in it), and `harm_view`, the tables
`scslab audit RUN...` prints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scslab import __version__
from scslab.analysis.stats import fmt_interval, mean_ci, seed_interval, seeds_reason
from scslab.rundir.claim import write_file


# ------------------------------------------------------------------ headline figures
def _appeals_figure(m: dict[str, Any], key: str) -> float | None:
    city = m["appeals"]["city"][0] if m["appeals"]["city"] else {}
    value = city.get(key)
    return None if value is None else float(value)


def _posting(m: dict[str, Any]) -> float | None:
    chilling = m["chilling"]
    return chilling["city"][0]["reduction"] if chilling.get("measured") else None


HARM_FIGURES: dict[str, tuple[str, str, Callable[[dict[str, Any]], float | None]]] = {
    "ever_blacklisted_per_100k": (
        "ever blacklisted per 100k",
        "residents ever on a blacklist, per 100,000",
        lambda m: m["wrongful"]["ever_blacklisted_per_100k"],
    ),
    "wrongfully_sanctioned_per_100k": (
        "wrongfully sanctioned per 100k",
        "residents wrongfully blacklisted or blocked, per 100,000",
        lambda m: m["wrongful"]["wrongfully_sanctioned_per_100k"],
    ),
    "days_wrongfully_blacklisted_per_100k": (
        "days wrongfully blacklisted per 100k",
        "days spent wrongfully blacklisted, per 100,000 residents",
        lambda m: m["wrongful"]["wrongful_blacklist_days_per_100k"],
    ),
    "days_listed_unaware_per_100k": (
        "days listed unaware per 100k",
        "days residents spent on a list before they knew of it (no notice, no block yet), "
        "per 100,000 residents",
        lambda m: m.get("unaware", {}).get("days_listed_unaware_per_100k"),
    ),
    "wrongful_blocked_attempts_per_100k": (
        "wrongful blocked attempts per 100k",
        "blocked attempts resting only on erroneous records, per 100,000 residents",
        lambda m: m["wrongful"]["wrongful_blocked_attempts_per_100k"],
    ),
    "median_days_to_clear": (
        "median days to clear a wrongful listing",
        "median days to clear a wrongful listing",
        lambda m: m["time_to_clear"]["median_days_to_clear"],
    ),
    "share_erroneous_corrected": (
        "share of erroneous records corrected",
        "share of erroneous records corrected (0-1)",
        lambda m: m["time_to_clear"]["share_erroneous_corrected"],
    ),
    "listing_ratio_migrants_hukou": (
        "listing rate ratio, migrants / hukou",
        "rate ratio of being blacklisted, migrants / hukou holders",
        lambda m: m["disparate_impact"]["listing"]["ratio"],
    ),
    "blocked_ratio_migrants_hukou": (
        "blocked-attempt ratio, migrants / hukou",
        "rate ratio of blocked attempts, migrants / hukou holders",
        lambda m: m["disparate_impact"]["blocked_per_attempt"]["ratio"],
    ),
    "appeals_filed_per_100k": (
        "appeals filed per 100k",
        "appeals filed, per 100,000 residents",
        lambda m: _appeals_figure(m, "appeals_filed_per_100k"),
    ),
    "appeals_won_per_100k": (
        "appeals won per 100k",
        "appeals won, per 100,000 residents",
        lambda m: _appeals_figure(m, "appeals_won_per_100k"),
    ),
    "green_channel_top_two_deciles_share": (
        "green channel share, top two deciles",
        "share of green-channel uses going to the two richest income deciles (0-1)",
        lambda m: m["green_channel"]["top_two_deciles_share"],
    ),
    "posting_reduction_from_monitoring": (
        "posting reduction from monitoring",
        "share by which online monitoring reduces posting (against a run without it)",
        _posting,
    ),
    "listings_after_income_loss_per_100k": (
        "listings after income loss per 100k",
        "blacklistings that follow income lost to an earlier sanction, per 100,000",
        lambda m: m["feedback"].get("listings_after_income_loss_per_100k"),
    ),
}
"""The harm figures, in the order `headline` gives them: name -> (headline label,
description, how it is read off a run's harm measures)."""


def headline(m: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures of one run's measures (per 100,000 residents unless noted),
    by label: every harm figure of HARM_FIGURES, which the figures registry
    (`scslab.analysis.figures`), sweeps, `scslab audit`, `scslab compare` and the report
    all read."""
    return {label: read(m) for label, _, read in HARM_FIGURES.values()}


SIGNED = ("posting reduction from monitoring",)
"""Headline figures that can be negative (every other one is a count, rate, ratio,
share or number of days: its interval across seeds is cut at 0)."""


def headline_across_seeds(measures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and 95% t interval across runs (seeds) of each headline figure, by label
    (`stats.seed_interval`: cut at 0 but for the figures in SIGNED; from 3 seeds, with
    fewer lo and hi are None and `reason` says why). `scslab audit` prints these, and
    `compare` gives the same for each side."""
    heads = [headline(m) for m in measures]
    return {fig: seed_interval([h[fig] for h in heads], fig in SIGNED) for fig in heads[0]}


def headline_intervals(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """95% intervals within one run of the headline figures that have one ({lo, hi,
    reason}): counts of events resample residents, ratios as measured (see
    `scslab.analysis.stats`); a figure with too few events has lo and hi None and a reason."""
    w, d = m["wrongful"], m["disparate_impact"]
    iv = w.get("intervals", {})
    out = {
        "days wrongfully blacklisted per 100k": iv.get("wrongful_blacklist_days_per_100k"),
        "days listed unaware per 100k": m.get("unaware", {})
        .get("intervals", {})
        .get("days_listed_unaware_per_100k"),
        "wrongful blocked attempts per 100k": iv.get("wrongful_blocked_attempts_per_100k"),
        "listing rate ratio, migrants / hukou": d["listing"],
        "blocked-attempt ratio, migrants / hukou": d["blocked_per_attempt"],
    }
    return {
        k: {"lo": v.get("lo"), "hi": v.get("hi"), "reason": v.get("reason")}
        for k, v in out.items()
        if v is not None
    }


# ------------------------------------------------------------------ every figure, across seeds
def _scalars(obj: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_scalars(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for row in obj:
            if isinstance(row, dict) and "group" in row:
                out.update(
                    _scalars(
                        {k: v for k, v in row.items() if k != "group"}, f"{prefix}{row['group']}."
                    )
                )
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    return out


def summarise(measures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and 95% t interval across runs (seeds) of every numeric figure, by dotted key
    (from 3 seeds; with fewer, lo and hi are None and `reason` says why). The bounds of
    intervals within each run are left out: across seeds, the figure's own spread is the
    interval. The headline figures come first, as `headline.<label>`, with the intervals
    `scslab audit RUN...` prints (`headline_across_seeds`)."""
    flat = [_scalars({k: v for k, v in m.items() if k not in ("seed",)}) for m in measures]
    keys = [
        k
        for k in dict.fromkeys(k for f in flat for k in f)
        if ".intervals." not in k and not k.endswith((".lo", ".hi"))
    ]
    heads = {f"headline.{k}": c for k, c in headline_across_seeds(measures).items()}
    return heads | {k: mean_ci([f.get(k, math.nan) for f in flat]) for k in keys}


def across_seeds(rows: list[dict[str, Any]], key: str, floor: float | None = 0.0) -> dict:
    """mean_ci of `key` over per-seed rows; when no seed has a value, the first row's
    reason (e.g. too few events) is kept."""
    c = mean_ci([r.get(key) for r in rows], floor=floor)
    if c["mean"] is None and rows and rows[0].get("reason"):
        c["reason"] = rows[0]["reason"]
    return c


# ------------------------------------------------------------------ audit.json
def write_audit_json(path: str | Path, measures: dict[str, Any], lint: dict[str, Any]) -> Path:
    """Write `audit.json` into a run directory (atomically): the rights lint of its
    scenario and the harm measured in it."""
    path = Path(path)
    doc = {
        "scslab_version": __version__,
        "lint": lint,
        "harm": measures,
        "headline": headline(measures),
        "headline_intervals": headline_intervals(measures),
    }
    text = json.dumps(finite(doc), indent=2, default=_json_default)
    return write_file(path / "audit.json", text, '"scslab_version"')


def finite(obj: Any) -> Any:
    """A copy of a JSON-ready object with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ------------------------------------------------------------------ terminal view
def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v != 0 and abs(v) < 0.01:
        return f"{v:.{max(digits - 1, 1)}e}"
    return f"{v:.{digits}f}"


def _ci(c: dict[str, Any] | None, digits: int = 2) -> str:
    """An interval '[lo, hi]', or why there is none (too few events); '—' when neither.
    Across fewer seeds than an interval needs, '—' (the view says so once)."""
    if c is None or (c.get("lo") is None and str(c.get("reason", "")).startswith("intervals")):
        return "—"
    return fmt_interval(c, lambda v: _fmt(v, digits))


def harm_view(measures: list[dict[str, Any]]) -> list[Any]:
    """Rich renderables for one run, or several runs (seeds) of one scenario with 95%
    intervals across seeds."""
    from rich.table import Table

    out: list[Any] = []
    many = len(measures) > 1
    first = measures[0]
    seeds = ", ".join(str(m["seed"]) for m in measures)
    who = (
        f"{first['scenario']}: {first['residents']:,} residents, {first['days']} days, "
        f"seed{'s' if many else ''} {seeds}"
    )
    across = headline_across_seeds(measures)
    within = headline_intervals(first)
    t = Table(title=f"Harm measured in the run{'s' if many else ''} of {who}", title_justify="left")
    t.add_column("figure")
    t.add_column("mean" if many else "value", justify="right")
    t.add_column("95% CI across seeds" if many else "95% CI (residents resampled)", justify="right")
    for fig, c in across.items():
        ci = _ci(c) if many else _ci(within.get(fig))
        t.add_row(fig, _fmt(c["mean"]), ci)
    out.append(t)
    no_seeds = seeds_reason(len(measures))
    if many and no_seeds:
        out.append(f"No intervals across seeds: {no_seeds}.")

    def strata_table(title: str, key: str) -> Table:
        tb = Table(title=title, title_justify="left")
        for col in ("group", "migrant rate", "hukou rate", "ratio", "95% CI"):
            tb.add_column(col, justify="right" if col != "group" else "left")
        groups = [r["group"] for r in first["disparate_impact"][key]]
        for g in groups:
            rows = [
                next(r for r in m["disparate_impact"][key] if r["group"] == g) for m in measures
            ]
            mr = mean_ci([r["migrant_rate"] for r in rows], floor=0.0)
            lr = mean_ci([r["local_rate"] for r in rows], floor=0.0)
            rr = across_seeds(rows, "ratio")
            ci = _ci(rr) if many else _ci(rows[0])
            tb.add_row(g, _fmt(mr["mean"], 4), _fmt(lr["mean"], 4), _fmt(rr["mean"]), ci)
        return tb

    di = Table(title="Disparate impact: migrants against hukou holders", title_justify="left")
    for col in ("measure", "migrant rate", "hukou rate", "ratio", "95% CI"):
        di.add_column(col, justify="right" if col != "measure" else "left")
    for key, label in (
        ("listing", "ever blacklisted (share of residents)"),
        ("blocked_per_attempt", "blocked attempts (share of attempts)"),
    ):
        rows = [m["disparate_impact"][key] for m in measures]
        rr = across_seeds(rows, "ratio")
        di.add_row(
            label,
            _fmt(mean_ci([r["migrant_rate"] for r in rows])["mean"], 4),
            _fmt(mean_ci([r["local_rate"] for r in rows])["mean"], 4),
            _fmt(rr["mean"]),
            _ci(rr) if many else _ci(rows[0]),
        )
    out.append(di)
    out.append(
        strata_table(
            "Ever blacklisted, migrants / hukou, by income decile", "listing_by_income_decile"
        )
    )
    out.append(
        strata_table("Ever blacklisted, migrants / hukou, by district", "listing_by_district")
    )

    ap = Table(title="Appeals by group (per 100,000 residents)", title_justify="left")
    for col in ("group", "filed", "won", "win rate", "errors corrected"):
        ap.add_column(col, justify="right" if col != "group" else "left")
    for by in ("hukou", "income_decile"):
        for g in [r["group"] for r in first["appeals"][by]]:
            rows = [next(r for r in m["appeals"][by] if r["group"] == g) for m in measures]
            label = g if by == "hukou" else f"income decile {g}"
            ap.add_row(
                label,
                _fmt(mean_ci([r["appeals_filed_per_100k"] for r in rows])["mean"], 1),
                _fmt(mean_ci([r["appeals_won_per_100k"] for r in rows])["mean"], 1),
                _fmt(mean_ci([r["win_rate"] for r in rows])["mean"], 3),
                _fmt(mean_ci([r["records_corrected_per_100k"] for r in rows])["mean"], 1),
            )
        ap.add_section()
    out.append(ap)

    gc = Table(title="Green channel: share of uses by income decile", title_justify="left")
    deciles = list(first["green_channel"]["share_by_income_decile"])
    for d in deciles:
        gc.add_column(d, justify="right")
    gc.add_column("Gini", justify="right")
    gc.add_row(
        *[
            _fmt(
                mean_ci([m["green_channel"]["share_by_income_decile"][d] for m in measures])[
                    "mean"
                ],
                3,
            )
            for d in deciles
        ],
        _fmt(mean_ci([m["green_channel"]["gini_across_deciles"] for m in measures])["mean"], 3),
    )
    out.append(gc)
    w = [m["wrongful"] for m in measures]
    tc = [m["time_to_clear"] for m in measures]
    out.append(
        f"Wrongful listings: {sum(x['wrongful_listings'] for x in w)} of "
        f"{sum(x['listings'] for x in w)} resident listings; "
        f"{sum(x['cleared'] for x in tc)} of {sum(x['wrongful_episodes'] for x in tc)} wrongful "
        f"episodes cleared by the end; "
        f"{sum(x['erroneous_corrected'] for x in tc)} of {sum(x['erroneous_records'] for x in tc)} "
        "erroneous adverse records corrected."
    )
    ch = first["chilling"]
    if ch.get("measured"):
        red = mean_ci([m["chilling"]["city"][0]["reduction"] for m in measures])
        out.append(
            f"Chilling: posting is {_fmt(100 * (red['mean'] or 0.0), 3)}% lower than in the same "
            f"run without monitoring"
            + (f" ({ch['why']})." if ch.get("why") else f" ({ch['counterfactual']}).")
        )
        for name, act in ch.get("activities", {}).items():
            red = mean_ci(
                [m["chilling"]["activities"][name]["city"][0]["reduction"] for m in measures]
            )
            out.append(
                f"Chilling: {name} (attempts at {act['domain']}) is "
                f"{_fmt(100 * red['mean'], 3)}% lower than in the same run without monitoring."
                if red["mean"] is not None
                else f"Chilling: {name}: no attempts at {act['domain']} to compare."
            )
    else:
        out.append(f"Chilling: not measured: {ch['why']}.")
    fb = first["feedback"]
    if fb.get("measured"):
        out.append(
            "Feedback: "
            f"{sum(m['feedback']['listings_after_income_loss'] for m in measures)} blacklistings "
            "followed income lost to an earlier sanction "
            f"({sum(m['feedback']['residents_with_income_loss'] for m in measures)} residents "
            "lost income); rate ratio against sanctioned residents without loss: "
            f"{_fb_ratio([m['feedback'] for m in measures])}."
        )
    return out


def _fb_ratio(rows: list[dict[str, Any]]) -> str:
    """The feedback rate ratio (mean over seeds), or why there is none."""
    c = across_seeds(rows, "ratio")
    return _fmt(c["mean"]) if c["mean"] is not None else str(c["reason"])
