"""Compare two scenarios run with common random numbers: paired differences by seed.

Runs of scenario A and scenario B with the same seed, size and days draw the same city
and share every random stream that the differing rule does not touch, so the difference
of a figure between the two runs of one seed is mostly the rule's effect, not noise.
`compare` pairs the runs by seed, computes each run's headline figures
(`harmsummary.headline`: per 100,000 residents, rate ratios, shares, days), and reports for
each figure the mean of A, the mean of B, and the mean paired difference B - A with a
95% Student t interval across seeds, given from 3 seeds on (`scslab.analysis.stats.MIN_SEEDS`;
with fewer, the row and a note say that intervals across seeds are not available). The
means of A and B come with their own intervals across seeds, the ones `scslab audit`
prints for the same runs (`scslab.analysis.stats.seed_interval`). The
relative change is the difference over A's mean, and its interval the difference's
interval over A's mean. A figure that cannot be negative (a count, rate, ratio, share or
number of days) cannot fall by more than A's mean: the difference's interval is cut
there (a relative change of -100%). A figure missing in a seed (a ratio with too few events) is left
out of that seed's pair, and a row whose figure is missing in every seed says why.
"""

from __future__ import annotations

import glob
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scslab.analysis.harm import RunError, measure
from scslab.analysis.harmsummary import SIGNED, headline, headline_intervals
from scslab.analysis.stats import mean_ci, seed_interval, seeds_reason
from scslab.rundir.manifest import (
    MANIFEST,
    ManifestError,
    dirs_with_manifest,
    read_manifest,
    run_dirs,
    warn_skipped,
)
from scslab.scenario.loader import parse_scenario


@dataclass
class Comparison:
    """Paired differences of headline figures between two sets of runs."""

    scenario_a: str
    scenario_b: str
    seeds: list[int]
    rows: list[dict[str, Any]]  # figure, a(_lo, _hi), b(_lo, _hi), diff, lo, hi,
    # relative(_lo, _hi), n, reason
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "scenario_a": self.scenario_a,
            "scenario_b": self.scenario_b,
            "seeds": self.seeds,
            "rows": self.rows,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        """The comparison as indented JSON (NaN written as null)."""
        from scslab.analysis.harmsummary import finite

        return json.dumps(finite(self.to_dict()), indent=2, allow_nan=False)


def expand(patterns: list[str]) -> list[Path]:
    """Run directories named by paths or glob patterns, or inside a named folder of runs
    (in sorted order, no repeats);
    counterfactual runs (NAME.no-monitoring) are left out, and so, with a warning on
    stderr, are unreadable runs that a pattern matched (a named one raises ManifestError)."""
    out: list[Path] = []
    for pat in patterns:
        globbed = any(c in pat for c in "*?[")
        hits = sorted(glob.glob(pat)) if globbed else [pat]
        if not hits:
            raise RunError(f"{pat}: no run directory matches")
        for h in hits:
            p = Path(h)
            if globbed and not p.is_dir():
                continue  # a file that the pattern matched is not a run
            if p.is_dir() and not (p / MANIFEST).is_file() and dirs_with_manifest(p):
                # a folder of runs (a sweep, seeds made with --seeds): the runs inside
                for q in run_dirs([p]):
                    if read_manifest(q).counterfactual is None and q not in out:
                        out.append(q)
                continue
            try:
                manifest = read_manifest(p)
            except ManifestError as err:
                if not globbed:
                    raise
                warn_skipped(err)
                continue
            if manifest.counterfactual is None and p not in out:
                out.append(p)
    return out


def _by_seed(paths: list[Path], side: str) -> dict[int, Path]:
    seeds: dict[int, Path] = {}
    digests: dict[str, Path] = {}
    for p in paths:
        manifest = read_manifest(p)
        digests.setdefault(manifest.scenario_sha256, p)
        if len(digests) > 1:
            first = next(iter(digests.values()))
            raise RunError(
                f"{side}: runs of different scenarios ({first} and {p}); give the runs of "
                "one scenario per side"
            )
        seed = manifest.seed
        if seed in seeds:
            raise RunError(f"{side}: two runs with seed {seed} ({seeds[seed]} and {p})")
        seeds[seed] = p
    return seeds


