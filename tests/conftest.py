"""Shared fixtures: small runs reused across test modules (session-scoped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scslab import Results, Simulation
from scslab.engine import simulation

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def pytest_configure(config: pytest.Config) -> None:
    """No first run of a test, nor of a session's fixtures, starts a helper process to
    compile beside it (engine/compile_ahead.py), whatever the machine's kernel cache
    holds; the tests of the helper (tests/test_compile_ahead.py) undo this."""
    os.environ["SCSLAB_COMPILE_HELPER"] = "0"


@pytest.fixture(autouse=True)
def compiled_days_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """engine "auto" takes compiled days wherever the scenario allows them, whether or
    not this machine's kernel cache holds them yet (auto waits for them to be compiled:
    engine/simulation.py), so that what a test runs does not hang on the machine's
    cache. The tests of that wait undo this (tests/test_compiled.py, test_cli.py, and
    test_continue.py's continuation on the other loop); runs in subprocesses (the
    README's examples) take auto as the machine's cache has it."""
    monkeypatch.setattr(simulation, "compiled_days_ready", lambda: True)


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
