"""The score columns of compiled days (engine/compiled.py), counted a day at a time at
the end of each day or a chunk of days behind in a worker thread (engine/loops.py)."""

from __future__ import annotations

import numpy as np

from scslab.engine.collectors import tally_scores
from scslab.engine.containers import Grading, RunningCounts, TallyArgs
from scslab.kernelcache import kernel


@kernel(nogil=True)
def tally_days(first_day: int, snapshots: np.ndarray, tally: TallyArgs) -> None:
    """The score columns of the days from first_day on, one day per row of snapshots
    (scores in points, as run_days() keeps them): the score tally of each day
    (tally_scores) summed into its groups' values[day][:, score_columns] (the score sum,
    then the grades), and the day's histogram into hist[day]. acc: scratch [cells, 3 +
    len(score_columns) rounded up to a multiple of 4], into which tally_scores counts
    (the score sum in column 3, the grades from column 4; the columns after them stay
    zero). counted, bin_counts and grade_counts: the collector's running counts
    (collectors.BinCounts), which each day's tally brings up to date (one tally at a time
    per collector). Releases the GIL, so that it can run in another thread while
    run_days() goes on with the next days. The group sums are the general loop's, bit
    for bit: each group's cells added in order from 0.0, four columns at a time (in
    registers, so that no column waits for the one before)."""
    (
        cell,
        upper_floors,
        grade_of_bin,
        common_grade,
        cell_count,
        hist_lo,
        score_columns,
        acc,
        counted,
        bin_counts,
        grade_counts,
        group_indptr,
        group_indices,
        values,
        hist,
    ) = tally
    grading = Grading(cell, upper_floors, grade_of_bin, common_grade, cell_count, hist_lo)
    running = RunningCounts(counted, bin_counts, grade_counts)
    n_columns = len(score_columns)
    for d in range(len(snapshots)):
        day = first_day + d
        acc[:] = 0.0
        tally_scores(snapshots[d], grading, running, 4, acc, hist[day])
        for g in range(len(group_indptr) - 1):
            out = values[day, g]
            for k0 in range(0, n_columns, 4):
                t0 = t1 = t2 = t3 = 0.0
                for j in range(group_indptr[g], group_indptr[g + 1]):
                    row = acc[group_indices[j]]
                    t0 += row[3 + k0]
                    t1 += row[4 + k0]
                    t2 += row[5 + k0]
                    t3 += row[6 + k0]
                totals = (t0, t1, t2, t3)
                for k in range(k0, min(k0 + 4, n_columns)):
                    out[score_columns[k]] = totals[k - k0]
