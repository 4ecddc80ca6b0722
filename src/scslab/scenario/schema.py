"""Scenario schema: every rule of a social credit system as typed, validated data.

A scenario is a YAML file (or a built-in) validated by the pydantic models below.
Unknown keys are errors, values are range-checked, and cross-references (a measure
naming a list, a list naming a record kind) are resolved here, so that the engine
only ever sees a consistent scenario. Nothing in a scenario is ever evaluated as code.

Units used throughout: days for durations, points for scores, per-year rates for
behaviour and activities (expected events per subject per year), probabilities in [0, 1].
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)

from scslab.scenario import timeline as timeline_
from scslab.scenario.rates import decile_multipliers, deterrence_factor

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


def _rule(ok: Callable[[float], bool], rule: str, why: str) -> AfterValidator:
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


def _at_most(limit: float, unit: str, why: str) -> AfterValidator:
    """Values above `limit` refused."""
    return _rule(lambda v: v <= limit, f"at most {_shown(limit)}{unit}", why)


def _at_least(least: float, unit: str, why: str) -> AfterValidator:
    """Values below `least` refused."""
    return _rule(lambda v: v >= least, f"at least {least:g}{unit}", why)


def _zero_or_at_least(least: float, unit: str, why: str) -> AfterValidator:
    """Positive values below `least` refused."""
    return _rule(lambda v: not 0 < v < least, f"0 or at least {least:g}{unit}", why)


def _within(limit: float, unit: str, why: str) -> AfterValidator:
    """Values above `limit` in magnitude refused."""
    shown = f"{limit:g}"
    return _rule(lambda v: abs(v) <= limit, f"between -{shown} and {shown}{unit}", why)


Points = Annotated[float, Field(strict=True), _within(MAX_POINTS, " points", POINTS_WHY)]
Probability = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]
SKIP_WHY = "the engine steps from one event to the next in int64 strides of 1 / rate"
Rate = Annotated[
    float,
    Field(strict=True, ge=0.0),
    _at_most(MAX_RATE_PER_YEAR, " a year", RATE_WHY),
    _zero_or_at_least(MIN_RATE, " a year", SKIP_WHY),
]
Days = Annotated[int, Field(strict=True, ge=0), _at_most(MAX_SPAN_DAYS, " days", SPAN_WHY)]
PositiveDays = Annotated[int, Field(strict=True, ge=1), _at_most(MAX_SPAN_DAYS, " days", SPAN_WHY)]
FloatDays = Annotated[
    float, Field(strict=True, ge=0.0), _at_most(float(MAX_SPAN_DAYS), " days", SPAN_WHY)
]
HalfLife = Annotated[
    FloatDays,
    _at_least(0.01, " days", "recovery (ln 2 / half-life per day) is computed in float32"),
]
"""A half-life in days, from 0.01 to MAX_SPAN_DAYS."""
Multiplier = Annotated[
    float,
    Field(strict=True, ge=1 / MAX_MULTIPLIER),
    _at_most(MAX_MULTIPLIER, "", MULTIPLIER_WHY),
]
"""A rate multiplier or ratio, from 1/MAX_MULTIPLIER to MAX_MULTIPLIER."""
Factor = Annotated[float, Field(strict=True, ge=0.0), _at_most(MAX_MULTIPLIER, "", MULTIPLIER_WHY)]
"""A multiplier of a probability (capped at 1 where used), from 0 to MAX_MULTIPLIER."""
Elasticity = Annotated[float, Field(strict=True, ge=0.0), _at_most(10.0, "", RATE_WHY)]
"""An elasticity (no unit), from 0 to 10: it is a power of a rate."""
Count = Annotated[int, Field(strict=True, ge=0)]
FirmsPerResident = Annotated[
    float,
    Field(strict=True, ge=0.0),
    _at_most(1.0, " per resident", "a city has no more market entities than residents"),
]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]

Subject = Literal["resident", "enterprise"]
"""Who a record, list or activity is about: a synthetic resident or a market entity."""

Context = Literal[
    "judicial",
    "finance",
    "tax",
    "commerce",
    "employment",
    "transport",
    "traffic",
    "utilities",
    "civic",
    "online_speech",
    "travel",
    "education",
    "medical",
    "public_services",
    "general",
    "petitioning",
    "assembly",
    "religion",
]
"""The social context in which data is generated or a measure applies (for the audit):
petitioning (petitions to the authorities), assembly (gatherings) and religion
(religious practice) are where loyalty records are generated."""

Domain = Literal[
    "flights",
    "high_speed_rail",
    "hotels_tourism",
    "loans",
    "business_registration",
    "public_jobs",
    "public_services",
    "private_schools",
    "online_accounts",
    "medical",
    "education",
    "petitions",
    "gatherings",
    "worship",
]
"""Domains of life in which residents attempt activities and measures apply (petitions to
the authorities, gatherings and worship: where loyalty records come from)."""

DOMAINS: tuple[Domain, ...] = Domain.__args__  # type: ignore[attr-defined]
SOURCE_RATE_KEY = {
    "behaviour": "rate_per_year",
    "posts": "probability_per_post",
    "activity": "probability_per_attempt",
}
"""The key of a record kind that sets its rate, by its source."""
SUBJECTS: tuple[Subject, ...] = ("resident", "enterprise")
MAX_LISTS_PER_SUBJECT = 8  # list membership is a uint8 bit mask per agent


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, instances are immutable,
    and every number is finite (YAML's .nan and .inf are errors: the kernels assume
    finite scores, points and thresholds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RecordKind(Strict):
    """One kind of record a department writes (a judgment default, a traffic ticket...)."""

    points: Points = Field(description="Score points the record adds (negative: a deduction).")
    subject: Subject = "resident"
    source: Literal["behaviour", "posts", "activity"] = Field(
        "behaviour",
        description="'behaviour': drawn at rate_per_year; 'posts': a share of online posts; "
        "'activity': a share of the attempts at the activity named in `activity`.",
    )
    rate_per_year: Rate = Field(
        0.0, description="Behaviour events per subject per year at the reference coverage."
    )
    probability_per_post: Annotated[Probability, _zero_or_at_least(MIN_RATE, "", SKIP_WHY)] = Field(
        0.0, description="For source 'posts': probability that one online post is flagged."
    )
    activity: Name | None = Field(
        None, description="For source 'activity': the residents' activity the records come from."
    )
    probability_per_attempt: Annotated[Probability, _zero_or_at_least(MIN_RATE, "", SKIP_WHY)] = (
        Field(
            0.0,
            description="For source 'activity': probability that one attempt at the activity "
            "is recorded (before the department's coverage).",
        )
    )
    poorest_to_richest: Multiplier = Field(
        1.0, description="Rate ratio between the poorest and the richest income decile."
    )
    migrant_multiplier: Multiplier = Field(1.0, description="Rate multiplier for migrants.")
    listed_multiplier: Multiplier = Field(
        1.0, description="Rate multiplier while the subject is on any blacklist."
    )
    income_sensitive: bool = Field(
        False, description="Default risk: the rate rises when a sanction has cut income."
    )
    context: Context | None = Field(
        None,
        description="Context in which the data is generated (null: the department's context).",
    )

    @model_validator(mode="after")
    def _source(self) -> Self:
        if (self.source == "activity") != (self.activity is not None):
            raise ValueError("activity: give it for source 'activity', and only then")
        if self.source == "activity" and self.subject != "resident":
            raise ValueError("subject: records from an activity are about residents")
        return self


class Department(Strict):
    """A bureau that observes behaviour and writes records, or enforces measures."""

    context: Context
    coverage: Probability = Field(1.0, description="Share of the behaviour it observes.")
    error_rate: Probability = Field(
        0.0, description="Share of its records that name the wrong person or wrong facts."
    )
    delay_days: Days = Field(0, description="Days from behaviour to an effective record.")
    records: dict[Name, RecordKind] = Field(default_factory=dict)


class Grade(Strict):
    """A score band: the grade holds from min_score up to the next grade's threshold."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z+\-]{1,4}$")]
    min_score: Points


