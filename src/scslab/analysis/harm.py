"""Harm measured in run directories: what the rules did to the synthetic residents.

`measure(run)` reads one run directory (metrics, residents, records, listings) and
returns, JSON-ready:

- wrongful sanctions: residents sanctioned where an erroneous record was decisive (on a
  blacklist whose every listing rests on erroneous records, or blocked by one), per
  100,000 residents, and the days they spent so;
- time to clear: wrongful listing episodes, the share cleared by the end and the days it
  took; erroneous records and the days until they were corrected;
- appeals filed and won, by hukou, income decile and district (per 100,000);
- disparate impact: the rate of being blacklisted and of blocked attempts of migrants
  against hukou holders (rate ratios), overall and within each district and income
  decile, with 95% intervals (see `scslab.analysis.stats`: within a run, Katz log intervals for
  shares of residents and a bootstrap over residents for blocked attempts; across seeds
  when several runs are summarised); no ratio but a reason where events are too few;
- concentration of the green channel: the share of its uses going to the two richest
  income deciles, and the Gini coefficient of uses per resident across deciles;
- chilling: posts per resident-day against the same run without online monitoring (the
  counterfactual run: online-speech departments' coverage set to 0), found as a sibling
  directory or run on demand;
- feedback loops: blacklistings that follow income lost to an earlier sanction, against
  the rate of residents who lost none.

Counts of events (days wrongfully blacklisted, wrongful blocked attempts) carry a 95%
interval that resamples residents. `summarise(runs)` gives the mean and a 95% t interval
across seeds of every figure (from 3 seeds on).
Per-agent tables are needed (runs of up to 1M residents write them by default).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scslab import __version__
from scslab.analysis.stats import (
    PER,
    cluster_rate,
    cluster_ratio,
    fmt_interval,
    katz_ratio,
    mean_ci,
    seed_interval,
    seeds_reason,
    too_few,
)
from scslab.rundir.claim import RunDirError, write_file
from scslab.rundir.manifest import (
    ManifestError,
    RunError,
    dirs_with_manifest,
    read_manifest,
    warn_skipped,
)
from scslab.rundir.results import Results, load_run
from scslab.scenario.loader import parse_scenario
from scslab.scenario.schema import Scenario

GROUPS = ("migrants", "hukou holders")
"""The two groups of every disparity ratio, in order."""

COUNTERFACTUAL_SUFFIX = ".no-monitoring"
"""A counterfactual run without online monitoring lives next to its run, with this suffix."""


# ------------------------------------------------------------------ statistics
def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Gini coefficient (0 = equal, 1 = all to one) of `values` held by groups of `weights`."""
    x = np.asarray(values, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    if w.sum() <= 0 or (x * w).sum() <= 0:
        return 0.0
    mean = (x * w).sum() / w.sum()
    diff = np.abs(x[:, None] - x[None, :]) * w[:, None] * w[None, :]
    return float(diff.sum() / (2.0 * w.sum() ** 2 * mean))


# ------------------------------------------------------------------ loading
def open_run(path: str | Path) -> tuple[Results, Scenario]:
    """A run directory and its resolved scenario; RunError when it cannot be audited."""
    path = Path(path)
    try:
        run = load_run(path)
    except ManifestError:
        raise
    except Exception as err:  # a damaged directory
        raise RunError(f"{path}: cannot read the run ({err})") from None
    for table in ("residents", "records"):
        if table not in run.tables:
            raise RunError(
                f"{path}: no {table}.parquet; run with --agents to write per-agent tables"
            )
    scenario = parse_scenario(run.scenario_yaml, str(path / "scenario.yaml"))
    return run, scenario


def _city_totals(run: Results, group_by: str = "city") -> pd.DataFrame:
    m = run.metrics
    m = m[m["group_by"] == group_by]
    return m.groupby(["group", "metric"], observed=True)["value"].sum().unstack("metric")


def _group_sizes(run: Results, group_by: str) -> pd.Series:
    m = run.metrics
    m = m[(m["group_by"] == group_by) & (m["metric"] == "residents")]
    return m[m["day"] == m["day"].max()].set_index("group")["value"]


def _sum_family(frame: pd.DataFrame, prefix: str) -> pd.Series:
    cols = [c for c in frame.columns if str(c).startswith(prefix)]
    return frame[cols].sum(axis=1) if cols else pd.Series(0.0, index=frame.index)


# ------------------------------------------------------------------ the measures
def _wrongful(run: Results, residents: pd.DataFrame) -> dict[str, Any]:
    n = len(residents)
    wdays = residents.get("days_wrongfully_blacklisted", pd.Series(0, index=residents.index))
    wblock = residents["wrongful_blocked_attempts"]
    sanctioned = (wdays > 0) | (wblock > 0)
    listings = run.tables.get("listings")
    entries = wrong_entries = 0
    if listings is not None and len(listings):
        res = listings[(listings["subject_type"] == "resident") & listings["entered"]]
        entries, wrong_entries = len(res), int(res["wrongful"].sum())
    return {
        "residents": n,
        "wrongfully_sanctioned": int(sanctioned.sum()),
        "wrongfully_sanctioned_per_100k": PER * float(sanctioned.sum()) / n,
        "wrongfully_blacklisted": int((wdays > 0).sum()),
        "wrongful_blacklist_days": int(wdays.sum()),
        "wrongful_blacklist_days_per_100k": PER * float(wdays.sum()) / n,
        "mean_days_per_wrongfully_blacklisted": (
            float(wdays[wdays > 0].mean()) if (wdays > 0).any() else 0.0
        ),
        "wrongful_blocked_attempts": int(wblock.sum()),
        "wrongful_blocked_attempts_per_100k": PER * float(wblock.sum()) / n,
        "residents_wrongfully_blocked": int((wblock > 0).sum()),
        "intervals": {
            "wrongful_blocked_attempts_per_100k": cluster_rate(wblock.to_numpy(), n, seed=1),
            "wrongful_blacklist_days_per_100k": cluster_rate(wdays.to_numpy(), n, seed=2),
        },
        "listings": entries,
        "wrongful_listings": wrong_entries,
        "ever_blacklisted_per_100k": PER * float((residents["days_blacklisted"] > 0).sum()) / n,
    }


def _episodes(listings: pd.DataFrame | None, last_day: int) -> pd.DataFrame:
    """Listing episodes: subject_type, subject, list, start, end (-1 open), wrongful."""
    if listings is None or not len(listings):
        return pd.DataFrame(columns=["subject_type", "subject", "list", "start", "end", "wrongful"])
    keys = ["subject_type", "subject", "list"]
    frame = listings.sort_values([*keys, "day"], kind="stable").reset_index(drop=True)
    starts = frame[frame["entered"]].copy()
    exits = frame[~frame["entered"]]
    starts["k"] = starts.groupby(keys, sort=False).cumcount()
    exits = exits.assign(k=exits.groupby(keys, sort=False).cumcount())
    ep = starts.merge(exits[[*keys, "k", "day"]], on=[*keys, "k"], how="left", suffixes=("", "_x"))
    ep["end"] = ep["day_x"].fillna(-1).astype(int)
    return ep.rename(columns={"day": "start"})[[*keys, "start", "end", "wrongful"]]


def _time_to_clear(run: Results, last_day: int) -> dict[str, Any]:
    ep = _episodes(run.tables.get("listings"), last_day)
    w = ep[(ep["subject_type"] == "resident") & ep["wrongful"].astype(bool)]
    cleared = w[w["end"] >= 0]
    days = (cleared["end"] - cleared["start"]).to_numpy(float)
    rec = run.tables["records"]
    err = rec[rec["erroneous"] & (rec["points"] < 0) & (rec["status"] != "pending")]
    corrected = err[err["status"] == "corrected"]
    to_fix = (corrected["decision_day"] - corrected["effective_day"]).to_numpy(float)
    return {
        "wrongful_episodes": len(w),
        "cleared": len(cleared),
        "share_cleared": len(cleared) / len(w) if len(w) else None,
        "median_days_to_clear": float(np.median(days)) if len(days) else None,
        "mean_days_to_clear": float(days.mean()) if len(days) else None,
        "still_listed_at_end": int((w["end"] < 0).sum()),
        "erroneous_records": len(err),
        "erroneous_corrected": len(corrected),
        "share_erroneous_corrected": len(corrected) / len(err) if len(err) else None,
        "median_days_to_correction": float(np.median(to_fix)) if len(to_fix) else None,
    }


def _appeals(run: Results) -> dict[str, Any]:
    out: dict[str, Any] = {}
    metrics = ("appeals_filed", "appeals_won", "records_corrected", "notices")
    for group_by in ("city", "hukou", "income_decile", "district"):
        tot = _city_totals(run, group_by)
        sizes = _group_sizes(run, group_by)
        rows = []
        for group in tot.index:
            n = float(sizes.get(group, 0.0))
            row: dict[str, Any] = {"group": str(group), "residents": n}
            for metric in metrics:
                v = float(tot.loc[group].get(metric, 0.0))
                row[metric] = v
                row[f"{metric}_per_100k"] = PER * v / n if n else None
            filed = row["appeals_filed"]
            row["win_rate"] = row["appeals_won"] / filed if filed else None
            rows.append(row)
        if group_by == "income_decile":
            rows.sort(key=lambda r: int(r["group"]))
        out[group_by] = rows
    return out


def _strata(residents: pd.DataFrame, by: str, flag: pd.Series) -> list[dict[str, Any]]:
    rows = []
    for group, part in residents.groupby(by, observed=True, sort=True):
        mig = part["hukou"] == "migrant"
        a, n1 = float(flag[part.index][mig].sum()), float(mig.sum())
        b, n2 = float(flag[part.index][~mig].sum()), float((~mig).sum())
        rr = katz_ratio(a, n1, b, n2, GROUPS)
        rows.append(
            {
                "group": str(group),
                "migrant_rate": a / n1 if n1 else None,
                "local_rate": b / n2 if n2 else None,
                **rr,
            }
        )
    return rows


def _blocked_per_attempt(run: Results, residents: pd.DataFrame) -> dict[str, Any]:
    """Blocked attempts per attempt, migrants against hukou holders: a ratio whose
    interval resamples residents (one resident's blocked attempts are not independent),
    the attempts (far more numerous) held fixed."""
    mig = (residents["hukou"] == "migrant").to_numpy()
    blocked = residents["blocked_attempts"].to_numpy()
    attempts = _sum_family(_city_totals(run, "hukou"), "attempts:")
    att = (float(attempts.get("migrant", 0.0)), float(attempts.get("local", 0.0)))
    return {
        "migrant_rate": float(blocked[mig].sum()) / att[0] if att[0] else None,
        "local_rate": float(blocked[~mig].sum()) / att[1] if att[1] else None,
        **cluster_ratio(
            (blocked[mig], blocked[~mig]), (int(mig.sum()), int((~mig).sum())), att, GROUPS
        ),
    }


def _disparate(run: Results, residents: pd.DataFrame) -> dict[str, Any]:
    listed = residents["days_blacklisted"] > 0
    blocked = residents["blocked_attempts"] > 0
    mig = residents["hukou"] == "migrant"
    out: dict[str, Any] = {
        "listing": {
            "migrant_rate": float(listed[mig].mean()) if mig.any() else None,
            "local_rate": float(listed[~mig].mean()) if (~mig).any() else None,
            **katz_ratio(
                float(listed[mig].sum()),
                float(mig.sum()),
                float(listed[~mig].sum()),
                float((~mig).sum()),
                GROUPS,
            ),
        },
        "blocked_per_attempt": _blocked_per_attempt(run, residents),
        "listing_by_district": _strata(residents, "district", listed),
        "listing_by_income_decile": _strata(residents, "income_decile", listed),
        "blocked_by_district": _strata(residents, "district", blocked),
        "blocked_by_income_decile": _strata(residents, "income_decile", blocked),
    }
    return out


def _green_channel(run: Results) -> dict[str, Any]:
    tot = _city_totals(run, "income_decile")
    uses = _sum_family(tot, "green_channel:")
    sizes = _group_sizes(run, "income_decile")
    deciles = sorted(uses.index, key=int)
    u = np.array([float(uses[d]) for d in deciles])
    n = np.array([float(sizes.get(d, 0.0)) for d in deciles])
    total = float(u.sum())
    per_resident = np.divide(u, n, out=np.zeros_like(u), where=n > 0)
    hk = _city_totals(run, "hukou")
    hk_uses = _sum_family(hk, "green_channel:")
    hk_sizes = _group_sizes(run, "hukou")
    return {
        "uses": total,
        "share_by_income_decile": {d: (float(uses[d]) / total if total else 0.0) for d in deciles},
        "top_two_deciles_share": float(u[-2:].sum() / total) if total else None,
        "gini_across_deciles": gini(per_resident, n),
        "migrant_share_of_uses": float(hk_uses.get("migrant", 0.0) / total) if total else None,
        "migrant_share_of_residents": float(hk_sizes.get("migrant", 0.0) / hk_sizes.sum()),
    }


def _feedback(run: Results, residents: pd.DataFrame, days: int) -> dict[str, Any]:
    if "first_income_shock_day" not in residents:
        return {"measured": False, "why": "the run has no income-shock history"}
    first = residents["first_income_shock_day"].to_numpy(np.int64)
    listings = run.tables.get("listings")
    if listings is None:
        return {"measured": False, "why": "the run has no listings table"}
    sc_black = _black_lists(run)
    ent = listings[
        (listings["subject_type"] == "resident")
        & listings["entered"]
        & listings["list"].isin(sc_black)
    ]
    subj = ent["subject"].to_numpy(np.int64)
    day = ent["day"].to_numpy(np.int64)
    shock = first[subj]
    after = (shock >= 0) & (day > shock)
    shocked = first >= 0
    exposure_after = float(np.clip(days - 1 - first[shocked], 0, None).sum())
    # Baseline: residents blacklisted at some point who lost no income: later entries per
    # resident-day after their first entry.
    firsts = ent.groupby("subject")["day"].min()
    clean = firsts[~shocked[firsts.index.to_numpy()]]
    later = ent[ent["subject"].isin(clean.index)]
    later = later[later["day"] > clean.reindex(later["subject"]).to_numpy()]
    exposure_clean = float((days - 1 - clean).clip(lower=0).sum())
    rate_after = after.sum() / exposure_after if exposure_after else None
    rate_clean = len(later) / exposure_clean if exposure_clean else None
    n = len(residents)
    few = too_few(float(after.sum()), len(np.unique(subj[after]))) or too_few(
        float(len(later)), later["subject"].nunique()
    )
    return {
        "measured": True,
        "residents_with_income_loss": int(shocked.sum()),
        "listings_after_income_loss": int(after.sum()),
        "listings_after_income_loss_per_100k": PER * float(after.sum()) / n,
        "rate_after_income_loss_per_resident_year": 365.0 * rate_after if rate_after else 0.0,
        "rate_sanctioned_without_loss_per_resident_year": (
            365.0 * rate_clean if rate_clean else 0.0
        ),
        "ratio": (rate_after / rate_clean) if rate_after and rate_clean and not few else None,
        "reason": few,
    }


def _black_lists(run: Results) -> list[str]:
    sc = parse_scenario(run.scenario_yaml)
    return [n for n, r in sc.lists.items() if r.kind == "black" and r.subject == "resident"]


# ------------------------------------------------------------------ chilling
def monitoring_departments(sc: Scenario) -> list[str]:
    """Departments that monitor online speech: those with a record kind drawn from posts
    or generated in the online_speech context."""
    return sorted(
        {
            d
            for d, k, kind in sc.record_kinds()
            if kind.source == "posts" or sc.kind_context(k) == "online_speech"
        }
    )


def without_monitoring(sc: Scenario) -> Scenario | None:
    """The same scenario with the coverage of every department that monitors online
    speech set to 0 (None: nothing is monitored)."""
    depts = monitoring_departments(sc)
    if not depts:
        return None
    changed = {n: sc.departments[n].model_copy(update={"coverage": 0.0}) for n in depts}
    return sc.model_copy(update={"departments": {**sc.departments, **changed}})


def find_counterfactual(path: str | Path, sc: Scenario) -> Path | None:
    """A sibling run directory that is this run without online monitoring, if any."""
    path = Path(path)
    cf = without_monitoring(sc)
    if cf is None:
        return None
    manifest = read_manifest(path)
    want = (cf.digest(), manifest.seed, manifest.residents, manifest.days)
    candidates = [path.with_name(path.name + COUNTERFACTUAL_SUFFIX)]
    candidates += [p for p in dirs_with_manifest(path.parent) if p != path]
    for cand in dict.fromkeys(candidates):
        if not (cand / "manifest.json").is_file():
            continue
        try:  # a corrupt neighbour is left out, not fatal: check its scenario only if it fits
            other = read_manifest(cand, check_scenario=False)
            if (other.scenario_sha256, other.seed, other.residents, other.days) == want:
                read_manifest(cand)
                return cand
        except ManifestError as err:
            warn_skipped(err)
    return None


def run_counterfactual(path: str | Path, sc: Scenario) -> Path | None:
    """Run this run's scenario without online monitoring (same seed, size and days) and
    write it next to the run (NAME.no-monitoring); None when nothing is monitored."""
    from scslab.rundir.run import Simulation

    path = Path(path)
    cf = without_monitoring(sc)
    if cf is None:
        return None
    manifest = read_manifest(path)
    sim = Simulation(
        cf,
        seed=manifest.seed,
        residents=manifest.residents,
        days=manifest.days,
        agents=False,
    )
    results = sim.run()
    results.manifest["counterfactual"] = {
        "of": path.name,
        "change": "online-speech departments' coverage set to 0 (no online monitoring)",
    }
    out = path.with_name(path.name + COUNTERFACTUAL_SUFFIX)
    try:
        return results.write(out)
    except RunDirError as err:
        raise RunError(str(err)) from None


def _chilling(run: Results, cf_path: Path | None, why: str) -> dict[str, Any]:
    if cf_path is None and not why.startswith("the scenario monitors no"):
        return {"measured": False, "why": why}
    # Without monitoring a run is its own counterfactual: nothing chills speech through it.
    cf = load_run(cf_path) if cf_path is not None else run
    out: dict[str, Any] = {
        "measured": True,
        "counterfactual": str(cf_path) if cf_path is not None else None,
    }
    if cf_path is None:
        out["why"] = why
    for group_by in ("city", "hukou"):
        a, b = _city_totals(run, group_by), _city_totals(cf, group_by)
        sizes = _group_sizes(run, group_by)
        days = int(run.manifest["days"])
        rows = []
        for g in a.index:
            posts = float(a.loc[g].get("posts", 0.0))
            base = float(b.loc[g].get("posts", 0.0)) if g in b.index else 0.0
            n = float(sizes.get(g, 0.0)) * days
            rows.append(
                {
                    "group": str(g),
                    "posts_per_resident_day": posts / n if n else None,
                    "without_monitoring": base / n if n else None,
                    "reduction": (base - posts) / base if base else None,
                }
            )
        out[group_by] = rows
    return out


# ------------------------------------------------------------------ one run, several
def measure(
    path: str | Path, counterfactual: str | Path | None = None, run_missing: bool = False
) -> dict[str, Any]:
    """Every harm measure of one run directory (see the module docstring for units).

    `counterfactual`: a run of the same scenario without online monitoring; when None, a
    sibling is looked for, and run on demand when `run_missing`.
    """
    run, sc = open_run(path)
    residents = run.tables["residents"]
    days = int(run.manifest["days"])
    cf_path: Path | None = Path(counterfactual) if counterfactual else None
    why = ""
    if cf_path is None:
        if without_monitoring(sc) is None:
            why = "the scenario monitors no online speech"
        else:
            cf_path = find_counterfactual(path, sc)
            if cf_path is None and run_missing:
                cf_path = run_counterfactual(path, sc)
            if cf_path is None:
                why = (
                    "no counterfactual run without online monitoring was found next to the "
                    "run; use --counterfactual PATH or --run-counterfactual"
                )
    else:
        read_manifest(cf_path)
    m = run.manifest
    return {
        "run": str(path),
        "scenario": m["scenario"],
        "seed": m["seed"],
        "residents": m["residents"],
        "days": days,
        "wrongful": _wrongful(run, residents),
        "time_to_clear": _time_to_clear(run, days - 1),
        "appeals": _appeals(run),
        "disparate_impact": _disparate(run, residents),
        "green_channel": _green_channel(run),
        "chilling": _chilling(run, cf_path, why),
        "feedback": _feedback(run, residents, days),
    }


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
    the audit prints (`headline_across_seeds`)."""
    flat = [_scalars({k: v for k, v in m.items() if k not in ("seed",)}) for m in measures]
    keys = [
        k
        for k in dict.fromkeys(k for f in flat for k in f)
        if ".intervals." not in k and not k.endswith((".lo", ".hi"))
    ]
    heads = {f"headline.{k}": c for k, c in headline_across_seeds(measures).items()}
    return heads | {k: mean_ci([f.get(k, math.nan) for f in flat]) for k in keys}


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
    (`scslab.analysis.figures`), sweeps, audit, compare and the report all read."""
    return {label: read(m) for label, _, read in HARM_FIGURES.values()}


SIGNED = ("posting reduction from monitoring",)
"""Headline figures that can be negative (every other one is a count, rate, ratio,
share or number of days: its interval across seeds is cut at 0)."""


def headline_across_seeds(measures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and 95% t interval across runs (seeds) of each headline figure, by label
    (`stats.seed_interval`: cut at 0 but for the figures in SIGNED; from 3 seeds, with
    fewer lo and hi are None and `reason` says why). The audit prints these, and
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
        "wrongful blocked attempts per 100k": iv.get("wrongful_blocked_attempts_per_100k"),
        "listing rate ratio, migrants / hukou": d["listing"],
        "blocked-attempt ratio, migrants / hukou": d["blocked_per_attempt"],
    }
    return {
        k: {"lo": v.get("lo"), "hi": v.get("hi"), "reason": v.get("reason")}
        for k, v in out.items()
        if v is not None
    }


def across_seeds(rows: list[dict[str, Any]], key: str, floor: float | None = 0.0) -> dict:
    """mean_ci of `key` over per-seed rows; when no seed has a value, the first row's
    reason (e.g. too few events) is kept."""
    c = mean_ci([r.get(key) for r in rows], floor=floor)
    if c["mean"] is None and rows and rows[0].get("reason"):
        c["reason"] = rows[0]["reason"]
    return c


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
            f"run without online monitoring"
            + (f" ({ch['why']})." if ch.get("why") else f" ({ch['counterfactual']}).")
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
