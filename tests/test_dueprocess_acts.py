"""Due process that acts: the review's kind decides its odds, and residents who were never
notified learn of a listing the first day a measure blocks them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scslab import load_run
from scslab.scenario.sections import Review, ReviewKinds
from tests.audit_helpers import ALWAYS_APPEAL, error_prone, tiny_run


def _review_run(human: bool) -> pd.DataFrame:
    review = {"days_to_decide": 5, "human": human}
    dp: dict[str, Any] = {"defaults": {**ALWAYS_APPEAL, "review": review}}
    dp["review_kinds"] = {
        "human": {"find_error": 0.9, "overturn_true": 0.0},
        "automated": {"find_error": 0.2, "overturn_true": 0.0},
    }
    rec = load_run(tiny_run(error_prone(**dp))).tables["records"]
    adv = rec[(rec["points"] < 0) & (rec["subject_type"] == "resident")]
    return adv[adv["erroneous"] & (adv["effective_day"] + 5 <= 59)]


def test_review_kind_sets_the_odds_unless_the_rule_gives_its_own() -> None:
    kinds = ReviewKinds()
    assert kinds.odds(Review(human=True)) == (0.8, 0.02)
    assert kinds.odds(Review(human=False)) == (0.5, 0.02)  # as before review kinds
    assert kinds.odds(Review(human=True, find_error=0.3)) == (0.3, 0.02)


def test_automated_review_corrects_fewer_erroneous_records() -> None:
    human, automated = _review_run(True), _review_run(False)
    assert len(human) == len(automated) > 100  # the same records, appealed the same days
    h = (human["status"] == "corrected").mean()
    a = (automated["status"] == "corrected").mean()
    assert abs(h - 0.9) < 0.08 and abs(a - 0.2) < 0.08
    # The same draw decides both: what the automated review corrects, a person does too.
    won_a = set(automated.loc[automated["status"] == "corrected", "id"])
    won_h = set(human.loc[human["status"] == "corrected", "id"])
    assert won_a <= won_h
    assert np.isclose(len(won_a) / max(len(won_h), 1), a / h)


def _unnotified(from_first_block: bool, share: float = 0.0) -> Any:
    appeal = {**ALWAYS_APPEAL["appeal"], "from_first_block": from_first_block}
    review = {"find_error": 1.0, "overturn_true": 0.0, "days_to_decide": 5}
    dp = {"notice": {"share": share, "delay_days": 0}, "appeal": appeal, "review": review}
    return load_run(tiny_run(error_prone(defaults=dp)))


def test_unnotified_residents_appeal_from_their_first_block() -> None:
    never = _unnotified(False)
    assert never.totals()["appeals_filed"] == 0  # the unnotified cannot appeal
    run = _unnotified(True)
    rec = run.tables["records"]
    res = run.tables["residents"].set_index("id")
    appealed = rec[rec["appeal_day"] >= 0]
    assert len(appealed) > 20 and (appealed["notice_day"] == -1).all()
    listings = run.tables["listings"]
    entered = listings[(listings["subject_type"] == "resident") & listings["entered"]]
    first_listed = entered.groupby("subject")["day"].min()
    listed_day = first_listed.reindex(appealed["subject"]).to_numpy()
    assert (listed_day <= appealed["appeal_day"].to_numpy()).all()  # a listing came first
    assert (res.loc[appealed["subject"], "blocked_attempts"] > 0).all()  # learned when blocked
    late = appealed["appeal_day"] - appealed["effective_day"]
    assert (late >= 0).all() and (late > 0).mean() > 0.5  # blocked days after the listing
    assert (appealed["status"] == "corrected").sum() > 0  # the appeal acts


def test_days_listed_before_knowing() -> None:
    unaware = _unnotified(True).tables["residents"]["days_listed_unaware"]
    told = _unnotified(True, share=1.0).tables["residents"]["days_listed_unaware"]
    assert (unaware > 0).sum() > 20 and unaware.max() < 60
    assert (told == 0).all()  # told the day the record took effect, before the listing


def test_harm_counts_days_listed_unaware() -> None:
    from scslab.analysis.harm import _unaware

    res = pd.DataFrame({"days_listed_unaware": [0, 3, 0, 5]})
    out = _unaware(res)
    assert out["days_listed_unaware"] == 8 and out["residents_listed_unaware"] == 2
    assert out["days_listed_unaware_per_100k"] == 200_000.0
    assert out["mean_days_per_resident_listed_unaware"] == 4.0


def test_days_listed_unaware_is_a_headline_figure() -> None:
    """The audit's headline (and so sweeps, compare and the report) carries it, with its
    interval over residents."""
    from scslab.analysis.harm import measure
    from scslab.analysis.harmsummary import headline, headline_intervals

    run = _unnotified(True)
    m = measure(run.path)
    days = run.tables["residents"]["days_listed_unaware"]
    want = 100_000 * days.sum() / len(days)
    assert headline(m)["days listed unaware per 100k"] == want > 0
    assert "days listed unaware per 100k" in headline_intervals(m)
