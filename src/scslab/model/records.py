"""The record log: every record any department wrote, as growing struct-of-arrays.

A record is about a *subject* (the resident or enterprise the system files it under) and
keeps the *actor* (who really did it). An erroneous record names the wrong person or
wrong facts; the truth stays in the log, hidden from the rules, and is used only to
measure harm (wrongful sanctions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scslab.kernelcache import kernel

PENDING, ACTIVE, EXPIRED, CORRECTED, REPAIRED = 0, 1, 2, 3, 4
"""Record status: waiting out its reporting delay, counting, expired, withdrawn on appeal
(corrected when erroneous, overturned when true), ended early by credit repair."""
STATUS_NAMES = ("pending", "active", "expired", "corrected", "repaired")

COLUMNS: dict[str, type] = {
    "day": np.int16,  # day the behaviour happened (or was alleged to)
    "effective_day": np.int16,  # day the record reaches the system
    "kind": np.uint8,  # index into the scenario's record kinds
    "subject": np.int32,  # resident or enterprise id the record is filed under
    "actor": np.int32,  # who really did it (== subject unless erroneous wrong-person)
    "erroneous": np.bool_,  # wrong person or wrong facts
    "status": np.uint8,  # PENDING, ACTIVE, EXPIRED, CORRECTED or REPAIRED
    # Due process (see dueprocess.py); -1 = did not happen:
    "notice_day": np.int16,  # day the subject is notified
    "appeal_day": np.int16,  # day the subject appealed
    "decision_day": np.int16,  # day the appeal was decided
    "end_day": np.int16,  # day the record stopped counting (expired, withdrawn, repaired)
}
UNSET_DAY_COLUMNS = ("notice_day", "appeal_day", "decision_day", "end_day")


class LogColumns(NamedTuple):
    """The columns of the record log that the day's kernels write (the whole arrays,
    capacity included: see RecordLog.kernel_columns)."""

    day: np.ndarray  # int16
    effective_day: np.ndarray  # int16
    kind: np.ndarray  # uint8
    subject: np.ndarray  # int32
    actor: np.ndarray  # int32
    erroneous: np.ndarray  # bool
    status: np.ndarray  # uint8
    end_day: np.ndarray  # int16
    notice_day: np.ndarray  # int16
    appeal_day: np.ndarray  # int16
    decision_day: np.ndarray  # int16


KERNEL_COLUMNS = LogColumns._fields


@kernel
def take_effective_into(
    effective_day: np.ndarray, first: int, n: int, day: int, out: np.ndarray
) -> tuple[int, int]:
    """The ids in [first, n) of the records whose effective_day is `day`, in the order
    they were written, into `out` (at least n - first long). Returns (how many, the new
    `first`: the first id at or after `first` whose effective day is after `day`; every
    record before it has taken effect). The records before `first` must all have taken
    effect already."""
    m = 0
    after = n
    for i in range(first, n):
        e = effective_day[i]
        if e == day:
            out[m] = i
            m += 1
        elif e > day and after == n:
            after = i
    return m, after


@dataclass
class RecordBatch:
    """New records from one mechanism on one day (arrays of equal length)."""

    kind: int
    day: int
    effective_day: int
    subject: np.ndarray
    actor: np.ndarray
    erroneous: np.ndarray

    def __len__(self) -> int:
        return len(self.subject)


class RecordLog:
    """Append-only log of records with amortised O(1) growth and a schedule by day."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self._cols: dict[str, np.ndarray] = {
            name: np.zeros(capacity, dtype) for name, dtype in COLUMNS.items()
        }
        self.first_pending = 0
        """Every record before this id has taken effect (take_effective)."""

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> np.ndarray:
        """A view of one column over the records written so far."""
        return self._cols[name][: self.n]

    def reserve(self, k: int) -> None:
        """Room for k more records (capacity at least doubled when it grows)."""
        if self.n + k > len(self._cols["day"]):
            capacity = max(2 * len(self._cols["day"]), self.n + k)
            for name, col in self._cols.items():
                grown = np.zeros(capacity, col.dtype)
                grown[: self.n] = col[: self.n]
                self._cols[name] = grown

    def append(self, batch: RecordBatch) -> np.ndarray:
        """Add a batch; returns the new records' ids. They take effect on effective_day."""
        k = len(batch)
        self.reserve(k)
        sl = slice(self.n, self.n + k)
        cols = self._cols
        cols["day"][sl] = batch.day
        cols["effective_day"][sl] = batch.effective_day
        cols["kind"][sl] = batch.kind
        cols["subject"][sl] = batch.subject
        cols["actor"][sl] = batch.actor
        cols["erroneous"][sl] = batch.erroneous
        cols["status"][sl] = PENDING
        for name in UNSET_DAY_COLUMNS:
            cols[name][sl] = -1
        ids = np.arange(self.n, self.n + k, dtype=np.int64)
        self.n += k
        return ids

    def kernel_columns(self) -> LogColumns:
        """The columns a compiled loop writes records into (the whole arrays, capacity
        included; give them back with adopt())."""
        return LogColumns(*(self._cols[name] for name in KERNEL_COLUMNS))

    def adopt(self, columns: LogColumns, n: int, first_pending: int) -> None:
        """Take back the columns of kernel_columns(), grown or not, with records written
        up to `n` (each written with its day, effective_day, kind, subject, actor,
        erroneous, status and its due-process and end days) and take_effective's
        `first_pending`; any other column grows to their capacity, its new records'
        days unset (-1)."""
        capacity = len(columns.day)
        for name, col in zip(KERNEL_COLUMNS, columns, strict=True):
            self._cols[name] = col
        for name, col in self._cols.items():
            if name in KERNEL_COLUMNS:
                continue
            if len(col) < capacity:
                grown = np.zeros(capacity, col.dtype)
                grown[: self.n] = col[: self.n]
                self._cols[name] = col = grown
            if name in UNSET_DAY_COLUMNS:
                col[self.n : n] = -1
        self.n, self.first_pending = n, first_pending

    def take_effective(self, day: int) -> np.ndarray:
        """Ids of the records that take effect on `day` (in the order they were written:
        take_effective_into). Call it for every day in turn."""
        out = np.empty(self.n - self.first_pending, np.int64)
        m, self.first_pending = take_effective_into(
            self.column("effective_day"), self.first_pending, self.n, day, out
        )
        return out[:m]

    def as_columns(self) -> dict[str, np.ndarray]:
        """Every column, trimmed to the records written."""
        return {name: col[: self.n] for name, col in self._cols.items()}
