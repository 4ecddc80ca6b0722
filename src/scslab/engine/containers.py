"""The typed containers in which compiled days (engine/compiled.py) take a run's state:
named tuples of arrays and numbers, one per kind of state (the record kinds, the
residents, the score's rules and arrays, the lists' state and rules, the collectors, and
what the loop grows), so that no kernel takes a long row of positional arrays that could
be swapped without an error. numba reads them as typed tuples."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scslab.model.containers import Behaviour, DailyRules, Listings, ReachRules, Recovery
from scslab.model.dueprocess_days import DueDays as DueDays  # (compiled days' due process)
from scslab.model.dueprocess_days import DueState
from scslab.model.lists import ListState
from scslab.model.points import Expiry as Expiry  # (a side's: Grown's queue parts)
from scslab.model.points import ExpiryQueue
from scslab.model.records import LogColumns
from scslab.model.scoring import DriftMarks, DriftRules


class KindTable(NamedTuple):
    """The departments' record kinds, as compiled days read them (index = kind; see
    model/departments.py); the metric columns and lists of a kind are those of its
    subjects' side."""

    key: np.ndarray  # uint64, the kind's random stream
    mean: np.ndarray  # float64, candidates a day: subjects x daily rate x max_mult
    max_mult: np.ndarray  # float64, the thinning bound of the rate multipliers
    listed_multiplier: np.ndarray  # float64
    decile_multiplier: np.ndarray  # float64 [kinds, 10]
    migrant_multiplier: np.ndarray  # float64
    coverage: np.ndarray  # float64, share of events the department records
    error_rate: np.ndarray  # float64, share of records that are erroneous
    points: np.ndarray  # float64, score points of a record
    col_true: np.ndarray  # int64, metric column of a true record (by department)
    col_erroneous: np.ndarray  # int64, metric column of an erroneous record
    eligible: np.ndarray  # bool [kinds, classes]: who can get the record
    restricted: np.ndarray  # bool: the kind has an eligibility
    delay: np.ndarray  # int64, days from writing a record to its taking effect
    expiry: np.ndarray  # int64, days a record's points count (0: for good)
    list_bits: np.ndarray  # uint8, the lists a record triggers (ListRules.kind_bits)
    subject: np.ndarray  # uint8, whom the kind is about: 0 residents, 1 enterprises


class People(NamedTuple):
    """The residents as compiled days read them."""

    income_decile: np.ndarray  # uint8, 0 = poorest
    migrant: np.ndarray  # uint8, 1 = no local hukou
    cell: np.ndarray  # int16, collector cell
    contacts_of_indptr: np.ndarray  # CSR of who counts each resident as a contact
    contacts_of_indices: np.ndarray
    subject_class: np.ndarray  # uint8, eligibility class (model.departments)


class ScoreTable(NamedTuple):
    """The score's rules in points (see model/scoring.ScoreRules): lo and hi are the
    bounds made finite, min_score and max_score as the scenario gives them."""

    base: float
    decay: float
    association: float
    lo: float
    hi: float
    min_score: float
    max_score: float
    left: np.ndarray  # float64, by age (days): the share of points left at expiry


class ScoreArrays(NamedTuple):
    """The scorer's per-subject arrays that compiled days change in place."""

    error_points: np.ndarray  # float32, the erroneous part of each score
    with_errors: np.ndarray  # bool, ever had erroneous points
    outside: np.ndarray  # bool per run of eight subjects: the lists' update visits it
    held: np.ndarray  # uint8, 1: held at the base score (not enrolled); empty: none


class ListArrays(NamedTuple):
    """The residents' lists (model/lists.ListState) and their listed contacts."""

    mask: np.ndarray  # uint8, bit b: on list b
    wrongful: np.ndarray  # uint8, bit b: on list b only by erroneous records
    extended: np.ndarray
    released: np.ndarray  # uint8, bit b: listing b set to end today by appeal or review
    repaired: np.ndarray  # uint8, bit b: listing b set to end today by credit repair
    ever: np.ndarray  # uint8, bit b: has been on list b
    until: np.ndarray  # day each listing ends
    true_until: np.ndarray
    listed_contacts: np.ndarray  # blacklisted contacts of each resident


def list_arrays(state: ListState, listed_contacts: np.ndarray) -> ListArrays:
    """A side's lists (ListState) as compiled days take them, with the residents'
    listed contacts (an empty array for the enterprises)."""
    return ListArrays(
        state.mask,
        state.wrongful,
        state.extended,
        state.released,
        state.repaired,
        state.ever,
        state.until,
        state.true_until,
        listed_contacts,
    )


