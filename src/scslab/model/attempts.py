"""The kernels of residents' activities that both loops call (engine/steps.py's
activities step and engine/compiled_acts.py): the closed-form count of the attempts of
residents whom no measure or reward reaches (others_by_cell, count_others), the count of
posts that went ahead (count_done), the attempts that a department will record (flagged:
those of residents no measure reaches, flag_unreached, drawn by the thinning sweep; those
that went ahead past the measures, flag_done), and the set of residents whose score opens
a green channel, kept from the subjects whose score records raised (keep_high).

See activities.py for the draw as a whole and measures.py for the resolution of the
attempts that measures may meet."""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import AttemptShare, DomainReach, Pool, Recovery, Thinning
from scslab.model.members import update_members
from scslab.streams import hash_poisson, hash_uniform

CELL_STRIDE = np.int64(1) << np.int64(32)
"""The counters of cell c's draw in a day's stream start at c x this (hash_poisson's b)."""


@kernel(inner=True)
def sweep(
    pool: Pool, rates: Thinning, chill: Recovery, key: np.uint64, day: int, out: np.ndarray
) -> int:
    """Attempts of one day in id order; returns how many (-1 if `out` is too small).

    Each subject makes Poisson(lam * mult / max_mult * propensity) attempts: subjects with
    at least one candidate attempt at the maximum rate `lam` are found by geometric
    skipping (so memory is read in order and nobody else is touched), their number of
    candidates is a zero-truncated Poisson(lam), and each candidate is kept with
    probability mult / max_mult (income decile) times the chilled propensity, if given
    (chill.value empty: none).
    """
    if pool.n == 0 or rates.lam <= 0.0:
        return 0
    pooled = len(pool.ids) > 0
    use_decile = len(pool.income_decile) > 0
    use_chill = len(chill.value) > 0
    p0 = rates.lam * np.exp(-rates.lam) / -np.expm1(-rates.lam)  # P(k = 1 | k >= 1)
    pos = -1
    c = 0
    m = 0
    cap = len(out)
    while True:
        u = hash_uniform(key, day, c)
        c += 1
        pos += 1 + int(-np.log1p(-u) / rates.lam)
        if pos >= pool.n:
            return m
        v = hash_uniform(key, day, c)
        c += 1
        k, p, cum = 1, p0, p0
        while v > cum and k < 60:
            k += 1
            p *= rates.lam / k
            cum += p
        i = pool.ids[pos] if pooled else pos
        keep = 1.0
        if use_decile:
            keep = rates.mults[pool.income_decile[i]] / rates.max_mult
        if use_chill and chill.value[i] < 1.0:
            keep *= 1.0 - (1.0 - chill.value[i]) * np.exp(-chill.rate * (day - chill.since[i]))
        for _ in range(k):
            w = hash_uniform(key, day, c)
            c += 1
            if w < keep:
                if m >= cap:
                    return -1
                out[m] = i
                m += 1


@kernel
def sweep_all(pool: Pool, rates: Thinning, chill: Recovery, key: np.uint64, day: int) -> np.ndarray:
    """All of sweep's attempts of one day (ids in increasing order, one entry per
    attempt), in an array made long enough (tried again with a longer one when it is
    too short: the draws are the same)."""
    expected = pool.n * rates.lam
    cap = int(expected * 1.2 + 8 * np.sqrt(expected) + 64)
    while True:
        out = np.empty(cap, np.int64)
        m = sweep(pool, rates, chill, key, day, out)
        if m >= 0:
            return out[:m]
        cap *= 2


