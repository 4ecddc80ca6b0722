"""Behaviour: how residents respond to the system.

- Deterrence (static, see scslab.scenario.rates.deterrence_factor): violations fall as
  coverage rises.
- Chilling: a resident's propensity to take part in monitored activities (posting, and
  every activity records are drawn from: petitioning, gatherings, worship) falls by a
  share after a penalty to them, and by a smaller share after a penalty to one of their
  contacts; it recovers toward 1 with a half-life.
- Economic feedback: a blocked job application or business registration cuts income by a
  share; income recovers with a half-life, and income-sensitive default risks (arrears,
  judgment defaults) rise while it is low.

Recovering quantities are kept in closed form (value and day of the last shock), so a
resident is only touched when something happens to them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scslab.model.containers import Recovery
from scslab.model.prefetch import prefetch


@nb.njit(cache=True)
def _shock(factor: Recovery, ids: np.ndarray, day: int, share: float) -> None:
    """Cut the factor of each id by `share` on `day` (repeats compound), no lower than
    the floor; the tracked groups' deficits (brought to `day`) follow."""
    tracked = len(factor.group) > 0
    for j in range(len(ids)):
        if j + 16 < len(ids):  # residents scattered over the city: overlap their loads
            prefetch(factor.value, ids[j + 16])
            prefetch(factor.since, ids[j + 16])
            if tracked:
                prefetch(factor.group, ids[j + 16])
        i = ids[j]
        now = 1.0 - (1.0 - factor.value[i]) * np.exp(-factor.rate * (day - factor.since[i]))
        factor.value[i] = max(now * (1.0 - share), factor.floor)
        factor.since[i] = day
        if tracked:
            factor.deficit[factor.group[i]] += now - factor.value[i]


class Recovering:
    """A factor per agent in [floor, 1] that recovers toward 1 with a half-life in days.

    `arrays` holds its arrays and numbers together, as the kernels take them (Recovery);
    the arrays change in place, and track(), which replaces the groups', rebuilds it.
    """

    def __init__(self, n: int, half_life_days: float, floor: float = 0.0) -> None:
        self.value = np.ones(n, np.float32)
        self.since = np.zeros(n, np.int16)
        self.rate = float(np.log(2.0) / half_life_days)
        self.floor = floor
        self.group = np.zeros(0, np.int16)
        self._deficit = np.zeros(0, np.float64)
        self._deficit_day = 0
        self.arrays = self._arrays()

    def _arrays(self) -> Recovery:
        return Recovery(
            self.value, self.since, self.rate, float(self.floor), self.group, self._deficit
        )

    def track(self, group: np.ndarray, n_groups: int) -> None:
        """Keep, for each group (group[i] of agent i), the sum of 1 - factor over its agents.

        The sums follow every shock and decay with the recovery, so that a group's total
        factor is known without visiting its agents (see deficits()). Call it before the
        first shock.
        """
        if (self.value != 1.0).any():
            raise ValueError("track() must be called before any shock")
        self.group = group
        self._deficit = np.zeros(n_groups, np.float64)
        self._deficit_day = 0
        self.arrays = self._arrays()

    def deficits(self, day: int) -> np.ndarray:
        """Per tracked group, the sum over its agents of 1 - factor on `day` (a view)."""
        if day != self._deficit_day:
            self._deficit *= np.exp(-self.rate * (day - self._deficit_day))
            self._deficit_day = day
        return self._deficit

    def at(self, ids: np.ndarray, day: int) -> np.ndarray:
        """The factors of `ids` on `day` (float64, 1 = untouched)."""
        value = self.value[ids].astype(np.float64)
        hit = np.flatnonzero(value < 1.0)  # most agents were never shocked
        if len(hit):
            gap = day - self.since[ids[hit]].astype(np.float64)
            value[hit] = 1.0 - (1.0 - value[hit]) * np.exp(-self.rate * gap)
        return value

    def all_at(self, day: int) -> np.ndarray:
        """The factors of every agent on `day` (float32)."""
        gap = day - self.since.astype(np.float32)
        return (1.0 - (1.0 - self.value) * np.exp(-self.rate * gap)).astype(np.float32)

    def shock(self, ids: np.ndarray, day: int, share: float) -> None:
        """Cut the factor of each id (repeats compound) by `share` on `day`."""
        if share > 0.0 and len(ids):
            if len(self.group):
                self.deficits(day)  # (decays the sums in place: `arrays` holds them)
            _shock(self.arrays, ids, day, share)


def contacts_of_many(indptr: np.ndarray, indices: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Everyone who counts one of `ids` as a contact (with repeats)."""
    if len(ids) == 0:
        return np.zeros(0, np.int32)
    starts, ends = indptr[ids], indptr[ids + 1]
    lengths = ends - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return indices[np.arange(lengths.sum()) + offsets]
