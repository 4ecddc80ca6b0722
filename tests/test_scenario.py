"""Scenario schema: built-ins load, and every kind of bad input names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scslab.scenario.loader import builtin_names, builtin_text, load_scenario, parse_scenario
from scslab.scenario.safeyaml import ScenarioError


def test_builtins_load_and_round_trip() -> None:
    names = builtin_names()
    assert {"beijing-2018", "rongcheng"} <= set(names)
    for name in names:
        sc = load_scenario(name)
        again = parse_scenario(sc.to_yaml(), "roundtrip")
        assert again == sc
        assert again.digest() == sc.digest()


def test_builtin_values_carry_source_or_assumption() -> None:
    """Every numeric leaf line in a built-in has a comment (source+grade or ASSUMED)."""
    for name in builtin_names():
        lines = builtin_text(name).splitlines()
        undocumented = []
        for i, line in enumerate(lines):
            body = line.split("#")[0]
            if ":" not in body or body.strip().startswith("-"):
                continue
            value = body.split(":", 1)[1].strip()
            try:
                float(value)
            except ValueError:
                continue
            # a comment on this line or, for grouped values, on a line of the same block
            block = lines[max(0, i - 6) : i + 1]
            if not any("#" in b for b in block):
                undocumented.append(f"{name}:{i + 1}: {line.strip()}")
        assert not undocumented, undocumented


def base() -> dict:
    return yaml.safe_load(builtin_text("beijing-2018"))


def error_of(data: dict) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(yaml.safe_dump(data), "bad.yaml")
    return info.value


def test_unknown_key() -> None:
    data = base()
    data["departments"]["courts"]["coverag"] = 0.5
    err = error_of(data)
    assert err.key == "departments.courts.coverag"
    assert "unknown key" in err.message
    assert str(err).startswith("bad.yaml: departments.courts.coverag:")


def test_wrong_type() -> None:
    data = base()
    data["days"] = "a year"
    err = error_of(data)
    assert err.key == "days" and "integer" in err.message


def test_negative_rate() -> None:
    data = base()
    data["activities"]["fly"]["rate_per_year"] = -1
    err = error_of(data)
    assert err.key == "activities.fly.rate_per_year"
    assert "greater than or equal to 0" in err.message and "-1" in err.message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(value: float) -> None:
    data = base()
    data["lists"]["low_credit"]["trigger"] = {"score_below": value}
    err = error_of(data)
    assert err.key == "lists.low_credit.trigger.score_below" and "finite" in err.message
    data = base()
    data["scoring"]["max_score"] = value
    assert error_of(data).key == "scoring.max_score"


def test_probability_above_one() -> None:
    data = base()
    data["departments"]["courts"]["error_rate"] = 1.5
    err = error_of(data)
    assert err.key == "departments.courts.error_rate" and "less than or equal to 1" in err.message


def test_flag_probabilities_sum_to_at_most_one() -> None:
    data = base()
    records = data["departments"]["cyberspace"]["records"]
    records["harmful_post"]["probability_per_post"] = 0.7
    records["rumour"] = {"source": "posts", "points": -5, "probability_per_post": 0.4}
    err = error_of(data)
    assert err.key == "departments.cyberspace.records.rumour.probability_per_post"
    assert "at most 1" in err.message


def _from_activity(activity: str | None, p: float = 0.3) -> dict:
    data = base()
    data["departments"]["letters_and_visits"] = {
        "context": "petitioning",
        "records": {
            "petition_outside_channels": {
                "source": "activity",
                "activity": activity,
                "points": -50,
                "probability_per_attempt": p,
            },
        },
    }
    data["activities"]["petition"] = {"domain": "petitions", "rate_per_year": 0.01}
    return data


def test_records_from_an_activity_name_a_residents_activity() -> None:
    records = "departments.letters_and_visits.records.petition_outside_channels"
    sc = parse_scenario(yaml.safe_dump(_from_activity("petition")), "ok.yaml")
    assert sc.flag_kinds_of("petition") == [("letters_and_visits", records.split(".")[-1], 0.3)]
    assert f"{records}.probability_per_attempt" in sc.peak_rates()
    err = error_of(_from_activity(None))
    assert err.key == f"{records}.activity" and "source" in err.message
    err = error_of(_from_activity("firm_loan"))  # an enterprises' activity
    assert err.key == f"{records}.activity" and "petition" in err.message
    data = _from_activity("petition", p=0.7)
    data["departments"]["letters_and_visits"]["records"]["second"] = {
        "source": "activity",
        "activity": "petition",
        "points": -5,
        "probability_per_attempt": 0.4,
    }
    err = error_of(data)
    assert err.key == "departments.letters_and_visits.records.second.probability_per_attempt"
    assert "at most 1" in err.message


def test_grades_out_of_order() -> None:
    data = base()
    data["scoring"]["grades"][0]["min_score"] = 900
    err = error_of(data)
    assert err.key == "scoring.grades" and "out of order" in err.message


def test_measure_unknown_list_and_department() -> None:
    data = base()
    data["measures"]["debtors_no_flights"]["list"] = "nope"
    err = error_of(data)
    assert err.key == "measures.debtors_no_flights.list"
    assert "unknown list 'nope'" in err.message and "dishonest_judgment_debtors" in err.message
    data = base()
    data["measures"]["debtors_no_flights"]["department"] = "ministry_of_truth"
    err = error_of(data)
    assert err.key == "measures.debtors_no_flights.department"


def test_list_trigger_unknown_record_kind() -> None:
    data = base()
    data["lists"]["railway_misconduct"]["trigger"]["records"] = ["jaywalking"]
    err = error_of(data)
    assert err.key == "lists.railway_misconduct.trigger.records"


def test_score_rule_needs_scoring() -> None:
    data = base()
    del data["scoring"]
    del data["rewards"]["high_grade_priority"]
    err = error_of(data)
    assert err.key.startswith("lists.") and "scoring" in err.message


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(ScenarioError, match="built-ins: "):
        load_scenario("atlantis")


def test_invalid_yaml(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("name: x\ndepartments: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_scenario(f)
