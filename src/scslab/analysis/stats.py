"""Intervals a reader can quote: the statistics behind harm, compare, plots and report.

Every interval scslab prints comes from here, by one of four methods:

- **across seeds**: the mean of per-seed values and a 95% Student t interval (quantiles
  from `t_quantile`, the only t quantiles in scslab), given from `MIN_SEEDS` seeds on;
  with fewer seeds the interval is not available and a reason says so. A figure's
  interval is `seed_interval`, the same in the audit, `compare` and the report. Seeds
  are independent cities, so the spread across them carries every source of noise,
  events clustering on residents included.
- **counts of events in one run** (blocked attempts, days on a list, listings): events
  cluster on residents (one resident can be blocked fourteen times), so intervals come
  from a bootstrap over residents: the residents of a group are resampled with
  replacement `BOOTSTRAP_REPS` times with a fixed seed (`BOOTSTRAP_SEED`, so a report is
  the same every time it is made) and the 2.5% and 97.5% quantiles of the resampled rate
  are the interval. Never a Poisson model of independent events.
- **shares of residents** (on a list or not; one count per resident): Wilson intervals;
  ratios of two shares: Katz log intervals.
- **too few events**: fewer than `MIN_EVENTS` events, or events from fewer than
  `MIN_RESIDENTS` distinct residents, give no interval and no ratio but a reason such as
  "too few events (15 from 2 residents)". The thresholds keep intervals away from the
  regime where the approximations above fail (a percentile bootstrap over 2 residents,
  a Katz interval on 3 events).

Quantities that cannot be negative (counts, rates, ratios, shares, days) never get a
negative lower bound: across seeds the t interval is cut at 0, the other methods stay
above 0 by construction. Rates are per 100,000 residents (`PER`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

PER = 100_000.0
"""Rates are per this many residents of the group."""

Z95 = 1.959963984540054
"""Two-sided 95% standard normal quantile (scipy.stats.norm.ppf(0.975))."""

MIN_SEEDS = 3
"""Fewest seeds (runs) for an interval across seeds."""

MIN_EVENTS = 10
"""Fewest events (blocked attempts, residents listed...) for an interval or a ratio."""

MIN_RESIDENTS = 5
"""Fewest distinct residents the events come from for an interval or a ratio."""

BOOTSTRAP_REPS = 2000
"""Resamples of residents in a bootstrap interval."""

BOOTSTRAP_SEED = 2018
"""Seed of the bootstrap's random numbers (intervals are the same every time)."""


def t_quantile(df: float, level: float = 0.95) -> float:
    """Two-sided Student t quantile for `df` degrees of freedom: the half-width, in
    standard errors, of a `level` interval (2.776 for 4 df at 95%); NaN for df <= 0.

    The one place scslab computes t quantiles: scipy.stats.t.ppf, exact for any df,
    fractional (Welch) df included. scipy is imported here, on first use, so that
    importing scslab stays quick.
    """
    if not df > 0:
        return math.nan
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def seeds_reason(n: int) -> str | None:
    """Why there is no interval across `n` seeds (None when there can be one)."""
    if n >= MIN_SEEDS:
        return None
    return f"intervals across seeds need at least {MIN_SEEDS} seeds ({n} given)"


def too_few(events: float, residents: float | None = None) -> str | None:
    """'too few events (...)' when `events` (from `residents` distinct residents, when
    known) are below MIN_EVENTS or MIN_RESIDENTS ('no events' when there are none);
    None when enough."""
    if events <= 0:
        return "no events"
    if residents is None:
        return f"too few events ({events:,.0f})" if events < MIN_EVENTS else None
    if events < MIN_EVENTS or residents < MIN_RESIDENTS:
        who = "resident" if residents == 1 else "residents"
        return f"too few events ({events:,.0f} from {residents:,.0f} {who})"
    return None


