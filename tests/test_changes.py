"""Changing a scenario without copying it: extends, --set and Scenario.with_changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scslab import load_scenario
from scslab.cli import app
from scslab.scenario.changes import parse_changes
from scslab.scenario.safeyaml import ScenarioError

runner = CliRunner()


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (
        result.output
    )
    return lines[0]


def test_a_file_that_extends_holds_only_what_differs(tmp_path: Path) -> None:
    (tmp_path / "strict.yaml").write_text(
        "extends: beijing-2018\nname: strict\ndepartments:\n  courts:\n    error_rate: 0.05\n"
    )
    (tmp_path / "stricter.yaml").write_text(
        "extends: strict.yaml   # relative to this file\nname: stricter\ndays: 90\n"
    )
    got = load_scenario(tmp_path / "stricter.yaml")
    want = load_scenario("beijing-2018").with_changes(
        {"name": "stricter", "days": 90, "departments.courts.error_rate": 0.05}
    )
    assert got == want and got.digest() == want.digest()
    assert got.departments["courts"].coverage == want.departments["courts"].coverage  # merged


@pytest.mark.parametrize(
    "text, says",
    [
        ("extends: nowhere\nname: x\n", "extends: no scenario file or built-in named 'nowhere'"),
        ("extends: [beijing-2018]\nname: x\n", "extends: a built-in scenario name"),
        ("extends: loop.yaml\nname: x\n", "extends itself (a loop)"),
        ("extends: beijing-2018\ndepartments:\n  courts:\n    error_rate: 2\n", "error_rate"),
    ],
)
def test_bad_extends_are_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "loop.yaml").write_text(text)
    with pytest.raises(ScenarioError, match=re.escape(says)):
        load_scenario(tmp_path / "loop.yaml")
    assert says in one_error_line(runner.invoke(app, ["validate", str(tmp_path / "loop.yaml")]))


def test_set_changes_a_key_on_the_command_line(tmp_path: Path) -> None:
    ok = runner.invoke(
        app, ["validate", "beijing-2018", "--set", "departments.courts.error_rate=0.05"]
    )
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "--residents",
            "800",
            "--days",
            "5",
            "-q",
            "--out",
            str(out),
            "--set",
            "departments.courts.error_rate=0.05",
            "--set",
            "outputs.scores=false",
        ],
    )
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["departments"]["courts"]["error_rate"] == 0.05
    assert written["outputs"]["scores"] is False


@pytest.mark.parametrize(
    "item, says",
    [
        ("departments.courts.error_rate=1.5", "--set: departments.courts.error_rate"),
        ("departments.nope.error_rate=0.1", "--set: departments.nope.error_rate"),
        ("days", "'days' is not KEY=VALUE"),
        ("days=[/bold]", "--set: days"),
        ("days=true", "--set: days"),
    ],
)
def test_bad_sets_are_one_line_errors_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, item: str, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["validate", "beijing-2018"], ["run", "--residents", "500", "--days", "3"]):
        line = one_error_line(runner.invoke(app, [*command, "--set", item]))
        assert says in line
    assert list(tmp_path.iterdir()) == []


def test_set_values_are_read_as_yaml() -> None:
    assert parse_changes(["a=0.5", "b=true", "c=[x, y]", "d=text", "e="]) == {
        "a": 0.5,
        "b": True,
        "c": ["x", "y"],
        "d": "text",
        "e": None,
    }


def test_the_scenario_reference_is_the_schema_and_is_current() -> None:
    """docs/scenario-reference.md is what `scslab schema` prints now (regenerate it with
    `scslab schema > docs/scenario-reference.md` after changing the schema)."""
    from scslab.presentation.schemadoc import scenario_reference

    text = scenario_reference()
    docs = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"
    assert docs.read_text() == text
    assert "| `departments.NAME.delay_days` | integer | >= 0; at most 3650 days" in text
    assert runner.invoke(app, ["schema"]).output == text


def test_a_mapping_given_as_a_value_is_merged_not_replaced() -> None:
    base = load_scenario("beijing-2018")
    changed = base.with_changes({"behaviour": {"deterrence_elasticity": 0.9}})
    assert changed.behaviour.deterrence_elasticity == 0.9
    assert changed.behaviour.chilling_self == base.behaviour.chilling_self  # kept
    assert changed.behaviour.default_risk_elasticity == base.behaviour.default_risk_elasticity
