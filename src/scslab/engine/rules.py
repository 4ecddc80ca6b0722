"""The rules a run compiles from its scenario, and their metric columns.

`compile_rules(sc)` turns a scenario into the arrays the engine reads (record kinds,
scores, lists, domains, activities, due process); `scenario_rules(sc)` adds what a run
of it sets up from the scenario alone (each side's metric columns, which lists'
responses learn, the flagging of attempts, the scenario without its timeline) and
keeps the lot per scenario object for the life of the process: a scenario is
immutable (scenario.bounds.Strict: frozen models; nothing in scslab changes a nested
value in place, and nothing may), so every run of the same object shares one
ScenarioRules. So do the scenarios and rules of its timeline's days
(`timeline_rules`), and the tables the engine builds from any of these rules for a
seed and size (`shared_table`: engine/daytables.py).

Nothing may write into what is shared: the rules are frozen dataclasses whose arrays
are not to be written (tests/test_rules.py checks that runs leave them as made), a
run takes its own copy of the `cols` dicts (Side.cols), and the MetricSpace objects
are shared as they are (no metric is added to a space once made).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from scslab.engine.collectors import MetricSpace
from scslab.engine.listcounts import CHANGE_FAMILIES
from scslab.model.activities import ActivityRules
from scslab.model.departments import RecordKinds
from scslab.model.dueprocess import DUE_PROCESS_METRICS, DueProcessRules
from scslab.model.lists import ListRules
from scslab.model.measures import OUTCOMES, DomainRules
from scslab.model.scoring import ScoreRules, has_rollout
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS

SIDES = ("resident", "enterprise")
T = TypeVar("T")
V = TypeVar("V")


class Rules(NamedTuple):
    """A scenario's rules as the engine reads them; each pair: (residents', enterprises')."""

    kinds: RecordKinds
    scores: tuple[ScoreRules | None, ScoreRules | None]
    lists: tuple[ListRules, ListRules]
    domains: tuple[DomainRules, DomainRules]
    activities: ActivityRules
    due_process: DueProcessRules


def compile_rules(sc: Scenario) -> Rules:
    """The rules of `sc`, compiled anew (RunState.set_rules: a timeline's changes)."""
    kinds = RecordKinds.compile(sc)
    res_score = ScoreRules.compile(sc.scoring) if sc.scoring else None
    ent_score = ScoreRules.compile(sc.corporate_scoring) if sc.corporate_scoring else None
    res_lists = ListRules.compile(sc, "resident", kinds.names, res_score)
    ent_lists = ListRules.compile(sc, "enterprise", kinds.names, ent_score)
    domains = tuple(
        DomainRules.compile(sc, side, lists, ent_lists, score)  # type: ignore[arg-type]
        for side, lists, score in zip(
            SIDES, (res_lists, ent_lists), (res_score, ent_score), strict=True
        )
    )
    return Rules(
        kinds,
        (res_score, ent_score),
        (res_lists, ent_lists),
        (domains[0], domains[1]),
        ActivityRules.compile(sc),
        DueProcessRules.compile(sc, kinds, res_lists, ent_lists),
    )


@dataclass(frozen=True)
class ScenarioRules:
    """What every run of one scenario sets up from it alone (see the module's docstring):
    the rules; each side's metric space and columns (metric_space); whether each side's
    list responses learn (listresponse_of); the record kinds drawn from residents'
    attempts (`flag_kinds`, kind ids, increasing) and per activity the ones it may be
    recorded under with their probabilities (attempt_flags); the scenario without its
    timeline, and the timeline by day (Scenario.timeline_by_day)."""

    rules: Rules
    spaces: tuple[tuple[MetricSpace, dict[str, np.ndarray]], ...]
    learning: tuple[bool, bool]
    flag_kinds: np.ndarray
    flag_of: list[np.ndarray]
    flag_probability: list[np.ndarray]
    without_timeline: Scenario
    timeline: list[tuple[int, dict[str, Any]]]

    @classmethod
    def compile(cls, sc: Scenario) -> ScenarioRules:
        """The ScenarioRules of `sc`, made anew (scenario_rules keeps them)."""
        rules = compile_rules(sc)
        kinds, activities = rules.kinds, rules.activities
        responding, learning = listresponse_of(sc)
        spaces = tuple(
            metric_space(
                side,
                rules.lists[s],
                rules.scores[s],
                kinds,
                activities,
                rules.domains[s],
                rules.lists[1].names,
                has_rollout(sc),
                responding[side],
            )
            for s, side in enumerate(SIDES)
        )
        from_attempts = kinds.from_posts | kinds.from_activity
        flag_kinds = np.flatnonzero(from_attempts & (kinds.subject == 0))
        flag_of, flag_probability = attempt_flags(sc, kinds, flag_kinds)
        return cls(
            rules,
            spaces,
            (learning["resident"], learning["enterprise"]),
            flag_kinds,
            flag_of,
            flag_probability,
            sc.model_copy(update={"timeline": []}),
            list(sc.timeline_by_day()),
        )


