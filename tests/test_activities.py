"""Activities: attempts at the stated rates; blocking, wrongful sanctions, green channel."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.model.activities import (
    ELIGIBLE,
    ELIGIBLE_CLASSES,
    ActivityRules,
    ResidentGroups,
    draw_attempts,
    draw_by_cell,
    draw_reached,
    eligibility_class,
)
from scslab.model.attempts import flag_done
from scslab.model.behaviour import Recovering
from scslab.model.containers import Measures, Outcomes, Recovery, Standing
from scslab.model.measures import (
    OUTCOMES,
    HighScores,
    Reach,
    reached_ids,
    resolve,
    union_sorted,
)
from scslab.scenario.loader import builtin_text, load_scenario, parse_scenario
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


def test_monitored_activities_are_chilled() -> None:
    """Chilling lowers posting and every activity a record kind comes from (loyalty)."""
    rules = ActivityRules.compile(load_scenario("beijing-2018-loyalty"))
    chilled = {n for n, c in zip(rules.names, rules.chilled, strict=True) if c}
    assert chilled == {"post_online", "petition", "attend_gathering", "attend_worship"}
    assert [n for n, p in zip(rules.names, rules.posting, strict=True) if p] == ["post_online"]
    rules = ActivityRules.compile(parse_scenario(builtin_text("beijing-2018")))
    assert (rules.chilled == rules.posting).all()


@pytest.mark.parametrize(
    ("name", "activity", "n", "chilled"),
    [
        ("beijing-2018", "post_online", 10_000, True),
        ("beijing-2018-loyalty", "attend_worship", 200_000, True),
        ("beijing-2018-loyalty", "book_hotel", 100_000, False),
    ],
)
def test_monitored_activities_follow_propensity(
    name: str, activity: str, n: int, chilled: bool
) -> None:
    rules = ActivityRules.compile(load_scenario(name))
    a = rules.names.index(activity)
    value = np.ones(n, np.float32)
    value[: n // 2] = 0.25  # chilled on day 0, recovering with a half-life of 180 days
    since = np.zeros(n, np.int16)
    rate = float(np.log(2) / 180)
    chill = Recovery(
        value, since, rate, 0.0, np.zeros(0, np.int16), np.zeros(0), np.zeros(1, np.int64)
    )
    ids = np.concatenate(
        [draw_attempts(rules, a, n, None, chill, stream_key(2, "p"), d) for d in range(20)]
    )
    lo, hi = (ids < n // 2).sum(), (ids >= n // 2).sum()
    expected = np.mean([1 - 0.75 * np.exp(-rate * d) for d in range(20)]) if chilled else 1.0
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
    k = len(OUTCOMES)
    acc = np.zeros((1, k + 16))  # the outcomes, then blocked by each own and firm list
    blocked_count = np.zeros(n, np.int32)
    wrongful_count = np.zeros(n, np.int32)
    out_b, out_d = np.empty(n, np.int64), np.empty(n, np.int64)
    standing = Standing(np.zeros(n, np.int16), own_mask, own_wrong, rep_mask, rep_wrong, score)
    delays = (delay_own, 0, 10.0)  # own lists, firms' lists, days
    measures = Measures(block_own, block_rep, *delays, reward_bits, reward_score, 0.5, 4.0)
    outcomes = Outcomes(acc, np.arange(k), np.arange(k, k + 16), blocked_count, wrongful_count)
    nb_, nd_ = resolve(np.arange(n), standing, measures, outcomes, out_b, out_d)
    counts = dict(zip(OUTCOMES, acc[0, :k], strict=True))
    counts["by_list"] = acc[0, k:].tolist()  # type: ignore[assignment]
    return counts, out_b[:nb_], out_d[:nd_], wrongful_count


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
    assert counts["by_list"] == [2.0] + [0.0] * 8 + [2.0] + [0.0] * 6  # own 0; firm list 1


def test_an_attempt_blocked_by_two_lists_counts_for_each() -> None:
    """Blocked by the resident's own list 0 and by the represented firm's list 1: one
    blocked attempt, counted under both lists; a list that blocks nothing here (own list
    1, not in block_own) counts nothing."""
    own = np.array([0b11], np.uint8)
    rep = np.array([0b10], np.uint8)
    counts, blocked, _, _ = run_resolve(
        own, np.zeros(1, np.uint8), rep, np.zeros(1, np.uint8), np.full(1, 1000, np.float32)
    )
    assert counts["blocked"] == 1 and list(blocked) == [0]
    assert counts["by_list"] == [1.0] + [0.0] * 8 + [1.0] + [0.0] * 6


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


def test_posts_in_closed_form_match_the_individual_rates() -> None:
    """draw_by_cell: posts of reached residents drawn one by one, everyone else's counted per
    cell, flagged posts drawn by subject; every count has the mean of the individual draw."""
    data = yaml.safe_load(builtin_text("beijing-2018"))
    post = data["activities"]["post_online"]
    post.update(rate_per_year=365 * 0.5, eligible="adults", poorest_to_richest=3.0)
    rules = ActivityRules.compile(parse_scenario(yaml.safe_dump(data)))
    a = rules.names.index("post_online")
    rng = np.random.default_rng(5)
    n, n_cells = 40_000, 6
    age_band = rng.integers(0, 8, n).astype(np.uint8)
    parent = (age_band >= 2) & (age_band <= 5) & (rng.random(n) < 0.4)
    deciles = rng.integers(0, 10, n).astype(np.uint8)
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    people = ResidentGroups.of(cell, n_cells, deciles, eligibility_class(age_band, parent))
    pool = np.flatnonzero(age_band >= 2).astype(np.int32)
    chill = Recovering(n, half_life_days=20.0)
    chill.track(people.group, people.size.size)
    chill.shock(np.flatnonzero(rng.random(n) < 0.3), 0, 0.6)
    chill.shock(np.flatnonzero(rng.random(n) < 0.1), 3, 0.5)
    mask = (rng.random(n) < 0.03).astype(np.uint8) * 0b101
    rep_mask = (rng.random(n) < 0.01).astype(np.uint8) * 0b10
    score = rng.normal(1000, 20, n).astype(np.float32)
    reach = Reach(mask, 0b100, rep_mask, 0b10, score, 1030.0)
    reached = (((mask & 0b100) | (rep_mask & 0b10)) != 0) | (score >= 1030)
    assert reach.of(np.arange(n)).tolist() == reached.tolist()
    flag_p = np.array([0.01, 0.02])
    mults = rules.decile_multiplier[a]
    days = range(5, 25)
    posts_by_cell = np.zeros(n_cells)
    reached_posts = np.zeros(n, np.int64)
    flagged = [0, 0]
    expected = np.zeros(n)
    for day in days:
        reaches = [reach if b == a else None for b in range(len(rules))]
        keys = [stream_key(1, "reached")] * len(rules)
        ids = reached_ids(mask, rep_mask, score, 1020.0)
        drawn = draw_by_cell(
            rules,
            a,
            people,
            pool,
            draw_reached(rules, reaches, people, ids, chill.arrays, keys, day),
            chill=chill,
            flag_probability=flag_p,
            flag_keys=[stream_key(1, "f0"), stream_key(1, "f1")],
            others_key=stream_key(1, "posts"),
            day=day,
        )
        assert reached[drawn.reached].all() and (np.diff(drawn.reached) >= 0).all()
        reached_posts += np.bincount(drawn.reached, minlength=n)
        posts_by_cell += drawn.others + np.bincount(cell[drawn.reached], minlength=n_cells)
        for k, ids in enumerate(drawn.flagged):
            assert not reached[ids].any() and (age_band[ids] >= 2).all()
            flagged[k] += len(ids)
        expected += rules.daily_rate[a] * mults[deciles] * chill.all_at(day) * (age_band >= 2)
    want_cells = np.bincount(cell, weights=expected, minlength=n_cells)
    assert np.abs(posts_by_cell - want_cells).max() < 4 * np.sqrt(want_cells.max())
    want_reached = expected[reached].sum()
    assert abs(reached_posts.sum() - want_reached) < 4 * np.sqrt(want_reached)
    assert (reached_posts[age_band < 2] == 0).all()
    others = expected[~reached].sum()
    for k in range(2):
        assert abs(flagged[k] - flag_p[k] * others) < 4 * np.sqrt(flag_p[k] * others)


def test_attempts_done_are_flagged_under_one_kind_at_most() -> None:
    posters = np.arange(200_000)  # one post each
    key = stream_key(4, "t")
    which = flag_done(posters, np.array([0.01, 0.03]), key, 7)
    assert set(np.unique(which).tolist()) == {0, 1, 2}  # 2: not flagged
    assert (which == 0).sum() == pytest.approx(2_000, rel=0.1)
    assert (which == 1).sum() == pytest.approx(6_000, rel=0.06)
    assert np.array_equal(which, flag_done(posters, np.array([0.01, 0.03]), key, 7))
    assert not np.array_equal(which, flag_done(posters, np.array([0.01, 0.03]), key, 8))
    assert (flag_done(posters, np.zeros(0), key, 7) == 0).all()  # no kind: none flagged


def test_eligibility_classes_match_the_pools() -> None:
    from scslab.scenario.loader import load_scenario
    from scslab.scenario.population import build_population

    r = build_population(load_scenario("beijing-2018").population, 20_000, 1).residents
    klass = eligibility_class(r.age_band, r.parent)
    pools = {
        "all": np.ones(len(r), bool),
        "adults": r.age_band >= 2,
        "working_age": (r.age_band >= 2) & (r.age_band <= 5),
        "parents": r.parent,
    }
    for name, code in ELIGIBLE.items():
        assert ((ELIGIBLE_CLASSES[code] >> klass) & 1).astype(bool).tolist() == pools[name].tolist()


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 64, 1001])
def test_reached_ids(n: int) -> None:
    rng = np.random.default_rng(n)
    mask = (rng.random(n) < 0.1).astype(np.uint8) * 4
    rep = (rng.random(n) < 0.05).astype(np.uint8)
    assert reached_ids(mask, rep).tolist() == np.flatnonzero(mask | rep).tolist()
    full = np.ones(n, np.uint8)
    assert reached_ids(full, rep).tolist() == list(range(n))
    score = rng.normal(1000, 20, n).astype(np.float32)
    high = np.flatnonzero((mask | rep) | (score >= 1020))
    assert reached_ids(mask, rep, score, 1020.0).tolist() == high.tolist()
    assert reached_ids(mask, rep, score, np.inf).tolist() == np.flatnonzero(mask | rep).tolist()


@settings(max_examples=25, deadline=None)
@given(
    days=st.lists(
        st.lists(st.tuples(st.integers(0, 29), st.sampled_from([-40.0, -5.0, 8.0, 30.0]))),
        min_size=1,
        max_size=25,
    ),
    association=st.sampled_from([0.0, 0.5]),
)
def test_high_scores_follow_the_scores(
    days: list[list[tuple[int, float]]], association: float
) -> None:
    """HighScores, fed by Scorer.take_risen, is exactly the set of scores >= the floor."""
    from scslab.model.scoring import Scorer, ScoreRules

    rules = ScoreRules(
        base=1000.0,
        min_score=0.0,
        max_score=1100.0,
        decay=0.97,
        expiry_days=3,
        association_penalty=association,
        grade_names=["A", "B"],
        grade_floors=np.array([1020.0, 0.0]),
    )
    scorer = Scorer(rules, 30)
    scorer.track_risen = True
    high = HighScores(1020.0, scorer.state.score)
    listed_contacts = (np.arange(30) % 4).astype(np.int32)
    for day, records in enumerate(days):
        scorer.drift(listed_contacts)
        subjects = np.array([r[0] for r in records], np.int64)
        points = np.array([r[1] for r in records], np.float64)
        erroneous = np.arange(len(records)) % 3 == 0
        scorer.apply(day, subjects, points, erroneous)
        scorer.expire(day)
        if day % 4 == 3 and len(records):  # withdraw (appeal won) yesterday's first record
            scorer.withdraw(subjects[:1], points[:1] * rules.decay, erroneous[:1])  # a day on
        score = scorer.state.score
        ids = high.update(score, scorer.take_risen())
        assert ids.tolist() == np.flatnonzero(score >= 1020.0).tolist()


def test_union_sorted() -> None:
    a = np.array([1, 3, 5, 9], np.int64)
    b = np.array([0, 3, 4, 9, 12], np.int64)
    assert union_sorted(a, b).tolist() == [0, 1, 3, 4, 5, 9, 12]
    assert union_sorted(a, np.zeros(0, np.int64)).tolist() == a.tolist()


def _many_activities(n_acts: int, rng: np.random.Generator) -> ActivityRules:
    """Residents' activities with random rates, eligibility and income gradients."""
    return ActivityRules(
        names=[f"a{a}" for a in range(n_acts)],
        domain=np.zeros(n_acts, np.int64),
        enterprise=np.zeros(n_acts, np.bool_),
        eligible=rng.integers(0, 4, n_acts),
        daily_rate=rng.uniform(0.05, 0.6, n_acts),
        decile_multiplier=rng.uniform(0.5, 2.0, (n_acts, 10)),
        base_wait=np.ones(n_acts),
        income_loss=np.zeros(n_acts),
        posting=rng.random(n_acts) < 0.3,
        chilled=rng.random(n_acts) < 0.4,
    )


