"""The HTML report: every section and plot present, self-contained, CLI and audit hook."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

import scslab
from scslab import load_run
from scslab.cli import app
from scslab.presentation.report import build_report, expand_run_paths, load_for_report
from scslab.presentation.reportsections import SECTIONS
from tests.tiny_runs import tiny_runs

FIGURE_IDS = {
    "lists-residents",
    "lists-enterprises",
    "scores",
    "blocked",
    "records",
    "wrongful",
    "disparate-blacklisted",
    "disparate-blocked",
    "disparate-wrongful_blocked",
    "green-channel",
    "posting",
}


class Page(HTMLParser):
    """What a reader's browser would see: section ids, figures, inline SVGs, external links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.figures: list[str] = []
        self.svgs = 0
        self.external: list[str] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag == "figure":
            self.figures.append((a.get("id") or "").removeprefix("fig-"))
        elif tag == "svg":
            self.svgs += 1
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = a.get(name) or ""
            if value and not value.startswith(("#", "data:")):
                self.external.append(value)


@pytest.fixture(scope="module")
def report_text() -> str:
    runs = tiny_runs()
    return build_report([load_for_report(runs[k]) for k in ("seed1", "seed2", "noisy")])


def test_every_section_and_figure_is_present(report_text):
    page = Page(report_text)
    assert page.sections == [sid for sid, _ in SECTIONS]
    assert set(page.figures) == FIGURE_IDS
    assert page.svgs == len(FIGURE_IDS)
    assert "could not be drawn" not in report_text


def test_report_is_self_contained(report_text):
    page = Page(report_text)
    assert page.scripts == 0
    assert page.external == []
    assert "url(http" not in report_text
    assert "<image" not in report_text  # no raster fetched or embedded by reference


def test_report_shows_both_variants_and_their_difference(report_text):
    assert "beijing-2018-noisy" in report_text
    assert "Where the scenarios differ" in report_text
    assert "departments.courts.error_rate" in report_text
    assert "intervals across seeds are not available" in report_text
    assert "range across seeds" in report_text
    assert "migrant / local" in report_text


def test_runs_table_names_the_engine_of_each_run(report_text):
    runs = report_text[report_text.index('<section id="runs"') :]
    runs = runs[: runs.index("</section>")]
    assert ">engine<" in runs and runs.count(">compiled<") == 3  # beijing-2018: compiled days


@pytest.fixture(scope="module")
def single_text() -> str:
    return build_report(load_run(tiny_runs()["seed1"]))


def test_single_run_uses_wilson_and_resampled_residents(single_text):
    assert "Wilson" in single_text and "resampling residents" in single_text
    assert "Poisson" not in single_text
    assert "Where the scenarios differ" not in single_text
    assert Page(single_text).svgs == len(FIGURE_IDS)
    assert "No audit findings" in single_text


def test_audit_findings_from_audit_json(tmp_path):
    run = tmp_path / "audited"
    shutil.copytree(tiny_runs()["seed1"], run)
    findings = {
        "findings": [
            {
                "severity": "high",
                "rule": "ICCPR-19",
                "title": "Speech is scored",
                "detail": {"list": "internet_blacklist"},
            }
        ]
    }
    (run / "audit.json").write_text(json.dumps(findings), "utf-8")
    text = build_report(load_for_report(run))
    assert "Speech is scored" in text and "ICCPR-19" in text
    assert "internet_blacklist" in text
    assert "No audit findings" not in text


def test_report_command_side_by_side(tmp_path):
    runs = tiny_runs()
    out = tmp_path / "cmp.html"
    result = CliRunner().invoke(
        app, ["report", str(runs["seed1"]), str(runs["noisy"]), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = Page(out.read_text("utf-8"))
    assert page.svgs == len(FIGURE_IDS)


def test_a_folder_of_runs_expands_to_its_runs(tmp_path):
    runs = tiny_runs()
    assert expand_run_paths([runs["seed1"].parent]) == sorted(runs.values())
    assert expand_run_paths([runs["noisy"]]) == [runs["noisy"]]
    with pytest.raises(FileNotFoundError, match="not a scslab run directory"):
        expand_run_paths([tmp_path])


def test_report_command_rejects_a_non_run(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert "not a scslab run directory" in result.output
    assert not (tmp_path / "x.html").exists()


def test_run_with_report_writes_it_into_the_run_directory(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "--residents", "2000", "--days", "10", "--out", str(out), "-q", "--report"]
    )
    assert result.exit_code == 0, result.output
    assert Page((out / "report.html").read_text("utf-8")).svgs == len(FIGURE_IDS)
    assert not list(out.glob(".*partial"))


def test_results_report_needs_a_place_to_write():
    res = load_run(tiny_runs()["seed2"])
    res.path = None
    with pytest.raises(ValueError, match="out"):
        scslab.report(res)
