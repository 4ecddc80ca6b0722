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
