"""The scenario: every rule of a social credit system, and its city, as one validated value.

A scenario is a YAML file (or a built-in; scslab.scenario.loader reads them) validated
by the pydantic model `Scenario`, made of the sections in scslab.scenario.sections and
scslab.scenario.population_spec. Unknown keys are errors, values are range-checked
(scslab.scenario.bounds), and cross-references (a measure naming a list, a list naming a
record kind) are resolved here, so that the engine only ever sees a consistent scenario.
Nothing in a scenario is ever evaluated as code. `Scenario` also answers what the model
asks of the rules (the due process of a record kind, the lists it feeds, peak rates).

Units used throughout: days for durations, points for scores, per-year rates for
behaviour and activities (expected events per subject per year), probabilities in [0, 1].
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from scslab.scenario import timeline as timeline_
from scslab.scenario.bounds import (
    MAX_ACTIVITIES,
    MAX_DAYS,
    MAX_DEPARTMENTS,
    MAX_EVENTS_PER_DAY,
    MAX_LISTS_PER_SUBJECT,
    MAX_RECORD_KINDS,
    RATE_WHY,
    Name,
    Strict,
    at_most,
)
from scslab.scenario.changes import apply_changes, deep_merge
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.rates import decile_multipliers, deterrence_factor
from scslab.scenario.safeyaml import ScenarioError, format_validation_error
from scslab.scenario.sections import (
    SOURCE_RATE_KEY,
    SUBJECTS,
    Activity,
    Behaviour,
    Context,
    Department,
    DueProcess,
    DueProcessRule,
    ListRule,
    Measure,
    Outputs,
    RecordKind,
    Reward,
    Scoring,
    Subject,
)

_MISSING = object()


def _lookup(data: Any, key: str) -> Any:
    """The value at dotted `key` in a scenario's data, or _MISSING."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _as_type_of(current: Any, value: Any) -> Any:
    """A timeline's value as the type of the value it replaces: a ramp's float rounded
    where an integer is changed."""
    if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
        return round(value)
    return value


def _given(model: BaseModel) -> dict:
    """The keys an override actually gives, nested (unset keys inherit)."""
    out: dict = {}
    for key in model.model_fields_set:
        value = getattr(model, key)
        out[key] = _given(value) if isinstance(value, BaseModel) else value
    return out


class Scenario(Strict):
    """A complete social credit system and the city it runs on."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$", max_length=100)]
    """Also the start of a run directory's default name (file names hold 255 bytes)."""
    description: str = ""
    days: Annotated[
        int,
        Field(strict=True, ge=1),
        at_most(MAX_DAYS, " days", "days are stored as int16, with room for the spans after"),
    ] = 365
    burn_in_days: Annotated[
        int,
        Field(strict=True, ge=0),
        at_most(MAX_DAYS - 1, " days", "days are stored as int16, with room for the spans after"),
    ] = Field(
        0,
        description="Days run before day 0 and not reported (a warm-up, so that day 0 starts "
        "with records, lists and scores already formed): their rows are left out of the "
        "metrics and score histogram, the records table and the per-agent counts; the "
        "listings table keeps their changes with negative days. The timeline's rules start "
        "on its dates, after the burn-in. burn_in_days + days is at most 7300.",
    )
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

    def timeline_by_day(self) -> list[tuple[int, dict[str, Any]]]:
        """The timeline as the engine applies it: (day, {key: value}) for each day with a
        change, in day order (scslab.scenario.timeline.changes_by_day); a ramp's values
        rounded where they change an integer."""
        if not self.timeline:
            return []
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
        self._check_peak_rates()
        for k, (d, kind) in kinds.items():
            act = self.activities.get(kind.activity) if kind.activity else None
            if kind.activity and (act is None or act.subject != "resident"):
                raise ValueError(
                    f"departments.{d}.records.{k}.activity: no residents' activity "
                    f"'{kind.activity}'; allowed: "
                    f"{', '.join(n for n, a in self.activities.items() if a.subject == 'resident')}"
                )
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

    @model_validator(mode="after")
    def _burn_in_fits(self) -> Self:
        if self.burn_in_days + self.days > MAX_DAYS:
            raise ValueError(
                f"burn_in_days: burn_in_days + days must be at most {MAX_DAYS} (days are "
                f"stored as int16, with room for the spans after); got "
                f"{self.burn_in_days} + {self.days}"
            )
        return self

    @model_validator(mode="after")
    def _residents_enrol(self) -> Self:
        if self.corporate_scoring is not None and self.corporate_scoring.enrolled_share < 1.0:
            raise ValueError(
                "corporate_scoring.enrolled_share: every market entity is scored (enrolment "
                "is of residents: scoring.enrolled_share); leave it at 1"
            )
        return self

    @model_validator(mode="after")
    def _timeline_values(self) -> Self:
        """The timeline (checked after the rest of the scenario, so that an error in the
        rules is not blamed on it): each value alone, as --set would check it, then the
        rules as they stand after each day's changes, all together."""
        if not self.timeline:
            return self
        base = self.model_copy(update={"timeline": []})
        data = base.model_dump(mode="json")

        def check_value(key: str, value: Any, ramp: bool) -> str | None:
            current = _lookup(data, key)
            if isinstance(current, str) or isinstance(value, str):
                return "a timeline changes numbers and switches, not names (which shape the run)"
            if isinstance(current, dict | list) or current is _MISSING:
                return "not a value of the scenario (a number or switch to change)"
            try:
                base.with_changes(
                    {key: _as_type_of(current, value) if ramp else value}, source="timeline"
                )
            except ScenarioError as err:
                return err.message
            return None

        timeline_.check_timeline(self.timeline, self.start_date, self.days, check_value)
        for _ in self.rules_by_day():
            pass  # each day's rules validated together (ValueError naming the date)
        return self

    def rules_by_day(self) -> Iterator[tuple[int, Scenario]]:
        """(day, the rules from that day on) for each day the timeline changes them: the
        scenario without its timeline, with every change up to that day. ValueError
        naming the date when a day's rules do not hold together."""
        fixed = self.model_copy(update={"timeline": []})
        changed: dict[str, Any] = {}
        for day, values in self.timeline_by_day():
            changed.update(values)
            try:
                yield day, fixed.with_changes(changed, source="timeline")
            except ScenarioError as err:
                raise ValueError(
                    f"timeline: the rules on {self.date_of(day)} (every change up to that "
                    f"day): {err.key}: {err.message}"
                ) from None

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
                merged = deep_merge(merged, _given(dp.lists[lname]))
        if kind in dp.kinds:
            merged = deep_merge(merged, _given(dp.kinds[kind]))
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
        data = apply_changes(self.model_dump(mode="json"), changes, remove, source)
        try:
            return Scenario.model_validate(data)
        except ValidationError as err:
            where, msg = format_validation_error(err)
            raise ScenarioError(source, where, msg) from None
