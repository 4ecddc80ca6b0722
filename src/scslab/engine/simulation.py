"""The daily loop.

One simulated day, in this order (data flows one way):

1. departments: behaviour events drawn by thinning -> records (coverage, errors, delay);
   yesterday's online posts are screened by the speech department;
2. scoring: drift and association penalties (dense), today's effective records (sparse),
   expiry; then due process: notices, appeals, decisions and repairs (dueprocess.py);
3. lists and measures: listings from today's records, expiry/extension/compliance exits
   and score rules (one compiled pass), then contact counts and legal representatives;
4. activities: attempts resolved against measures and rewards;
5. behaviour: chilling after penalties, income lost to blocked jobs and businesses;
6. collectors: state summed by cell, and the day's group totals.

State is struct-of-arrays; per-agent work happens in numba kernels or vectorised numpy
over the few agents an event touches. Every mechanism has its own random stream.
"""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numba as nb
import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from scslab import __version__, kernelcache
from scslab.engine.arena import zeroed_arrays
from scslab.engine.collectors import (
    HIST_BIN_POINTS,
    DailySeries,
    MetricSpace,
    StateCollector,
    count_into,
    enterprise_groups,
    recount_lists,
    resident_groups,
)
from scslab.engine.compiled import N_PHASES, run_days, tally_days, unsupported
from scslab.model.activities import (
    CLASSES,
    OUTCOMES,
    ActivityRules,
    HighScores,
    Reach,
    ResidentGroups,
    draw_attempts,
    draw_by_cell,
    draw_reached,
    eligibility_class,
    flag_posts,
    reached_ids,
    resolve,
    union_sorted,
)
from scslab.model.behaviour import Recovering, contacts_of_many
from scslab.model.departments import (
    RecordKinds,
    SubjectView,
    draw_behaviour,
    observe,
    thinning_bound,
)
from scslab.model.dueprocess import (
    DUE_PROCESS_METRICS,
    AuditTrail,
    DueProcessRules,
    DueProcessState,
)
from scslab.model.lists import (
    Changes,
    DomainRules,
    ListRules,
    ListState,
    count_listed_contacts,
    daily_update,
    enlist,
    representative_masks,
    update_members,
)
from scslab.model.records import ACTIVE, STATUS_NAMES, RecordLog
from scslab.model.scoring import Scorer, ScoreRules, _finite, grade_index, grades_of
from scslab.scenario.bounds import check_run_size
from scslab.scenario.loader import load_scenario
from scslab.scenario.population import Population, build_population, resident_count
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS
from scslab.scenario.tables import AGE_BANDS
from scslab.streams import day_rng, stream_key

PHASES = (
    "departments",
    "scoring",
    "due_process",
    "lists_and_measures",
    "activities",
    "behaviour",
    "collectors",
)
assert len(PHASES) == N_PHASES
ENGINES = ("auto", "general", "compiled")
"""How days are run: "general" orchestrates each day from Python and runs every
mechanism; "compiled" runs them in one numba call (compiled.py; only scenarios of the
points-and-lists core, with the same results); "auto" picks compiled whenever it can
(it is the faster at every size measured, the whole city included: docs/benchmarks.md)."""
PROGRESS_STEPS = 20  # compiled days: chunks a run (progress; the tally a chunk behind)
TALLY_BEHIND_MIN_RESIDENTS = 5_000
"""Compiled days tally the scores in the worker thread (a chunk of days behind) from this
many residents, on two threads or more; below, at the end of each day. On this 2-core
machine the two ways were even at 5,000 residents, and the worker saved a fifth of a
year's simulation at 10,000 and a quarter at 20,000 (docs/benchmarks.md)."""


def tally_behind(residents: int) -> bool:
    """Whether compiled days of a city of `residents` tally its scores in the worker
    thread, a chunk of days behind (else at the end of each day)."""
    return nb.get_num_threads() > 1 and residents >= TALLY_BEHIND_MIN_RESIDENTS


SNAPSHOT_BYTES = 16 * 2**20
"""Compiled days, the tally a chunk behind: the most bytes of scores kept per chunk (or
one day's, when a day's are more). More and the kept rows fall out of the cache: a
million residents took 0.85 s a year at 16 MiB, 0.9-1.2 s at 64 MiB."""
RECORD_CAPACITY_SLACK = 1.2  # compiled days' first record arrays: expected records x this
AGENT_TABLES_AUTO_LIMIT = 1_000_000  # per-agent tables are written by default up to this size
HIST_LO, HIST_HI = 0.0, 2000.0
T = TypeVar("T")


@dataclass
class Outputs:
    """What a simulation produced: its tables by name, its manifest (a JSON-ready dict)
    and its resolved scenario as YAML; `started`: time.perf_counter() when it began."""

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    scenario_yaml: str
    started: float


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


def _metric_space(
    side: str,
    lists: ListRules,
    score: ScoreRules | None,
    kinds: RecordKinds,
    activities: ActivityRules,
) -> tuple[MetricSpace, dict[str, np.ndarray]]:
    """Metric columns of one side; families only for departments and domains it has."""
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
        "new_listings": space.family("new_listings", lists.names),
        "new_listings_wrongful": space.family("new_listings_wrongful", lists.names),
        "exits": space.family("exits", lists.names),
    }
    for outcome in OUTCOMES:
        cols[outcome] = family(outcome, list(DOMAINS), own_domains)
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
    return space, cols


