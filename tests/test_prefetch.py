"""The prefetch hint compiles for 1-d arrays and any integer index, and changes nothing."""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest
from numba.core.errors import TypingError

from scslab.model.prefetch import prefetch


@nb.njit
def _sum_with_prefetch(values: np.ndarray, ids: np.ndarray) -> float:
    total = 0.0
    for j in range(len(ids)):
        if j + 2 < len(ids):
            prefetch(values, ids[j + 2])
        total += values[ids[j]]
    return total


@pytest.mark.parametrize("index_type", [np.int32, np.int64, np.uint16])
def test_prefetch_changes_nothing(index_type: type) -> None:
    values = np.arange(100, dtype=np.float32)
    ids = np.array([3, 50, 7, 99, 0], index_type)
    assert _sum_with_prefetch(values, ids) == float(values[ids.astype(np.int64)].sum())
    strided = values[::3]
    assert _sum_with_prefetch(strided, ids[ids < 33]) == float(strided[ids[ids < 33]].sum())


def test_prefetch_takes_one_dimensional_arrays_only() -> None:
    @nb.njit
    def two_d(a: np.ndarray) -> None:
        prefetch(a, 1)

    with pytest.raises(TypingError):
        two_d(np.zeros((2, 2)))
