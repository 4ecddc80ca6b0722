"""The points layer: a base score, points per record, drift toward the base, expiry, grades.

The score of a subject on day t is

    score_t = base + (1 - drift) * (score_{t-1} - base) - association * listed_contacts + points_t

clamped to [min_score, max_score], where points_t are the points of the records taking
effect that day. A record's points leave the score when it expires, by the amount that
is left of them after the drift (closed form, no per-record state). `error_points` is
the part of the score owed to erroneous records, kept alongside to tell whether an error
was decisive for a sanction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.points import (
    Ending,
    Expiry,
    ExpiryQueue,
    Scores,
    Taking,
    add_points,
    empty_queue,
    expire_due,
    left_after,
    risen_by_expiry,
    schedule_expiry,
)
from scslab.model.records import RecordLog
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import Scoring
from scslab.streams import day_rng


@dataclass(frozen=True)
class ScoreRules:
    """A Scoring section compiled to numbers."""

    base: float
    min_score: float
    max_score: float
    decay: float  # 1 - drift_per_day
    expiry_days: int  # 0 = records never expire
    association_penalty: float  # points per blacklisted contact per day
    grade_names: list[str]
    grade_floors: np.ndarray  # float64, min_score of each grade, highest grade first

    @classmethod
    def compile(cls, scoring: Scoring) -> ScoreRules:
        """Numbers for the engine from a validated Scoring section."""
        return cls(
            base=scoring.base,
            min_score=scoring.min_score,
            max_score=scoring.max_score,
            decay=1.0 - scoring.drift_per_day,
            expiry_days=scoring.record_expiry_days or 0,
            association_penalty=scoring.association_penalty,
            grade_names=[g.name for g in scoring.grades],
            grade_floors=np.array([g.min_score for g in scoring.grades], np.float64),
        )

    def floor_of(self, grade: str) -> float:
        """Lowest score (points) that still earns `grade`."""
        return float(self.grade_floors[self.grade_names.index(grade)])

    def ceiling_of(self, grade: str) -> float:
        """Score (points) from which the next higher grade starts (inf for the top grade)."""
        i = self.grade_names.index(grade)
        return float(self.grade_floors[i - 1]) if i > 0 else float("inf")


@dataclass
class ScoreState:
    """Scores of all subjects of one kind (points), and the part owed to erroneous records."""

    score: np.ndarray  # float32
    error_points: np.ndarray  # float32

    @classmethod
    def start(cls, n: int, base: float) -> ScoreState:
        """Every subject at the base score, no erroneous points."""
        return cls(np.full(n, base, np.float32), np.zeros(n, np.float32))


FLAG_BLOCK = 4096
"""mark_outside(): subjects whose band flags are worked out together (a multiple of 64): their
bytes of flags stay in the L1 cache from one pass to the next."""
assert FLAG_BLOCK % 64 == 0


@kernel
def ceil_float32(points: float) -> np.float32:
    """The least float32 at or above `points` (infinities stay; beyond float32's range,
    +inf above it, the lowest finite float32 below it): for every float32 v, v < points
    exactly when v < ceil_float32(points), and v >= points exactly when v >= it."""
    f = np.float32(points)
    if np.float64(f) < points:
        f = np.nextafter(f, np.float32(np.inf))
    return f


# (no fastmath: the band's ends may be infinite; comparisons vectorise without it)
@kernel(nogil=True)
def mark_outside(
    score: np.ndarray,
    band_lo: float,
    band_hi: float,
    outside: np.ndarray,
    list_mask: np.ndarray,
    flags: np.ndarray,
) -> None:
    """outside[k] = whether one of the scores (points) of subjects 8k to 8k + 7 is
    outside [band_lo, band_hi), counting with list masks (list_mask, one per subject;
    empty: none) only the subjects on no list; outside[len(score) // 8], the last,
    partial run, is always set. flags: uint8 scratch of FLAG_BLOCK bytes (shorter: one
    is made here). Releases the GIL."""
    n_oct = len(score) // 8
    masked = len(list_mask) == len(score)
    # a byte per subject (the band's ends as float32, the same comparisons), then the
    # eight bytes of each run read as one word; a block of subjects at a time, each
    # block a view from 0 (an offset index stops vectorisation)
    low, high = ceil_float32(band_lo), ceil_float32(band_hi)
    body = 8 * n_oct
    if len(flags) < min(body, FLAG_BLOCK):
        flags = np.empty(min(body, FLAG_BLOCK), np.uint8)
    for block in range(-(-body // FLAG_BLOCK)):
        first = block * FLAG_BLOCK
        size = min(FLAG_BLOCK, body - first)
        v = score[first : first + size]
        if masked:
            m = list_mask[first : first + size]
            for i in range(size):
                flags[i] = (m[i] == 0) & ((v[i] < low) | (v[i] >= high))
        else:
            for i in range(size):
                flags[i] = (v[i] < low) | (v[i] >= high)
        words = flags[:size].view(np.uint64)
        runs = outside[first // 8 : first // 8 + size // 8]
        for k in range(size // 8):
            runs[k] = words[k] != 0
    outside[n_oct] = True


class DriftRules(NamedTuple):
    """One day of drift (points): toward `base` by 1 - decay of the distance, less
    `association` per listed contact, clamped to [lo, hi] (the score's bounds made
    finite); band_lo and band_hi bound the band that drift's flags watch (mark_outside;
    infinite ends allowed)."""

    base: float
    decay: float
    association: float
    lo: float
    hi: float
    band_lo: float
    band_hi: float


@kernel(inner=True)
def _drifted(rules: DriftRules, score: float, penalty: float) -> np.float32:
    """A score (points) after a day of drift and a penalty of `penalty` points."""
    s = rules.base + rules.decay * (score - rules.base) - penalty
    return np.float32(min(max(s, rules.lo), rules.hi))


class DriftMarks(NamedTuple):
    """What drift reads and marks beside the scores: outside (bool per run of eight
    subjects, written: see mark_outside), list_mask (uint8 list bits per subject, or
    empty: only subjects on no list are marked), held (uint8 per subject, nonzero:
    held at the base score, not enrolled; or empty: none held) and mark_outside's
    scratch flags (empty: made by each drift)."""

    outside: np.ndarray
    list_mask: np.ndarray
    held: np.ndarray
    flags: np.ndarray = np.zeros(0, np.uint8)


# (no reassociation or contraction, so the scores are those of the formula evaluated in
# order; finite numbers and no signed zeros let the compiler vectorise the min and max)
@kernel(nogil=True, fastmath={"nnan", "ninf", "nsz"})
def drift(
    score: np.ndarray,
    out: np.ndarray,
    rules: DriftRules,
    listed_contacts: np.ndarray,
    marks: DriftMarks,
) -> None:
    """One day of drift toward the base and of association penalties (`rules`): the new
    scores of `score` go to `out` (another array: writing over the input defeats
    vectorisation), those of the subjects held at the base (marks.held, one byte per
    subject, or empty: none) the base. marks.outside[k] is set to whether one of the
    new scores of subjects 8k to 8k + 7 is outside the band (a last, partial run counts
    as outside); with list masks (marks.list_mask, one per subject; empty: none) only
    subjects on no list count: the lists' update finds the listed ones that may change
    otherwise (every listed subject, or those listvisits.mark_leaving marks). Releases the GIL.

    listed_contacts: each subject's contacts on a blacklist (empty: no penalties).
    """
    n = len(score)
    association = rules.association
    penalise = association != 0.0 and len(listed_contacts) == n
    held = marks.held
    at_base = np.float32(rules.base)
    # the new scores in one pass, the flags in a second: each loop vectorises (one loop
    # doing both is slower at every size)
    # (held: the drifted score worked out for everyone, then chosen, lets the loop
    # vectorise; worked out only for those not held, it branches on every subject)
    if len(held) == n and penalise:
        for i in range(n):
            v = _drifted(rules, score[i], association * listed_contacts[i])
            out[i] = at_base if held[i] else v
    elif len(held) == n:
        for i in range(n):
            v = _drifted(rules, score[i], 0.0)
            out[i] = at_base if held[i] else v
    elif penalise:
        for i in range(n):
            out[i] = _drifted(rules, score[i], association * listed_contacts[i])
    else:
        for i in range(n):
            out[i] = _drifted(rules, score[i], 0.0)
    mark_outside(out, rules.band_lo, rules.band_hi, marks.outside, marks.list_mask, marks.flags)


@kernel
def decay_error_points(error_points: np.ndarray, decay: float, ids: np.ndarray) -> None:
    """One day of drift of the erroneous points (points) of `ids`, in place (decay is
    1 - drift per day)."""
    if decay != 1.0:
        for i in ids:
            error_points[i] *= decay


@kernel
def grade_index(score: float, floors: np.ndarray) -> int:
    """Grade of a score: 0 for the highest grade, len(floors) - 1 for the lowest."""
    for g in range(len(floors) - 1):
        if score >= floors[g]:
            return g
    return len(floors) - 1


def grades_of(score: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Grade index (0 = highest) of every score; below the lowest floor is the lowest grade."""
    idx = np.searchsorted(-floors, -score.astype(np.float64), side="left")
    return np.minimum(idx, len(floors) - 1).astype(np.uint8)


