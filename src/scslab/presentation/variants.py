"""Runs grouped into variants, and what every figure reads of a variant's runs.

Runs of the same scenario, size and length that differ only in their seed form one
*variant*, drawn as the median of its seeds with their spread; different variants get
different colours and markers. Here: that grouping, a run's scenario as plain data, the
families of city metrics (`prefix:<item>`) and their totals over a run, and what the
line and shaded band of a daily series are (`band_note`). Rates are per 100,000
residents of the group (`PER`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from scslab.analysis.figures import city_frame, totals_by_seed
from scslab.analysis.stats import MIN_SEEDS
from scslab.rundir.results import Results

PER = 100_000
"""Rates are per this many residents of the group."""
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""One marker per variant: lines of variants that coincide stay distinguishable."""

Runs = Results | Sequence[Results]
"""One run or several."""


city = city_frame
"""Daily city-wide metrics of a run, one column per metric (`figures.city_frame`)."""


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


def totals(v: Variant, column: str, rate: bool = True) -> float:
    """A metric summed over all days, mean over seeds (`figures.totals_by_seed`)."""
    return float(np.mean(totals_by_seed(v.runs, column, rate)))


def family_items(vs: list[Variant], prefix: str) -> list[str]:
    """The items of a metric family (domains, departments...) across variants, in order."""
    items: list[str] = []
    for v in vs:
        for c in family(city(v.runs[0]), prefix):
            if c.split(":", 1)[1] not in items:
                items.append(c.split(":", 1)[1])
    return items


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
