"""Named random streams.

Every mechanism draws from its own stream, derived from (seed, stream name, day), so
that two scenarios that differ in one rule share every other draw (common random
numbers). Two flavours:

- `day_rng(seed, name, day)`: a numpy Generator for the sparse, vectorised draws of one
  mechanism on one day;
- `stream_key(seed, name)` + `hash_uniform(key, a, b)`: a counter-based generator for
  compiled kernels: a pure function of (key, a, b), so that results do not depend on
  how the work is split between threads.
"""

from __future__ import annotations

import functools
import zlib

import numba as nb
import numpy as np


@functools.lru_cache(maxsize=4096)
def _name_word(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def day_rng(seed: int, name: str, day: int = 0) -> np.random.Generator:
    """A Generator for stream `name` on `day`, independent of every other (name, day)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(_name_word(name), day))
    return np.random.Generator(np.random.PCG64(seq))


def stream_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for the counter-based generator of stream `name`."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(_name_word(name),))
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


@nb.njit(cache=True, inline="always")
def splitmix64(x: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: a bijective mix of 64 bits."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def hash_uniform(key: np.uint64, a: int | np.integer, b: int | np.integer) -> float:
    """A uniform float in [0, 1) that is a pure function of (key, a, b)."""
    h = splitmix64(key ^ splitmix64(np.uint64(a) * np.uint64(0x632BE59BD9B4E019) + np.uint64(b)))
    return float(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)
