"""The state of a run: everything the day's steps read and change.

`RunState` is made once per run from the scenario and the synthetic city: the compiled
rules (record kinds, scores, lists, domains, activities, due process, and the metric
columns: engine/rules.py, made once per scenario object and shared), the state of
each kind of subject (`Side`: scores, lists, collectors), the residents' own state
(listed contacts, legal representatives' masks, chilling, income), the record log and
the harm trail (engine/trail.py), and the random streams' keys.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import InitVar, dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np

from scslab.engine.collectors import (
    HIST_BIN_POINTS,
    DailySeries,
    MetricSpace,
    StateCollector,
    enterprise_groups,
    resident_groups,
)
from scslab.engine.rules import (
    Rules,
    attempt_flags,
    compile_rules,
    scenario_rules,
    timeline_rules,
)
from scslab.engine.trail import HarmTrail
from scslab.kernelcache import kernel
from scslab.model.activities import (
    CLASSES,
    ResidentGroups,
)
from scslab.model.behaviour import Recovering
from scslab.model.dueprocess import (
    DueProcessState,
)
from scslab.model.lists import (
    ListRules,
    ListState,
)
from scslab.model.measures import DomainRules, HighScores
from scslab.model.records import RecordLog
from scslab.model.scoring import (
    Scorer,
    enrolment,
    enrolment_order,
    grade_index,
    has_rollout,
)
from scslab.scenario.people import Residents
from scslab.scenario.population import Population
from scslab.scenario.schema import Scenario
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
    counted: InitVar[tuple[np.ndarray, np.ndarray] | None] = None
    """The collector's cells (uint16) and agents per cell, where already worked out
    (StateCollector)."""

    def __post_init__(self, counted: tuple[np.ndarray, np.ndarray] | None) -> None:
        n_cells = self.series.groups.n_cells
        self.acc = np.zeros((n_cells, len(self.space)))
        self.pending = np.zeros(self.acc.shape)  # the day whose scores are being tallied
        n_state = (
            4 + 2 * len(self.lists) + (len(self.scorer.rules.grade_names) if self.scorer else 0)
        )
        self.state_sums = np.zeros((n_cells, n_state))
        self.hist = np.zeros(int((HIST_HI - HIST_LO) // HIST_BIN_POINTS))
        self.collector = StateCollector(self.cell, n_cells, len(self.hist), counted)
        # subjects ever on each list, per cell (listcounts.count_changes: each cell its row)
        self.ever_counts = np.zeros((n_cells, len(self.lists)))
        self.cell_rows = self.collector.rows  # (each cell its own row: not to be written)
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


class ResidentLayout(NamedTuple):
    """What a run sets up from the residents' attributes alone (resident_layout)."""

    cell: np.ndarray  # int16: collector cell, district x 20 + migrant x 10 + income decile
    counted: tuple[np.ndarray, np.ndarray]  # the cells as uint16, residents per cell (int64)
    subject_class: np.ndarray  # uint8: departments.resident_classes
    groups: ResidentGroups  # activities.ResidentGroups.of the cells and eligibility classes


def resident_layout(r: Residents, n_cells: int) -> ResidentLayout:
    """The residents' collector cells (< n_cells), their counts, eligibility classes for
    records (departments.resident_classes) and for activities (activities.
    eligibility_class) and their ResidentGroups, in one pass over the residents
    (_layout): the arrays those functions make, of the same types."""
    n = len(r.district)
    n_groups = n_cells * 10 * len(CLASSES)
    small = np.int16 if n_groups <= np.iinfo(np.int16).max else np.int32
    cell, subject_class, klass = np.empty(n, np.int16), np.empty(n, np.uint8), np.empty(n, np.uint8)
    collector_cell, group = np.empty(n, np.uint16), np.empty(n, small)
    size, cell_count = np.zeros(n_groups), np.zeros(n_cells, np.int64)
    _layout(
        (r.district, r.migrant, r.income_decile, r.age_band, r.sector, r.parent),
        (cell, collector_cell, subject_class, klass, group),
        size,
        cell_count,
        len(CLASSES),
    )
    groups = ResidentGroups(cell, r.income_decile, klass, group, size.reshape(n_cells, 10, -1))
    return ResidentLayout(cell, (collector_cell, cell_count), subject_class, groups)