class ListTable(NamedTuple):
    """The lists' rules (model/lists.ListRules) and their metric columns."""

    rule: np.ndarray
    threshold: np.ndarray
    extension: np.ndarray
    extension_probability: np.ndarray
    daily_compliance: np.ndarray
    key: np.uint64  # the lists' random stream
    black_bits: int  # the lists that are blacklists
    stay: np.ndarray  # ListRules.stay_bands; row 0: the score band of no rule
    change_columns: np.ndarray  # int64 [listcounts.CHANGE_FAMILIES, lists]
    col_ever: np.ndarray  # int64 [lists]: ever_listed
    duration: np.ndarray  # int64 [lists], days a record-triggered listing lasts


class ListMarks(NamedTuple):
    """The lists of one kind of agent as the collectors count them (by agent id)."""

    mask: np.ndarray  # uint8, bit l = on list l
    wrongful: np.ndarray  # uint8, bit l = that listing rests only on erroneous records
    black_bits: int  # the lists that are blacklists
    n_lists: int  # how many lists there are


class Grades(NamedTuple):
    """How the score columns and histogram of the collectors (StateCollector.collect)
    grade the scores."""

    floors: np.ndarray  # points, the lowest score of each grade, highest grade first
    hist_lo: float  # points, the histogram's start


class Grading(NamedTuple):
    """How the score tally (collectors.tally_scores) counts the agents of one kind."""

    cell: np.ndarray  # uint16, each agent's cell
    upper_floors: np.ndarray  # float64, points: the floors of every grade but the lowest
    grade_of_bin: np.ndarray  # int64, grade of each histogram bin (empty: not on bin edges)
    common_grade: int  # the grade most agents are in (-1: not known)
    cell_count: np.ndarray  # int64, agents per cell
    hist_lo: float  # points, the histogram's start


class RunningCounts(NamedTuple):
    """The score tally's counts kept from one tally to the next (collectors.BinCounts)."""

    counted: np.ndarray  # uint16, the bin each agent was last counted in
    bin_counts: np.ndarray  # int64 [bins], agents per bin
    grade_counts: np.ndarray  # int64 [cells, grades], agents per cell and grade (by bin)


class TallyArgs(NamedTuple):
    """What tally_days reads and writes besides the day's scores (see tally_days)."""

    cell: np.ndarray
    upper_floors: np.ndarray
    grade_of_bin: np.ndarray
    common_grade: int
    cell_count: np.ndarray
    hist_lo: float
    score_columns: np.ndarray
    acc: np.ndarray
    counted: np.ndarray
    bin_counts: np.ndarray
    grade_counts: np.ndarray
    group_indptr: np.ndarray
    group_indices: np.ndarray
    values: np.ndarray
    hist: np.ndarray


class Collecting(NamedTuple):
    """The collectors' arrays (see run_days)."""

    groups_indptr: np.ndarray
    groups_of_cell: np.ndarray
    group_count: np.ndarray
    values: np.ndarray  # [days, groups, metrics]
    snapshots: np.ndarray  # float32 [rows, subjects]: the side's scores of each day
    tally_each_day: bool
    tally: TallyArgs
    keep: bool
    days_blacklisted: np.ndarray  # per agent, or empty
    days_wrongful: np.ndarray  # per agent, or empty
    counted: tuple[np.ndarray, np.ndarray]
    list_counts: np.ndarray
    ever_counts: np.ndarray  # [groups, lists], residents ever on each list
    enrolled_col: int  # the metric column of enrolled residents, or -1
    enrolled: np.ndarray  # float64, enrolled residents per group


class Flagged(NamedTuple):
    """The residents whose attempts on one day were flagged, by flag kind (in the order
    of RunState.flag_kinds): kind f's in ids[indptr[f]:indptr[f + 1]], one entry per
    attempt, in the general loop's order (RunState.flagged_yesterday)."""

    ids: np.ndarray  # int64, capacity included
    indptr: np.ndarray  # int64 [flag kinds + 1]


class Flagging(NamedTuple):
    """The residents' attempts that departments record (posts the speech department
    screens, attempts at the activities record kinds come from), as compiled days flag
    them (model/attempts.py flag_unreached, flag_done) and turn them into records the
    next day (model/departments.py observed_into); index = activity unless said."""

    of_kind: np.ndarray  # int64 [kinds]: the kind's index among the flag kinds (-1: none)
    n_of: np.ndarray  # int64: the flag kinds an attempt at the activity may be flagged under
    of: np.ndarray  # int64 [activities, most]: their indices among the flag kinds
    probability: np.ndarray  # float64 [activities, most]: per attempt, of each
    unflagged: np.ndarray  # float64: the share of attempts flagged under none
    keys: np.ndarray  # uint64 [activities, most]: streams of the unreached flagged
    done_key: np.ndarray  # uint64: flags of attempts that went ahead (RunState.activity_keys)
    eligible: np.ndarray  # int64, ELIGIBLE code: the pool of eligible residents
    pool_ids: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # int32 by ELIGIBLE
    # code, increasing (empty: everyone)
    pool_n: np.ndarray  # int64 [4]: residents in each pool
    income_decile: np.ndarray  # uint8, 0 = poorest


