"""Behaviour: recovering factors in closed form; who watches whom."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.model.behaviour import Recovering, behaviour_day
from scslab.model.containers import Behaviour, ByGroup


def test_recovery_half_life() -> None:
    r = Recovering(3, half_life_days=10, floor=0.2)
    r.shock(np.array([0, 1, 1]), day=5, share=0.5)  # resident 1 twice: 0.25
    assert r.at(np.array([0, 1, 2]), 5) == pytest.approx([0.5, 0.25, 1.0])
    assert r.at(np.array([0, 1]), 15) == pytest.approx([0.75, 0.625])
    assert r.all_at(15)[:2] == pytest.approx([0.75, 0.625])
    r.shock(np.array([1] * 10), day=15, share=0.5)
    assert r.at(np.array([1]), 15)[0] == pytest.approx(0.2)  # floored


def test_behaviour_day_chills_the_penalised_and_their_contacts_and_cuts_income() -> None:
    """Residents 2 (a penalising record) and 0 (newly blacklisted) lose 0.5 of their
    propensity; those who count them as contacts (0, 1, 2 of 2; 1, 2 of 0) 0.1 each time;
    the blocked residents (3 twice) lose income, kept per resident and counted by cell."""
    chill, income = Recovering(4, 10.0), Recovering(4, 10.0, floor=0.2)
    chill.track(np.zeros(4, np.int16), 1)
    indptr = np.array([0, 2, 2, 5, 5])
    indices = np.array([1, 2, 0, 1, 2], np.int32)
    first, shocks = np.full(4, -1, np.int16), np.zeros(4, np.int16)
    beh = Behaviour(
        0.5, 0.1, np.array([False, True]), np.zeros(2), chill.arrays, income.arrays,
        first, shocks, indptr, indices, 2,
    )  # fmt: skip
    row = np.zeros((2, 3))
    counts = ByGroup(row, np.array([0, 0, 1, 1]), np.arange(3), np.arange(2))
    behaviour_day(
        5, beh, np.array([0, 1, 0], np.uint8), np.array([1, 2, 3], np.int32),
        np.array([0], np.int64), np.array([3, 1, 3], np.int64), np.array([0.5, 0.1, 0.5]),
        counts,
    )  # fmt: skip
    assert chill.at(np.arange(4), 5) == pytest.approx([0.45, 0.81, 0.5 * 0.9**2, 1.0])
    assert chill.deficits(5)[0] == pytest.approx(4 - chill.at(np.arange(4), 5).sum())
    assert income.at(np.arange(4), 5) == pytest.approx([1.0, 0.9, 1.0, 0.25])
    assert first.tolist() == [-1, 5, -1, 5] and shocks.tolist() == [0, 1, 0, 2]
    assert row[:, 2].tolist() == [1.0, 2.0]


@settings(max_examples=30, deadline=None)
@given(
    shocks=st.lists(
        st.tuples(st.integers(0, 40), st.lists(st.integers(0, 49), max_size=12)), max_size=8
    ),
    day=st.integers(0, 80),
)
def test_tracked_deficits_equal_the_sum_over_agents(
    shocks: list[tuple[int, list[int]]], day: int
) -> None:
    """The per-group deficit sums follow shocks and recovery exactly (up to rounding)."""
    rec = Recovering(50, half_life_days=10.0, floor=0.05)
    group = (np.arange(50) % 7).astype(np.int16)
    rec.track(group, 7)
    last = 0
    for d, ids in sorted(shocks):
        rec.shock(np.array(ids, np.int64), d, 0.3)
        last = d
    day = max(day, last)
    expected = np.bincount(group, weights=1.0 - rec.all_at(day).astype(np.float64), minlength=7)
    assert np.allclose(rec.deficits(day), expected, atol=1e-5)
