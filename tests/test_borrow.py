"""Borrowed arrays (engine/borrow.py): the same memory without numba's reference counts,
given back whole as the caller's own arrays, and a view of one caught by check_owned."""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
import pytest

from scslab.engine.borrow import borrowed, check_owned


class Pair(NamedTuple):
    values: np.ndarray
    inner: tuple[np.ndarray, int]


@nb.njit
def _fill_and_return(pair: Pair) -> Pair:
    held = borrowed(pair)
    held.values[0] = 7.0
    held.inner[0][1] = 3
    return held


@nb.njit
def _first_row(grid: np.ndarray) -> np.ndarray:
    return borrowed(grid)[0]


@nb.njit
def _own_row(grid: np.ndarray) -> np.ndarray:
    return grid[0]


@nb.njit
def _inner_views(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    held = borrowed(pair)
    return held.values[:1], held.inner[0][:1]


class Same(NamedTuple):  # (numba: a named tuple of one type, laid out as an array)
    a: np.ndarray
    b: np.ndarray


@nb.njit
def _same_view(same: Same) -> np.ndarray:
    return borrowed(same).b[1:]


@nb.njit
def _grown(values: np.ndarray) -> np.ndarray:
    held = borrowed(values)
    out = np.empty(2 * len(held))  # (made here: numba's own)
    out[: len(held)] = held
    return out


def test_borrowed_arrays_write_through_and_come_back_as_the_callers_own() -> None:
    values, ids = np.zeros(3), np.zeros(4, np.int64)
    back = _fill_and_return(Pair(values, (ids, 5)))
    assert isinstance(back, Pair)
    assert back.values is values and back.inner[0] is ids and back.inner[1] == 5
    assert values[0] == 7.0 and ids[1] == 3
    check_owned(back, "test")


def test_a_view_of_a_borrowed_array_is_caught() -> None:
    grid = np.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match="borrowed array's view"):
        check_owned((np.zeros(1), (_first_row(grid),)), "a kernel")
    row = _own_row(grid)  # a view numba counts: it holds the memory
    check_owned(row, "a kernel")
    assert row.tolist() == [0.0, 1.0, 2.0]


def test_every_array_of_a_nested_tuple_is_borrowed() -> None:
    values, ids = np.zeros(3), np.zeros(4, np.int64)
    for view in _inner_views(Pair(values, (ids, 5))):
        with pytest.raises(RuntimeError, match="owns no memory"):
            check_owned(view, "a kernel")
    same = Same(np.zeros(2), np.zeros(3))  # (held here: the views point into it)
    with pytest.raises(RuntimeError, match="owns no memory"):
        check_owned(_same_view(same), "a kernel")


def test_arrays_made_from_borrowed_ones_are_numbas_own() -> None:
    out = _grown(np.arange(3.0))
    check_owned(out, "a kernel")
    assert out[:3].tolist() == [0.0, 1.0, 2.0]
