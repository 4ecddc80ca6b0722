"""The state of a run: everything the day's steps read and change.

`RunState` is made once per run from the scenario and the synthetic city: the compiled
rules (record kinds, scores, lists, domains, activities, due process), the state of
each kind of subject (`Side`: scores, lists, collectors), the residents' own state
(listed contacts, legal representatives' masks, chilling, income), the record log and
the harm trail (engine/trail.py), and the random streams' keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from scslab.engine.collectors import (
    HIST_BIN_POINTS,
    DailySeries,
    MetricSpace,
    StateCollector,
    enterprise_groups,
    resident_groups,
)
from scslab.engine.listcounts import CHANGE_FAMILIES
from scslab.engine.trail import HarmTrail
from scslab.model.activities import (
    CLASSES,
    ActivityRules,
    ResidentGroups,
    eligibility_class,
)
from scslab.model.behaviour import Recovering
from scslab.model.departments import RecordKinds, resident_classes
from scslab.model.dueprocess import (
    DUE_PROCESS_METRICS,
    DueProcessRules,
    DueProcessState,
)
from scslab.model.lists import (
    ListRules,
    ListState,
)
from scslab.model.measures import OUTCOMES, DomainRules, HighScores
from scslab.model.records import RecordLog
from scslab.model.scoring import (
    Scorer,
    ScoreRules,
    enrolment,
    enrolment_order,
    grade_index,
    has_rollout,
)
from scslab.scenario.population import Population
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS
from scslab.streams import stream_key

HIST_LO, HIST_HI = 0.0, 2000.0
"""The score histogram's range, in points (bins of HIST_BIN_POINTS)."""
T = TypeVar("T")


