"""Idiomatic Mesa 3 implementation of the reference model "SCS-ref-1" (speed baseline).

This is the plain agent-based version of SCS-ref-1, written the way a Mesa user would
write it: one :class:`mesa.Agent` per resident, a :class:`mesa.Model` that steps the
agents with ``AgentSet.shuffle_do`` / ``AgentSet.do``, and a :class:`mesa.DataCollector`
for the daily counts. It is deliberately *not* vectorised: it is the baseline against
which the fast ``scslab`` engine is timed and cross-checked.

Model (one step = one day; scores and record weights are in points):

* ``N`` residents, each starting at a score of 1000 points, each with 10 contacts drawn
  uniformly at random, without replacement, from the *other* residents (directed: the
  contacts are the resident's own; the relation need not be symmetric).
* Each day each resident independently receives a negative record from each of five
  departments with the daily probability and weight in :data:`DEPARTMENTS`; a resident
  that is listed at the start of the day has each of those probabilities multiplied by
  :data:`LISTED_RISK_MULTIPLIER` (1.2).
* A positive (volunteering) record with daily probability :data:`VOLUNTEER_PROB`, worth
  :data:`VOLUNTEER_POINTS` points, unaffected by listing.
* An association penalty of :data:`ASSOCIATION_PENALTY` points a day for each of the
  resident's contacts that is listed at the start of the day.
* Score update: ``score = 1000 + 0.999 * (score - 1000) + points_today``.
* After all residents have updated: listed iff ``score < 960``; green channel iff
  ``score >= 1030``.
* Output: per day (after the update) the number of listed and green-channel residents.

The day is two-phase: every resident first computes its new score from the start-of-day
listed statuses (:meth:`Resident.step_score`), and only then do all residents update
their statuses (:meth:`Resident.update_status`).

Run as a script for a timing::

    python benchmarks/mesa_scs_ref1.py --residents 10000 --days 365 --seed 1
"""

from __future__ import annotations

import argparse
import time

import mesa
import numpy as np

BASE_SCORE = 1000.0
"""Starting score and the level scores relax towards (points)."""

DECAY = 0.999
"""Fraction of the deviation from :data:`BASE_SCORE` kept from one day to the next."""

N_CONTACTS = 10
"""Number of contacts of each resident (other residents, drawn without replacement)."""

DEPARTMENTS: tuple[tuple[str, float, float], ...] = (
    ("courts", 1e-4, -50.0),
    ("tax", 2e-4, -30.0),
    ("transport", 5e-4, -10.0),
    ("traffic", 1e-3, -5.0),
    ("finance", 3e-4, -20.0),
)
"""Negative records: (department, daily probability, points per record)."""

LISTED_RISK_MULTIPLIER = 1.2
"""Factor on the negative-record daily probabilities for residents listed at day start."""

VOLUNTEER_PROB = 5e-4
"""Daily probability of a positive (volunteering) record."""

VOLUNTEER_POINTS = 20.0
"""Points of one positive (volunteering) record."""

ASSOCIATION_PENALTY = -0.02
"""Points a day for each of a resident's contacts that is listed at the start of the day."""

LIST_THRESHOLD = 960.0
"""A resident is listed (blacklisted) iff its score is below this (points)."""

GREEN_THRESHOLD = 1030.0
"""A resident is in the green channel iff its score is at least this (points)."""


