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
a simulation (DueProcessState: its queue of events, the records that hold listings); the
numba kernels they call (the draws of each record's path, the appeals' outcomes, the
release of listings) are in dueprocess_kernels.py.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from scslab.model.departments import RecordKinds
from scslab.model.dueprocess_kernels import (
    Appeals,
    Ended,
    NewRecords,
    PathDays,
    PathRules,
    RecordColumns,
    Triggers,
    count_unaware_days,
    decide,
    forget_unlisted,
    plan,
    plan_learned,
    release,
)
from scslab.model.lists import ListRules, ListState
from scslab.model.records import ACTIVE, CORRECTED, REPAIRED, RecordLog
from scslab.model.scoring import Scorer
from scslab.scenario.rates import decile_multipliers
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import ReviewKinds
from scslab.streams import stream_key

NEVER = np.iinfo(np.int64).max
"""A day that never comes (a resident who does not know of their listing)."""

FILE, DECIDE, REPAIR = 0, 1, 2
"""Due-process events: an appeal is filed, an appeal is decided, a repair completes."""

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


class SideLike(Protocol):
    """What due process needs of one kind of subject (the engine's Side)."""

    name: str
    n: int
    cell: np.ndarray
    lists: ListRules
    list_state: ListState
    scorer: Scorer | None
    acc: np.ndarray
    cols: dict[str, np.ndarray]


@dataclass
class Growable:
    """An int64 array that grows by appending (amortised O(1))."""

    data: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    n: int = 0

    def extend(self, values: np.ndarray) -> None:
        """Append values."""
        k = len(values)
        if self.n + k > len(self.data):
            grown = np.zeros(max(2 * len(self.data), self.n + k), np.int64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : self.n + k] = values
        self.n += k

    def view(self) -> np.ndarray:
        """The values appended so far."""
        return self.data[: self.n]


