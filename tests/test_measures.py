"""Lists and measures: membership follows the rules exactly; wrongful flags; domains."""

from __future__ import annotations

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scslab.model.containers import ChangeColumns, Points
from scslab.model.departments import RecordKinds
from scslab.model.lists import (
    RULE_AT_LEAST,
    RULE_BELOW,
    RULE_RECORDS,
    Changes,
    ListRules,
    ListState,
    _daily,
    daily_update,
    enlist,
)
from scslab.model.listvisits import agents_to_visit, busy_octets, mark_leaving
from scslab.model.measures import DomainRules, count_listed_contacts, representative_masks
from scslab.model.members import update_members
from scslab.model.scoring import Scorer, ScoreRules
from scslab.scenario.loader import builtin_text, parse_scenario
from scslab.scenario.sections import DOMAINS
from scslab.streams import stream_key

KEY = stream_key(0, "test")


def beijing(**lists):
    data = yaml.safe_load(builtin_text("beijing-2018"))
    for name, update in lists.items():
        data["lists"][name].update(update)
    return parse_scenario(yaml.safe_dump(data))


def compiled(sc):
    kinds = RecordKinds.compile(sc)
    score = ScoreRules.compile(sc.scoring)
    return kinds, ListRules.compile(sc, "resident", kinds.names, score)


def test_compile_thresholds() -> None:
    kinds, lists = compiled(beijing())
    low = lists.names.index("low_credit")
    red = lists.names.index("trustworthy_residents")
    assert lists.threshold[low] == 850  # grade_at_most C: below B's floor
    assert lists.threshold[red] == 1050
    jd = kinds.names.index("judgment_default")
    assert lists.kind_bits[jd] == 1 << lists.names.index("dishonest_judgment_debtors")
    assert lists.black_bits & (1 << red) == 0


@settings(max_examples=80, deadline=None)
@given(
    duration=st.integers(1, 12),
    records=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 5), st.booleans()), max_size=40),
)
def test_record_list_holds_exactly_when_rule_holds(duration, records) -> None:
    """No compliance, no extension: listed on day t iff a triggering record r <= t < r + d."""
    sc = beijing(railway_misconduct={"duration_days": duration})
    kinds, lists = compiled(sc)
    bit = lists.names.index("railway_misconduct")
    kind = kinds.names.index("fare_evasion")
    n = 6
    state = ListState.empty(n, len(lists))
    score = np.full(n, 1000, np.float32)
    err_pts = np.zeros(n, np.float32)
    listed_total = 0
    for day in range(45):
        today = [(s, e) for d, s, e in records if d == day]
        subj = np.array([s for s, _ in today], np.int32)
        errs = np.array([e for _, e in today], bool)
        kinds_arr = np.full(len(today), kind, np.uint8)
        ch = Changes.concat(
            [
                enlist(lists, state, day, subj, kinds_arr, errs),
                daily_update(lists, state, day, Points(score, err_pts), KEY),
            ]
        )
        mine = ch.bit == bit
        listed_total += int(ch.entered[mine].sum()) - int((~ch.entered[mine]).sum())
        on = (state.mask >> bit) & 1
        for s in range(n):
            mine_recs = [(d, e) for d, ss, e in records if ss == s and d <= day < d + duration]
            assert bool(on[s]) == bool(mine_recs), (day, s)
            if mine_recs:  # wrongful exactly when every record keeping them there is erroneous
                assert bool((state.wrongful[s] >> bit) & 1) == all(e for _, e in mine_recs)
        assert listed_total == int(on.sum()) >= 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(500, 1500), st.floats(-200, 200)), min_size=1, max_size=30))
def test_score_lists_follow_the_score(values) -> None:
    _, lists = compiled(beijing())
    n = len(values)
    score = np.array([v for v, _ in values], np.float32)
    err = np.array([e for _, e in values], np.float32)
    state = ListState.empty(n, len(lists))
    for day in range(3):
        daily_update(lists, state, day, Points(score, err), KEY)
        score = score[::-1].copy()
        err = err[::-1].copy()
    score, err = score[::-1], err[::-1]  # state reflects the last day's arrays
    low = lists.names.index("low_credit")
    red = lists.names.index("trustworthy_residents")
    on_low = (state.mask >> low) & 1 == 1
    on_red = (state.mask >> red) & 1 == 1
    assert (on_low == (score < 850)).all()
    assert (on_red == (score >= 1050)).all()
    wrong_low = (state.wrongful >> low) & 1 == 1
    assert (wrong_low == (on_low & ((score - err) >= 850))).all()


