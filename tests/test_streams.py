"""Random streams: named, per day, and counter-based for kernels."""

from __future__ import annotations

import numpy as np

from scslab.streams import day_rng, hash_uniform, stream_key


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
