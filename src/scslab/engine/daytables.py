"""The tables compiled days read (engine/compiled.py run_days), built from the run's
state and the rules as they are now: the record kinds, each side's score and lists,
the residents' activities, their responses to lists, the flagging of attempts that
departments record, and due process; rebuilt by run_compiled (engine/loops.py) at each
change of the rules."""

from __future__ import annotations

import numpy as np

from scslab.engine.containers import (
    ActTable,
    DueDays,
    FirmActs,
    Flagging,
    KindTable,
    ListTable,
    Responses,
    ScoreTable,
)
from scslab.engine.rules import shared_table
from scslab.engine.state import RunState
from scslab.model.activities import ELIGIBLE_CLASSES, make_reach_rules, unflagged_share
from scslab.model.departments import (
    SubjectView,
    thinning_bound,
)
from scslab.model.measures import Reach
from scslab.model.scoring import Scorer, ScoreRules, _finite
from scslab.streams import stream_key


def unscored(n: int) -> Scorer:
    """A points layer for compiled days where the scenario keeps none (no scoring
    section): every score stays at 0, no record has points or expires, nothing reads
    the scores, and the run's state keeps none (Side.score is empty, as in the general
    loop)."""
    rules = ScoreRules(
        base=0.0,
        min_score=-np.inf,
        max_score=np.inf,
        decay=1.0,
        expiry_days=0,
        association_penalty=0.0,
        grade_names=[],
        grade_floors=np.zeros(0),
    )
    return Scorer(rules, n)


def rule_tables(st: RunState, scorer: Scorer) -> tuple[KindTable, ScoreTable, ListTable]:
    """The rules of the run as compiled days take them (the record kinds, about
    residents and enterprises, and the residents' score, kept by `scorer`, and lists),
    from the rules as they are now (the record kinds' table shared by the runs of a
    scenario of one seed and size, engine/rules.py shared_table)."""
    key = ("kinds", st.seed, st.res.n, st.ent.n, st.res.scorer is None)
    kind_table = shared_table(st.scenario, st.kinds, key, lambda: kind_table_of(st))
    score_table, list_table = side_tables(st, 0, kind_table, scorer)
    return kind_table, score_table, list_table


def kind_table_of(st: RunState) -> KindTable:
    """The record kinds as compiled days take them, from the rules as they are now."""
    pop, res, kinds = st.population, st.res, st.kinds
    lists, r = res.lists, pop.residents
    # (residents without a score: their records have no points and do not expire)
    unscored_kind = (kinds.subject == 0) & (res.scorer is None)
    view = SubjectView(
        n=res.n,
        income_decile=r.income_decile,
        migrant=r.migrant,
        list_mask=res.list_state.mask,
        black_bits=lists.black_bits,
        income=None,
        income_factor_floor=st.scenario.behaviour.min_income_factor,
        subject_class=st.subject_class,
    )
    firm_view = SubjectView(
        n=st.ent.n,
        income_decile=None,
        migrant=None,
        list_mask=st.ent.list_state.mask,
        black_bits=st.ent.lists.black_bits,
        income=None,
        income_factor_floor=1.0,
    )
    elasticity = st.scenario.behaviour.default_risk_elasticity
    views = (view, firm_view)
    max_mult = np.array(
        [
            thinning_bound(kinds, k, views[kinds.subject[k]], elasticity)[0]
            for k in range(len(kinds))
        ]
    )
    dept = kinds.department.astype(np.int64)
    firm = kinds.subject == 1
    n_subjects = np.where(firm, st.ent.n, res.n)
    col_true = np.where(firm, st.ent.cols["records_true"][dept], res.cols["records_true"][dept])
    col_erroneous = np.where(
        firm, st.ent.cols["records_erroneous"][dept], res.cols["records_erroneous"][dept]
    )
    list_bits = np.zeros(len(kinds), np.uint8)
    for side_lists, code in ((lists, 0), (st.ent.lists, 1)):
        if len(side_lists.kind_bits):
            list_bits = np.where(kinds.subject == code, side_lists.kind_bits, list_bits)
    return KindTable(
        np.array(st.kind_keys, np.uint64),
        n_subjects * kinds.daily_rate * max_mult,
        max_mult,
        kinds.listed_multiplier,
        kinds.decile_multiplier,
        kinds.migrant_multiplier,
        kinds.coverage,
        kinds.error_rate,
        np.where(unscored_kind, 0, kinds.points),
        col_true.astype(np.int64),
        col_erroneous.astype(np.int64),
        kinds.eligible,
        kinds.restricted,
        kinds.delay_days,
        np.where(unscored_kind, 0, st.dp_rules.expiry_days).astype(np.int64),
        list_bits.astype(np.uint8),
        kinds.subject.astype(np.uint8),
    )


