"""Due process: notice, objection and appeal, review, credit repair and expiry of records.

Each adverse record (negative points, or a kind that puts its subject on a blacklist) gets,
on the day it takes effect, a due-process path drawn from its kind's rule
(`Scenario.due_process_for`), all at once and vectorised:

- notice: with probability `notice.share` the subject is told, `notice.delay_days` later;
  a subject who is not told cannot appeal;
- appeal: a notified resident appeals with probability base x education multiplier x
  income-decile multiplier (x erroneous_multiplier when the record is in fact wrong), on a
  day drawn uniformly within `appeal.window_days` of the notice; an enterprise appeals
  with the attributes of its legal representative;
- review: the appeal is decided `review.days_to_decide` days later; an erroneous record is
  corrected with probability `find_error`, a true one overturned with `overturn_true`;
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

Also here: the audit trail the harm metrics need (a log of listing changes, days each
resident spent wrongfully sanctioned, the first day each lost income to a sanction).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Protocol

import numba as nb
import numpy as np
import pandas as pd

from scslab.model.departments import RecordKinds
from scslab.model.lists import Changes, ListRules, ListState
from scslab.model.records import ACTIVE, CORRECTED, REPAIRED, RecordLog
from scslab.model.scoring import Scorer
from scslab.scenario.rates import decile_multipliers
from scslab.scenario.schema import Scenario
from scslab.streams import hash_uniform, stream_key

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

NEVER = -1


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
    human: np.ndarray  # bool
    decide_days: np.ndarray  # int64
    find_error: np.ndarray  # float64
    overturn_true: np.ndarray  # float64
    repair_on: np.ndarray  # bool
    repair_wait: np.ndarray  # int64, days
    repair_daily: np.ndarray  # float64, hazard per day after the wait (inf: certain)
    repair_decile_multiplier: np.ndarray  # float64 [kinds, 10]
    expiry_days: np.ndarray  # int64, 0 = never

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
            if rule.appeal is not None and rule.notice is not None:
                a = rule.appeal
                z["appeal_on"][k] = True
                z["window"][k] = a.window_days
                z["base_probability"][k] = a.base_probability
                z["erroneous_multiplier"][k] = a.erroneous_multiplier
                edu[k] = a.education_multiplier
                dec[k] = decile_multipliers(a.poorest_to_richest)
            rv = rule.review
            z["human"][k] = rv.human
            z["decide_days"][k] = rv.days_to_decide
            z["find_error"][k] = rv.find_error
            z["overturn_true"][k] = rv.overturn_true
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


@nb.njit(cache=True)
def _key_a(subject: np.int64, kind_word: np.int64) -> np.int64:
    return (subject << 32) | kind_word


@nb.njit(cache=True)
def plan(
    kind: np.ndarray,
    subject: np.ndarray,
    effective_day: np.ndarray,
    erroneous: np.ndarray,
    education: np.ndarray,
    decile: np.ndarray,
    kind_word: np.ndarray,
    adverse: np.ndarray,
    notice_share: np.ndarray,
    notice_delay: np.ndarray,
    appeal_on: np.ndarray,
    window: np.ndarray,
    base_probability: np.ndarray,
    education_multiplier: np.ndarray,
    decile_multiplier: np.ndarray,
    erroneous_multiplier: np.ndarray,
    repair_on: np.ndarray,
    repair_wait: np.ndarray,
    repair_daily: np.ndarray,
    repair_decile_multiplier: np.ndarray,
    key: np.uint64,
    out_notice: np.ndarray,
    out_appeal: np.ndarray,
    out_repair: np.ndarray,
) -> None:
    """Draw each new record's notice day, appeal day and repair day (days; -1 = never).

    `education` and `decile` are those of the subject (of an enterprise's legal
    representative), one per record.
    """
    for r in range(len(kind)):
        k = kind[r]
        out_notice[r] = -1
        out_appeal[r] = -1
        out_repair[r] = -1
        if not adverse[k]:
            continue
        a = _key_a(np.int64(subject[r]), kind_word[k])
        b0 = np.int64(effective_day[r]) * 8
        eff = np.int64(effective_day[r])
        if notice_share[k] > 0.0 and hash_uniform(key, a, b0) < notice_share[k]:
            nd = eff + notice_delay[k]
            out_notice[r] = nd
            if appeal_on[k]:
                p = (
                    base_probability[k]
                    * education_multiplier[k, education[r]]
                    * decile_multiplier[k, decile[r]]
                )
                if erroneous[r]:
                    p *= erroneous_multiplier[k]
                if hash_uniform(key, a, b0 + 1) < p:
                    out_appeal[r] = nd + np.int64(hash_uniform(key, a, b0 + 2) * (window[k] + 1))
        if repair_on[k]:
            start = eff + repair_wait[k]
            rate = repair_daily[k]
            if np.isinf(rate):
                out_repair[r] = start
            elif rate > 0.0:
                rate *= repair_decile_multiplier[k, decile[r]]
                u = hash_uniform(key, a, b0 + 3)
                wait = -np.log1p(-u) / rate
                if start + wait < 30000.0:
                    out_repair[r] = start + np.int64(wait)


@nb.njit(cache=True)
def decide(
    kind: np.ndarray,
    subject: np.ndarray,
    effective_day: np.ndarray,
    erroneous: np.ndarray,
    kind_word: np.ndarray,
    find_error: np.ndarray,
    overturn_true: np.ndarray,
    key: np.uint64,
) -> np.ndarray:
    """Outcome of each appeal (True: the record is withdrawn)."""
    won = np.zeros(len(kind), np.bool_)
    for r in range(len(kind)):
        k = kind[r]
        a = _key_a(np.int64(subject[r]), kind_word[k])
        p = find_error[k] if erroneous[r] else overturn_true[k]
        won[r] = hash_uniform(key, a, np.int64(effective_day[r]) * 8 + 4) < p
    return won


@nb.njit(cache=True)
def release(
    subjects: np.ndarray,
    ended_bits: np.ndarray,
    trig_ids: np.ndarray,
    rec_subject: np.ndarray,
    rec_kind: np.ndarray,
    rec_status: np.ndarray,
    rec_effective: np.ndarray,
    rec_erroneous: np.ndarray,
    kind_bits: np.ndarray,
    duration: np.ndarray,
    mask: np.ndarray,
    wrongful: np.ndarray,
    extended: np.ndarray,
    until: np.ndarray,
    true_until: np.ndarray,
    day: int,
) -> int:
    """Release subjects from record-triggered lists whose triggering record ended today.

    `subjects`: sorted unique subjects with an ended record; `ended_bits`: per subject, the
    lists those records fed. A subject stays on list b while another ACTIVE record of a
    kind triggering b would still hold them (effective day + duration > today); otherwise
    the listing is set to end today (and not to be extended), so that the lists' daily
    update takes them off. Returns how many listings were ended.

    `true_until` ([lists, n], days; shape [1, 0] when the list state has none): the day
    the cover of true records ends; for listings that stay, it becomes the end of the
    remaining true records' cover (today when none is left).
    """
    m = len(subjects)
    keep = np.full((8, m), -1, np.int64)
    keep_true = np.full((8, m), -1, np.int64)
    rightful = np.zeros((8, m), np.bool_)
    has_true_until = true_until.shape[1] == len(mask)
    for t in trig_ids:
        if rec_status[t] != 1:  # ACTIVE
            continue
        s = rec_subject[t]
        p = np.searchsorted(subjects, s)
        if p >= m or subjects[p] != s:
            continue
        kb = kind_bits[rec_kind[t]] & ended_bits[p]
        for b in range(8):
            if (kb >> b) & 1:
                end = np.int64(rec_effective[t]) + duration[b]
                if end > day:
                    keep[b, p] = max(keep[b, p], end)
                    if not rec_erroneous[t]:
                        rightful[b, p] = True
                        keep_true[b, p] = max(keep_true[b, p], end)
    n_ended = 0
    for p in range(m):
        i = subjects[p]
        for b in range(8):
            flag = np.uint8(1 << b)
            if not (ended_bits[p] & flag) or not (mask[i] & flag):
                continue
            if keep[b, p] < 0:
                until[b, i] = day
                extended[i] |= flag
                n_ended += 1
            else:
                if not (extended[i] & flag):
                    until[b, i] = min(np.int64(until[b, i]), keep[b, p])
                if rightful[b, p]:
                    wrongful[i] &= ~flag
                else:
                    wrongful[i] |= flag
                if has_true_until:
                    true_until[b, i] = max(keep_true[b, p], np.int64(day))
    return n_ended


@nb.njit(cache=True)
def count_wrongful_days(
    mask: np.ndarray,
    wrongful: np.ndarray,
    black_bits: int,
    rep_mask: np.ndarray,
    rep_wrongful: np.ndarray,
    rep_black_bits: int,
    days_wrongful: np.ndarray,
) -> None:
    """Add a day to every resident whose blacklistings (own, or of a firm they represent)
    all rest on erroneous records (days). Eight residents are tested at a time (few are
    on a list)."""
    n = len(mask)
    n_words = n // 8
    mask64 = mask[: 8 * n_words].view(np.uint64)
    rep64 = rep_mask[: 8 * n_words].view(np.uint64)
    for w in range(n_words + 1):
        if w < n_words and (mask64[w] | rep64[w]) == 0:
            continue
        for i in range(8 * w, min(8 * w + 8, n)):
            own = mask[i] & black_bits
            rep = rep_mask[i] & rep_black_bits
            if (own or rep) and (own & ~wrongful[i]) == 0 and (rep & ~rep_wrongful[i]) == 0:
                days_wrongful[i] += 1


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
        plan(
            kind.astype(np.int64),
            subj,
            log.column("effective_day")[ids],
            log.column("erroneous")[ids],
            education,
            decile,
            r.kind_word,
            r.adverse,
            r.notice_share,
            r.notice_delay,
            r.appeal_on,
            r.window,
            r.base_probability,
            r.education_multiplier,
            r.decile_multiplier,
            r.erroneous_multiplier,
            r.repair_on,
            r.repair_wait,
            r.repair_daily,
            r.repair_decile_multiplier,
            self.key,
            notice,
            appeal,
            repair,
        )
        told = notice >= 0
        log.column("notice_day")[ids[told]] = np.minimum(notice[told], 32767)
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

        filed = got[FILE][status[got[FILE]] == ACTIVE]
        if len(filed):
            log.column("appeal_day")[filed] = day
            count(filed, "appeals_filed")
            self._schedule(DECIDE, day + self.rules.decide_days[kind_col[filed]], filed)
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

    def end(self, day: int, ids: np.ndarray, log: RecordLog, sides: tuple[SideLike, ...]) -> None:
        """Records withdrawn or repaired today: give back their points, release listings."""
        if len(ids) == 0:
            return
        log.column("end_day")[ids] = day
        kind = log.column("kind")[ids]
        subj = log.column("subject")[ids]
        eff = log.column("effective_day")[ids]
        err = log.column("erroneous")[ids]
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
            st = side.list_state
            release(
                subjects.astype(np.int64),
                ended_bits,
                self.triggers[s].view(),
                log.column("subject"),
                log.column("kind"),
                log.column("status"),
                log.column("effective_day"),
                log.column("erroneous"),
                side.lists.kind_bits,
                side.lists.duration,
                st.mask,
                st.wrongful,
                st.extended,
                st.until,
                getattr(st, "true_until", np.zeros((1, 0), np.int16)),
                day,
            )


class AuditTrail:
    """What the harm metrics and `explain` need beyond daily group totals.

    - every listing change (day, subject kind, subject, list, entered, wrongful);
    - per resident, days spent wrongfully blacklisted (every applicable blacklisting rests
      on erroneous records; counted at the start of each day) and the first day they lost
      income to a sanction (-1 = never). Per-resident arrays are kept only when
      `per_agent` (the run writes per-agent tables).
    """

    def __init__(self, n_residents: int, per_agent: bool) -> None:
        self.per_agent = per_agent
        n = n_residents if per_agent else 0
        self.days_wrongful = np.zeros(n, np.int16)
        self.first_shock_day = np.full(n, -1, np.int16)
        self.income_shocks = np.zeros(n, np.int16)
        self._changes: list[tuple[int, int | np.ndarray, Changes]] = []

    def listing_changes(self, side: int, day: int | np.ndarray, changes: Changes) -> None:
        """Keep listing changes of one subject kind (0 residents, 1 enterprises): of one
        day, or of many with `day` one per change."""
        if len(changes):
            self._changes.append((side, day, changes))

    def shocks(self, day: int, ids: np.ndarray) -> None:
        """Residents who lost income to a blocked attempt today."""
        if self.per_agent and len(ids):
            first = self.first_shock_day
            new = ids[first[ids] < 0]
            first[new] = day
            np.add.at(self.income_shocks, ids, 1)

    def count_day(
        self,
        res_state: ListState,
        res_black: int,
        rep_mask: np.ndarray,
        rep_wrongful: np.ndarray,
        ent_black: int,
    ) -> None:
        """Add today to the wrongful days of the residents wrongfully blacklisted now."""
        if self.per_agent:
            count_wrongful_days(
                res_state.mask,
                res_state.wrongful,
                res_black,
                rep_mask,
                rep_wrongful,
                ent_black,
                self.days_wrongful,
            )

    def entries(self, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(day, subject, bit) of every entry onto a list of one subject kind (0
        residents, 1 enterprises), in the order they were kept (int64 each)."""
        days, subjects, bits = (
            [np.zeros(0, np.int64)],
            [np.zeros(0, np.int64)],
            [np.zeros(0, np.int64)],
        )
        for s, day, ch in self._changes:
            if s != side:
                continue
            day = np.broadcast_to(np.asarray(day, np.int64), (len(ch),))
            days.append(day[ch.entered])
            subjects.append(ch.subject[ch.entered].astype(np.int64))
            bits.append(ch.bit[ch.entered].astype(np.int64))
        return np.concatenate(days), np.concatenate(subjects), np.concatenate(bits)

    def listings_frame(self, res_lists: list[str], ent_lists: list[str]) -> pd.DataFrame:
        """The listing log: day, subject_type, subject, list, entered, wrongful."""
        names = [res_lists, ent_lists]
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("day", "st", "subject", "list")}
        cols.update(entered=[], wrongful=[])
        for side, day, ch in self._changes:
            n = len(ch)
            cols["day"].append(np.broadcast_to(np.asarray(day, np.int16), (n,)))
            cols["st"].append(np.full(n, side, np.int8))
            cols["subject"].append(ch.subject.astype(np.int32))
            cols["list"].append(np.array(names[side], dtype=object)[ch.bit.astype(np.int64)])
            cols["entered"].append(ch.entered.astype(bool))
            cols["wrongful"].append(ch.wrongful.astype(bool))
        if not self._changes:
            return pd.DataFrame(
                {
                    "day": np.zeros(0, np.int16),
                    "subject_type": np.zeros(0, object),
                    "subject": np.zeros(0, np.int32),
                    "list": np.zeros(0, object),
                    "entered": np.zeros(0, bool),
                    "wrongful": np.zeros(0, bool),
                }
            )
        st = np.concatenate(cols["st"])
        return pd.DataFrame(
            {
                "day": np.concatenate(cols["day"]),
                "subject_type": np.where(st == 0, "resident", "enterprise"),
                "subject": np.concatenate(cols["subject"]),
                "list": np.concatenate(cols["list"]),
                "entered": np.concatenate(cols["entered"]),
                "wrongful": np.concatenate(cols["wrongful"]),
            }
        )
