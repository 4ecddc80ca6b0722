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

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import Behaviour, ByGroup, Recovery
from scslab.model.prefetch import AHEAD, prefetch


@kernel(inner=True)
def factor_at(factor: Recovery, i: int, day: int) -> float:
    """Agent i's factor on `day` (1 = untouched)."""
    value = factor.value[i]
    if value >= 1.0:  # most agents were never shocked
        return 1.0
    return 1.0 - (1.0 - value) * np.exp(-factor.rate * (day - factor.since[i]))


@kernel
def _factors_at(factor: Recovery, ids: np.ndarray, day: int) -> np.ndarray:
    """The factors of `ids` on `day` (float64)."""
    out = np.empty(len(ids))
    for j in range(len(ids)):
        out[j] = factor_at(factor, ids[j], day)
    return out


@kernel
def bring(factor: Recovery, day: int) -> None:
    """The tracked groups' deficits decayed to `day` (in place; none tracked: nothing)."""
    gap = day - factor.deficit_day[0]
    if len(factor.deficit) == 0 or gap == 0:
        return
    decay = np.exp(-factor.rate * gap)
    for g in range(len(factor.deficit)):
        factor.deficit[g] *= decay
    factor.deficit_day[0] = day


@kernel(inner=True)
def _shock_one(factor: Recovery, i: int, day: int, share: float, tracked: bool) -> None:
    """Cut agent i's factor by `share` on `day` (see shock)."""
    value = factor.value[i]
    now = 1.0  # never shocked (most agents): the recovery's exp would give 1.0 exactly
    if value < 1.0:
        now = 1.0 - (1.0 - value) * np.exp(-factor.rate * (day - factor.since[i]))
    factor.value[i] = max(now * (1.0 - share), factor.floor)
    factor.since[i] = day
    if tracked:
        factor.deficit[factor.group[i]] += now - factor.value[i]


@kernel
def shock(factor: Recovery, ids: np.ndarray, day: int, share: float) -> None:
    """Cut the factor of each id by `share` on `day` (repeats compound), no lower than
    the floor; the tracked groups' deficits, brought to `day` first, follow. Nothing
    when share <= 0 or no ids."""
    if share <= 0.0 or len(ids) == 0:
        return
    tracked = len(factor.group) > 0
    if tracked:
        bring(factor, day)
    for j in range(len(ids)):
        if j + AHEAD < len(ids):  # residents scattered over the city: overlap their loads
            prefetch(factor.value, ids[j + AHEAD])
            prefetch(factor.since, ids[j + AHEAD])
            if tracked:
                prefetch(factor.group, ids[j + AHEAD])
        _shock_one(factor, ids[j], day, share, tracked)


