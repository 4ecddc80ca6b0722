"""Activities: what residents and enterprises attempt each day.

Each activity has a per-year rate per eligible subject. The day's attempts are drawn by
thinning; each attempt that a measure or reward may meet is then resolved against them
(measures.py: blocked, delayed, or a shorter wait in the green channel).

Almost all attempts meet no measure (a post a week alone is 3 million posts a day in the
whole city). Residents' attempts are drawn in closed form (`draw_by_cell`): the attempts
of residents whom a measure or reward of the domain reaches (a list, a listed enterprise
they represent, a score high enough for the green channel) are drawn one by one, for
every activity in one pass over those residents (`draw_reached`), and resolved; everyone
else's are only counted, per cell, as a Poisson number whose mean is the cell's summed
rate (income multipliers, and for monitored activities the propensities that chilling
lowers). The few attempts that a department will record (flagged: posts the speech
department screens, petitions, gatherings or worship that a loyalty record is drawn
from) are drawn by subject. An attempt is flagged under at most one record kind.

Monitored (chilled) activities: posting (domain online_accounts) and every activity that
a record kind comes from (source 'activity'); a resident's one propensity, lowered by
chilling, scales them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.attempts import flag_unreached, others_by_cell, sweep_all
from scslab.model.behaviour import Recovering
from scslab.model.containers import (
    AttemptShare,
    DomainReach,
    Pool,
    Reachable,
    ReachedOut,
    ReachRules,
    Recovery,
    Resolving,
    Responding,
    Thinning,
)
from scslab.model.measures import Reach, attempts_made, resolve
from scslab.model.prefetch import AHEAD, prefetch
from scslab.scenario.rates import decile_multipliers
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS
from scslab.streams import hash_uniform

ELIGIBLE = {"all": 0, "adults": 1, "working_age": 2, "parents": 3}
CLASSES = ("under 20", "20-59, not a parent", "20-59, parent", "60 and over")
"""Residents' eligibility classes (see eligibility_class)."""
ELIGIBLE_CLASSES = np.array([0b1111, 0b1110, 0b0110, 0b0100], np.int64)
"""ELIGIBLE_CLASSES[code] has bit c set when class c is eligible under ELIGIBLE code."""
MOST_REACH_RULES = 256
"""ActivityRules.reach_rules keeps at most this many (then starts afresh)."""


@dataclass(frozen=True)
class ActivityRules:
    """The scenario's activities compiled to arrays (index = activity id)."""

    names: list[str]
    domain: np.ndarray  # int64, index into DOMAINS
    enterprise: np.ndarray  # bool, True = attempted by enterprises
    eligible: np.ndarray  # int64, ELIGIBLE code
    daily_rate: np.ndarray  # float64, attempts per eligible subject per day
    decile_multiplier: np.ndarray  # float64 [activities, 10]
    base_wait: np.ndarray  # float64, days
    income_loss: np.ndarray  # float64, share of income lost when blocked
    posting: np.ndarray  # bool, online posts (counted as posts; posts can be flagged)
    chilled: np.ndarray  # bool, monitored: chilling lowers the rate (module docstring)
    reach_rules: dict[tuple, ReachRules] = field(default_factory=dict, compare=False, repr=False)
    """draw_reached's kernel rules, by the activities, reaches and streams they are of:
    built once for these rules (whose arrays do not change once compiled), at most
    MOST_REACH_RULES of them (then afresh: the rules are shared by every run of a
    scenario, and the streams differ by seed)."""

    @classmethod
    def compile(cls, scenario: Scenario) -> ActivityRules:
        """Arrays from the scenario's activities section."""
        acts = list(scenario.activities.items())
        posting = np.array([a.domain == "online_accounts" for _, a in acts], np.bool_)
        sources = {k.activity for _, _, k in scenario.record_kinds() if k.source == "activity"}
        return cls(
            names=[n for n, _ in acts],
            domain=np.array([DOMAINS.index(a.domain) for _, a in acts], np.int64),
            enterprise=np.array([a.subject == "enterprise" for _, a in acts], np.bool_),
            eligible=np.array([ELIGIBLE[a.eligible] for _, a in acts], np.int64),
            daily_rate=np.array([a.rate_per_year / 365.0 for _, a in acts], np.float64),
            decile_multiplier=np.array(
                [decile_multipliers(a.poorest_to_richest) for _, a in acts], np.float64
            ).reshape(len(acts), 10),
            base_wait=np.array([a.base_wait_days for _, a in acts], np.float64),
            income_loss=np.array([a.income_loss_if_blocked for _, a in acts], np.float64),
            posting=posting,
            chilled=posting | np.array([n in sources for n, _ in acts], np.bool_),
        )

    def __len__(self) -> int:
        return len(self.names)


