"""Lists: their rules, who is on them, and the daily update.

Each subject kind (residents, enterprises) has up to 8 lists; membership is one bit of a
uint8 mask per agent. A list is either record-triggered (a triggering record puts the
subject on it for `duration_days`, with an optional one-off extension and early exit by
compliance) or score-triggered (the subject is on it exactly while the score rule holds).
A second mask marks listings that rest only on erroneous records: every sanction they
cause is a wrongful sanction.

What a listing does (the measures and rewards of each domain, the reach to a listed
enterprise's legal representative and to contacts) is in measures.py.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.containers import ChangeColumns, DailyRules, Listings, Points
from scslab.model.listvisits import agents_to_visit, busy_octets
from scslab.model.prefetch import AHEAD, prefetch
from scslab.model.scoring import ScoreRules
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import Subject
from scslab.streams import hash_uniform

RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST = 0, 1, 2
EXIT_REASONS = ("complied", "expired", "released", "repaired", "score")
"""Why a subject leaves a list (Changes.reason of an exit, an index into this): complied
(the daily compliance draw: paid or complied), expired (a record-triggered listing's
duration, and its extension, ran out), released (an appeal or review withdrew the
record that held it), repaired (credit repair ended that record), score (a
score-triggered list's rule no longer holds)."""
COMPLIED, EXPIRED, RELEASED, REPAIRED, SCORE = range(len(EXIT_REASONS))
ENTRY = 255
"""Changes.reason of an entry (not an exit)."""


@dataclass(frozen=True)
class ListRules:
    """The lists of one subject kind, compiled to arrays (index = bit)."""

    names: list[str]
    black: np.ndarray  # bool
    rule: np.ndarray  # int8: RULE_RECORDS, RULE_BELOW, RULE_AT_LEAST
    threshold: np.ndarray  # float64, points, for score rules
    duration: np.ndarray  # int64, days, for record rules
    extension: np.ndarray  # int64, days
    extension_probability: np.ndarray  # float64
    daily_compliance: np.ndarray  # float64, probability per day of complying and leaving
    kind_bits: np.ndarray  # uint8 per record kind: lists that kind triggers

    def score_band(self) -> tuple[float, float]:
        """[lo, hi) (points): scores at which no score rule holds (-inf, inf: no rules)."""
        return self._score_band

    @functools.cached_property
    def _score_band(self) -> tuple[float, float]:
        below = self.threshold[self.rule == RULE_BELOW]
        at_least = self.threshold[self.rule == RULE_AT_LEAST]
        return float(below.max(initial=-np.inf)), float(at_least.min(initial=np.inf))

    @functools.cached_property
    def stay_bands(self) -> np.ndarray:
        """[256, 2] (points): for each list mask, the scores [lo, hi) at which the score
        rules hold for exactly the mask's lists that have one (a subject with that mask
        and such a score is left as it is by them; lo >= hi: no such score). Bounds are
        finite (the largest float64s for none); row 0 is score_band(). The same array
        for the same rules in a process (made once: not to be written)."""
        return _stay_bands(
            self.rule.astype(np.int8).tobytes(), self.threshold.astype(np.float64).tobytes()
        )

    @functools.cached_property
    def black_bits(self) -> int:
        """Mask of the blacklists."""
        return int(sum(1 << i for i, b in enumerate(self.black) if b))

    @classmethod
    def compile(
        cls, scenario: Scenario, subject: Subject, kind_names: list[str], score: ScoreRules | None
    ) -> ListRules:
        """The lists about `subject`, in file order."""
        items = [(n, r) for n, r in scenario.lists.items() if r.subject == subject]
        rule, threshold = [], []
        kind_bits = np.zeros(len(kind_names), np.uint8)
        for bit, (_, lst) in enumerate(items):
            t = lst.trigger
            for k in t.records:
                kind_bits[kind_names.index(k)] |= 1 << bit
            if t.records:
                rule.append(RULE_RECORDS)
                threshold.append(0.0)
            elif t.score_below is not None or t.grade_at_most is not None:
                rule.append(RULE_BELOW)
                below = t.score_below
                if below is None:
                    assert score is not None and t.grade_at_most is not None
                    below = score.ceiling_of(t.grade_at_most)
                threshold.append(below)
            else:
                rule.append(RULE_AT_LEAST)
                least = t.score_at_least
                if least is None:
                    assert score is not None and t.grade_at_least is not None
                    least = score.floor_of(t.grade_at_least)
                threshold.append(least)
        return cls(
            names=[n for n, _ in items],
            black=np.array([r.kind == "black" for _, r in items], np.bool_),
            rule=np.array(rule, np.int8),
            threshold=np.array(threshold, np.float64),
            duration=np.array([r.duration_days or 0 for _, r in items], np.int64),
            extension=np.array([r.extension_days for _, r in items], np.int64),
            extension_probability=np.array([r.extension_probability for _, r in items], np.float64),
            daily_compliance=np.array(
                [-np.expm1(-r.compliance_per_year / 365.0) for _, r in items], np.float64
            ),
            kind_bits=kind_bits,
        )

    def daily(self, key: np.uint64) -> DailyRules:
        """The rules of the daily update, its draws from stream `key`."""
        r = self
        return DailyRules(
            r.rule, r.threshold, r.extension, r.extension_probability, r.daily_compliance, key
        )

    def __len__(self) -> int:
        return len(self.names)


@functools.lru_cache(maxsize=64)
def _stay_bands(rule_bytes: bytes, threshold_bytes: bytes) -> np.ndarray:
    """ListRules.stay_bands of the lists with these rules (int8) and thresholds
    (float64, points), as bytes."""
    big = float(np.finfo(np.float64).max)
    masks = np.arange(256)
    lo, hi = np.full(256, -big), np.full(256, big)
    rules = np.frombuffer(rule_bytes, np.int8)
    thresholds = np.frombuffer(threshold_bytes, np.float64)
    for b, (rule, t) in enumerate(zip(rules, thresholds, strict=True)):
        on = ((masks >> b) & 1).astype(bool)
        # (fmin and fmax, like Python's min and max, pass over a NaN threshold)
        if rule == RULE_BELOW:  # holds while the score is below t
            hi = np.where(on, np.fmin(hi, t), hi)
            lo = np.where(on, lo, np.fmax(lo, t))
        elif rule == RULE_AT_LEAST:
            lo = np.where(on, np.fmax(lo, t), lo)
            hi = np.where(on, hi, np.fmin(hi, t))
    return np.clip(np.column_stack([lo, hi]), -big, big)


@dataclass
class ListState:
    """Who is on which list of one subject kind, since when and until when, and who
    has ever been on it."""

    mask: np.ndarray  # uint8, bit l = on list l
    wrongful: np.ndarray  # uint8, bit l = that listing rests only on erroneous records
    extended: np.ndarray  # uint8, bit l = the one-off extension was used
    until: np.ndarray  # int16 [lists, n], day a record-triggered listing ends
    true_until: np.ndarray  # int16 [lists, n], day the cover of true records ends
    released: np.ndarray  # uint8, bit l = listing l set to end today by an appeal or review
    repaired: np.ndarray  # uint8, bit l = listing l set to end today by credit repair
    ever: np.ndarray  # uint8, bit l = has entered list l (counted in ever_listed)

    @classmethod
    def empty(cls, n: int, n_lists: int) -> ListState:
        """Nobody on any list."""
        return cls(
            mask=np.zeros(n, np.uint8),
            wrongful=np.zeros(n, np.uint8),
            extended=np.zeros(n, np.uint8),
            until=np.zeros((max(n_lists, 1), n), np.int16),
            true_until=np.zeros((max(n_lists, 1), n), np.int16),
            released=np.zeros(n, np.uint8),
            repaired=np.zeros(n, np.uint8),
            ever=np.zeros(n, np.uint8),
        )

    def arrays(self) -> Listings:
        """The arrays the lists' kernels change (all but `ever`)."""
        s = self
        return Listings(
            s.mask, s.wrongful, s.extended, s.released, s.repaired, s.until, s.true_until
        )


@dataclass
class Changes:
    """Listing changes of one day: who, which list, entered (True) or left, wrongful,
    and why each exit happened."""

    subject: np.ndarray  # int32
    bit: np.ndarray  # uint8
    entered: np.ndarray  # bool
    wrongful: np.ndarray  # bool (for entries: the listing rests on an erroneous record)
    reason: np.ndarray  # uint8: an exit's index into EXIT_REASONS; ENTRY for entries

    @classmethod
    def concat(cls, parts: list[Changes]) -> Changes:
        """All changes of a day, in order."""
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls))
        )

    def __len__(self) -> int:
        return len(self.subject)


