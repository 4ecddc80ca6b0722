"""Due process: notice, objection and appeal, review, credit repair and expiry of records.

Each adverse record (negative points, or a kind that puts its subject on a blacklist) gets,
on the day it takes effect, a due-process path drawn from its kind's rule
(`Scenario.due_process_for`), all at once and vectorised:

- notice: with probability `notice.share` the subject is told, `notice.delay_days` later;
  a subject who is not told cannot appeal, unless the rule's appeal is `from_first_block`:
  then a resident who was not told learns of a record that holds them on a list the first
  day a measure blocks them, and the appeal window opens that day (blocked());
- days listed before knowing: each resident's days on a list with neither a notice of a
  record that listed them nor a block since (count_unaware(); residents table
  `days_listed_unaware`);
- appeal: a notified resident appeals with probability base x education multiplier x
  income-decile multiplier (x erroneous_multiplier when the record is in fact wrong), on a
  day drawn uniformly within `appeal.window_days` of the notice; an enterprise appeals
  with the attributes of its legal representative;
- review: the appeal is decided `review.days_to_decide` days later; an erroneous record is
  corrected with probability `find_error`, a true one overturned with `overturn_true`,
  both those of the review's kind (human or automated: `due_process.review_kinds`) unless
  the rule gives its own;
- repair: after the repair window the subject ends the record early at `rate_per_year`
  (by paying, complying or a course; `wait` ends it at the window);
- expiry: the record's points leave the score after `expiry_days` (by default the scoring
  section's `record_expiry_days`).

A withdrawn (CORRECTED) or REPAIRED record gives back what is left of its points, will
not expire again, and releases its subject from every record-triggered list it fed unless
another still-valid ACTIVE record of a triggering kind keeps them there (then the listing
ends when that record's listing would, and is wrongful only if every such record is
erroneous). Score-triggered lists follow the score. Released listings leave through the
lists' daily update, so exits, contact counts and legal representatives stay consistent.

Every draw is a counter-based hash of (seed, subject, kind, effective day): two scenarios
that differ only in due process see the same records appealed by the same people.

Here: the rules compiled to arrays (DueProcessRules) and the state that runs them during
a simulation on the general loop (DueProcessState: its queue of events, the records that
hold listings, what residents know). The kernels of each day's part (dueprocess_days.py,
which compiled days call too) and those they call (the draws of each record's path, the
appeals' outcomes, the release of listings: dueprocess_kernels.py) do the work.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.departments import RecordKinds
from scslab.model.dueprocess_days import (
    NEVER,
    DueDays,
    DueQueue,
    DueRows,
    DueRules,
    DueSide,
    DueState,
    blocked_day,
    count_unaware,
    end_side,
    keep_triggers,
    plan_day,
    step_day,
)
from scslab.model.dueprocess_kernels import Appeals, PathRules
from scslab.model.lists import ListRules, ListState
from scslab.model.records import RecordLog
from scslab.model.scoring import Scorer
from scslab.scenario.rates import decile_multipliers
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import ReviewKinds
from scslab.streams import stream_key

DUE_PROCESS_METRICS = (
    "notices",
    "appeals_filed",
    "appeals_won",
    "records_corrected",
    "records_overturned",
    "records_repaired",
)
"""Metric columns the engine adds (events per day, by group): notices sent, appeals filed,
appeals won (record withdrawn), erroneous records corrected, true records overturned,
records ended by credit repair."""


@dataclass(frozen=True)
class DueProcessRules:
    """The due process of every record kind, compiled to arrays (index = kind id)."""

    on: bool  # the scenario has a due_process section
    kind_word: np.ndarray  # int64, a hash of each kind's name (keys the random draws)
    adverse: np.ndarray  # bool: negative points or triggers a blacklist
    notice_share: np.ndarray  # float64, 0 = no notice
    notice_delay: np.ndarray  # int64, days
    appeal_on: np.ndarray  # bool
    window: np.ndarray  # int64, days after the notice
    base_probability: np.ndarray  # float64
    education_multiplier: np.ndarray  # float64 [kinds, 3]
    decile_multiplier: np.ndarray  # float64 [kinds, 10]
    erroneous_multiplier: np.ndarray  # float64
    learn_blocked: np.ndarray  # bool: the unnotified may appeal from their first block
    human: np.ndarray  # bool
    decide_days: np.ndarray  # int64
    find_error: np.ndarray  # float64
    overturn_true: np.ndarray  # float64
    repair_on: np.ndarray  # bool
    repair_wait: np.ndarray  # int64, days
    repair_daily: np.ndarray  # float64, hazard per day after the wait (inf: certain)
    repair_decile_multiplier: np.ndarray  # float64 [kinds, 10]
    expiry_days: np.ndarray  # int64, 0 = never

    @functools.cached_property
    def appeals(self) -> Appeals:
        """Who appeals, as the kernels take it (the same arrays)."""
        r = self
        return Appeals(
            r.kind_word,
            r.window,
            r.base_probability,
            r.education_multiplier,
            r.decile_multiplier,
            r.erroneous_multiplier,
        )

    @functools.cached_property
    def paths(self) -> PathRules:
        """Notices and repairs, as plan() takes them (the same arrays)."""
        r = self
        return PathRules(
            r.adverse,
            r.notice_share,
            r.notice_delay,
            r.appeal_on,
            r.repair_on,
            r.repair_wait,
            r.repair_daily,
            r.repair_decile_multiplier,
        )

    @classmethod
    def compile(
        cls,
        scenario: Scenario,
        kinds: RecordKinds,
        res_lists: ListRules,
        ent_lists: ListRules,
    ) -> DueProcessRules:
        """Per-kind arrays; without a due_process section only expiry (from scoring) is set."""
        nk = len(kinds)
        black = np.zeros(nk, bool)
        for k in range(nk):
            rules = res_lists if kinds.subject[k] == 0 else ent_lists
            if len(rules.kind_bits):
                bits = int(rules.kind_bits[k])
                black[k] = any((bits >> b) & 1 and rules.black[b] for b in range(len(rules)))
        adverse = (kinds.points < 0) | black
        z = {
            name: np.zeros(nk, dtype)
            for name, dtype in (
                ("notice_share", np.float64),
                ("notice_delay", np.int64),
                ("appeal_on", bool),
                ("window", np.int64),
                ("base_probability", np.float64),
                ("erroneous_multiplier", np.float64),
                ("learn_blocked", bool),
                ("human", bool),
                ("decide_days", np.int64),
                ("find_error", np.float64),
                ("overturn_true", np.float64),
                ("repair_on", bool),
                ("repair_wait", np.int64),
                ("repair_daily", np.float64),
                ("expiry_days", np.int64),
            )
        }
        edu = np.ones((nk, 3))
        dec = np.ones((nk, 10))
        rdec = np.ones((nk, 10))
        review_kinds = scenario.due_process.review_kinds if scenario.due_process else ReviewKinds()
        for k, name in enumerate(kinds.names):
            scoring = scenario.scoring if kinds.subject[k] == 0 else scenario.corporate_scoring
            rule = scenario.due_process_for(name)
            if rule is None:
                z["expiry_days"][k] = (scoring.record_expiry_days or 0) if scoring else 0
                continue
            z["expiry_days"][k] = rule.expiry(scoring) or 0
            if rule.notice is not None:
                z["notice_share"][k] = rule.notice.share
                z["notice_delay"][k] = rule.notice.delay_days
            a = rule.appeal
            if a is not None and (rule.notice is not None or a.from_first_block):
                z["appeal_on"][k] = True
                z["learn_blocked"][k] = a.from_first_block
                z["window"][k] = a.window_days
                z["base_probability"][k] = a.base_probability
                z["erroneous_multiplier"][k] = a.erroneous_multiplier
                edu[k] = a.education_multiplier
                dec[k] = decile_multipliers(a.poorest_to_richest)
            rv = rule.review
            z["human"][k] = rv.human
            z["decide_days"][k] = rv.days_to_decide
            z["find_error"][k], z["overturn_true"][k] = review_kinds.odds(rv)
            if rule.repair is not None:
                rp = rule.repair
                z["repair_on"][k] = True
                z["repair_wait"][k] = rp.window_days
                z["repair_daily"][k] = np.inf if rp.method == "wait" else rp.rate_per_year / 365.0
                rdec[k] = decile_multipliers(rp.poorest_to_richest)
        return cls(
            on=scenario.due_process is not None,
            kind_word=np.array([zlib.crc32(n.encode()) for n in kinds.names], np.int64),
            adverse=adverse,
            education_multiplier=edu,
            decile_multiplier=dec,
            repair_decile_multiplier=rdec,
            **z,
        )


@kernel
def keep_triggers_from_python(
    state: DueState,
    ids: np.ndarray,
    kind: np.ndarray,
    subject: np.ndarray,
    rules: DueRules,
    res: DueSide,
    ent: DueSide,
) -> DueState:
    """keep_triggers, for Python (DueProcessState.keep_triggers, which a replay calls:
    analysis/replay.py): kernels call keep_triggers, an inner kernel, so that a run
    whose kernels alone call it has numba build no CPython wrapper for it (the unboxing
    of the due-process state and both sides, and the boxing of the state it returns)."""
    return keep_triggers(state, ids, kind, subject, rules, res, ent)


class SideLike(Protocol):
    """What due process needs of one kind of subject (the engine's Side)."""

    name: str
    n: int
    cell: np.ndarray
    cell_rows: tuple[np.ndarray, np.ndarray]
    lists: ListRules
    list_state: ListState
    scorer: Scorer | None
    acc: np.ndarray
    cols: dict[str, np.ndarray]


class DueProcessState:
    """Runs due process during a simulation: plans new records, handles the day's events
    (the kernels of dueprocess_days.py, on the arrays kept here: DueState's)."""

    def __init__(
        self,
        rules: DueProcessRules,
        kinds: RecordKinds,
        seed: int,
        education: tuple[np.ndarray, np.ndarray],
        decile: tuple[np.ndarray, np.ndarray],
        per_agent: bool = True,
    ) -> None:
        self.rules = rules
        self.kinds = kinds
        self.key = stream_key(seed, "dueprocess")
        self.education = education  # per side: education level of the subject (or rep)
        self.decile = decile  # per side: income decile of the subject (or rep)
        # the days listed unaware are a per-agent table's column alone: without one,
        # nothing is kept per resident (count_unaware does nothing)
        n = len(education[0]) if per_agent else 0
        none = np.zeros(0, np.int64)
        # the queue of events (DueQueue): a chain of entries per day
        self.queue_head, self.queue_tail = none, none
        self.queue_next, self.queue_event, self.queue_record = none, none, none
        self.used = np.zeros(4, np.int64)  # DueState.used
        self.aware_from = np.full(n, NEVER, np.int64)  # per resident: knows of a listing from
        self.days_unaware = np.zeros(n, np.int32)  # per resident: days listed not knowing
        self.aware_ids = none  # the residents whose aware_from is set
        self.aware_new = none  # ... set since count_unaware last ran (used[0] of them)
        self.learned = np.zeros(0, np.bool_)  # per record: its subject learned of it blocked
        self.triggers = none  # residents' records of list-triggering kinds (used[1])
        self.ent_triggers = none  # enterprises' (used[2])
        self.trigger_subjects = none  # the subject of each of triggers
        self.ent_trigger_subjects = none  # of each of ent_triggers

    def state(self) -> DueState:
        """The arrays kept here, as the kernels take them."""
        return DueState(
            DueQueue(
                self.queue_head,
                self.queue_tail,
                self.queue_next,
                self.queue_event,
                self.queue_record,
            ),
            self.used,
            self.aware_from,
            self.days_unaware,
            self.aware_ids,
            self.aware_new,
            self.learned,
            self.triggers,
            self.ent_triggers,
            self.trigger_subjects,
            self.ent_trigger_subjects,
        )

    def adopt(self, state: DueState) -> None:
        """Keep the arrays of a kernel's state (grown or not)."""
        q = state.queue
        self.queue_head, self.queue_tail = q.head, q.tail
        self.queue_next, self.queue_event, self.queue_record = q.next, q.event, q.record
        self.aware_ids, self.aware_new, self.learned = (
            state.aware_ids,
            state.aware_new,
            state.learned,
        )
        self.triggers, self.ent_triggers = state.triggers, state.ent_triggers
        self.trigger_subjects = state.trigger_subjects
        self.ent_trigger_subjects = state.ent_trigger_subjects

    def kernel_rules(self) -> DueRules:
        """The rules as the kernels take them."""
        r = self.rules
        return DueRules(
            r.on,
            bool(r.learn_blocked.any()),
            r.paths,
            r.appeals,
            r.learn_blocked,
            r.decide_days,
            r.find_error,
            r.overturn_true,
            self.kinds.subject,
            self.kinds.points.astype(np.float64),
            np.uint64(self.key),
        )

    def side(self, s: int, side: SideLike, cell_rows: tuple[np.ndarray, np.ndarray]) -> DueSide:
        """What the kernels read and change of side `s` (0 residents, 1 enterprises),
        counting through `cell_rows` (indptr, rows of each cell)."""
        metrics = [side.cols[m][0] if m in side.cols else -1 for m in DUE_PROCESS_METRICS]
        bits = side.lists.kind_bits
        return DueSide(
            self.education[s],
            self.decile[s],
            bits if len(bits) else np.zeros(0, np.uint8),
            side.lists.duration.astype(np.int64),
            side.list_state.arrays(),
            float(side.scorer.rules.decay) if side.scorer is not None else 1.0,
            side.cell,
            cell_rows[0],
            cell_rows[1],
            np.array(metrics, np.int64),
        )

    def _sides(self, sides: tuple[SideLike, ...]) -> tuple[DueSide, DueSide]:
        res, ent = sides[0], sides[-1]
        return self.side(0, res, res.cell_rows), self.side(1, ent, ent.cell_rows)

    def _due(self, sides: tuple[SideLike, ...]) -> DueDays:
        """The rules and both sides as the kernels take them."""
        return DueDays(self.kernel_rules(), *self._sides(sides))

    def plan(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Draw the due-process path of the records taking effect today (plan_day)."""
        if len(ids) == 0:
            return
        rows = DueRows(sides[0].acc, sides[-1].acc)
        self.adopt(plan_day(self.state(), self._due(sides), day, ids, log.kernel_columns(), rows))

    def keep_triggers(
        self, ids: np.ndarray, kind: np.ndarray, subject: np.ndarray, sides: tuple[SideLike, ...]
    ) -> None:
        """Keep the records `ids` (of kinds `kind`, about `subject`, taking effect today)
        that put their subject on a list: end() looks among them for those that keep a
        listing."""
        res, ent = self._sides(sides)
        state = self.state()
        self.adopt(
            keep_triggers_from_python(state, ids, kind, subject, self.kernel_rules(), res, ent)
        )

    def step(self, day: int, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Handle today's appeals, decisions and repairs (after plan() for today)."""
        rows = DueRows(sides[0].acc, sides[-1].acc)
        state, ended = step_day(self.state(), self._due(sides), day, log.kernel_columns(), rows)
        self.adopt(state)
        self.end(day, ended, log, sides)

    def count_unaware(self, day: int, mask: np.ndarray) -> None:
        """Count a day listed without knowing for each resident on a list (`mask`, the
        residents' list bits at the start of `day`) who has had neither a notice of a record
        that put them on a list nor a block by a measure since (count_unaware)."""
        self.adopt(count_unaware(self.state(), self.kernel_rules(), day, mask))

    def blocked(
        self, day: int, residents: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]
    ) -> None:
        """Residents blocked by a measure today (after today's step()): blocked_day."""
        if not self.rules.on or len(residents) == 0:
            return
        state = blocked_day(
            self.state(),
            self._due(sides),
            day,
            residents.astype(np.int64),
            log.kernel_columns(),
            log.n,
            sides[0].acc,
        )
        self.adopt(state)

    def end(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Records withdrawn or repaired today: give back their points, release listings
        (end_side, for each side)."""
        if len(ids) == 0:
            return
        state, rules, columns = self.state(), self.kernel_rules(), log.kernel_columns()
        for s, (side, due) in enumerate(zip(sides, self._sides(sides), strict=True)):
            subjects, left, erroneous = end_side(state, rules, day, ids, columns, s, due)
            if side.scorer is not None and len(subjects):
                side.scorer.withdraw(subjects, left, erroneous)
