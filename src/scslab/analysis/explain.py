"""One synthetic resident's history, replayed from a run directory by the model's own code.

A run stores every record (records.parquet, with its hidden truth and due-process days)
and every listing change (listings.parquet), but not each resident's score on each day.
`explain` replays the resident's days with the engine's rules and kernels, applied to a
state of one agent, in the engine's order:

    scoring     Scorer.drift, Scorer.apply, Scorer.expire         (scoring.py)
    due process DueProcessState.keep_triggers, DueProcessState.end (dueprocess.py)
    lists       enlist, daily_update                               (lists.py)

compiled as the engine compiles them (RecordKinds, ScoreRules, ListRules and
DueProcessRules .compile) and fed that resident's records, so the score at the end of
each day and every listing entry and exit are the model's, not a second implementation.
Two quantities cannot be replayed for one resident alone and are read from the run:

- the outcome of due process (which record was withdrawn on appeal or repaired, and on
  which day): its draws depend on the whole run's state; the records table keeps it;
- the association penalty: it counts the resident's blacklisted contacts, whose listings
  depend on their own records. The synthetic city is a pure function of (population
  section, residents, seed), so it is drawn again to find the contacts, and their
  blacklistings are read from the listing log.

The listings of the firms they represent (which reach them as legal representative) are
read from the listing log too: they follow the firms' own records.

The replay is checked against what the run stored (the final score, bit for bit; the
resident's listing changes; each record's final status; the lists they end on); where it
differs or cannot be made (no listing log, a city too large to redraw) the explanation
says it is approximate and why.

The decisive record of a listing answers "without it, would they have been listed?": the
model is replayed without that record (everything else as it was) up to the day of
listing, and the record is decisive when the resident is then not on the list that day.
Likewise, "listed without erroneous records?" replays the model without every erroneous
record of theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scslab.analysis.harm import RunError, listing_episodes, open_run
from scslab.analysis.replay import (
    Model,
    Replay,
    blacklisted_contacts,
    contacts_of,
    differences,
    replay,
)
from scslab.model.scoring import enrolment_order, has_rollout
from scslab.scenario.schema import Scenario


@dataclass
class Explanation:
    """What happened to one synthetic resident in one run (days are simulation days)."""

    run: str
    resident: int
    attributes: dict[str, Any]
    records: list[dict[str, Any]]
    score: list[float]  # replayed score at the end of each day (points, to 0.001)
    final_score_stored: float | None
    listings: list[dict[str, Any]]  # replayed listing episodes, with decisive records
    firms: list[dict[str, Any]]
    sanctions: dict[str, Any]
    appeals: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    picked: str | None = None  # why this resident, when chosen with --pick

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Pick:
    """A way to choose a resident worth explaining: the one with the most of the first
    column of the residents table, then of the next (ties: the lowest id), among those
    with any of them."""

    who: str  # those with any of it, in words
    columns: tuple[tuple[str, str], ...]  # (column, what it counts in words)


PICKS = {
    "wrongful": Pick(
        "with a wrongful sanction",
        (
            ("days_wrongfully_blacklisted", "days wrongfully blacklisted"),
            ("wrongful_blocked_attempts", "attempts wrongfully blocked"),
        ),
    ),
    "listed": Pick("ever blacklisted", (("days_blacklisted", "days blacklisted"),)),
    "blocked": Pick("with an attempt blocked", (("blocked_attempts", "attempts blocked"),)),
    "erroneous": Pick("with an erroneous record", (("erroneous_records", "erroneous records"),)),
    "records": Pick("with a record", (("records", "records"),)),
}
"""The choices of `scslab explain RUN --pick WHAT`."""


def pick_resident(residents: pd.DataFrame, what: str, run: str | Path) -> tuple[int, str]:
    """The id of the resident with the most of PICKS[what] (ties: the lowest id) and a
    line saying why; RunError when no resident of the run at `run` has any of it."""
    rule = PICKS[what]
    columns = [c for c, _ in rule.columns]
    missing = [c for c in columns if c not in residents.columns]
    if missing:
        raise RunError(f"{run}: residents.parquet has no {missing[0]} column")
    counts = residents[columns].to_numpy(np.int64)
    has = np.flatnonzero(counts.max(axis=1) > 0)
    if not len(has):
        raise RunError(
            f"{run}: no synthetic resident {rule.who} in this run (--pick {what}); "
            "a larger or longer run may have one"
        )
    # lexsort sorts by its last key first: most of columns[0], then the next, then lowest id
    keys = [has] + [-counts[has, k] for k in reversed(range(len(columns)))]
    best = int(has[np.lexsort(keys)[0]])
    most = ", then ".join(
        f"{words} ({int(counts[best, k])})" for k, (_, words) in enumerate(rule.columns)
    )
    why = (
        f"picked with --pick {what}: resident {best} has the most {most}, of the "
        f"{len(has):,} resident(s) {rule.who}"
    )
    return best, why


def explain(path: str | Path, resident: int | None = None, pick: str | None = None) -> Explanation:
    """Reconstruct the history of synthetic resident `resident` in the run at `path`, or
    of the resident that `pick` (a key of PICKS) chooses."""
    run, sc = open_run(path)
    residents = run.tables["residents"]
    n = len(residents)
    picked = None
    if pick is not None:
        resident, picked = pick_resident(residents, pick, path)
    if resident is None:
        raise RunError("RESIDENT: give a resident's id or a pick")
    if not 0 <= resident < n:
        raise RunError(f"RESIDENT: no synthetic resident {resident} in {path} (ids 0 to {n - 1})")
    days = int(run.manifest["days"])
    row = residents.iloc[resident]
    attributes = {
        str(k): (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
        for k, v in row.items()
        if not str(k).startswith(("on_", "wrongful_")) or bool(v)
    }
    rec = run.tables["records"]
    mine = rec[(rec["subject_type"] == "resident") & (rec["subject"] == resident)]
    mine = mine.sort_values(["effective_day", "id"]).reset_index(drop=True)
    listings = run.tables.get("listings")
    notes: list[str] = []
    exact = True

    # ---- the model, replayed
    seed = int(run.manifest["seed"])
    if sc.burn_in_days:
        exact = False
        notes.append(
            f"the run's {sc.burn_in_days}-day burn-in is not in its tables: the replay starts "
            "from day 0 without it, approximate"
        )
    models = Model.by_day(sc, seed)  # the rules in force from each day (the timeline)
    model = models[0]
    place = enrolment_order(seed, n)[resident] if has_rollout(sc) else 0.0
    contacts_black = None
    if sc.scoring is not None and sc.scoring.association_penalty > 0:
        if listings is None:
            exact = False
            notes.append(
                "no listing log in this run: association penalties are left out of the "
                "score, which is approximate"
            )
        else:
            contacts = contacts_of(sc, run.manifest, resident)
            if contacts is None:
                exact = False
                notes.append("the city is too large to redraw: association penalties left out")
            else:
                contacts_black = blacklisted_contacts(sc, contacts, listings, days)

    def replay_to(end: int, leave_out: Collection[int] = ()) -> Replay:
        """The resident's first `end` days replayed, without the records `leave_out`."""
        return replay(models, mine, resident, end, contacts_black, leave_out, place)

    rp = replay_to(days)
    score = [round(float(x), 3) for x in rp.score]
    stored = float(row["score"]) if "score" in row else None
    if sc.scoring is None:
        notes.append("the scenario has no points layer for residents: no score")
    differ = differences(rp, mine, row, listings, resident, model.lists, days)
    if differ:
        exact = False
        notes.append("the replay differs from the run: " + "; ".join(differ))

    # ---- records
    records: list[dict[str, Any]] = []
    for r in mine.itertuples():
        records.append(
            {
                "id": int(r.id),
                "day": int(r.day),
                "effective_day": int(r.effective_day),
                "department": str(r.department),
                "kind": str(r.kind),
                "points": float(r.points),
                "truth": "erroneous" if r.erroneous else "true",
                "wrong_person": bool(r.erroneous and r.actor != r.subject),
                "status": str(r.status),
                "notice_day": int(r.notice_day),
                "appeal_day": int(r.appeal_day),
                "decision_day": int(r.decision_day),
                "end_day": int(r.end_day),
            }
        )
    others = rec[
        (rec["subject_type"] == "resident")
        & (rec["actor"] == resident)
        & (rec["subject"] != resident)
    ]
    if len(others):
        notes.append(
            f"{len(others)} record(s) of this resident's own behaviour were filed against "
            "someone else (wrong person)"
        )

    # ---- listings (replayed) and their decisive records
    own = rp.changes.assign(subject_type="resident", subject=resident)
    out_listings = [
        _describe_episode(sc, model.lists.names, e, mine, days, replay_to)
        for e in listing_episodes(own, days - 1).sort_values("start", kind="stable").itertuples()
    ]
    episodes = listing_episodes(listings, days - 1) if listings is not None else None
    if episodes is None:
        notes.append("no listing log in this run: the firms' listings are not shown")

    # ---- firms they represent
    firms = []
    ents = run.tables.get("enterprises")
    if ents is not None and episodes is not None:
        for f in ents[ents["legal_rep"] == resident].itertuples():
            fep = episodes[
                (episodes["subject_type"] == "enterprise") & (episodes["subject"] == f.id)
            ]
            frec = rec[(rec["subject_type"] == "enterprise") & (rec["subject"] == f.id)]
            firms.append(
                {
                    "enterprise": int(f.id),
                    "records": len(frec),
                    "erroneous_records": int(frec["erroneous"].sum()),
                    "listings": [
                        {
                            "list": str(x.list),
                            "start": int(x.start),
                            "end": int(x.end),
                            "wrongful": bool(x.wrongful),
                            "measures_on_you": _measures(sc, str(x.list)),
                        }
                        for x in fep.itertuples()
                    ],
                }
            )

    sanctions = {
        "days_blacklisted": int(row.get("days_blacklisted", 0)),
        "days_wrongfully_blacklisted": int(row.get("days_wrongfully_blacklisted", 0)),
        "blocked_attempts": int(row.get("blocked_attempts", 0)),
        "wrongful_blocked_attempts": int(row.get("wrongful_blocked_attempts", 0)),
        "income_shocks": int(row.get("income_shocks", 0)),
        "first_income_shock_day": int(row.get("first_income_shock_day", -1)),
        "income_factor_at_end": float(row.get("income_factor", 1.0)),
    }
    # Notices and appeals are planned ahead; count only those that fell within the run.
    notified = [r for r in records if 0 <= r["notice_day"] < days]
    appealed = [r for r in records if 0 <= r["appeal_day"] < days]
    appeals = {
        "notified": len(notified),
        "appealed": len(appealed),
        "won": sum(1 for r in appealed if r["status"] == "corrected"),
        "pending_at_end": sum(1 for r in appealed if r["decision_day"] < 0),
    }
    return Explanation(
        run=str(path),
        resident=resident,
        attributes=attributes,
        records=records,
        score=score,
        final_score_stored=stored,
        listings=out_listings,
        firms=firms,
        sanctions=sanctions,
        appeals=appeals,
        notes=notes,
        exact=exact,
        picked=picked,
    )