class ByScenario(Generic[V]):
    """Values kept per scenario object, by identity, for as long as the scenario lives
    (a weak reference to it: its entry goes with it)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[Scenario], V]] = {}

    def get(self, sc: Scenario) -> V | None:
        """The value kept for `sc`, or None."""
        got = self._by_id.get(id(sc))
        return got[1] if got is not None and got[0]() is sc else None

    def put(self, sc: Scenario, value: V) -> V:
        """Keep `value` for `sc` (while sc lives); returns it."""
        key = id(sc)

        def forget(ref: weakref.ref[Scenario]) -> None:
            if key in self._by_id and self._by_id[key][0] is ref:
                del self._by_id[key]

        self._by_id[key] = (weakref.ref(sc, forget), value)
        return value

    def __len__(self) -> int:
        return len(self._by_id)


class Shared(NamedTuple):
    """The compiled rules of a scenario object (one run started from, or one its
    timeline made) and the tables built from them that shared_table() keeps."""

    rules: Rules
    tables: dict[tuple[Any, ...], Any]


_ROOTS: ByScenario[ScenarioRules] = ByScenario()
"""scenario_rules' ScenarioRules of each scenario."""
_SHARED: ByScenario[Shared] = ByScenario()
"""The rules of each scenario of _ROOTS and _TIMELINES, and their tables."""
_TIMELINES: ByScenario[dict[str, Scenario]] = ByScenario()
"""Per scenario without its timeline (ScenarioRules.without_timeline): the scenarios
that timeline_rules() made from it, by the changes made (as JSON)."""
MOST_TABLES = 256
"""shared_table() keeps at most this many tables per scenario (then starts afresh:
runs of many seeds or sizes), and timeline_rules() as many scenarios per base."""


def scenario_rules(sc: Scenario) -> ScenarioRules:
    """The ScenarioRules of the scenario object `sc`: made on its first run in this
    process, then shared by every run of the same object (not to be written: see the
    module's docstring)."""
    made = _ROOTS.get(sc)
    if made is None:
        made = _ROOTS.put(sc, ScenarioRules.compile(sc))
        _SHARED.put(sc, Shared(made.rules, {}))
    return made


def timeline_rules(base: Scenario, changed: dict[str, Any]) -> tuple[Scenario, Rules]:
    """base.with_changes(changed, source="timeline") and its compiled rules (the rules
    of a day of a timeline, with every change so far: RunState.apply_timeline), made
    once per base object and changes in a process and shared, as scenario_rules'."""
    key = json.dumps(changed, sort_keys=True, default=repr)
    made = _TIMELINES.get(base)
    if made is None:
        made = _TIMELINES.put(base, {})
    sc = made.get(key)
    if sc is None:
        if len(made) >= MOST_TABLES:
            made.clear()
        sc = made[key] = base.with_changes(changed, source="timeline")
        _SHARED.put(sc, Shared(compile_rules(sc), {}))
    shared = _SHARED.get(sc)
    assert shared is not None
    return sc, shared.rules


def shared_table(
    sc: Scenario, kinds: RecordKinds, key: tuple[Any, ...], make: Callable[[], T]
) -> T:
    """make(), kept for the runs of `sc` under `key` while the run's rules are sc's
    shared ones (`kinds`, the run's record kinds now, are those scenario_rules(sc) or
    timeline_rules made: any other rules compile every kind anew), else made anew.
    `key` names the table and what else it depends on (the seed, the size); the table
    is shared: not to be written."""
    shared = _SHARED.get(sc)
    if shared is None or kinds is not shared.rules.kinds:
        return make()
    table = shared.tables.get(key)
    if table is None:
        if len(shared.tables) >= MOST_TABLES:
            shared.tables.clear()
        table = shared.tables[key] = make()
    return table


