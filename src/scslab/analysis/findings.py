"""The findings of the rights lint (`scslab.analysis.lint`): one Finding per rule read
against one principle, a LintReport of a scenario's findings (JSON-ready), and the tables
`scslab audit SCENARIO` prints of them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scslab.analysis.principles import PRINCIPLES, SEVERITIES


@dataclass(frozen=True)
class Finding:
    """One rule read against one principle."""

    code: str  # key of PRINCIPLES
    principle: str  # the article or safeguard
    severity: str  # prohibited, high or medium
    rule: str  # dotted key of the rule in the scenario, e.g. measures.debtors_no_flights
    file: str  # the scenario file
    line: int | None  # line of the key in the file (None: not written there, a default)
    why: str  # one sentence: what the rule does and why it meets the principle


@dataclass
class LintReport:
    """All findings of one scenario."""

    scenario: str
    file: str
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: str) -> int:
        """Number of findings of a severity."""
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def prohibited(self) -> bool:
        """True when any practice the law prohibits is found."""
        return self.count("prohibited") > 0

    def codes(self) -> set[str]:
        """The finding codes present."""
        return {f.code for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: scenario, file, counts by severity and code, findings."""
        by_code: dict[str, int] = {}
        for f in self.findings:
            by_code[f.code] = by_code.get(f.code, 0) + 1
        return {
            "scenario": self.scenario,
            "file": self.file,
            "counts": {s: self.count(s) for s in SEVERITIES},
            "by_code": by_code,
            "prohibited": self.prohibited,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)


# ------------------------------------------------------------------ terminal view
SEVERITY_STYLE = {"prohibited": "bold red", "high": "yellow", "medium": "cyan"}


def lint_table(report: LintReport) -> Any:
    """The findings as a rich Table: severity, principle, rule (key, file:line), why."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"Rights lint of the rules of {report.scenario} ({report.file})",
        title_justify="left",
        expand=True,
    )
    table.add_column("severity", no_wrap=True)
    table.add_column("principle", ratio=2, overflow="fold")
    table.add_column("rule", ratio=3, overflow="fold")
    table.add_column("why", ratio=6)
    previous = None
    for f in report.findings:
        if previous is not None and f.severity != previous:
            table.add_section()
        previous = f.severity
        name = Path(f.file).name
        where = f"{name}:{f.line}" if f.line else f"{name}: default, not written"
        table.add_row(
            Text(f.severity, style=SEVERITY_STYLE[f.severity]),
            f.principle,
            f"[bold]{f.rule}[/]\n[dim]{where}[/]",
            f.why,
        )
    return table


def principles_table(report: LintReport) -> Any:
    """What each principle found protects (a legend for lint_table)."""
    from rich.table import Table

    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    seen = dict.fromkeys(f.code for f in report.findings)
    for code in seen:
        table.add_row(PRINCIPLES[code][0], PRINCIPLES[code][1])
    return table


def lint_summary(report: LintReport) -> str:
    """One line: counts by severity, and the prohibited practices found (rich markup)."""
    counts = ", ".join(f"{report.count(s)} {s}" for s in SEVERITIES)
    codes: dict[str, int] = {}
    for f in report.findings:
        if f.severity == "prohibited":
            codes[PRINCIPLES[f.code][0]] = codes.get(PRINCIPLES[f.code][0], 0) + 1
    found = "; ".join(f"{k} ({v})" for k, v in codes.items())
    head = f"{report.scenario}: {len(report.findings)} findings ({counts})."
    if found:
        return f"{head} [bold red]Prohibited practices:[/] {found}."
    return f"{head} No prohibited practice found."