@kernel(inner=True)
def _prefetch_rows(until: np.ndarray, true_until: np.ndarray, bits: int, a: int) -> None:
    """Prefetch agent a's `until` and `true_until` (days) on each list of `bits` (one bit
    per list): only the rows of those lists, the others' lines being loaded for nothing."""
    for b in range(len(until)):
        if (bits >> b) & 1:
            prefetch(until[b], a)
            prefetch(true_until[b], a)


ENLIST_BLOCK = 512
"""Records enlist_into takes at a time, prefetching the fields of the block's triggering
subjects (five lines each, and two per list triggered) before applying them: few enough
that those lines stay in a core's cache until then."""


@kernel
def enlist_into(
    state: Listings,
    kind_bits: np.ndarray,
    kinds: np.ndarray,
    subjects: np.ndarray,
    erroneous: np.ndarray,
    duration: np.ndarray,
    day: int,
    out: tuple,
) -> int:
    """Put subjects[r] on the lists that a record of kind kinds[r] triggers (kind_bits
    [kind]: one bit per list; empty: none) from `day` (days: duration by list), in the
    order of the records; writes each entry's (subject, bit, wrongful) to the arrays of
    `out` (room for one per triggered list of each record), returns how many.

    Few of a day's records trigger a list, each then touching a line of memory in seven
    arrays of the subjects: the records are taken a block of ENLIST_BLOCK at a time,
    the fields of the block's triggering subjects first prefetched (their loads
    overlap), then the records applied in order."""
    mask, wrongful, extended, released, repaired, until, true_until = state
    out_subject, out_bit, out_wrongful = out
    n_out = 0
    if len(kind_bits) == 0:
        return 0
    for r in range(len(subjects)):
        if r % ENLIST_BLOCK == 0:
            for q in range(r, min(r + ENLIST_BLOCK, len(subjects))):
                triggers = kind_bits[kinds[q]]
                if triggers == 0:
                    continue
                a = subjects[q]
                prefetch(mask, a)
                prefetch(wrongful, a)
                prefetch(extended, a)
                prefetch(released, a)
                prefetch(repaired, a)
                _prefetch_rows(until, true_until, triggers, a)
        bits = kind_bits[kinds[r]]
        if bits == 0:
            continue
        i = subjects[r]
        for b in range(8):
            if not (bits >> b) & 1:
                continue
            flag = np.uint8(1 << b)
            end = day + duration[b]
            entering = not (mask[i] & flag)
            if entering:
                mask[i] |= flag
                extended[i] &= ~flag
                until[b, i] = end
                true_until[b, i] = day
            else:
                until[b, i] = max(until[b, i], end)
            # (a new record holds the listing past a release set for today)
            released[i] &= ~flag
            repaired[i] &= ~flag
            if not erroneous[r]:
                true_until[b, i] = max(true_until[b, i], end)
            # Wrongful while no true record covers today.
            if true_until[b, i] <= day:
                wrongful[i] |= flag
            else:
                wrongful[i] &= ~flag
            if entering:
                out_subject[n_out] = i
                out_bit[n_out] = b
                out_wrongful[n_out] = erroneous[r]
                n_out += 1
    return n_out