class Scoring(Strict):
    """The points layer: a base score, points per record, drift, expiry, grades."""

    base: Points = Field(1000.0, description="Starting score in points.")
    min_score: Points = Field(0.0, description="Lower bound of the score in points.")
    max_score: Points = Field(2000.0, description="Upper bound of the score in points.")
    drift_per_day: Probability = Field(
        0.0, description="Share of the distance to the base recovered each day."
    )
    record_expiry_days: PositiveDays | None = Field(
        None, description="Days after which a record's points are removed (null: never)."
    )
    association_penalty: Annotated[Points, Field(ge=0)] = Field(
        0.0, description="Points lost per day for each blacklisted contact."
    )
    grades: list[Grade] = Field(min_length=1, max_length=MAX_GRADES)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.min_score <= self.base <= self.max_score:
            raise ValueError("base: must lie between min_score and max_score")
        mins = [g.min_score for g in self.grades]
        if any(a <= b for a, b in itertools.pairwise(mins)):
            raise ValueError(
                "grades: thresholds out of order; list grades from highest to lowest with "
                f"strictly decreasing min_score (got {mins})"
            )
        names = [g.name for g in self.grades]
        if len(set(names)) != len(names):
            raise ValueError(f"grades: grade names must be unique (got {names})")
        return self

    def grade_index(self, name: str) -> int:
        """Position of a grade, 0 = the highest."""
        return [g.name for g in self.grades].index(name)


class ListTrigger(Strict):
    """What puts a subject on a list: records of some kinds, or a score rule (exactly one)."""

    records: list[Name] = Field(default_factory=list)
    score_below: Points | None = None
    score_at_least: Points | None = None
    grade_at_most: str | None = None
    grade_at_least: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        rules = [
            bool(self.records),
            self.score_below is not None,
            self.score_at_least is not None,
            self.grade_at_most is not None,
            self.grade_at_least is not None,
        ]
        if sum(rules) != 1:
            raise ValueError(
                "trigger: give exactly one of records, score_below, score_at_least, "
                "grade_at_most, grade_at_least"
            )
        return self

    @property
    def score_based(self) -> bool:
        """True when membership follows the score rather than individual records."""
        return not self.records


class ListRule(Strict):
    """A blacklist or red list: who goes on, for how long, and how they get off."""

    kind: Literal["black", "red"]
    subject: Subject = "resident"
    context: Context
    trigger: ListTrigger
    duration_days: PositiveDays | None = Field(
        None, description="Days on the list after a triggering record (record lists)."
    )
    extension_days: Days = Field(0, description="Days added once at expiry if not complied.")
    extension_probability: Probability = 0.0
    compliance_per_year: Rate = Field(
        0.0, description="Rate at which listed subjects comply (pay, correct) and are removed."
    )


class Measure(Strict):
    """Joint punishment: a department enforces a list in some domains."""

    list: Name
    department: Name
    domains: builtins.list[Domain] = Field(min_length=1)
    effect: Literal["block", "delay"] = "block"
    delay_days: Days = Field(0, description="For effect 'delay': days added to the wait.")


