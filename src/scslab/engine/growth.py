"""Arrays that compiled days (engine/compiled.py) grow as they fill: each kernel here
returns the arrays it was given, or copies twice as large (or more) when `need`
entries do not fit, the first `used` entries kept."""

from __future__ import annotations

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import ChangeColumns
from scslab.model.dueprocess_kernels import grown_to
from scslab.model.points import ExpiryQueue
from scslab.model.records import LogColumns


@kernel
def grow(a: np.ndarray, used: int, need: int) -> np.ndarray:
    """a, or a copy twice as large (or more) when `need` entries do not fit (the model's
    grown_to(), the new entries zero)."""
    return grown_to(a, used, need, 0)


@kernel
def grow_log(columns: LogColumns, used: int, need: int) -> LogColumns:
    """grow() for each column the day's kernels write of the record log."""
    return LogColumns(
        grow(columns.day, used, need),
        grow(columns.effective_day, used, need),
        grow(columns.kind, used, need),
        grow(columns.subject, used, need),
        grow(columns.actor, used, need),
        grow(columns.erroneous, used, need),
        grow(columns.status, used, need),
        grow(columns.end_day, used, need),
        grow(columns.notice_day, used, need),
        grow(columns.appeal_day, used, need),
        grow(columns.decision_day, used, need),
    )


@kernel(inner=True)
def grow_queue(queue: ExpiryQueue, used: int, need: int) -> ExpiryQueue:
    """grow() for each column of the expiry queue."""
    return ExpiryQueue(
        grow(queue.day, used, need),
        grow(queue.record, used, need),
        grow(queue.subject, used, need),
        grow(queue.points, used, need),
        grow(queue.age, used, need),
        grow(queue.erroneous, used, need),
    )


@kernel(inner=True)
def grow_changes(columns: tuple, used: int, need: int) -> tuple:
    """grow() for each of the six columns of the listing changes (day, subject, bit,
    entered, wrongful, reason)."""
    return (
        grow(columns[0], used, need),
        grow(columns[1], used, need),
        grow(columns[2], used, need),
        grow(columns[3], used, need),
        grow(columns[4], used, need),
        grow(columns[5], used, need),
    )


@kernel(inner=True)
def grow_scratch(out: ChangeColumns, used: int, need: int) -> ChangeColumns:
    """grow() for each column of the lists' scratch of a day's changes."""
    return ChangeColumns(
        grow(out.subject, used, need),
        grow(out.bit, used, need),
        grow(out.entered, used, need),
        grow(out.wrongful, used, need),
        grow(out.reason, used, need),
    )
