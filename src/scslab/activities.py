"""Activities: what residents and enterprises attempt each day, and what the measures do.

Each activity has a per-year rate per eligible subject. The day's attempts are drawn by
thinning; each attempt is then resolved against the measures (blocked, delayed) and the
rewards (green channel: a shorter wait), and counted by group. Every blocked attempt is
counted, and it is *wrongful* when every list that blocks it rests on erroneous records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np

from scslab.departments import decile_multipliers
from scslab.scenario import DOMAINS, Scenario

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


def draw_attempts(
    rules: ActivityRules,
    a: int,
    pool: np.ndarray | int,
    income_decile: np.ndarray | None,
    propensity_of: Callable[[np.ndarray], np.ndarray] | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Ids of the subjects who attempt activity a today. `pool`: eligible ids, or a count."""
    n = pool if isinstance(pool, int) else len(pool)
    if n == 0 or rules.daily_rate[a] <= 0.0:
        return np.zeros(0, np.int64)
    mults = rules.decile_multiplier[a]
    max_mult = mults.max() if income_decile is not None else 1.0
    pick = rng.integers(0, n, rng.poisson(n * rules.daily_rate[a] * max_mult))
    cand = pick if isinstance(pool, int) else pool[pick]
    u = rng.random(len(cand)) * max_mult
    accept = np.ones(len(cand)) if income_decile is None else mults[income_decile[cand]]
    if propensity_of is not None and rules.posting[a]:
        accept = accept * propensity_of(cand)
    return cand[u < accept]


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
