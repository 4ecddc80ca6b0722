"""Rate multipliers read from a scenario's values: by income decile and by deterrence.
They are part of the scenario layer because the scenario's own validation (the peak
rates that bound a day's draws) needs them, as the departments do."""

from __future__ import annotations

import numpy as np


def decile_multipliers(poorest_to_richest: float) -> np.ndarray:
    """Rate multiplier per income decile (0 = poorest), geometric, averaging to 1 (no unit)."""
    steps = (4.5 - np.arange(10)) / 9.0
    m = np.power(poorest_to_richest, steps)
    return m / m.mean()


def deterrence_factor(coverage: float, reference: float, elasticity: float) -> float:
    """Violation-rate multiplier: (coverage / reference) ** -elasticity (1 at the reference)."""
    if elasticity == 0.0 or coverage <= 0.0:
        return 1.0
    return float((coverage / reference) ** (-elasticity))