def eligibility_class(age_band: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Each resident's index into CLASSES (uint8), from age band (10 years) and parenthood."""
    # 0 under 20, 3 from 60, else 1, or 2 for a parent (one pass of each test)
    adult, old = age_band >= 2, age_band >= 6
    klass = adult.view(np.uint8) + old.view(np.uint8) * np.uint8(2)
    klass += parent & adult & ~old
    return klass


NO_CHILL = Recovery(
    np.zeros(0, np.float32),
    np.zeros(0, np.int16),
    0.0,
    0.0,
    np.zeros(0, np.int16),
    np.zeros(0),
    np.zeros(1, np.int64),
)
"""No propensities (an activity that is not monitored, or subjects that are not chilled)."""


def draw_attempts(
    rules: ActivityRules,
    a: int,
    pool: np.ndarray | int,
    income_decile: np.ndarray | None,
    chill: Recovery | None,
    key: np.uint64,
    day: int,
    share: float = 1.0,
) -> np.ndarray:
    """Ids (in increasing order) of the subjects who attempt activity a on `day`.

    `pool`: the eligible ids, or their number when everyone is eligible; `chill`: the
    propensities (Recovering.arrays), applied to monitored activities (rules.chilled);
    `share`: draw only this share of the attempts (a thinned Poisson process, e.g. the
    posts that will be flagged). Draws come from the counter-based stream `key`.
    """
    n = pool if isinstance(pool, int) else len(pool)
    lam_mean = rules.daily_rate[a] * share
    if n == 0 or lam_mean <= 0.0:
        return np.zeros(0, np.int64)
    mults = rules.decile_multiplier[a]
    max_mult = float(mults.max()) if income_decile is not None else 1.0
    rates = Thinning(lam_mean * max_mult, mults, max_mult)
    propensity = chill if (chill is not None and rules.chilled[a]) else NO_CHILL
    who = Pool(
        np.zeros(0, np.int32) if isinstance(pool, int) else pool,
        n,
        income_decile if income_decile is not None else np.zeros(0, np.uint8),
    )
    return sweep_all(who, rates, propensity, key, day)


@kernel
def enterprise_activity(
    n: int, lam: float, key: np.uint64, day: int, resolving: Resolving, responding: Responding
) -> int:
    """One day of an enterprises' activity, what both loops run: the attempts of the n
    enterprises, each making Poisson(lam) a day (lam: attempts per enterprise per day;
    every enterprise is eligible, no multiplier), drawn by `sweep` from stream `key` as
    draw_attempts draws them; with responding.active, those the listed enterprises
    still make (measures.attempts_made: the response of the activity's domain); then
    resolved against the domain's measures (resolving.standing: the enterprises' lists
    and score, no represented lists) and counted in its outcomes. Returns the attempts
    blocked."""
    no_chill = Recovery(
        np.zeros(0, np.float32),
        np.zeros(0, np.int16),
        0.0,
        0.0,
        np.zeros(0, np.int16),
        np.zeros(0),
        np.zeros(1, np.int64),
    )
    who = Pool(np.zeros(0, np.int32), n, np.zeros(0, np.uint8))
    attempts = sweep_all(who, Thinning(lam, np.ones(10), 1.0), no_chill, key, day)
    if responding.active and len(attempts):
        attempts = attempts_made(attempts, day, responding, resolving)
    if len(attempts) == 0:
        return 0
    out_blocked = np.empty(len(attempts), np.int64)
    out_done = np.empty(len(attempts), np.int64)
    standing, measures, outcomes = resolving
    n_blocked, _ = resolve(attempts, standing, measures, outcomes, out_blocked, out_done)
    return n_blocked


@dataclass(frozen=True)
class ResidentGroups:
    """Residents grouped by cell, income decile and eligibility class, for drawing
    attempts per cell (`draw_by_cell`) and tracking propensities (chilling) by group."""

    cell: np.ndarray  # int16, collector cell of each resident
    income_decile: np.ndarray  # uint8
    klass: np.ndarray  # uint8, index into CLASSES
    group: np.ndarray  # int16 (int32 for many cells), (cell * 10 + decile) * 4 + class
    size: np.ndarray  # float64 [cells, 10, 4]: number of residents in each group

    @classmethod
    def of(
        cls, cell: np.ndarray, n_cells: int, income_decile: np.ndarray, klass: np.ndarray
    ) -> ResidentGroups:
        """Groups of residents by cell (< n_cells), income decile and eligibility class."""
        n_groups = n_cells * 10 * len(CLASSES)
        small = np.dtype(np.int16 if n_groups <= np.iinfo(np.int16).max else np.int32)
        group = cell.astype(small)  # (in the type kept: no wider temporaries)
        group *= 10
        group += income_decile
        group *= len(CLASSES)
        group += klass
        size = np.bincount(group, minlength=n_groups).astype(np.float64)
        return cls(cell, income_decile, klass, group, size.reshape(n_cells, 10, -1))


_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.zeros(64, np.int64)
"""_BIT_INDEX[(x * _DE_BRUIJN) >> 58] = b for x = 2**b (the index of a single set bit)."""
_BIT_INDEX[((np.uint64(1) << np.arange(64, dtype=np.uint64)) * _DE_BRUIJN) >> np.uint64(58)] = (
    np.arange(64)
)


@kernel(inner=True)
def _draw_reached(
    ids: np.ndarray,
    residents: Reachable,
    chill: Recovery,
    rules: ReachRules,
    day: int,
    out: ReachedOut,
) -> bool:
    """The kernel of draw_reached, one pass over `ids` for up to 64 activities.

    Activity a reaches resident i when bit a is set in by_own[mask[i]] | by_rep[rep_mask[i]]
    (or score[i] >= reward_score[a]) and in by_class[class of i]. Each activity's
    candidates (the residents it reaches, in id order) are thinned as in sweep (attempts.py): those
    with a candidate attempt at the maximum rate lam[a] * max_mult[a] are found by
    geometric skipping, each candidate attempt kept with probability rate / maximum.
    Attempts of activity a go to out.attempts[a, :out.counts[a]] and its residents' rates
    are added to out.rate[a]; returns False, with `out` partly written, if a row is too
    short."""
    n_classes = len(CLASSES)
    n_acts = len(rules.lam)
    cap = out.attempts.shape[1]
    has_score = len(residents.score) > 0
    by_score = 0
    least_reward = np.inf
    for a in range(n_acts):
        if rules.reward_score[a] < np.inf:
            by_score |= 1 << a
            least_reward = min(least_reward, rules.reward_score[a])
    top = rules.lam * rules.max_mult  # candidate attempts per day at the maximum rate
    p1 = np.empty(n_acts)  # P(k = 1 | k >= 1) for k ~ Poisson(top)
    skip = np.zeros(n_acts, np.int64)  # candidates to pass before the next one with k >= 1
    drawn = np.zeros(n_acts, np.int64)  # draws taken from each activity's stream
    for a in range(n_acts):
        if top[a] > 0.0:
            p1[a] = top[a] * np.exp(-top[a]) / -np.expm1(-top[a])
            skip[a] = int(-np.log1p(-hash_uniform(rules.keys[a], day, np.int64(0))) / top[a])
            drawn[a] = 1
    for j in range(len(ids)):
        if j + AHEAD < len(ids):
            ahead = ids[j + AHEAD]
            prefetch(residents.mask, ahead)
            prefetch(residents.rep_mask, ahead)
            prefetch(residents.group, ahead)
            if has_score:
                prefetch(residents.score, ahead)
        i = ids[j]
        g = np.int64(residents.group[i])
        acts = (
            rules.by_own[residents.mask[i]] | rules.by_rep[residents.rep_mask[i]]
        ) & rules.by_class[g % n_classes]
        if has_score and residents.score[i] >= least_reward:
            for a in range(n_acts):
                if (by_score >> a) & 1 and residents.score[i] >= rules.reward_score[a]:
                    acts |= rules.by_class[g % n_classes] & (1 << a)
        if acts == 0:
            continue
        decile = (g // n_classes) % 10
        cell = g // (10 * n_classes)
        while acts != 0:
            low = acts & -acts  # the lowest activity left
            a = _BIT_INDEX[(np.uint64(low) * _DE_BRUIJN) >> np.uint64(58)]
            acts ^= low
            rate = rules.lam[a] * rules.mults[a, decile]
            if rules.chilled[a] and chill.value[i] < 1.0:
                gap = day - chill.since[i]
                rate *= 1.0 - (1.0 - chill.value[i]) * np.exp(-chill.rate * gap)
            out.rate[a, cell] += rate
            if skip[a] > 0:
                skip[a] -= 1
                continue
            # a zero-truncated Poisson(top) of candidate attempts, each kept with
            # probability rate / top; then the gap to the next such candidate
            c = drawn[a]
            v = hash_uniform(rules.keys[a], day, c)
            k, p, cum = 1, p1[a], p1[a]
            while v > cum and k < 60:
                k += 1
                p *= top[a] / k
                cum += p
            keep = rate / top[a]
            for q in range(k):
                if hash_uniform(rules.keys[a], day, c + 1 + q) < keep:
                    if out.counts[a] >= cap:
                        return False
                    out.attempts[a, out.counts[a]] = i
                    out.counts[a] += 1
            skip[a] = int(-np.log1p(-hash_uniform(rules.keys[a], day, c + 1 + k)) / top[a])
            drawn[a] = c + 2 + k
    return True


@kernel
def draw_reached_rows(
    ids: np.ndarray,
    residents: Reachable,
    chill: Recovery,
    rules: ReachRules,
    day: int,
    n_cells: int,
) -> ReachedOut:
    """_draw_reached into rows long enough (tried again with longer ones when a row is
    too short: the draws are the same)."""
    n_acts = len(rules.lam)
    expected = len(ids) * (rules.lam * rules.max_mult).max() if n_acts else 0.0
    cap = int(2 * expected + 8 * np.sqrt(expected) + 1024)
    while True:
        out = ReachedOut(
            np.zeros((n_acts, n_cells)),
            np.empty((n_acts, cap), np.int64),
            np.zeros(n_acts, np.int64),
        )
        if _draw_reached(ids, residents, chill, rules, day, out):
            return out
        cap *= 4


@dataclass(frozen=True)
class ReachedDraw:
    """One day of attempts by the residents whom measures or rewards reach (draw_reached).

    attempts[a]: ids, one entry per attempt at activity a, increasing (empty for activities
    not drawn); rate[a, cell]: the expected attempts per day of those reached, summed by
    cell (what draw_by_cell leaves out of the others' closed-form count); reaches[a]: whom
    the measures and rewards of activity a's domain reach (None: not drawn).
    """

    attempts: list[np.ndarray]
    rate: np.ndarray
    reaches: Sequence[Reach | None]


def _reach_key(reach: Reach | None) -> tuple[int, int, float, bool]:
    """What of a Reach its kernel rules are made of (see ActivityRules.reach_rules)."""
    assert reach is not None
    return reach.own_bits, reach.rep_bits, reach.reward_score, len(reach.score) > 0


def make_reach_rules(
    rules: ActivityRules, reaches: Sequence[Reach | None], acts: list[int], keys: np.ndarray
) -> ReachRules:
    """The kernel's rules for activities `acts` (at most 64), drawn from streams `keys`."""
    by_own, by_rep, by_class = (
        np.zeros(256, np.int64),
        np.zeros(256, np.int64),
        np.zeros(4, np.int64),
    )
    reward_score = np.full(len(acts), np.inf)
    for b, a in enumerate(acts):
        reach = reaches[a]
        assert reach is not None
        bit = np.int64(1) << np.int64(b)
        by_own[(np.arange(256) & reach.own_bits) != 0] |= bit
        by_rep[(np.arange(256) & reach.rep_bits) != 0] |= bit
        by_class[(ELIGIBLE_CLASSES[rules.eligible[a]] >> np.arange(4)) & 1 == 1] |= bit
        if len(reach.score):
            reward_score[b] = reach.reward_score
    mults = rules.decile_multiplier[acts]
    return ReachRules(
        by_own,
        by_rep,
        by_class,
        reward_score,
        rules.daily_rate[acts],
        mults,
        mults.max(axis=1),
        rules.chilled[acts],
        keys,
    )


def draw_reached(
    rules: ActivityRules,
    reaches: Sequence[Reach | None],
    people: ResidentGroups,
    ids: np.ndarray,
    chill: Recovery,
    keys: Sequence[np.uint64],
    day: int,
) -> ReachedDraw:
    """The attempts of the residents `ids` (increasing: those whom some measure or reward
    may reach, see reached_ids) at every activity a with a Reach in `reaches` (None: not
    drawn, e.g. enterprises' activities), in one pass over them.

    Resident i makes Poisson(rate x income multiplier x propensity) attempts at
    activity a if it is eligible and reaches[a] reaches it. They are drawn from stream
    keys[a] by thinning, as draw_attempts does, over the residents that activity a
    reaches on `day` in id order. The reaches must share their mask, rep_mask and score
    arrays (they differ in bits and reward score). chill: as for draw_attempts.
    """
    n_acts = len(rules)
    drawn = [r for r in reaches if r is not None]
    n_cells = people.size.shape[0]
    rate = np.zeros((n_acts, n_cells))
    if not drawn:
        return ReachedDraw([np.zeros(0, np.int64) for _ in range(n_acts)], rate, reaches)
    first = drawn[0]
    for r in drawn:
        if (
            r.mask is not first.mask
            or r.rep_mask is not first.rep_mask
            or r.score is not first.score
        ):
            raise ValueError("draw_reached: the reaches must share mask, rep_mask and score")
    residents = Reachable(first.mask, first.rep_mask, first.score, people.group)
    attempts = [np.zeros(0, np.int64) for _ in range(n_acts)]
    for chunk in range(0, n_acts, 64):  # one pass for up to 64 activities
        acts = [
            a
            for a in range(chunk, min(chunk + 64, n_acts))
            if reaches[a] is not None and rules.daily_rate[a] > 0.0  # rate 0: no attempts
        ]
        if not acts:
            continue
        known = (
            tuple(acts),
            tuple(_reach_key(reaches[a]) for a in acts),
            tuple(keys[a] for a in acts),
        )
        chunk_rules = rules.reach_rules.get(known)
        if chunk_rules is None:
            if len(rules.reach_rules) >= MOST_REACH_RULES:  # (runs of many seeds)
                rules.reach_rules.clear()
            chunk_rules = rules.reach_rules[known] = make_reach_rules(
                rules, reaches, acts, np.array([keys[a] for a in acts], np.uint64)
            )
        out = draw_reached_rows(ids, residents, chill, chunk_rules, day, n_cells)
        rate[acts] = out.rate
        for b, a in enumerate(acts):
            attempts[a] = out.attempts[b, : out.counts[b]]
    return ReachedDraw(attempts, rate, reaches)


@dataclass
class CellDraw:
    """One day of attempts in one residents' activity, drawn by `draw_by_cell`.

    reached: one entry per attempt by a resident whom a measure or reward of the domain
    reaches (to be resolved one by one); others: per cell, the number of attempts by
    everyone else (all of which go ahead, with the base wait); flagged: per flag kind of
    the activity, the ids of the residents among everyone else whose attempt is flagged
    (their attempts are in `others`).
    """

    reached: np.ndarray
    others: np.ndarray
    flagged: list[np.ndarray]


def draw_by_cell(
    rules: ActivityRules,
    a: int,
    people: ResidentGroups,
    pool: np.ndarray | int,
    reached: ReachedDraw,
    *,
    chill: Recovering | None,
    flag_probability: np.ndarray,
    flag_keys: Sequence[np.uint64],
    others_key: np.uint64,
    day: int,
) -> CellDraw:
    """The attempts of residents' activity a on `day`, in closed form (module docstring).

    pool: the eligible ids, or their number when everyone is eligible; reached: the day's
    attempts of the residents whom some measure or reward may reach (draw_reached, whose
    reaches[a] says who the domain's measures and rewards reach). chill: the
    propensities, their sums of (1 - propensity) kept by group (Recovering.track; None
    for activities that are not monitored). flag_probability: per flag kind of the
    activity, the probability that one attempt is flagged under it (empty when none is);
    flag_keys: one stream per flag kind; others_key: the stream of the others' counts
    (attempts.others_by_cell). The counts are exactly as if every resident made
    Poisson(rate x income multiplier x propensity) attempts, split.
    """
    reach = reached.reaches[a]
    assert reach is not None
    deficits = None if chill is None else chill.deficits(day).reshape(people.size.shape)
    propensities = NO_CHILL if chill is None else chill.arrays
    lam = float(rules.daily_rate[a])
    class_bits = int(ELIGIBLE_CLASSES[rules.eligible[a]])
    n_cells = people.size.shape[0]
    present = people.size if deficits is None else people.size - deficits
    others = np.zeros(n_cells, np.int64)
    others_by_cell(
        present,
        class_bits,
        AttemptShare(
            lam, rules.decile_multiplier[a], unflagged_share(flag_probability), others_key
        ),
        reached.rate[a],
        day,
        others,
    )
    who = Pool(
        np.zeros(0, np.int32) if isinstance(pool, int) else pool,
        pool if isinstance(pool, int) else len(pool),
        people.income_decile,
    )
    residents = Reachable(reach.mask, reach.rep_mask, reach.score, people.group)
    reaching = DomainReach(residents, reach.own_bits, reach.rep_bits, reach.reward_score)
    mults = rules.decile_multiplier[a]
    flagged = [
        flag_unreached(
            who,
            AttemptShare(lam, mults, float(p_flag), flag_keys[k]),
            propensities,
            day,
            reaching,
            others,
        )
        for k, p_flag in enumerate(flag_probability)
    ]
    return CellDraw(reached.attempts[a], others, flagged)


def unflagged_share(flag_probability: np.ndarray) -> float:
    """The share of an activity's attempts flagged under none of its record kinds, from
    the probability per attempt of each (no unit)."""
    return max(0.0, 1.0 - float(flag_probability.sum()))
