"""Bounds of a scenario: the limits every value must keep, and the number types that say them.

Each limit comes from how a run stores or draws what it bounds (days as int16, scores as
float32, a day's events held in memory at once, ids as int32) and says so where it is
refused: a validator names the rule and why, and the scenario reference reads the same
words. `Strict` is the base of every scenario model; `check_run_size` is the check of a
run's size and seed that the command line and `Simulation` share.

Units: days for durations, points for scores, per-year rates (expected events per subject
per year), probabilities in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_DAYS = 20 * 365
"""The longest run, days (the CLI's --days and a scenario's `days` share this bound)."""
MAX_SPAN_DAYS = 10 * 365
"""The longest delay, window, duration or wait a scenario may give, days. Days are stored
as int16 (at most 32,767): a run's last day plus the six spans one record can chain
(reporting delay, notice delay, appeal window, decision, listing duration, extension),
each at this bound, stays within int16: 7,300 + 6 x 3,650 = 29,200."""
MAX_RATE_PER_YEAR = 3650.0
"""The highest per-year rate of any event (ten a day): a day's events are drawn and held in
memory at once, so a subject's peak daily rate, multipliers included, is bounded by
MAX_EVENTS_PER_DAY as well."""
MIN_RATE = 1e-6
"""The smallest positive per-year rate, and the smallest positive share of posts flagged:
the engine finds a day's next event by skipping about 1 / (daily rate) subjects, a step
that must fit an int64."""
MAX_EVENTS_PER_DAY = 10.0
"""The most events one subject may expect on one day, over every record kind and activity
at its peak rate (every multiplier included)."""
RECORD_BYTES = 64
"""Memory one record takes in a run, bytes: its row in the record log (23), its id in the
schedule of the day it takes effect (8), its row in the records table written at the end
(23), rounded up."""
MAX_POINTS = 1e6
"""The largest score, threshold or point value in magnitude, points: scores are float32,
which carry about 7 significant digits."""
MAX_MULTIPLIER = 1000.0
"""The largest rate multiplier or poorest-to-richest ratio (no unit), and the smallest is
its inverse: rate multipliers scale a day's events."""
MAX_RESIDENTS = 2**31 - 1
"""The most residents a city may have: resident and market-entity ids are int32."""
MAX_SEED = 2**63 - 1
"""The largest seed: numpy's SeedSequence takes any integer >= 0, and a run's seed is kept
as a 64-bit integer (manifest, tables and queries read it so)."""
MAX_RECORD_KINDS = 256
"""The most record kinds a scenario may define: a record's kind is stored as uint8."""
MAX_DEPARTMENTS = 2**15 - 1
"""The most departments a scenario may define: a record's department is stored as int16."""
MAX_ACTIVITIES = 256
"""The most activities a scenario may define: each is drawn every day."""
MAX_GRADES = 32
"""The most grades a points layer may have: each is a metric per group per day."""
MAX_SCALAR_DIGITS = 40
"""The longest number a scenario file may write, in characters."""

SPAN_WHY = f"days are stored as int16 and a run may last {MAX_DAYS} days"
RATE_WHY = "a day's events are drawn and held in memory at once"
POINTS_WHY = "scores are float32 (about 7 significant digits)"
MULTIPLIER_WHY = "multipliers scale a day's events, which are drawn and held in memory at once"


def checked(ok: Callable[[float], bool], rule: str, why: str) -> AfterValidator:
    """A validator refusing values for which `ok` is false, saying the `rule` (what fits)
    and `why`; the schema reference reads the same words from its docstring."""

    def check(value: float) -> float:
        if not ok(value):
            raise ValueError(f"{rule}: {why}")
        return value

    check.__doc__ = f"{rule} ({why})"
    return AfterValidator(check)


