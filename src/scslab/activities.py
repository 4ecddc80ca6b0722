"""Activities: what residents and enterprises attempt each day, and what the measures do.

Each activity has a per-year rate per eligible subject. The day's attempts are drawn by
thinning; each attempt is then resolved against the measures (blocked, delayed) and the
rewards (green channel: a shorter wait), and counted by group. Every blocked attempt is
counted, and it is *wrongful* when every list that blocks it rests on erroneous records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from scslab.departments import decile_multipliers
from scslab.scenario import DOMAINS, Scenario
from scslab.streams import hash_uniform

ELIGIBLE = {"all": 0, "adults": 1, "working_age": 2, "parents": 3}
OUTCOMES = ("attempts", "blocked", "wrongful_blocked", "delayed", "green_channel", "wait_days")
"""What is counted per domain (wait_days: days waited, summed over attempts that went on)."""


@dataclass(frozen=True)
class ActivityRules:
    """The scenario's activities compiled to arrays (index = activity id)."""

    names: list[str]
    domain: np.ndarray  # int64, index into DOMAINS
    enterprise: np.ndarray  # bool, True = attempted by enterprises
    eligible: np.ndarray  # int64, ELIGIBLE code
    daily_rate: np.ndarray  # float64, attempts per eligible subject per day
    decile_multiplier: np.ndarray  # float64 [activities, 10]
    base_wait: np.ndarray  # float64, days
    income_loss: np.ndarray  # float64, share of income lost when blocked
    posting: np.ndarray  # bool, online posts (chilling applies; posts can be flagged)

    @classmethod
    def compile(cls, scenario: Scenario) -> ActivityRules:
        """Arrays from the scenario's activities section."""
        acts = list(scenario.activities.items())
        return cls(
            names=[n for n, _ in acts],
            domain=np.array([DOMAINS.index(a.domain) for _, a in acts], np.int64),
            enterprise=np.array([a.subject == "enterprise" for _, a in acts], np.bool_),
            eligible=np.array([ELIGIBLE[a.eligible] for _, a in acts], np.int64),
            daily_rate=np.array([a.rate_per_year / 365.0 for _, a in acts], np.float64),
            decile_multiplier=np.array(
                [decile_multipliers(a.poorest_to_richest) for _, a in acts], np.float64
            ).reshape(len(acts), 10),
            base_wait=np.array([a.base_wait_days for _, a in acts], np.float64),
            income_loss=np.array([a.income_loss_if_blocked for _, a in acts], np.float64),
            posting=np.array([a.domain == "online_accounts" for _, a in acts], np.bool_),
        )

    def __len__(self) -> int:
        return len(self.names)


@nb.njit(cache=True)
def _sweep(
    pool: np.ndarray,
    n: int,
    lam: float,
    key: np.uint64,
    day: int,
    decile: np.ndarray,
    mults: np.ndarray,
    max_mult: float,
    chill_value: np.ndarray,
    chill_since: np.ndarray,
    chill_rate: float,
    out: np.ndarray,
) -> int:
    """Attempts of one day in id order; returns how many (-1 if `out` is too small).

    Each subject makes Poisson(lam * mult / max_mult * propensity) attempts: subjects with
    at least one candidate attempt at the maximum rate `lam` are found by geometric
    skipping (so memory is read in order and nobody else is touched), their number of
    candidates is a zero-truncated Poisson(lam), and each candidate is kept with
    probability mult / max_mult (income decile) times the posting propensity, if given.
    """
    if n == 0 or lam <= 0.0:
        return 0
    pooled = len(pool) > 0
    use_decile = len(decile) > 0
    use_chill = len(chill_value) > 0
    p0 = lam * np.exp(-lam) / -np.expm1(-lam)  # P(k = 1 | k >= 1)
    pos = -1
    c = 0
    m = 0
    cap = len(out)
    while True:
        u = hash_uniform(key, day, c)
        c += 1
        pos += 1 + int(-np.log1p(-u) / lam)
        if pos >= n:
            return m
        v = hash_uniform(key, day, c)
        c += 1
        k, p, cum = 1, p0, p0
        while v > cum and k < 60:
            k += 1
            p *= lam / k
            cum += p
        i = pool[pos] if pooled else pos
        keep = 1.0
        if use_decile:
            keep = mults[decile[i]] / max_mult
        if use_chill and chill_value[i] < 1.0:
            keep *= 1.0 - (1.0 - chill_value[i]) * np.exp(-chill_rate * (day - chill_since[i]))
        for _ in range(k):
            w = hash_uniform(key, day, c)
            c += 1
            if w < keep:
                if m >= cap:
                    return -1
                out[m] = i
                m += 1