def _measures(sc: Scenario, lname: str) -> list[str]:
    return [
        f"{m.effect} {', '.join(m.domains)} ({name})"
        for name, m in sc.measures.items()
        if m.list == lname
    ]


def _describe_episode(
    sc: Scenario,
    list_names: list[str],
    e: Any,
    mine: pd.DataFrame,
    days: int,
    replay_to: Callable[[int, Collection[int]], Replay],
) -> dict[str, Any]:
    """One listing episode `e` (list, start, end, wrongful) and its decisive records: the
    model replayed (replay_to(days, records left out)) without each record (effective by
    the day of listing) in turn."""
    sc_list = str(e.list)
    bit = list_names.index(sc_list)
    start, end = int(e.start), int(e.end)

    def listed_without(ids: Collection[int]) -> bool:
        alt = replay_to(start + 1, ids)
        return bool((alt.mask[start] >> bit) & 1)

    counted = mine[(mine["effective_day"] <= start) & (mine["status"].astype(str) != "pending")]
    decisive = [int(i) for i in counted["id"] if not listed_without([int(i)])]
    errors = counted["id"][counted["erroneous"].astype(bool)].astype(int).tolist()
    without_errors = listed_without(errors) if errors else True
    how = (
        "records without which the model, replayed, would not have listed them that day"
        if decisive
        else "none alone: replayed without any one of their records, they were still listed"
    )
    return {
        "list": sc_list,
        "kind": sc.lists[sc_list].kind,
        "start": start,
        "end": end,
        "days": (end if end >= 0 else days) - start,
        "open_at_end": end < 0,
        "wrongful": bool(e.wrongful),
        "decisive_records": decisive,
        "decisive_how": how,
        "listed_without_erroneous_records": without_errors,
        "measures": _measures(sc, sc_list),
    }


