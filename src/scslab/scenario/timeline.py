"""The calendar and the timeline: rules that change on dates.

A scenario has a `start_date` (day 0 of a run); day d is the date start_date + d days.
Its `timeline` is a list of changes to rule values, each either

- a step: `{date: DATE, set: {KEY: VALUE, ...}}`, the values from that date on; or
- a ramp: `{start: DATE, end: DATE, ramp: {KEY: [FROM, TO], ...}, every_days: N}`, each
  value moved in a straight line from FROM on `start` to TO on `end`, in steps every N
  days (30 by default) and on `end` itself, and kept after.

KEY is a dotted path of the scenario (`departments.courts.coverage`,
`lists.dishonest_judgment_debtors.duration_days`): every value is checked as the same
value given by `--set` would be (its bounds and type; scenario.schema validates the
timeline against the scenario). Only the rules can change: the population, the days,
the outputs, the score's base and the half-lives of recovery (FIXED_KEYS) are fixed
for a run. `changes_by_day` turns a timeline into the table the engine applies at
the start of each day that has a change: (day, {key: value}).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Value = bool | int | float | str
"""A value a timeline entry may hold; the scenario accepts only numbers and switches (a
name shapes the run: which list a measure belongs to, a list's kind, an activity's
domain), and says so for a name."""

CHANGEABLE = (
    "departments.",
    "scoring.",
    "corporate_scoring.",
    "lists.",
    "measures.",
    "rewards.",
    "activities.",
    "behaviour.",
    "due_process.",
)
"""The sections whose values a timeline may change."""
FIXED_KEYS = {
    "behaviour.chilling_half_life_days": "recovery's half-life decays the past too",
    "behaviour.income_recovery_half_life_days": "recovery's half-life decays the past too",
    "scoring.base": "the score's base is where every subject starts and the tally counts from",
    "corporate_scoring.base": "the score's base is where every subject starts and the tally "
    "counts from",
    "scoring.drift_per_day": "records give back their points decayed at the drift's rate",
    "corporate_scoring.drift_per_day": "records give back their points decayed at the drift's rate",
    "behaviour.min_income_factor": "incomes already lost are held at the floor they fell to",
}
"""Keys a timeline may not change, and why."""
MAX_ENTRIES = 1000
"""Most entries (steps and ramps) in a timeline."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Step(_Entry):
    """Values set on a date and kept after it."""

    date: dt.date
    set: Annotated[dict[str, Value], Field(min_length=1)]


class Ramp(_Entry):
    """Values moved in a straight line between two dates, in steps of every_days."""

    start: dt.date
    end: dt.date
    ramp: Annotated[dict[str, tuple[float, float]], Field(min_length=1)]
    every_days: Annotated[int, Field(ge=1, le=366)] = 30

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        return self

    def dated(self) -> Iterator[tuple[dt.date, dict[str, float]]]:
        """(date, values) at start, every every_days after it, and at end."""
        span = (self.end - self.start).days
        offsets = [*range(0, span, self.every_days), span]
        for off in offsets:
            t = off / span
            yield (
                self.start + dt.timedelta(days=off),
                {k: a + (b - a) * t for k, (a, b) in self.ramp.items()},
            )


def _kind(data: Any) -> str:
    if isinstance(data, dict):
        return "ramp" if "ramp" in data else "step"
    return "ramp" if isinstance(data, Ramp) else "step"


Entry = Annotated[Annotated[Step, Tag("step")] | Annotated[Ramp, Tag("ramp")], Discriminator(_kind)]
"""A timeline entry: a ramp when it has `ramp`, else a step."""


def check_key(key: str) -> str | None:
    """Why `key` cannot be changed by a timeline (None: it can)."""
    if key in FIXED_KEYS:
        return f"fixed for a run ({FIXED_KEYS[key]})"
    if not key.startswith(CHANGEABLE):
        allowed = ", ".join(p.rstrip(".") for p in CHANGEABLE)
        return f"a timeline changes only the rules: keys under {allowed}"
    return None


def dated_values(timeline: list[Entry]) -> Iterator[tuple[int, dt.date, str, Any]]:
    """(entry index, date, key, value) of every value a timeline sets, in entry order."""
    for i, entry in enumerate(timeline):
        if isinstance(entry, Step):
            for key, value in entry.set.items():
                yield i, entry.date, key, value
        else:
            for date, values in entry.dated():
                for key, value in values.items():
                    yield i, date, key, value


def check_timeline(
    timeline: list[Entry],
    start_date: dt.date,
    days: int,
    check_value: Callable[[str, Any, bool], str | None],
) -> None:
    """Raise ValueError ('timeline.N.KEY: why') for a change that is not allowed: a key
    the timeline may not change, a date outside the run (start_date to start_date +
    days - 1; a ramp must start in the run and may end after it, its steps after the
    run's last day never taken), or a value `check_value(key, value, ramp)` refuses (it
    returns why, or None). A ramp's values are checked at both ends (those between lie
    within them)."""
    last = start_date + dt.timedelta(days=days - 1)
    for i, entry in enumerate(timeline):
        ramp = isinstance(entry, Ramp)
        if isinstance(entry, Step):
            dates, values = [entry.date], [(k, v) for k, v in entry.set.items()]
        else:  # a ramp may run on past the run's end (a shorter run of a longer plan)
            dates = [entry.start]
            values = [(k, v) for k, ends in entry.ramp.items() for v in ends]
        for date in dates:
            if not start_date <= date <= last:
                raise ValueError(
                    f"timeline.{i}: {date} is outside the run ({start_date} to {last})"
                )
        for key, value in values:
            why = check_key(key)
            if why is None:
                why = check_value(key, value, ramp)
            if why is not None:
                raise ValueError(f"timeline.{i}.{key}: {why}")


def changes_by_day(
    timeline: list[Entry], start_date: dt.date, typed: Callable[[str, Any], Any]
) -> list[tuple[int, dict[str, Any]]]:
    """The timeline as the engine applies it: (day, {key: value}) for each day with a
    change, in day order; a later entry's value wins on the same day. `typed(key, value)`
    gives the value the type of the one it replaces (a ramp's floats rounded where an
    integer is changed)."""
    by_day: dict[int, dict[str, Any]] = {}
    for _, date, key, value in dated_values(timeline):
        by_day.setdefault((date - start_date).days, {})[key] = typed(key, value)
    return sorted(by_day.items())
