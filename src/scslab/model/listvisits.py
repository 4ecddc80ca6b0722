"""Which agents the lists' daily update visits (lists._daily): an agent on no list whose
score is inside the band where no score rule holds cannot change, so the update visits
the listed agents and the runs of eight agents (ids 8k to 8k + 7) in which a score may
have left that band, as drift marks them (scoring.mark_outside) or as found here
(busy_octets); with score rules only, listed agents only where a verdict may change
(mark_leaving)."""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.prefetch import AHEAD, prefetch


@kernel(fastmath=True)
def busy_octets(mask: np.ndarray, score: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """For each run of eight agents (ids 8k to 8k + 7), whether one of them is on a list
    or has a score outside [lo, hi) (points): the others cannot change in the lists'
    daily update. A branch-free pass that the compiler vectorises (fastmath lets it
    reorder the min and max, which are exact; scores and bounds must be finite numbers,
    as fastmath assumes); a last, partial run counts as busy."""
    n = len(mask)
    n_oct = n // 8
    words = mask[: 8 * n_oct].view(np.uint64)
    busy = np.ones(n_oct + 1, np.bool_)
    for k in range(n_oct):
        low = score[8 * k]
        high = score[8 * k]
        for j in range(8 * k + 1, 8 * k + 8):
            low = min(low, score[j])
            high = max(high, score[j])
        busy[k] = (words[k] != 0) | (low < lo) | (high >= hi)
    return busy


@kernel
def agents_to_visit(
    listed: np.ndarray,
    runs: np.ndarray,
    score: np.ndarray,
    lo: float,
    hi: float,
    every_listed: bool = True,
) -> np.ndarray:
    """The agents in `listed` (increasing; with every_listed, else only those in runs
    that are set) and those with a score outside [lo, hi) (points) in every run of
    eight k (ids 8k to 8k + 7) where runs[k] is set: one increasing array (int64), no
    repeats. (An agent on no list with a score in the band is left alone by the lists'
    daily update.)"""
    out, m = agents_to_visit_into(listed, runs, score, lo, hi, every_listed, np.empty(0, np.int64))
    return out[:m]


@kernel(inner=True)
def agents_to_visit_into(
    listed: np.ndarray,
    runs: np.ndarray,
    score: np.ndarray,
    lo: float,
    hi: float,
    every_listed: bool,
    out: np.ndarray,
) -> tuple[np.ndarray, int]:
    """agents_to_visit written into `out` (int64), or into a larger array where out
    is too short for them (then made here): returns (that array, how many agents).

    Few runs are set on most days, each a subject of a record or so, whose scores sit
    in a line of memory of their own: the set runs are found first, reading the runs
    eight at a time (one uint64), and kept after the room for the agents (with 8 places
    to spare: each of a word's runs is written there, and kept only if set, without a
    branch); the scores of the run AHEAD places ahead are then prefetched while a run is
    visited."""
    n = len(score)
    n_runs = 0
    for k in range(len(runs)):
        n_runs += runs[k]
    need = len(listed) + 8 * n_runs
    if need + n_runs + 8 > len(out):
        out = np.empty(max(2 * len(out), need + n_runs + 8), np.int64)
    set_runs = out[need : need + n_runs + 8]
    r = 0
    n_words = len(runs) // 8
    words = runs[: 8 * n_words].view(np.uint64)
    for w in range(n_words):
        if words[w] == 0:
            continue
        for k in range(8 * w, 8 * w + 8):
            set_runs[r] = k
            r += runs[k]
    for k in range(8 * n_words, len(runs)):
        set_runs[r] = k
        r += runs[k]
    m = i = 0
    for r in range(n_runs):
        if r + AHEAD < n_runs and n:
            prefetch(score, min(8 * set_runs[r + AHEAD], n - 1))
        k = set_runs[r]
        run_lo, run_hi = 8 * k, min(8 * k + 8, n)
        while i < len(listed) and listed[i] < run_lo:
            if every_listed:
                out[m] = listed[i]
                m += 1
            i += 1
        for a in range(run_lo, run_hi):
            if i < len(listed) and listed[i] == a:
                out[m] = a
                m += 1
                i += 1
            elif score[a] < lo or score[a] >= hi:
                out[m] = a
                m += 1
    if every_listed:
        for j in range(i, len(listed)):
            out[m] = listed[j]
            m += 1
    return out, m


@kernel
def mark_leaving(
    listed: np.ndarray, score: np.ndarray, mask: np.ndarray, stay: np.ndarray, runs: np.ndarray
) -> None:
    """Set runs[i >> 3] for every agent i in `listed` whose score (points) is outside
    the stay band of its list mask (stay: ListRules.stay_bands): one of its score
    rules' verdicts has changed. (With score rules only, a listed agent is otherwise
    left as it is by the lists' daily update, unless it has erroneous points.) The
    fields of the agent AHEAD places ahead are prefetched."""
    for j in range(len(listed)):
        if j + AHEAD < len(listed):
            ahead = listed[j + AHEAD]
            prefetch(score, ahead)
            prefetch(mask, ahead)
        i = listed[j]
        m = mask[i]
        v = score[i]
        if v < stay[m, 0] or v >= stay[m, 1]:
            runs[i >> 3] = True