@kernel
def behaviour_day(
    day: int,
    beh: Behaviour,
    kinds: np.ndarray,
    subjects: np.ndarray,
    newly_black: np.ndarray,
    blocked: np.ndarray,
    lost: np.ndarray,
    counts: ByGroup,
) -> None:
    """The behaviour step of `day`, as both loops run it.

    Chilling: the residents penalised today (the subjects of today's effective records
    of a kind with beh.penalising[kind], in order, then those newly blacklisted) lose
    the share chilling_self of their propensity, and everyone who counts one of them as
    a contact (with repeats) chilling_contacts. Income: each blocked[j] (the day's
    blocked attempts at activities with an income loss, in the activities' order) loses
    the share lost[j] of income; per resident the first day and number of shocks are
    kept, and each shock is counted in counts.row[:, beh.shock_col]. The penalised and
    the blocked are scattered over the city: the fields of the one AHEAD places ahead are
    prefetched (a penalised resident's place in the contacts' index in the first pass,
    its contacts in the second)."""
    n_pen = len(newly_black)
    for r in range(len(kinds)):
        if beh.penalising[kinds[r]]:
            n_pen += 1
    penalised = np.empty(n_pen, np.int64)
    m = 0
    for r in range(len(kinds)):
        if beh.penalising[kinds[r]]:
            penalised[m] = subjects[r]
            m += 1
    for r in range(len(newly_black)):
        penalised[m + r] = newly_black[r]
    shock(beh.chill, penalised, day, beh.chilling_self)
    indptr, indices = beh.contacts_of_indptr, beh.contacts_of_indices
    if beh.chilling_contacts > 0.0 and n_pen:
        n_watch = 0
        for j in range(n_pen):
            if j + AHEAD < n_pen:
                prefetch(indptr, penalised[j + AHEAD])
            i = penalised[j]
            n_watch += indptr[i + 1] - indptr[i]
        watchers = np.empty(n_watch, np.int64)
        m = 0
        for j in range(n_pen):
            if j + AHEAD < n_pen and len(indices):
                prefetch(indices, min(indptr[penalised[j + AHEAD]], len(indices) - 1))
            i = penalised[j]
            for q in range(indptr[i], indptr[i + 1]):
                watchers[m] = indices[q]
                m += 1
        shock(beh.chill, watchers, day, beh.chilling_contacts)
    per_agent = len(beh.first_shock_day) > 0
    income = beh.income
    for j in range(len(blocked)):
        if j + AHEAD < len(blocked):
            ahead = blocked[j + AHEAD]
            prefetch(income.value, ahead)
            prefetch(income.since, ahead)
            prefetch(counts.cell, ahead)
        i = blocked[j]
        if lost[j] > 0.0:
            _shock_one(beh.income, i, day, lost[j], len(beh.income.group) > 0)
        if per_agent:
            if beh.first_shock_day[i] < 0:
                beh.first_shock_day[i] = day
            beh.income_shocks[i] += 1
        c = counts.cell[i]
        for q in range(counts.groups_indptr[c], counts.groups_indptr[c + 1]):
            counts.row[counts.groups_of_cell[q], beh.shock_col] += 1.0


class Recovering:
    """A factor per agent in [floor, 1] that recovers toward 1 with a half-life in days.

    `arrays` holds its arrays and numbers together, as the kernels take them (Recovery);
    the arrays change in place, and track(), which replaces the groups', rebuilds it.
    """

    def __init__(
        self,
        n: int,
        half_life_days: float,
        floor: float = 0.0,
        tracked: tuple[np.ndarray, int] | None = None,
    ) -> None:
        """n agents at factor 1; tracked: (group, n_groups) to track() from the start."""
        self.value = np.ones(n, np.float32)
        self.since = np.zeros(n, np.int16)
        self.rate = float(np.log(2.0) / half_life_days)
        self.floor = floor
        self.group = np.zeros(0, np.int16) if tracked is None else tracked[0]
        self._deficit = np.zeros(0 if tracked is None else tracked[1], np.float64)
        self._deficit_day = np.zeros(1, np.int64)
        self.arrays = self._arrays()

    def _arrays(self) -> Recovery:
        return Recovery(
            self.value,
            self.since,
            self.rate,
            float(self.floor),
            self.group,
            self._deficit,
            self._deficit_day,
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
        self._deficit_day[0] = 0
        self.arrays = self._arrays()

    def deficits(self, day: int) -> np.ndarray:
        """Per tracked group, the sum over its agents of 1 - factor on `day` (a view)."""
        bring(self.arrays, day)
        return self._deficit

    def at(self, ids: np.ndarray, day: int) -> np.ndarray:
        """The factors of `ids` on `day` (float64, 1 = untouched), as the kernels read
        them (factor_at)."""
        return _factors_at(self.arrays, ids, day)

    def all_at(self, day: int) -> np.ndarray:
        """The factors of every agent on `day` (float32)."""
        gap = day - self.since.astype(np.float32)
        return (1.0 - (1.0 - self.value) * np.exp(-self.rate * gap)).astype(np.float32)

    def shock(self, ids: np.ndarray, day: int, share: float) -> None:
        """Cut the factor of each id (repeats compound) by `share` on `day`."""
        shock(self.arrays, ids, day, share)
