"""Named summary figures of one run: the outputs a sweep records per run.

A figure is a number computed from a run: from its city-wide daily metrics (cheap, any
run), or from the harm measures of `scslab.analysis.harm` (which need the per-agent tables).
Rates are per 100,000 residents; stocks are read on the last day, flows summed over the
run's days. A family (`blocked_per_100k:flights`) takes one item after the colon: a
list name, a domain or a department of the scenario.

`FIGURES` is the registry; `check_figures` refuses unknown names before anything runs,
and `compute_figures` computes them for one run, over its whole span or over a window
of its days (stocks on the window's last day, flows summed over its days);
`figures_by_period` reads them by calendar year, quarter or month of the run's dates.
`daily_by_seed` and `totals_by_seed` read one city metric off several runs (seeds), one
value or column per run: what the plots draw and the report's key figures average, and
give an interval across seeds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scslab.analysis import harm, harmsummary
from scslab.analysis.stats import MIN_EVENTS
from scslab.rundir.results import Results
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS

PER = 100_000


def city_frame(results: Results) -> pd.DataFrame:
    """Daily city-wide metrics of a run, one row per day, one column per metric (cached
    on the Results: plots and the report read it many times), with `first_listings:LIST`
    made from `ever_listed:LIST`: those put on the list for the first time that day (so
    that a window's sum is the number first listed in it)."""
    cached = getattr(results, "_city_frame", None)
    if cached is None:
        cached = results.to_frame("city")
        ever = [c for c in cached.columns if c.startswith("ever_listed:")]
        first = cached[ever].diff().fillna(cached[ever])
        first.columns = [c.replace("ever_listed:", "first_listings:", 1) for c in ever]
        cached = pd.concat([cached, first], axis=1)
        results._city_frame = cached  # type: ignore[attr-defined]
    return cached


def _denominator(column: str) -> str:
    """The population a metric is counted in: residents or market entities."""
    return "enterprise.enterprises" if column.startswith("enterprise.") else "residents"


def daily_by_seed(runs: Sequence[Results], column: str, rate: bool = True) -> pd.DataFrame:
    """A daily city metric of several runs (seeds): one row per day, one column per run
    (0 where a run lacks the metric). `rate`: per 100,000 residents of the city that
    day (per 100,000 market entities for `enterprise.` metrics); NaN on a day with none."""
    cols = {}
    for k, r in enumerate(runs):
        c = city_frame(r)
        s = c[column] if column in c else pd.Series(0.0, index=c.index)
        if rate:
            n = c[_denominator(column)]
            s = PER * s / n.where(n > 0)
        cols[k] = s
    return pd.DataFrame(cols)


def totals_by_seed(runs: Sequence[Results], column: str, rate: bool = True) -> list[float]:
    """A city metric summed over all days, one value per run (0 where a run lacks it).
    `rate`: per 100,000 residents of the city on the first day (per 100,000 market
    entities for `enterprise.` metrics; 0 when there are none)."""
    out = []
    for r in runs:
        c = city_frame(r)
        total = float(c[column].sum()) if column in c else 0.0
        if rate:
            n = float(c[_denominator(column)].iloc[0])
            total = PER * total / n if n > 0 else 0.0
        out.append(total)
    return out


@dataclass(frozen=True)
class FigureSpec:
    """One figure: what it is (with unit), and how it is computed.

    `metric`: from the city's daily metrics, given (city frame, residents, item);
    `whole_run`: from the run's metrics by group, on its last day;
    `headline`, `harm`: a harm figure's label in `harmsummary.headline` (which is made from
    this registry) and how it is read off a run's harm measures (needs per-agent tables);
    `family`: 'list', 'domain' or 'department' when the name takes an item after a colon.
    """

    description: str
    metric: Callable[[pd.DataFrame, int, str], float | None] | None = None
    headline: str | None = None
    family: str | None = None
    whole_run: Callable[[Results], float | None] | None = None
    harm: Callable[[dict[str, Any]], float | None] | None = None


def _last(column: str) -> Callable[[pd.DataFrame, int, str], float | None]:
    def stock(city: pd.DataFrame, residents: int, item: str) -> float | None:
        col = column.format(item=item)
        return None if col not in city else float(city[col].iloc[-1]) * PER / residents

    return stock


def _total(prefix: str) -> Callable[[pd.DataFrame, int, str], float | None]:
    """Sum over days of the columns `prefix` (a family when it ends in ':'), or of one
    item of the family."""

    def flow(city: pd.DataFrame, residents: int, item: str) -> float | None:
        if item:
            cols = [f"{prefix}{item}"]
        elif prefix.endswith(":"):
            cols = [c for c in city.columns if c.startswith(prefix)]
        else:
            cols = [prefix]
        cols = [c for c in cols if c in city]
        return float(city[cols].to_numpy().sum()) * PER / residents if cols else None

    return flow


def _erroneous_share(city: pd.DataFrame, residents: int, item: str) -> float | None:
    wrong = sum(float(city[c].sum()) for c in city if c.startswith("records_erroneous:"))
    true = sum(float(city[c].sum()) for c in city if c.startswith("records_true:"))
    return wrong / (wrong + true) if wrong + true > 0 else None


def _records(city: pd.DataFrame, residents: int, item: str) -> float | None:
    prefixes = ("records_true:", "records_erroneous:")
    cols = [c for c in city if c.startswith(prefixes) and (not item or c.endswith(f":{item}"))]
    return float(city[cols].to_numpy().sum()) * PER / residents if cols else None


def _listing_ratio(run: Results) -> float | None:
    """Blacklisted share of migrants over that of local hukou holders on the last day;
    None with fewer than MIN_EVENTS listed in either group (too few to say)."""
    last = run.final("hukou")
    if not {"migrant", "local"} <= set(last.index):
        return None
    listed, people = last["blacklisted"], last["residents"]
    if min(listed["migrant"], listed["local"]) < MIN_EVENTS:
        return None
    return float((listed["migrant"] / people["migrant"]) / (listed["local"] / people["local"]))


def _posts_per_resident(city: pd.DataFrame, residents: int, item: str) -> float | None:
    return float(city["posts"].sum()) / residents if "posts" in city else None


FIGURES: dict[str, FigureSpec] = {
    "blacklisted_per_100k": FigureSpec(
        "residents on a blacklist on the last day, per 100,000", _last("blacklisted")
    ),
    "wrongfully_blacklisted_per_100k": FigureSpec(
        "residents on a blacklist only by erroneous records on the last day, per 100,000",
        _last("wrongfully_blacklisted"),
    ),
    "listed_per_100k": FigureSpec(
        "residents on the list on the last day, per 100,000", _last("listed:{item}"), family="list"
    ),
    "new_listings_per_100k": FigureSpec(
        "listings of residents over the run, per 100,000 (all lists, or one)",
        _total("new_listings:"),
        family="list",
    ),
    "exits_per_100k": FigureSpec(
        "residents taken off a list (term ended, complied or cleared) over the run, per "
        "100,000 (all lists, or one)",
        _total("exits:"),
        family="list",
    ),
    "ever_listed_per_100k": FigureSpec(
        "residents put on the list for the first time over the run, per 100,000: those "
        "ever listed, each counted once (of all lists, the sum of each list's)",
        _total("first_listings:"),  # (city_frame makes them from ever_listed)
        family="list",
    ),
    "blocked_per_100k": FigureSpec(
        "attempts of residents blocked by a measure over the run, per 100,000 (all "
        "domains, or one)",
        _total("blocked:"),
        family="domain",
    ),
    "wrongful_blocked_per_100k": FigureSpec(
        "blocked attempts resting only on erroneous records over the run, per 100,000",
        _total("wrongful_blocked:"),
        family="domain",
    ),
    "green_channel_per_100k": FigureSpec(
        "green-channel uses over the run, per 100,000", _total("green_channel:"), family="domain"
    ),
    "records_per_100k": FigureSpec(
        "records written about residents over the run, true and erroneous, per 100,000 "
        "(all departments, or one)",
        _records,
        family="department",
    ),
    "erroneous_record_share": FigureSpec(
        "share of residents' records that are erroneous (0-1)", _erroneous_share
    ),
    "posts_per_resident": FigureSpec("online posts per resident over the run", _posts_per_resident),
    "blacklisted_ratio_migrants_locals": FigureSpec(
        "share of migrants on a blacklist over that of local hukou holders, last day (none "
        f"with fewer than {MIN_EVENTS} listed in either group)",
        whole_run=_listing_ratio,
    ),
}


FIGURES.update(
    {
        name: FigureSpec(description, headline=label, harm=read)
        for name, (label, description, read) in harmsummary.HARM_FIGURES.items()
    }
)


def _split(name: str) -> tuple[str, str]:
    base, _, item = name.partition(":")
    return base, item


def check_figures(names: list[str], scenario: Scenario) -> None:
    """Raise ValueError (one line) for a name that is not a figure, or a family item the
    scenario lacks (a list it does not define, a domain that does not exist)."""
    for name in names:
        base, item = _split(name)
        spec = FIGURES.get(base)
        if spec is None:
            raise ValueError(
                f"{name}: not a figure; figures: {', '.join(FIGURES)} "
                "(families take ':ITEM', e.g. blocked_per_100k:flights)"
            )
        if item and spec.family is None:
            raise ValueError(f"{name}: {base} takes no ':ITEM'")
        allowed = {
            "list": sorted(scenario.lists),
            "department": sorted(scenario.departments),
        }.get(spec.family or "", list(DOMAINS))
        if item and item not in allowed:
            raise ValueError(f"{name}: no {spec.family} '{item}'; allowed: {', '.join(allowed)}")


def takes_day(name: str) -> bool:
    """Whether the figure can be read as of a given day (those from daily metrics)."""
    return FIGURES[_split(name)[0]].metric is not None


def needs_agents(names: list[str]) -> bool:
    """Whether computing these figures needs the per-agent tables."""
    return any(FIGURES[_split(n)[0]].headline is not None for n in names)


def day_index(when: int | dt.date, start: dt.date) -> int:
    """The day of a run that `when` names (day 0 is the run's start date `start`): a
    day number as it is, a date as the days from `start` to it."""
    if isinstance(when, dt.date):
        return (when - start).days
    return int(when)


def compute_figures(
    run: Results,
    names: list[str],
    path: Path | None = None,
    day: int | None = None,
    since: int | None = None,
) -> dict:
    """{name: value or None} for one run (None: not defined for it, e.g. no events).
    Figures read from the harm measures need the run's directory `path`. `day`: read
    the figures as of that day (stocks on it, flows summed to it) instead of the last;
    `since`: flows summed from that day on (days, inclusive) instead of from day 0.
    Harm figures and other figures of the whole run take neither."""
    city = city_frame(run)
    if day is not None or since is not None:
        city = city.loc[since or 0 : day]
    residents = int(run.manifest["residents"])
    out: dict[str, float | None] = {}
    headline: dict[str, float | None] | None = None
    for name in names:
        base, item = _split(name)
        spec = FIGURES[base]
        if spec.metric is not None:
            out[name] = spec.metric(city, residents, item) if len(city) else None
            continue
        if day is not None or since is not None:
            raise ValueError(f"{name}: a figure of the whole run; it takes no day")
        if spec.whole_run is not None:
            out[name] = spec.whole_run(run)
            continue
        if headline is None:
            if path is None:
                raise ValueError(f"{name}: needs the run's directory (per-agent tables)")
            headline = harmsummary.headline(harm.measure(path))
        value = headline.get(spec.headline or "")
        out[name] = None if value is None else float(value)
    return out


PERIODS = {"year": "Y", "quarter": "Q", "month": "M"}
"""Calendar periods figures can be read by (pandas period codes)."""


def list_figures(list_name: str) -> tuple[list[str], list[str]]:
    """The figures that say how a list grows, for `figures_by_period`: (names, those of
    them summed from day 0): on the list at the period's end, ever put on it by then, put
    on it and taken off it in the period (per 100,000 residents)."""
    ever = f"ever_listed_per_100k:{list_name}"
    names = [f"listed_per_100k:{list_name}", ever]
    names += [f"new_listings_per_100k:{list_name}", f"exits_per_100k:{list_name}"]
    return names, [ever]


def figures_by_period(
    run: Results, names: list[str], period: str = "year", from_start: Collection[str] = ()
) -> pd.DataFrame:
    """Figures of one run by calendar period: one row per period the run's days touch
    (its label, its first and last day of the run, the last day's date, the number of
    days), one column per figure of `names`. Stocks are read on the period's last day;
    flows summed over the period's days, or from day 0 for the names in `from_start` (a
    cumulative count). Figures of the daily metrics only (ValueError for others)."""
    if period not in PERIODS:
        raise ValueError(f"period: one of {', '.join(PERIODS)} (got {period!r})")
    for figure in names:
        if not takes_day(figure):
            raise ValueError(f"{figure}: a figure of the whole run; it cannot be read by {period}")
    days = city_frame(run).index.to_numpy()
    dates = run.start_date + pd.to_timedelta(days, unit="D")
    labels = pd.PeriodIndex(dates, freq=PERIODS[period])
    rows = []
    for label in labels.unique():
        inside = days[labels == label]
        first, last = int(inside.min()), int(inside.max())
        row: dict[str, Any] = {
            period: str(label),
            "first_day": first,
            "last_day": last,
            "date": (run.start_date + pd.Timedelta(days=last)).date(),
            "days": len(inside),
        }
        for figure in names:
            since = 0 if figure in from_start else first
            row[figure] = compute_figures(run, [figure], day=last, since=since)[figure]
        rows.append(row)
    return pd.DataFrame(rows)