class Reward(Strict):
    """Green channel: priority and shorter waits for a red list or high grades."""

    list: Name | None = None
    grade_at_least: str | None = None
    domains: builtins.list[Domain] = Field(min_length=1)
    wait_factor: Probability = Field(0.5, description="Multiplier on the waiting time.")

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if (self.list is None) == (self.grade_at_least is None):
            raise ValueError("reward: give exactly one of list, grade_at_least")
        return self


class Activity(Strict):
    """Something residents (or enterprises) attempt, at a per-year rate, in one domain.

    Chilling (behaviour.chilling_self, chilling_contacts) lowers the rate of residents'
    monitored activities: posting (domain online_accounts) and every activity a record
    kind comes from (source 'activity')."""

    domain: Domain
    subject: Subject = "resident"
    rate_per_year: Rate
    eligible: Literal["all", "adults", "working_age", "parents"] = "all"
    poorest_to_richest: Multiplier = 1.0
    base_wait_days: FloatDays = 0.0
    income_loss_if_blocked: Probability = Field(
        0.0, description="Share of income lost when the attempt is blocked (feedback)."
    )


class Behaviour(Strict):
    """How residents respond to the system."""

    deterrence_elasticity: Elasticity = Field(
        0.0, description="d log(violation rate) / d log(coverage), negated."
    )
    reference_coverage: Annotated[Probability, Field(gt=0)] = Field(
        0.5, description="Coverage at which record rates equal their rate_per_year."
    )
    chilling_self: Probability = Field(
        0.0,
        description="Posting and every other monitored activity fall by this share after a "
        "penalty.",
    )
    chilling_contacts: Probability = Field(
        0.0,
        description="Posting and every other monitored activity fall by this share when a "
        "contact is penalised.",
    )
    chilling_half_life_days: HalfLife = 180.0
    income_recovery_half_life_days: HalfLife = 365.0
    default_risk_elasticity: Elasticity = Field(
        0.0, description="Income-sensitive rates scale as income_factor ** -elasticity."
    )
    min_income_factor: Annotated[Probability, Field(gt=0)] = 0.5


REPAIR_WINDOW_DAYS = {"minor": 90, "general": 365, "serious": 1095}
"""Credit-repair windows by severity, days: 2025 draft repair rules, minor <= 3 months,
general 3-12 months, serious 1-3 years (reference.md, A/B)."""


class Notice(Strict):
    """Telling a subject that an adverse record about them took effect."""

    share: Probability = Field(
        1.0, description="Share of subjects notified of an adverse record (ASSUMED default)."
    )
    delay_days: Days = Field(0, description="Days from the record taking effect to the notice.")


class Appeal(Strict):
    """Objection and appeal: who contests a record they were notified of, and when.

    The probability that a notified resident appeals is base_probability times the
    multiplier of their education level and of their income decile (geometric from
    poorest_to_richest), times erroneous_multiplier when the record is in fact wrong;
    capped at 1. An enterprise appeals with the attributes of its legal representative.
    """

    window_days: Days = Field(
        7,
        description="Days after the notice within which an appeal may be filed "
        "(default: railway misconduct appeals within 7 days, reference.md B).",
    )
    base_probability: Probability = Field(
        0.1,
        description="Appeal probability of a notified resident with secondary education "
        "in the middle income deciles (ASSUMED default).",
    )
    education_multiplier: tuple[Factor, Factor, Factor] = Field(
        (0.5, 1.0, 1.6),
        description="Multiplier for primary, secondary, tertiary education (ASSUMED default).",
    )
    poorest_to_richest: Multiplier = Field(
        0.5,
        description="Appeal-rate ratio of the poorest to the richest income decile "
        "(ASSUMED default).",
    )
    erroneous_multiplier: Factor = Field(
        3.0,
        description="Multiplier when the record is erroneous: the wronged know it "
        "(ASSUMED default).",
    )


class Review(Strict):
    """How an appeal is decided."""

    human: bool = Field(
        False, description="True: a person reviews the case; false: solely automated."
    )
    days_to_decide: Days = Field(
        20,
        description="Days from appeal to decision (objections answered within 20 days, "
        "reference.md A/B).",
    )
    find_error: Probability = Field(
        0.5,
        description="Probability that an erroneous record is found and corrected "
        "(ASSUMED default).",
    )
    overturn_true: Probability = Field(
        0.02, description="Probability that a true record is overturned (ASSUMED default)."
    )


class Repair(Strict):
    """Credit repair: how a subject with a true adverse record gets it removed early."""

    method: Literal["pay", "comply", "course", "wait"] = Field(
        "comply",
        description="pay (fines, debts), comply (rectify), course (training) or "
        "wait (the record ends by itself after the window).",
    )
    severity: Literal["minor", "general", "serious"] = Field(
        "general", description="Sets the default window: 90, 365 or 1095 days (A/B)."
    )
    wait_days: Days | None = Field(
        None, description="Days before repair can take effect (null: the severity's window)."
    )
    rate_per_year: Rate = Field(
        1.0,
        description="After the wait, rate per year at which subjects complete the "
        "repair (ignored for 'wait'; ASSUMED default).",
    )
    poorest_to_richest: Multiplier = Field(
        1.0,
        description="Repair-rate ratio of the poorest to the richest decile "
        "(for 'pay', poorer residents repair less).",
    )

    @property
    def window_days(self) -> int:
        """Days from the record taking effect before repair can end it."""
        return self.wait_days if self.wait_days is not None else REPAIR_WINDOW_DAYS[self.severity]