def _reached_city(n: int, rng: np.random.Generator) -> tuple:
    """Residents with lists, rep lists, scores, groups and propensities (chilling)."""
    n_cells = 5
    klass = rng.integers(0, 4, n).astype(np.uint8)
    decile = rng.integers(0, 10, n).astype(np.uint8)
    cell = rng.integers(0, n_cells, n).astype(np.int16)
    people = ResidentGroups.of(cell, n_cells, decile, klass)
    mask = rng.integers(0, 256, n).astype(np.uint8) * (rng.random(n) < 0.3)
    rep = rng.integers(0, 4, n).astype(np.uint8) * (rng.random(n) < 0.2)
    score = rng.normal(1000, 25, n).astype(np.float32)
    chill = Recovering(n, half_life_days=15.0)
    chill.shock(np.flatnonzero(rng.random(n) < 0.4), 2, 0.7)
    return people, mask.astype(np.uint8), rep.astype(np.uint8), score, chill


def test_draw_reached_activities_are_drawn_apart() -> None:
    """Each activity's attempts and reached rates are the same whether it is drawn alone
    or with others (its own stream, its own residents), also past 64 activities at once."""
    rng = np.random.default_rng(11)
    n_acts, n = 70, 3_000
    rules = _many_activities(n_acts, rng)
    people, mask, rep, score, chill = _reached_city(n, rng)
    reaches = [
        Reach(mask, int(rng.integers(0, 256)), rep, int(rng.integers(0, 4)), score, reward)
        for reward in rng.choice([np.inf, 1010.0, 1040.0], n_acts)
    ]
    ids = np.arange(n, dtype=np.int64)
    keys = [stream_key(3, f"a{a}") for a in range(n_acts)]
    now = chill.arrays
    together = draw_reached(rules, reaches, people, ids, now, keys, 9)
    for a in (0, 17, 63, 64, 69):
        alone = [r if b == a else None for b, r in enumerate(reaches)]
        drawn = draw_reached(rules, alone, people, ids, now, keys, 9)
        assert drawn.attempts[a].tolist() == together.attempts[a].tolist()
        assert np.array_equal(drawn.rate[a], together.rate[a])
        assert not drawn.rate[np.arange(n_acts) != a].any()
    assert sum(len(x) for x in together.attempts) > 1000


