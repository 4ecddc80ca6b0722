"""Sets of ids kept as increasing arrays (int64): who is on some list, who a measure may
reach. A change merges the ids touched into the set, with no sort."""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel


@kernel
def update_members(members: np.ndarray, touched: np.ndarray, member_now: np.ndarray) -> np.ndarray:
    """A set of ids kept as an increasing array (int64), after a change: `touched`
    (increasing, no repeats) are members now where member_now is True, and not where
    it is False; every other member stays. One merge, no sort; the array returned may be
    a view of a longer one."""
    out = np.empty(len(members) + len(touched), np.int64)
    _, m = update_members_into(members, touched, member_now, out)
    return out[:m]


@kernel(inner=True)
def update_members_into(
    members: np.ndarray, touched: np.ndarray, member_now: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, int]:
    """update_members written into `out` (int64, not `members`), or into a larger array
    where out is too short (then made here); member_now empty: every one touched is a
    member now. Returns (that array, how many members)."""
    need = len(members) + len(touched)
    if need > len(out):
        out = np.empty(max(2 * len(out), need), np.int64)
    every = len(member_now) == 0
    i = j = m = 0
    while i < len(members) or j < len(touched):
        if j == len(touched) or (i < len(members) and members[i] < touched[j]):
            out[m] = members[i]
            m += 1
            i += 1
            continue
        t = touched[j]
        if i < len(members) and members[i] == t:
            i += 1
        if every or member_now[j]:
            out[m] = t
            m += 1
        j += 1
    return out, m