def compare(
    runs_a: list[str | Path], runs_b: list[str | Path], run_counterfactual: bool = False
) -> Comparison:
    """Pair runs of two scenarios by seed and report the paired differences B - A of the
    headline figures, with 95% t intervals across seeds."""
    a = _by_seed(expand([str(p) for p in runs_a]), "RUN_A")
    b = _by_seed(expand([str(p) for p in runs_b]), "RUN_B")
    if not a or not b:
        raise RunError("compare: give at least one run on each side")
    seeds = sorted(set(a) & set(b))
    missing = sorted(set(a) ^ set(b))
    if not seeds:
        raise RunError(
            f"compare: no seed in common (A: {sorted(a)}, B: {sorted(b)}); common random "
            "numbers pair runs by seed"
        )
    notes = []
    if missing:
        notes.append(f"seeds {missing} have a run on one side only and are left out")
    ma, mb = {}, {}
    for s in seeds:
        ma[s] = measure(a[s], run_missing=run_counterfactual)
        mb[s] = measure(b[s], run_missing=run_counterfactual)
        for key in ("residents", "days"):
            if ma[s][key] != mb[s][key]:
                raise RunError(
                    f"compare: seed {s}: {key} differ ({ma[s][key]} in {a[s]}, "
                    f"{mb[s][key]} in {b[s]}); run both sides at the same size and length"
                )
        pa = parse_scenario((a[s] / "scenario.yaml").read_text("utf-8")).population
        pb = parse_scenario((b[s] / "scenario.yaml").read_text("utf-8")).population
        if pa != pb and not any("population" in n for n in notes):
            notes.append(
                "the two scenarios' population sections differ: the cities are not the "
                "same, so differences include population noise"
            )
    few = seeds_reason(len(seeds))
    if few:
        notes.append(f"no intervals: {few}")
    ha = {s: headline(ma[s]) for s in seeds}
    hb = {s: headline(mb[s]) for s in seeds}
    rows = [
        _row(fig, [ha[s][fig] for s in seeds], [hb[s][fig] for s in seeds], ma[seeds[0]])
        for fig in ha[seeds[0]]
    ]
    return Comparison(ma[seeds[0]]["scenario"], mb[seeds[0]]["scenario"], seeds, rows, notes)


def _row(
    fig: str, va: list[float | None], vb: list[float | None], first: dict[str, Any]
) -> dict[str, Any]:
    """One figure's means with their intervals across seeds, paired difference B - A
    with its interval, and relative change (the difference and its interval over A's
    mean)."""
    diffs = [
        (y - x) if x is not None and y is not None else math.nan
        for x, y in zip(va, vb, strict=True)
    ]
    ca, cb = seed_interval(va, fig in SIGNED), seed_interval(vb, fig in SIGNED)
    base = ca["mean"]
    # B can fall by A's mean at most when the figure cannot be negative
    cd = mean_ci(diffs, floor=None if fig in SIGNED or base is None else -base)
    rel: dict[str, float | None] = {"relative": None, "relative_lo": None, "relative_hi": None}
    if base not in (None, 0) and cd["mean"] is not None:
        rel["relative"] = cd["mean"] / base
        if cd["lo"] is not None:
            ends = sorted((cd["lo"] / base, cd["hi"] / base))
            rel["relative_lo"], rel["relative_hi"] = ends
    reason = cd["reason"]
    if cd["mean"] is None:
        why = headline_intervals(first).get(fig, {}).get("reason")
        side = "A" if ca["mean"] is None else "B" if cb["mean"] is None else "A and B paired"
        reason = f"no value in {side}" + (f" ({why})" if why else "")
    return {
        "figure": fig,
        "a": ca["mean"],
        "a_lo": ca["lo"],
        "a_hi": ca["hi"],
        "b": cb["mean"],
        "b_lo": cb["lo"],
        "b_hi": cb["hi"],
        "diff": cd["mean"],
        "lo": cd["lo"],
        "hi": cd["hi"],
        **rel,
        "n": cd["n"],
        "reason": reason,
    }


def compare_table(comp: Comparison) -> Any:
    """The comparison as a rich Table: figure, A, B, B - A and its 95% interval."""
    from rich.table import Table

    def fmt(v: float | None, digits: int = 3) -> str:
        if v is None or not math.isfinite(v):
            return "—"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        return f"{v:.{digits}g}"

    n = len(comp.seeds)
    table = Table(
        title=f"{comp.scenario_b} against {comp.scenario_a}: paired by seed "
        f"({', '.join(map(str, comp.seeds))}), common random numbers",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column(f"A: {comp.scenario_a}", justify="right")
    table.add_column(f"B: {comp.scenario_b}", justify="right")
    table.add_column("B - A", justify="right")
    table.add_column(f"95% CI (t, {n} seeds)", justify="right")
    table.add_column("change (95% CI)", justify="right")
    few = seeds_reason(n)
    for r in comp.rows:
        if r["lo"] is not None:
            ci = f"[{fmt(r['lo'])}, {fmt(r['hi'])}]"
            ci += " includes 0" if r["lo"] <= 0 <= r["hi"] else ""
        else:
            ci = "not available" if few and r["diff"] is not None else str(r["reason"] or "—")
        rel = "—" if r["relative"] is None else f"{100 * r['relative']:+.0f}%"
        if r.get("relative_lo") is not None:
            rel += f" [{100 * r['relative_lo']:+.0f}%, {100 * r['relative_hi']:+.0f}%]"
        table.add_row(r["figure"], fmt(r["a"]), fmt(r["b"]), fmt(r["diff"]), ci, rel)
    return table
