"""Random streams: named, per day, and counter-based for kernels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scslab.streams import day_rng, hash_poisson, hash_uniform, stream_key


def test_day_rng_is_a_pure_function_of_seed_name_day() -> None:
    a = day_rng(1, "courts", 3).random(5)
    assert np.array_equal(a, day_rng(1, "courts", 3).random(5))
    assert not np.array_equal(a, day_rng(1, "courts", 4).random(5))
    assert not np.array_equal(a, day_rng(1, "tax", 3).random(5))
    assert not np.array_equal(a, day_rng(2, "courts", 3).random(5))


def test_hash_uniform() -> None:
    key = stream_key(1, "lists")
    u = np.array([hash_uniform(key, 7, i) for i in range(20_000)])
    assert ((u >= 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert hash_uniform(key, 7, 3) == hash_uniform(key, 7, 3) != hash_uniform(key, 8, 3)
    assert stream_key(1, "a") != stream_key(1, "b")


@pytest.mark.parametrize("mean", [0.0, 0.3, 4.0, 9.99, 10.0, 60.0, 30_000.0])
def test_hash_poisson_has_poisson_moments(mean: float) -> None:
    """Mean and variance within 5 standard errors, on both sides of the switch from
    inversion to transformed rejection (mean 10); a pure function of its counters."""
    key = stream_key(3, "poisson")
    x = np.array([hash_poisson(key, 2, 1000 * i, mean) for i in range(20_000)], np.float64)
    assert (x >= 0).all() and (x == np.round(x)).all()
    if mean == 0.0:
        assert (x == 0).all()
        return
    se_mean = np.sqrt(mean / len(x))
    assert abs(x.mean() - mean) < 5 * se_mean
    se_var = mean * np.sqrt(2.0 / len(x) + 1.0 / (mean * len(x)))
    assert abs(x.var() - mean) < 5 * se_var
    assert hash_poisson(key, 2, 7, mean) == hash_poisson(key, 2, 7, mean)


def test_hash_poisson_distribution_at_small_and_large_means() -> None:
    """Frequencies of 0..k against the Poisson probabilities (chi-square, generous)."""
    key = stream_key(4, "poisson")
    for mean in (2.5, 14.0):
        x = np.array([hash_poisson(key, 0, 100 * i, mean) for i in range(40_000)])
        k = np.arange(int(mean * 3))
        expected = stats.poisson.pmf(k, mean) * len(x)
        observed = np.bincount(x, minlength=len(k))[: len(k)]
        keep = expected > 20
        chi2 = (((observed - expected) ** 2) / expected)[keep].sum()
        assert chi2 < stats.chi2.ppf(0.9999, keep.sum())
