"""The rights lint (one scenario that has each finding, one that does not), the CLI, and
harm measured in a run directory."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scslab.analysis.harm import gini, measure, without_monitoring
from scslab.analysis.lint import lint
from scslab.analysis.principles import PRINCIPLES, RESTRICTED_RIGHTS, SPECIAL_CATEGORY_CONTEXTS
from scslab.analysis.stats import katz_ratio, mean_ci
from scslab.cli import app
from scslab.rundir.results import load_run
from scslab.scenario.loader import load_scenario
from scslab.scenario.schema import Scenario
from tests.audit_helpers import scenario, tiny_run

runner = CliRunner()


def base() -> dict[str, Any]:
    """A scenario with no finding: a court list that only restricts loans, with notice,
    appeal and human review."""
    return {
        "name": "minimal",
        "departments": {
            "courts": {
                "context": "judicial",
                "records": {"judgment_default": {"points": -50, "rate_per_year": 0.01}},
            },
            "peoples_bank": {"context": "finance"},
            "civil_aviation": {"context": "travel"},
        },
        "lists": {
            "debtors": {
                "kind": "black",
                "context": "judicial",
                "trigger": {"records": ["judgment_default"]},
                "duration_days": 300,
            }
        },
        "measures": {
            "debtors_no_loans": {
                "list": "debtors",
                "department": "peoples_bank",
                "domains": ["loans"],
            }
        },
        "due_process": {"defaults": {"review": {"human": True}}},
    }


SCORING = {
    "base": 1000,
    "record_expiry_days": 1825,
    "grades": [{"name": "A", "min_score": 960}, {"name": "C", "min_score": 0}],
}


def _measure(domains: list[str], name: str = "extra") -> dict[str, Any]:
    return {name: {"list": "debtors", "department": "civil_aviation", "domains": domains}}


def _speech(d: dict[str, Any]) -> None:
    d["departments"]["cyberspace"] = {
        "context": "online_speech",
        "records": {
            "harmful_post": {"points": -10, "source": "posts", "probability_per_post": 1e-4}
        },
    }


def _loyalty(context: str) -> Any:
    """A change adding a bureau whose records are generated in `context`."""

    def change(d: dict[str, Any]) -> None:
        d["departments"]["bureau"] = {
            "context": context,
            "records": {"loyalty_record": {"points": -10, "rate_per_year": 0.01}},
        }

    return change


def _score_list(d: dict[str, Any], minor: bool = True) -> None:
    d["scoring"] = copy.deepcopy(SCORING)
    d["departments"]["traffic_police"] = {
        "context": "traffic",
        "records": {"ticket": {"points": -5 if minor else -50, "rate_per_year": 0.1}},
    }
    d["lists"]["low_credit"] = {
        "kind": "black",
        "context": "general",
        "trigger": {"grade_at_most": "C"},
    }
    d["measures"]["low_no_loans"] = {
        "list": "low_credit",
        "department": "peoples_bank",
        "domains": ["loans"],
    }


def with_(change: Any) -> dict[str, Any]:
    d = base()
    change(d)
    return d


HAS: dict[str, Any] = {
    "unrelated_context": lambda d: d["measures"].update(_measure(["public_jobs"])),
    "disproportionate": lambda d: d["lists"]["debtors"].update(duration_days=800),
    "special_category": _speech,
    "automated_decision": lambda d: d["due_process"]["defaults"]["review"].update(human=False),
    "movement": lambda d: d["measures"].update(_measure(["flights"])),
    "expression": lambda d: d["measures"].update(_measure(["online_accounts"])),
    "religion": _loyalty("religion"),
    "assembly": _loyalty("assembly"),
    "association": _loyalty("assembly"),
    "participation": _loyalty("petitioning"),
    "fair_hearing": lambda d: d["due_process"]["defaults"].update(notice=None),
    "collective_punishment": lambda d: d["measures"].update(_measure(["private_schools"])),
    "missing_notice": lambda d: d["due_process"]["defaults"].update(notice={"share": 0.5}),
    "missing_appeal": lambda d: d["due_process"]["defaults"].update(appeal=None),
    "missing_expiry": lambda d: (
        d.update(scoring=copy.deepcopy(SCORING)),
        d["due_process"]["defaults"].update(expiry_days="never"),
    ),
}


def test_the_base_scenario_has_no_finding() -> None:
    report = lint(scenario(base()))
    assert report.findings == []
    assert not report.prohibited


@pytest.mark.parametrize("code", sorted(HAS))
def test_each_finding_type(code: str) -> None:
    report = lint(scenario(with_(HAS[code])))
    assert code in report.codes(), [f.why for f in report.findings]
    assert code not in lint(scenario(base())).codes()
    f = next(f for f in report.findings if f.code == code)
    assert f.principle == PRINCIPLES[code][0] and f.why and f.rule


def test_every_code_is_tested() -> None:
    assert set(HAS) == set(PRINCIPLES)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: _score_list(d, minor=True), "lists.low_credit.trigger"),
        (
            lambda d: d["measures"].update(
                _measure(["flights", "public_jobs", "hotels_tourism", "education"])
            ),
            "lists.debtors",
        ),
    ],
)
def test_disproportion_by_minor_records_and_by_breadth(change: Any, rule: str) -> None:
    report = lint(scenario(with_(change)))
    assert rule in {f.rule for f in report.findings if f.code == "disproportionate"}


def test_score_list_of_serious_records_only_is_not_minor() -> None:
    report = lint(scenario(with_(lambda d: _score_list(d, minor=False))))
    assert "lists.low_credit.trigger" not in {f.rule for f in report.findings}


def test_expiry_inherits_the_scoring_section() -> None:
    d = with_(lambda d: d.update(scoring={**SCORING, "record_expiry_days": None}))
    rules = {f.rule for f in lint(scenario(d)).findings if f.code == "missing_expiry"}
    assert rules == {"scoring.record_expiry_days"}
    d["scoring"]["record_expiry_days"] = 365
    assert "missing_expiry" not in lint(scenario(d)).codes()
    d["due_process"]["kinds"] = {"judgment_default": {"expiry_days": "never"}}
    rules = {f.rule for f in lint(scenario(d)).findings if f.code == "missing_expiry"}
    assert rules == {"due_process.kinds.judgment_default.expiry_days"}


def test_association_penalty_is_collective_punishment() -> None:
    d = with_(lambda d: d.update(scoring={**SCORING, "association_penalty": 0.1}))
    rules = {f.rule for f in lint(scenario(d)).findings if f.code == "collective_punishment"}
    assert rules == {"scoring.association_penalty"}


def test_related_context_is_not_flagged_and_unrelated_is_computed() -> None:
    d = with_(lambda d: d["measures"].update(_measure(["business_registration"])))
    assert "unrelated_context" not in lint(scenario(d)).codes()  # judicial -> commerce
    d["departments"]["courts"]["records"]["judgment_default"]["context"] = "traffic"
    assert "unrelated_context" in lint(scenario(d)).codes()  # the kind's own context counts


@pytest.mark.parametrize(
    ("domain", "code"),
    [("petitions", "participation"), ("gatherings", "assembly"), ("worship", "religion")],
)
def test_a_measure_blocking_petitions_gatherings_or_worship_restricts_a_freedom(
    domain: str, code: str
) -> None:
    report = lint(scenario(with_(lambda d: d["measures"].update(_measure([domain])))))
    assert "measures.extra" in {f.rule for f in report.findings if f.code == code}


# ---------------------------------------------------------------- built-ins and the CLI


def test_beijing_2018_strict_exits_non_zero_and_names_each_practice() -> None:
    result = runner.invoke(app, ["audit", "beijing-2018", "--strict", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    codes = set(doc["by_code"])
    assert codes >= {
        "unrelated_context",
        "disproportionate",
        "special_category",
        "automated_decision",
        "movement",
        "expression",
        "fair_hearing",
        "collective_punishment",
        "missing_notice",
        "missing_appeal",
    }
    text = runner.invoke(app, ["audit", "beijing-2018"])
    assert text.exit_code == 0  # without --strict
    flat = " ".join(text.stdout.split())
    for principle in ("5(1)(c)(i)", "5(1)(c)(ii)", "GDPR Art. 9", "Collective punishment"):
        assert principle in flat


def test_safeguards_finds_fewer() -> None:
    full = lint("beijing-2018")
    safe = lint("beijing-2018-safeguards")
    assert len(safe.findings) < len(full.findings)
    assert safe.count("prohibited") < full.count("prohibited")
    gone = {"special_category", "automated_decision", "fair_hearing", "expression"}
    gone |= {"missing_notice", "missing_appeal"}
    assert not gone & safe.codes()
    assert "scoring.association_penalty" not in {f.rule for f in safe.findings}


def test_findings_name_file_line_and_key() -> None:
    report = lint("beijing-2018")
    lines = Path(report.file).read_text("utf-8").splitlines()
    for f in report.findings:
        assert Path(f.file).name == "beijing-2018.yaml"
        assert f.line is not None
        assert (
            f.rule.split(".")[-1] in lines[f.line - 1] or f.rule.split(".")[1] in lines[f.line - 1]
        )


LOYALTY_RECORDS = {
    "letters_and_visits": ("petition_outside_channels", "political opinions"),
    "public_security": ("unapproved_gathering", "political opinions"),
    "religious_affairs": ("unregistered_worship", "religious beliefs"),
    "cyberspace": ("spreading_rumours", "political opinions"),
}


@pytest.mark.parametrize("department", sorted(LOYALTY_RECORDS))
def test_loyalty_records_are_found_for_what_they_reveal_and_restrict(department: str) -> None:
    """Each loyalty record of beijing-2018-loyalty is special-category processing (GDPR
    Art. 9(1): what it reveals) and restricts the freedoms of its context (ICCPR), each
    finding naming the file and line that writes the record."""
    kind, reveals = LOYALTY_RECORDS[department]
    report = lint("beijing-2018-loyalty")
    rule = f"departments.{department}.records.{kind}"
    found = [f for f in report.findings if f.rule == rule]
    context = load_scenario("beijing-2018-loyalty").kind_context(kind)
    assert SPECIAL_CATEGORY_CONTEXTS[context] == reveals
    special = [f for f in found if f.code == "special_category"]
    assert len(special) == 1 and reveals in special[0].why
    assert special[0].severity == "prohibited"
    assert {f.code for f in found} == {"special_category", *RESTRICTED_RIGHTS[context]}
    for f in found:
        assert Path(f.file).name == "beijing-2018-loyalty.yaml"
        assert f.line is not None
        assert f"{kind}:" in Path(f.file).read_text("utf-8").splitlines()[f.line - 1]


def test_findings_of_an_extending_scenario_name_the_file_that_writes_the_key() -> None:
    report = lint("beijing-2018-loyalty")
    assert Path(report.file).name == "beijing-2018-loyalty.yaml"
    files = {Path(f.file).name for f in report.findings}
    assert files == {"beijing-2018-loyalty.yaml", "beijing-2018.yaml"}
    for f in report.findings:
        assert f.line is not None
        line = Path(f.file).read_text("utf-8").splitlines()[f.line - 1]
        assert f.rule.split(".")[-1] in line or f.rule.split(".")[1] in line
    by_rule = {f.rule: Path(f.file).name for f in report.findings}
    assert by_rule["measures.debtors_no_flights"] == "beijing-2018.yaml"  # inherited
    assert by_rule["measures.petitioners_no_rail"] == "beijing-2018-loyalty.yaml"
    assert report.codes() >= {"religion", "assembly", "association", "participation"}
    assert len(report.findings) > len(lint("beijing-2018").findings)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndepartments: {a: {context: nowhere}}\n")
    for target in ("no-such-scenario", str(bad), str(tmp_path / "missing.yaml")):
        result = runner.invoke(app, ["audit", target])
        assert result.exit_code == 2
        assert result.stderr.strip().startswith("error:")
        assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["audit", str(tmp_path)])  # a directory, not a run
    assert result.exit_code == 2 and "not a scslab run directory" in result.stderr


# ---------------------------------------------------------------- harm in a run


def test_statistics() -> None:
    rr = katz_ratio(20, 100, 10, 100)
    assert rr["ratio"] == pytest.approx(2.0) and rr["lo"] < 2.0 < rr["hi"]
    assert katz_ratio(1, 10, 0, 10)["ratio"] is None
    assert gini([1, 1, 1]) == 0.0
    assert gini([0, 0, 3]) == pytest.approx(2 / 3)
    c = mean_ci([1.0, 2.0, 3.0])
    assert c["mean"] == 2.0 and c["lo"] < 1.0 and c["hi"] > 3.0
    assert mean_ci([1.0])["lo"] is None


def test_run_audit_writes_audit_json() -> None:
    run = tiny_run("beijing-2018")
    result = runner.invoke(app, ["audit", str(run), "--strict"])
    assert result.exit_code == 1, result.stderr  # the scenario has prohibited practices
    doc = json.loads((run / "audit.json").read_text())
    assert doc["lint"]["prohibited"]
    harm = doc["harm"]
    for key in (
        "wrongful",
        "time_to_clear",
        "appeals",
        "disparate_impact",
        "green_channel",
        "chilling",
        "feedback",
    ):
        assert key in harm
    assert harm["wrongful"]["residents"] == 5000
    assert {r["group"] for r in harm["appeals"]["hukou"]} == {"local", "migrant"}
    assert len(harm["disparate_impact"]["listing_by_district"]) == 16
    assert doc["headline"]["wrongfully sanctioned per 100k"] is not None


def test_chilling_against_a_counterfactual_run_on_demand() -> None:
    run = tiny_run("beijing-2018", seed=2)
    m = measure(run)
    assert not m["chilling"]["measured"] and "counterfactual" in m["chilling"]["why"]
    m = measure(run, run_missing=True)
    assert m["chilling"]["measured"]
    sibling = Path(m["chilling"]["counterfactual"])
    assert sibling.name.endswith(".no-monitoring") and sibling.parent == run.parent
    assert measure(run)["chilling"]["counterfactual"] == str(sibling)  # found next time
    assert m["chilling"]["city"][0]["reduction"] >= 0.0


def test_no_monitoring_means_no_chilling_to_measure() -> None:
    m = measure(tiny_run("beijing-2018-safeguards"))
    assert m["chilling"]["measured"] and m["chilling"]["city"][0]["reduction"] == 0.0


def petitions(chilling: float, coverage: float = 1.0) -> Scenario:
    """Adults who petition monthly; half their petitions are recorded (-100 points) by a
    letters-and-visits bureau that sees a share `coverage` of them; chilling_self
    `chilling` with a year's half-life. No lists or scores: nobody is drawn one by one."""
    return scenario(
        {
            "name": f"petitions-{chilling}-{coverage}",
            "departments": {
                "letters_and_visits": {
                    "context": "petitioning",
                    "coverage": coverage,
                    "records": {
                        "petition_outside_channels": {
                            "source": "activity",
                            "activity": "petition",
                            "probability_per_attempt": 0.5,
                            "points": -100,
                        }
                    },
                }
            },
            "activities": {
                "petition": {"domain": "petitions", "rate_per_year": 12.0, "eligible": "adults"}
            },
            "behaviour": {"chilling_self": chilling, "chilling_half_life_days": 365.0},
        }
    )


