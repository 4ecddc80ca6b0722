"""Activities: attempts at the stated rates; blocking, wrongful sanctions, green channel."""

from __future__ import annotations

import numpy as np
import pytest

from scslab.activities import OUTCOMES, ActivityRules, draw_attempts, resolve
from scslab.scenario import builtin_text, parse_scenario
from scslab.streams import day_rng

EMPTY8 = np.zeros(0, np.uint8)


def test_draw_rate() -> None:
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    a = rules.names.index("seek_medical_care")
    n = 30_000
    total = sum(len(draw_attempts(rules, a, n, None, None, day_rng(1, "x", d))) for d in range(30))
    assert total / (n * 30) == pytest.approx(6.0 / 365, rel=0.03)
    pool = np.arange(0, n, 3)
    ids = draw_attempts(rules, a, pool, None, None, day_rng(1, "y"))
    assert np.isin(ids, pool).all()


def test_posting_follows_propensity() -> None:
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    a = rules.names.index("post_online")
    n = 10_000
    half = lambda ids: np.where(ids < n // 2, 0.25, 1.0)  # noqa: E731
    ids = np.concatenate(
        [draw_attempts(rules, a, n, None, half, day_rng(2, "p", d)) for d in range(20)]
    )
    lo, hi = (ids < n // 2).sum(), (ids >= n // 2).sum()
    assert lo / hi == pytest.approx(0.25, rel=0.08)


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