def test_draw_reached_means_and_rates() -> None:
    """Only eligible residents that the activity reaches attempt it, in id order; each
    makes Poisson(rate x multiplier x propensity) attempts; the reached rates are the
    sums of those rates by cell."""
    rng = np.random.default_rng(12)
    n_acts, n = 4, 4_000
    rules = _many_activities(n_acts, rng)
    people, mask, rep, score, chill = _reached_city(n, rng)
    reaches = [
        Reach(mask, 0b1, rep, 0, score, np.inf),
        Reach(mask, 0, rep, 0b10, score, np.inf),
        Reach(mask, 0, rep, 0, score, 1020.0),
        Reach(mask, 0b110, rep, 0b1, score, 1030.0),
    ]
    ids = np.flatnonzero(rng.random(n) < 0.8).astype(np.int64)  # the rest: never drawn
    keys = [stream_key(4, f"a{a}") for a in range(n_acts)]
    counts = np.zeros((n_acts, n))
    expected = np.zeros((n_acts, n))
    days = range(20, 60)
    now = chill.arrays
    for day in days:
        drawn = draw_reached(rules, reaches, people, ids, now, keys, day)
        propensity = chill.at(np.arange(n), day)  # float64, as the kernel computes it
        for a, reach in enumerate(reaches):
            eligible = ((ELIGIBLE_CLASSES[rules.eligible[a]] >> people.klass) & 1) == 1
            who = np.zeros(n, bool)
            who[ids] = reach.of(ids)
            who &= eligible
            rate = rules.daily_rate[a] * rules.decile_multiplier[a][people.income_decile]
            rate = rate * (propensity if rules.chilled[a] else 1.0) * who
            got = drawn.attempts[a]
            assert who[got].all() and (np.diff(got) >= 0).all()
            np.testing.assert_allclose(
                drawn.rate[a], np.bincount(people.cell, rate, minlength=5), rtol=1e-9
            )
            counts[a] += np.bincount(got, minlength=n)
            expected[a] += rate
    for a in range(n_acts):
        want, got = expected[a].sum(), counts[a].sum()
        assert want > 500
        assert abs(got - want) < 4 * np.sqrt(want)
        # by income decile too (the thinning by multiplier)
        for d in (0, 9):
            sel = people.income_decile == d
            assert abs(counts[a][sel].sum() - expected[a][sel].sum()) < 4 * np.sqrt(
                expected[a][sel].sum() + 1
            )


