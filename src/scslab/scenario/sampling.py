"""Compiled draws the population is built with: categorical picks from cumulative tables,
and counting sorts that group ids by a key.

Each returns exactly what its numpy equivalent would (`Generator.choice`'s table,
`np.searchsorted`), faster for the sizes a whole city needs.
"""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel


def cumulative(p: np.ndarray | list[float]) -> np.ndarray:
    """The cumulative table `Generator.choice(..., p=p)` searches (float64, last entry 1)."""
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


@kernel
def search_sorted(cdf: np.ndarray, x: np.ndarray, scale: float, right: bool) -> np.ndarray:
    """`np.searchsorted(cdf, x * scale, side)` for many unsorted x, through a guide table.

    Exactly the numpy result (the guide table only picks where the scan starts), in
    O(1) expected memory reads per x instead of a binary search over a large `cdf`.
    Returns int64 positions.
    """
    m = len(cdf)
    out = np.empty(len(x), np.int64)
    if m == 0:
        out[:] = 0
        return out
    top = cdf[m - 1]
    n_guide = m
    guide = np.empty(n_guide, np.int64)
    step = top / n_guide if top > 0 else 1.0
    j = 0
    for k in range(n_guide):
        t = k * step
        while j < m - 1 and cdf[j] <= t:
            j += 1
        guide[k] = j
    inv = n_guide / top if top > 0 else 0.0
    for i in range(len(x)):
        v = x[i] * scale
        k = int(v * inv) if v > 0 else 0
        j = guide[min(max(k, 0), n_guide - 1)]
        if right:
            while j > 0 and cdf[j - 1] > v:
                j -= 1
            while j < m and cdf[j] <= v:
                j += 1
        else:
            while j > 0 and cdf[j - 1] >= v:
                j -= 1
            while j < m and cdf[j] < v:
                j += 1
        out[i] = j
    return out


@kernel(inner=True)
def pick(cdf: np.ndarray, u: float) -> int:
    """`np.searchsorted(cdf, u, side="right")` for a short table and u in [0, 1)."""
    k = 0
    while k < len(cdf) - 1 and cdf[k] <= u:
        k += 1
    return k


@kernel
def group_by(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counting sort by key (keys < 0 dropped): ids in key order, offsets of each key,
    and each id's rank within its key's group (-1 where the key is < 0)."""
    counts = np.zeros(n_groups + 1, np.int64)
    for k in keys:
        if k >= 0:
            counts[k + 1] += 1
    offsets = np.cumsum(counts)
    pos = offsets[:-1].copy()
    order = np.empty(offsets[-1], np.int32)
    rank = np.full(len(keys), -1, np.int32)
    for i in range(len(keys)):
        k = keys[i]
        if k >= 0:
            order[pos[k]] = i
            rank[i] = pos[k] - offsets[k]
            pos[k] += 1
    return order, offsets, rank


@kernel
def draw_by_group(
    rng: np.random.Generator, keys: np.ndarray, weights: np.ndarray, count: int
) -> np.ndarray:
    """`count` ids (int32, with replacement), each id drawn with probability proportional
    to `weights[keys[id]]`; ids with a key < 0 are never drawn. Picks the group by its
    total weight, then an id uniformly within the group."""
    order, offsets, _ = group_by(keys, len(weights))
    mass = np.empty(len(weights), np.float64)
    for g in range(len(weights)):
        mass[g] = weights[g] * (offsets[g + 1] - offsets[g])
    cdf = np.cumsum(mass)
    cdf /= cdf[-1]
    out = np.empty(count, np.int32)
    for k in range(count):
        g = pick(cdf, rng.random())
        size = offsets[g + 1] - offsets[g]
        out[k] = order[offsets[g] + min(int(rng.random() * size), size - 1)]
    return out
