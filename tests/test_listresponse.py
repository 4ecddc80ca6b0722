"""Listed subjects' response to their lists (Measure.attempt_multiplier, learning,
avoidance): fewer attempts, fewer blocked, the rest counted in avoided:<domain>."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from scslab import Simulation
from scslab.model.departments import RecordKinds
from scslab.model.lists import ListRules
from scslab.model.measures import ListResponse
from scslab.model.scoring import ScoreRules
from scslab.scenario.loader import parse_scenario
from scslab.scenario.sections import DOMAINS
from scslab.streams import stream_key
from tests.audit_helpers import builtin_dict


def _data(**response: object) -> dict:
    """beijing-2018 with flights frequent enough that listed residents try them often,
    and `response` on every measure."""
    data = builtin_dict()  # every resident enrolled
    data["activities"]["fly"]["rate_per_year"] = 1000.0
    for m in data["measures"].values():
        m.update(response)
    return data


def _run(data: dict) -> pd.Series:
    scenario = parse_scenario(yaml.safe_dump(data))
    return (
        Simulation(scenario, seed=5, residents=6000, days=60, agents=False).run().to_frame().sum()
    )


@pytest.fixture(scope="module")
def base() -> pd.Series:
    return _run(_data())


def test_default_changes_nothing(base: pd.Series) -> None:
    same = _run(_data(attempt_multiplier=1.0, avoidance=0.7))
    pd.testing.assert_series_equal(base, same)
    assert not any(k.startswith("avoided:") for k in base.index)


def test_multiplier_lowers_attempts_and_blocks(base: pd.Series) -> None:
    less = _run(_data(attempt_multiplier=0.2))
    assert base["blocked:flights"] >= 20
    assert less["blocked:flights"] < 0.5 * base["blocked:flights"]
    assert less["avoided:flights"] > 0.5 * base["blocked:flights"]
    # given up, not replaced: the attempts avoided are missing from the attempts
    assert less["attempts:flights"] < base["attempts:flights"]
    assert less["attempts:flights"] + less["avoided:flights"] == pytest.approx(
        base["attempts:flights"], rel=0.05
    )


def test_avoidance_replaces_attempts(base: pd.Series) -> None:
    replaced = _run(_data(attempt_multiplier=0.0, avoidance=1.0))
    assert replaced["blocked:flights"] == 0
    assert replaced["avoided:flights"] >= 20
    assert replaced["attempts:flights"] == pytest.approx(base["attempts:flights"], rel=0.05)


def _response(**fields: object) -> ListResponse:
    data = _data(**fields)
    sc = parse_scenario(yaml.safe_dump(data))
    score = ScoreRules.compile(sc.scoring) if sc.scoring else None
    lists = ListRules.compile(sc, "resident", RecordKinds.compile(sc).names, score)
    response = ListResponse.compile(sc, "resident", lists)
    assert response is not None
    return response


def test_learning_decays_toward_the_floor() -> None:
    r = _response(
        attempt_multiplier=0.8, attempt_multiplier_floor=0.2, learning_half_life_days=30.0
    )
    d = DOMAINS.index("flights")
    b = int(np.flatnonzero(r.multiplier[d] < 1)[0])
    n = 200_000
    mask = np.full(n, 1 << b, np.uint8)
    since = np.zeros((8, n), np.int16)
    key = stream_key(1, "listresponse.test")
    made_at = {}
    for day in (0, 30, 3000):
        made, avoided, replaced = r.respond(d, np.arange(n), mask, since, day, key)
        assert len(made) + len(avoided) == n and len(replaced) == 0
        made_at[day] = len(made) / n
    assert made_at[0] == pytest.approx(0.8, abs=0.01)
    assert made_at[30] == pytest.approx(0.5, abs=0.01)
    assert made_at[3000] == pytest.approx(0.2, abs=0.01)
    unlisted = np.zeros(n, np.uint8)
    made, avoided, _ = r.respond(d, np.arange(n), unlisted, since, 30, key)
    assert len(made) == n and len(avoided) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"attempt_multiplier": 1.5},
        {"avoidance": -0.1},
        {"attempt_multiplier_floor": 0.2},
        {
            "attempt_multiplier": 0.3,
            "attempt_multiplier_floor": 0.5,
            "learning_half_life_days": 9.0,
        },
    ],
)
def test_bounds(fields: dict) -> None:
    with pytest.raises(Exception, match=r"attempt_multiplier|avoidance|floor"):
        parse_scenario(yaml.safe_dump(_data(**fields)))


def test_avoided_attempts_are_replaced_at_the_avoidance_rate() -> None:
    r = _response(attempt_multiplier=0.5, avoidance=0.4)
    d = DOMAINS.index("flights")
    b = int(np.flatnonzero(r.multiplier[d] < 1)[0])
    n = 200_000
    mask = np.full(n, 1 << b, np.uint8)
    empty = np.zeros((0, 0), np.int16)  # (no learning: the day of listing is not read)
    made, avoided, replaced = r.respond(d, np.arange(n), mask, empty, 7, stream_key(2, "x"))
    assert len(avoided) / n == pytest.approx(0.5, abs=0.01)
    assert len(replaced) / len(avoided) == pytest.approx(0.4, abs=0.01)
    assert np.isin(replaced, avoided).all() and not np.isin(made, avoided).any()
    again = r.respond(d, np.arange(n), mask, empty, 7, stream_key(2, "x"))[0]
    other_day = r.respond(d, np.arange(n), mask, empty, 8, stream_key(2, "x"))[0]
    assert np.array_equal(made, again) and not np.array_equal(made, other_day)