def test_draw_reached_keeps_its_kernel_rules_per_reach() -> None:
    """The kernel's rules are built once per activities, reaches and streams: the same
    draw again reuses them, a reach with other bits gets its own."""
    rng = np.random.default_rng(14)
    rules = _many_activities(3, rng)
    people, mask, rep, score, chill = _reached_city(2_000, rng)
    ids = np.arange(2_000, dtype=np.int64)
    keys = [stream_key(6, f"a{a}") for a in range(3)]
    reaches = [Reach(mask, 0b1, rep, 0b1, score, 1010.0) for _ in range(3)]
    first = draw_reached(rules, reaches, people, ids, chill.arrays, keys, 4)
    again = draw_reached(rules, reaches, people, ids, chill.arrays, keys, 4)
    assert len(rules.reach_rules) == 1
    assert [x.tolist() for x in first.attempts] == [x.tolist() for x in again.attempts]
    other = [Reach(mask, 0b10, rep, 0b1, score, 1010.0) for _ in range(3)]
    wider = draw_reached(rules, other, people, ids, chill.arrays, keys, 4)
    assert len(rules.reach_rules) == 2
    fresh = _many_activities(3, np.random.default_rng(14))
    assert [x.tolist() for x in wider.attempts] == [
        x.tolist() for x in draw_reached(fresh, other, people, ids, chill.arrays, keys, 4).attempts
    ]


def test_draw_reached_with_an_activity_switched_off() -> None:
    """An activity with rate 0 (allowed by the scenario) draws nothing, and the others
    are drawn as without it."""
    rng = np.random.default_rng(13)
    rules = _many_activities(3, rng)
    rules.daily_rate[1] = 0.0
    people, mask, rep, score, chill = _reached_city(2_000, rng)
    reaches = [Reach(mask, 0xFF, rep, 0b11, score, 1010.0) for _ in range(3)]
    ids = np.arange(2_000, dtype=np.int64)
    keys = [stream_key(5, f"a{a}") for a in range(3)]
    now = chill.arrays
    drawn = draw_reached(rules, reaches, people, ids, now, keys, 4)
    assert len(drawn.attempts[1]) == 0 and not drawn.rate[1].any()
    alone = draw_reached(rules, [reaches[0], None, None], people, ids, now, keys, 4)
    assert drawn.attempts[0].tolist() == alone.attempts[0].tolist() and len(alone.attempts[0])