def test_compliance_and_extension() -> None:
    sc = beijing(
        dishonest_judgment_debtors={"compliance_per_year": 365 * 5, "extension_probability": 0.0}
    )
    kinds, lists = compiled(sc)
    n = 2000
    state = ListState.empty(n, len(lists))
    k = kinds.names.index("judgment_default")
    enlist(
        lists, state, 0, np.arange(n, dtype=np.int32), np.full(n, k, np.uint8), np.zeros(n, bool)
    )
    ch = daily_update(
        lists, state, 1, Points(np.full(n, 1000, np.float32), np.zeros(n, np.float32)), KEY
    )
    assert len(ch) > 0.9 * n  # daily compliance probability 1 - exp(-5)
    assert not ch.entered.any()


def test_extension_once() -> None:
    sc = beijing(
        railway_misconduct={"duration_days": 5, "extension_days": 10, "extension_probability": 1.0}
    )
    kinds, lists = compiled(sc)
    state = ListState.empty(1, len(lists))
    bit = lists.names.index("railway_misconduct")
    enlist(
        lists,
        state,
        0,
        np.array([0], np.int32),
        np.array([kinds.names.index("fare_evasion")], np.uint8),
        np.array([False]),
    )
    on = []
    for day in range(1, 25):
        points = Points(np.full(1, 1000, np.float32), np.zeros(1, np.float32))
        daily_update(lists, state, day, points, KEY)
        on.append(bool(state.mask[0] >> bit & 1))
    assert on.index(False) == 14  # exits on day 15 = 5 + 10 (one extension only)


def test_listed_contacts_and_representatives() -> None:
    # 0 -> {2}, 1 -> {2}: the transpose says contacts_of(2) = {0, 1}
    counts = np.zeros(3, np.int32)
    t_ptr = np.array([0, 0, 0, 2])
    t_idx = np.array([0, 1], np.int32)
    count_listed_contacts(np.array([2]), np.array([False]), np.array([True]), t_ptr, t_idx, counts)
    assert list(counts) == [1, 1, 0]
    count_listed_contacts(np.array([2]), np.array([True]), np.array([False]), t_ptr, t_idx, counts)
    assert list(counts) == [0, 0, 0]
    # resident 0 represents enterprises 0 and 1
    rep_mask, rep_wrong = np.zeros(1, np.uint8), np.zeros(1, np.uint8)
    representative_masks(
        np.array([0, 1]),
        np.array([0, 0], np.int32),
        np.array([0, 2]),
        np.array([0, 1], np.int32),
        np.array([1, 3], np.uint8),
        np.array([1, 2], np.uint8),
        rep_mask,
        rep_wrong,
    )
    assert rep_mask[0] == 3 and rep_wrong[0] == 2  # bit 0 rightful via enterprise 1


