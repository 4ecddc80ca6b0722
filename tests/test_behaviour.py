"""Behaviour: recovering factors in closed form; who watches whom."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.model.behaviour import Recovering, contacts_of_many


def test_recovery_half_life() -> None:
    r = Recovering(3, half_life_days=10, floor=0.2)
    r.shock(np.array([0, 1, 1]), day=5, share=0.5)  # resident 1 twice: 0.25
    assert r.at(np.array([0, 1, 2]), 5) == pytest.approx([0.5, 0.25, 1.0])
    assert r.at(np.array([0, 1]), 15) == pytest.approx([0.75, 0.625])
    assert r.all_at(15)[:2] == pytest.approx([0.75, 0.625])
    r.shock(np.array([1] * 10), day=15, share=0.5)
    assert r.at(np.array([1]), 15)[0] == pytest.approx(0.2)  # floored


def test_contacts_of_many() -> None:
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([1, 2, 0, 1, 2], np.int32)
    assert list(contacts_of_many(indptr, indices, np.array([2, 0]))) == [0, 1, 2, 1, 2]
    assert len(contacts_of_many(indptr, indices, np.array([], np.int64))) == 0


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