def _petition_reduction(m: dict[str, Any]) -> float:
    chilling = m["chilling"]
    assert chilling["measured"]
    row = chilling["activities"]["petition"]
    assert row["domain"] == "petitions" and row["metric"] == "attempts:petitions"
    reduction: float = row["city"][0]["reduction"]
    return reduction


def test_chilling_of_a_loyalty_activity_against_the_run_without_monitoring() -> None:
    """Records drawn from petitions chill petitioning: attempts fall against the same run
    without the bureau's monitoring; the records are the recorded share of attempts."""
    run = tiny_run(petitions(chilling=0.9))
    m = measure(run, run_missing=True)
    assert m["chilling"]["counterfactual"].endswith(".no-monitoring")
    assert _petition_reduction(m) > 0.1
    assert {r["group"] for r in m["chilling"]["activities"]["petition"]["hukou"]} == {
        "local",
        "migrant",
    }
    records = load_run(run).tables["records"]
    attempts = float(load_run(run).to_frame()["attempts:petitions"].sum())
    assert len(records) > 1000
    assert abs(len(records) / attempts - 0.5) < 0.05  # one day's attempts are recorded after
    assert "petition (attempts at petitions) is" in " ".join(
        runner.invoke(app, ["audit", str(run)]).stdout.split()
    )