def side_tables(
    st: RunState, code: int, kind_table: KindTable, scorer: Scorer | None
) -> tuple[ScoreTable, ListTable]:
    """The score's and the lists' rules of one side (code 0 residents, 1 enterprises;
    its score kept by `scorer`) as compiled days take them; a side without a score gets
    a score table that is not read."""
    side = (st.res, st.ent)[code]
    lists = side.lists
    if scorer is not None:
        rules = scorer.rules
        longest = shared_table(
            st.scenario,
            st.kinds,
            ("longest expiry", code, st.res.scorer is None),  # (what kind_table_of reads)
            lambda: int(kind_table.expiry[kind_table.subject == code].max(initial=0)),
        )
        scorer.longest_expiry = max(scorer.longest_expiry, longest)
        score_table = ScoreTable(
            rules.base,
            rules.decay,
            rules.association_penalty,
            _finite(rules.min_score),
            _finite(rules.max_score),
            rules.min_score,
            rules.max_score,
            scorer.expiry_left(),
        )
    else:
        score_table = ScoreTable(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.ones(1))
    list_table = shared_table(
        st.scenario,
        st.kinds,
        ("lists", code, st.seed),
        lambda: ListTable(
            lists.rule,
            lists.threshold,
            lists.extension,
            lists.extension_probability,
            lists.daily_compliance,
            st.list_key[code],
            lists.black_bits,
            lists.stay_bands,
            side.cols["changes"],
            side.cols["ever_listed"],
            lists.duration,
        ),
    )
    return score_table, list_table


def activity_table(st: RunState) -> ActTable:
    """The residents' activities as compiled days run them, from the rules as they are
    now (index = activity: the enterprises' have no attempts here, see
    firm_activity_table)."""
    acts, res = st.activities, st.res
    if len(acts) == 0 and _NO_ACTIVITIES:  # (the same whatever the run: nothing is read)
        return _NO_ACTIVITIES[0]
    dom = res.domains
    assert len(acts) <= 64
    resident = ~acts.enterprise
    reaches = [
        Reach(
            res.list_state.mask,
            int(dom.block_own[d] | dom.delay_own[d] | dom.reward_bits[d]),
            st.rep_mask,
            int(dom.block_rep[d] | dom.delay_rep[d]),
            res.score,
            float(dom.reward_score[d]),
        )
        for d in acts.domain
    ]
    drawn = [a for a in range(len(acts)) if acts.daily_rate[a] > 0.0 and resident[a]]
    keys = np.array([st.cell_keys[a][0] for a in drawn], np.uint64)
    slot = np.full(len(acts), -1, np.int64)
    slot[drawn] = np.arange(len(drawn))
    d = acts.domain
    cols = res.cols["outcomes"][d].astype(np.int64)
    blocked_by = res.cols["blocked_by"][d].astype(np.int64)
    posts = np.where(
        acts.posting & resident, int(res.cols["posts"][0]) if "posts" in res.cols else -1, -1
    )
    avoided = res.cols["avoided"][d].astype(np.int64)  # (-1 where nobody responds)
    counted = np.concatenate([cols.ravel(), blocked_by.ravel(), posts, avoided])
    groups = res.series.groups
    table = ActTable(
        np.where(resident, ELIGIBLE_CLASSES[acts.eligible], 0).astype(np.int64),
        np.where(resident, acts.daily_rate, 0.0),
        acts.decile_multiplier,
        acts.base_wait,
        posts.astype(np.int64),
        slot,
        make_reach_rules(acts, reaches, drawn, keys),
        np.stack(
            [
                dom.block_own[d],
                dom.block_rep[d],
                dom.delay_own[d],
                dom.delay_rep[d],
                dom.reward_bits[d],
            ],
            axis=1,
        )
        .astype(np.int64)
        .reshape(len(acts), 5),
        np.stack([dom.delay_days[d], dom.reward_score[d], dom.wait_factor[d]], axis=1).reshape(
            len(acts), 3
        ),
        cols.reshape(len(acts), 6),
        blocked_by.reshape(len(acts), 16),
        np.array(st.others_keys, np.uint64),
        st.groups.size,
        st.green_score,
        st.high_scores is not None,
        groups.indptr.astype(np.int64),
        groups.indices.astype(np.int64),
        np.unique(counted[counted >= 0]).astype(np.int64),
        acts.chilled & resident,
        np.where(resident, acts.income_loss, 0.0),
    )
    if len(acts) == 0:
        _NO_ACTIVITIES.append(table)
    return table


