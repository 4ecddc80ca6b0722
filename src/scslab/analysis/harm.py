"""Harm measured in run directories: what the rules did to the synthetic residents.

`measure(run)` reads one run directory (metrics, residents, records, listings) and
returns, JSON-ready:

- wrongful sanctions: residents sanctioned where an erroneous record was decisive (on a
  blacklist whose every listing rests on erroneous records, or blocked by one), per
  100,000 residents, and the days they spent so;
- time to clear: wrongful listing episodes, the share cleared by the end and the days it
  took; erroneous records and the days until they were corrected;
- appeals filed and won, by hukou, income decile and district (per 100,000);
- listed unaware: days residents spent on a list before they knew of it (neither a
  notice of a record that listed them nor a block by a measure yet), per 100,000
  residents, with a 95% interval that resamples residents;
- disparate impact: the rate of being blacklisted and of blocked attempts of migrants
  against hukou holders (rate ratios), overall and within each district and income
  decile, with 95% intervals (see `scslab.analysis.stats`: within a run, Katz log intervals for
  shares of residents and a bootstrap over residents for blocked attempts; across seeds
  when several runs are summarised); no ratio but a reason where events are too few;
- concentration of the green channel: the share of its uses going to the two richest
  income deciles, and the Gini coefficient of uses per resident across deciles;
- chilling: posts per resident-day, and attempts per resident-day at every other
  monitored activity (petitions, gatherings, worship: those that loyalty records come
  from), against the same run without monitoring (the counterfactual run: the coverage
  of every department that records speech, petitions, gatherings or worship set to 0),
  found as a sibling directory or run on demand;
- feedback loops: blacklistings that follow income lost to an earlier sanction, against
  the rate of residents who lost none.

Counts of events (days wrongfully blacklisted, wrongful blocked attempts) carry a 95%
interval that resamples residents. The headline figures read off these measures, and
their summaries across seeds, are in `scslab.analysis.harmsummary`.
Per-agent tables are needed (runs of up to 1M residents write them by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scslab.analysis.principles import SPECIAL_CATEGORY_CONTEXTS
from scslab.analysis.stats import PER, cluster_rate, cluster_ratio, katz_ratio, too_few
from scslab.rundir.claim import RunDirError
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
"""A counterfactual run without monitoring lives next to its run, with this suffix."""
MONITORED_CONTEXTS = frozenset(SPECIAL_CATEGORY_CONTEXTS)
"""Contexts whose records are monitoring of speech, petitions, gatherings or worship: those
that reveal political opinions or religious beliefs."""


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
    """A run directory and its resolved scenario; RunError when its harm cannot be
    measured (unreadable, or without per-agent tables)."""
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


def listing_episodes(listings: pd.DataFrame | None, last_day: int) -> pd.DataFrame:
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


def _unaware(residents: pd.DataFrame) -> dict[str, Any]:
    n = len(residents)
    days = residents.get("days_listed_unaware", pd.Series(0, index=residents.index))
    return {
        "residents_listed_unaware": int((days > 0).sum()),
        "residents_listed_unaware_per_100k": PER * float((days > 0).sum()) / n,
        "days_listed_unaware": int(days.sum()),
        "days_listed_unaware_per_100k": PER * float(days.sum()) / n,
        "mean_days_per_resident_listed_unaware": (
            float(days[days > 0].mean()) if (days > 0).any() else 0.0
        ),
        "intervals": {
            "days_listed_unaware_per_100k": cluster_rate(days.to_numpy(), n, seed=3),
        },
    }


def _time_to_clear(run: Results, last_day: int) -> dict[str, Any]:
    ep = listing_episodes(run.tables.get("listings"), last_day)
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
    """Departments that monitor speech, petitions, gatherings or worship and see some of
    it (coverage above 0, on some day: the timeline may raise it): those with a record
    kind drawn from posts or another activity, or generated in a MONITORED_CONTEXTS
    context."""
    raised = {
        key.split(".")[1]
        for _, values in sc.timeline_by_day()
        for key, value in values.items()
        if key.startswith("departments.") and key.endswith(".coverage") and value > 0
    }
    return sorted(
        {
            d
            for d, k, kind in sc.record_kinds()
            if (kind.source != "behaviour" or sc.kind_context(k) in MONITORED_CONTEXTS)
            and (sc.departments[d].coverage > 0 or d in raised)
        }
    )


def monitored_activities(sc: Scenario) -> dict[str, str]:
    """Residents' activities, other than posting, that record kinds are drawn from (source
    'activity'), whose rate chilling lowers: name -> domain (attempts are counted by
    domain, so activities that share a domain are measured together)."""
    sources = {k.activity for _, _, k in sc.record_kinds() if k.source == "activity"}
    return {
        n: str(a.domain)
        for n, a in sc.activities.items()
        if n in sources and a.subject == "resident" and a.domain != "online_accounts"
    }


def without_monitoring(sc: Scenario) -> Scenario | None:
    """The same scenario with the coverage of every department that monitors speech,
    petitions, gatherings or worship set to 0, and kept at 0 by its timeline (None:
    nothing is monitored)."""
    depts = monitoring_departments(sc)
    if not depts:
        return None
    changed = {n: sc.departments[n].model_copy(update={"coverage": 0.0}) for n in depts}
    zero = {f"departments.{n}.coverage" for n in depts}
    timeline = [_without_keys(entry, zero) for entry in sc.timeline]
    return sc.model_copy(
        update={
            "departments": {**sc.departments, **changed},
            "timeline": [e for e in timeline if e is not None],
        }
    )


def _without_keys(entry: Any, keys: set[str]) -> Any:
    """A timeline entry without the changes of `keys` (None when nothing is left)."""
    field = "set" if hasattr(entry, "set") else "ramp"
    kept = {k: v for k, v in getattr(entry, field).items() if k not in keys}
    return entry.model_copy(update={field: kept}) if kept else None


def find_counterfactual(path: str | Path, sc: Scenario) -> Path | None:
    """A sibling run directory that is this run without monitoring, if any."""
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
    """Run this run's scenario without monitoring (same seed, size and days) and write it
    next to the run (NAME.no-monitoring); None when nothing is monitored."""
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
        "change": "coverage set to 0 in the departments that monitor speech, petitions, "
        "gatherings or worship: " + ", ".join(monitoring_departments(sc)),
    }
    out = path.with_name(path.name + COUNTERFACTUAL_SUFFIX)
    try:
        return results.write(out)
    except RunDirError as err:
        raise RunError(str(err)) from None


def _reductions(run: Results, cf: Results, metric: str, label: str) -> dict[str, Any]:
    """Per city and hukou group: `metric` per resident-day (as `label`), the same in the
    counterfactual run, and the share by which it is lower here (None: none there)."""
    out: dict[str, Any] = {}
    days = int(run.manifest["days"])
    for group_by in ("city", "hukou"):
        a, b = _city_totals(run, group_by), _city_totals(cf, group_by)
        sizes = _group_sizes(run, group_by)
        rows = []
        for g in a.index:
            here = float(a.loc[g].get(metric, 0.0))
            base = float(b.loc[g].get(metric, 0.0)) if g in b.index else 0.0
            n = float(sizes.get(g, 0.0)) * days
            rows.append(
                {
                    "group": str(g),
                    label: here / n if n else None,
                    "without_monitoring": base / n if n else None,
                    "reduction": (base - here) / base if base else None,
                }
            )
        out[group_by] = rows
    return out


def _chilling(run: Results, sc: Scenario, cf_path: Path | None, why: str) -> dict[str, Any]:
    if cf_path is None and not why.startswith("the scenario monitors no"):
        return {"measured": False, "why": why}
    # Without monitoring a run is its own counterfactual: nothing chills through it.
    cf = load_run(cf_path) if cf_path is not None else run
    out: dict[str, Any] = {
        "measured": True,
        "counterfactual": str(cf_path) if cf_path is not None else None,
    }
    if cf_path is None:
        out["why"] = why
    out.update(_reductions(run, cf, "posts", "posts_per_resident_day"))
    out["activities"] = {
        name: {
            "domain": domain,
            "metric": f"attempts:{domain}",
            **_reductions(run, cf, f"attempts:{domain}", "attempts_per_resident_day"),
        }
        for name, domain in monitored_activities(sc).items()
    }
    return out


# ------------------------------------------------------------------ one run, several
def measure(
    path: str | Path, counterfactual: str | Path | None = None, run_missing: bool = False
) -> dict[str, Any]:
    """Every harm measure of one run directory (see the module docstring for units).

    `counterfactual`: a run of the same scenario without monitoring (without_monitoring);
    when None, a sibling is looked for, and run on demand when `run_missing`.
    """
    run, sc = open_run(path)
    residents = run.tables["residents"]
    days = int(run.manifest["days"])
    cf_path: Path | None = Path(counterfactual) if counterfactual else None
    why = ""
    if cf_path is None:
        if without_monitoring(sc) is None:
            why = "the scenario monitors no online speech, petitions, gatherings or worship"
        else:
            cf_path = find_counterfactual(path, sc)
            if cf_path is None and run_missing:
                cf_path = run_counterfactual(path, sc)
            if cf_path is None:
                why = (
                    "no counterfactual run without monitoring was found next to the "
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
        "unaware": _unaware(residents),
        "disparate_impact": _disparate(run, residents),
        "green_channel": _green_channel(run),
        "chilling": _chilling(run, sc, cf_path, why),
        "feedback": _feedback(run, residents, days),
    }
