"""Record points into the score and back out: the points of the records taking effect
(add_points), and the expiry queue, from which what is left of a record's points after
drift leaves the score on its expiry day (schedule_expiry, expire_due). The kernels both
loops call (model/scoring.py's Scorer, engine/compiled.py)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.records import ACTIVE, EXPIRED


@kernel(inner=True)  # (a plain call: numba's inlining would bind the arrays per record)
def _add_one(
    score: np.ndarray,
    error_points: np.ndarray,
    i: int,
    points: float,
    erroneous: bool,
    lo: float,
    hi: float,
) -> None:
    """Add `points` to subject i's score, clamped to [lo, hi] (and to its erroneous
    points when the record is erroneous)."""
    score[i] = min(max(score[i] + points, lo), hi)
    if erroneous:
        error_points[i] += points


@kernel
def add_points(
    score: np.ndarray,
    error_points: np.ndarray,
    subjects: np.ndarray,
    points: np.ndarray,
    erroneous: np.ndarray,
    lo: float,
    hi: float,
) -> None:
    """Add each record's points to its subject's score (in order), clamped to [lo, hi]."""
    for r in range(len(subjects)):
        _add_one(score, error_points, subjects[r], points[r], erroneous[r], lo, hi)


class ExpiryQueue(NamedTuple):
    """Records whose points leave the score on a later day, in the order they took
    effect (whole arrays, capacity included; Scorer keeps how many are used)."""

    day: np.ndarray  # int32, the day the record expires
    record: np.ndarray  # int64, the record's id in the log
    subject: np.ndarray  # int32
    points: np.ndarray  # float64, the record's points when it took effect
    age: np.ndarray  # int32, days from taking effect to expiry
    erroneous: np.ndarray  # bool


def empty_queue(capacity: int = 0) -> ExpiryQueue:
    """An expiry queue with room for `capacity` records."""
    return ExpiryQueue(
        *(np.zeros(capacity, t) for t in (np.int32, np.int64, np.int32, np.float64, np.int32, bool))
    )


class Expiry(NamedTuple):
    """An expiry queue and how much of it is used: places [head, queued) are waiting
    (Scorer's queue, queue_head, queued, queue_in_order; compiled days' Grown)."""

    queue: ExpiryQueue
    queued: int  # places used
    head: int  # the first place not yet expired (every place before it done)
    in_order: bool  # the queue's days never decrease from place to place


class Taking(NamedTuple):
    """Records that take effect on a day, to be queued for expiry (in order)."""

    ids: np.ndarray  # int64, ids in the record log
    subjects: np.ndarray  # the subject of each
    points: np.ndarray  # float64, points when taking effect
    erroneous: np.ndarray  # bool
    expiry_days: np.ndarray  # int64, days each one's points count (0: for good)


class Ending(NamedTuple):
    """The record log's columns that expiry sets (both empty: records not logged)."""

    status: np.ndarray  # uint8, ACTIVE, EXPIRED, ...
    end_day: np.ndarray  # int16, the day a record ended


class Scores(NamedTuple):
    """The scores that points go into and come out of (Scorer's state and rules)."""

    score: np.ndarray  # float32, points, each subject's score
    error_points: np.ndarray  # float32, points, the erroneous part of each score
    outside: np.ndarray  # bool per run of eight subjects: the lists' update visits it
    lo: float  # points, the least score
    hi: float  # points, the greatest score


@kernel
def schedule_expiry(
    queue: ExpiryQueue, used: int, day: int, records: Taking, in_order: bool
) -> tuple[int, bool]:
    """Queue the `records` that take effect on `day` to expire records.expiry_days
    later (0 = never), from place `used` (the queue must have room for them all).
    Returns (the places used, whether the queue's days still never decrease: in_order,
    as it was, and the new places' days)."""
    ids, subjects, points, erroneous, expiry_days = records
    for r in range(len(ids)):
        e = expiry_days[r]
        if e <= 0:
            continue
        if used > 0 and queue.day[used - 1] > day + e:
            in_order = False
        queue.day[used] = day + e
        queue.record[used] = ids[r]
        queue.subject[used] = subjects[r]
        queue.points[used] = points[r]
        queue.age[used] = e
        queue.erroneous[used] = erroneous[r]
        used += 1
    return used, in_order


@kernel
def expire_due(
    expiry: Expiry,
    day: int,
    left: np.ndarray,
    log: Ending,
    into: Scores,
    expired: np.ndarray,
) -> tuple[int, int]:
    """Expire the records of the queue places [expiry.head, expiry.queued) due on
    `day`, in queue order: what is left of each one's points after its age in days of
    drift (-points x left[age]) leaves its subject's score in `into`, clamped to [lo,
    hi] (and its erroneous points, if erroneous), and its run of eight is marked in
    `outside`. With the log's status (else empty), only records still ACTIVE expire:
    their status becomes EXPIRED and end_day `day`. Writes the places expired into
    `expired` (at least queued - head long). expiry.in_order: the queue's days never
    decrease (the scan stops at the first place due later). Returns (how many, the new
    head: the first place at or after head due after `day`, every place before it
    done)."""
    queue, used, head, in_order = expiry
    status, end_day = log
    score, error_points, outside, lo, hi = into
    m = 0
    after = used
    logged = len(status) > 0
    for j in range(head, used):
        d = queue.day[j]
        if d > day:
            if after == used:
                after = j
            if in_order:
                break
            continue
        if d < day:
            continue
        r = queue.record[j]
        if logged:
            if status[r] != ACTIVE:
                continue
            status[r] = EXPIRED
            end_day[r] = day
        i = queue.subject[j]
        give = -queue.points[j] * left[queue.age[j]]
        _add_one(score, error_points, i, give, queue.erroneous[j], lo, hi)
        outside[i >> 3] = True
        expired[m] = j
        m += 1
    return m, after


@functools.lru_cache(maxsize=16)
def left_after(decay: float, most: int) -> np.ndarray:
    """left[a] = decay ** a for a = 0 to `most` days: the share of a record's points
    left after a days of drift (decay: 1 - drift per day), as Python's float power
    gives it. Made once per (decay, most) in a process and shared: not to be written."""
    return np.array([decay**a for a in range(most + 1)], np.float64)


@kernel
def risen_by_expiry(
    queue: ExpiryQueue, places: np.ndarray, left: np.ndarray, out: np.ndarray, m: int
) -> int:
    """The subjects of the expired queue places `places` whose score the expiry raised
    (what is left of negative points given back: -points x left[age] > 0), in order,
    written to out from out[m] on (room for len(places) of them); returns the new m."""
    for p in places:
        if -queue.points[p] * left[queue.age[p]] > 0:
            out[m] = queue.subject[p]
            m += 1
    return m
