"""The fast engine against the slow plain-Python reference (tests/reference_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from scslab import Simulation
from scslab.scenario.loader import parse_scenario
from tests.audit_helpers import builtin_dict

from .conftest import BENCHMARKS
from .reference_model import reference_residents


def stressed_beijing():
    """beijing-2018 with drift, a strong association penalty, short lists, extensions."""
    data = builtin_dict()  # every resident enrolled
    data["due_process"] = None  # the reference replays records; it has no appeals
    data["scoring"]["drift_per_day"] = 0.01
    data["scoring"]["association_penalty"] = 2.0
    data["scoring"]["record_expiry_days"] = 20
    data["lists"]["railway_misconduct"].update(
        duration_days=10, extension_days=5, extension_probability=0.5
    )
    data["lists"]["dishonest_judgment_debtors"]["compliance_per_year"] = 20.0
    for dep in data["departments"].values():
        for kind in dep.get("records", {}).values():
            if "rate_per_year" in kind:
                kind["rate_per_year"] *= 20  # many events on a small city
        if "error_rate" in dep:
            dep["error_rate"] = 0.2
    return parse_scenario(yaml.safe_dump(data), "stressed")


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(stressed_beijing, id="beijing-stressed"),
        pytest.param(lambda: BENCHMARKS / "scs-ref-1.yaml", id="scs-ref-1"),
    ],
)
def test_engine_matches_reference(scenario) -> None:
    sim = Simulation(scenario(), seed=5, residents=1500, days=40)
    results = sim.run()
    ref = reference_residents(sim)
    city = results.to_frame()
    engine_daily = np.stack(
        [city[f"listed:{name}"].to_numpy() for name in sim.state.res.lists.names], axis=1
    )
    assert engine_daily.sum() > 0, "the scenario must list someone for the test to mean much"
    assert (engine_daily == ref["daily_listed"]).all()
    assert (sim.state.res.list_state.mask == ref["mask"]).all()
    assert (sim.state.res.list_state.wrongful == ref["wrongful"]).all()
    assert np.array_equal(sim.state.res.score, ref["score"])
    assert (sim.state.listed_contacts == ref["listed_contacts"]).all()