class Simulation:
    """A scenario run on a synthetic city.

    seed, and scale (share of the whole city) or residents, fix the run; days defaults
    to the scenario's; agents: write per-agent tables (default: up to 1M residents);
    engine: see ENGINES (the tables are the same whichever runs).

    >>> sim = Simulation("beijing-2018", seed=1, residents=20_000, days=30)
    >>> results = sim.run()
    >>> results.to_frame().tail()
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "beijing-2018",
        *,
        seed: int = 1,
        scale: float | None = None,
        residents: int | None = None,
        days: int | None = None,
        agents: bool | None = None,
        engine: str = "auto",
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if engine not in ENGINES:
            raise ValueError(f"engine: must be one of {', '.join(ENGINES)} (got {engine!r})")
        why = unsupported(self.scenario)
        if engine == "compiled" and why:
            more = f"; and {len(why) - 3} more" if len(why) > 3 else ""
            raise ValueError(
                "engine 'compiled' runs only the points-and-lists core; this scenario has "
                f"{'; '.join(why[:3])}{more} (use engine 'auto' or 'general')"
            )
        self.engine = engine
        self.engine_used = "compiled" if engine == "compiled" else "general"
        """The engine run() uses: "compiled" when asked for or, with "auto", when the
        scenario has nothing that compiled.unsupported() names."""
        check_run_size(scale, residents, days, seed)
        self.seed = int(seed)
        self.n_residents = resident_count(self.scenario.population, scale, residents)
        self.scale = self.n_residents / self.scenario.population.residents_at_scale_1
        self.days = days or self.scenario.days
        self.agents = self.n_residents <= AGENT_TABLES_AUTO_LIMIT if agents is None else agents
        if engine == "auto" and not why:
            self.engine_used = "compiled"
        self.population: Population | None = None
        self.phase_seconds = dict.fromkeys(PHASES, 0.0)
        # seconds of work done in the worker thread (zero when it runs inline)
        self.worker_seconds = {"drift": 0.0, "score_tally": 0.0}

    # ------------------------------------------------------------------ set-up
    def _setup(self, pop: Population) -> None:
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
            space, cols = _metric_space(name, lists, score, self.kinds, self.activities)
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
                domains=DomainRules.compile(sc, name, lists, ent_lists, score),  # type: ignore[arg-type]
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
            sides.append(side)
        self.res, self.ent = sides
        assert self.res.acc.shape[0] == nd * 20
        n = pop.n_residents
        beh = sc.behaviour
        # Blacklisted contacts of each resident (at most their number of contacts)
        most = int(np.diff(pop.contacts.indptr).max(initial=0))
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
        self.log = RecordLog(capacity=max(1024, n // 8))
        n_cells = self.res.acc.shape[0]
        self.groups = ResidentGroups.of(
            self.res.cell, n_cells, r.income_decile, eligibility_class(r.age_band, r.parent)
        )
        self.chill.track(self.groups.group, n_cells * 10 * len(CLASSES))
        # Record kinds that screen residents' posts, and the chance that a post is flagged
        self.flag_kinds = np.flatnonzero(self.kinds.from_posts & (self.kinds.subject == 0))
        self.flag_probability = self.kinds.probability_per_post[self.flag_kinds]
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
                    stream_key(self.seed, f"activities.{name}.flagged.{self.kinds.names[k]}")
                    for k in self.flag_kinds
                ],
            )
            for name in self.activities.names
        ]
        self.hist_rows: list[np.ndarray] = []
        self._tally: tuple[int, Future[list[np.ndarray] | None]] | None = None
        self._drifting: list[Future[None]] = []
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
        )
        self.trail = AuditTrail(n, self.agents)
        self.today_ids = np.zeros(0, np.int64)

    # -------------------------------------------------------------- the day
    def _departments(self, day: int) -> None:
        kinds = self.kinds
        pop = self.population
        assert pop is not None
        beh = self.scenario.behaviour
        views = (
            SubjectView(
                n=self.res.n,
                income_decile=pop.residents.income_decile,
                migrant=pop.residents.migrant,
                list_mask=self.res.list_state.mask,
                black_bits=self.res.lists.black_bits,
                income_factor_of=lambda ids: self.income.at(ids, day),
                income_factor_floor=beh.min_income_factor,
            ),
            SubjectView(
                n=self.ent.n,
                income_decile=None,
                migrant=None,
                list_mask=self.ent.list_state.mask,
                black_bits=self.ent.lists.black_bits,
                income_factor_of=None,
                income_factor_floor=1.0,
            ),
        )
        for k in range(len(kinds)):
            key = self.kind_keys[k]
            view = views[kinds.subject[k]]
            if kinds.from_posts[k]:
                if kinds.subject[k] != 0 or day == 0:
                    continue
                actors = self.flagged_yesterday[int(np.searchsorted(self.flag_kinds, k))]
                batch = observe(kinds, k, day - 1, actors, view.n, key)
                batch.effective_day = max(batch.effective_day, day)
            else:
                actors = draw_behaviour(kinds, k, day, view, beh.default_risk_elasticity, key)
                batch = observe(kinds, k, day, actors, view.n, key)
            if len(batch):
                self.log.append(batch)

    def _scoring(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = self.log.take_effective(day)
        self.log.column("status")[ids] = ACTIVE
        self.today_ids = ids
        kind = self.log.column("kind")[ids]
        subject = self.log.column("subject")[ids]
        erroneous = self.log.column("erroneous")[ids]
        for work in self._drifting:  # the day's drift, worked out in the worker thread
            work.result()
        self._drifting = []
        for s, side in enumerate((self.res, self.ent)):
            if side.scorer is not None:
                side.scorer.drift(self.listed_contacts[: side.n if s == 0 else 0])
            sel = self.kinds.subject[kind] == s
            k, subj, err = kind[sel], subject[sel], erroneous[sel]
            if side.scorer is not None:
                side.scorer.apply(
                    day, subj, self.points[k], err, ids[sel], self.dp_rules.expiry_days[k]
                )
                side.scorer.expire(day, self.log)
            dept = self.kinds.department[k]
            cols = np.where(
                err, side.cols["records_erroneous"][dept], side.cols["records_true"][dept]
            )
            count_into(side.acc, side.cell[subj], cols)
        return kind, subject, erroneous

    def _drift_ahead(self, pool: ThreadPoolExecutor) -> None:
        """Work out tomorrow's drift in `pool`'s thread: nothing changes scores or
        listed contacts after today's lists (Scorer.drift_work); tomorrow's scoring
        takes the drifted scores in."""
        for s, side in enumerate((self.res, self.ent)):
            if side.scorer is not None:
                work = side.scorer.drift_work(self.listed_contacts[: side.n if s == 0 else 0])
                self._drifting.append(pool.submit(self._timed("drift", work)))

    def _due_process(self, day: int) -> None:
        """Notices, appeals, decisions and repairs (see dueprocess.py), before the lists."""
        sides = (self.res, self.ent)
        self.trail.count_day(
            self.res.list_state,
            self.res.lists.black_bits,
            self.rep_mask,
            self.rep_wrongful,
            self.ent.lists.black_bits,
        )
        self.dp.plan(day, self.today_ids, self.log, sides)
        self.dp.step(day, self.log, sides)

    def _lists(
        self, day: int, kind: np.ndarray, subject: np.ndarray, erroneous: np.ndarray
    ) -> np.ndarray:
        """Returns residents newly put on a blacklist today."""
        pop = self.population
        assert pop is not None
        newly_black = np.zeros(0, np.int32)
        for s, side in enumerate((self.res, self.ent)):
            if len(side.lists) == 0:
                continue
            sel = self.kinds.subject[kind] == s
            state = side.list_state
            listings = enlist(side.lists, state, day, subject[sel], kind[sel], erroneous[sel])
            new = np.unique(listings.subject).astype(np.int64)
            changes = Changes.concat(
                [
                    listings,
                    daily_update(
                        side.lists,
                        state,
                        day,
                        side.score,
                        side.error_points,
                        self.list_key[s],
                        side.scorer.outside if side.scorer else None,
                        update_members(side.listed, new, np.ones(len(new), np.bool_)),
                    ),
                ]
            )
            if len(changes) == 0:
                continue
            self.trail.listing_changes(s, day, changes)
            cells = side.cell[changes.subject]
            bits = changes.bit.astype(np.int64)
            entered = changes.entered
            count_into(side.acc, cells[entered], side.cols["new_listings"][bits[entered]])
            w = entered & changes.wrongful
            count_into(side.acc, cells[w], side.cols["new_listings_wrongful"][bits[w]])
            count_into(side.acc, cells[~entered], side.cols["exits"][bits[~entered]])
            touched, inverse = np.unique(changes.subject, return_inverse=True)
            toggles = np.zeros(len(touched), np.uint8)
            np.bitwise_xor.at(toggles, inverse, (1 << bits).astype(np.uint8))
            black = side.lists.black_bits
            now = state.mask[touched]
            is_black = (now & black) != 0
            was_black = ((now ^ toggles) & black) != 0
            side.listed = update_members(side.listed, touched, now != 0)
            if s == 0:
                count_listed_contacts(
                    touched,
                    was_black,
                    is_black,
                    pop.contacts_of.indptr,
                    pop.contacts_of.indices,
                    self.listed_contacts,
                )
                newly_black = touched[is_black & ~was_black]
            else:
                representative_masks(
                    touched,
                    pop.enterprises.legal_rep,
                    pop.represented.indptr,
                    pop.represented.indices,
                    state.mask,
                    state.wrongful,
                    self.rep_mask,
                    self.rep_wrongful,
                )
                reps = np.unique(pop.enterprises.legal_rep[touched]).astype(np.int64)
                self.rep_ids = update_members(self.rep_ids, reps, self.rep_mask[reps] != 0)
        return newly_black

    def _activities(self, day: int) -> list[tuple[np.ndarray, float]]:
        """Returns (blocked residents, income share lost) pairs; keeps today's flagged posts."""
        acts = self.activities
        shocks: list[tuple[np.ndarray, float]] = []
        flagged: list[list[np.ndarray]] = [[] for _ in self.flag_kinds]
        posts = self.res.cols["posts"][0]
        chill = (self.chill.value, self.chill.since, self.chill.rate)
        mask, score = self.res.list_state.mask, self.res.score
        if self.high_scores is not None and self.res.scorer is not None:
            high = self.high_scores.update(score, self.res.scorer.take_risen())
            ids = union_sorted(union_sorted(self.res.listed, self.rep_ids), high)
        else:  # no score reward, or one at or below the base: scan the scores
            ids = reached_ids(mask, self.rep_mask, score, self.green_score)
        res_dom = self.res.domains
        reaches = [
            None
            if acts.enterprise[a]
            else Reach(
                mask,
                int(res_dom.block_own[d] | res_dom.delay_own[d] | res_dom.reward_bits[d]),
                self.rep_mask,
                int(res_dom.block_rep[d] | res_dom.delay_rep[d]),
                score,
                float(res_dom.reward_score[d]),
            )
            for a, d in enumerate(acts.domain)
        ]
        reached = draw_reached(
            acts, reaches, self.groups, ids, chill, [k for k, _ in self.cell_keys], day
        )
        for a in range(len(acts)):
            firm = bool(acts.enterprise[a])
            side = self.ent if firm else self.res
            d = int(acts.domain[a])
            dom = side.domains
            cols = side.cols["outcomes"][d]
            posting = acts.posting[a] and not firm
            rng = day_rng(self.seed, f"activities.{acts.names[a]}", day)
            if not firm:
                reach = reaches[a]
                assert reach is not None
                drawn = draw_by_cell(
                    acts,
                    a,
                    self.groups,
                    self.pools[acts.eligible[a]],
                    reached,
                    reach,
                    chill if posting else None,
                    self.chill.deficits(day).reshape(self.groups.size.shape) if posting else None,
                    self.flag_probability if posting else np.zeros(0),
                    self.cell_keys[a][1],
                    rng,
                    day,
                )
                side.acc[:, cols[0]] += drawn.others
                side.acc[:, cols[5]] += drawn.others * acts.base_wait[a]
                if posting:
                    side.acc[:, posts] += drawn.others
                for f, ids in enumerate(drawn.flagged):
                    flagged[f].append(ids)
                attempts = drawn.reached
            else:
                attempts = draw_attempts(acts, a, side.n, None, None, self.activity_keys[a], day)
            if len(attempts) == 0:
                continue
            out_blocked = np.empty(len(attempts), np.int64)
            out_done = np.empty(len(attempts), np.int64)
            empty8 = np.zeros(0, np.uint8)
            nb_, nd_ = resolve(
                attempts,
                side.cell,
                side.list_state.mask,
                side.list_state.wrongful,
                empty8 if firm else self.rep_mask,
                empty8 if firm else self.rep_wrongful,
                int(dom.block_own[d]),
                int(dom.block_rep[d]),
                int(dom.delay_own[d]),
                int(dom.delay_rep[d]),
                float(dom.delay_days[d]),
                int(dom.reward_bits[d]),
                float(dom.reward_score[d]),
                float(dom.wait_factor[d]),
                side.score,
                float(acts.base_wait[a]),
                side.acc,
                cols,
                np.zeros(0, np.int32) if firm else self.blocked_count,
                np.zeros(0, np.int32) if firm else self.wrongful_count,
                out_blocked,
                out_done,
            )
            if not firm and acts.income_loss[a] > 0 and nb_:
                shocks.append((out_blocked[:nb_], float(acts.income_loss[a])))
            if posting and nd_:
                done = out_done[:nd_]
                count_into(self.res.acc, self.res.cell[done], posts)
                for f, ids in enumerate(flag_posts(done, self.flag_probability, rng)):
                    flagged[f].append(ids)
        self.flagged_yesterday = [
            np.concatenate(parts) if parts else np.zeros(0, np.int64) for parts in flagged
        ]
        return shocks

    def _behaviour(
        self,
        day: int,
        kind: np.ndarray,
        subject: np.ndarray,
        newly_black: np.ndarray,
        shocks: list[tuple[np.ndarray, float]],
    ) -> None:
        pop = self.population
        assert pop is not None
        beh = self.scenario.behaviour
        penalised_by_record = subject[(self.kinds.subject[kind] == 0) & (self.points[kind] < 0)]
        penalised = np.concatenate([penalised_by_record, newly_black]).astype(np.int64)
        self.chill.shock(penalised, day, beh.chilling_self)
        if beh.chilling_contacts > 0 and len(penalised):
            watchers = contacts_of_many(
                pop.contacts_of.indptr, pop.contacts_of.indices, penalised
            ).astype(np.int64)
            self.chill.shock(watchers, day, beh.chilling_contacts)
        for ids, share in shocks:
            self.income.shock(ids, day, share)
            self.trail.shocks(day, ids)
            count_into(self.res.acc, self.res.cell[ids], self.res.cols["income_shocks"][0])

    def _collect(self, day: int, pool: ThreadPoolExecutor | None) -> None:
        """The day's list state is counted now; its scores are tallied in `pool`'s thread
        (here, without one) while the next day runs (the scorer leaves them untouched
        until the day after, see Scorer.drift), and the day's row is added when the tally
        is in."""
        self._finish_collect()
        for side in (self.res, self.ent):
            side.collector.collect_lists(
                side.list_state.mask,
                side.list_state.wrongful,
                side.lists.black_bits,
                len(side.lists),
                self.days_blacklisted if side is self.res else np.zeros(0, np.int16),
                side.state_sums,
                side.listed,
            )
            side.acc[:, side.cols["state"]] += side.state_sums
            side.acc, side.pending = side.pending, side.acc
            side.acc[:] = 0.0
        scores = [side.score for side in (self.res, self.ent)]
        if pool is None or not self.scenario.outputs.scores:
            done: Future[list[np.ndarray] | None] = Future()
            done.set_result(self._tally_scores(scores))
            self._tally = (day, done)
        else:
            self._tally = (day, pool.submit(self._timed("score_tally", self._tally_scores, scores)))

    def _timed(self, name: str, work: Callable[..., T], *args: Any) -> Callable[[], T]:
        """`work(*args)`, adding the seconds it takes to worker_seconds[name]."""

        def timed() -> T:
            start = time.perf_counter()
            try:
                return work(*args)
            finally:
                self.worker_seconds[name] += time.perf_counter() - start

        return timed

    def _tally_scores(self, scores: list[np.ndarray]) -> list[np.ndarray] | None:
        """Score columns of the state of each side (see StateCollector.collect_scores);
        None when the scenario does not collect them (outputs.scores)."""
        if not self.scenario.outputs.scores:
            return None
        return [
            side.collector.collect_scores(
                score,
                side.scorer.rules.grade_floors if side.scorer else np.zeros(0),
                HIST_LO,
                len(side.lists),
                side.state_sums.shape[1],
                side.hist,
                side.common_grade,
            )
            for side, score in zip((self.res, self.ent), scores, strict=True)
        ]

    def _finish_collect(self) -> None:
        """Waits for the last day's score tally and adds that day's rows."""
        if self._tally is None:
            return
        day, future = self._tally
        self._tally = None
        tallied = future.result()
        for k, side in enumerate((self.res, self.ent)):
            if tallied is not None:
                side.pending[:, side.cols["state"]] += tallied[k]
            side.series.add_day(side.pending)
            if side.scorer is not None and tallied is not None:
                self.hist_rows.append(np.concatenate([[day, side is self.ent], side.hist]))

    # ----------------------------------------------------------------- run
    def build(self) -> Population:
        """Draw the synthetic city (done by run() if not done before)."""
        if self.population is None:
            self.population = build_population(
                self.scenario.population, self.n_residents, self.seed
            )
        return self.population

    def simulate(
        self,
        progress: Callable[[int, int], None] | None = None,
        phase: Callable[[str], None] | None = None,
    ) -> Outputs:
        """Build the city (if not built) and simulate every day; returns the run's
        tables, manifest and scenario (scslab.rundir.run.Simulation.run() makes them
        Results and writes the run directory).

        progress(k, days) is called as days are done; phase(name) as the run enters each
        of its stages, "build" (the synthetic city) and "days" (the day loop, whose first
        day compiles the kernels on a first run), so that a display can say what it is
        waiting for before the first day is done.
        """
        t0 = time.perf_counter()
        if phase is not None:
            phase("build")
        pop = self.build()
        t_built = time.perf_counter()
        self._setup(pop)
        t_setup = time.perf_counter()
        if phase is not None:
            phase("days")
        kernelcache.prune()
        if self.engine_used == "compiled":
            self._run_compiled(progress)
        elif nb.get_num_threads() > 1:
            with ThreadPoolExecutor(1, thread_name_prefix="scslab-worker") as pool:
                self._run_days(pool, progress)
        else:  # one thread allowed: drift and tally inline
            self._run_days(None, progress)
        t_sim = time.perf_counter()
        return Outputs(
            self._tables(),
            self._manifest(t_built - t0, t_setup - t_built, t_sim - t_built),
            self.scenario.to_yaml(),
            started=t0,
        )

    def _run_days(
        self, pool: ThreadPoolExecutor | None, progress: Callable[[int, int], None] | None
    ) -> None:
        """The day loop, each phase timed (phase_seconds); progress(k, days) is called
        once the rows of the first k days are in."""
        phase = self.phase_seconds
        clock = time.perf_counter
        for day in range(self.days):
            t = clock()
            self._departments(day)
            t, phase["departments"] = clock(), phase["departments"] + clock() - t
            kind, subject, erroneous = self._scoring(day)
            t, phase["scoring"] = clock(), phase["scoring"] + clock() - t
            self._due_process(day)
            t, phase["due_process"] = clock(), phase["due_process"] + clock() - t
            newly_black = self._lists(day, kind, subject, erroneous)
            if pool is not None and day + 1 < self.days:
                self._drift_ahead(pool)
            t, phase["lists_and_measures"] = clock(), phase["lists_and_measures"] + clock() - t
            shocks = self._activities(day)
            t, phase["activities"] = clock(), phase["activities"] + clock() - t
            self._behaviour(day, kind, subject, newly_black, shocks)
            t, phase["behaviour"] = clock(), phase["behaviour"] + clock() - t
            self._collect(day, pool)
            phase["collectors"] += clock() - t
            if progress is not None and day > 0:
                progress(day, self.days)  # days whose rows are in (today's tally runs on)
        t = clock()
        self._finish_collect()
        phase["collectors"] += clock() - t
        if progress is not None:
            progress(self.days, self.days)

    def _run_compiled(self, progress: Callable[[int, int], None] | None) -> None:
        """Every day in compiled.run_days (in chunks, for progress or for the tally a chunk
        behind), on the state _setup() made; leaves the state as _run_days() would, bit
        for bit, but for the scorer's scratch (`_spare`, and `outside`, marked by
        unlisted subjects and by listed ones whose score rules' verdicts changed: still
        every run the lists' update must visit)."""
        pop = self.population
        assert pop is not None and self.res.scorer is not None
        res, kinds, scorer = self.res, self.kinds, self.res.scorer
        rules, lists, state = scorer.rules, res.lists, res.list_state
        r = pop.residents
        view = SubjectView(
            n=res.n,
            income_decile=r.income_decile,
            migrant=r.migrant,
            list_mask=state.mask,
            black_bits=lists.black_bits,
            income_factor_of=None,
            income_factor_floor=self.scenario.behaviour.min_income_factor,
        )
        elasticity = self.scenario.behaviour.default_risk_elasticity
        max_mult = np.array(
            [thinning_bound(kinds, k, view, elasticity)[0] for k in range(len(kinds))]
        )
        dept = kinds.department.astype(np.int64)
        days, n_bins = self.days, len(res.hist)
        expected = res.n * kinds.daily_rate.sum() * max_mult.max() * days
        cap = max(1024, int(expected * RECORD_CAPACITY_SLACK))
        records = tuple(
            np.empty(cap, t) for t in (np.int16, np.uint8, np.int32, np.int32, np.bool_)
        )
        changes = tuple(
            np.empty(1024, t) for t in (np.int16, np.int32, np.uint8, np.bool_, np.bool_)
        )
        n_records = n_changes = n_error_ids = 0
        error_ids = np.zeros(1024, np.int64)
        cycles = np.zeros(N_PHASES, np.int64)
        own = (scorer.state.score, scorer._spare)
        score, spare = own
        listed = res.listed
        floors = rules.grade_floors
        # the state columns come first, in the order the collectors write them
        assert res.cols["state"].tolist() == list(range(len(res.cols["state"])))
        groups = res.series.groups
        # the score tally's running counts (kept in the collector, as the general loop's)
        counts = res.collector.running_counts(floors, HIST_LO)
        # the scores are tallied at the end of each day in run_days, or (tally_behind) in
        # the worker thread a chunk of days behind, while the next chunk runs (two
        # chunks' scores kept); not at all without outputs.scores
        collect = self.scenario.outputs.scores
        behind = tally_behind(res.n) and collect
        step = max(1, -(-days // (PROGRESS_STEPS if progress is not None or behind else 1)))
        if behind:
            step = max(1, min(step, SNAPSHOT_BYTES // max(1, 4 * res.n)))
        rows = step if behind else 2  # (drift reads yesterday's row)
        # the year's rows and histograms, and the score snapshots (apart: freed after the
        # run): fresh memory, written once, in huge pages where the platform has them
        values, hist = zeroed_arrays(
            [
                ((days, len(res.series.groups.group), len(res.space)), np.float64),
                ((days, n_bins), np.float64),
            ]
        )
        snapshots = zeroed_arrays([((rows, res.n), np.float32)] * (2 if behind else 1))
        # the score sum's column, then the grades' in order (as tally_days counts them)
        score_columns = np.concatenate([res.cols["score"], res.cols["grade"]])
        tally_args = (
            res.collector.cell,
            floors[:-1].astype(np.float64),
            counts.grade_of_bin,
            res.common_grade,
            res.collector.cell_count,
            HIST_LO,
            score_columns,
            np.zeros((len(res.acc), 3 + -(-len(score_columns) // 4) * 4)),
            counts.counted,
            counts.bin_counts,
            counts.grade_counts,
            groups.indptr,
            groups.indices,
            values,
            hist,
        )
        pool = ThreadPoolExecutor(1, "scslab-tally") if behind else None
        tallied: tuple[int, Future[None]] | None = None  # (last day, its tally)

        def tally_in(wait_for: tuple[int, Future[None]] | None) -> None:
            """Wait for a chunk's tally, then report its days as done."""
            if wait_for is not None:
                wait_for[1].result()
                if progress is not None:
                    progress(wait_for[0], days)

        # arguments of run_days that are the same for every chunk
        kind_keys = np.array(self.kind_keys, np.uint64)
        kind_means = res.n * kinds.daily_rate * max_mult
        col_true, col_erroneous = (
            res.cols["records_true"][dept],
            res.cols["records_erroneous"][dept],
        )
        score_rules = (
            rules.base,
            rules.decay,
            rules.association_penalty,
            _finite(rules.min_score),
            _finite(rules.max_score),
            rules.min_score,
            rules.max_score,
        )
        group_count = groups.sum_cells(res.collector.cell_count[:, None].astype(np.float64))[:, 0]
        # without per-agent days on the blacklist, the list columns may be kept up to date
        # from the agents that may change (recount_lists; run_days says when), from the
        # lists as they start
        counted: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.uint8), np.zeros(0, np.uint8))
        list_counts = np.zeros(values.shape[1:])
        if len(self.days_blacklisted) != res.n:
            counted = (np.zeros(res.n, np.uint8), np.zeros(res.n, np.uint8))
            recount_lists(
                listed,
                state.mask,
                state.wrongful,
                *counted,
                res.collector.cell,
                groups.groups_indptr,
                groups.groups_of_cell,
                lists.black_bits,
                len(lists.rule),
                list_counts,
            )
        in_days = 0.0  # seconds in run_days (the cycle counts' span)
        try:
            for chunk, first in enumerate(range(0, days, step)):
                last = min(days, first + step)
                snapshot = snapshots[chunk % 2][: last - first] if behind else snapshots[0]
                start = time.perf_counter()
                (
                    score,
                    spare,
                    listed,
                    error_ids,
                    n_error_ids,
                    records,
                    n_records,
                    changes,
                    n_changes,
                ) = run_days(
                    first,
                    last,
                    kind_keys,
                    kind_means,
                    max_mult,
                    kinds.listed_multiplier,
                    kinds.decile_multiplier,
                    kinds.migrant_multiplier,
                    kinds.coverage,
                    kinds.error_rate,
                    kinds.points,
                    col_true,
                    col_erroneous,
                    r.income_decile,
                    r.migrant.view(np.uint8),
                    (score, spare),
                    scorer.state.error_points,
                    scorer._with_errors,
                    error_ids,
                    score_rules,
                    scorer.outside,
                    state.mask,
                    state.wrongful,
                    state.extended,
                    state.until,
                    state.true_until,
                    lists.rule,
                    lists.threshold,
                    lists.extension,
                    lists.extension_probability,
                    lists.daily_compliance,
                    self.list_key[0],
                    lists.black_bits,
                    lists.stay_bands,
                    listed,
                    pop.contacts_of.indptr,
                    pop.contacts_of.indices,
                    self.listed_contacts,
                    res.cols["new_listings"],
                    res.cols["new_listings_wrongful"],
                    res.cols["exits"],
                    res.collector.cell,
                    groups.groups_indptr,
                    groups.groups_of_cell,
                    group_count,
                    values,
                    snapshot,
                    collect and not behind,
                    tally_args,
                    not behind or last == days,  # (behind, the next chunk drifts from the row)
                    self.days_blacklisted,
                    self.trail.days_wrongful,
                    counted,
                    list_counts,
                    records,
                    n_records,
                    changes,
                    n_changes,
                    n_error_ids,
                    cycles,
                )
                in_days += time.perf_counter() - start
                if pool is None:  # tallied day by day in run_days
                    if progress is not None:
                        progress(last, days)
                    continue
                tally_in(tallied)  # the chunk before, which used the other snapshots
                work = functools.partial(tally_days, first, snapshot, *tally_args)
                tallied = (last, pool.submit(self._timed("score_tally", work)))
            tally_in(tallied)
        finally:
            if pool is not None:
                pool.shutdown()
        # the state as the general loop leaves it (the last chunk kept its scores in one
        # of the scorer's own arrays)
        assert score is own[0] or score is own[1]
        scorer.state.score, scorer._spare = score, own[1] if score is own[0] else own[0]
        scorer._error_ids = error_ids[:n_error_ids].copy()
        res.listed = listed
        rec_day, rec_kind, rec_subject, rec_actor, rec_erroneous = (a[:n_records] for a in records)
        self.log.extend(rec_day, rec_kind, rec_subject, rec_actor, rec_erroneous, ACTIVE)
        ch_day, *rest = (a[:n_changes] for a in changes)
        self.trail.listing_changes(0, ch_day, Changes(*rest))
        res.series.values = list(values)
        empty = np.zeros((len(self.ent.series.groups.group), len(self.ent.space)))
        self.ent.series.values = [empty] * days
        if collect:
            self.hist_rows = list(np.column_stack([np.arange(days), np.zeros(days), hist]))
        per_cycle = in_days / max(1, int(cycles.sum()))
        for p, name in enumerate(PHASES):
            self.phase_seconds[name] = float(cycles[p]) * per_cycle

    # -------------------------------------------------------------- output
    def _tables(self) -> dict[str, pd.DataFrame]:
        parts = [self.res.series.long_frame(), self.ent.series.long_frame()]
        metrics = pd.DataFrame(
            {
                col: union_categoricals([p[col] for p in parts], sort_categories=True)
                if col in ("group_by", "group", "metric")
                else np.concatenate([p[col].to_numpy() for p in parts])
                for col in parts[0].columns
            }
        )
        n_bins = int((HIST_HI - HIST_LO) // 10.0)
        if self.hist_rows:
            h = np.stack(self.hist_rows)
            hist = pd.DataFrame(
                {
                    "day": np.repeat(h[:, 0].astype(np.int16), n_bins),
                    "subject": np.repeat(np.where(h[:, 1] > 0, "enterprise", "resident"), n_bins),
                    "bin_lo": np.tile(HIST_LO + 10.0 * np.arange(n_bins), len(h)),
                    "count": h[:, 2:].reshape(-1).astype(np.int64),
                }
            )
            hist = hist[hist["count"] > 0].reset_index(drop=True)
        else:
            hist = pd.DataFrame(columns=["day", "subject", "bin_lo", "count"])
        tables = {"metrics": metrics, "score_histogram": hist}
        if self.agents:
            tables.update(self._agent_tables())
            tables["listings"] = self.trail.listings_frame(
                self.res.lists.names, self.ent.lists.names
            )
        return tables

    def _agent_tables(self) -> dict[str, pd.DataFrame]:
        pop = self.population
        assert pop is not None
        r, e = pop.residents, pop.enterprises
        log = self.log.as_columns()
        n, ne = pop.n_residents, pop.n_enterprises
        res_subject = self.kinds.subject[log["kind"]] == 0
        res = pd.DataFrame(
            {
                "id": np.arange(n, dtype=np.int32),
                "district": pd.Categorical.from_codes(r.district, pop.district_names),
                "hukou": np.where(r.migrant, "migrant", "local"),
                "age_band": pd.Categorical.from_codes(r.age_band, list(AGE_BANDS)),
                "sex": np.where(r.male, "male", "female"),
                "income_decile": (r.income_decile + 1).astype(np.int8),
                "education": pd.Categorical.from_codes(r.education, pop.education_names),
                "sector": pd.Categorical.from_codes(r.sector, pop.sector_names),
                "employer": r.employer,
                "household": r.household,
                "parent": r.parent,
            }
        )
        ent = pd.DataFrame(
            {
                "id": np.arange(ne, dtype=np.int32),
                "kind": np.where(e.kind == 0, "enterprise", "individual_business"),
                "district": pd.Categorical.from_codes(e.district, pop.district_names),
                "sector": pd.Categorical.from_codes(e.sector, pop.sector_names),
                "employees": e.employees,
                "legal_rep": e.legal_rep,
            }
        )
        for frame, side, subj_is in ((res, self.res, True), (ent, self.ent, False)):
            if side.scorer is not None:
                frame["score"] = side.score
                floors = side.scorer.rules.grade_floors
                frame["grade"] = pd.Categorical.from_codes(
                    grades_of(side.score, floors), side.scorer.rules.grade_names
                )
            for b, lname in enumerate(side.lists.names):
                frame[f"on_{lname}"] = (side.list_state.mask >> b) & 1 == 1
                frame[f"wrongful_{lname}"] = (side.list_state.wrongful >> b) & 1 == 1
            sel = res_subject if subj_is else ~res_subject
            frame["records"] = np.bincount(log["subject"][sel], minlength=side.n).astype(np.int32)
            frame["erroneous_records"] = np.bincount(
                log["subject"][sel & log["erroneous"]], minlength=side.n
            ).astype(np.int32)
        last = self.days - 1
        res["days_blacklisted"] = self.days_blacklisted
        res["blocked_attempts"] = self.blocked_count
        res["wrongful_blocked_attempts"] = self.wrongful_count
        res["listed_contacts"] = self.listed_contacts.astype(np.int32)  # schema as before
        res["days_wrongfully_blacklisted"] = self.trail.days_wrongful
        res["first_income_shock_day"] = self.trail.first_shock_day
        res["income_shocks"] = self.trail.income_shocks
        res["income_factor"] = self.income.all_at(last)
        res["posting_propensity"] = self.chill.all_at(last)
        records = pd.DataFrame(log)
        records.insert(0, "id", np.arange(len(records), dtype=np.int64))
        records["subject_type"] = np.where(res_subject, "resident", "enterprise")
        records["department"] = pd.Categorical.from_codes(
            self.kinds.department[log["kind"]], self.kinds.department_names
        )
        records["kind"] = pd.Categorical.from_codes(log["kind"], self.kinds.names)
        records["points"] = self.points[log["kind"]]
        records["status"] = pd.Categorical.from_codes(log["status"], list(STATUS_NAMES))
        return {"residents": res, "enterprises": ent, "records": records}

    def _manifest(self, build_s: float, setup_s: float, simulate_s: float) -> dict:
        """The run's manifest; timings in seconds: build_s the population's build,
        simulate_s the rest of the run before the tables, setup_s of it _setup() (the
        scenario's rules compiled and the engine's state allocated; buffers that the day
        loops allocate for themselves are not in it)."""
        pop = self.population
        assert pop is not None
        return {
            "scslab_version": __version__,
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.digest(),
            "seed": self.seed,
            "scale": self.scale,
            "residents": pop.n_residents,
            "enterprises": pop.n_enterprises,
            "days": self.days,
            "agent_tables": self.agents,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": nb.__version__,
            "threads": nb.get_num_threads(),
            "engine": self.engine_used,
            "timings": {
                "build_population_s": round(build_s, 4),
                "simulate_s": round(simulate_s, 4),
                "setup_s": round(setup_s, 4),
                "phases_s": {k: round(v, 6) for k, v in self.phase_seconds.items()},
                "worker_s": {k: round(v, 4) for k, v in self.worker_seconds.items()},
            },
        }
