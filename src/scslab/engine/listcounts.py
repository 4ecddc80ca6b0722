"""The counts of listing changes, one kernel for both loops.

A day's listing changes (model/lists.Changes) are counted into the rows of the day's
metrics: entries (new_listings), wrongful entries (new_listings_wrongful), exits
(exits) and exits by their reason (exits_<reason>, one family per
model/lists.EXIT_REASONS, which sum to exits); and the subjects entering a list for the
first time into running counts per row and list, which each day's row receives whole
(ever_listed: distinct subjects ever on the list, up to and including the day). The
general loop counts into cells (each cell its own row) and sums them into groups at
the end of the day; compiled days count straight into the groups of each subject's
cell: the counts are whole numbers, so both give the same groups bit for bit.
"""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import ByGroup, ChangeColumns
from scslab.model.lists import EXIT_REASONS

CHANGE_FAMILIES = (
    "new_listings",
    "new_listings_wrongful",
    "exits",
    *(f"exits_{reason}" for reason in EXIT_REASONS),
)
"""The metric families of listing changes, in the order of count_changes' columns."""


@kernel
def count_changes(
    changes: ChangeColumns,
    into: ByGroup,
    columns: np.ndarray,
    ever: np.ndarray,
    ever_counts: np.ndarray,
) -> None:
    """Count listing changes (the columns of a Changes, in order) into the rows of
    into.row of each subject's cell c (into.cell), rows_indices[rows_indptr[c]:
    rows_indptr[c + 1]] of into: 1 in columns[f, list] of each family f of
    CHANGE_FAMILIES that the change counts in (an entry: new_listings, and
    new_listings_wrongful if wrongful; an exit: exits and exits_<its reason>). An entry
    onto a list that the subject's bit in `ever` (uint8 per subject, bit = list; set
    here) says it never was on adds 1 to ever_counts[row, list] of the same rows."""
    subject, bit, entered, wrongful, reason = changes
    out, cell, rows_indptr, rows_indices = into
    for c in range(len(subject)):
        i = subject[c]
        b = np.int64(bit[c])
        flag = np.uint8(1 << b)
        first = entered[c] and not (ever[i] & flag)
        if first:
            ever[i] |= flag
        cl = cell[i]
        for q in range(rows_indptr[cl], rows_indptr[cl + 1]):
            g = rows_indices[q]
            row = out[g]
            if entered[c]:
                row[columns[0, b]] += 1.0
                if wrongful[c]:
                    row[columns[1, b]] += 1.0
                if first:
                    ever_counts[g, b] += 1.0
            else:
                row[columns[2, b]] += 1.0
                row[columns[3 + np.int64(reason[c]), b]] += 1.0