class DueProcessRule(Strict):
    """Notice, appeal, review, repair and expiry of one kind of record (null: none)."""

    notice: Notice | None = Notice()
    appeal: Appeal | None = Appeal()
    review: Review = Review()
    repair: Repair | None = None
    expiry_days: PositiveDays | Literal["never"] | None = Field(
        None,
        description="Days a record counts before it expires; null: as the scoring section's "
        "record_expiry_days (negative credit records kept 5 years, reference.md A/B, in the "
        "built-ins); 'never': it never expires.",
    )

    def expiry(self, scoring: Scoring | None) -> int | None:
        """Days a record of this rule counts (None: never), given its subject's scoring."""
        if self.expiry_days == "never":
            return None
        if self.expiry_days is None:
            return scoring.record_expiry_days if scoring is not None else None
        return self.expiry_days


class DueProcess(Strict):
    """Due process, per record kind. `defaults` apply to every adverse record; overrides
    under `lists` apply to the records that can put a subject on that list, and under
    `kinds` to one record kind. An override gives only the keys it changes (null removes
    a safeguard). Precedence, lowest first: defaults, score-triggered lists, record-
    triggered lists (the first in file order wins), the record kind."""

    defaults: DueProcessRule = DueProcessRule()
    lists: dict[Name, DueProcessRule] = Field(default_factory=dict)
    kinds: dict[Name, DueProcessRule] = Field(default_factory=dict)

    @field_serializer("lists", "kinds")
    def _only_given(self, value: dict[str, DueProcessRule]) -> dict[str, dict]:
        # Overrides are written as given, so that a resolved scenario reads back the same.
        return {k: v.model_dump(mode="json", exclude_unset=True) for k, v in value.items()}


