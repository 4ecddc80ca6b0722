"""The sections of a scenario's rules, each a pydantic model: departments and the records
they write, the points layer, lists and their triggers, joint punishment (measures),
rewards, the activities residents attempt, behaviour, due process, and what a run
collects. `scslab.scenario.schema.Scenario` puts them together and checks that they
refer to one another consistently.

Unknown keys are errors, values are range-checked (scslab.scenario.bounds) and nothing is
ever evaluated as code. Units: days for durations, points for scores, per-year rates for
behaviour and activities (expected events per subject per year), probabilities in [0, 1].
"""

from __future__ import annotations

import builtins
import itertools
from typing import Annotated, Literal, Self

from pydantic import Field, field_serializer, model_validator

from scslab.scenario.bounds import (
    MAX_GRADES,
    MIN_RATE,
    SKIP_WHY,
    Days,
    Elasticity,
    Factor,
    FloatDays,
    HalfLife,
    Multiplier,
    Name,
    Points,
    PositiveDays,
    Probability,
    Rate,
    Strict,
    zero_or_at_least,
)

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


AgeBand = Literal["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
"""A ten-year age band of the population tables (scenario.tables.AGE_BANDS)."""


class Eligibility(Strict):
    """Who can get a record of a kind: residents in the given age bands, employment and
    hukou (all of them when left out)."""

    age_bands: Annotated[list[AgeBand], Field(min_length=1)] | None = Field(
        None, description="Age bands that can get the record (null: every age)."
    )
    employment: Literal["any", "employed", "not_employed"] = Field(
        "any", description="Employed residents only, those without a job only, or anyone."
    )
    hukou: Literal["any", "local", "migrant"] = Field(
        "any", description="Local hukou holders only, migrants only, or anyone."
    )


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
    probability_per_post: Annotated[Probability, zero_or_at_least(MIN_RATE, "", SKIP_WHY)] = Field(
        0.0, description="For source 'posts': probability that one online post is flagged."
    )
    activity: Name | None = Field(
        None, description="For source 'activity': the residents' activity the records come from."
    )
    probability_per_attempt: Annotated[Probability, zero_or_at_least(MIN_RATE, "", SKIP_WHY)] = (
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
    eligible: Eligibility | None = Field(
        None,
        description="Who can get the record (residents' behaviour only; null: anyone). "
        "Its rate is per eligible resident.",
    )

    @model_validator(mode="after")
    def _source(self) -> Self:
        if self.eligible is not None and (self.subject != "resident" or self.source != "behaviour"):
            raise ValueError(
                "eligible: only for records of residents' behaviour (records from posts or "
                "activities are about whoever posts or attempts)"
            )
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
    enrolled_share: Probability = Field(
        1.0,
        description="Share of the residents enrolled in the score (a rollout: ramp it in the "
        "timeline). A resident not enrolled keeps the base score (no points, drift or "
        "association penalty), so no score rule lists them; their records and the lists "
        "triggered by records still apply. Enrolment follows a fixed random order: a share "
        "that rises enrols more residents and keeps those enrolled.",
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
    attempt_multiplier: Probability = Field(
        1.0,
        description="Listed subjects' response to the list: the share of their attempts in "
        "the measure's domains that they still make, from the day of listing (the rest are "
        "avoided: given up, or replaced by an unrestricted alternative). ASSUMED default 1: "
        "no response, every attempt is made and meets the measure.",
    )
    attempt_multiplier_floor: Probability | None = Field(
        None,
        description="Learning: the share of attempts still made long after listing; the "
        "multiplier decays from attempt_multiplier toward it with learning_half_life_days. "
        "ASSUMED default None: no learning (the multiplier stays at attempt_multiplier).",
    )
    learning_half_life_days: HalfLife | None = Field(
        None,
        description="Days for the multiplier to go half of the way from attempt_multiplier "
        "to attempt_multiplier_floor (days counted from the day of listing). Required with "
        "attempt_multiplier_floor; ASSUMED example 60 days.",
    )
    avoidance: Probability = Field(
        0.0,
        description="Share of the avoided attempts replaced by an unrestricted alternative "
        "(the slow train, not the high-speed one): made with the activity's base wait, "
        "counted in attempts, never blocked. ASSUMED default 0: avoided attempts are given "
        "up. Both are counted in avoided:<domain>.",
    )

    @model_validator(mode="after")
    def _learning(self) -> Self:
        if (self.attempt_multiplier_floor is None) != (self.learning_half_life_days is None):
            raise ValueError(
                "measure: give attempt_multiplier_floor and learning_half_life_days together"
            )
        floor = self.attempt_multiplier_floor
        if floor is not None and floor > self.attempt_multiplier:
            raise ValueError("measure: attempt_multiplier_floor is above attempt_multiplier")
        return self

    def responds(self) -> bool:
        """True when listed subjects make fewer attempts because of this measure."""
        floor = self.attempt_multiplier_floor
        return self.attempt_multiplier < 1.0 or (floor is not None and floor < 1.0)


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
    from_first_block: bool = Field(
        False,
        description="A resident who was not notified of a record that holds them on a list "
        "learns of it the first day a measure blocks them (at the station, at the bank) "
        "and may appeal from that day, the window counted from it; false: the unnotified "
        "cannot appeal.",
    )


class Review(Strict):
    """How an appeal is decided. The odds of the decision are those of the review kind
    (human or automated, `DueProcess.review_kinds`) unless given here."""

    human: bool = Field(
        False, description="True: a person reviews the case; false: solely automated."
    )
    days_to_decide: Days = Field(
        20,
        description="Days from appeal to decision (objections answered within 20 days, "
        "reference.md A/B).",
    )
    find_error: Probability | None = Field(
        None,
        description="Probability that an erroneous record is found and corrected "
        "(null: the review kind's, due_process.review_kinds).",
    )
    overturn_true: Probability | None = Field(
        None,
        description="Probability that a true record is overturned "
        "(null: the review kind's, due_process.review_kinds).",
    )


class ReviewOdds(Strict):
    """What one kind of review decides: its odds of correcting an erroneous record and of
    overturning a true one."""

    find_error: Probability = Field(
        description="Probability that an erroneous record is found and corrected."
    )
    overturn_true: Probability = Field(description="Probability that a true record is overturned.")


class ReviewKinds(Strict):
    """The odds of a human and of a solely automated review (ASSUMED defaults: a person who
    reads the file and hears the subject finds more errors than a check of the record
    against the database that wrote it; both rarely overturn a true record)."""

    human: ReviewOdds = Field(
        ReviewOdds(find_error=0.8, overturn_true=0.02),
        description="A person reviews the case (ASSUMED default: finds 80% of errors).",
    )
    automated: ReviewOdds = Field(
        ReviewOdds(find_error=0.5, overturn_true=0.02),
        description="Solely automated review (ASSUMED default: finds 50% of errors).",
    )

    def odds(self, review: Review) -> tuple[float, float]:
        """(find_error, overturn_true) of `review`: its own where given, else its kind's."""
        kind = self.human if review.human else self.automated
        find = review.find_error if review.find_error is not None else kind.find_error
        over = review.overturn_true if review.overturn_true is not None else kind.overturn_true
        return find, over


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
    review_kinds: ReviewKinds = ReviewKinds()
    lists: dict[Name, DueProcessRule] = Field(default_factory=dict)
    kinds: dict[Name, DueProcessRule] = Field(default_factory=dict)

    @field_serializer("lists", "kinds")
    def _only_given(self, value: dict[str, DueProcessRule]) -> dict[str, dict]:
        # Overrides are written as given, so that a resolved scenario reads back the same.
        return {k: v.model_dump(mode="json", exclude_unset=True) for k, v in value.items()}


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
