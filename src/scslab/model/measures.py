"""Measures: what lists do, in each domain and beyond the listed.

The measures map lists to the domains they block or delay, the rewards (the green
channel) map red lists and high grades to shorter waits (DomainRules). A listed
enterprise's lists reach its legal representative (representative_masks), and each
resident's count of blacklisted contacts follows the blacklists (count_listed_contacts,
for association penalties).

An attempt at an activity is resolved against its domain's measures and rewards
(resolve): blocked, delayed or sped up, and counted by group; a blocked attempt is
*wrongful* when every list that blocks it rests on erroneous records. Only the residents
whom a measure or reward of the domain reaches (Reach: on a list, representing a listed
enterprise, or with a score high enough for the green channel; reached_ids, HighScores)
can meet one; activities.py draws their attempts one by one and only counts the others'.
Before they meet the measures, the listed subjects avoid some of them (ListResponse;
attempts_made: respond, then count_avoided), on a counter-based stream that either loop
draws alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scslab.kernelcache import kernel
from scslab.model.attempts import keep_high
from scslab.model.containers import (
    Avoided,
    Measures,
    Outcomes,
    Resolving,
    Responding,
    Response,
    Standing,
)
from scslab.model.lists import ListRules
from scslab.model.members import update_members
from scslab.model.scoring import ScoreRules
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import DOMAINS, Subject
from scslab.streams import hash_uniform

OUTCOMES = ("attempts", "blocked", "wrongful_blocked", "delayed", "green_channel", "wait_days")
"""What is counted per domain (wait_days: days waited, summed over attempts that went on)."""


@dataclass(frozen=True)
class DomainRules:
    """Measures and rewards per domain (index into scenario.sections.DOMAINS)."""

    block_own: np.ndarray  # uint8 [domains]: lists of the subject's own kind that block
    block_rep: np.ndarray  # uint8 [domains]: enterprise lists that block (reach the rep)
    delay_own: np.ndarray  # uint8 [domains]
    delay_rep: np.ndarray  # uint8 [domains]
    delay_days: np.ndarray  # float64 [domains], days added when delayed
    reward_bits: np.ndarray  # uint8 [domains], resident red lists that open the green channel
    reward_score: np.ndarray  # float64 [domains], score that opens it (inf: none)
    wait_factor: np.ndarray  # float64 [domains], multiplier on waits in the green channel
    response: ListResponse | None = None  # listed subjects' response (None: nobody responds)

    @classmethod
    def compile(
        cls,
        scenario: Scenario,
        subject: Subject,
        own: ListRules,
        firm: ListRules,
        score: ScoreRules | None,
    ) -> DomainRules:
        """Per-domain masks for subjects of kind `subject` (residents also carry rep lists)."""
        nd = len(DOMAINS)
        t = {k: np.zeros(nd, np.uint8) for k in ("bo", "br", "do", "dr", "rb")}
        delay_days = np.zeros(nd, np.float64)
        reward_score = np.full(nd, np.inf)
        wait_factor = np.ones(nd, np.float64)
        for m in scenario.measures.values():
            lst = scenario.lists[m.list]
            for dom in m.domains:
                d = DOMAINS.index(dom)
                if lst.subject == subject:
                    bit = 1 << own.names.index(m.list)
                    t["bo" if m.effect == "block" else "do"][d] |= bit
                elif subject == "resident":
                    bit = 1 << firm.names.index(m.list)
                    t["br" if m.effect == "block" else "dr"][d] |= bit
                else:
                    continue
                if m.effect == "delay":
                    delay_days[d] = max(delay_days[d], m.delay_days)
        if subject == "resident":
            for rw in scenario.rewards.values():
                for dom in rw.domains:
                    d = DOMAINS.index(dom)
                    if rw.list is not None:
                        t["rb"][d] |= 1 << own.names.index(rw.list)
                    elif score is not None and rw.grade_at_least is not None:
                        reward_score[d] = min(reward_score[d], score.floor_of(rw.grade_at_least))
                    wait_factor[d] = min(wait_factor[d], rw.wait_factor)
        return cls(
            t["bo"],
            t["br"],
            t["do"],
            t["dr"],
            delay_days,
            t["rb"],
            reward_score,
            wait_factor,
            ListResponse.compile(scenario, subject, own),
        )

    def measures(self, d: int, base_wait: float) -> Measures:
        """Domain d's measures and rewards for an activity whose wait is base_wait days."""
        return Measures(
            int(self.block_own[d]),
            int(self.block_rep[d]),
            int(self.delay_own[d]),
            int(self.delay_rep[d]),
            float(self.delay_days[d]),
            int(self.reward_bits[d]),
            float(self.reward_score[d]),
            float(self.wait_factor[d]),
            float(base_wait),
        )