def _deep_merge(base: dict, over: dict) -> dict:
    """`over` merged into `base`, key by key: mappings merged, other values replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _given(model: BaseModel) -> dict:
    """The keys an override actually gives, nested (unset keys inherit)."""
    out: dict = {}
    for key in model.model_fields_set:
        value = getattr(model, key)
        out[key] = _given(value) if isinstance(value, BaseModel) else value
    return out


class PopulationSpec(Strict):
    """Aggregate statistics the synthetic city is drawn from (scale 1 = the whole city)."""

    table: Literal["beijing-2020", "china-2020"] = Field(
        "beijing-2020",
        description=(
            "Aggregate table the residents are drawn from: beijing-2020 (Beijing's 16 "
            "districts) or china-2020 (the 31 provinces as districts; its national "
            "figures for the other keys: scslab.scenario.nation.population_spec())."
        ),
    )
    residents_at_scale_1: Annotated[
        int, Field(strict=True, ge=1), _at_most(MAX_RESIDENTS, " residents", "ids are int32")
    ] = 21_542_000
    migrant_share: Probability = 0.385
    household_size_mean: Annotated[float, Field(strict=True, ge=1.0, le=8.0)] = 2.31
    employment_rate: Probability = 0.75
    enterprises_per_resident: FirmsPerResident = 0.0766
    individual_businesses_per_resident: FirmsPerResident = 0.0227
    friends_per_resident: Annotated[Count, Field(le=200)] = 8
    friends_same_district: Probability = 0.7
    coworker_contacts: Annotated[Count, Field(le=50)] = 4
    children_share_of_parents: Probability = 0.35


class Outputs(Strict):
    """What a run collects day by day besides what it always does (lists, records,
    sanctions and due process, by group)."""

    scores: bool = Field(
        True,
        description=(
            "The score tally: each day's score sum and agents per grade by group (metrics "
            "score_sum and grade:NAME) and the day's score histogram (table "
            "score_histogram). false: neither is collected, which saves a pass over every "
            "scored agent a day; the final scores and grades stay in the per-agent tables."
        ),
    )


class Scenario(Strict):
    """A complete social credit system and the city it runs on."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$", max_length=100)]
    """Also the start of a run directory's default name (file names hold 255 bytes)."""
    description: str = ""
    days: Annotated[
        int,
        Field(strict=True, ge=1),
        _at_most(MAX_DAYS, " days", "days are stored as int16, with room for the spans after"),
    ] = 365
    population: PopulationSpec = PopulationSpec()
    departments: dict[Name, Department]
    scoring: Scoring | None = None
    corporate_scoring: Scoring | None = None
    lists: dict[Name, ListRule] = Field(default_factory=dict)
    measures: dict[Name, Measure] = Field(default_factory=dict)
    rewards: dict[Name, Reward] = Field(default_factory=dict)
    activities: dict[Name, Activity] = Field(default_factory=dict, max_length=MAX_ACTIVITIES)
    behaviour: Behaviour = Behaviour()
    due_process: DueProcess | None = Field(
        None, description="Notice, appeal, review, repair and expiry (null: none at all)."
    )
    outputs: Outputs = Outputs()
    start_date: dt.date = Field(
        dt.date(2018, 1, 1),
        description="The date of day 0 (ASSUMED default: the year of Beijing's action plan).",
    )
    timeline: list[timeline_.Entry] = Field(
        default_factory=list,
        max_length=timeline_.MAX_ENTRIES,
        description="Rule values that change on dates: steps {date, set} and ramps {start, "
        "end, ramp, every_days} (see scslab.scenario.timeline).",
    )

    @model_validator(mode="after")
    def _timeline_values(self) -> Self:
        if not self.timeline:
            return self
        base = self.model_copy(update={"timeline": []})
        data = base.model_dump(mode="json")

        def check_value(key: str, value: Any) -> str | None:
            current = _lookup(data, key)
            if isinstance(current, dict | list) or current is _MISSING:
                return "not a value of the scenario (a number, switch or name to change)"
            try:
                base.with_changes({key: _as_type_of(current, value)}, source="timeline")
            except ScenarioError as err:
                return err.message
            return None

        timeline_.check_timeline(self.timeline, self.start_date, self.days, check_value)
        return self

    def timeline_by_day(self) -> list[tuple[int, dict[str, Any]]]:
        """The timeline as the engine applies it: (day, {key: value}) for each day with a
        change, in day order (scslab.scenario.timeline.changes_by_day); a ramp's values
        rounded where they change an integer."""
        data = self.model_dump(mode="json")
        return timeline_.changes_by_day(
            self.timeline, self.start_date, lambda key, v: _as_type_of(_lookup(data, key), v)
        )

    def date_of(self, day: int) -> dt.date:
        """The date of day `day` of a run (day 0 is start_date)."""
        return self.start_date + dt.timedelta(days=day)

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        kinds: dict[str, tuple[str, RecordKind]] = {}
        for dname, dep in self.departments.items():
            for kname, kind in dep.records.items():
                if kname in kinds:
                    raise ValueError(
                        f"departments.{dname}.records.{kname}: record kind already defined "
                        f"by department '{kinds[kname][0]}'; kinds must be unique"
                    )
                kinds[kname] = (dname, kind)
        if len(self.departments) > MAX_DEPARTMENTS:
            raise ValueError(
                f"departments: at most {MAX_DEPARTMENTS} (got {len(self.departments)}): a "
                "record's department is stored as int16"
            )
        if len(kinds) > MAX_RECORD_KINDS:
            raise ValueError(
                f"departments: at most {MAX_RECORD_KINDS} record kinds in all (got "
                f"{len(kinds)}): a record's kind is stored as uint8"
            )
        for k, (d, kind) in kinds.items():
            act = self.activities.get(kind.activity) if kind.activity else None
            if kind.activity and (act is None or act.subject != "resident"):
                raise ValueError(
                    f"departments.{d}.records.{k}.activity: no residents' activity "
                    f"'{kind.activity}'; allowed: "
                    f"{', '.join(n for n, a in self.activities.items() if a.subject == 'resident')}"
                )
        self._check_peak_rates()
        self._check_flag_probabilities(kinds)
        for subject in SUBJECTS:
            n = sum(1 for rule in self.lists.values() if rule.subject == subject)
            if n > MAX_LISTS_PER_SUBJECT:
                raise ValueError(
                    f"lists: at most {MAX_LISTS_PER_SUBJECT} lists per subject ({subject}: {n})"
                )
        for lname, rule in self.lists.items():
            key = f"lists.{lname}"
            scoring = self.scoring_for(rule.subject)
            trig = rule.trigger
            for k in trig.records:
                if k not in kinds:
                    raise ValueError(
                        f"{key}.trigger.records: unknown record kind '{k}'; "
                        f"allowed: {', '.join(sorted(kinds)) or '(none defined)'}"
                    )
                if kinds[k][1].subject != rule.subject:
                    raise ValueError(
                        f"{key}.trigger.records: record kind '{k}' is about a "
                        f"{kinds[k][1].subject}, the list about a {rule.subject}"
                    )
            if trig.score_based and scoring is None:
                scoring_key = "scoring" if rule.subject == "resident" else "corporate_scoring"
                raise ValueError(f"{key}.trigger: a score rule needs '{scoring_key}'")
            for grade in (trig.grade_at_most, trig.grade_at_least):
                if grade is not None and scoring is not None:
                    self._check_grade(f"{key}.trigger", grade, scoring)
            if not trig.score_based and rule.duration_days is None:
                raise ValueError(f"{key}.duration_days: required for a record-triggered list")
        for mname, measure in self.measures.items():
            key = f"measures.{mname}"
            if measure.list not in self.lists:
                raise ValueError(
                    f"{key}.list: unknown list '{measure.list}'; "
                    f"allowed: {', '.join(self.lists) or '(none defined)'}"
                )
            if measure.department not in self.departments:
                raise ValueError(
                    f"{key}.department: unknown department '{measure.department}'; "
                    f"allowed: {', '.join(self.departments)}"
                )
        for rname, reward in self.rewards.items():
            key = f"rewards.{rname}"
            if reward.list is not None and reward.list not in self.lists:
                raise ValueError(
                    f"{key}.list: unknown list '{reward.list}'; allowed: {', '.join(self.lists)}"
                )
            if reward.list is not None and self.lists[reward.list].subject != "resident":
                raise ValueError(f"{key}.list: rewards go to residents; '{reward.list}' is not")
            if reward.grade_at_least is not None:
                if self.scoring is None:
                    raise ValueError(f"{key}.grade_at_least: needs 'scoring'")
                self._check_grade(key, reward.grade_at_least, self.scoring)
        for aname, act in self.activities.items():
            if act.subject == "enterprise" and act.eligible != "all":
                raise ValueError(f"activities.{aname}.eligible: must be 'all' for enterprises")
        if self.due_process is not None:
            for lname in self.due_process.lists:
                if lname not in self.lists:
                    raise ValueError(
                        f"due_process.lists.{lname}: unknown list; "
                        f"allowed: {', '.join(self.lists) or '(none defined)'}"
                    )
            for kname in self.due_process.kinds:
                if kname not in kinds:
                    raise ValueError(
                        f"due_process.kinds.{kname}: unknown record kind; "
                        f"allowed: {', '.join(sorted(kinds)) or '(none defined)'}"
                    )
        return self

    def flag_kinds_of(self, activity: str) -> list[tuple[str, str, float]]:
        """(department, kind, probability per attempt) of each record kind that one attempt
        at `activity` may be recorded under: the kinds from posts for a residents' posting
        activity (domain online_accounts), the kinds from `activity` itself; in file order.
        An attempt is recorded under one of them at most."""
        act = self.activities[activity]
        posting = act.domain == "online_accounts" and act.subject == "resident"
        out = []
        for d, k, kind in self.record_kinds():
            if kind.source == "posts" and posting:
                out.append((d, k, kind.probability_per_post))
            elif kind.source == "activity" and kind.activity == activity:
                out.append((d, k, kind.probability_per_attempt))
        return out

    def _check_flag_probabilities(self, kinds: dict[str, tuple[str, RecordKind]]) -> None:
        """An attempt (a post) is recorded under one record kind at most: the kinds of one
        activity sum to at most 1."""
        posts = [(d, k, kind) for k, (d, kind) in kinds.items() if kind.source == "posts"]
        if sum(kind.probability_per_post for _, _, kind in posts) > 1.0:
            d, k, _ = posts[-1]
            raise ValueError(
                f"departments.{d}.records.{k}.probability_per_post: a post is flagged under "
                "one record kind at most, so the kinds from posts must sum to at most 1"
            )
        for aname in self.activities:
            flags = self.flag_kinds_of(aname)
            if sum(p for _, _, p in flags) > 1.0:
                d, k, _ = flags[-1]
                rate_key = SOURCE_RATE_KEY[kinds[k][1].source]
                raise ValueError(
                    f"departments.{d}.records.{k}.{rate_key}: an attempt at {aname} is recorded "
                    "under one record kind at most, so its kinds must sum to at most 1"
                )

    def peak_rates(self) -> dict[str, tuple[Subject, float]]:
        """The peak daily rate per subject (events a day, every multiplier at its highest)
        of each record kind and activity, by its key in the scenario, with its subject.
        Records from posts are the share of the posting activities' peak that is flagged,
        records from an activity the share of that activity's peak that is recorded.
        These bound what the engine draws on one day (its thinning draws candidates at
        these rates). A rate too large for a float is infinite."""
        beh = self.behaviour
        peaks: dict[str, tuple[Subject, float]] = {}
        posts = 0.0
        for aname, act in self.activities.items():
            peak = act.rate_per_year / 365.0
            if act.subject == "resident":
                peak *= float(decile_multipliers(act.poorest_to_richest).max())
            peaks[f"activities.{aname}.rate_per_year"] = (act.subject, peak)
            posts += peak if act.domain == "online_accounts" and act.subject == "resident" else 0
        for dname, kname, kind in self.record_kinds():
            dep = self.departments[dname]
            key = f"departments.{dname}.records.{kname}"
            if kind.source == "posts":
                peaks[f"{key}.probability_per_post"] = (
                    kind.subject,
                    posts * kind.probability_per_post,
                )
                continue
            if kind.source == "activity" and kind.activity is not None:
                act_peak = peaks[f"activities.{kind.activity}.rate_per_year"][1]
                peaks[f"{key}.probability_per_attempt"] = (
                    kind.subject,
                    act_peak * kind.probability_per_attempt,
                )
                continue
            try:
                peak = kind.rate_per_year / 365.0 * max(1.0, kind.listed_multiplier)
                peak *= float(decile_multipliers(kind.poorest_to_richest).max())
                peak *= max(1.0, kind.migrant_multiplier)
                if kind.points < 0:
                    peak *= deterrence_factor(
                        dep.coverage, beh.reference_coverage, beh.deterrence_elasticity
                    )
                if kind.income_sensitive and beh.default_risk_elasticity > 0:
                    peak *= beh.min_income_factor ** (-beh.default_risk_elasticity)
            except OverflowError:
                peak = math.inf
            peaks[f"{key}.rate_per_year"] = (kind.subject, peak)
        return peaks

    def _check_peak_rates(self) -> None:
        """A subject expects at most MAX_EVENTS_PER_DAY events on its peak day, over every
        record kind and activity, all multipliers included."""
        total = dict.fromkeys(SUBJECTS, 0.0)
        for key, (subject, peak) in self.peak_rates().items():
            total[subject] += peak
            if total[subject] > MAX_EVENTS_PER_DAY:
                raise ValueError(
                    f"{key}: the {subject}'s events, every record kind and activity with "
                    f"their multipliers, reach {total[subject]:.3g} a day; at most "
                    f"{MAX_EVENTS_PER_DAY:g}: {RATE_WHY}"
                )

    def records_at_most(self, residents: int, days: int) -> float:
        """The most records a run of `residents` over `days` days can be expected to write
        (every record kind at its peak rate, times its department's coverage)."""
        firms = (
            self.population.enterprises_per_resident
            + self.population.individual_businesses_per_resident
        )
        peaks = self.peak_rates()
        per_day = 0.0
        for dname, kname, kind in self.record_kinds():
            key = f"departments.{dname}.records.{kname}."
            key += SOURCE_RATE_KEY[kind.source]
            agents = residents if kind.subject == "resident" else residents * firms
            per_day += peaks[key][1] * self.departments[dname].coverage * agents
        return per_day * days

    @staticmethod
    def _check_grade(key: str, grade: str, scoring: Scoring) -> None:
        names = [g.name for g in scoring.grades]
        if grade not in names:
            raise ValueError(f"{key}: unknown grade '{grade}'; allowed: {', '.join(names)}")

    def scoring_for(self, subject: Subject) -> Scoring | None:
        """The points layer that scores this kind of subject (None when it is off)."""
        return self.scoring if subject == "resident" else self.corporate_scoring

    def record_kinds(self) -> Iterator[tuple[str, str, RecordKind]]:
        """(department, kind name, kind) for every record kind, in file order."""
        for dname, dep in self.departments.items():
            for kname, kind in dep.records.items():
                yield dname, kname, kind

    def kind_context(self, kind: str) -> Context:
        """Context in which records of `kind` are generated (the kind's, else its department's)."""
        for dname, kname, k in self.record_kinds():
            if kname == kind:
                return k.context or self.departments[dname].context
        raise KeyError(kind)

    def lists_fed_by(self, kind: str) -> list[str]:
        """Lists a record of `kind` can put its subject on: record-triggered lists naming it,
        and, for a kind with negative points, the score-triggered blacklists of its subject."""
        rk = next(k for _, n, k in self.record_kinds() if n == kind)
        record_lists = [n for n, r in self.lists.items() if kind in r.trigger.records]
        score_lists = [
            n
            for n, r in self.lists.items()
            if r.trigger.score_based
            and r.kind == "black"
            and r.subject == rk.subject
            and rk.points < 0
            and self.scoring_for(r.subject) is not None
        ]
        return record_lists + score_lists

    def due_process_for(self, kind: str) -> DueProcessRule | None:
        """The due process that applies to records of `kind` (None: the scenario has none).

        Precedence, lowest first: defaults, score-triggered lists, record-triggered lists
        (the first in file order wins), the kind's own override."""
        dp = self.due_process
        if dp is None:
            return None
        merged = dp.defaults.model_dump()
        fed = self.lists_fed_by(kind)
        score_lists = [n for n in fed if self.lists[n].trigger.score_based]
        record_lists = [n for n in fed if not self.lists[n].trigger.score_based]
        for lname in [*reversed(score_lists), *reversed(record_lists)]:
            if lname in dp.lists:
                merged = _deep_merge(merged, _given(dp.lists[lname]))
        if kind in dp.kinds:
            merged = _deep_merge(merged, _given(dp.kinds[kind]))
        return DueProcessRule.model_validate(merged)

    def digest(self) -> str:
        """A SHA-256 of the resolved scenario (key order independent)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_yaml(self) -> str:
        """The resolved scenario as YAML, with every default written out."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, width=100)

    def with_changes(
        self, changes: Mapping[str, Any], remove: Iterable[str] = (), source: str = "changes"
    ) -> Scenario:
        """A new scenario with `changes` applied and the `remove`d entries dropped,
        validated again. Keys are dotted paths ('departments.courts.error_rate',
        'lists.low_credit.duration_days'); a mapping given as a value is merged key by
        key into the one there (as `extends` merges), so the keys it leaves out keep
        their values; a change may add an entry to a mapping of named items (a new list)
        but not a key the schema lacks. Raises ScenarioError naming `source` and the key."""
        data = self.model_dump(mode="json")
        for key in remove:
            *parents, leaf = key.split(".")
            node = _walk(data, parents, key, source)
            if leaf not in node:
                raise ScenarioError(source, key, "nothing to remove there")
            del node[leaf]
        for key, value in changes.items():
            *parents, leaf = key.split(".")
            node = _walk(data, parents, key, source)
            if isinstance(value, dict) and isinstance(node.get(leaf), dict):
                node[leaf] = _deep_merge(node[leaf], value)  # as `extends` merges
            else:
                node[leaf] = value
        try:
            return Scenario.model_validate(data)
        except ValidationError as err:
            where, msg = _format_validation_error(err)
            raise ScenarioError(source, where, msg) from None


