"""The typed containers in which the model's compiled kernels take their state and rules:
named tuples of arrays and numbers, one per kind of state, so that no kernel takes a
long row of positional arrays that could be swapped without an error. numba reads them
as typed tuples; the engine's compiled days (engine/containers.py) build them from its
own containers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Listings(NamedTuple):
    """The residents' listings as the lists' kernels change them (ListState's arrays)."""

    mask: np.ndarray  # uint8, bit l = on list l
    wrongful: np.ndarray  # uint8, bit l = that listing rests only on erroneous records
    extended: np.ndarray  # uint8, bit l = the one-off extension was used
    released: np.ndarray  # uint8, bit l = listing l set to end today by an appeal or review
    repaired: np.ndarray  # uint8, bit l = listing l set to end today by credit repair
    until: np.ndarray  # int16 [lists, n], day a record-triggered listing ends
    true_until: np.ndarray  # int16 [lists, n], day the cover of true records ends


class DailyRules(NamedTuple):
    """The lists' rules that the daily update reads (ListRules.daily)."""

    rule: np.ndarray  # int8: RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST
    threshold: np.ndarray  # float64, points, for score rules
    extension: np.ndarray  # int64, days
    extension_probability: np.ndarray  # float64
    daily_compliance: np.ndarray  # float64, probability per day of complying and leaving
    key: np.uint64  # the lists' random stream (compliance and extension draws)


class Points(NamedTuple):
    """The scores the lists' rules read, in points (float32; both empty: no score)."""

    score: np.ndarray  # each subject's score
    error_points: np.ndarray  # the erroneous part of each score


class ChangeColumns(NamedTuple):
    """Columns into which a kernel writes listing changes (see Changes), as many as fit."""

    subject: np.ndarray  # int32
    bit: np.ndarray  # uint8
    entered: np.ndarray  # bool
    wrongful: np.ndarray  # bool
    reason: np.ndarray  # uint8


class Standing(NamedTuple):
    """What the measures read about the subjects of one kind, by id."""

    cell: np.ndarray  # collector cell of each subject
    own_mask: np.ndarray  # uint8, bit l = on the subject's own list l
    own_wrongful: np.ndarray  # uint8, bit l = that listing is wrongful
    rep_mask: np.ndarray  # uint8, lists of the enterprises a resident represents (empty: none)
    rep_wrongful: np.ndarray  # uint8, which of those listings are wrongful (empty: none)
    score: np.ndarray  # float32, points (empty: no score)


class Measures(NamedTuple):
    """One domain's measures and rewards for one activity (see measures.DomainRules)."""

    block_own: int  # own lists that block
    block_rep: int  # enterprise lists that block (they reach the representative)
    delay_own: int  # own lists that delay
    delay_rep: int  # enterprise lists that delay
    delay_days: float  # days added to the wait when delayed
    reward_bits: int  # own red lists that open the green channel
    reward_score: float  # score (points) that opens the green channel (inf: none)
    wait_factor: float  # multiplier on the wait in the green channel
    base_wait: float  # the activity's wait (days) without measures or rewards


class Outcomes(NamedTuple):
    """Where resolved attempts are counted."""

    acc: np.ndarray  # float64 [cells, metrics]: the day's counts
    cols: np.ndarray  # int64: the column of each of measures.OUTCOMES
    blocked_by: np.ndarray  # int64 [16]: column by blocking list (own, then firms'); -1: none
    blocked_count: np.ndarray  # int32, blocked attempts per subject (empty: not kept)
    wrongful_count: np.ndarray  # int32, wrongfully blocked attempts (empty: not kept)


class Response(NamedTuple):
    """How subjects on their own lists respond to one domain's measures, per own list bit
    (a row of measures.ListResponse): the share of attempts made is multiplier on the day
    of listing, decaying toward floor with half_life days; avoidance is the share of the
    attempts avoided that an unrestricted alternative replaces."""

    multiplier: np.ndarray  # float64 [8]
    floor: np.ndarray  # float64 [8]
    half_life: np.ndarray  # float64 [8], days (inf: no learning)
    avoidance: np.ndarray  # float64 [8]


class Responding(NamedTuple):
    """How listed subjects respond to one domain's measures at one activity (respond in
    measures.py), and where the attempts they avoid are counted."""

    active: bool  # the subjects respond in the domain (else nothing else is read)
    response: Response  # the domain's
    key: np.uint64  # the draws' stream (listresponse.<activity>)
    since: np.ndarray  # int16 [lists, subjects], day each entered each list (empty: no
    # response learns)
    avoided_col: int  # the avoided:<domain> column


class Resolving(NamedTuple):
    """What resolves one activity's attempts in one domain (measures.resolve): the
    subjects' standing, the domain's measures and where the outcomes are counted."""

    standing: Standing
    measures: Measures
    outcomes: Outcomes


class Avoided(NamedTuple):
    """The attempts a response set aside (measures.respond writes them)."""

    ids: np.ndarray  # int64, the subject of each attempt avoided
    replaced: np.ndarray  # bool, replaced by an unrestricted alternative


class Recovery(NamedTuple):
    """A factor per agent in [floor, 1] that recovers toward 1 (behaviour.Recovering's
    arrays): the propensity that chilling lowers, or income. The factor of agent i on day
    d is 1 - (1 - value[i]) * exp(-rate * (d - since[i]))."""

    value: np.ndarray  # float32, the factor just after the last shock
    since: np.ndarray  # int16, day of the last shock (internal days)
    rate: float  # recovery per day: ln 2 / the half-life in days
    floor: float  # the least factor a shock leaves
    group: np.ndarray  # int16 or int32, each agent's group (empty: sums not kept)
    deficit: np.ndarray  # float64 [groups], sum of 1 - factor over the group's agents
    deficit_day: np.ndarray  # int64 [1]: the day the deficits were last brought to


class Thinning(NamedTuple):
    """One activity's rates as the sweep of its attempts thins them (activities._sweep)."""

    lam: float  # candidate attempts per subject per day, at the largest multiplier
    mults: np.ndarray  # float64 [10], rate multiplier by income decile (poorest first)
    max_mult: float  # the largest of mults (1 when no decile is read)


class AttemptShare(NamedTuple):
    """A share of one activity's attempts, as drawn: each subject makes Poisson(lam x
    mults[income decile] x propensity) attempts a day, of which a share `share` is
    drawn, from stream `key`."""

    lam: float  # attempts per subject per day before the multipliers
    mults: np.ndarray  # float64 [10], rate multiplier by income decile (poorest first)
    share: float  # the share of the attempts drawn (no unit)
    key: np.uint64  # the draw's random stream


class Pool(NamedTuple):
    """The subjects eligible for an activity, as the sweep of its attempts reads them."""

    ids: np.ndarray  # int32, the eligible ids in increasing order (empty: 0 to n - 1)
    n: int  # how many are eligible
    income_decile: np.ndarray  # uint8, by id, 0 = poorest (empty: no multiplier)


class Reachable(NamedTuple):
    """What the draw of reached residents' attempts reads about the residents, by id."""

    mask: np.ndarray  # uint8, bit l = on the resident's own list l
    rep_mask: np.ndarray  # uint8, lists of the enterprises the resident represents
    score: np.ndarray  # float32, points (empty: no score)
    group: np.ndarray  # int16 or int32, (cell * 10 + income decile) * 4 + class


class DomainReach(NamedTuple):
    """Whom the measures and rewards of one activity's domain reach (measures.Reach):
    residents with a bit of own_bits in their list mask, of rep_bits in their rep mask
    (lists of the enterprises they represent), or a score of at least reward_score."""

    residents: Reachable
    own_bits: int
    rep_bits: int
    reward_score: float  # points (inf: no score-based reward)


class ReachRules(NamedTuple):
    """Up to 64 activities drawn in one pass over the reached residents (bit b: the b-th
    of them), compiled from their reaches and rules (activities.draw_reached)."""

    by_own: np.ndarray  # int64 [256]: activities that each own-list mask reaches
    by_rep: np.ndarray  # int64 [256]: activities that each rep-list mask reaches
    by_class: np.ndarray  # int64 [4]: activities open to each eligibility class
    reward_score: np.ndarray  # float64, score (points) from which it reaches (inf: none)
    lam: np.ndarray  # float64, attempts per subject per day before the multipliers
    mults: np.ndarray  # float64 [activities, 10], rate multiplier by income decile
    max_mult: np.ndarray  # float64, the largest of each activity's mults
    chilled: np.ndarray  # bool, monitored: the propensity scales the rate
    keys: np.ndarray  # uint64, each activity's random stream


class ReachedOut(NamedTuple):
    """Where the draw of reached residents' attempts writes (row b: the b-th activity)."""

    rate: np.ndarray  # float64 [activities, cells]: expected attempts per day, by cell
    attempts: np.ndarray  # int64 [activities, cap]: ids, one entry per attempt
    counts: np.ndarray  # int64 [activities]: the entries written in each row


class ByGroup(NamedTuple):
    """Where per-resident events are counted: row[group, col] for each group of the
    resident's cell (cell c is in groups_of_cell[groups_indptr[c]:groups_indptr[c + 1]];
    with one group per cell, the identity, they are counted by cell)."""

    row: np.ndarray  # float64 [groups, metrics]
    cell: np.ndarray  # each resident's collector cell
    groups_indptr: np.ndarray  # int64 [cells + 1]
    groups_of_cell: np.ndarray  # int64


class Behaviour(NamedTuple):
    """The behaviour step's rules and what it reads and changes (behaviour.behaviour_day;
    income_elasticity is read by the draws of records, engine/compiled_departments.py)."""

    chilling_self: float  # share of propensity a penalised resident loses
    chilling_contacts: float  # share each resident who counts them as a contact loses
    penalising: np.ndarray  # bool [kinds]: a record of the kind penalises (points < 0)
    income_elasticity: np.ndarray  # float64 [kinds]: default risk elasticity (0: none)
    chill: Recovery  # the propensities
    income: Recovery  # income
    first_shock_day: np.ndarray  # int16 per resident, -1: none yet (empty: not kept)
    income_shocks: np.ndarray  # int16 per resident, shocks so far (empty: not kept)
    contacts_of_indptr: np.ndarray  # CSR of who counts each resident as a contact
    contacts_of_indices: np.ndarray
    shock_col: int  # the metric column of income shocks
