"""One synthetic resident's days replayed by the model's own code, from a run directory.

`replay` runs the engine's rules and kernels on a state of one agent, in the engine's
order, fed that resident's records:

    scoring     Scorer.drift, Scorer.apply, Scorer.expire          (model/scoring.py)
    due process DueProcessState.keep_triggers, DueProcessState.end (model/dueprocess.py)
    lists       enlist, daily_update                               (model/lists.py)

compiled as the engine compiles them (`Model.of`: RecordKinds, ScoreRules, ListRules and
DueProcessRules .compile). Due process's outcomes and the association penalty are read
from the run (see scslab.analysis.explain). `differences` says where a replay differs
from what the run stored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scslab.model.containers import Points
from scslab.model.departments import RecordKinds
from scslab.model.dueprocess import DueProcessRules, DueProcessState
from scslab.model.lists import Changes, ListRules, ListState, daily_update, enlist
from scslab.model.records import ACTIVE, CORRECTED, REPAIRED, STATUS_NAMES, RecordBatch, RecordLog
from scslab.model.scoring import Scorer, ScoreRules, hold_at_base
from scslab.scenario.schema import Scenario
from scslab.streams import stream_key


@dataclass(frozen=True)
class Model:
    """A run's model of residents, compiled as the engine compiles it (engine.state.RunState)."""

    kinds: RecordKinds
    score: ScoreRules | None
    lists: ListRules  # the residents' lists
    firm_lists: ListRules  # the enterprises' lists (due process needs both)
    due: DueProcessRules
    list_key: np.uint64  # the random stream of the residents' lists
    enrolled_share: float = 1.0  # share of the residents enrolled in the score

    @classmethod
    def of(cls, sc: Scenario, seed: int) -> Model:
        """The model of scenario `sc` in a run with `seed`."""
        kinds = RecordKinds.compile(sc)
        score = ScoreRules.compile(sc.scoring) if sc.scoring else None
        firm_score = ScoreRules.compile(sc.corporate_scoring) if sc.corporate_scoring else None
        lists = ListRules.compile(sc, "resident", kinds.names, score)
        firm_lists = ListRules.compile(sc, "enterprise", kinds.names, firm_score)
        return cls(
            kinds=kinds,
            score=score,
            lists=lists,
            firm_lists=firm_lists,
            due=DueProcessRules.compile(sc, kinds, lists, firm_lists),
            list_key=stream_key(seed, "lists.resident"),
            enrolled_share=sc.scoring.enrolled_share if sc.scoring else 1.0,
        )

    @classmethod
    def by_day(cls, sc: Scenario, seed: int, burn_in: int = 0) -> dict[int, Model]:
        """The models of a run of `sc` by the (internal) day they take effect: day 0's,
        then one for each day its timeline changes the rules (days after a burn-in of
        `burn_in` days)."""
        models = {0: cls.of(sc.model_copy(update={"timeline": []}), seed)}
        for day, rules in sc.rules_by_day():
            models[day + burn_in] = cls.of(rules, seed)
        return models


@dataclass
class _Side:
    """A state of `n` agents of one kind, as due process sees the engine's sides."""

    name: str
    n: int
    lists: ListRules
    list_state: ListState
    scorer: Scorer | None
    cell: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    acc: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    cols: dict[str, np.ndarray] = field(default_factory=dict)
    cell_rows: tuple[np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(1, np.int64), np.zeros(0, np.int64))
    )


@dataclass
class Replay:
    """One resident's days as the model plays them (index = day)."""

    score: np.ndarray  # float32, points at the end of each day (empty: no points layer)
    error_points: np.ndarray  # float32, the part of the score owed to erroneous records
    mask: np.ndarray  # uint8, bit l = on list l (ListRules order) at the end of each day
    wrongful: np.ndarray  # uint8, bit l = that listing rests only on erroneous records
    changes: pd.DataFrame  # day, list, entered, wrongful: listing changes, engine's order
    status: dict[int, str]  # record id -> its status at the end
    end_day: dict[int, int]  # record id -> day it stopped counting (-1: it did not)


