"""Drawing helpers shared by the figures (matplotlib, Agg backend).

A variant's daily line (the median of its seeds) with the band of its seeds around it,
horizontal bars per item with the wrongful part hatched, error bars and room for the
intervals of group rates, empty panels, day axes and legends. They draw on an Axes or a
Figure; the figures themselves are in `scslab.presentation.plots`.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scslab.analysis.stats import MIN_SEEDS
from scslab.presentation.variants import MARKERS, Variant

GREY = "#7f7f7f"
WRONG = "#d62728"
RES_RATE = "per 100,000 residents"
ENT_RATE = "per 100,000 market entities"


def _band(series: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """The spread of per-seed daily values around their median: the 10-90% quantiles
    across seeds from MIN_SEEDS seeds, else the range; and its legend label. It shows how
    far single runs fall apart, not an interval of the mean."""
    if series.shape[1] >= MIN_SEEDS:
        lo, hi = series.quantile(0.1, axis=1), series.quantile(0.9, axis=1)
        return lo.to_numpy(), hi.to_numpy(), "10-90% of seeds"
    return series.min(axis=1).to_numpy(), series.max(axis=1).to_numpy(), "range across seeds"


def seed_line(
    ax: Axes, variant: Variant, series: pd.DataFrame, label: str | None, **kw: Any
) -> None:
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


def short(name: str) -> str:
    """A metric's item as a label: underscores as spaces."""
    return name.replace("_", " ")


def finish(fig: Figure) -> Figure:
    """The figure, laid out so that titles, labels and legends fit (constrained layout)."""
    fig.set_layout_engine("constrained")
    return fig


def empty(ax: Axes, message: str) -> None:
    """A panel with nothing to draw: `message` in its middle, no ticks."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def per_day_axis(ax: Axes, ylabel: str) -> None:
    """An axis of days (x) against `ylabel` (y, from 0), with a light grid."""
    ax.set_xlabel("day")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)


def rate_ylim(ax: Axes, rates: pd.DataFrame) -> None:
    """Room for the rates and the intervals of groups with events.

    The interval of a group with no event (0 to about 3.7 events' worth) may run off the top.
    """
    hi = rates.loc[rates["count"] > 0, "hi"].dropna()
    top = max(float(rates["rate"].max()) * 1.3, float(hi.max()) * 1.05 if len(hi) else 0.0)
    ax.set_ylim(0, top if top > 0 else 1.0)


def yerr(r: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above each rate (0 where there is no interval)."""
    lo, hi = r["lo"].fillna(r["rate"]), r["hi"].fillna(r["rate"])
    return np.vstack([r["rate"] - lo, hi - r["rate"]]).clip(min=0)


def legend_below(fig: Figure, ax: Axes, ncols: int = 4) -> None:
    """The legend of `ax` for the whole figure, below it (none when `ax` has no labels)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8)


def bars(
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
    ax.set_yticks(y, [short(i) for i in items], fontsize=8)
    ax.set_ylim(max(len(items), 4) - 0.5, -0.5)  # top to bottom; thin bars when few
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.15)
    ax.set_xlim(left=0)


def log_x(ax: Axes, values: dict[str, list[float]]) -> None:
    """A log x axis (linear below 10) with room for the labels at the bars' ends."""
    top = max((max(v) for v in values.values() if v), default=10.0)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, max(100.0, top * 5))