def test_no_chilling_of_a_loyalty_activity_without_monitoring() -> None:
    """Zero without monitoring: a bureau that sees nothing monitors nothing (the run is
    its own counterfactual); and monitoring without chilling leaves the attempts exactly
    as in the run without it."""
    sc = petitions(chilling=0.9, coverage=0.0)
    assert without_monitoring(sc) is None
    m = measure(tiny_run(sc))
    assert m["chilling"]["counterfactual"] is None and _petition_reduction(m) == 0.0
    unchilled = tiny_run(petitions(chilling=0.0))
    assert _petition_reduction(measure(unchilled, run_missing=True)) == 0.0


def test_the_lint_reads_the_rules_a_timeline_makes() -> None:
    """An association penalty switched on by the timeline of the safeguards variant (which
    has none) is found, and the finding says from when."""
    from scslab.analysis.lint import lint
    from scslab.scenario.loader import load_scenario

    sc = load_scenario("beijing-2018-safeguards")
    before = {(f.code, f.rule) for f in lint(sc).findings}
    later = sc.with_changes(
        {"timeline": [{"date": "2019-06-01", "set": {"scoring.association_penalty": 0.5}}]}
    )
    found = [f for f in lint(later).findings if (f.code, f.rule) not in before]
    assert [f.rule for f in found] == ["scoring.association_penalty"]
    assert all("from 2019-06-01, by the timeline" in f.why for f in found)


def test_the_counterfactual_keeps_monitoring_off_through_the_timeline() -> None:
    """Monitoring that only the timeline switches on counts as monitoring, and the run
    without monitoring keeps it off on those days too."""
    from scslab.analysis.harm import monitoring_departments, without_monitoring
    from scslab.scenario.loader import load_scenario

    sc = load_scenario("beijing-2018").with_changes(
        {
            "departments.cyberspace.coverage": 0.0,
            "timeline": [
                {
                    "date": "2019-06-01",
                    "set": {
                        "departments.cyberspace.coverage": 0.9,
                        "departments.courts.coverage": 0.5,
                    },
                }
            ],
        }
    )
    assert "cyberspace" in monitoring_departments(sc)
    cf = without_monitoring(sc)
    assert cf is not None
    assert cf.timeline_by_day() == [(335, {"departments.courts.coverage": 0.5})]
    assert cf.departments["cyberspace"].coverage == 0.0
