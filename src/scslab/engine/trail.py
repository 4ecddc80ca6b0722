"""The harm trail: what the harm figures and `explain` need of a run beyond its daily
group totals.

A collector beside collectors.py's: it keeps every listing change (who entered or left
which list on which day, whether wrongfully, why each exit happened; the run's listings
table) and, per resident, the days spent wrongfully blacklisted, the first day income
was lost to a sanction and how many times (the per-agent residents table's harm
columns).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scslab.kernelcache import kernel
from scslab.model.lists import EXIT_REASONS, Changes, ListState


@kernel
def count_wrongful_days(
    mask: np.ndarray,
    wrongful: np.ndarray,
    black_bits: int,
    rep_mask: np.ndarray,
    rep_wrongful: np.ndarray,
    rep_black_bits: int,
    days_wrongful: np.ndarray,
) -> None:
    """Add a day to every resident whose blacklistings (own, or of a firm they represent)
    all rest on erroneous records (days). Eight residents are tested at a time (few are
    on a list)."""
    n = len(mask)
    n_words = n // 8
    mask64 = mask[: 8 * n_words].view(np.uint64)
    rep64 = rep_mask[: 8 * n_words].view(np.uint64)
    for w in range(n_words + 1):
        if w < n_words and (mask64[w] | rep64[w]) == 0:
            continue
        for i in range(8 * w, min(8 * w + 8, n)):
            own = mask[i] & black_bits
            rep = rep_mask[i] & rep_black_bits
            if (own or rep) and (own & ~wrongful[i]) == 0 and (rep & ~rep_wrongful[i]) == 0:
                days_wrongful[i] += 1


class HarmTrail:
    """What the harm metrics and `explain` need beyond daily group totals.

    - every listing change (day, subject kind, subject, list, entered, wrongful, reason);
    - per resident, days spent wrongfully blacklisted (every applicable blacklisting rests
      on erroneous records; counted at the start of each day) and the first day they lost
      income to a sanction (-1 = never). Per-resident arrays are kept only when
      `per_agent` (the run writes per-agent tables).
    """

    def __init__(self, n_residents: int, per_agent: bool) -> None:
        self.per_agent = per_agent
        n = n_residents if per_agent else 0
        self.days_wrongful = np.zeros(n, np.int16)
        self.first_shock_day = np.full(n, -1, np.int16)
        self.income_shocks = np.zeros(n, np.int16)
        self._changes: list[tuple[int, int | np.ndarray, Changes]] = []

    def listing_changes(self, side: int, day: int | np.ndarray, changes: Changes) -> None:
        """Keep listing changes of one subject kind (0 residents, 1 enterprises): of one
        day, or of many with `day` one per change."""
        if len(changes):
            self._changes.append((side, day, changes))

    def count_day(
        self,
        res_state: ListState,
        res_black: int,
        rep_mask: np.ndarray,
        rep_wrongful: np.ndarray,
        ent_black: int,
    ) -> None:
        """Add today to the wrongful days of the residents wrongfully blacklisted now."""
        if self.per_agent:
            count_wrongful_days(
                res_state.mask,
                res_state.wrongful,
                res_black,
                rep_mask,
                rep_wrongful,
                ent_black,
                self.days_wrongful,
            )

    def listings_frame(self, res_lists: list[str], ent_lists: list[str]) -> pd.DataFrame:
        """The listing log: day, subject_type, subject, list, entered, wrongful, reason
        (an exit's, one of lists.EXIT_REASONS; empty for an entry)."""
        names = [res_lists, ent_lists]
        reasons = np.full(256, "", object)
        reasons[: len(EXIT_REASONS)] = EXIT_REASONS
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("day", "st", "subject", "list")}
        cols.update(entered=[], wrongful=[], reason=[])
        for side, day, ch in self._changes:
            n = len(ch)
            cols["day"].append(np.broadcast_to(np.asarray(day, np.int16), (n,)))
            cols["st"].append(np.full(n, side, np.int8))
            cols["subject"].append(ch.subject.astype(np.int32))
            cols["list"].append(np.array(names[side], dtype=object)[ch.bit.astype(np.int64)])
            cols["entered"].append(ch.entered.astype(bool))
            cols["wrongful"].append(ch.wrongful.astype(bool))
            cols["reason"].append(reasons[ch.reason])
        if not self._changes:
            return pd.DataFrame(
                {
                    "day": np.zeros(0, np.int16),
                    "subject_type": np.zeros(0, object),
                    "subject": np.zeros(0, np.int32),
                    "list": np.zeros(0, object),
                    "entered": np.zeros(0, bool),
                    "wrongful": np.zeros(0, bool),
                    "reason": np.zeros(0, object),
                }
            )
        st = np.concatenate(cols["st"])
        return pd.DataFrame(
            {
                "day": np.concatenate(cols["day"]),
                "subject_type": np.where(st == 0, "resident", "enterprise"),
                "subject": np.concatenate(cols["subject"]),
                "list": np.concatenate(cols["list"]),
                "entered": np.concatenate(cols["entered"]),
                "wrongful": np.concatenate(cols["wrongful"]),
                "reason": np.concatenate(cols["reason"]),
            }
        )