def metric_space(
    side: str,
    lists: ListRules,
    score: ScoreRules | None,
    kinds: RecordKinds,
    activities: ActivityRules,
    domains: DomainRules,
    firm_lists: list[str],
    rollout: bool = False,
    responding: frozenset[str] = frozenset(),
) -> tuple[MetricSpace, dict[str, np.ndarray]]:
    """Metric columns of one side; families only for departments and domains it has.

    blocked_by:<list>:<domain>: attempts of this side's subjects in the domain blocked
    by a measure of the list; an attempt that two lists block counts for each (so these
    may sum to more than blocked:<domain>, which counts it once). For residents the
    lists are their own and, through the legal representatives, the firms' lists
    (`firm_lists`, named as they are). Named for every list with a measure (block or
    delay: a timeline may turn one into the other) in the side's domains; cols
    ["blocked_by"][domain, bit] is the column of own list `bit` (0 to 7) and of firm list
    bit - 8 (8 to 15), -1 where none is named. `enrolled` (residents in the score) only
    with a rollout of enrolment. avoided:<domain>: attempts not made (given up or
    replaced) because of a list, named for the `responding` domains (listresponse_of).
    """
    space = MetricSpace()
    code = 0 if side == "resident" else 1
    departments = list(kinds.department_names)
    reporting = {departments[d] for d in kinds.department[kinds.subject == code]}
    own_domains = {DOMAINS[d] for d in activities.domain[activities.enterprise == bool(code)]}

    def family(prefix: str, items: list[str], keep: set[str]) -> np.ndarray:
        # Columns for every item (so indices line up), but only kept ones are named.
        cols = np.full(len(items), -1, np.int64)
        for i, it in enumerate(items):
            if it in keep:
                cols[i] = space.add(f"{prefix}:{it}")
        return cols

    cols = {
        "count": np.array([space.add("residents" if side == "resident" else "enterprises")]),
        "black": np.array([space.add("blacklisted")]),
        "black_wrongful": np.array([space.add("wrongfully_blacklisted")]),
        "score": np.array([space.add("score_sum")]),
        "listed": space.family("listed", lists.names),
        "listed_wrongful": space.family("listed_wrongful", lists.names),
        "grade": space.family("grade", score.grade_names if score else []),
        "records_true": family("records_true", departments, reporting),
        "records_erroneous": family("records_erroneous", departments, reporting),
    }
    for name in CHANGE_FAMILIES:
        cols[name] = space.family(name, lists.names)
    cols["changes"] = np.stack([cols[name] for name in CHANGE_FAMILIES])  # [family, list]
    cols["ever_listed"] = space.family("ever_listed", lists.names)
    for outcome in OUTCOMES:
        cols[outcome] = family(outcome, list(DOMAINS), own_domains)
    cols["avoided"] = family("avoided", list(DOMAINS), own_domains & responding)
    cols["blocked_by"] = np.full((len(DOMAINS), 16), -1, np.int64)
    for d, domain in enumerate(DOMAINS):
        if domain not in own_domains:
            continue
        own = int(domains.block_own[d] | domains.delay_own[d])
        rep = int(domains.block_rep[d] | domains.delay_rep[d])
        for b in range(16):
            bits, names = (own, lists.names) if b < 8 else (rep, firm_lists)
            if (bits >> (b % 8)) & 1:
                cols["blocked_by"][d, b] = space.add(f"blocked_by:{names[b % 8]}:{domain}")
    cols["state"] = np.concatenate(
        [
            cols[k]
            for k in (
                "count",
                "black",
                "black_wrongful",
                "score",
                "listed",
                "listed_wrongful",
                "grade",
            )
        ]
    )
    cols["outcomes"] = np.stack([cols[o] for o in OUTCOMES], axis=1)  # [domain, outcome]
    for metric in DUE_PROCESS_METRICS:
        cols[metric] = np.array([space.add(metric)])
    if side == "resident":
        cols["posts"] = np.array([space.add("posts")])
        cols["income_shocks"] = np.array([space.add("income_shocks")])
        if rollout:
            cols["enrolled"] = np.array([space.add("enrolled")])
    return space, cols


def listresponse_of(sc: Scenario) -> tuple[dict[str, frozenset[str]], dict[str, bool]]:
    """Per side ('resident', 'enterprise'): the domains where a measure of its own lists
    brings a response (Measure.attempt_multiplier and floor), and whether a response
    learns (a half-life), in the scenario or in the rules of any day of its timeline."""
    domains: dict[str, set[str]] = {"resident": set(), "enterprise": set()}
    learning = {"resident": False, "enterprise": False}
    rules = [sc]
    changed: dict[str, Any] = {}
    for _, values in sc.timeline_by_day():
        changed.update(values)
        if not any(key.startswith("measures.") for key in values):
            continue  # the measures are as the day before
        rules.append(
            sc.model_copy(update={"timeline": []}).with_changes(changed, source="timeline")
        )
    for rule in rules:
        for m in rule.measures.values():
            side = rule.lists[m.list].subject
            if m.responds():
                domains[side].update(m.domains)
            learning[side] |= m.learning_half_life_days is not None
    return {k: frozenset(v) for k, v in domains.items()}, learning


def attempt_flags(
    sc: Scenario, kinds: RecordKinds, flag_kinds: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each activity (in the scenario's order), the record kinds that one of its
    attempts may be recorded under, as indices into `flag_kinds` (kind ids, increasing),
    and the probability per attempt of each (Scenario.flag_kinds_of)."""
    where = {kinds.names[k]: f for f, k in enumerate(flag_kinds)}
    of, probability = [], []
    for aname in sc.activities:
        flags = [(where[k], p) for _, k, p in sc.flag_kinds_of(aname) if k in where]
        of.append(np.array([f for f, _ in flags], np.int64))
        probability.append(np.array([p for _, p in flags], np.float64))
    return of, probability
