"""Due process: schema, merging of overrides, and what appeals, repair and expiry do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scslab import load_run
from scslab.engine.growth import grow
from scslab.engine.trail import count_wrongful_days
from scslab.model.containers import Listings
from scslab.model.dueprocess_kernels import (
    Ended,
    RecordColumns,
    Triggers,
    among,
    grown_to,
    release,
)
from scslab.model.records import ACTIVE, CORRECTED, EXPIRED, RecordBatch, RecordLog
from scslab.model.scoring import Scorer, ScoreRules
from scslab.scenario.loader import parse_scenario
from scslab.scenario.safeyaml import ScenarioError
from tests.audit_helpers import ALWAYS_APPEAL, builtin_dict, error_prone, scenario, tiny_run

# ---------------------------------------------------------------- schema


def test_overrides_merge_key_by_key_with_precedence() -> None:
    d = builtin_dict()
    d["due_process"] = {
        "defaults": {"review": {"days_to_decide": 20}},
        "lists": {
            "low_credit": {"appeal": {"window_days": 60}},
            "railway_misconduct": {"appeal": {"window_days": 7}, "notice": None},
        },
        "kinds": {"fare_evasion": {"review": {"human": True}}},
    }
    sc = scenario(d)
    fare = sc.due_process_for("fare_evasion")
    assert fare is not None
    assert fare.appeal is not None and fare.appeal.window_days == 7  # record list beats score
    assert fare.notice is None  # null removes the safeguard
    assert fare.review.human and fare.review.days_to_decide == 20  # kind merges, keeps rest
    ticket = sc.due_process_for("traffic_ticket")
    assert ticket is not None and ticket.appeal is not None
    assert ticket.appeal.window_days == 60 and ticket.notice is not None
    assert not ticket.review.human


def test_resolved_scenario_reads_back_the_same() -> None:
    d = builtin_dict()
    d["due_process"] = {"kinds": {"fare_evasion": {"review": {"human": True}}}}
    sc = scenario(d)
    again = parse_scenario(sc.to_yaml())
    assert again.digest() == sc.digest()
    assert again.due_process_for("traffic_ticket") == sc.due_process_for("traffic_ticket")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"lists": {"no_such_list": {}}}, "due_process.lists.no_such_list"),
        ({"kinds": {"no_such_kind": {}}}, "due_process.kinds.no_such_kind"),
        ({"defaults": {"review": {"find_error": 1.5}}}, "due_process.defaults.review.find_error"),
        ({"defaults": {"notice": {"shares": 1}}}, "due_process.defaults.notice.shares"),
    ],
)
def test_bad_due_process_names_the_key(section: dict, key: str) -> None:
    d = builtin_dict()
    d["due_process"] = section
    import yaml

    with pytest.raises(ScenarioError) as err:
        parse_scenario(yaml.safe_dump(d), "x.yaml")
    assert str(err.value).startswith(f"x.yaml: {key}:")


# ---------------------------------------------------------------- scorer and release


def _log(subjects: list[int], day: int) -> tuple[RecordLog, np.ndarray]:
    log = RecordLog()
    ids = log.append(
        RecordBatch(
            kind=0,
            day=day,
            effective_day=day,
            subject=np.array(subjects, np.int32),
            actor=np.array(subjects, np.int32),
            erroneous=np.zeros(len(subjects), bool),
        )
    )
    log.column("status")[ids] = ACTIVE
    return log, ids


def _rules(expiry: int) -> ScoreRules:
    d = builtin_dict()["scoring"]
    d["record_expiry_days"] = expiry
    from scslab.scenario.sections import Scoring

    return ScoreRules.compile(Scoring.model_validate(d))


def test_withdrawn_record_does_not_expire_a_second_time() -> None:
    log, ids = _log([0, 1], day=0)
    scorer = Scorer(_rules(10), 2)
    pts = np.array([-50.0, -50.0])
    subj = np.array([0, 1])
    scorer.apply(0, subj, pts, np.zeros(2, bool), ids)
    # Record 0 is withdrawn on day 5: its points (no drift: all of them) come back once.
    log.column("status")[0] = CORRECTED
    scorer.withdraw(subj[:1], pts[:1], np.zeros(1, bool))
    assert scorer.state.score.tolist() == [1000.0, 950.0]
    scorer.expire(10, log)
    assert scorer.state.score.tolist() == [1000.0, 1000.0]  # not 1050 for subject 0
    assert log.column("status").tolist() == [CORRECTED, EXPIRED]
    assert log.column("end_day").tolist() == [-1, 10]


def test_release_keeps_a_listing_held_by_another_valid_record() -> None:
    # Subjects 0 and 1 are on list 0 (duration 100). Subject 0 also has a second, true
    # record from day 50; subject 1 has none. Both first records end on day 60.
    rec_subject = np.array([0, 1, 0], np.int32)
    rec_kind = np.zeros(3, np.uint8)
    rec_status = np.array([CORRECTED, CORRECTED, ACTIVE], np.uint8)
    rec_eff = np.array([10, 10, 50], np.int16)
    rec_err = np.array([True, True, False])
    mask = np.array([1, 1], np.uint8)
    wrongful = np.array([1, 1], np.uint8)
    extended = np.zeros(2, np.uint8)
    until = np.array([[150, 110]], np.int16)
    true_until = np.array([[10, 10]], np.int16)
    released, repaired = np.zeros(2, np.uint8), np.zeros(2, np.uint8)
    n = release(
        Ended(
            np.array([0, 1], np.int64),
            np.array([1, 1], np.uint8),
            np.array([0, 0], np.uint8),  # ended by appeal, not by repair
        ),
        np.arange(3, dtype=np.int64),
        RecordColumns(rec_subject, rec_kind, rec_status, rec_eff, rec_err),
        Triggers(np.array([1], np.uint8), np.array([100], np.int64)),
        Listings(mask, wrongful, extended, released, repaired, until, true_until),
        60,
    )
    assert n == 1
    assert released.tolist() == [0, 1] and repaired.tolist() == [0, 0]  # the exit's reason
    assert until[0].tolist() == [150, 60]  # 0 stays (held by the true record), 1 leaves today
    assert wrongful.tolist() == [0, 1]  # 0 now rests on a true record
    assert extended.tolist() == [0, 1]  # 1 cannot be extended on its way out
    assert true_until[0, 0] == 150  # the true record covers subject 0 to day 150


# ---------------------------------------------------------------- in the engine


@pytest.fixture(scope="module")
def appealed() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    run = load_run(tiny_run(error_prone(defaults={**ALWAYS_APPEAL, "expiry_days": 30})))
    return (
        run.tables["records"],
        run.tables["residents"],
        run.tables["listings"],
        run.metrics,
    )


def test_erroneous_records_are_corrected_after_review(appealed: tuple) -> None:
    rec, *_ = appealed
    adv = rec[(rec["points"] < 0) & (rec["subject_type"] == "resident")]
    due = adv[adv["erroneous"] & (adv["effective_day"] + 5 <= 59)]
    assert len(due) > 50
    assert (due["status"] == "corrected").all()
    assert ((due["end_day"] - due["effective_day"]) == 5).all()
    assert ((due["decision_day"] - due["appeal_day"]) == 5).all()
    true = adv[~adv["erroneous"]]
    assert not (true["status"] == "corrected").any()  # overturn_true = 0


def test_scores_are_the_records_still_active(appealed: tuple) -> None:
    rec, res, _, _ = appealed
    live = rec[(rec["subject_type"] == "resident") & (rec["status"] == "active")]
    expected = 1000 + live.groupby("subject")["points"].sum().reindex(res["id"], fill_value=0)
    assert np.allclose(np.clip(expected.to_numpy(), 0, 2000), res["score"].to_numpy())
    expired = rec[rec["status"] == "expired"]
    assert len(expired) and ((expired["end_day"] - expired["effective_day"]) == 30).all()


def test_wrongful_listings_end_when_their_record_is_corrected(appealed: tuple) -> None:
    _, res, listings, _ = appealed
    rail = listings[listings["list"] == "railway_misconduct"]
    wrong_in = rail[rail["entered"] & rail["wrongful"] & (rail["day"] + 5 <= 59)]
    assert len(wrong_in) > 20
    exits = rail[~rail["entered"]].groupby("subject")["day"].min()
    # Every wrongful listing ends 5 days later (the correction), unless a true record
    # arrived in the meantime and made it rightful.
    ended = exits.reindex(wrong_in["subject"]).to_numpy() - wrong_in["day"].to_numpy()
    assert np.mean(ended == 5) > 0.9
    assert res["days_wrongfully_blacklisted"].max() < 60


def test_appeal_metrics_by_group(appealed: tuple) -> None:
    *_, metrics = appealed
    m = metrics[metrics["metric"].isin(["appeals_filed", "appeals_won", "records_corrected"])]
    by = m.groupby(["group_by", "metric"], observed=True)["value"].sum().unstack()
    assert by.loc["city", "appeals_filed"] > by.loc["city", "appeals_won"] > 0
    assert by.loc["hukou", "appeals_won"] == by.loc["city", "appeals_won"]
    assert by.loc["city", "records_corrected"] == by.loc["city", "appeals_won"]


def test_without_notice_nobody_appeals() -> None:
    dp = {**ALWAYS_APPEAL, "notice": None}
    run = load_run(tiny_run(error_prone(defaults=dp)))
    tot = run.totals()
    assert tot["appeals_filed"] == 0 and tot["notices"] == 0
    assert (run.tables["records"]["status"] != "corrected").all()


def test_without_due_process_nothing_is_appealed() -> None:
    run = load_run(tiny_run(error_prone()))
    tot = run.totals()
    assert tot["notices"] == tot["appeals_filed"] == tot["records_repaired"] == 0
    assert (run.tables["records"]["notice_day"] == -1).all()


def test_repair_by_waiting_ends_records_at_the_window() -> None:
    dp = {"notice": None, "repair": {"method": "wait", "severity": "minor", "wait_days": 20}}
    run = load_run(tiny_run(error_prone(defaults=dp)))
    rec = run.tables["records"]
    adv = rec[(rec["points"] < 0) & (rec["effective_day"] + 20 <= 59)]
    assert len(adv) and (adv["status"] == "repaired").all()
    assert ((adv["end_day"] - adv["effective_day"]) == 20).all()
    res = run.tables["residents"]
    live = rec[(rec["subject_type"] == "resident") & (rec["status"] == "active")]
    expected = 1000 + live.groupby("subject")["points"].sum().reindex(res["id"], fill_value=0)
    assert np.allclose(np.clip(expected.to_numpy(), 0, 2000), res["score"].to_numpy())
    tot = run.totals()
    repaired = tot["records_repaired"] + tot["enterprise.records_repaired"]
    assert repaired == len(rec[rec["status"] == "repaired"])


def test_appeals_depend_on_education() -> None:
    dp = {
        "notice": {"share": 1.0},
        "appeal": {"base_probability": 0.5, "education_multiplier": [0.0, 1.0, 2.0]},
    }
    run = load_run(tiny_run(error_prone(defaults=dp)))
    rec = run.tables["records"]
    res = run.tables["residents"].set_index("id")
    r = rec[(rec["subject_type"] == "resident") & (rec["points"] < 0)]
    edu = res.loc[r["subject"], "education"].to_numpy()
    appealed = r["appeal_day"].to_numpy() >= 0
    assert not appealed[edu == "primary"].any()
    assert appealed[edu == "tertiary"].mean() > appealed[edu == "secondary"].mean()


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 65, 1001])
def test_count_wrongful_days_matches_a_direct_count(n: int) -> None:
    """A day is added to everyone whose blacklistings (own or as a legal representative)
    all rest on erroneous records, whatever the position in the runs of eight."""
    rng = np.random.default_rng(n)
    mask = (rng.integers(0, 4, n) * (rng.random(n) < 0.3)).astype(np.uint8)
    wrongful = (mask & rng.integers(0, 4, n)).astype(np.uint8)
    rep = (rng.integers(0, 2, n) * (rng.random(n) < 0.2)).astype(np.uint8)
    rep_wrongful = (rep & rng.integers(0, 2, n)).astype(np.uint8)
    days = np.zeros(n, np.int16)
    count_wrongful_days(mask, wrongful, 0b01, rep, rep_wrongful, 0b1, days)
    own, rp = mask & 0b01, rep & 0b1
    expect = ((own | rp) != 0) & ((own & ~wrongful) == 0) & ((rp & ~rep_wrongful) == 0)
    assert days.tolist() == expect.astype(int).tolist()


def test_grown_arrays_keep_their_used_entries() -> None:
    """grown_to() and growth.grow() return the array itself while `need` entries fit,
    else one at least twice as large with the first `used` entries kept (grown_to: the
    rest `fill`), whatever the dtype."""
    a = np.arange(10, dtype=np.int64)
    assert grown_to(a, 4, 10, -1) is a and grow(a, 4, 10) is a
    more = grown_to(a, 4, 11, -1)
    assert more.dtype == np.int64 and len(more) == 20
    assert more[:4].tolist() == [0, 1, 2, 3] and (more[4:] == -1).all()
    flags = grown_to(np.ones(3, np.bool_), 3, 50, False)
    assert flags.dtype == np.bool_ and len(flags) == 50 and flags.sum() == 3 and flags[:3].all()
    kept = grow(a.astype(np.int32), 7, 25)
    assert kept.dtype == np.int32 and len(kept) == 25 and kept[:7].tolist() == list(range(7))


def test_among_finds_every_place_past_its_first_buffer() -> None:
    """among() returns the places p < n where of[p] is one of the subjects, in order,
    as numpy finds them, past its first 64 places too."""
    rng = np.random.default_rng(3)
    subjects = np.unique(rng.integers(0, 5_000, 300))
    of = rng.integers(0, 5_000, 4_000)
    for n in (0, 100, 3_999):
        expected = np.flatnonzero(np.isin(of[:n], subjects))
        assert among(subjects, of, n).tolist() == expected.tolist()
    assert len(np.flatnonzero(np.isin(of[:3_999], subjects))) > 64