def _shown(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def at_most(limit: float, unit: str, why: str) -> AfterValidator:
    """Values above `limit` refused."""
    return checked(lambda v: v <= limit, f"at most {_shown(limit)}{unit}", why)


def at_least(least: float, unit: str, why: str) -> AfterValidator:
    """Values below `least` refused."""
    return checked(lambda v: v >= least, f"at least {least:g}{unit}", why)


def zero_or_at_least(least: float, unit: str, why: str) -> AfterValidator:
    """Positive values below `least` refused."""
    return checked(lambda v: not 0 < v < least, f"0 or at least {least:g}{unit}", why)


def within(limit: float, unit: str, why: str) -> AfterValidator:
    """Values above `limit` in magnitude refused."""
    shown = f"{limit:g}"
    return checked(lambda v: abs(v) <= limit, f"between -{shown} and {shown}{unit}", why)


Points = Annotated[float, Field(strict=True), within(MAX_POINTS, " points", POINTS_WHY)]
Probability = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]
SKIP_WHY = "the engine steps from one event to the next in int64 strides of 1 / rate"
Rate = Annotated[
    float,
    Field(strict=True, ge=0.0),
    at_most(MAX_RATE_PER_YEAR, " a year", RATE_WHY),
    zero_or_at_least(MIN_RATE, " a year", SKIP_WHY),
]
Days = Annotated[int, Field(strict=True, ge=0), at_most(MAX_SPAN_DAYS, " days", SPAN_WHY)]
PositiveDays = Annotated[int, Field(strict=True, ge=1), at_most(MAX_SPAN_DAYS, " days", SPAN_WHY)]
FloatDays = Annotated[
    float, Field(strict=True, ge=0.0), at_most(float(MAX_SPAN_DAYS), " days", SPAN_WHY)
]
HalfLife = Annotated[
    FloatDays,
    at_least(0.01, " days", "recovery (ln 2 / half-life per day) is computed in float32"),
]
"""A half-life in days, from 0.01 to MAX_SPAN_DAYS."""
Multiplier = Annotated[
    float,
    Field(strict=True, ge=1 / MAX_MULTIPLIER),
    at_most(MAX_MULTIPLIER, "", MULTIPLIER_WHY),
]
"""A rate multiplier or ratio, from 1/MAX_MULTIPLIER to MAX_MULTIPLIER."""
Factor = Annotated[float, Field(strict=True, ge=0.0), at_most(MAX_MULTIPLIER, "", MULTIPLIER_WHY)]
"""A multiplier of a probability (capped at 1 where used), from 0 to MAX_MULTIPLIER."""
Elasticity = Annotated[float, Field(strict=True, ge=0.0), at_most(10.0, "", RATE_WHY)]
"""An elasticity (no unit), from 0 to 10: it is a power of a rate."""
Count = Annotated[int, Field(strict=True, ge=0)]
FirmsPerResident = Annotated[
    float,
    Field(strict=True, ge=0.0),
    at_most(1.0, " per resident", "a city has no more market entities than residents"),
]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]

MAX_LISTS_PER_SUBJECT = 8
"""The most lists of one subject (resident or enterprise): list membership is a uint8 bit
mask per agent."""


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, instances are immutable,
    and every number is finite (YAML's .nan and .inf are errors: the kernels assume
    finite scores, points and thresholds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RunSizeError(ValueError):
    """A run's size or seed out of range: `keys` (the arguments, e.g. ('days',)) and
    `message`; str() is 'KEY: message'."""

    def __init__(self, keys: tuple[str, ...], message: str) -> None:
        self.keys, self.message = keys, message
        super().__init__(f"{' and '.join(keys)}: {message}")


def check_run_size(scale: float | None, residents: int | None, days: int | None, seed: int) -> None:
    """Refuse a run's size and seed out of range (RunSizeError): scale (share of the
    city) a finite number > 0 and at most MAX_RESIDENTS, residents at least 1 (the most is
    set by memory and MAX_RESIDENTS, checked once the scenario is read), days 1 to
    MAX_DAYS, seed 0 to MAX_SEED. The command line and `Simulation` share this check."""
    if scale is not None and not (math.isfinite(scale) and 0 < scale <= MAX_RESIDENTS):
        raise RunSizeError(
            ("scale",), f"must be > 0, finite and at most {MAX_RESIDENTS:,} (got {scale})"
        )
    if scale is not None and residents is not None:
        raise RunSizeError(("scale", "residents"), "give one of them, not both")
    if residents is not None and residents < 1:
        raise RunSizeError(("residents",), f"must be >= 1 (got {residents})")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise RunSizeError(("days",), f"must be 1 to {MAX_DAYS}, as a scenario's days (got {days})")
    if not 0 <= seed <= MAX_SEED:
        raise RunSizeError(("seed",), f"must be 0 to {MAX_SEED} (2**63 - 1) (got {seed})")