class DueProcessState:
    """Runs due process during a simulation: plans new records, handles the day's events."""

    def __init__(
        self,
        rules: DueProcessRules,
        kinds: RecordKinds,
        seed: int,
        education: tuple[np.ndarray, np.ndarray],
        decile: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.rules = rules
        self.kinds = kinds
        self.key = stream_key(seed, "dueprocess")
        self.education = education  # per side: education level of the subject (or rep)
        self.decile = decile  # per side: income decile of the subject (or rep)
        self.queue: dict[int, list[tuple[int, np.ndarray]]] = {}
        self.triggers = (Growable(), Growable())  # per side: records of list-triggering kinds
        n = len(education[0])
        self.aware_from = np.full(n, NEVER, np.int64)  # per resident: knows of a listing from
        self.days_unaware = np.zeros(n, np.int32)  # per resident: days listed not knowing
        self.aware_ids = np.zeros(0, np.int64)  # the residents whose aware_from is set
        self.aware_new: list[np.ndarray] = []  # ... set since count_unaware last ran
        self.learned = np.zeros(0, np.bool_)  # per record: its subject learned of it blocked

    def _schedule(self, event: int, days: np.ndarray, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        order = np.argsort(days, kind="stable")
        days, ids = days[order], ids[order]
        cuts = np.flatnonzero(np.diff(days)) + 1
        for d, part in zip(days[np.r_[0, cuts]], np.split(ids, cuts), strict=True):
            self.queue.setdefault(int(d), []).append((event, part))

    def plan(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Draw the due-process path of the records taking effect today."""
        if len(ids) == 0:
            return
        kind = log.column("kind")[ids]
        subj = log.column("subject")[ids]
        self.keep_triggers(ids, kind, sides)
        if not self.rules.on:
            return
        r = self.rules
        res = self.kinds.subject[kind] == 0
        education = np.where(
            res,
            self.education[0][np.where(res, subj, 0)],
            self.education[1][np.where(res, 0, subj)],
        ).astype(np.int64)
        decile = np.where(
            res,
            self.decile[0][np.where(res, subj, 0)],
            self.decile[1][np.where(res, 0, subj)],
        ).astype(np.int64)
        n = len(ids)
        notice, appeal, repair = (np.empty(n, np.int64) for _ in range(3))
        records = NewRecords(
            kind.astype(np.int64),
            subj,
            log.column("effective_day")[ids],
            log.column("erroneous")[ids],
            education,
            decile,
        )
        plan(records, r.paths, r.appeals, self.key, PathDays(notice, appeal, repair))
        told = notice >= 0
        log.column("notice_day")[ids[told]] = np.minimum(notice[told], 32767)
        res_lists = sides[0].lists.kind_bits
        if len(res_lists):
            know = told & res & (res_lists[kind] != 0)
            np.minimum.at(self.aware_from, subj[know], notice[know])
            self.aware_new.append(subj[know].astype(np.int64))
        for s, side in enumerate(sides):
            sel = told & (self.kinds.subject[kind] == s)
            np.add.at(side.acc, (side.cell[subj[sel]], side.cols["notices"][0]), 1.0)
        self._schedule(FILE, appeal[appeal >= 0], ids[appeal >= 0])
        self._schedule(REPAIR, repair[repair >= 0], ids[repair >= 0])

    def keep_triggers(self, ids: np.ndarray, kind: np.ndarray, sides: tuple[SideLike, ...]) -> None:
        """Keep the records `ids` (of kinds `kind`, taking effect today) that put their
        subject on a list: end() looks among them for those that keep a listing."""
        for s, side in enumerate(sides):
            if len(side.lists.kind_bits):
                sel = (self.kinds.subject[kind] == s) & (side.lists.kind_bits[kind] != 0)
                self.triggers[s].extend(ids[sel])

    def step(self, day: int, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Handle today's appeals, decisions and repairs (after plan() for today)."""
        events = self.queue.pop(day, [])
        if not events:
            return
        status = log.column("status")
        kind_col = log.column("kind")
        subj_col = log.column("subject")
        eff_col = log.column("effective_day")
        err_col = log.column("erroneous")
        parts: dict[int, list[np.ndarray]] = {FILE: [], DECIDE: [], REPAIR: []}
        for event, ids in events:
            parts[event].append(ids)
        got = {e: np.concatenate(p) if p else np.zeros(0, np.int64) for e, p in parts.items()}
        ended: list[np.ndarray] = []

        def count(ids: np.ndarray, metric: str) -> None:
            kinds = kind_col[ids]
            for s, side in enumerate(sides):
                sel = ids[self.kinds.subject[kinds] == s]
                np.add.at(side.acc, (side.cell[subj_col[sel]], side.cols[metric][0]), 1.0)

        self._file(day, got[FILE], log, sides)
        decided = got[DECIDE][status[got[DECIDE]] == ACTIVE]
        if len(decided):
            log.column("decision_day")[decided] = day
            won = decided[
                decide(
                    kind_col[decided].astype(np.int64),
                    subj_col[decided],
                    eff_col[decided],
                    err_col[decided],
                    self.rules.kind_word,
                    self.rules.find_error,
                    self.rules.overturn_true,
                    self.key,
                )
            ]
            status[won] = CORRECTED
            count(won, "appeals_won")
            count(won[err_col[won]], "records_corrected")
            count(won[~err_col[won]], "records_overturned")
            ended.append(won)
        repaired = got[REPAIR][status[got[REPAIR]] == ACTIVE]
        if len(repaired):
            status[repaired] = REPAIRED
            count(repaired, "records_repaired")
            ended.append(repaired)
        if ended:
            self.end(day, np.concatenate(ended), log, sides)

    def _file(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Appeals filed today (of records `ids`, those still ACTIVE): decided later."""
        filed = ids[log.column("status")[ids] == ACTIVE]
        if len(filed) == 0:
            return
        kind = log.column("kind")[filed]
        log.column("appeal_day")[filed] = day
        subj = log.column("subject")[filed]
        for s, side in enumerate(sides):
            sel = self.kinds.subject[kind] == s
            np.add.at(side.acc, (side.cell[subj[sel]], side.cols["appeals_filed"][0]), 1.0)
        self._schedule(DECIDE, day + self.rules.decide_days[kind], filed)

    def count_unaware(self, day: int, mask: np.ndarray) -> None:
        """Count a day listed without knowing for each resident on a list (`mask`, the
        residents' list bits at the start of `day`) who has had neither a notice of a record
        that put them on a list nor a block by a measure since; forget what those no
        longer listed knew (a later listing is news again)."""
        if not self.rules.on or len(mask) != len(self.aware_from):
            return
        whole = len(mask) // 8 * 8  # the list bits eight residents at a time
        count_unaware_days(
            mask[:whole].view(np.uint64), mask, self.aware_from, self.days_unaware, day
        )
        if self.aware_new:
            self.aware_ids = np.union1d(self.aware_ids, np.concatenate(self.aware_new))
            self.aware_new = []
        self.aware_ids = forget_unlisted(self.aware_ids, mask, self.aware_from, NEVER)

    def blocked(self, day: int, residents: np.ndarray, log: RecordLog, side: SideLike) -> None:
        """Residents blocked by a measure today (after today's step()): they know of their
        listing from today; the records that hold them on a list and of which they had no
        notice may now be appealed (kinds whose appeal is `from_first_block`), on a day
        drawn in the window that opens today."""
        if not self.rules.on or len(residents) == 0 or len(self.aware_from) == 0:
            return
        who = np.unique(residents)
        self.aware_from[who] = np.minimum(self.aware_from[who], day)
        self.aware_new.append(who.astype(np.int64))
        r = self.rules
        trig = self.triggers[0].view()
        if not r.learn_blocked.any() or len(trig) == 0 or not len(side.lists.kind_bits):
            return
        n_log = len(log.column("status"))
        if len(self.learned) < n_log:
            self.learned = np.concatenate(
                [self.learned, np.zeros(max(n_log - len(self.learned), 1024), np.bool_)]
            )
        kind_col, subj_col = log.column("kind"), log.column("subject")
        kind, subj = kind_col[trig], subj_col[trig]
        ids = trig[
            r.learn_blocked[kind]
            & np.isin(subj, who)
            & (log.column("status")[trig] == ACTIVE)
            & (log.column("notice_day")[trig] < 0)
            & (log.column("appeal_day")[trig] < 0)
            & ~self.learned[trig]
            & ((side.lists.kind_bits[kind] & side.list_state.mask[subj]) != 0)
        ]
        if len(ids) == 0:
            return
        self.learned[ids] = True
        kind, subj = kind_col[ids].astype(np.int64), subj_col[ids]
        appeal = np.empty(len(ids), np.int64)
        records = NewRecords(
            kind,
            subj,
            log.column("effective_day")[ids],
            log.column("erroneous")[ids],
            self.education[0][subj].astype(np.int64),
            self.decile[0][subj].astype(np.int64),
        )
        plan_learned(records, day, r.appeals, self.key, appeal)
        self._file(day, ids[appeal == day], log, (side,))
        later = appeal > day
        self._schedule(FILE, appeal[later], ids[later])

    def end(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Records withdrawn or repaired today: give back their points, release listings."""
        if len(ids) == 0:
            return
        log.column("end_day")[ids] = day
        kind = log.column("kind")[ids]
        subj = log.column("subject")[ids]
        eff = log.column("effective_day")[ids]
        err = log.column("erroneous")[ids]
        appealed = log.column("status")[ids] != REPAIRED  # (else withdrawn: CORRECTED)
        for s, side in enumerate(sides):
            sel = self.kinds.subject[kind] == s
            if not sel.any():
                continue
            if side.scorer is not None:
                side.scorer.withdraw(
                    subj[sel], self.kinds.points[kind[sel]], err[sel], day - eff[sel]
                )
            if not len(side.lists.kind_bits):
                continue
            bits = side.lists.kind_bits[kind[sel]]
            hit = bits != 0
            if not hit.any():
                continue
            subjects, inverse = np.unique(subj[sel][hit], return_inverse=True)
            ended_bits = np.zeros(len(subjects), np.uint8)
            np.bitwise_or.at(ended_bits, inverse, bits[hit])
            appealed_bits = np.zeros(len(subjects), np.uint8)
            by_appeal = appealed[sel][hit]
            np.bitwise_or.at(appealed_bits, inverse[by_appeal], bits[hit][by_appeal])
            release(
                Ended(subjects.astype(np.int64), ended_bits, ended_bits & ~appealed_bits),
                self.triggers[s].view(),
                RecordColumns(
                    log.column("subject"),
                    log.column("kind"),
                    log.column("status"),
                    log.column("effective_day"),
                    log.column("erroneous"),
                ),
                Triggers(side.lists.kind_bits, side.lists.duration),
                side.list_state.arrays(),
                day,
            )