@kernel
def flag_unreached(
    who: Pool,
    draw: AttemptShare,
    chill: Recovery,
    day: int,
    reach: DomainReach,
    others: np.ndarray,
) -> np.ndarray:
    """The residents (increasing ids, one entry per attempt) of pool `who` whose attempt
    on `day` is flagged under one record kind, among those whom no measure or reward of
    the activity's domain reaches (`reach`); each one counted in others[cell] (its
    collector cell, from reach.residents.group: their attempts go ahead with everyone
    else's).

    The flagged attempts are a thinned Poisson process: a share draw.share of each
    resident's Poisson(draw.lam x mults[income decile] (who.income_decile; empty: none)
    x propensity (chill; empty value: none)) attempts a day (lam: attempts per resident
    per day), drawn by `sweep` from stream draw.key."""
    lam, mults, share, key = draw
    residents, own_bits, rep_bits, reward_score = reach
    max_mult = mults.max() if len(who.income_decile) else 1.0
    rates = Thinning(lam * share * max_mult, mults, max_mult)
    out = sweep_all(who, rates, chill, key, day)
    m = len(out)
    scored = len(residents.score) > 0 and reward_score < np.inf
    per_cell = np.int64(10 * 4)  # groups of a cell: income deciles x eligibility classes
    kept = 0
    for j in range(m):
        i = out[j]
        if (residents.mask[i] & own_bits) | (residents.rep_mask[i] & rep_bits):
            continue
        if scored and residents.score[i] >= reward_score:
            continue
        others[np.int64(residents.group[i]) // per_cell] += 1
        out[kept] = i
        kept += 1
    return out[:kept]


@kernel
def flag_done(done: np.ndarray, probability: np.ndarray, key: np.uint64, day: int) -> np.ndarray:
    """For each attempt in `done` (that went ahead past the measures), the index into
    `probability` of the record kind it is flagged under (len(probability): none): under
    kind k with probability probability[k], under one at most. Drawn from stream `key`
    (a = day, the attempt's place in `done` the counter)."""
    cum = np.cumsum(probability)
    out = np.empty(len(done), np.int64)
    for p in range(len(done)):
        u = hash_uniform(key, day, p)
        k = 0
        while k < len(cum) and cum[k] <= u:
            k += 1
        out[p] = k
    return out


@kernel
def others_by_cell(
    present: np.ndarray,
    class_bits: int,
    draw: AttemptShare,
    reached_rate: np.ndarray,
    day: int,
    out: np.ndarray,
) -> None:
    """out[c] = the attempts on `day` of cell c's residents whom no measure or reward of
    the activity's domain reaches, and whose attempt is not flagged: Poisson with mean
    max(0, lam x sum over deciles d of mults[d] x the residents present in the
    eligible classes (bit k of class_bits: class k) - reached_rate[c]) x share (draw's:
    lam, attempts per resident per day; share, the share of attempts not flagged).

    present [cells, 10 deciles, 4 classes]: residents by group, less what chilling takes
    off their propensity; reached_rate [cells]: the expected attempts per day of the
    reached residents (draw_reached). Drawn from the counter-based stream draw.key (a =
    day, counters from c x CELL_STRIDE), so the count is the same in either loop."""
    lam, mults, unflagged, key = draw
    n_cells, n_deciles, n_classes = present.shape
    for c in range(n_cells):
        total = 0.0
        for d in range(n_deciles):
            people = 0.0
            for k in range(n_classes):
                if (class_bits >> k) & 1:
                    people += present[c, d, k]
            total += people * mults[d]
        mean = max(lam * total - reached_rate[c], 0.0) * unflagged
        out[c] = hash_poisson(key, day, np.int64(c) * CELL_STRIDE, mean)


@kernel
def count_others(
    acc: np.ndarray, cols: np.ndarray, posts: int, others: np.ndarray, base_wait: float
) -> None:
    """Count per cell the attempts that meet no measure (others[c]): in acc[c, cols[0]]
    (attempts), their wait of base_wait days each in acc[c, cols[5]] (wait_days), and
    in acc[c, posts] when they are posts (posts >= 0)."""
    for c in range(len(others)):
        k = others[c]
        if k == 0:
            continue
        acc[c, cols[0]] += k
        acc[c, cols[5]] += k * base_wait
        if posts >= 0:
            acc[c, posts] += k


@kernel
def count_done(acc: np.ndarray, cell: np.ndarray, done: np.ndarray, col: int) -> None:
    """Add 1 to acc[cell[i], col] for each i in `done` (one entry per attempt)."""
    for i in done:
        acc[cell[i], col] += 1.0


@kernel
def keep_high(ids: np.ndarray, risen: np.ndarray, score: np.ndarray, at_least: float) -> np.ndarray:
    """The residents (increasing int64 ids) whose score is at least `at_least` points,
    from yesterday's set `ids` and the subjects whose score records raised since
    (`risen`, with repeats): only records raise a score above the base."""
    fresh = np.unique(risen.astype(np.int64))
    cand = update_members(ids, fresh, np.ones(len(fresh), np.bool_))
    out = np.empty(len(cand), np.int64)
    m = 0
    for i in cand:
        if score[i] >= at_least:
            out[m] = i
            m += 1
    return out[:m]