def draw_attempts(
    rules: ActivityRules,
    a: int,
    pool: np.ndarray | int,
    income_decile: np.ndarray | None,
    chill: tuple[np.ndarray, np.ndarray, float] | None,
    key: np.uint64,
    day: int,
) -> np.ndarray:
    """Ids (in increasing order) of the subjects who attempt activity a on `day`.

    `pool`: the eligible ids, or their number when everyone is eligible; `chill`: the
    posting propensities as (value, day of last shock, recovery rate per day), applied to
    posting activities. Draws come from the counter-based stream `key`.
    """
    n = pool if isinstance(pool, int) else len(pool)
    lam_mean = rules.daily_rate[a]
    if n == 0 or lam_mean <= 0.0:
        return np.zeros(0, np.int64)
    mults = rules.decile_multiplier[a]
    max_mult = float(mults.max()) if income_decile is not None else 1.0
    lam = lam_mean * max_mult
    empty_f, empty_i = np.zeros(0, np.float32), np.zeros(0, np.int16)
    value, since, rate = (
        chill if (chill is not None and rules.posting[a]) else (empty_f, empty_i, 0.0)
    )
    pool_arr = np.zeros(0, np.int32) if isinstance(pool, int) else pool
    deciles = income_decile if income_decile is not None else np.zeros(0, np.uint8)
    expected = n * lam
    cap = int(expected * 1.2 + 8 * np.sqrt(expected) + 64)
    while True:
        out = np.empty(cap, np.int64)
        m = _sweep(pool_arr, n, lam, key, day, deciles, mults, max_mult, value, since, rate, out)
        if m >= 0:
            return out[:m]
        cap *= 2


@nb.njit(cache=True)
def resolve(
    attempts: np.ndarray,
    cell: np.ndarray,
    own_mask: np.ndarray,
    own_wrongful: np.ndarray,
    rep_mask: np.ndarray,
    rep_wrongful: np.ndarray,
    block_own: int,
    block_rep: int,
    delay_own: int,
    delay_rep: int,
    delay_days: float,
    reward_bits: int,
    reward_score: float,
    wait_factor: float,
    score: np.ndarray,
    base_wait: float,
    acc: np.ndarray,
    cols: np.ndarray,
    blocked_count: np.ndarray,
    wrongful_count: np.ndarray,
    out_blocked: np.ndarray,
    out_done: np.ndarray,
) -> tuple[int, int]:
    """Resolve attempts in one domain; count outcomes in acc[cell, cols[outcome]].

    Returns how many were blocked and how many went ahead (ids in out_blocked, out_done).
    """
    has_rep = len(rep_mask) > 0
    has_score = len(score) > 0
    n_blocked = 0
    n_done = 0
    for i in attempts:
        c = cell[i]
        acc[c, cols[0]] += 1.0
        b_own = own_mask[i] & block_own
        b_rep = rep_mask[i] & block_rep if has_rep else 0
        if b_own or b_rep:
            acc[c, cols[1]] += 1.0
            rightful = (b_own & ~own_wrongful[i]) | ((b_rep & ~rep_wrongful[i]) if has_rep else 0)
            if rightful == 0:
                acc[c, cols[2]] += 1.0
                if len(wrongful_count):
                    wrongful_count[i] += 1
            if len(blocked_count):
                blocked_count[i] += 1
            out_blocked[n_blocked] = i
            n_blocked += 1
            continue
        wait = base_wait
        if (own_mask[i] & delay_own) or (has_rep and (rep_mask[i] & delay_rep)):
            acc[c, cols[3]] += 1.0
            wait += delay_days
        green = (own_mask[i] & reward_bits) != 0 or (has_score and score[i] >= reward_score)
        if green:
            acc[c, cols[4]] += 1.0
            wait *= wait_factor
        acc[c, cols[5]] += wait
        out_done[n_done] = i
        n_done += 1
    return n_blocked, n_done
