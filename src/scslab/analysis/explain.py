"""One synthetic resident's history, reconstructed from a run directory.

A run stores every record (records.parquet, with its hidden truth and due-process days)
and every listing change (listings.parquet), but not each resident's score on each day.
The score is a deterministic function of the records, the drift and the association
penalty, so `explain` replays it:

    score_t = clamp(base + decay * (score_{t-1} - base) - penalty * blacklisted_contacts_{t-1})
              then + points of records taking effect on t, - what is left of records ending on t

The association penalty needs the resident's contacts: the synthetic city is a pure
function of (population section, residents, seed), so it is drawn again and the contacts'
blacklistings are read from the listing log. The replay matches the engine up to float32
rounding; where it cannot (no listing log, a city too large to redraw), the output says
the reconstruction is approximate and by how many points the final score differs.

The decisive record of a listing answers "without it, would they have been listed?":
for a record-triggered list, the record that put them on (no other triggering record took
effect that day); for a score-triggered list, each record without whose points the score
rule would not have held on the day of listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scslab.analysis.harm import RunError, _episodes, open_run
from scslab.scenario.schema import Scenario


@dataclass
class Explanation:
    """What happened to one synthetic resident in one run (days are simulation days)."""

    run: str
    resident: int
    attributes: dict[str, Any]
    records: list[dict[str, Any]]
    score: list[float]  # reconstructed score at the end of each day (points)
    final_score_stored: float | None
    listings: list[dict[str, Any]]
    firms: list[dict[str, Any]]
    sanctions: dict[str, Any]
    appeals: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    picked: str | None = None  # why this resident, when chosen with --pick

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _replay(
    sc: Scenario,
    recs: pd.DataFrame,
    days: int,
    contacts_black: np.ndarray | None,
    skip: int | None = None,
) -> np.ndarray:
    """Daily score (points) of one resident from their records; `skip`: a record id left
    out (the counterfactual); `contacts_black`: blacklisted contacts at the end of each day."""
    s_rules = sc.scoring
    assert s_rules is not None
    base, lo, hi = s_rules.base, s_rules.min_score, s_rules.max_score
    decay = 1.0 - s_rules.drift_per_day
    assoc = s_rules.association_penalty
    adds: dict[int, list[float]] = {}
    ends: dict[int, list[tuple[float, int]]] = {}
    for r in recs.itertuples():
        if r.id == skip or r.status == "pending" or r.effective_day >= days:
            continue
        adds.setdefault(int(r.effective_day), []).append(float(r.points))
        if r.end_day >= 0:
            ends.setdefault(int(r.end_day), []).append((float(r.points), int(r.effective_day)))
    out = np.empty(days)
    s = np.float32(base)
    for t in range(days):
        v = base + decay * (float(s) - base)
        if assoc and contacts_black is not None and t > 0:
            v -= assoc * contacts_black[t - 1]
        s = np.float32(min(max(v, lo), hi))
        for p in adds.get(t, []):
            s = np.float32(min(max(float(s) + p, lo), hi))
        for p, e in ends.get(t, []):
            s = np.float32(min(max(float(s) - p * decay ** (t - e), lo), hi))
        out[t] = float(s)
    return out


def _contacts_blacklisted(
    sc: Scenario, manifest: dict[str, Any], resident: int, listings: pd.DataFrame, days: int
) -> np.ndarray | None:
    """Blacklisted contacts of `resident` at the end of each day (None: cannot redraw)."""
    from scslab.scenario.population import build_population

    try:
        pop = build_population(sc.population, int(manifest["residents"]), int(manifest["seed"]))
    except MemoryError:
        return None
    contacts = pop.contacts.neighbours(resident).astype(np.int64)
    black = [n for n, r in sc.lists.items() if r.kind == "black" and r.subject == "resident"]
    res = listings[
        (listings["subject_type"] == "resident")
        & listings["subject"].isin(contacts)
        & listings["list"].isin(black)
    ]
    count = np.zeros(days)
    if not len(res):
        return count
    # Per contact: on any blacklist at the end of day t.
    for _, part in res.groupby("subject"):
        depth = np.zeros(days + 1)
        for row in part.itertuples():
            depth[int(row.day)] += 1 if row.entered else -1
        on = np.cumsum(depth)[:days] > 0
        count += on
    return count


def _rule_holds(score: float, rule: Any, sc: Scenario) -> bool:
    t = rule.trigger
    scoring = sc.scoring
    assert scoring is not None
    names = [g.name for g in scoring.grades]
    floors = [g.min_score for g in scoring.grades]
    if t.score_below is not None:
        return score < t.score_below
    if t.score_at_least is not None:
        return score >= t.score_at_least
    if t.grade_at_most is not None:
        i = names.index(t.grade_at_most)
        return score < (floors[i - 1] if i > 0 else float("inf"))
    i = names.index(t.grade_at_least)
    return score >= floors[i]


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

    # ---- score
    score: list[float] = []
    stored = float(row["score"]) if "score" in row else None
    if sc.scoring is not None:
        contacts_black = None
        if sc.scoring.association_penalty > 0:
            if listings is None:
                exact = False
                notes.append(
                    "no listing log in this run: association penalties are left out of the "
                    "score, which is approximate"
                )
            else:
                contacts_black = _contacts_blacklisted(sc, run.manifest, resident, listings, days)
                if contacts_black is None:
                    exact = False
                    notes.append("the city is too large to redraw: association penalties left out")
        series = _replay(sc, mine, days, contacts_black)
        score = [round(float(x), 3) for x in series]
        if stored is not None and abs(series[-1] - stored) > 0.01:
            exact = False
            notes.append(
                f"the replayed final score ({series[-1]:.2f}) differs from the stored one "
                f"({stored:.2f}) by {stored - series[-1]:+.2f} points: the daily series is "
                "approximate"
            )
    else:
        notes.append("the scenario has no points layer for residents: no score")

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

    # ---- listings and their decisive records
    episodes = _episodes(listings, days - 1) if listings is not None else None
    out_listings = []
    if episodes is not None:
        ep = episodes[(episodes["subject_type"] == "resident") & (episodes["subject"] == resident)]
        for e in ep.sort_values("start").itertuples():
            out_listings.append(_describe_episode(sc, e, mine, days, score))
    else:
        notes.append("no listing log in this run: listings are not shown")

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
    sc: Scenario, e: Any, mine: pd.DataFrame, days: int, score: list[float]
) -> dict[str, Any]:
    rule = sc.lists[str(e.list)]
    start, end = int(e.start), int(e.end)
    decisive: list[int] = []
    without_errors: bool | None = None
    how = ""
    if rule.trigger.records:
        trig = mine[mine["kind"].astype(str).isin(rule.trigger.records)]
        same_day = trig[trig["effective_day"] == start]
        if len(same_day) == 1:
            decisive = [int(same_day["id"].iloc[0])]
            how = "the record that took effect on the day of listing; no other triggering record"
        elif len(same_day) > 1:
            how = f"{len(same_day)} triggering records took effect that day: none alone decisive"
        true_ones = same_day[~same_day["erroneous"]]
        without_errors = len(true_ones) > 0
    elif sc.scoring is not None and score:
        held = _rule_holds(score[start], rule, sc)
        # The association penalty does not depend on one's own records: keep it as is.
        offset = score[start] - _replay(sc, mine, start + 1, None)[start]
        candidates = mine[(mine["effective_day"] <= start) & (mine["status"] != "pending")]
        for r in candidates.itertuples():
            alt = _replay(sc, mine, start + 1, None, skip=int(r.id))[start] + offset
            if held and not _rule_holds(float(alt), rule, sc):
                decisive.append(int(r.id))
        clean = mine[~mine["erroneous"].astype(bool)]
        alt = _replay(sc, clean, start + 1, None)[start] + offset
        without_errors = _rule_holds(float(alt), rule, sc)
        how = "records without whose points the score rule would not have held that day"
    return {
        "list": str(e.list),
        "kind": rule.kind,
        "start": start,
        "end": end,
        "days": (end if end >= 0 else days) - start,
        "open_at_end": end < 0,
        "wrongful": bool(e.wrongful),
        "decisive_records": decisive,
        "decisive_how": how,
        "listed_without_erroneous_records": without_errors,
        "measures": _measures(sc, str(e.list)),
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
        "Reconstruction: exact (replayed from records, listings and the redrawn city)."
        if e.exact
        else "Reconstruction: [yellow]approximate[/]."
    )
    out.extend(f"[dim]note: {n}[/]" for n in e.notes)
    return out
