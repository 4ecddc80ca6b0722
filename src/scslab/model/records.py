"""The record log: every record any department wrote, as growing struct-of-arrays.

A record is about a *subject* (the resident or enterprise the system files it under) and
keeps the *actor* (who really did it). An erroneous record names the wrong person or
wrong facts; the truth stays in the log, hidden from the rules, and is used only to
measure harm (wrongful sanctions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        self._by_day: dict[int, list[np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> np.ndarray:
        """A view of one column over the records written so far."""
        return self._cols[name][: self.n]

    def _reserve(self, k: int) -> None:
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
        self._reserve(k)
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
        self._by_day.setdefault(batch.effective_day, []).append(ids)
        return ids

    def extend(
        self,
        day: np.ndarray,
        kind: np.ndarray,
        subject: np.ndarray,
        actor: np.ndarray,
        erroneous: np.ndarray,
        status: int,
    ) -> None:
        """Add records that already took effect on the day they were written (no delay),
        all with `status` (compiled days write their records this way, in the order
        append() would have)."""
        k = len(day)
        self._reserve(k)
        sl = slice(self.n, self.n + k)
        cols = self._cols
        cols["day"][sl] = day
        cols["effective_day"][sl] = day
        cols["kind"][sl] = kind
        cols["subject"][sl] = subject
        cols["actor"][sl] = actor
        cols["erroneous"][sl] = erroneous
        cols["status"][sl] = status
        for name in UNSET_DAY_COLUMNS:
            cols[name][sl] = -1
        self.n += k

    def take_effective(self, day: int) -> np.ndarray:
        """Ids of the records that take effect on `day` (in the order they were written)."""
        parts = self._by_day.pop(day, [])
        if not parts:
            return np.zeros(0, np.int64)
        return np.concatenate(parts)

    def as_columns(self) -> dict[str, np.ndarray]:
        """Every column, trimmed to the records written."""
        return {name: col[: self.n] for name, col in self._cols.items()}
