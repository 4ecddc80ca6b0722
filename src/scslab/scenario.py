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
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0)]
Days = Annotated[int, Field(ge=0)]
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
]
"""The social context in which data is generated or a measure applies (for the audit)."""

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
]
"""Domains of life in which residents attempt activities and measures apply."""

DOMAINS: tuple[Domain, ...] = Domain.__args__  # type: ignore[attr-defined]
SUBJECTS: tuple[Subject, ...] = ("resident", "enterprise")
MAX_LISTS_PER_SUBJECT = 8  # list membership is a uint8 bit mask per agent


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors, instances are immutable,
    and every number is finite (YAML's .nan and .inf are errors: the kernels assume
    finite scores, points and thresholds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RecordKind(Strict):
    """One kind of record a department writes (a judgment default, a traffic ticket...)."""

    points: float = Field(description="Score points the record adds (negative: a deduction).")
    subject: Subject = "resident"
    source: Literal["behaviour", "posts"] = Field(
        "behaviour",
        description="'behaviour': drawn at rate_per_year; 'posts': a share of online posts.",
    )
    rate_per_year: Rate = Field(
        0.0, description="Behaviour events per subject per year at the reference coverage."
    )
    probability_per_post: Probability = Field(
        0.0, description="For source 'posts': probability that one online post is flagged."
    )
    poorest_to_richest: float = Field(
        1.0, gt=0, description="Rate ratio between the poorest and the richest income decile."
    )
    migrant_multiplier: float = Field(1.0, gt=0, description="Rate multiplier for migrants.")
    listed_multiplier: float = Field(
        1.0, gt=0, description="Rate multiplier while the subject is on any blacklist."
    )
    income_sensitive: bool = Field(
        False, description="Default risk: the rate rises when a sanction has cut income."
    )
    context: Context | None = Field(
        None,
        description="Context in which the data is generated (null: the department's context).",
    )


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
    min_score: float


class Scoring(Strict):
    """The points layer: a base score, points per record, drift, expiry, grades."""

    base: float = Field(1000.0, description="Starting score in points.")
    min_score: float = Field(0.0, description="Lower bound of the score in points.")
    max_score: float = Field(2000.0, description="Upper bound of the score in points.")
    drift_per_day: Probability = Field(
        0.0, description="Share of the distance to the base recovered each day."
    )
    record_expiry_days: int | None = Field(
        None, ge=1, description="Days after which a record's points are removed (null: never)."
    )
    association_penalty: float = Field(
        0.0, ge=0, description="Points lost per day for each blacklisted contact."
    )
    grades: list[Grade] = Field(min_length=1)

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
    score_below: float | None = None
    score_at_least: float | None = None
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
    duration_days: int | None = Field(
        None, ge=1, description="Days on the list after a triggering record (record lists)."
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
    """Something residents (or enterprises) attempt, at a per-year rate, in one domain."""

    domain: Domain
    subject: Subject = "resident"
    rate_per_year: Rate
    eligible: Literal["all", "adults", "working_age", "parents"] = "all"
    poorest_to_richest: float = Field(1.0, gt=0)
    base_wait_days: Annotated[float, Field(ge=0)] = 0.0
    income_loss_if_blocked: Probability = Field(
        0.0, description="Share of income lost when the attempt is blocked (feedback)."
    )


class Behaviour(Strict):
    """How residents respond to the system."""

    deterrence_elasticity: Rate = Field(
        0.0, description="d log(violation rate) / d log(coverage), negated."
    )
    reference_coverage: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="Coverage at which record rates equal their rate_per_year."
    )
    chilling_self: Probability = Field(
        0.0, description="Posting falls by this share after a penalty."
    )
    chilling_contacts: Probability = Field(
        0.0, description="Posting falls by this share when a contact is penalised."
    )
    chilling_half_life_days: float = Field(180.0, gt=0)
    income_recovery_half_life_days: float = Field(365.0, gt=0)
    default_risk_elasticity: Rate = Field(
        0.0, description="Income-sensitive rates scale as income_factor ** -elasticity."
    )
    min_income_factor: Annotated[float, Field(gt=0, le=1)] = 0.5


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
    education_multiplier: tuple[
        Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]
    ] = Field(
        (0.5, 1.0, 1.6),
        description="Multiplier for primary, secondary, tertiary education (ASSUMED default).",
    )
    poorest_to_richest: float = Field(
        0.5,
        gt=0,
        description="Appeal-rate ratio of the poorest to the richest income decile "
        "(ASSUMED default).",
    )
    erroneous_multiplier: float = Field(
        3.0,
        ge=0,
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
    poorest_to_richest: float = Field(
        1.0,
        gt=0,
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
    expiry_days: Annotated[int, Field(ge=1)] | Literal["never"] | None = Field(
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

    table: Literal["beijing-2020"] = "beijing-2020"
    residents_at_scale_1: int = Field(21_542_000, ge=1)
    migrant_share: Probability = 0.385
    household_size_mean: float = Field(2.31, ge=1.0, le=8.0)
    employment_rate: Probability = 0.75
    enterprises_per_resident: Rate = 0.0766
    individual_businesses_per_resident: Rate = 0.0227
    friends_per_resident: int = Field(8, ge=0, le=200)
    friends_same_district: Probability = 0.7
    coworker_contacts: int = Field(4, ge=0, le=50)
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

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
    description: str = ""
    days: int = Field(365, ge=1, le=20 * 365)
    population: PopulationSpec = PopulationSpec()
    departments: dict[Name, Department]
    scoring: Scoring | None = None
    corporate_scoring: Scoring | None = None
    lists: dict[Name, ListRule] = Field(default_factory=dict)
    measures: dict[Name, Measure] = Field(default_factory=dict)
    rewards: dict[Name, Reward] = Field(default_factory=dict)
    activities: dict[Name, Activity] = Field(default_factory=dict)
    behaviour: Behaviour = Behaviour()
    due_process: DueProcess | None = Field(
        None, description="Notice, appeal, review, repair and expiry (null: none at all)."
    )
    outputs: Outputs = Outputs()

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
        flagged = [(d, k, kind) for k, (d, kind) in kinds.items() if kind.source == "posts"]
        if sum(kind.probability_per_post for _, _, kind in flagged) > 1.0:
            d, k, _ = flagged[-1]
            raise ValueError(
                f"departments.{d}.records.{k}.probability_per_post: a post is flagged under "
                "one record kind at most, so the kinds from posts must sum to at most 1"
            )
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


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; raise ScenarioError naming source and key on bad input."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(
            source, where, f"not valid YAML: {getattr(err, 'problem', err)}"
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a scenario must be a YAML mapping of keys to values")
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        key, msg = _format_validation_error(err)
        raise ScenarioError(source, key, msg) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a YAML file, or a built-in by name (e.g. 'beijing-2018')."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(str(path), "", "file not found")
        return parse_scenario(path.read_text("utf-8"), str(path))
    name = str(name_or_path)
    if name not in builtin_names():
        raise ScenarioError(
            name,
            "",
            f"no scenario file or built-in of that name; built-ins: {', '.join(builtin_names())}",
        )
    return parse_scenario(builtin_text(name), f"{name} (built-in)")