YES_NO = {True: "yes", False: "[red]no[/]", None: "—"}


def explain_view(e: Explanation, points: int = 12) -> list[Any]:
    """Rich renderables: who, records, score over time, listings, firms, appeals, notes."""
    from rich.markup import escape
    from rich.table import Table

    a = e.attributes
    out: list[Any] = [f"[dim]{escape(e.picked)}[/]"] if e.picked else []
    out.append(
        f"[bold]Synthetic resident {e.resident}[/] of {e.run}: {a.get('age_band')} "
        f"{a.get('sex')}, {a.get('hukou')}, {a.get('district')}, income decile "
        f"{a.get('income_decile')}, {a.get('education')} education"
        + (f"; score {a['score']:.1f} ({a.get('grade')})" if a.get("score") is not None else "")
        + ". [dim]A synthetic agent: not a real person.[/]"
    )
    rt = Table(title="Records filed about them", title_justify="left")
    for col in ("id", "day", "effective", "department", "kind", "points", "truth",
                "status", "notice", "appeal", "decision", "ended"):  # fmt: skip
        rt.add_column(col, justify="right" if col in ("id", "day", "points") else "left")

    def d(x: int) -> str:
        return "—" if x < 0 else str(x)

    for r in e.records:
        truth = "[red]erroneous[/]" if r["truth"] == "erroneous" else "true"
        rt.add_row(
            str(r["id"]), str(r["day"]), str(r["effective_day"]), r["department"], r["kind"],
            f"{r['points']:+g}", truth, r["status"], d(r["notice_day"]), d(r["appeal_day"]),
            d(r["decision_day"]), d(r["end_day"]),
        )  # fmt: skip
    out.append(rt if e.records else "No record was filed about them.")
    if e.score:
        days = len(e.score)
        marks = sorted(
            {0, days - 1}
            | {int(x) for x in np.linspace(0, days - 1, points)}
            | {r["effective_day"] for r in e.records if 0 <= r["effective_day"] < days}
            | {r["end_day"] for r in e.records if 0 <= r["end_day"] < days}
        )
        line = "  ".join(f"d{t}: {e.score[t]:.1f}" for t in marks)
        out.append(f"[bold]Score over time[/] (points, replayed from the records): {line}")
    if e.listings:
        lt = Table(title="Listings", title_justify="left")
        for col in ("list", "from day", "to day", "days", "wrongful", "decisive record",
                    "listed without errors?", "measures that hit them"):  # fmt: skip
            lt.add_column(col)
        for x in e.listings:
            lt.add_row(
                x["list"], str(x["start"]), "still on" if x["open_at_end"] else str(x["end"]),
                str(x["days"]), "[red]yes[/]" if x["wrongful"] else "no",
                ", ".join(map(str, x["decisive_records"])) or "none alone",
                YES_NO[x["listed_without_erroneous_records"]],
                "\n".join(x["measures"]),
            )  # fmt: skip
        out.append(lt)
    else:
        out.append("They were never on a list.")
    for f in e.firms:
        for x in f["listings"]:
            out.append(
                f"As legal representative of enterprise {f['enterprise']}: on {x['list']} from "
                f"day {x['start']} to {'the end' if x['end'] < 0 else x['end']}"
                f"{' (wrongful)' if x['wrongful'] else ''}; reaches them: "
                f"{'; '.join(x['measures_on_you'])}"
            )
    s = e.sanctions
    out.append(
        f"Sanctions: {s['days_blacklisted']} days blacklisted ({s['days_wrongfully_blacklisted']} "
        f"wrongfully), {s['blocked_attempts']} attempts blocked ({s['wrongful_blocked_attempts']} "
        f"wrongfully), {s['income_shocks']} income losses; income at the end "
        f"{100 * s['income_factor_at_end']:.0f}% of normal."
    )
    ap = e.appeals
    out.append(
        f"Due process: notified of {ap['notified']} record(s), appealed {ap['appealed']}, won "
        f"{ap['won']}, {ap['pending_at_end']} undecided at the end."
    )
    out.append(
        "Reconstruction: exact (the model's code replayed on their records: the final score, "
        "listings and records' statuses are the run's)."
        if e.exact
        else "Reconstruction: [yellow]approximate[/]."
    )
    out.extend(f"[dim]note: {n}[/]" for n in e.notes)
    return out
