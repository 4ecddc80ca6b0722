"""Named random streams.

Every mechanism draws from its own stream, derived from (seed, stream name, day), so
that two scenarios that differ in one rule share every other draw (common random
numbers). Two flavours:

- `day_rng(seed, name, day)`: a numpy Generator for the sparse, vectorised draws of one
  mechanism on one day;
- `stream_key(seed, name)` + `hash_uniform(key, a, b)`: a counter-based generator for
  compiled kernels: a pure function of (key, a, b), so that results do not depend on
  how the work is split between threads; `hash_poisson(key, a, b, mean)` draws a
  Poisson count from the same counters (b, b + 1, ...).
"""

from __future__ import annotations

import functools
import math
import zlib

import numpy as np

from scslab.kernelcache import kernel


@functools.lru_cache(maxsize=4096)
def _name_word(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def day_rng(seed: int, name: str, day: int = 0) -> np.random.Generator:
    """A Generator for stream `name` on `day`, independent of every other (name, day)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(_name_word(name), day))
    return np.random.Generator(np.random.PCG64(seq))


@functools.lru_cache(maxsize=4096)
def stream_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for the counter-based generator of stream `name` (worked out once
    per (seed, name) in a process: every run of a scenario and seed asks for the same)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(_name_word(name),))
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


@kernel(inner=True)
def splitmix64(x: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: a bijective mix of 64 bits."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return x ^ (x >> np.uint64(31))


@kernel
def hash_uniform(key: np.uint64, a: int | np.integer, b: int | np.integer) -> float:
    """A uniform float in [0, 1) that is a pure function of (key, a, b)."""
    h = splitmix64(key ^ splitmix64(np.uint64(a) * np.uint64(0x632BE59BD9B4E019) + np.uint64(b)))
    return float(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def hash_poisson(key: np.uint64, a: int | np.integer, b: int | np.integer, mean: float) -> int:
    """A Poisson(mean) count drawn from the uniforms hash_uniform(key, a, b + t), t = 0, 1,
    ...: a pure function of (key, a, b, mean). Inversion below a mean of 10, else
    Hörmann's transformed rejection (PTRS, 1993), a few uniforms a draw at any mean."""
    if mean <= 0.0:
        return 0
    t = np.int64(b)
    if mean < 10.0:
        u = hash_uniform(key, a, t)
        k = 0
        p = math.exp(-mean)
        cdf = p
        while u > cdf:
            k += 1
            p *= mean / k
            if cdf + p == cdf:  # u above the cdf's rounded limit (chance ~1e-16): stop
                break
            cdf += p
        return k
    slam = math.sqrt(mean)
    loglam = math.log(mean)
    bb = 0.931 + 2.53 * slam
    aa = -0.059 + 0.02483 * bb
    inv_alpha = 1.1239 + 1.1328 / (bb - 3.4)
    vr = 0.9277 - 3.6224 / (bb - 2.0)
    while True:
        uu = hash_uniform(key, a, t) - 0.5
        v = hash_uniform(key, a, t + 1)
        t += 2
        us = 0.5 - abs(uu)
        if us <= 0.0:  # a uniform of exactly 0 (chance 2^-53): draw again
            continue
        k = math.floor((2.0 * aa / us + bb) * uu + mean + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(inv_alpha) - math.log(aa / (us * us) + bb) <= (
            -mean + k * loglam - math.lgamma(k + 1.0)
        ):
            return int(k)