@dataclass
class Side:
    """Everything the engine keeps for one kind of subject (residents or enterprises)."""

    name: str
    n: int
    cell: np.ndarray  # int16, collector cell of each agent
    lists: ListRules
    list_state: ListState
    domains: DomainRules
    scorer: Scorer | None
    space: MetricSpace
    series: DailySeries
    acc: np.ndarray = field(init=False)
    cols: dict[str, np.ndarray] = field(default_factory=dict)
    listed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Ids of the agents on some list, increasing (kept from each day's listing changes)."""
    since: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int16))
    """since[l, i]: the day agent i last entered list l; kept only where a measure's
    response learns (Measure.learning_half_life_days), else empty."""
    common_grade: int = field(init=False)
    """The grade of the base score (most agents are in it: the score tally counts the
    others), -1 without scores."""

    def __post_init__(self) -> None:
        n_cells = self.series.groups.n_cells
        self.acc = np.zeros((n_cells, len(self.space)))
        self.pending = np.zeros_like(self.acc)  # the day whose scores are being tallied
        n_state = (
            4 + 2 * len(self.lists) + (len(self.scorer.rules.grade_names) if self.scorer else 0)
        )
        self.state_sums = np.zeros((n_cells, n_state))
        self.hist = np.zeros(int((HIST_HI - HIST_LO) // HIST_BIN_POINTS))
        self.collector = StateCollector(self.cell, n_cells, len(self.hist))
        # subjects ever on each list, per cell (listcounts.count_changes: each cell its row)
        self.ever_counts = np.zeros((n_cells, len(self.lists)))
        self.cell_rows = (
            np.arange(n_cells + 1, dtype=np.int64),
            np.arange(n_cells, dtype=np.int64),
        )
        rules = self.scorer.rules if self.scorer else None
        self.common_grade = grade_index(rules.base, rules.grade_floors) if rules else -1

    @property
    def score(self) -> np.ndarray:
        """Scores (float32), or an empty array when this side has no points layer."""
        return self.scorer.state.score if self.scorer else np.zeros(0, np.float32)

    @property
    def error_points(self) -> np.ndarray:
        """Erroneous part of the scores, or an empty array."""
        return self.scorer.state.error_points if self.scorer else np.zeros(0, np.float32)


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


class RunState:
    """Everything a run keeps between days (see the module's docstring).

    scenario, population, seed, days and agents (whether per-agent tables are kept)
    are the run's; days counts every day run, the burn-in's first: burn_in days run
    before the reported day 0 (internal day burn_in; see report_from()); `phases`: the
    names of the day's steps, whose seconds are added up in
    phase_seconds; worker_seconds: seconds of work done in the worker thread (zero when
    it runs inline); worker: that thread, while the general loop runs with one.
    """

    def __init__(
        self,
        scenario: Scenario,
        pop: Population,
        seed: int,
        days: int,
        agents: bool,
        phases: tuple[str, ...],
        burn_in: int = 0,
    ) -> None:
        self.scenario = scenario
        self.burn_in = burn_in
        self.population = pop
        self.seed = seed
        self.days = days
        self.agents = agents
        self.phase_seconds = dict.fromkeys(phases, 0.0)
        self.worker_seconds = {"drift": 0.0, "score_tally": 0.0}
        self.worker: ThreadPoolExecutor | None = None
        self.tally_pending: tuple[int, Future[list[np.ndarray] | None]] | None = None
        self.drifting: list[Future[None]] = []
        sc = self.scenario
        self.kinds = RecordKinds.compile(sc)
        res_score = ScoreRules.compile(sc.scoring) if sc.scoring else None
        ent_score = ScoreRules.compile(sc.corporate_scoring) if sc.corporate_scoring else None
        res_lists = ListRules.compile(sc, "resident", self.kinds.names, res_score)
        ent_lists = ListRules.compile(sc, "enterprise", self.kinds.names, ent_score)
        self.activities = ActivityRules.compile(sc)
        r = pop.residents
        nd = len(pop.district_names)
        sides = []
        responding, learning = listresponse_of(sc)
        for name, n, lists, score, cell, groups in (
            (
                "resident",
                pop.n_residents,
                res_lists,
                res_score,
                (r.district.astype(np.int16) * 20 + r.migrant * 10 + r.income_decile).astype(
                    np.int16
                ),
                resident_groups(pop.district_names),
            ),
            (
                "enterprise",
                pop.n_enterprises,
                ent_lists,
                ent_score,
                pop.enterprises.district.astype(np.int16),
                enterprise_groups(pop.district_names),
            ),
        ):
            domains = DomainRules.compile(sc, name, lists, ent_lists, score)  # type: ignore[arg-type]
            space, cols = metric_space(
                name,
                lists,
                score,
                self.kinds,
                self.activities,
                domains,
                ent_lists.names,
                has_rollout(sc),
                responding[name],
            )
            prefix = "" if name == "resident" else "enterprise."
            scorer = Scorer(score, n) if score else None
            if scorer is not None and len(lists):
                scorer.watch_band(*lists.score_band())  # runs the lists' update must visit
            side = Side(
                name=name,
                n=n,
                cell=cell,
                lists=lists,
                list_state=ListState.empty(n, len(lists)),
                domains=domains,
                scorer=scorer,
                space=space,
                series=DailySeries(
                    groups,
                    space,
                    prefix,
                    left_out=np.zeros(0, np.int64)
                    if sc.outputs.scores
                    else np.concatenate([cols["score"], cols["grade"]]),
                ),
                cols=cols,
            )
            if learning[name]:
                side.since = np.zeros((max(len(lists), 1), n), np.int16)
            sides.append(side)
        self.res, self.ent = sides
        assert self.res.acc.shape[0] == nd * 20
        n = pop.n_residents
        beh = sc.behaviour
        # Blacklisted contacts of each resident (at most their number of contacts)
        most = pop.most_contacts
        self.listed_contacts = np.zeros(n, np.int16 if most < 2**15 else np.int32)
        self.rep_mask = np.zeros(n, np.uint8)
        self.rep_wrongful = np.zeros(n, np.uint8)
        # Residents representing a listed enterprise (kept from the day's changes)
        self.rep_ids = np.zeros(0, np.int64)
        self.chill = Recovering(n, beh.chilling_half_life_days)
        self.income = Recovering(n, beh.income_recovery_half_life_days, beh.min_income_factor)
        self.blocked_count = np.zeros(n, np.int32) if self.agents else np.zeros(0, np.int32)
        self.wrongful_count = np.zeros(n, np.int32) if self.agents else np.zeros(0, np.int32)
        self.days_blacklisted = np.zeros(n, np.int16) if self.agents else np.zeros(0, np.int16)
        adults = np.flatnonzero(r.age_band >= 2).astype(np.int32)
        working = np.flatnonzero((r.age_band >= 2) & (r.age_band <= 5)).astype(np.int32)
        parents = np.flatnonzero(r.parent).astype(np.int32)
        self.pools: list[np.ndarray | int] = [n, adults, working, parents]
        self.subject_class = resident_classes(r.age_band, r.sector, r.migrant)
        self.log = RecordLog(capacity=max(1024, n // 8))
        n_cells = self.res.acc.shape[0]
        self.groups = ResidentGroups.of(
            self.res.cell, n_cells, r.income_decile, eligibility_class(r.age_band, r.parent)
        )
        self.chill.track(self.groups.group, n_cells * 10 * len(CLASSES))
        # Record kinds drawn from residents' attempts (posts screened, petitions, gatherings,
        # worship), and for each activity the kinds its attempts may be recorded under
        from_attempts = self.kinds.from_posts | self.kinds.from_activity
        self.flag_kinds = np.flatnonzero(from_attempts & (self.kinds.subject == 0))
        self.flag_of, self.flag_probability = attempt_flags(sc, self.kinds, self.flag_kinds)
        self.flagged_yesterday = [np.zeros(0, np.int64) for _ in self.flag_kinds]
        # Residents whose score opens a green channel in some domain of theirs
        rewards = self.res.domains.reward_score[self.activities.domain[~self.activities.enterprise]]
        self.green_score = float(rewards.min(initial=np.inf))
        self.high_scores: HighScores | None = None
        if self.res.scorer is not None and (
            np.isfinite(self.green_score) and self.green_score > self.res.scorer.rules.base
        ):
            self.high_scores = HighScores(self.green_score, self.res.score)
        if self.high_scores is not None and self.res.scorer is not None:
            self.res.scorer.track_risen = True
        self.cell_keys = [
            (
                stream_key(self.seed, f"activities.{name}.reached"),
                [
                    stream_key(
                        self.seed,
                        f"activities.{name}.flagged.{self.kinds.names[self.flag_kinds[f]]}",
                    )
                    for f in self.flag_of[a]
                ],
            )
            for a, name in enumerate(self.activities.names)
        ]
        self.others_keys = [  # (the closed-form counts of everyone else's attempts)
            stream_key(self.seed, f"activities.{name}.others") for name in self.activities.names
        ]
        self.hist_rows: list[np.ndarray] = []
        self.list_key = [stream_key(self.seed, f"lists.{s.name}") for s in (self.res, self.ent)]
        self.activity_keys = [
            stream_key(self.seed, f"activities.{a}") for a in self.activities.names
        ]
        self.points = self.kinds.points
        self.kind_keys = [stream_key(self.seed, f"departments.{k}") for k in self.kinds.names]
        self.dp_rules = DueProcessRules.compile(sc, self.kinds, res_lists, ent_lists)
        self.dp = DueProcessState(
            self.dp_rules,
            self.kinds,
            self.seed,
            (r.education, r.education[pop.enterprises.legal_rep]),
            (r.income_decile, r.income_decile[pop.enterprises.legal_rep]),
            per_agent=self.agents,
        )
        self.trail = HarmTrail(n, self.agents)
        # enrolment in the score: a fixed order of the residents, and those not yet in
        self.enrolment_order = enrolment_order(self.seed, n) if has_rollout(sc) else None
        self.held = np.zeros(0, np.uint8)
        self.enrolled_cells: np.ndarray = np.zeros(0)
        self._enrol(sc)
        self.today_ids = np.zeros(0, np.int64)
        # the timeline: the rules' values by (internal) day, applied by apply_timeline();
        # its dates are of the reported days, after the burn-in
        self.changes = {day + burn_in: values for day, values in sc.timeline_by_day()}
        self._without_timeline = sc.model_copy(update={"timeline": []})
        self._changed: dict[str, Any] = {}

    def _enrol(self, sc: Scenario) -> None:
        """Which residents are not enrolled in the score at sc's share (`held`, one
        byte each, or empty: the scoring step holds them at the base), and the enrolled
        residents per collector cell."""
        if self.enrolment_order is None or sc.scoring is None:
            return
        self.held, self.enrolled_cells = enrolment(
            self.enrolment_order, sc.scoring.enrolled_share, self.res.cell, self.res.acc.shape[0]
        )

    def report_from(self, day: int) -> None:
        """Before the steps of internal day `day`: if it is the reported day 0 (the end of
        a burn-in), start the per-agent counts afresh (days blacklisted, blocked attempts,
        days wrongfully blacklisted, income shocks, days listed unaware), so that they
        count reported days."""
        if day != self.burn_in or day == 0:
            return
        for counts in (self.days_blacklisted, self.blocked_count, self.wrongful_count):
            counts[:] = 0
        self.trail.days_wrongful[:] = 0
        self.trail.first_shock_day[:] = -1
        self.trail.income_shocks[:] = 0
        self.dp.days_unaware[:] = 0

    def apply_timeline(self, day: int) -> bool:
        """Put the timeline's changes of `day` (if any) into the rules, before the day's
        steps run; returns whether there were any. `scenario` is then the scenario with
        every change so far."""
        values = self.changes.get(day)
        if values is None:
            return False
        self._changed.update(values)
        self.set_rules(self._without_timeline.with_changes(self._changed, source="timeline"))
        return True

    def resume_at(self, day: int) -> None:
        """Bring the rules to those in force after `day` days (internal days) have run:
        every change of the timeline before that day, in order, as the run applied them
        (a run continued from a snapshot of its state after those days; the state
        itself comes from the snapshot, engine/snapshot.py)."""
        for when in sorted(self.changes):
            if when < day:
                self.apply_timeline(when)

    def set_rules(self, sc: Scenario) -> None:
        """Compile the rules of `sc`, a scenario of the same structure as the run's (the
        same record kinds, lists, activities and population) with other values, and put
        them in place of the run's; the state (scores, lists, records) stays. Every
        subject is visited by the next lists' update (a threshold may have moved)."""
        self.scenario = sc
        self.kinds = RecordKinds.compile(sc)
        self.points = self.kinds.points
        res_score = ScoreRules.compile(sc.scoring) if sc.scoring else None
        ent_score = ScoreRules.compile(sc.corporate_scoring) if sc.corporate_scoring else None
        res_lists = ListRules.compile(sc, "resident", self.kinds.names, res_score)
        ent_lists = ListRules.compile(sc, "enterprise", self.kinds.names, ent_score)
        self.activities = ActivityRules.compile(sc)
        for side, lists, score in (
            (self.res, res_lists, res_score),
            (self.ent, ent_lists, ent_score),
        ):
            side.lists = lists
            side.domains = DomainRules.compile(sc, side.name, lists, ent_lists, score)  # type: ignore[arg-type]
            if side.scorer is not None and score is not None:
                side.scorer.rules = score
                side.common_grade = grade_index(score.base, score.grade_floors)
                side.scorer.watch_band(*lists.score_band()) if len(lists) else None
        self.flag_of, self.flag_probability = attempt_flags(sc, self.kinds, self.flag_kinds)
        rewards = self.res.domains.reward_score[self.activities.domain[~self.activities.enterprise]]
        green = float(rewards.min(initial=np.inf))
        if green != self.green_score and self.high_scores is not None:
            self.high_scores = HighScores(green, self.res.score)
        self.green_score = green
        self.dp_rules = DueProcessRules.compile(sc, self.kinds, res_lists, ent_lists)
        self.dp.rules, self.dp.kinds = self.dp_rules, self.kinds
        self._enrol(sc)

    def timed(self, name: str, work: Callable[..., T], *args: Any) -> Callable[[], T]:
        """`work(*args)`, adding the seconds it takes to worker_seconds[name]."""

        def timed() -> T:
            start = time.perf_counter()
            try:
                return work(*args)
            finally:
                self.worker_seconds[name] += time.perf_counter() - start

        return timed
