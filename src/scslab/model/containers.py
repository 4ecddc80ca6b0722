"""The typed containers in which the model's compiled kernels take their state and rules:
named tuples of arrays and numbers, one per kind of state, so that no kernel takes a
long row of positional arrays that could be swapped without an error. numba reads them
as typed tuples; the engine's compiled days (engine/containers.py) build them from its
own containers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Listings(NamedTuple):
    """The residents' listings as the lists' kernels change them (ListState's arrays)."""

    mask: np.ndarray  # uint8, bit l = on list l
    wrongful: np.ndarray  # uint8, bit l = that listing rests only on erroneous records
    extended: np.ndarray  # uint8, bit l = the one-off extension was used
    released: np.ndarray  # uint8, bit l = listing l set to end today by an appeal or review
    repaired: np.ndarray  # uint8, bit l = listing l set to end today by credit repair
    until: np.ndarray  # int16 [lists, n], day a record-triggered listing ends
    true_until: np.ndarray  # int16 [lists, n], day the cover of true records ends


class DailyRules(NamedTuple):
    """The lists' rules that the daily update reads (ListRules.daily)."""

    rule: np.ndarray  # int8: RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST
    threshold: np.ndarray  # float64, points, for score rules
    extension: np.ndarray  # int64, days
    extension_probability: np.ndarray  # float64
    daily_compliance: np.ndarray  # float64, probability per day of complying and leaving
    key: np.uint64  # the lists' random stream (compliance and extension draws)


class Points(NamedTuple):
    """The scores the lists' rules read, in points (float32; both empty: no score)."""

    score: np.ndarray  # each subject's score
    error_points: np.ndarray  # the erroneous part of each score


class ChangeColumns(NamedTuple):
    """Columns into which a kernel writes listing changes (see Changes), as many as fit."""

    subject: np.ndarray  # int32
    bit: np.ndarray  # uint8
    entered: np.ndarray  # bool
    wrongful: np.ndarray  # bool
    reason: np.ndarray  # uint8


class Standing(NamedTuple):
    """What the measures read about the subjects of one kind, by id."""

    cell: np.ndarray  # collector cell of each subject
    own_mask: np.ndarray  # uint8, bit l = on the subject's own list l
    own_wrongful: np.ndarray  # uint8, bit l = that listing is wrongful
    rep_mask: np.ndarray  # uint8, lists of the enterprises a resident represents (empty: none)
    rep_wrongful: np.ndarray  # uint8, which of those listings are wrongful (empty: none)
    score: np.ndarray  # float32, points (empty: no score)


class Measures(NamedTuple):
    """One domain's measures and rewards for one activity (see measures.DomainRules)."""

    block_own: int  # own lists that block
    block_rep: int  # enterprise lists that block (they reach the representative)
    delay_own: int  # own lists that delay
    delay_rep: int  # enterprise lists that delay
    delay_days: float  # days added to the wait when delayed
    reward_bits: int  # own red lists that open the green channel
    reward_score: float  # score (points) that opens the green channel (inf: none)
    wait_factor: float  # multiplier on the wait in the green channel
    base_wait: float  # the activity's wait (days) without measures or rewards


class Outcomes(NamedTuple):
    """Where resolved attempts are counted."""

    acc: np.ndarray  # float64 [cells, metrics]: the day's counts
    cols: np.ndarray  # int64: the column of each of measures.OUTCOMES
    blocked_by: np.ndarray  # int64 [16]: column by blocking list (own, then firms'); -1: none
    blocked_count: np.ndarray  # int32, blocked attempts per subject (empty: not kept)
    wrongful_count: np.ndarray  # int32, wrongfully blocked attempts (empty: not kept)
