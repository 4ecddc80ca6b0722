"""The command line: a tiny run end to end, listing, showing, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scslab.cli import app
from scslab.scenario.loader import builtin_text

runner = CliRunner()


def test_run_tiny(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--residents", "3000", "--days", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "blocked attempts: flights" in result.output
    assert "on dishonest_judgment_debtors" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["residents"] == 3000 and manifest["days"] == 20
    assert (out / "metrics.parquet").is_file()
    quiet = runner.invoke(
        app, ["run", "--residents", "500", "--days", "2", "-q", "--out", str(tmp_path / "q")]
    )
    assert quiet.exit_code == 0 and quiet.output.strip() == str(tmp_path / "q")


def test_a_run_before_compiled_days_are_compiled_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto takes the general loop until compiled days are compiled, and the summary
    says how to compile them; `scslab compile` compiles them."""
    from scslab import kernelcache
    from scslab.engine import simulation

    monkeypatch.setattr(simulation, "compiled_days_ready", lambda: False)
    monkeypatch.setattr(kernelcache, "has_cached_kernels", lambda: False)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--residents", "500", "--days", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "compiling kernels first" in result.output  # (no progress bar here to say so)
    assert "general engine" in result.output and "`scslab compile`" in result.output
    assert json.loads((out / "manifest.json").read_text())["engine"] == "general"
    result = runner.invoke(app, ["compile", "rongcheng"])
    assert result.exit_code == 0, result.output
    assert "rongcheng: the kernels of compiled days are compiled" in result.output
    missing = runner.invoke(app, ["compile", "nowhere.yaml"])
    assert missing.exit_code == 2 and "nowhere.yaml" in missing.output


def test_scenarios_and_show(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenarios"])
    assert (
        result.exit_code == 0 and "beijing-2018" in result.output and "rongcheng" in result.output
    )
    result = runner.invoke(app, ["show", "rongcheng"])
    assert result.exit_code == 0
    assert result.output == builtin_text("rongcheng")
    saved = tmp_path / "mine.yaml"
    saved.write_text(result.output)
    assert runner.invoke(app, ["validate", str(saved)]).exit_code == 0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "scslab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def write_bad(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(builtin_text("beijing-2018"))
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["departments"]["courts"].update(coverage=1.5),
            "bad.yaml: departments.courts.coverage: Input should be less than or equal to 1",
        ),
        (lambda d: d.update(colour="red"), "bad.yaml: colour: unknown key"),
        (
            lambda d: d["measures"]["rail_ban"].update(department="nobody"),
            "bad.yaml: measures.rail_ban.department: unknown department 'nobody'",
        ),
    ],
)
def test_bad_scenario_one_line_exit_2(tmp_path: Path, edit, expected: str) -> None:
    bad = write_bad(tmp_path, edit)
    proc = run_cli("run", str(bad), "--residents", "500", "--days", "2", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scale", "0"], "error: --scale: must be > 0"),
        (["--scale", "-1"], "error: --scale: must be > 0"),
        (["--residents", "100000000000"], "GiB of memory"),
        (["missing.yaml"], "missing.yaml: file not found"),
        (["atlantis"], "no scenario file or built-in"),
        (["--scale", "0.01", "--residents", "500"], "give one of them, not both"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], expected: str) -> None:
    proc = run_cli("run", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert expected in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_the_click_errors_caught_exist_in_every_click_typer_carries() -> None:
    """main() catches these by name from click and typer's own copy, which may lack some
    (typer 0.29's has no Abort): a missing one must not turn an error into a crash."""
    from scslab.cli import _click_errors

    for name in ("NoArgsIsHelpError", "UsageError", "Abort"):
        found = _click_errors(name)
        assert found and all(issubclass(c, BaseException) for c in found)


def test_a_run_whose_daily_metrics_do_not_fit_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Ten years of daily metrics take memory whatever the city's size: with less
    available than they need, the run is refused on --days (one line, exit 2) and its
    directory is not written."""
    import scslab.engine.simulation as simulation

    monkeypatch.setattr(simulation, "available_bytes", lambda: 100 * 2**20)  # 100 MiB
    out = tmp_path / "long"
    args = ["run", "--residents", "500", "--days", "3650", "--out", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--days: 3,650 days of daily metrics" in lines[0], lines
    assert "GiB of memory" in lines[0] and not out.exists()
    monkeypatch.setattr(simulation, "available_bytes", lambda: 64 * 2**30)
    assert (
        runner.invoke(
            app, ["run", "--residents", "500", "--days", "3", "--out", str(out), "-q"]
        ).exit_code
        == 0
    )