_BIG = float(np.finfo(np.float64).max)


def _finite(points: float) -> float:
    """points, with infinities taken as the largest finite numbers (same comparisons with
    any finite score)."""
    return min(max(points, -_BIG), _BIG)


NO_QUEUE = empty_queue()
"""An expiry queue of no places, every new Scorer's (shared: a queue grows by being
replaced, reserve_queue, so nothing writes into these arrays)."""


class Scorer:
    """Applies the points layer for one kind of subject: drift, new records, expiry."""

    def __init__(self, rules: ScoreRules, n: int) -> None:
        self.rules = rules
        self.state = ScoreState.start(n, rules.base)
        self.spare = np.empty_like(self.state.score)  # drift() writes here, then swaps
        self._expiring: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        # records scheduled by id (apply with ids) wait in the queue's places
        # [queue_head, queued), in the order they took effect
        self.queue = NO_QUEUE  # (kept as its columns: see the property)
        self.queued = 0
        self.queue_head = 0
        self.queue_in_order = True  # the queue's expiry days never decrease
        self.longest_expiry = 0  # days: the largest age in the queue
        self._left = np.zeros(0)  # left_after(rules.decay, longest_expiry), kept
        self._left_decay = float("nan")
        self.with_errors = np.zeros(n, np.bool_)  # subjects that ever had erroneous points
        self.error_ids = np.zeros(0, np.int64)
        self.track_risen = False  # set to keep the subjects whose score rose (take_risen)
        self._risen: list[np.ndarray] = []
        self._band = (_finite(-np.inf), _finite(np.inf))  # see watch_band
        self._pending = False  # drift_work() handed out, its scores not taken in yet
        self.outside = np.ones(n // 8 + 1, np.bool_)

    @property
    def queue(self) -> ExpiryQueue:
        """The expiry queue (its columns are the scorer's attributes queue_<column>,
        plain arrays that a state snapshot keeps)."""
        return ExpiryQueue(*(getattr(self, f"queue_{name}") for name in ExpiryQueue._fields))

    @queue.setter
    def queue(self, queue: ExpiryQueue) -> None:
        for name, column in zip(ExpiryQueue._fields, queue, strict=True):
            setattr(self, f"queue_{name}", column)

    def _add(self, subjects: np.ndarray, points: np.ndarray, erroneous: np.ndarray) -> None:
        """add_points, noting the subjects whose score went up (see take_risen)."""
        if self._pending:
            raise RuntimeError("scores changed while the next drift was being worked out")
        r = self.rules
        add_points(
            self.state.score,
            self.state.error_points,
            subjects,
            points,
            erroneous,
            r.min_score,
            r.max_score,
        )
        if self.track_risen:
            self._risen.append(subjects[points > 0])
        self.outside[subjects >> 3] = True
        erroneous = erroneous.astype(np.bool_)
        if erroneous.any():
            fresh = np.unique(subjects[erroneous & ~self.with_errors[subjects]])
            if len(fresh):
                self.with_errors[fresh] = True
                self.error_ids = np.concatenate([self.error_ids, fresh.astype(np.int64)])

    def take_risen(self) -> np.ndarray:
        """Subjects whose score records raised since the last call (with repeats).

        Drift moves a score toward the base and association penalties lower it, so a
        score above the base that was not raised by a record is lower than the day before.
        """
        risen = np.concatenate(self._risen) if self._risen else np.zeros(0, np.int64)
        self._risen = []
        return risen

    def watch_band(self, lo: float, hi: float) -> None:
        """Set the band of `outside`, which tells per run of eight subjects (ids 8k to
        8k + 7) whether one of them had a score outside [lo, hi) (points) after the last
        drift or had its score changed by records since (the lists' daily update needs
        to visit only those runs; before the first call nothing is outside the band).
        Infinite bounds are taken as the largest finite numbers."""
        self._band = (_finite(lo), _finite(hi))
        self.outside[:] = True

    def drift_work(self, listed_contacts: np.ndarray) -> Callable[[], None]:
        """The heavy part of the next drift(), to run now or in another thread: it
        writes the drifted scores (and the band flags of `outside`) into the second
        buffer and changes nothing else. Until drift() takes them in, the scores must
        not change (records raise); call drift() once the work has run."""
        if self._pending:
            raise RuntimeError("a drift is already pending")
        self._pending = True
        # (no list masks: the lists may change while the work runs; none held: the
        # enrolment may change before the work is taken in, and the engine holds after)
        none = np.zeros(0, np.uint8)
        return functools.partial(
            drift,
            self.state.score,
            self.spare,
            self.drift_rules(),
            listed_contacts,
            DriftMarks(self.outside, none, none),
        )

    def drift_rules(self) -> DriftRules:
        """The rules of a day's drift: the score's, and the band of `outside`."""
        r = self.rules
        lo, hi = _finite(r.min_score), _finite(r.max_score)
        return DriftRules(r.base, r.decay, r.association_penalty, lo, hi, *self._band)

    def drift(self, listed_contacts: np.ndarray) -> None:
        """One day of drift and association penalties for every subject (after
        drift_work() and its work, only the taking in of its scores).

        The new scores are written to a second buffer, which becomes `state.score`; the
        scores as they were before stay unchanged until the next drift's work runs, so
        that another thread may still read them (the engine tallies each day's scores
        while the next day runs).
        """
        if not self._pending:
            self.drift_work(listed_contacts)()
        self._pending = False
        self.spare, self.state.score = self.state.score, self.spare
        decay_error_points(self.state.error_points, self.rules.decay, self.error_ids)

    def apply(
        self,
        day: int,
        subjects: np.ndarray,
        points: np.ndarray,
        erroneous: np.ndarray,
        ids: np.ndarray | None = None,
        expiry_days: np.ndarray | None = None,
    ) -> None:
        """Add the points of records taking effect today; schedule their expiry.

        With the records' `ids`, expiry is scheduled by record (and `expiry_days`, days
        per record, 0 = never, overrides the scoring section's), so that expire() can skip
        records that were withdrawn or repaired in the meantime.
        """
        if len(subjects) == 0:
            return
        r = self.rules
        self._add(subjects, points, erroneous)
        if ids is None:
            if r.expiry_days:
                self._expiring.setdefault(day + r.expiry_days, []).append(
                    (subjects, points, erroneous)
                )
            return
        exp = np.full(len(ids), r.expiry_days) if expiry_days is None else expiry_days
        exp = exp.astype(np.int64)
        self.reserve_queue(int(np.count_nonzero(exp > 0)))
        self.longest_expiry = max(self.longest_expiry, int(exp.max()))
        self.queued, self.queue_in_order = schedule_expiry(
            self.queue,
            self.queued,
            day,
            Taking(
                ids.astype(np.int64),
                subjects,
                points.astype(np.float64),
                erroneous.astype(np.bool_),
                exp,
            ),
            self.queue_in_order,
        )

    def reserve_queue(self, k: int) -> None:
        """Room in the expiry queue for k more records (its capacity at least doubled
        when it grows)."""
        if self.queued + k <= len(self.queue.day):
            return
        capacity = max(2 * len(self.queue.day), self.queued + k, 1024)
        grown = empty_queue(capacity)
        for old, new in zip(self.queue, grown, strict=True):
            new[: self.queued] = old[: self.queued]
        self.queue = grown

    def expiry_left(self) -> np.ndarray:
        """left_after(rules.decay, longest_expiry): the share of a queued record's points
        left at its expiry, by age (days)."""
        decay = self.rules.decay
        if len(self._left) != self.longest_expiry + 1 or self._left_decay != decay:
            self._left = left_after(decay, self.longest_expiry)
            self._left_decay = decay
        return self._left

    def expire(self, day: int, records: RecordLog | None = None) -> int:
        """Remove what is left of the points of records that expire today; returns how many.

        Records scheduled by id are expired only while still ACTIVE in `records` (their
        status becomes EXPIRED and end_day today); a withdrawn or repaired record already
        gave its points back and does not expire again.
        """
        batches = self._expiring.pop(day, [])
        left = self.rules.decay**self.rules.expiry_days
        n = 0
        for subjects, points, erroneous in batches:
            self._add(subjects, -points * left, erroneous)
            n += len(subjects)
        head, used = self.queue_head, self.queued
        if used == head:
            return n
        if self._pending:
            raise RuntimeError("scores changed while the next drift was being worked out")
        by_age = self.expiry_left()
        if records is not None:
            status, end_day = records.column("status"), records.column("end_day")
        else:
            status, end_day = np.zeros(0, np.uint8), np.zeros(0, np.int16)
        expired = np.empty(used - head, np.int64)
        m, self.queue_head = expire_due(
            Expiry(self.queue, used, head, self.queue_in_order),
            day,
            by_age,
            Ending(status, end_day),
            Scores(
                self.state.score,
                self.state.error_points,
                self.outside,
                self.rules.min_score,
                self.rules.max_score,
            ),
            expired,
        )
        if self.track_risen and m:
            risen = np.empty(m, np.int64)
            k = risen_by_expiry(self.queue, expired[:m], by_age, risen, 0)
            self._risen.append(risen[:k])
        return n + m

    def withdraw(self, subjects: np.ndarray, left: np.ndarray, erroneous: np.ndarray) -> None:
        """Remove what is left (`left`, points, after the days of drift that
        dueprocess_days.end_side counts) of the points of records withdrawn on appeal or
        ended by repair."""
        if len(subjects) == 0:
            return
        self._add(subjects, -left, erroneous)


@kernel(nogil=True)
def hold_at_base(
    score: np.ndarray, error_points: np.ndarray, held: np.ndarray, base: float
) -> None:
    """Residents not enrolled in the score (held[i] nonzero; `held` one byte per
    resident, or empty: none) back at the base score, with no erroneous points: what the
    day's drift and records did to them is undone. With record expiry, a record from
    before enrolment that expires after it still gives back its points once."""
    at_base = np.float32(base)
    for i in range(len(held)):  # (chosen, not branched on: the loop vectorises)
        h = held[i] != 0
        score[i] = at_base if h else score[i]
        error_points[i] = np.float32(0.0) if h else error_points[i]


@kernel
def hold_subjects(
    score: np.ndarray, error_points: np.ndarray, subjects: np.ndarray, held: np.ndarray, base: float
) -> None:
    """hold_at_base for `subjects` only: after a drift that held every other resident
    not enrolled (drift's marks.held), the same as hold_at_base over all of them without
    a pass over millions (a few subjects a day, against a third of a city)."""
    if len(held):
        for i in subjects:
            if held[i]:
                score[i] = base
                error_points[i] = 0.0


def enrolment_order(seed: int, n: int) -> np.ndarray:
    """Each of `n` residents' place in the score's enrolment order (uniform in [0, 1),
    float64): a resident is enrolled while the enrolled share is above their place."""
    return day_rng(seed, "scoring.enrolment", 0).random(n)


@kernel
def enrolment(
    order: np.ndarray, share: float, cell: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Who is held at the base score at the enrolled `share` (uint8 per subject, 1: not
    enrolled, its place in the enrolment order at least the share; empty when everyone
    is enrolled) and the enrolled subjects of each of `n_cells` collector cells (float64
    counts; `cell`: each subject's cell)."""
    n = len(order)
    per_cell = np.zeros(n_cells, np.float64)
    held = np.empty(n, np.uint8)
    any_held = False
    for i in range(n):  # (branch-free: the places are random)
        out = order[i] >= share
        held[i] = out
        per_cell[cell[i]] += 0.0 if out else 1.0
        any_held |= out
    return (held if any_held else np.zeros(0, np.uint8)), per_cell


def has_rollout(sc: Scenario) -> bool:
    """Whether a scenario enrols its residents in the score gradually: an enrolled share
    below 1, or one its timeline changes."""
    if sc.scoring is None:
        return False
    changed = any("scoring.enrolled_share" in values for _, values in sc.timeline_by_day())
    return sc.scoring.enrolled_share < 1.0 or changed