def enlist(
    rules: ListRules,
    state: ListState,
    day: int,
    subjects: np.ndarray,
    kinds: np.ndarray,
    erroneous: np.ndarray,
) -> Changes:
    """Put the subjects of today's records on the lists their record kinds trigger
    (enlist_into)."""
    bits = rules.kind_bits[kinds] if len(rules.kind_bits) else np.zeros(0, np.uint8)
    cap = int(np.unpackbits(bits).sum()) if len(bits) else 0
    out = (np.empty(cap, np.int32), np.empty(cap, np.uint8), np.empty(cap, bool))
    if cap:
        n = enlist_into(
            state.arrays(), rules.kind_bits, kinds, subjects, erroneous, rules.duration, day, out
        )
    else:
        n = 0
    out_s, out_b, out_w = (a[:n] for a in out)
    return Changes(out_s, out_b, np.ones(n, bool), out_w, np.full(n, ENTRY, np.uint8))


@kernel
def _daily(
    state: Listings,
    rules: DailyRules,
    points: Points,
    day: int,
    ids: np.ndarray,
    start: int,
    out: ChangeColumns,
    first_id: int = 0,
) -> tuple[int, int]:
    """Expiry, extension, compliance exits and score rules of the agents ids[start:]
    (increasing; every agent that may change: see daily_update); stops early if out is
    full and returns (changes written, where to start again). Each exit's reason (see
    EXIT_REASONS): the compliance draw, else, at the listing's end, released or repaired
    where due process set that end (released first when both did), else expired. The
    random draws of agent
    i are keyed by its id in the run, first_id + i (see daily_update). The ids are
    scattered over the arrays, so their fields are prefetched in two steps: the mask (and
    score) of the agent 2 * AHEAD places ahead, then, AHEAD places ahead, only the rows of the
    lists that agent is on (most listed agents are on one list: the other lists' rows
    would be lines loaded for nothing)."""
    mask, wrongful, extended, released, repaired, until, true_until = state
    rule, threshold, extension, extension_probability, daily_compliance, key = rules
    score, error_points = points
    out_subject, out_bit, out_entered, out_wrongful, out_reason = out
    n_lists = len(rule)
    cap = len(out_subject)
    n_out = 0
    # Fast path: an agent on no list changes only if a score rule now holds for it.
    has_score_rules = False
    below_max, least_min = -np.inf, np.inf
    score_bits = 0  # the lists with score rules, whose members' wrongful flags change daily
    timed_bits = 0  # the lists whose listings end on a day (until, true_until)
    for b in range(n_lists):
        if rule[b] == 0:
            timed_bits |= 1 << b
        elif rule[b] == 1:
            below_max = max(below_max, threshold[b])
            has_score_rules = True
            score_bits |= 1 << b
        elif rule[b] == 2:
            least_min = min(least_min, threshold[b])
            has_score_rules = True
            score_bits |= 1 << b
    for j in range(start, len(ids)):
        if j + 2 * AHEAD < len(ids):
            far = ids[j + 2 * AHEAD]
            prefetch(mask, far)
            if has_score_rules:
                prefetch(score, far)
        if j + AHEAD < len(ids):
            ahead = ids[j + AHEAD]
            on_ahead = mask[ahead]
            if on_ahead & score_bits:
                prefetch(wrongful, ahead)
            _prefetch_rows(until, true_until, on_ahead & timed_bits, ahead)
        i = ids[j]
        m = mask[i]
        if m == 0 and (not has_score_rules or below_max <= score[i] < least_min):
            continue
        if n_out + n_lists > cap:
            return n_out, j
        for b in range(n_lists):
            flag = np.uint8(1 << b)
            on = (m & flag) != 0
            if rule[b] == 0:
                if not on:
                    continue
                leave = False
                reason = COMPLIED
                if daily_compliance[b] > 0.0 and (
                    hash_uniform(key, day, (first_id + i) * 16 + b) < daily_compliance[b]
                ):
                    leave = True
                    # a listing ended by due process today left for that reason
                    if released[i] & flag:
                        reason = RELEASED
                    elif repaired[i] & flag:
                        reason = REPAIRED
                elif until[b, i] <= day:
                    if (
                        not (extended[i] & flag)
                        and extension[b] > 0
                        and hash_uniform(key, day, (first_id + i) * 16 + 8 + b)
                        < extension_probability[b]
                    ):
                        extended[i] |= flag
                        if true_until[b, i] >= until[b, i]:  # a true record ran to the end
                            true_until[b, i] = day + extension[b]
                        until[b, i] = day + extension[b]
                    else:
                        leave = True
                        reason = (
                            RELEASED
                            if released[i] & flag
                            else REPAIRED
                            if repaired[i] & flag
                            else EXPIRED
                        )
                if not leave and true_until[b, i] <= day:
                    wrongful[i] |= flag
                if leave:
                    m &= ~flag
                    out_subject[n_out] = i
                    out_bit[n_out] = b
                    out_entered[n_out] = False
                    out_wrongful[n_out] = (wrongful[i] & flag) != 0
                    out_reason[n_out] = reason
                    wrongful[i] &= ~flag
                    released[i] &= ~flag
                    repaired[i] &= ~flag
                    n_out += 1
            else:
                s = score[i]
                holds = s < threshold[b] if rule[b] == 1 else s >= threshold[b]
                if holds != on:
                    if holds:
                        m |= flag
                    else:
                        m &= ~flag
                    out_subject[n_out] = i
                    out_bit[n_out] = b
                    out_entered[n_out] = holds
                    out_reason[n_out] = ENTRY if holds else SCORE
                    n_out += 1
                if holds:
                    # Decisive error: without erroneous points the rule would not hold.
                    clean = s - error_points[i]
                    clean_holds = clean < threshold[b] if rule[b] == 1 else clean >= threshold[b]
                    if clean_holds:
                        wrongful[i] &= ~flag
                    else:
                        wrongful[i] |= flag
                    if holds != on:
                        out_wrongful[n_out - 1] = not clean_holds
                elif on:
                    out_wrongful[n_out - 1] = (wrongful[i] & flag) != 0
                    wrongful[i] &= ~flag
        mask[i] = m
    return n_out, len(ids)