_NO_ACTIVITIES: list[ActTable] = []
"""activity_table() of a run without activities, made once."""


def firm_activity_table(st: RunState) -> FirmActs:
    """The enterprises' activities as compiled days run them, from the rules as they
    are now (activities.enterprise_activity; their responses to their own lists'
    measures, with the run's Side.since of the enterprises)."""
    acts, ent = st.activities, st.ent
    firm = np.flatnonzero(acts.enterprise)
    n = len(firm)
    if n == 0 and _NO_FIRM_ACTIVITIES:  # (of the table, only n and since are read)
        return _NO_FIRM_ACTIVITIES[0]._replace(n=ent.n, since=ent.since)
    dom, d = ent.domains, acts.domain[firm]
    response = dom.response
    responding = np.zeros(n, np.bool_)
    rows = np.zeros((n, 4, 8))
    keys = np.zeros(n, np.uint64)
    for j, a in enumerate(firm):
        if response is not None and int(acts.domain[a]) in response.domains():
            responding[j] = True
            rows[j] = response.rule(int(acts.domain[a]))
            keys[j] = stream_key(st.seed, f"listresponse.{acts.names[a]}")
    cols = ent.cols["outcomes"][d].astype(np.int64).reshape(n, 6)
    blocked_by = ent.cols["blocked_by"][d].astype(np.int64).reshape(n, 16)
    avoided = ent.cols["avoided"][d].astype(np.int64).reshape(n)
    counted = np.concatenate([cols.ravel(), blocked_by.ravel(), avoided])
    groups = ent.series.groups
    table = FirmActs(
        ent.n,
        acts.daily_rate[firm].astype(np.float64),
        np.array([st.activity_keys[a] for a in firm], np.uint64).reshape(n),
        np.stack([dom.block_own[d], dom.delay_own[d]], axis=1).astype(np.int64).reshape(n, 2),
        np.stack([dom.delay_days[d], dom.wait_factor[d], acts.base_wait[firm]], axis=1)
        .astype(np.float64)
        .reshape(n, 3),
        cols,
        blocked_by,
        responding,
        rows,
        keys,
        avoided,
        ent.since,
        np.zeros_like(ent.acc),
        groups.indptr.astype(np.int64),
        groups.indices.astype(np.int64),
        np.unique(counted[counted >= 0]).astype(np.int64),
    )
    if n == 0:
        _NO_FIRM_ACTIVITIES.append(table)
    return table


_NO_FIRM_ACTIVITIES: list[FirmActs] = []
"""firm_activity_table() of a run without the enterprises' activities, made once (its
arrays of no activities, and the first run's collectors' groups, are not read)."""


