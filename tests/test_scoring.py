"""Scoring: drift and expiry in closed form, grades, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.scenario import Grade, Scoring
from scslab.scoring import Scorer, ScoreRules, grade_index, grades_of

GRADES = [
    Grade(name=n, min_score=s)
    for n, s in [("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600), ("D", 0)]
]


def rules(**kw) -> ScoreRules:
    return ScoreRules.compile(Scoring(grades=GRADES, **kw))


def test_grades() -> None:
    r = rules()
    scores = np.array([2000, 1050, 1049.9, 1030, 960, 959, 850, 600, 599, 0, -5], np.float32)
    expect = [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 5]
    assert list(grades_of(scores, r.grade_floors)) == expect
    assert [grade_index(float(s), r.grade_floors) for s in scores] == expect
    assert r.floor_of("AA") == 1030 and r.ceiling_of("C") == 850
    assert r.ceiling_of("AAA") == float("inf")


def test_drift_closed_form() -> None:
    sc = Scorer(rules(drift_per_day=0.01), 3)
    sc.apply(0, np.array([0, 1]), np.array([-100.0, 50.0]), np.array([False, True]))
    for _ in range(30):
        sc.drift(np.zeros(0, np.int32))
    expect = 1000 + np.array([-100, 50, 0]) * 0.99**30
    assert np.allclose(sc.state.score, expect, atol=1e-3)
    assert np.allclose(sc.state.error_points, [0, 50 * 0.99**30, 0], atol=1e-3)


def test_association_penalty() -> None:
    sc = Scorer(rules(association_penalty=0.5), 3)
    for _ in range(10):
        sc.drift(np.array([0, 2, 1], np.int32))
    assert list(sc.state.score) == [1000, 990, 995]


def test_expiry_removes_what_is_left() -> None:
    sc = Scorer(rules(drift_per_day=0.01, record_expiry_days=20), 2)
    sc.apply(0, np.array([0]), np.array([-100.0]), np.array([False]))
    for day in range(1, 21):
        sc.drift(np.zeros(0, np.int32))
        assert sc.expire(day) == (1 if day == 20 else 0)
    assert sc.state.score[0] == pytest.approx(1000, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(-500, 500)), max_size=60))
def test_scores_stay_in_bounds(events) -> None:
    sc = Scorer(rules(min_score=0, max_score=2000, drift_per_day=0.001), 5)
    for i, (who, pts) in enumerate(events):
        sc.apply(i, np.array([who]), np.array([pts]), np.array([False]))
        sc.drift(np.zeros(0, np.int32))
    assert (sc.state.score >= 0).all() and (sc.state.score <= 2000).all()
