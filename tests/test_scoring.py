"""Scoring: drift and expiry in closed form, grades, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.model.scoring import (
    FLAG_BLOCK,
    DriftMarks,
    DriftRules,
    Scorer,
    ScoreRules,
    ceil_float32,
    drift,
    grade_index,
    grades_of,
    hold_at_base,
    hold_subjects,
    mark_outside,
)
from scslab.scenario.sections import Grade, Scoring

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


F32_MAX = float(np.finfo(np.float32).max)
EDGES = [0.0, -0.0, 1e-46, 959.99999, 960.0, 960.00001, 1030.3, F32_MAX, 3.5e38, 1e300, np.inf]


@settings(max_examples=200, deadline=None)
@given(
    points=st.floats(allow_nan=False) | st.sampled_from(EDGES + [-e for e in EDGES]),
    v=st.floats(width=32) | st.sampled_from([0.0, 960.0, 1030.3, F32_MAX, -F32_MAX]),
)
def test_ceil_float32_keeps_every_comparison_with_float32_scores(points: float, v: float) -> None:
    """v < points (float64) exactly when v < ceil_float32(points) (float32), for every
    float32 v, the infinities and values beyond float32's range included; and no float32
    lies between them."""
    c = np.float32(ceil_float32(points))
    v32 = np.float32(v)
    assert (float(v32) < points) == (v32 < c)
    assert (float(v32) >= points) == (v32 >= c)
    if np.isfinite(c) and c > -F32_MAX:
        assert float(c) >= points > float(np.nextafter(c, np.float32(-np.inf)))


@settings(max_examples=40, deadline=None)
@given(
    n=st.sampled_from([0, 7, 8, 65, FLAG_BLOCK - 1, FLAG_BLOCK + 8, 2 * FLAG_BLOCK + 13]),
    seed=st.integers(0, 10**6),
    band=st.sampled_from([(960.0, 1030.0), (-np.inf, np.inf), (1000.0, 1000.0), (1e9, -1e9)]),
    masked=st.booleans(),
)
def test_mark_outside_matches_a_run_by_run_reading(
    n: int, seed: int, band: tuple[float, float], masked: bool
) -> None:
    """Each run of eight (across blocks of FLAG_BLOCK subjects) is marked exactly when
    one of its subjects, on no list where masks are given, is outside the band; the
    partial run at the end always is."""
    rng = np.random.default_rng(seed)
    score = rng.normal(1000.0, 40.0, n).astype(np.float32)
    score[rng.random(n) < 0.05] = np.float32(band[0]) if np.isfinite(band[0]) else 0.0
    mask = (rng.random(n) < 0.5).astype(np.uint8) if masked else np.zeros(0, np.uint8)
    runs = np.zeros(n // 8 + 1, bool)
    # (a scratch left full of ones where masked, none given else: made in the kernel)
    flags = np.ones(FLAG_BLOCK, np.uint8) if masked else np.zeros(0, np.uint8)
    mark_outside(score, *band, runs, mask, flags)
    off = (score < band[0]) | (score >= band[1])
    if masked:
        off &= mask == 0
    expect = [off[8 * k : 8 * k + 8].any() for k in range(n // 8)] + [True]
    assert runs.tolist() == expect


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 90),
    seed=st.integers(0, 10**6),
    lo=st.sampled_from([-50.0, 990.0, -1.7976931348623157e308]),
    hi=st.sampled_from([2000.0, 1.7976931348623157e308]),
    band=st.sampled_from([(960.0, 1030.0), (995.1, 1030.3), (-1e9, 1e9)]),
)
def test_drift_with_list_masks_marks_runs_by_their_unlisted_scores_only(
    n: int, seed: int, lo: float, hi: float, band: tuple[float, float]
) -> None:
    """Given the list masks, a run of eight is marked when one of its subjects on no
    list has a score outside the band; the scores are those drift gives without them.
    Score bounds may be the largest float64s (unbounded scores, as the scorer passes
    them), beyond float32's range."""
    rng = np.random.default_rng(seed)
    score = rng.normal(1000.0, 40.0, n).astype(np.float32)
    mask = (rng.random(n) < 0.4).astype(np.uint8) * rng.integers(1, 4, n).astype(np.uint8)
    contacts = rng.integers(0, 3, n).astype(np.uint16)
    plain_out, masked_out = np.empty_like(score), np.empty_like(score)
    plain_runs, masked_runs = np.zeros(n // 8 + 1, bool), np.zeros(n // 8 + 1, bool)
    rules = DriftRules(1000.0, 0.999, 0.5, lo, hi, *band)
    none = np.zeros(0, np.uint8)
    drift(score, plain_out, rules, contacts, DriftMarks(plain_runs, none, none))
    drift(score, masked_out, rules, contacts, DriftMarks(masked_runs, mask, none))
    assert plain_out.tobytes() == masked_out.tobytes()
    off = ((plain_out < band[0]) | (plain_out >= band[1])) & (mask == 0)
    for k in range(n // 8):
        assert masked_runs[k] == off[8 * k : 8 * k + 8].any()
        assert plain_runs[k] >= masked_runs[k]
    assert masked_runs[n // 8]  # the last, partial run always


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 90), seed=st.integers(0, 10**6), association=st.sampled_from([0.0, 0.5]))
def test_drift_holding_residents_equals_holding_them_after(
    n: int, seed: int, association: float
) -> None:
    """Drift that holds the residents not enrolled at the base (marks.held), then
    hold_subjects over the subjects whose scores changed after it, leaves the scores and
    erroneous points that drift, the changes and hold_at_base over everyone held leave."""
    rng = np.random.default_rng(seed)
    score = rng.normal(1000.0, 40.0, n).astype(np.float32)
    held = (rng.random(n) < 0.5).astype(np.uint8)
    contacts = rng.integers(0, 3, n).astype(np.uint16)
    rules = DriftRules(1000.0, 0.99, association, 0.0, 2000.0, 960.0, 1030.0)
    none = np.zeros(0, np.uint8)
    changed = rng.integers(0, n, 5)
    start_errors = np.where(rng.random(n) < 0.3, 2.0, 0.0).astype(np.float32)
    outs = []
    for marks_held in (none, held):
        out, errors = np.empty_like(score), start_errors.copy()
        if len(marks_held):  # (compiled days clear them as the enrolment changes)
            errors[held != 0] = 0.0
        drift(score, out, rules, contacts, DriftMarks(np.zeros(n // 8 + 1, bool), none, marks_held))
        out[changed] -= 7.0
        errors[changed] = 3.0
        if len(marks_held):
            assert (out[(held == 1) & ~np.isin(np.arange(n), changed)] == 1000.0).all()
            hold_subjects(out, errors, changed, held, 1000.0)
        else:
            hold_at_base(out, errors, held, 1000.0)
        outs.append((out.tobytes(), errors.tobytes()))
    assert outs[0] == outs[1]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 60),
    seed=st.integers(0, 1000),
    drift_per_day=st.sampled_from([0.0, 0.001, 0.05]),
    association=st.sampled_from([0.0, 0.02, 3.0]),
    band=st.sampled_from([(960.0, 1030.0), (-np.inf, np.inf), (999.0, 1000.5)]),
)
def test_watched_scorer_matches_plain_and_marks_the_band(
    n: int, seed: int, drift_per_day: float, association: float, band: tuple[float, float]
) -> None:
    """A scorer that watches a band keeps exactly the scores of one that does not, and
    marks every run of eight with a score outside the band or changed since the drift."""
    rng = np.random.default_rng(seed)
    r = rules(drift_per_day=drift_per_day, association_penalty=association)
    plain, watched = Scorer(r, n), Scorer(r, n)
    watched.watch_band(*band)
    contacts = rng.integers(0, 4, n).astype(np.int16)
    for day in range(6):
        for sc in (plain, watched):
            sc.drift(contacts)
        assert np.array_equal(
            plain.state.score.view(np.uint32), watched.state.score.view(np.uint32)
        )
        score = watched.state.score
        outside = (score < band[0]) | (score >= band[1])
        for k in range(n // 8):
            assert watched.outside[k] == outside[8 * k : 8 * k + 8].any()
        assert watched.outside[n // 8]
        subjects = rng.integers(0, max(n, 1), 3 if n else 0)
        points = rng.choice([-50.0, 20.0], len(subjects))
        for sc in (plain, watched):
            sc.apply(day, subjects, points, np.zeros(len(subjects), bool))
        assert watched.outside[subjects // 8].all()
        assert np.array_equal(plain.state.score, watched.state.score)


def test_drift_leaves_the_previous_scores_alone() -> None:
    """Yesterday's scores stay readable until the next drift (another thread tallies them)."""
    sc = Scorer(rules(drift_per_day=0.1), 2)
    sc.apply(0, np.array([0]), np.array([-100.0]), np.array([False]))
    before = sc.state.score
    kept = before.copy()
    sc.drift(np.zeros(0, np.int32))
    sc.apply(1, np.array([0, 1]), np.array([-10.0, 5.0]), np.array([False, False]))
    assert np.array_equal(before, kept) and sc.state.score is not before
    assert sc.state.score.tolist() == pytest.approx([910.0 - 10.0, 1005.0])


def test_drift_worked_out_ahead_is_the_same_and_guards_the_scores() -> None:
    """drift_work() (run, say, in another thread) then drift() gives exactly what drift()
    alone gives; records while the work is pending raise, and so does a second work."""
    r = rules(drift_per_day=0.02, association_penalty=1.5)
    rng = np.random.default_rng(3)
    n = 101
    alone, ahead = Scorer(r, n), Scorer(r, n)
    for sc in (alone, ahead):
        sc.watch_band(960.0, 1030.0)
    contacts = rng.integers(0, 3, n).astype(np.int16)
    for day in range(5):
        subjects = rng.integers(0, n, 7)
        points = rng.choice([-80.0, -30.0, 25.0], 7)
        erroneous = rng.random(7) < 0.5
        for sc in (alone, ahead):
            sc.apply(day, subjects, points, erroneous)
        alone.drift(contacts)
        work = ahead.drift_work(contacts)
        with pytest.raises(RuntimeError):
            ahead.apply(day, subjects[:1], points[:1], erroneous[:1])
        with pytest.raises(RuntimeError):
            ahead.drift_work(contacts)
        work()
        ahead.drift(contacts)
        for a, b in (
            (alone.state.score, ahead.state.score),
            (alone.state.error_points, ahead.state.error_points),
            (alone.outside, ahead.outside),
        ):
            assert np.array_equal(a, b)