Columns6 = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Six columns of one table: listing changes (day, subject, bit, entered, wrongful,
reason)."""


class Grown(NamedTuple):
    """What compiled days may replace (arrays grown or swapped) and how much of each
    is used: given to run_days and returned by it, one per side (SideDays). The record
    log, `high` and `rep_ids` are the run's, kept in the residents' Grown (the
    enterprises' holds them unread)."""

    score: np.ndarray
    spare: np.ndarray
    listed: np.ndarray  # ids on some list, increasing
    error_ids: np.ndarray
    n_error_ids: int
    records: LogColumns  # the record log's (RecordLog.kernel_columns)
    n_records: int
    first_pending: int  # RecordLog.first_pending
    changes: Columns6
    n_changes: int
    queue: ExpiryQueue  # the scorer's (Scorer.queue, queued, queue_head, queue_in_order)
    queued: int
    queue_head: int
    queue_in_order: bool
    high: np.ndarray  # residents whose score opens a green channel (HighScores.ids)
    rep_ids: np.ndarray  # residents representing a listed enterprise (RunState.rep_ids)


class ScoreView(NamedTuple):
    """What a side's scoring phase reads (compiled_sides.score_side, expire_side), taken
    once from its SideDays and the KindTable before the days: a phase binds only this."""

    scored: bool
    cell: np.ndarray
    rules: ScoreTable
    drift_rules: DriftRules  # the rules', with the band of the lists' stay row 0
    scoring: ScoreArrays
    marks: DriftMarks  # scoring.outside, ListArrays.mask, scoring.held
    listed_contacts: np.ndarray
    groups_indptr: np.ndarray  # Collecting's
    groups_of_cell: np.ndarray
    values: np.ndarray  # [days, groups, metrics]
    snapshots: np.ndarray
    points: np.ndarray  # KindTable's, by kind
    col_true: np.ndarray
    col_erroneous: np.ndarray
    expiry: np.ndarray  # KindTable.expiry


class ListView(NamedTuple):
    """What a side's lists update reads (compiled_sides.list_side), taken once from its
    SideDays before the days, with the update's scratch: the subjects it visits (made
    with room for every subject, twice the listed and the runs of eight that
    listvisits.agents_to_visit_into finds first; a day that needs more makes its own)."""

    every_listed: bool
    enlisting: bool  # a kind of the side's records triggers a list
    listings: Listings  # the side's ListArrays as the lists' kernels take them
    daily: DailyRules  # the ListTable's rules, as the daily update takes them
    stay: np.ndarray  # ListTable's
    duration: np.ndarray
    error_points: np.ndarray  # ScoreArrays'
    outside: np.ndarray
    list_bits: np.ndarray  # KindTable.list_bits
    visit: np.ndarray  # int64, scratch


class ChangeView(NamedTuple):
    """What the keeping and counting of a side's listing changes reads
    (compiled_sides.list_changes), taken once from its SideDays before the days, with
    its scratch for the subjects whose lists changed (a day with more changes than it
    has room for makes its own)."""

    cell: np.ndarray
    mask: np.ndarray  # ListArrays'
    ever: np.ndarray
    black_bits: int  # ListTable's
    change_columns: np.ndarray
    groups_indptr: np.ndarray  # Collecting's
    groups_of_cell: np.ndarray
    values: np.ndarray
    ever_counts: np.ndarray
    touched: np.ndarray  # int64, scratch: the subjects whose lists changed
    toggles: np.ndarray  # uint8, scratch: the lists each entered or left
    now_member: np.ndarray  # bool, scratch: each is on a list now
    was_black: np.ndarray  # bool, scratch: each was on a blacklist
    is_black: np.ndarray  # bool, scratch: each is


class CollectView(NamedTuple):
    """What a side's collectors read (compiled_sides.collect_side), taken once from its
    SideDays before the days; the score tally (Collecting.tally) is called apart."""

    every_listed: bool
    incremental: bool  # the list columns are kept from the subjects that may change
    cell: np.ndarray
    mask: np.ndarray  # ListArrays'
    wrongful: np.ndarray
    black_bits: int  # ListTable's
    n_lists: int
    col_ever: np.ndarray
    groups_indptr: np.ndarray  # Collecting's
    groups_of_cell: np.ndarray
    group_count: np.ndarray
    values: np.ndarray
    days_blacklisted: np.ndarray
    counted: tuple[np.ndarray, np.ndarray]
    list_counts: np.ndarray
    ever_counts: np.ndarray
    enrolled_col: int
    enrolled: np.ndarray


class DayRecords(NamedTuple):
    """The records of one side that take effect on a day, in order: their first m
    entries (m: the day's ids), copied from the record log by score_side into arrays
    made once per run_days call (compiled_sides.day_records) and grown by it before a
    day with more, so that no phase makes them anew."""

    subject: np.ndarray  # int32
    kind: np.ndarray  # uint8
    points: np.ndarray  # float64, points of each
    erroneous: np.ndarray  # bool


class ExpiryRoom(NamedTuple):
    """A side's scratch of its expiries (compiled_sides.expire_side), made once per
    run_days call and grown by the expiries when a day needs more."""

    days: np.ndarray  # int64, days each of the day's records counts (its kind's expiry)
    expired: np.ndarray  # int64, the expiry queue's places expired on the day
    subjects: np.ndarray  # int32, their subjects


class Ids(NamedTuple):
    """Subjects kept in a growing array: ids[:n] (the rest is capacity)."""

    ids: np.ndarray  # int64
    n: int


class Carried(NamedTuple):
    """The run's state that compiled days carry from day to day apart from the sides'
    Grown, given to run_days and returned by it."""

    flagged: Flagged  # residents whose attempts were flagged yesterday (by flag kind)
    due: DueState  # due process's (DueProcessState.state())


class SideDays(NamedTuple):
    """One kind of subject (residents or enterprises) as compiled days run it: the
    same phases (engine/compiled_sides.py) over either side's rules and arrays. The
    enterprises' is Firms.side; the residents' are run_days' own parameters (cell:
    People.cell; every_listed found there)."""

    code: int  # the record kinds' subject (KindTable.subject): 0 residents, 1 enterprises
    scored: bool  # the side has a score (else score_rules and scoring are not read)
    every_listed: bool  # a list has rules other than scores: the lists' update visits
    # every listed subject each day (expiry, compliance), not only those that may change
    cell: np.ndarray  # uint16, each subject's collector cell
    score_rules: ScoreTable
    scoring: ScoreArrays
    lists: ListArrays
    list_rules: ListTable
    collecting: Collecting


class FirmActs(NamedTuple):
    """The enterprises' activities as compiled days run them (index: the enterprises'
    activities, in the scenario's order; see activities.enterprise_activity), with the
    day's counts by cell, summed into the enterprises' rows as the collectors sum them."""

    n: int  # enterprises
    lam: np.ndarray  # float64, attempts per enterprise per day
    key: np.ndarray  # uint64, each activity's stream (RunState.activity_keys)
    bits: np.ndarray  # int64 [activities, 2]: Measures' block_own, delay_own of the domain
    numbers: np.ndarray  # float64 [activities, 3]: delay_days, wait_factor, base_wait
    cols: np.ndarray  # int64 [activities, 6], the domain's measures.OUTCOMES columns
    blocked_by: np.ndarray  # int64 [activities, 16], blocked_by:<list>:<domain> columns
    responding: np.ndarray  # bool: the listed enterprises respond in the domain
    response: np.ndarray  # float64 [activities, 4, 8]: ListResponse's multiplier, floor,
    # half_life, avoidance of the domain (zeros: nobody responds)
    response_key: np.ndarray  # uint64, the stream listresponse.<activity>
    avoided: np.ndarray  # int64, the avoided:<domain> column (-1: none)
    since: np.ndarray  # int16 [lists, enterprises], Side.since (empty: nothing learns)
    acc: np.ndarray  # float64 [cells, metrics], zeros: the day's counts by cell
    group_indptr: np.ndarray  # int64, the collectors' groups: group g has the cells
    group_cells: np.ndarray  # int64, group_cells[group_indptr[g]:group_indptr[g + 1]]
    sum_cols: np.ndarray  # int64, the columns that the activities count


class Firms(NamedTuple):
    """The enterprises in compiled days: their side, what of it may grow, the legal
    representatives whom their lists reach (model/measures.representative_masks), and
    their activities."""

    side: SideDays
    grown: Grown
    legal_rep: np.ndarray  # resident id of each enterprise's legal representative
    represented_indptr: np.ndarray  # CSR: resident -> enterprises they represent
    represented_indices: np.ndarray
    acts: FirmActs


class ActTable(NamedTuple):
    """The residents' activities as compiled days run them (index = activity; see
    model/activities.py, model/attempts.py and model/measures.py)."""

    class_bits: np.ndarray  # int64, the eligibility classes (bit k: class k)
    lam: np.ndarray  # float64, attempts per resident per day
    mults: np.ndarray  # float64 [activities, 10], rate multiplier by income decile
    base_wait: np.ndarray  # float64, days
    posts: np.ndarray  # int64, the posts column (-1: not posts)
    slot: np.ndarray  # int64, the activity's row in `reach` (-1: not drawn one by one)
    reach: ReachRules  # the reached residents' draw (draw_reached_rows)
    bits: np.ndarray  # int64 [activities, 5]: Measures' block_own, block_rep, delay_own,
    # delay_rep, reward_bits of the activity's domain
    numbers: np.ndarray  # float64 [activities, 3]: delay_days, reward_score, wait_factor
    cols: np.ndarray  # int64 [activities, 6], the domain's measures.OUTCOMES columns
    blocked_by: np.ndarray  # int64 [activities, 16], blocked_by:<list>:<domain> columns
    others_key: np.ndarray  # uint64, the stream of everyone else's counts
    size: np.ndarray  # float64 [cells, 10, 4], residents by group (ResidentGroups.size)
    green: float  # points from which a score opens a green channel (inf: none)
    keep_high: bool  # the set of such residents is kept (Grown.high), not scanned for
    group_indptr: np.ndarray  # int64, the collectors' groups: group g has the cells
    group_cells: np.ndarray  # int64, group_cells[group_indptr[g]:group_indptr[g + 1]]
    sum_cols: np.ndarray  # int64, the columns that the activities count
    chilled: np.ndarray  # bool, monitored: chilling lowers the rate
    income_loss: np.ndarray  # float64, share of income lost when an attempt is blocked


class ActArrays(NamedTuple):
    """The residents' arrays that the activities read or count into."""

    group: np.ndarray  # int16 or int32, ResidentGroups.group
    chill: Recovery  # the propensities (RunState.chill.arrays)
    rep_mask: np.ndarray  # uint8, RunState.rep_mask
    rep_wrongful: np.ndarray  # uint8
    blocked_count: np.ndarray  # int32, per resident (empty: not kept)
    wrongful_count: np.ndarray  # int32
    acc: np.ndarray  # float64 [cells, metrics], zeros: the day's counts by cell


class Responses(NamedTuple):
    """The residents' responses to their own lists' measures as compiled days run them
    (measures.ListResponse; index = activity, then domain), and the day each resident
    entered each list, which the lists' phase keeps (Side.since)."""

    since: np.ndarray  # int16 [lists, residents] (empty: no response learns)
    key: np.ndarray  # uint64 [activities], the stream listresponse.<activity>
    domain: np.ndarray  # int64 [activities], the activity's domain (-1: no response there)
    avoided: np.ndarray  # int64 [activities], the avoided:<domain> column (-1: none)
    multiplier: np.ndarray  # float64 [domains, 8], ListResponse's (empty: no response)
    floor: np.ndarray  # float64 [domains, 8]
    half_life: np.ndarray  # float64 [domains, 8], days
    avoidance: np.ndarray  # float64 [domains, 8]


class ResidentActs(NamedTuple):
    """The residents' activities as compiled days run them (activities_day): their
    rules, the arrays they read or count into, the listed residents' responses and the
    flagging of attempts for the departments."""

    table: ActTable
    arrays: ActArrays
    responses: Responses
    flags: Flagging


class MayReach(NamedTuple):
    """The residents whom the measures and rewards of some domain may reach on a day
    (activities_day)."""

    listed: np.ndarray  # int64, increasing: on some list or representing an enterprise on one
    high: np.ndarray  # int64, increasing: whose score opened a green channel (Grown.high)
    risen: np.ndarray  # subjects whose score records raised today (with repeats)


class RunTables(NamedTuple):
    """What compiled days (compiled.run_days) read of a run besides the state they grow
    (Grown, Carried) and the enterprises (Firms), the same from one rule change to the
    next: the rules, and the residents' arrays that the days change in place."""

    kinds: KindTable
    people: People
    score_rules: ScoreTable
    scoring: ScoreArrays
    lists: ListArrays
    list_rules: ListTable
    collecting: Collecting
    acts: ActTable
    act_arrays: ActArrays
    responses: Responses
    flags: Flagging
    behaviour: Behaviour
    due: DueDays