def due_days(st: RunState) -> DueDays:
    """Due process as compiled days run it, from the rules as they are now: each side
    counting into its groups' rows of the day (through the groups of each cell)."""
    sides = []
    for s, side in enumerate((st.res, st.ent)):
        groups = side.series.groups  # (int64 already: no copies)
        cells = (
            groups.groups_indptr.astype(np.int64, copy=False),
            groups.groups_of_cell.astype(np.int64, copy=False),
        )
        sides.append(st.dp.side(s, side, cells))
    rules = shared_table(st.scenario, st.kinds, ("due", st.seed), st.dp.kernel_rules)
    return DueDays(rules, sides[0], sides[1])


def responses_table(st: RunState) -> Responses:
    """The residents' responses to their lists' measures as compiled days run them, from
    the rules as they are now (measures.ListResponse), with the run's Side.since."""
    acts, res = st.activities, st.res
    response = res.domains.response
    n = len(acts)
    keys = np.zeros(n, np.uint64)
    domain = np.full(n, -1, np.int64)
    if response is None:
        rows = np.zeros((0, 8))
        return Responses(res.since, keys, domain, domain, rows, rows, rows, rows)
    responding = response.domains()
    for a in range(n):
        if acts.domain[a] in responding and not acts.enterprise[a]:
            domain[a] = acts.domain[a]
            keys[a] = stream_key(st.seed, f"listresponse.{acts.names[a]}")
    avoided = np.where(domain >= 0, res.cols["avoided"][acts.domain], -1).astype(np.int64)
    return Responses(
        res.since,
        keys,
        domain,
        avoided,
        response.multiplier,
        response.floor,
        response.half_life,
        response.avoidance,
    )


def flag_table(st: RunState) -> Flagging:
    """How compiled days flag the residents' attempts that departments record, from the
    rules as they are now (RunState.flag_kinds, flag_of, flag_probability; the streams
    of the general loop's activities step): the rules' part shared by the runs of a
    scenario and seed (engine/rules.py shared_table), with the run's pools."""
    acts = st.activities
    pop = st.population
    assert pop is not None
    rules = shared_table(st.scenario, st.kinds, ("flags", st.seed), lambda: flag_rules(st))
    if not len(acts):  # (only the activities read the pools: without any, none is made)
        return rules._replace(income_decile=pop.residents.income_decile)
    pools = [NO_POOL if isinstance(p, int) else p.astype(np.int32, copy=False) for p in st.pools]
    assert len(pools) == 4
    return rules._replace(
        pool_ids=(pools[0], pools[1], pools[2], pools[3]),
        pool_n=np.array([p if isinstance(p, int) else len(p) for p in st.pools], np.int64),
        income_decile=pop.residents.income_decile,
    )


NO_POOL = np.zeros(0, np.int32)
"""Flagging.pool_ids of everyone (and of every pool where there are no activities)."""


def flag_rules(st: RunState) -> Flagging:
    """flag_table's rules (its pools empty, of no residents; no income deciles)."""
    acts, kinds = st.activities, st.kinds
    of_kind = np.full(len(kinds), -1, np.int64)
    of_kind[st.flag_kinds] = np.arange(len(st.flag_kinds))
    n_of = np.array([len(f) for f in st.flag_of], np.int64).reshape(len(acts))
    most = int(n_of.max(initial=0))
    of = np.zeros((len(acts), most), np.int64)
    probability = np.zeros((len(acts), most))
    keys = np.zeros((len(acts), most), np.uint64)
    for a in range(len(acts)):
        of[a, : n_of[a]] = st.flag_of[a]
        probability[a, : n_of[a]] = st.flag_probability[a]
        keys[a, : n_of[a]] = st.cell_keys[a][1]
    return Flagging(
        of_kind,
        n_of,
        of,
        probability,
        np.array([unflagged_share(p) for p in st.flag_probability], np.float64),
        keys,
        np.array(st.activity_keys, np.uint64).reshape(len(acts)),
        acts.eligible.astype(np.int64),
        (NO_POOL, NO_POOL, NO_POOL, NO_POOL),
        np.zeros(4, np.int64),
        np.zeros(0, np.uint8),
    )
