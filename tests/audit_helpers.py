"""Tiny runs shared by the audit, due-process, explain and compare tests (made once per
test session, in a temporary directory)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from scslab import Simulation
from scslab.scenario.loader import builtin_text
from scslab.scenario.schema import Scenario

RESIDENTS, DAYS = 5000, 60
_ROOT = Path(tempfile.mkdtemp(prefix="scslab-audit-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)
_RUNS: dict[tuple[str, int, int, int], Path] = {}


ENROLLED = {"scoring.enrolled_share": 1.0, "timeline": []}
"""Changes to beijing-2018 for the plan once every resident is enrolled in the score (as
from 2020-01-01): what the tests of other mechanisms start from, so that a short run
scores everyone."""


def builtin_dict(name: str = "beijing-2018", enrolled: bool = True) -> dict[str, Any]:
    """A built-in scenario as a plain dict, to modify; with `enrolled`, every resident
    enrolled in the score from day 0 (ENROLLED: no enrolment timeline)."""
    data: dict[str, Any] = yaml.safe_load(builtin_text(name))
    if enrolled and data.get("scoring") and "timeline" in data:
        data["scoring"]["enrolled_share"] = 1.0
        data["timeline"] = [
            e for e in data["timeline"] if "scoring.enrolled_share" not in e.get("ramp", {})
        ]
    return data


def enrolled(name: str = "beijing-2018") -> Scenario:
    """A built-in scenario with every resident enrolled in the score from day 0."""
    return scenario(builtin_dict(name))


def scenario(data: dict[str, Any]) -> Scenario:
    """Validate a scenario dict."""
    return Scenario.model_validate(data)


def tiny_run(
    sc: str | Scenario, seed: int = 1, residents: int = RESIDENTS, days: int = DAYS
) -> Path:
    """The run directory of a scenario (a built-in name or a Scenario), made once."""
    obj = sc if isinstance(sc, Scenario) else enrolled(sc)
    key = (obj.digest(), seed, residents, days)
    if key not in _RUNS:
        out = _ROOT / f"{obj.name}-{obj.digest()[:8]}-r{residents}-d{days}-s{seed}"
        Simulation(obj, seed=seed, residents=residents, days=days).run(out=out)
        _RUNS[key] = out
    return _RUNS[key]


def error_prone(**due_process: Any) -> Scenario:
    """beijing-2018 with many wrong fare-evasion records (half of them about the wrong
    person, effective the same day), no association penalty, and the given due_process."""
    d = builtin_dict()
    d["name"] = "error-prone"
    d["departments"]["transport"].update(error_rate=0.5, coverage=1.0, delay_days=0)
    d["departments"]["transport"]["records"]["fare_evasion"]["rate_per_year"] = 0.5
    d["scoring"]["association_penalty"] = 0.0
    d["due_process"] = due_process or None
    return scenario(d)


ALWAYS_APPEAL = {
    "notice": {"share": 1.0, "delay_days": 0},
    "appeal": {
        "base_probability": 1.0,
        "window_days": 0,
        "erroneous_multiplier": 1.0,
        "education_multiplier": [1.0, 1.0, 1.0],
        "poorest_to_richest": 1.0,
    },
    "review": {"find_error": 1.0, "overturn_true": 0.0, "days_to_decide": 5, "human": True},
}
"""Due-process defaults under which every adverse record is appealed on the day it takes
effect and every erroneous one (only those) is corrected five days later."""