@dataclass(frozen=True)
class ListResponse:
    """How subjects on their own lists respond to the measures (scenario Measure:
    attempt_multiplier, attempt_multiplier_floor, learning_half_life_days, avoidance),
    per domain and own list bit. Where two measures of one list share a domain, the
    lower multipliers, the shorter half-life and the larger avoidance hold. Lists of
    represented enterprises bring no response of their representatives."""

    multiplier: np.ndarray  # float64 [domains, 8]: share of attempts made on the day of listing
    floor: np.ndarray  # float64 [domains, 8]: share made long after listing
    half_life: np.ndarray  # float64 [domains, 8], days (inf: no learning)
    avoidance: np.ndarray  # float64 [domains, 8]: share of avoided attempts replaced

    @classmethod
    def compile(cls, scenario: Scenario, subject: Subject, own: ListRules) -> ListResponse | None:
        """The response to the measures of subjects of kind `subject`; None when no
        measure of their own lists has one."""
        shape = (len(DOMAINS), 8)
        mult, floor = np.ones(shape), np.ones(shape)
        half_life, avoid = np.full(shape, np.inf), np.zeros(shape)
        any_response = False
        for m in scenario.measures.values():
            if scenario.lists[m.list].subject != subject or not m.responds():
                continue
            any_response = True
            b = own.names.index(m.list)
            low = (
                m.attempt_multiplier
                if m.attempt_multiplier_floor is None
                else m.attempt_multiplier_floor
            )
            for dom in m.domains:
                d = DOMAINS.index(dom)
                mult[d, b] = min(mult[d, b], m.attempt_multiplier)
                floor[d, b] = min(floor[d, b], low)
                if m.learning_half_life_days is not None:
                    half_life[d, b] = min(half_life[d, b], m.learning_half_life_days)
                avoid[d, b] = max(avoid[d, b], m.avoidance)
        return cls(mult, floor, half_life, avoid) if any_response else None

    def domains(self) -> np.ndarray:
        """Indices of the domains where some list brings a response."""
        return np.flatnonzero(((self.multiplier < 1.0) | (self.floor < 1.0)).any(axis=1))

    def learns(self) -> bool:
        """True when some response changes with the days since listing (learning)."""
        return bool(np.isfinite(self.half_life).any())

    def rule(self, d: int) -> Response:
        """Domain d's row of the response, as the kernels take it."""
        return Response(self.multiplier[d], self.floor[d], self.half_life[d], self.avoidance[d])

    def respond(
        self,
        d: int,
        attempts: np.ndarray,
        mask: np.ndarray,
        since: np.ndarray,
        day: int,
        key: np.uint64,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """respond() in domain d: the attempts (ids) made, those avoided, and the ids of
        the avoided ones that were replaced; `key` is the stream's (stream_key)."""
        made = np.empty(len(attempts), np.int64)
        avoided = Avoided(np.empty(len(attempts), np.int64), np.empty(len(attempts), np.bool_))
        n_made, n_avoided = respond(
            attempts.astype(np.int64), mask, since, day, key, self.rule(d), made, avoided
        )
        gone = avoided.ids[:n_avoided]
        return made[:n_made], gone, gone[avoided.replaced[:n_avoided]]


RESPONSE_STRIDE = 16
"""The counters of the j-th attempt's draws in a day's response stream start at j x this
(two per own list bit: avoided, then replaced)."""


@kernel
def respond(
    attempts: np.ndarray,
    mask: np.ndarray,
    since: np.ndarray,
    day: int,
    key: np.uint64,
    response: Response,
    made: np.ndarray,
    avoided: Avoided,
) -> tuple[int, int]:
    """Split the attempts (subject ids, one entry per attempt) at an activity of one
    domain into those made (to meet the measures) and those avoided, some of them
    replaced by an unrestricted alternative. For each own list b in the subject's `mask`,
    in bit order, an attempt not yet avoided is avoided with probability 1 - m_b, where
    m_b = floor + (multiplier - floor) x 0.5 ** (days since listing / half-life), and
    then replaced with probability avoidance_b; since[b, i]: the day subject i entered
    list b (read only where the response learns). The uniforms are hash_uniform(key,
    day, j x RESPONSE_STRIDE + 2b (+ 1 for the replacement)) for the j-th attempt, so
    that either loop draws the same.

    Writes the ids made to `made` and the avoided to `avoided` (in the attempts' order);
    returns how many of each."""
    n_made = 0
    n_avoided = 0
    for j in range(len(attempts)):
        i = attempts[j]
        on = mask[i]
        gone = False
        swap = False
        for b in range(8):
            if on == 0 or gone:
                break
            if not (on >> b) & 1:
                continue
            m0, low = response.multiplier[b], response.floor[b]
            if m0 >= 1.0 and low >= 1.0:
                continue
            m = m0
            if np.isfinite(response.half_life[b]):
                days = max(float(day) - float(since[b, i]), 0.0)
                m = low + (m0 - low) * np.exp2(-days / response.half_life[b])
            t = np.int64(j) * RESPONSE_STRIDE + 2 * b
            if hash_uniform(key, day, t) >= m:
                gone = True
                swap = hash_uniform(key, day, t + 1) < response.avoidance[b]
        if gone:
            avoided.ids[n_avoided] = i
            avoided.replaced[n_avoided] = swap
            n_avoided += 1
        else:
            made[n_made] = i
            n_made += 1
    return n_made, n_avoided


@kernel(inner=True)
def count_avoided(
    acc: np.ndarray,
    cell: np.ndarray,
    avoided: Avoided,
    n: int,
    avoided_col: int,
    cols: np.ndarray,
    base_wait: float,
) -> None:
    """Count the first n attempts of `avoided` in acc[cell, avoided_col] (avoided:<domain>;
    -1: not counted), and the replaced ones among them as attempts that met no measure:
    in acc[cell, cols[0]] (attempts) and base_wait days each in acc[cell, cols[5]]
    (wait_days), in the attempts' order."""
    for k in range(n):
        c = cell[avoided.ids[k]]
        if avoided_col >= 0:
            acc[c, avoided_col] += 1.0
        if avoided.replaced[k]:
            acc[c, cols[0]] += 1.0
            acc[c, cols[5]] += base_wait


@kernel(inner=True)
def attempts_made(
    attempts: np.ndarray, day: int, responding: Responding, resolving: Resolving
) -> np.ndarray:
    """The attempts (int64 subject ids) at an activity that the subjects still make
    after their response to the domain's measures (respond: `responding`, by the
    subjects' own lists, resolving.standing.own_mask), the others counted in the
    outcomes' acc by cell (count_avoided: responding.avoided_col, and the replaced ones
    in cols[0] and cols[5] with the measures' base_wait days each): what both loops
    run before resolving attempts."""
    _, response, key, since, avoided_col = responding
    standing, measures, outcomes = resolving
    mask, cell, acc, cols = standing.own_mask, standing.cell, outcomes.acc, outcomes.cols
    base_wait = measures.base_wait
    made = np.empty(len(attempts), np.int64)
    avoided = Avoided(np.empty(len(attempts), np.int64), np.empty(len(attempts), np.bool_))
    n_made, n_avoided = respond(attempts, mask, since, day, key, response, made, avoided)
    count_avoided(acc, cell, avoided, n_avoided, avoided_col, cols, base_wait)
    return made[:n_made]


@kernel
def attempts_made_from_python(
    attempts: np.ndarray, day: int, responding: Responding, resolving: Resolving
) -> np.ndarray:
    """attempts_made, for Python (the general loop): kernels call attempts_made, an
    inner kernel, so that a run whose kernels alone call it has numba build no CPython
    wrapper for it (its arguments' unboxing is large)."""
    return attempts_made(attempts, day, responding, resolving)


@kernel
def mark_entered(
    since: np.ndarray, subject: np.ndarray, bit: np.ndarray, entered: np.ndarray, n: int, day: int
) -> None:
    """since[bit, subject] = day for each of the first n listing changes that entered a
    list (the day of listing, which responses that learn read); nothing where since is
    empty."""
    if since.size == 0:
        return
    for c in range(n):
        if entered[c]:
            since[bit[c], subject[c]] = day


@dataclass(frozen=True)
class Reach:
    """Whom the measures and rewards of one domain reach: residents with a bit of
    `own_bits` in their list mask or of `rep_bits` in their rep mask (lists of the
    enterprises they represent), or a score of at least `reward_score` (points)."""

    mask: np.ndarray
    own_bits: int
    rep_mask: np.ndarray
    rep_bits: int
    score: np.ndarray  # float32 (empty: no score)
    reward_score: float  # inf: no score-based reward

    def of(self, ids: np.ndarray) -> np.ndarray:
        """True for each id that the domain's measures or rewards reach."""
        hit = ((self.mask[ids] & self.own_bits) | (self.rep_mask[ids] & self.rep_bits)) != 0
        if len(self.score) and np.isfinite(self.reward_score):
            hit |= self.score[ids] >= self.reward_score
        return hit


@kernel
def resolve(
    attempts: np.ndarray,
    standing: Standing,
    measures: Measures,
    outcomes: Outcomes,
    out_blocked: np.ndarray,
    out_done: np.ndarray,
) -> tuple[int, int]:
    """Resolve attempts (subject ids) in one domain; count outcomes in acc[cell,
    cols[outcome]], and each blocked attempt once for every list that blocks it in
    acc[cell, blocked_by[bit]] (own list bit, 0 to 7; list bit - 8 of the represented
    firms, 8 to 15; -1: not counted).

    Returns how many were blocked and how many went ahead (ids in out_blocked, out_done).
    """
    cell, own_mask, own_wrongful, rep_mask, rep_wrongful, score = standing
    (
        block_own,
        block_rep,
        delay_own,
        delay_rep,
        delay_days,
        reward_bits,
        reward_score,
        wait_factor,
        base_wait,
    ) = measures
    acc, cols, blocked_by, blocked_count, wrongful_count = outcomes
    has_rep = len(rep_mask) > 0
    has_score = len(score) > 0
    n_blocked = 0
    n_done = 0
    for i in attempts:
        c = cell[i]
        acc[c, cols[0]] += 1.0
        b_own = own_mask[i] & block_own
        b_rep = rep_mask[i] & block_rep if has_rep else 0
        if b_own or b_rep:
            acc[c, cols[1]] += 1.0
            for b in range(16):
                if ((b_own | (b_rep << 8)) >> b) & 1 and blocked_by[b] >= 0:
                    acc[c, blocked_by[b]] += 1.0
            rightful = (b_own & ~own_wrongful[i]) | ((b_rep & ~rep_wrongful[i]) if has_rep else 0)
            if rightful == 0:
                acc[c, cols[2]] += 1.0
                if len(wrongful_count):
                    wrongful_count[i] += 1
            if len(blocked_count):
                blocked_count[i] += 1
            out_blocked[n_blocked] = i
            n_blocked += 1
            continue
        wait = base_wait
        if (own_mask[i] & delay_own) or (has_rep and (rep_mask[i] & delay_rep)):
            acc[c, cols[3]] += 1.0
            wait += delay_days
        green = (own_mask[i] & reward_bits) != 0 or (has_score and score[i] >= reward_score)
        if green:
            acc[c, cols[4]] += 1.0
            wait *= wait_factor
        acc[c, cols[5]] += wait
        out_done[n_done] = i
        n_done += 1
    return n_blocked, n_done


@kernel(inner=True)
def _reached_ids(
    a: np.ndarray, b: np.ndarray, score: np.ndarray, at_least: float, out: np.ndarray
) -> int:
    """Write to `out` the ids i (increasing) where a[i] or b[i] is non-zero or score[i] >=
    at_least (score may be empty), as many as fit; returns how many there are. Agents
    are tested eight at a time (most are not reached)."""
    n = len(a)
    n_words = n // 8
    a64 = a[: 8 * n_words].view(np.uint64)
    b64 = b[: 8 * n_words].view(np.uint64)
    with_score = len(score) == n
    cap = len(out)
    m = 0
    for w in range(n_words + 1):
        if w < n_words:
            hit = (a64[w] | b64[w]) != 0
            if with_score and not hit:
                top = score[8 * w]
                for i in range(8 * w + 1, 8 * w + 8):
                    top = max(top, score[i])
                hit = top >= at_least
            if not hit:
                continue
        for i in range(8 * w, min(8 * w + 8, n)):
            # branch-free: write the id, keep it only if reached
            if m < cap:
                out[m] = i
            m += (a[i] | b[i]) != 0 or (with_score and score[i] >= at_least)
    return m


def reached_ids(
    mask: np.ndarray,
    rep_mask: np.ndarray,
    score: np.ndarray | None = None,
    at_least: float = np.inf,
) -> np.ndarray:
    """Ids (increasing) of the residents whom some measure or reward may reach: on any
    list, representing a listed enterprise, or with a score of at least `at_least`."""
    return reached_scan(
        mask, rep_mask, np.zeros(0, np.float32) if score is None else score, at_least
    )


@kernel
def reached_scan(
    mask: np.ndarray, rep_mask: np.ndarray, score: np.ndarray, at_least: float
) -> np.ndarray:
    """reached_ids() as a kernel (score: float32, empty for none; an infinite at_least
    reads no score)."""
    if not np.isfinite(at_least):
        score = score[:0]
    out = np.empty(len(mask) // 16 + 1024, np.int64)
    m = _reached_ids(mask, rep_mask, score, at_least, out)
    if m > len(out):
        out = np.empty(m, np.int64)
        _reached_ids(mask, rep_mask, score, at_least, out)
    return out[:m]


def union_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The union of two increasing arrays of ids without repeats, increasing (int64)."""
    return update_members(a, b, np.ones(len(b), np.bool_))


class HighScores:
    """Residents whose score is at least `at_least` points, kept without a daily scan.

    Only records raise a score above the base (drift pulls it back, association
    penalties lower it), so when `at_least` is above the base, today's set is
    yesterday's plus the subjects whose score records raised (Scorer.take_risen), less
    those who fell below.
    """

    def __init__(self, at_least: float, score: np.ndarray) -> None:
        """The set from the scores at the start (one scan; afterwards, none)."""
        self.at_least = at_least
        self.ids = np.flatnonzero(score >= at_least).astype(np.int64)

    def update(self, score: np.ndarray, risen: np.ndarray) -> np.ndarray:
        """Today's set (increasing ids), from today's scores and the risen subjects."""
        self.ids = keep_high(self.ids, risen, score, self.at_least)
        return self.ids


@kernel
def representative_masks(
    enterprises: np.ndarray,
    legal_rep: np.ndarray,
    represented_indptr: np.ndarray,
    represented_indices: np.ndarray,
    ent_mask: np.ndarray,
    ent_wrongful: np.ndarray,
    rep_mask: np.ndarray,
    rep_wrongful: np.ndarray,
) -> None:
    """Recompute the lists that reach each touched enterprise's legal representative."""
    for e in enterprises:
        r = legal_rep[e]
        m = np.uint8(0)
        rightful = np.uint8(0)
        for p in range(represented_indptr[r], represented_indptr[r + 1]):
            f = represented_indices[p]
            m |= ent_mask[f]
            rightful |= ent_mask[f] & ~ent_wrongful[f]
        rep_mask[r] = m
        rep_wrongful[r] = m & ~rightful


@kernel
def count_listed_contacts(
    changes_subject: np.ndarray,
    was_black: np.ndarray,
    is_black: np.ndarray,
    contacts_of_indptr: np.ndarray,
    contacts_of_indices: np.ndarray,
    listed_contacts: np.ndarray,
) -> None:
    """Keep, for every resident, the number of their contacts on any blacklist."""
    for c in range(len(changes_subject)):
        if was_black[c] == is_black[c]:
            continue
        i = changes_subject[c]
        delta = 1 if is_black[c] else -1
        for p in range(contacts_of_indptr[i], contacts_of_indptr[i + 1]):
            listed_contacts[contacts_of_indices[p]] += delta