def daily_update(
    rules: ListRules,
    state: ListState,
    day: int,
    points: Points,
    key: np.uint64,
    *,
    score_outside: np.ndarray | None = None,
    listed: np.ndarray | None = None,
    first_id: int = 0,
) -> Changes:
    """Today's exits (expiry, compliance) and score-rule entries and exits, for everyone
    (points: the scores and their erroneous parts, both empty where there is no score).

    Only agents that may change are visited: those on a list, and those in a run of
    eight agents (ids 8k to 8k + 7) where a score may be outside rules.score_band().
    score_outside: those runs, as Scorer.outside keeps them after
    watch_band(*rules.score_band()); listed: the ids of every agent on some list,
    increasing (after today's enlist). Both are found here from the masks and scores
    when not given. first_id: the id in the run of agent 0 of `state` (the draws of
    compliance and extension are keyed by the run's ids): 0 for a whole population,
    the resident's id when `explain` replays one resident as a state of one agent.
    """
    if len(rules) == 0:
        return Changes(*(np.zeros(0, t) for t in (np.int32, np.uint8, bool, bool, np.uint8)))
    n = len(state.mask)
    cap = max(1024, n // 64)
    score = points.score
    below, at_least = rules.score_band() if len(score) else (-np.inf, np.inf)
    big = float(np.finfo(np.float64).max)  # finite bounds: fastmath assumes no infinities
    below, at_least = min(max(below, -big), big), min(max(at_least, -big), big)
    in_band = score if len(score) else np.zeros(n, np.float32)  # no score: none outside
    if score_outside is None:
        busy = busy_octets(state.mask, in_band, below, at_least)
        ids = agents_to_visit(
            np.flatnonzero(state.mask).astype(np.int64), busy, in_band, below, at_least
        )
    else:
        if listed is None:
            listed = np.flatnonzero(state.mask).astype(np.int64)
        ids = agents_to_visit(listed, score_outside, in_band, below, at_least)
    arrays, daily = state.arrays(), rules.daily(key)
    parts: list[Changes] = []
    start = 0
    while start < len(ids) or not parts:
        out = ChangeColumns(
            np.empty(cap, np.int32),
            np.empty(cap, np.uint8),
            np.empty(cap, bool),
            np.empty(cap, bool),
            np.empty(cap, np.uint8),
        )
        n, start = _daily(arrays, daily, points, day, ids, start, out, first_id)
        parts.append(Changes(*(a[:n] for a in out)))
        cap *= 2
    return parts[0] if len(parts) == 1 else Changes.concat(parts)