def test_domain_rules() -> None:
    sc = beijing()
    kinds = RecordKinds.compile(sc)
    rs, es = ScoreRules.compile(sc.scoring), ScoreRules.compile(sc.corporate_scoring)
    res = ListRules.compile(sc, "resident", kinds.names, rs)
    ent = ListRules.compile(sc, "enterprise", kinds.names, es)
    dom = DomainRules.compile(sc, "resident", res, ent, rs)
    fl = DOMAINS.index("flights")
    assert dom.block_own[fl] & (1 << res.names.index("dishonest_judgment_debtors"))
    assert dom.block_rep[fl] & (1 << ent.names.index("seriously_dishonest_firms"))
    med = DOMAINS.index("medical")
    assert dom.reward_score[med] == 1030 and dom.wait_factor[med] == 0.5
    assert dom.reward_bits[med] == 1 << res.names.index("trustworthy_residents")
    loans = DOMAINS.index("loans")
    edom = DomainRules.compile(sc, "enterprise", ent, ent, es)
    assert edom.delay_own[loans] == 1 << ent.names.index("abnormal_operations")
    assert edom.delay_days[loans] == 30


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 70),
    seed=st.integers(0, 1000),
    band=st.sampled_from([(960.0, 1050.0), (-np.inf, np.inf), (1000.0, 1000.5)]),
)
def test_busy_octets(n: int, seed: int, band: tuple[float, float]) -> None:
    """A run of eight is busy exactly when one of its agents is listed or outside the band."""
    rng = np.random.default_rng(seed)
    mask = (rng.random(n) < 0.05).astype(np.uint8) * 4
    score = rng.choice(np.array([900.0, 959.9, 960.0, 1000.0, 1049.9, 1050.0], np.float32), n)
    busy = busy_octets(mask, score, *band)
    lo, hi = band
    agent = (mask != 0) | (score < lo) | (score >= hi)
    for k in range(n // 8):
        assert busy[k] == agent[8 * k : 8 * k + 8].any()
    assert busy[n // 8]  # the last, partial run is always looked at


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 700))
def test_daily_update_with_the_scorers_band_is_the_same(seed: int, n: int) -> None:
    """The lists' daily update gives the same changes whether it finds the runs of eight to
    visit itself or takes them from a scorer watching the lists' score band, and the
    listed agents from the masks or from a set kept as the engine keeps it: with drift
    and association penalties moving scores across the band, and records that list."""
    data = yaml.safe_load(builtin_text("beijing-2018"))
    data["scoring"].update(drift_per_day=0.05, association_penalty=4.0)
    sc = parse_scenario(yaml.safe_dump(data))
    kinds, lists = compiled(sc)
    rules = ScoreRules.compile(sc.scoring)
    resident_kinds = np.flatnonzero(kinds.subject == 0)
    rng = np.random.default_rng(seed)
    scorers = [Scorer(rules, n) for _ in range(3)]
    for scorer in scorers[1:]:
        scorer.watch_band(*lists.score_band())
    states = [ListState.empty(n, len(lists)) for _ in range(3)]
    listed = np.zeros(0, np.int64)  # kept as the engine keeps it, for the third
    contacts = rng.integers(0, 3, n).astype(np.int16)
    for day in range(40):
        m = int(rng.integers(0, 1 + n // 10))
        subjects = rng.integers(0, n, m).astype(np.int32)
        kind = rng.choice(resident_kinds, m).astype(np.uint8)
        erroneous = rng.random(m) < 0.2
        changes = []
        for v, (scorer, state) in enumerate(zip(scorers, states, strict=True)):
            scorer.drift(contacts)
            scorer.apply(day, subjects, 3 * kinds.points[kind], erroneous)
            entered = enlist(lists, state, day, subjects, kind, erroneous)
            new = np.unique(entered.subject).astype(np.int64)
            ch = Changes.concat(
                [
                    entered,
                    daily_update(
                        lists,
                        state,
                        day,
                        Points(scorer.state.score, scorer.state.error_points),
                        KEY,
                        score_outside=scorer.outside if v > 0 else None,
                        listed=update_members(listed, new, np.ones(len(new), bool))
                        if v == 2
                        else None,
                    ),
                ]
            )
            if v == 2:
                touched = np.unique(ch.subject).astype(np.int64)
                listed = update_members(listed, touched, state.mask[touched] != 0)
                assert listed.tolist() == np.flatnonzero(state.mask).tolist()
            changes.append((ch.subject.tolist(), ch.bit.tolist(), ch.entered.tolist()))
        assert changes[0] == changes[1] == changes[2]
        for other in states[1:]:
            assert np.array_equal(states[0].mask, other.mask)
            assert np.array_equal(states[0].wrongful, other.wrongful)


@settings(max_examples=60, deadline=None)
@given(
    members=st.sets(st.integers(0, 60)),
    changes=st.dictionaries(st.integers(0, 60), st.booleans()),
)
def test_update_members_is_the_set_update(members: set[int], changes: dict[int, bool]) -> None:
    """update_members: touched ids are members exactly when marked, the rest unchanged."""
    touched = np.array(sorted(changes), np.int64)
    now = np.array([changes[t] for t in sorted(changes)], bool)
    got = update_members(np.array(sorted(members), np.int64), touched, now)
    want = (members - set(changes)) | {t for t, on in changes.items() if on}
    assert got.tolist() == sorted(want)
    assert got.dtype == np.int64


@settings(max_examples=80, deadline=None)
@given(
    listed=st.sets(st.integers(0, 400)),
    runs=st.lists(st.booleans(), max_size=50),  # past a word of runs and AHEAD set runs
    n=st.integers(0, 400),
    seed=st.integers(0, 100),
)
def test_agents_to_visit(listed: set[int], runs: list[bool], n: int, seed: int) -> None:
    """The listed agents (all, or those of the marked runs only), and those of the
    marked runs of eight (below n) with a score outside the band: increasing, each
    once."""
    listed = {i for i in listed if i < n}
    score = np.random.default_rng(seed).choice(
        np.array([950, 960, 1000, 1029, 1030], np.float32), n
    )
    args = (np.array(sorted(listed), np.int64), np.array(runs, np.bool_), score, 960.0, 1030.0)
    marked = {8 * k + j for k, on in enumerate(runs) if on for j in range(8) if 8 * k + j < n}
    off_band = {a for a in marked if not 960 <= score[a] < 1030}
    assert agents_to_visit(*args).tolist() == sorted(listed | off_band)
    assert agents_to_visit(*args, False).tolist() == sorted((listed & marked) | off_band)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), seed=st.integers(0, 10**6))
