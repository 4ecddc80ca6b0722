"""Rates per 100,000 residents of each group (hukou, income decile, district) with their
95% intervals, and the headline disparity ratios: the numbers behind the disparate-impact
figures and the report's tables of group rates.

Intervals are 95% (`scslab.analysis.stats`): across seeds (Student t) when a variant has 3 runs
or more; otherwise, with the runs' residents pooled, Wilson for a share of residents and
a bootstrap over residents for counts of events (events cluster on residents). Groups
with too few events get no interval but a reason.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from scslab.analysis.stats import (
    MIN_SEEDS,
    cluster_rate,
    seed_interval,
    too_few,
    wilson_interval,
)
from scslab.presentation.variants import PER, Runs, black_lists, variants
from scslab.rundir.results import Results

log = logging.getLogger(__name__)


RATE_LABELS: dict[str, str] = {
    "blacklisted": "Residents on a blacklist on the last day",
    "new_listings": "Residents newly blacklisted during the run",
    "blocked": "Blocked attempts during the run",
    "wrongful_blocked": "Attempts blocked by an erroneous record during the run",
    "green_channel": "Green-channel uses during the run",
}
GROUP_LABELS = {"hukou": "hukou", "district": "district", "income_decile": "income decile"}


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