def _ended_by_day(mine: pd.DataFrame, days: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Records withdrawn on appeal and records repaired, by day (record ids), in the order
    due process ends them on that day: decisions by (appeal day, effective day, id), then
    repairs by (effective day, id) (the order matters to the float32 score only)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    st = mine["status"].astype(str)
    ended = mine[st.isin(["corrected", "repaired"]) & (mine["end_day"] >= 0)]
    ended = ended[ended["end_day"] < days]
    for day, part in ended.groupby("end_day"):
        won = part[part["status"].astype(str) == "corrected"]
        won = won.sort_values(["appeal_day", "effective_day", "id"])
        rep = part[part["status"].astype(str) == "repaired"]
        rep = rep.sort_values(["effective_day", "id"])
        out[int(day)] = (won["id"].to_numpy(np.int64), rep["id"].to_numpy(np.int64))
    return out


def replay(
    models: Model | dict[int, Model],
    mine: pd.DataFrame,
    resident: int,
    days: int,
    contacts_black: np.ndarray | None = None,
    leave_out: Collection[int] = (),
    enrolment_place: float = 0.0,
) -> Replay:
    """Replay `days` days of synthetic resident `resident` with the model's code on a
    state of one agent, fed their records `mine` (rows of records.parquet about them)
    but those in `leave_out` (record ids: a counterfactual). `models`: the run's model,
    or its models by the day each takes effect (Model.by_day: a timeline), put in place
    before that day's steps as the engine does (RunState.set_rules). `contacts_black`:
    the resident's contacts on a blacklist at the end of each day (None: no association
    penalty). `enrolment_place`: the resident's place in the enrolment order
    (scoring.enrolment_order): on a day when the model's enrolled share is not above
    it, the resident is held at the base score, as the engine holds them. Due-process
    outcomes are taken from the records' status and end_day."""
    by_day = models if isinstance(models, dict) else {0: models}
    model = by_day[0]
    kinds = model.kinds
    mine = mine[~mine["id"].isin(list(leave_out))].sort_values("id")
    rec_ids = mine["id"].to_numpy(np.int64)
    local = {int(r): k for k, r in enumerate(rec_ids)}  # run's record id -> log id
    log = RecordLog(capacity=max(1, len(mine)))
    kind_of = {name: k for k, name in enumerate(kinds.names)}
    one = np.zeros(1, np.int32)  # the subject: agent 0 of the state
    for r in mine.itertuples():
        log.append(
            RecordBatch(
                kind=kind_of[str(r.kind)],
                day=int(r.day),
                effective_day=int(r.effective_day),
                subject=one,
                actor=np.array([r.actor], np.int32),
                erroneous=np.array([bool(r.erroneous)]),
            )
        )
    ends = {
        d: tuple(np.array([local[int(i)] for i in part], np.int64) for part in both)
        for d, both in _ended_by_day(mine, days).items()
    }
    scorer = Scorer(model.score, 1) if model.score is not None else None
    lists = model.lists
    res = _Side("resident", 1, lists, ListState.empty(1, len(lists)), scorer)
    firms = _Side(
        "enterprise", 0, model.firm_lists, ListState.empty(0, len(model.firm_lists)), None
    )
    sides = (res, firms)
    no_one = (np.zeros(1, np.int64), np.zeros(1, np.int64))
    due = DueProcessState(model.due, kinds, 0, no_one, no_one)  # (no draws: see ends)
    black = contacts_black if contacts_black is not None else np.zeros(days)
    most = int(black.max(initial=0))
    listed_contacts = np.zeros(1, np.int16 if most < 2**15 else np.int32)
    score = np.zeros(days if scorer else 0, np.float32)
    error_points = np.zeros_like(score)
    mask, wrongful = np.zeros(days, np.uint8), np.zeros(days, np.uint8)
    changes: list[tuple[int, Changes]] = []
    status = log.column("status")
    just_one = np.ones(1, np.uint8)  # (the scorer holds the one resident)
    held = False  # whether the resident is not enrolled today

    def hold() -> None:  # engine.steps.hold_unenrolled
        if held and scorer is not None:
            hold_at_base(scorer.state.score, scorer.state.error_points, just_one, scorer.rules.base)

    for day in range(days):
        if day in by_day:  # the rules from today (engine.state.RunState.set_rules)
            model = by_day[day]
            kinds, lists = model.kinds, model.lists
            res.lists, firms.lists = model.lists, model.firm_lists
            due.rules, due.kinds = model.due, model.kinds
            if scorer is not None and model.score is not None:
                scorer.rules = model.score
            held = enrolment_place >= model.enrolled_share
        # scoring (engine.steps.scoring)
        ids = log.take_effective(day)
        status[ids] = ACTIVE
        kind = log.column("kind")[ids]
        subject = log.column("subject")[ids]
        erroneous = log.column("erroneous")[ids]
        if scorer is not None:
            scorer.drift(listed_contacts)
            scorer.apply(
                day, subject, kinds.points[kind], erroneous, ids, model.due.expiry_days[kind]
            )
            scorer.expire(day, log)
        hold()
        # due process (DueProcessState.plan and step, with the run's outcomes)
        due.keep_triggers(ids, kind, subject, sides)
        if day in ends:
            won, repaired = (part[status[part] == ACTIVE] for part in ends[day])
            status[won] = CORRECTED
            status[repaired] = REPAIRED
            if len(won) or len(repaired):
                due.end(day, np.concatenate([won, repaired]), log, sides)
        hold()
        if scorer is not None:
            score[day] = scorer.state.score[0]
            error_points[day] = scorer.state.error_points[0]
        # lists (engine.steps.lists_and_measures)
        if len(lists):
            state = res.list_state
            today = Changes.concat(
                [
                    enlist(lists, state, day, subject, kind, erroneous),
                    daily_update(
                        lists,
                        state,
                        day,
                        Points(scorer.state.score, scorer.state.error_points)
                        if scorer
                        else Points(np.zeros(0, np.float32), np.zeros(0, np.float32)),
                        model.list_key,
                        first_id=resident,
                    ),
                ]
            )
            if len(today):
                changes.append((day, today))
            mask[day], wrongful[day] = state.mask[0], state.wrongful[0]
        listed_contacts[0] = black[day]
    frame = pd.DataFrame(
        {
            "day": [d for d, ch in changes for _ in range(len(ch))],
            "list": [lists.names[b] for _, ch in changes for b in ch.bit],
            "entered": [bool(x) for _, ch in changes for x in ch.entered],
            "wrongful": [bool(x) for _, ch in changes for x in ch.wrongful],
        }
    )
    return Replay(
        score=score,
        error_points=error_points,
        mask=mask,
        wrongful=wrongful,
        changes=frame,
        status={int(r): STATUS_NAMES[s] for r, s in zip(rec_ids, status, strict=True)},
        end_day={int(r): int(e) for r, e in zip(rec_ids, log.column("end_day"), strict=True)},
    )


def contacts_of(sc: Scenario, manifest: dict[str, Any], resident: int) -> np.ndarray | None:
    """The contacts of `resident` (ids) in the synthetic city of a run (its manifest),
    drawn again from its seed (None: the city is too large to redraw here)."""
    from scslab.scenario.population import build_population

    try:
        pop = build_population(sc.population, int(manifest["residents"]), int(manifest["seed"]))
    except MemoryError:
        return None
    return pop.contacts.neighbours(resident).astype(np.int64)


def blacklisted_contacts(
    sc: Scenario, contacts: np.ndarray, listings: pd.DataFrame, days: int
) -> np.ndarray:
    """How many of `contacts` (resident ids, a contact met in two ways counted twice, as
    the engine counts them) are on some blacklist at the end of each day, read from the
    run's listing log (int64, one per day)."""
    black = [n for n, r in sc.lists.items() if r.kind == "black" and r.subject == "resident"]
    ids, times = np.unique(contacts, return_counts=True)
    res = listings[
        (listings["subject_type"] == "resident")
        & listings["subject"].isin(ids)
        & listings["list"].isin(black)
    ]
    count = np.zeros(days, np.int64)
    # Per contact: on any blacklist at the end of day t.
    for who, part in res.groupby("subject"):
        depth = np.zeros(days + 1, np.int64)
        for row in part.itertuples():
            depth[int(row.day)] += 1 if row.entered else -1
        count += (np.cumsum(depth)[:days] > 0) * int(times[np.searchsorted(ids, who)])
    return count


def differences(
    rp: Replay, mine: pd.DataFrame, row: pd.Series, listings: pd.DataFrame | None,
    resident: int, lists: ListRules, days: int,
) -> list[str]:  # fmt: skip
    """Where the replay `rp` differs from what the run stored, in words (empty: nowhere)."""
    out = []
    if len(rp.score) and "score" in row:
        stored = np.float32(row["score"])
        if rp.score[-1] != stored:
            out.append(
                f"the replayed final score ({rp.score[-1]:.3f}) differs from the stored one "
                f"({stored:.3f}) by {float(stored) - float(rp.score[-1]):+.3f} points"
            )
    if listings is not None:
        logged = listings[
            (listings["subject_type"] == "resident") & (listings["subject"] == resident)
        ]
        logged = logged[["day", "list", "entered", "wrongful"]].reset_index(drop=True)
        ours = rp.changes
        same = len(logged) == len(ours) and all(
            (logged[c].astype(t).to_numpy() == ours[c].astype(t).to_numpy()).all()
            for c, t in (("day", int), ("list", str), ("entered", bool), ("wrongful", bool))
        )
        if not same:
            out.append(
                f"the replayed listing changes ({len(ours)}) differ from the run's listing "
                f"log ({len(logged)} for this resident)"
            )
    if days and len(lists):
        for b, name in enumerate(lists.names):
            for what, bits in (("on", rp.mask), ("wrongful", rp.wrongful)):
                col = f"{what}_{name}"
                if col in row and bool(row[col]) != bool((bits[-1] >> b) & 1):
                    out.append(f"the replay ends {'' if bits[-1] >> b & 1 else 'not '}{col}")
    for r in mine.itertuples():
        if r.effective_day >= days:
            continue
        if rp.status[int(r.id)] != str(r.status) or rp.end_day[int(r.id)] != int(r.end_day):
            out.append(
                f"record {r.id}: replayed {rp.status[int(r.id)]} (end day "
                f"{rp.end_day[int(r.id)]}), stored {r.status} (end day {r.end_day})"
            )
    return out