class Resident(mesa.Agent):
    """One resident of SCS-ref-1.

    Attributes:
        score: Current score (points); starts at :data:`BASE_SCORE`.
        listed: Whether the resident is listed (blacklisted), i.e. its score was below
            :data:`LIST_THRESHOLD` after the last completed day.
        green: Whether the resident is in the green channel, i.e. its score was at least
            :data:`GREEN_THRESHOLD` after the last completed day.
        contacts: The resident's own contacts (a list of other :class:`Resident`).
    """

    def __init__(self, model: ScsRef1Model) -> None:
        super().__init__(model)
        self.score: float = BASE_SCORE
        self.listed: bool = False
        self.green: bool = False
        self.contacts: list[Resident] = []

    def step_score(self) -> None:
        """Phase 1 of a day: add today's points and relax the score towards the base.

        Reads only start-of-day ``listed`` flags (its own and its contacts'), which are
        not changed until :meth:`update_status` runs for all residents.
        """
        rand = self.model.random.random
        multiplier = LISTED_RISK_MULTIPLIER if self.listed else 1.0
        points = 0.0
        for _name, prob, weight in DEPARTMENTS:
            if rand() < prob * multiplier:
                points += weight
        if rand() < VOLUNTEER_PROB:
            points += VOLUNTEER_POINTS
        n_listed_contacts = sum(1 for contact in self.contacts if contact.listed)
        points += ASSOCIATION_PENALTY * n_listed_contacts
        self.score = BASE_SCORE + DECAY * (self.score - BASE_SCORE) + points

    def update_status(self) -> None:
        """Phase 2 of a day: set the listed and green-channel flags from the new score."""
        self.listed = self.score < LIST_THRESHOLD
        self.green = self.score >= GREEN_THRESHOLD


def count_listed(model: ScsRef1Model) -> int:
    """Number of listed residents in ``model`` (residents)."""
    return sum(1 for agent in model.agents if agent.listed)


def count_green(model: ScsRef1Model) -> int:
    """Number of green-channel residents in ``model`` (residents)."""
    return sum(1 for agent in model.agents if agent.green)


class ScsRef1Model(mesa.Model):
    """The SCS-ref-1 model: ``n_residents`` residents, one :meth:`step` per day.

    Args:
        n_residents: Number of residents (must exceed :data:`N_CONTACTS`).
        seed: Seed of the model's random number generator (``self.random``), so that
            runs with the same seed are identical.
    """

    def __init__(self, n_residents: int, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if n_residents <= N_CONTACTS:
            raise ValueError(f"need more than {N_CONTACTS} residents, got {n_residents}")
        self.n_residents = n_residents
        residents = [Resident(self) for _ in range(n_residents)]
        for i, resident in enumerate(residents):
            # Draw N_CONTACTS distinct indices among the n - 1 others, skipping i itself.
            picks = self.random.sample(range(n_residents - 1), N_CONTACTS)
            resident.contacts = [residents[j if j < i else j + 1] for j in picks]
        self.datacollector = mesa.DataCollector(
            model_reporters={"listed": count_listed, "green": count_green}
        )

    def step(self) -> None:
        """Advance one day: all new scores first, then all statuses, then record counts."""
        self.agents.shuffle_do("step_score")
        self.agents.do("update_status")
        self.datacollector.collect(self)


def run_mesa(n_residents: int, days: int, seed: int) -> np.ndarray:
    """Run SCS-ref-1 with Mesa and return the daily counts.

    Args:
        n_residents: Number of residents.
        days: Number of days to simulate.
        seed: Seed of the model's random number generator.

    Returns:
        Array of shape ``(days, 2)``, dtype int64: row ``d`` holds the number of listed
        and of green-channel residents after the update of day ``d + 1``.
    """
    model = ScsRef1Model(n_residents, seed=seed)
    for _ in range(days):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    return frame[["listed", "green"]].to_numpy(dtype=np.int64).reshape(days, 2)


def time_steps(n_residents: int, days: int, seed: int) -> tuple[float, float]:
    """Build the model, then run `days` steps: (seconds to build, seconds of the steps).

    The steps alone are what compares with scslab's simulation time, which leaves out
    the population build in the same way.
    """
    start = time.perf_counter()
    model = ScsRef1Model(n_residents, seed=seed)
    built = time.perf_counter()
    for _ in range(days):
        model.step()
    return built - start, time.perf_counter() - built


def main() -> None:
    """Command-line entry point: run once and print wall time and agent-days per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000, help="number of residents")
    parser.add_argument("--days", type=int, default=365, help="number of days to simulate")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args()

    start = time.perf_counter()
    counts = run_mesa(args.residents, args.days, args.seed)
    wall = time.perf_counter() - start

    agent_days = args.residents * args.days
    print(f"residents={args.residents} days={args.days} seed={args.seed}")
    print(f"final day: listed={counts[-1, 0]} green={counts[-1, 1]}")
    print(f"wall time: {wall:.2f} s")
    print(f"agent-days per second: {agent_days / wall:,.0f}")


if __name__ == "__main__":
    main()