_MISSING = object()


def _as_type_of(current: Any, value: Any) -> Any:
    """A timeline's value as the type of the value it replaces: a ramp's float rounded
    where an integer is changed."""
    if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
        return round(value)
    return value


def _lookup(data: Any, key: str) -> Any:
    """The value at dotted `key` in a scenario's data, or _MISSING."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _walk(data: dict, parents: list[str], key: str, source: str) -> dict:
    """The mapping at `parents` inside data (ScenarioError naming `key` if there is none)."""
    node: Any = data
    for k, part in enumerate(parents):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            where = ".".join(parents[: k + 1])
            what = (
                "unknown key" if not isinstance(node, dict) or part not in node else "not a mapping"
            )
            raise ScenarioError(source, key, f"{where}: {what}")
        node = node[part]
    if not isinstance(node, dict):
        raise ScenarioError(source, key, "not a mapping")
    return node


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


class ScenarioError(Exception):
    """A scenario that cannot be used; str() is one line naming the file, key and problem."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with scslab."""
    folder = resources.files("scslab") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    """The YAML text (with its source comments) of a built-in scenario."""
    if name not in builtin_names():
        raise ScenarioError(
            name, "", f"no such built-in scenario; built-ins: {', '.join(builtin_names())}"
        )
    return (resources.files("scslab") / "scenarios" / f"{name}.yaml").read_text("utf-8")


