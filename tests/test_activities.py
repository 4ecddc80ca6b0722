"""Activities: attempts at the stated rates; blocking, wrongful sanctions, green channel."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from scslab.activities import OUTCOMES, ActivityRules, draw_attempts, resolve
from scslab.scenario import builtin_text, parse_scenario
from scslab.streams import stream_key

EMPTY8 = np.zeros(0, np.uint8)


def test_draw_rate() -> None:
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    a = rules.names.index("seek_medical_care")
    key = stream_key(1, "x")
    n = 30_000
    draws = [draw_attempts(rules, a, n, None, None, key, d) for d in range(30)]
    total = sum(len(x) for x in draws)
    assert total / (n * 30) == pytest.approx(6.0 / 365, rel=0.03)
    assert all((np.diff(x) >= 0).all() for x in draws)  # in id order
    # A Poisson number per subject-day: at 3 a day, counts have mean and variance 3
    data = yaml.safe_load(builtin_text("beijing-2018"))
    data["activities"]["seek_medical_care"]["rate_per_year"] = 3 * 365
    busy = ActivityRules.compile(parse_scenario(yaml.safe_dump(data)))
    b = busy.names.index("seek_medical_care")
    counts = np.bincount(draw_attempts(busy, b, 20_000, None, None, key, 0), minlength=20_000)
    assert counts.mean() == pytest.approx(3.0, rel=0.03)
    assert counts.var() == pytest.approx(3.0, rel=0.08)
    pool = np.arange(0, n, 3, dtype=np.int32)
    ids = draw_attempts(rules, a, pool, None, None, key, 5)
    assert np.isin(ids, pool).all() and len(ids) > 0


def test_income_gradient_of_attempts() -> None:
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    a = rules.names.index("fly")  # poorest_to_richest 0.1: the rich fly ten times as often
    n = 100_000
    deciles = (np.arange(n) % 10).astype(np.uint8)
    ids = np.concatenate(
        [draw_attempts(rules, a, n, deciles, None, stream_key(3, "f"), d) for d in range(60)]
    )
    per = np.bincount(deciles[ids], minlength=10)
    assert per[9] / per[0] == pytest.approx(10.0, rel=0.15)
    assert len(ids) / (n * 60) == pytest.approx(0.88 / 365, rel=0.05)


def test_posting_follows_propensity() -> None:
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    a = rules.names.index("post_online")
    n = 10_000
    value = np.ones(n, np.float32)
    value[: n // 2] = 0.25  # chilled on day 0, recovering with a half-life of 180 days
    since = np.zeros(n, np.int16)
    rate = float(np.log(2) / 180)
    ids = np.concatenate(
        [
            draw_attempts(rules, a, n, None, (value, since, rate), stream_key(2, "p"), d)
            for d in range(20)
        ]
    )
    lo, hi = (ids < n // 2).sum(), (ids >= n // 2).sum()
    expected = np.mean([1 - 0.75 * np.exp(-rate * d) for d in range(20)])
    assert lo / hi == pytest.approx(expected, rel=0.08)


def run_resolve(
    own_mask,
    own_wrong,
    rep_mask,
    rep_wrong,
    score,
    *,
    block_own=0b01,
    block_rep=0b10,
    delay_own=0,
    reward_bits=0,
    reward_score=np.inf,
):
    n = len(own_mask)
    acc = np.zeros((1, len(OUTCOMES)))
    blocked_count = np.zeros(n, np.int32)
    wrongful_count = np.zeros(n, np.int32)
    out_b, out_d = np.empty(n, np.int64), np.empty(n, np.int64)
    nb_, nd_ = resolve(
        np.arange(n),
        np.zeros(n, np.int16),
        own_mask,
        own_wrong,
        rep_mask,
        rep_wrong,
        block_own,
        block_rep,
        delay_own,
        0,
        10.0,
        reward_bits,
        reward_score,
        0.5,
        score,
        4.0,
        acc,
        np.arange(len(OUTCOMES)),
        blocked_count,
        wrongful_count,
        out_b,
        out_d,
    )
    return dict(zip(OUTCOMES, acc[0], strict=True)), out_b[:nb_], out_d[:nd_], wrongful_count


def test_resolve_blocks_and_flags_wrongful() -> None:
    own = np.array([0, 1, 1, 0, 0], np.uint8)
    own_w = np.array([0, 1, 0, 0, 0], np.uint8)  # resident 1's listing is wrongful
    rep = np.array([0, 0, 0, 2, 2], np.uint8)  # 3 and 4 represent listed firms
    rep_w = np.array([0, 0, 0, 2, 0], np.uint8)  # resident 3's firm listed wrongly
    counts, blocked, done, wrongful = run_resolve(
        own, own_w, rep, rep_w, np.full(5, 1000, np.float32)
    )
    assert counts["attempts"] == 5 and counts["blocked"] == 4
    assert list(blocked) == [1, 2, 3, 4] and list(done) == [0]
    assert counts["wrongful_blocked"] == 2 and list(wrongful) == [0, 1, 0, 1, 0]
    assert counts["wait_days"] == 4.0


def test_green_channel_and_delay() -> None:
    own = np.array([0, 0, 4, 8], np.uint8)
    score = np.array([1000, 1040, 1000, 1000], np.float32)
    counts, _, done, _ = run_resolve(
        own,
        np.zeros(4, np.uint8),
        EMPTY8,
        EMPTY8,
        score,
        block_own=0,
        block_rep=0,
        delay_own=8,
        reward_bits=4,
        reward_score=1030.0,
    )
    assert len(done) == 4
    assert counts["green_channel"] == 2  # by score (1) and by red list (2)
    assert counts["delayed"] == 1
    assert counts["wait_days"] == 4 + 2 + 2 + 14