def test_mark_leaving_marks_the_runs_of_listed_agents_out_of_their_band(n: int, seed: int) -> None:
    """Each listed agent whose score is outside its mask's stay band marks its run of
    eight; runs already marked stay marked, and no other run is marked."""
    rng = np.random.default_rng(seed)
    score = rng.choice(np.array([900, 959.9, 960, 1000, 1029.9, 1030, 1100], np.float32), n)
    mask = rng.integers(0, 4, n).astype(np.uint8)
    listed = np.flatnonzero(mask).astype(np.int64)
    big = np.finfo(np.float64).max
    stay = np.tile([-big, big], (256, 1))
    stay[1], stay[2], stay[3] = (-big, 960.0), (1030.0, big), (1.0, -1.0)
    before = rng.random(n // 8 + 1) < 0.2
    runs = before.copy()
    mark_leaving(listed, score, mask, stay, runs)
    v = score.astype(np.float64)
    leaving = (mask != 0) & ((v < stay[mask, 0]) | (v >= stay[mask, 1]))
    want = before.copy()
    want[np.flatnonzero(leaving) >> 3] = True
    assert runs.tolist() == want.tolist()


@settings(max_examples=100, deadline=None)
@given(
    rules_=st.lists(
        st.tuples(
            st.sampled_from([RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST]),
            st.sampled_from([-np.inf, 900.0, 960.0, 1000.0, 1030.0, np.inf]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_stay_bands_are_where_the_score_rules_agree_with_the_mask(rules_) -> None:
    """For every list mask, a score is in the mask's stay band exactly when each list with
    a score rule has that rule holding just when the mask has the list; row 0 is the
    score band (finite)."""
    b = len(rules_)
    rules = ListRules(
        names=[str(i) for i in range(b)],
        black=np.ones(b, bool),
        rule=np.array([r for r, _ in rules_], np.int8),
        threshold=np.array([t for _, t in rules_], float),
        duration=np.full(b, 3, np.int64),
        extension=np.zeros(b, np.int64),
        extension_probability=np.zeros(b),
        daily_compliance=np.zeros(b),
        kind_bits=np.zeros(1, np.uint8),
    )
    stay = rules.stay_bands
    assert stay.shape == (256, 2) and np.isfinite(stay).all()
    big = np.finfo(np.float64).max
    assert tuple(stay[0]) == tuple(np.clip(rules.score_band(), -big, big))
    scores = np.array([-3e38, 899.9, 900, 959.5, 960, 999.9, 1000, 1030, 1100, 3e38], np.float32)
    for m in range(256):
        for v in scores.astype(np.float64):
            agree = all(
                (v < t if r == RULE_BELOW else v >= t) == bool((m >> k) & 1)
                for k, (r, t) in enumerate(rules_)
                if r != RULE_RECORDS
            )
            assert (stay[m, 0] <= v < stay[m, 1]) == agree, (m, v)


def _every_agent_changes(rules: ListRules, state: ListState, day: int, score, error_points):
    """_daily over every agent, as (subject, bit, entered, wrongful, reason) lists."""
    n = len(state.mask)
    cap = 8 * n + 16
    out = (
        np.empty(cap, np.int32),
        np.empty(cap, np.uint8),
        np.empty(cap, bool),
        np.empty(cap, bool),
        np.empty(cap, np.uint8),
    )
    points = Points(score, error_points)
    ids = np.arange(n, dtype=np.int64)
    k, _ = _daily(state.arrays(), rules.daily(KEY), points, day, ids, 0, ChangeColumns(*out))
    return [a[:k].tolist() for a in out]


@settings(max_examples=100, deadline=None)
@given(
    rules_=st.sampled_from(
        [
            ([RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST], [0, 960, 1030]),
            ([RULE_RECORDS, RULE_BELOW], [0, np.inf]),
            ([RULE_RECORDS, RULE_AT_LEAST], [0, -np.inf]),
            ([RULE_BELOW, RULE_AT_LEAST], [1050, 950]),  # no band: everyone is outside
            ([RULE_RECORDS], [0]),
            ([RULE_BELOW, RULE_AT_LEAST], [1000, 1000]),
        ]
    ),
    n=st.integers(0, 90),
    seed=st.integers(0, 1000),
    form=st.sampled_from(["runs found here", "every run marked", "listed given"]),
)
def test_daily_update_changes_what_visiting_everyone_changes(rules_, n, seed, form) -> None:
    """However the daily update picks whom to visit, it makes the changes that visiting
    every agent makes: infinite and empty score bands, partial runs, scores at +-inf."""
    rule, threshold = rules_
    b = len(rule)
    rules = ListRules(
        names=[str(i) for i in range(b)],
        black=np.ones(b, bool),
        rule=np.array(rule, np.int8),
        threshold=np.array(threshold, float),
        duration=np.full(b, 3, np.int64),
        extension=np.full(b, 2, np.int64),
        extension_probability=np.full(b, 0.5),
        daily_compliance=np.full(b, 0.1),
        kind_bits=np.array([1 if rule[0] == RULE_RECORDS else 0], np.uint8),
    )
    rng = np.random.default_rng(seed)
    every, picked = ListState.empty(n, b), ListState.empty(n, b)
    values = np.array([900, 959.5, 960, 1000, 1029, 1030, 1100, np.inf, -np.inf], np.float32)
    for day in range(12):
        score = rng.choice(values, n)
        error_points = rng.choice(np.array([0.0, 50.0], np.float32), n)
        subjects = rng.integers(0, max(n, 1), int(rng.integers(0, 3)) if n else 0).astype(np.int32)
        kinds = np.zeros(len(subjects), np.uint8)
        erroneous = rng.random(len(subjects)) < 0.3
        for state in (every, picked):
            enlist(rules, state, day, subjects, kinds, erroneous)
        want = _every_agent_changes(rules, every, day, score, error_points)
        got = daily_update(
            rules,
            picked,
            day,
            Points(score, error_points),
            KEY,
            score_outside=None if form == "runs found here" else np.ones(n // 8 + 1, bool),
            listed=np.flatnonzero(picked.mask).astype(np.int64) if form == "listed given" else None,
        )
        assert [
            got.subject.tolist(),
            got.bit.tolist(),
            got.entered.tolist(),
            got.wrongful.tolist(),
            got.reason.tolist(),
        ] == want
        assert np.array_equal(every.mask, picked.mask)
        assert np.array_equal(every.wrongful, picked.wrongful)