def _format_validation_error(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (not part of the scenario schema; check the spelling)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif "input" in first and not isinstance(first["input"], dict | list):
        msg += f" (got {first['input']!r})"
    inner = re.match(r"^([a-z_][a-z0-9_.]*): (.*)$", msg, flags=re.DOTALL)
    if inner:  # a model-level check names its own key inside the model at `loc`
        key = f"{key}.{inner.group(1)}" if key else inner.group(1)
        msg = inner.group(2)
    return key, msg


MAX_FILE_BYTES = 1 << 20
"""The largest scenario file, bytes (the built-ins are under 20 KB)."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists a scenario file may have (the schema needs 6)."""
MAX_NODES = 100_000
"""The most values a scenario file may hold once its aliases are expanded (the built-ins
hold under 2,000): the schema reads every copy an alias makes."""


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but is refused: a duplicate key, too deep, too many values."""


class ScenarioLoader(yaml.SafeLoader):
    """YAML's safe loader with the limits of a scenario file: no duplicate keys, nesting
    at most MAX_DEPTH deep, at most MAX_NODES values with aliases expanded, integers of at
    most MAX_SCALAR_DIGITS characters. Builds plain data (no tags beyond YAML's own)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing nesting deeper than MAX_DEPTH."""
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(problem=f"nested more than {MAX_DEPTH} deep", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        """The document's node, refused when its aliases expand to over MAX_NODES values."""
        node = super().get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise _Refused(
                problem=f"more than {MAX_NODES:,} values once aliases are expanded",
                problem_mark=node.start_mark,
            )
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """A mapping, refusing a key given twice (YAML would keep the last silently)."""
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            if key_node.value in seen:
                raise _Refused(
                    problem=f"duplicate key '{key_node.value}' (first on line "
                    f"{seen[key_node.value]}); give each key once",
                    problem_mark=key_node.start_mark,
                )
            seen[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer of at most MAX_SCALAR_DIGITS characters."""
        if len(node.value) > MAX_SCALAR_DIGITS:
            raise _Refused(
                problem=f"a number of {len(node.value):,} characters; at most {MAX_SCALAR_DIGITS}",
                problem_mark=node.start_mark,
            )
        return super().construct_yaml_int(node)


_MERGE_TAG = "tag:yaml.org,2002:merge"
ScenarioLoader.add_constructor("tag:yaml.org,2002:int", ScenarioLoader.construct_yaml_int)
# Numbers in exponent form without a dot or a signed exponent (1e-3, 2E5) are floats, as
# in YAML 1.2 (YAML 1.1 reads them as strings).
ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values under `node` counting every alias as a copy (memoised by node)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # a cycle counts once
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        memo[key] = 1 + sum(_expanded_size(c, memo) for c in children)
    return memo[key]


def read_yaml(text: str, source: str) -> object:
    """Parse YAML within a scenario file's limits (also those of experiment and
    calibration files); ScenarioError names the line and the problem."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(source, "", f"larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return yaml.load(text, Loader=ScenarioLoader)  # a SafeLoader subclass
    except yaml.reader.ReaderError as err:
        raise ScenarioError(
            source, "", f"unacceptable character #x{err.character:04x} at position {err.position}"
        ) from None
    except _Refused as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(source, where, str(err.problem)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(
            source, where, f"not valid YAML: {getattr(err, 'problem', None) or err}"
        ) from None


MAX_EXTENDS = 8
"""The longest chain of scenarios extending one another."""


def parse_scenario(text: str, source: str = "<scenario>", folder: Path | None = None) -> Scenario:
    """Validate scenario YAML text; raise ScenarioError naming source and key on bad input.

    A scenario may start with `extends: NAME-OR-FILE` (a built-in, or a file relative to
    `folder`, the folder of the file the text is from): it then holds only what differs
    from that scenario, merged key by key (mappings merged, other values replaced)."""
    data = _scenario_data(text, source, folder, ())
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        key, msg = _format_validation_error(err)
        raise ScenarioError(source, key, msg) from None


def _scenario_data(
    text: str, source: str, folder: Path | None, chain: tuple[str, ...]
) -> dict[str, Any]:
    """The scenario's raw data with what it extends merged in (not yet validated)."""
    data = read_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a scenario must be a YAML mapping of keys to values")
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base:
        raise ScenarioError(source, "extends", "a built-in scenario name or a YAML file")
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(
            source, "extends", f"more than {MAX_EXTENDS} scenarios extend each other"
        )
    path = Path(base) if folder is None or Path(base).is_absolute() else folder / base
    if path.suffix in (".yaml", ".yml") or _exists(path):
        key = str(path.resolve())
        base_text, base_source, base_folder = read_scenario_file(path), str(path), path.parent
    elif base in builtin_names():
        key, base_text, base_source, base_folder = (
            base,
            builtin_text(base),
            f"{base} (built-in)",
            None,
        )
    else:
        raise ScenarioError(
            source,
            "extends",
            f"no scenario file or built-in named '{base}'; built-ins: {', '.join(builtin_names())}",
        )
    if key in chain:
        raise ScenarioError(source, "extends", f"'{base}' extends itself (a loop)")
    return _deep_merge(_scenario_data(base_text, base_source, base_folder, (*chain, key)), data)


def parse_changes(items: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """{dotted key: value} from 'KEY=VALUE' strings (the command line's --set): each VALUE
    read as YAML within a scenario file's limits ('0.05', 'true', '[a, b]')."""
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(source, "", f"'{item}' is not KEY=VALUE (e.g. days=90)")
        changes[key] = read_yaml(text, f"{source} {key}") if text.strip() else None
    return changes


def read_scenario_file(path: Path) -> str:
    """The text of a scenario file: a regular file of at most MAX_FILE_BYTES bytes of UTF-8
    (ScenarioError otherwise)."""
    try:
        if not path.is_file():
            raise ScenarioError(str(path), "", "file not found")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(str(path), "", f"larger than {MAX_FILE_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as err:
        raise ScenarioError(str(path), "", f"cannot be read ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ScenarioError(
            str(path), f"line {line}", f"not UTF-8 text (byte 0x{data[err.start]:02x})"
        ) from None


def _exists(path: Path) -> bool:
    """Whether `path` names something (False where the name cannot be looked up)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a YAML file, or a built-in by name (e.g. 'beijing-2018')."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or _exists(path):
        return parse_scenario(read_scenario_file(path), str(path), path.parent)
    name = str(name_or_path)
    if name not in builtin_names():
        raise ScenarioError(
            name,
            "",
            f"no scenario file or built-in of that name; built-ins: {', '.join(builtin_names())}",
        )
    return parse_scenario(builtin_text(name), f"{name} (built-in)")
