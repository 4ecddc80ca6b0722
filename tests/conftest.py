"""Shared fixtures: small runs reused across test modules (session-scoped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scslab import Results, Simulation

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """beijing-2018 on 8,000 residents for 90 days, written to a run directory."""
    out = tmp_path_factory.mktemp("runs") / "small"
    return Simulation("beijing-2018", seed=3, residents=8000, days=90).run(out=out)


@pytest.fixture(scope="session")
def small_sim(small_run: Results) -> Simulation:
    """A simulation of the same size kept in memory after running (for state checks)."""
    sim = Simulation("beijing-2018", seed=3, residents=8000, days=90)
    sim.run()
    return sim