def mean_ci(values: Iterable[float | None], floor: float | None = None) -> dict[str, Any]:
    """Mean and 95% Student t interval across seeds of per-seed values.

    Non-finite and None values are left out. `floor`: the lowest value the quantity can
    take (0 for counts, rates, ratios, shares); the interval is cut there. With fewer
    than MIN_SEEDS values lo and hi are None and `reason` says why.
    Returns {"mean", "lo", "hi", "n", "reason"}.
    """
    v = np.array([x for x in values if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0, "reason": "no value in any seed"}
    m = float(v.mean())
    reason = seeds_reason(len(v))
    if reason is not None:
        return {"mean": m, "lo": None, "hi": None, "n": len(v), "reason": reason}
    half = t_quantile(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    lo = m - half if floor is None else max(m - half, floor)
    return {"mean": m, "lo": lo, "hi": m + half, "n": len(v), "reason": None}


def seed_interval(values: Iterable[float | None], signed: bool = False) -> dict[str, Any]:
    """Mean and 95% t interval across seeds of one figure's per-seed values, as the
    audit, `compare` and the report all give it: `mean_ci` cut at 0, since a count,
    rate, ratio, share or number of days cannot be negative; `signed` for a figure that
    can be (a reduction, a difference), which is not cut.
    Returns {"mean", "lo", "hi", "n", "reason"} (see `mean_ci`)."""
    return mean_ci(values, floor=None if signed else 0.0)


def wilson_interval(k: float, n: float) -> tuple[float, float]:
    """95% Wilson interval of a share k/n of residents (as fractions); (0, 0) when n is 0."""
    if n <= 0:
        return 0.0, 0.0
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def katz_ratio(
    a: float, n1: float, b: float, n2: float, groups: tuple[str, str] = ("group 1", "group 2")
) -> dict[str, Any]:
    """Ratio of two shares of residents, a/n1 over b/n2, with a Katz log 95% interval.

    Each of a and b counts residents (one event at most per resident), so residents are
    the independent units. No ratio (None and a reason) when a group is empty or has
    fewer than MIN_EVENTS events. Returns {"ratio", "lo", "hi", "reason"}.
    """
    for count, size, name in ((a, n1, groups[0]), (b, n2, groups[1])):
        if size <= 0:
            return _no_ratio(f"no {name}")
        few = too_few(count)
        if few is not None:
            return _no_ratio(f"{few} among {name}")
    ratio = (a / n1) / (b / n2)
    se = math.sqrt(max(1 / a - 1 / n1 + 1 / b - 1 / n2, 0.0))
    return {
        "ratio": ratio,
        "lo": ratio * math.exp(-Z95 * se),
        "hi": ratio * math.exp(Z95 * se),
        "reason": None,
    }


def _no_ratio(reason: str) -> dict[str, Any]:
    return {"ratio": None, "lo": None, "hi": None, "reason": reason}


def bootstrap_totals(
    counts: np.ndarray | Sequence[float], n: int, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> np.ndarray:
    """Totals of events over `n` residents resampled with replacement, `reps` times.

    `counts`: events per resident of the group (residents with none may be left out;
    n counts them all). Residents with the same count are exchangeable, so a resample is
    one multinomial draw of how many residents of each count it holds: exact, and quick
    for any n. `seed` is added to BOOTSTRAP_SEED (different groups, different draws).
    """
    c = np.asarray(counts, float)
    c = c[c > 0]
    if n <= 0 or len(c) == 0:
        return np.zeros(reps)
    values, mult = np.unique(c, return_counts=True)
    p = mult / float(n)
    pvals = np.append(p, max(0.0, 1.0 - float(p.sum())))
    rng = np.random.default_rng(BOOTSTRAP_SEED + seed)
    draws = rng.multinomial(int(n), pvals / pvals.sum(), size=reps)[:, :-1]
    return draws @ values


def cluster_rate(
    counts: np.ndarray | Sequence[float], n: int, per: float = PER, seed: int = 0
) -> dict[str, Any]:
    """Events per `per` residents of a group, with a 95% interval that resamples residents.

    `counts`: events per resident (blocked attempts, days...); `n`: residents in the
    group. Returns {"rate", "lo", "hi", "events", "residents" (with at least one event),
    "reason"}; lo and hi are None and `reason` says why when there are too few events.
    """
    c = np.asarray(counts, float)
    events, who = float(c.sum()), int((c > 0).sum())
    rate = per * events / n if n > 0 else None
    out: dict[str, Any] = {"rate": rate, "lo": None, "hi": None, "events": events}
    out |= {"residents": who, "reason": too_few(events, who) if n > 0 else "no residents"}
    if out["reason"] is None:
        q = np.quantile(bootstrap_totals(c, n, seed=seed), [0.025, 0.975])
        out["lo"], out["hi"] = per * float(q[0]) / n, per * float(q[1]) / n
    return out


def cluster_ratio(
    counts: tuple[np.ndarray, np.ndarray],
    sizes: tuple[int, int],
    exposures: tuple[float, float],
    groups: tuple[str, str] = ("group 1", "group 2"),
) -> dict[str, Any]:
    """Ratio of two rates of events, (A/exposure_a) / (B/exposure_b), with a 95% interval
    that resamples the residents of each group.

    `counts`: events per resident of each group; `sizes`: residents in each group;
    `exposures`: the denominators (residents, or attempts when the rate is per attempt;
    held fixed, the events being what varies). No ratio (None and a reason) with too few
    events in either group. Returns {"ratio", "lo", "hi", "reason"}.
    """
    totals, rates = [], []
    for k, (c, n, exp, name) in enumerate(zip(counts, sizes, exposures, groups, strict=True)):
        c = np.asarray(c, float)
        if n <= 0 or exp <= 0:
            return _no_ratio(f"no {name}")
        few = too_few(float(c.sum()), int((c > 0).sum()))
        if few is not None:
            return _no_ratio(f"{few} among {name}")
        totals.append(bootstrap_totals(c, n, seed=k + 1) / exp)
        rates.append(float(c.sum()) / exp)
    boot = totals[0] / np.where(totals[1] > 0, totals[1], np.nan)
    if np.isnan(boot).any():
        return _no_ratio(f"too few events among {groups[1]} (some resamples have none)")
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"ratio": rates[0] / rates[1], "lo": float(lo), "hi": float(hi), "reason": None}


def fmt_interval(c: dict[str, Any], fmt: Any = "{:,.2f}".format) -> str:
    """'[lo, hi]' of an interval dict, or its reason, or '—' when neither is known."""
    if c.get("lo") is not None and c.get("hi") is not None:
        return f"[{fmt(c['lo'])}, {fmt(c['hi'])}]"
    return str(c.get("reason") or "—")