@kernel(nogil=True)
def _layout(
    attributes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    size: np.ndarray,
    cell_count: np.ndarray,
    n_classes: int,
) -> None:
    """resident_layout's pass: from (district, migrant, income decile, age band, sector,
    parent) of each resident, out = (cell, the cell as uint16, class for records, class
    for activities, group), and residents per group (size, zeros; n_classes classes for
    activities) and per cell (cell_count, zeros); each in its array's own type, as
    numpy works them out. ValueError for a cell out of range."""
    district, migrant, decile, age_band, sector, parent = attributes
    cell, collector_cell, subject_class, klass, group = out
    for i in range(len(cell)):
        c = np.int16(np.int16(district[i]) * np.int16(20) + np.int16(10 * migrant[i]))
        c = np.int16(c + np.int16(decile[i]))
        if c < 0 or c >= len(cell_count) or decile[i] >= 10:
            raise ValueError("a resident's cell is out of range")
        cell[i] = c
        collector_cell[i] = np.uint16(c)
        age = age_band[i]
        subject_class[i] = np.uint8(
            np.uint8(age) * np.uint8(4) + np.uint8(2 * (sector[i] >= 0)) + np.uint8(migrant[i])
        )
        k = 0
        if age >= 6:
            k = 3
        elif age >= 2:
            k = 2 if parent[i] else 1
        klass[i] = k
        g = (np.int64(c) * 10 + decile[i]) * n_classes + k
        group[i] = g
        size[g] += 1.0
        cell_count[c] += 1


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
        # the rules and what else a run sets up from the scenario alone: made once per
        # scenario object in the process, and shared (engine/rules.py)
        made = scenario_rules(sc)
        rules = made.rules
        self.kinds = rules.kinds
        self.activities = rules.activities
        r = pop.residents
        nd = len(pop.district_names)
        layout = resident_layout(r, nd * 20)
        sides = []
        for s, name, n, cell, groups, counted in (
            (
                0,
                "resident",
                pop.n_residents,
                layout.cell,
                resident_groups(pop.district_names),
                layout.counted,
            ),
            (
                1,
                "enterprise",
                pop.n_enterprises,
                pop.enterprises.district.astype(np.int16),
                enterprise_groups(pop.district_names),
                None,
            ),
        ):
            lists, score = rules.lists[s], rules.scores[s]
            space, shared_cols = made.spaces[s]
            cols = dict(shared_cols)  # (the run's own dict of the shared columns)
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
                domains=rules.domains[s],
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
                counted=counted,
            )
            if made.learning[s]:
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
        tracked = (layout.groups.group, nd * 20 * 10 * len(CLASSES))  # (chilling by group)
        self.chill = Recovering(n, beh.chilling_half_life_days, tracked=tracked)
        self.income = Recovering(n, beh.income_recovery_half_life_days, beh.min_income_factor)
        self.blocked_count = np.zeros(n, np.int32) if self.agents else np.zeros(0, np.int32)
        self.wrongful_count = np.zeros(n, np.int32) if self.agents else np.zeros(0, np.int32)
        self.days_blacklisted = np.zeros(n, np.int16) if self.agents else np.zeros(0, np.int16)
        self.subject_class = layout.subject_class
        self.log = RecordLog(capacity=max(1024, n // 8))
        self.groups = layout.groups
        # Record kinds drawn from residents' attempts (posts screened, petitions, gatherings,
        # worship), and for each activity the kinds its attempts may be recorded under
        self.flag_kinds = made.flag_kinds
        self.flag_of, self.flag_probability = made.flag_of, made.flag_probability
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
        self.dp_rules = rules.due_process
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
        self.changes = {day + burn_in: values for day, values in made.timeline}
        self._without_timeline = made.without_timeline
        self._changed: dict[str, Any] = {}

    @functools.cached_property
    def pools(self) -> list[np.ndarray | int]:
        """The residents each ELIGIBLE code admits (activities.ELIGIBLE): everyone (their
        number), then the ids (int32, increasing) of adults, of working-age residents
        and of parents; made when first asked for (by the activities)."""
        pop = self.population
        r = pop.residents
        adults = np.flatnonzero(r.age_band >= 2).astype(np.int32)
        working = np.flatnonzero((r.age_band >= 2) & (r.age_band <= 5)).astype(np.int32)
        parents = np.flatnonzero(r.parent).astype(np.int32)
        return [pop.n_residents, adults, working, parents]

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
        self.set_rules(*timeline_rules(self._without_timeline, self._changed))
        return True

    def resume_at(self, day: int) -> None:
        """Bring the rules to those in force after `day` days (internal days) have run:
        every change of the timeline before that day, in order, as the run applied them
        (a run continued from a snapshot of its state after those days; the state
        itself comes from the snapshot, engine/snapshot.py)."""
        for when in sorted(self.changes):
            if when < day:
                self.apply_timeline(when)

    def set_rules(self, sc: Scenario, rules: Rules | None = None) -> None:
        """Compile the rules of `sc` (unless given: `rules`, sc's compiled ones), a
        scenario of the same structure as the run's (the same record kinds, lists,
        activities and population) with other values, and put them in place of the
        run's; the state (scores, lists, records) stays. Every subject is visited by the
        next lists' update (a threshold may have moved)."""
        self.scenario = sc
        rules = compile_rules(sc) if rules is None else rules
        self.kinds = rules.kinds
        self.points = self.kinds.points
        self.activities = rules.activities
        for s, side in enumerate((self.res, self.ent)):
            lists, score = rules.lists[s], rules.scores[s]
            side.lists = lists
            side.domains = rules.domains[s]
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
        self.dp_rules = rules.due_process
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
