"""The rights lint: what the rules of a scenario are, read against human-rights law.

`lint(scenario)` reads a scenario's rules, without running them, and returns findings.
Each finding names the rule (file, line and key), the principle, its severity and why.
Contexts are computed, not written by hand: a record kind's context is its own `context`
or its department's, a list's data contexts are those of the records that feed it (for
a score-triggered list, every record kind with points for its subjects), and a measure's
context is that of the domain it restricts (DOMAIN_CONTEXT below). Whether two contexts
are "related" follows RELATED_CONTEXTS below: a documented, editable judgement.

Severities:

- `prohibited`: a practice the law forbids outright (EU AI Act Art. 5(1)(c) social
  scoring, GDPR Art. 9(1) special-category processing without an exception, collective
  punishment); `scslab audit --strict` exits 1 when any is found;
- `high`: an interference with a right without the safeguard that could justify it
  (GDPR Art. 22, ICCPR Arts. 12, 14, 19);
- `medium`: a missing or partial safeguard (notice, appeal, expiry).

The findings are a structured reading of the rules for auditors, not legal advice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scslab.scenario.loader import builtin_names, load_scenario
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import REPAIR_WINDOW_DAYS, Context, Domain, DueProcessRule

SEVERITIES = ("prohibited", "high", "medium")
"""Finding severities, most serious first."""

DOMAIN_CONTEXT: dict[Domain, Context] = {
    "flights": "transport",
    "high_speed_rail": "transport",
    "hotels_tourism": "travel",
    "loans": "finance",
    "business_registration": "commerce",
    "public_jobs": "employment",
    "public_services": "public_services",
    "private_schools": "education",
    "online_accounts": "online_speech",
    "medical": "medical",
    "education": "education",
}
"""The social context in which a measure restricting a domain applies."""

RELATED_CONTEXTS: dict[str, frozenset[str]] = {
    "judicial": frozenset({"judicial", "finance", "commerce", "tax"}),
    "finance": frozenset({"finance", "commerce", "judicial"}),
    "tax": frozenset({"tax", "finance", "commerce", "judicial"}),
    "commerce": frozenset({"commerce", "finance", "tax", "judicial"}),
    "employment": frozenset({"employment", "commerce"}),
    "transport": frozenset({"transport"}),
    "traffic": frozenset({"traffic", "transport"}),
    "utilities": frozenset({"utilities"}),
    "civic": frozenset({"civic"}),
    "online_speech": frozenset({"online_speech"}),
    "travel": frozenset({"travel", "transport"}),
    "education": frozenset({"education"}),
    "medical": frozenset({"medical"}),
    "public_services": frozenset({"public_services"}),
    "general": frozenset({"general"}),
}
"""For each context where data is generated, the contexts in which using it to treat a
person differently is related (EU AI Act Art. 5(1)(c)(i)). Civil judgments enforce
debts, so judicial, finance, tax and commerce data are related among themselves;
everything else is related only to itself (traffic also to transport, travel to
transport)."""

SPECIAL_CATEGORY_CONTEXTS: dict[str, str] = {"online_speech": "political opinions"}
"""Contexts whose records reveal a GDPR Art. 9(1) special category: what they reveal."""

MOVEMENT_DOMAINS: frozenset[str] = frozenset({"flights", "high_speed_rail"})
"""Domains whose restriction interferes with freedom of movement (ICCPR Art. 12)."""

THIRD_PARTY_DOMAINS: dict[str, str] = {"private_schools": "the subject's children"}
"""Domains where a measure falls on someone other than the listed person."""

MINOR_POINTS, SERIOUS_POINTS = 20.0, 100.0
"""ASSUMED gravity classes of a record from its points: |points| < 20 minor, >= 100
serious, general in between (Rongcheng's table: -5 traffic ticket, -10 card arrears,
-20..-60 contract breaches and theft, -100 damaging utility equipment)."""

BREADTH_CONTEXTS = 3
"""A listing that restricts this many distinct contexts or more is joint punishment out
of proportion to any one behaviour (EU AI Act Art. 5(1)(c)(ii))."""

PRINCIPLES: dict[str, tuple[str, str]] = {
    "unrelated_context": (
        "EU AI Act Art. 5(1)(c)(i)",
        "social scoring leading to detrimental treatment in a context unrelated to where "
        "the data was generated",
    ),
    "disproportionate": (
        "EU AI Act Art. 5(1)(c)(ii)",
        "social scoring leading to treatment disproportionate to the behaviour or its gravity",
    ),
    "special_category": (
        "GDPR Art. 9(1)",
        "processing of special-category data (political opinions) without an exception",
    ),
    "automated_decision": (
        "GDPR Art. 22",
        "a decision with legal or similarly significant effect based solely on automated "
        "processing, with no right to human intervention",
    ),
    "movement": ("ICCPR Art. 12", "freedom of movement"),
    "expression": ("ICCPR Art. 19", "freedom of expression"),
    "fair_hearing": ("ICCPR Art. 14", "a fair hearing before rights are determined"),
    "collective_punishment": (
        "Collective punishment",
        "penalties only for one's own acts (ICCPR Art. 14-15; Geneva Convention IV Art. 33)",
    ),
    "missing_notice": ("Safeguard: notice", "the subject is told of a record about them"),
    "missing_appeal": ("Safeguard: appeal", "the subject can contest a record about them"),
    "missing_expiry": ("Safeguard: expiry", "records and listings end after a set time"),
}
"""Finding codes: (the law or safeguard, what it protects)."""

SEVERITY_OF: dict[str, str] = {
    "unrelated_context": "prohibited",
    "disproportionate": "prohibited",
    "special_category": "prohibited",
    "collective_punishment": "prohibited",
    "automated_decision": "high",
    "movement": "high",
    "expression": "high",
    "fair_hearing": "high",
    "missing_notice": "medium",
    "missing_appeal": "medium",
    "missing_expiry": "medium",
}


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


# ---------------------------------------------------------------- file and line of keys
def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of every mapping key in a YAML text, by key path."""
    out: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = (*path, str(k.value))
                out[key] = k.start_mark.line + 1
                walk(v, key)

    if root is not None:
        walk(root, ())
    return out


def scenario_source(name_or_path: str | Path) -> tuple[str, str]:
    """(file path, YAML text) of a scenario file or built-in."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return str(path), path.read_text("utf-8")
    name = str(name_or_path)
    if name in builtin_names():
        res = resources.files("scslab") / "scenarios" / f"{name}.yaml"
        return str(res), res.read_text("utf-8")
    return name, ""


class _Where:
    """Finds the line of a dotted key (or of its nearest written ancestor)."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = _line_index(text)

    def line(self, rule: str) -> int | None:
        """1-based line of `rule` (a dotted key), or of its nearest written ancestor."""
        parts = tuple(rule.split("."))
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None


# ---------------------------------------------------------------------- helpers
def severity_class(points: float) -> str:
    """Gravity of a record from its points: minor, general or serious (ASSUMED classes)."""
    p = abs(points)
    if p < MINOR_POINTS:
        return "minor"
    if p < SERIOUS_POINTS:
        return "general"
    return "serious"


def list_data_contexts(sc: Scenario, lname: str) -> dict[str, list[str]]:
    """Contexts of the data that put a subject on list `lname`: context -> record kinds."""
    rule = sc.lists[lname]
    out: dict[str, list[str]] = {}
    if rule.trigger.records:
        kinds = list(rule.trigger.records)
    else:
        kinds = [n for _, n, k in sc.record_kinds() if k.subject == rule.subject and k.points]
    for k in kinds:
        out.setdefault(sc.kind_context(k), []).append(k)
    if not rule.trigger.records and rule.subject == "resident":
        scoring = sc.scoring
        if scoring is not None and scoring.association_penalty > 0:
            out.setdefault("general", []).append("association penalty")
    return out


def _kinds_feeding(sc: Scenario, lname: str) -> list[str]:
    return [n for _, n, _ in sc.record_kinds() if lname in sc.lists_fed_by(n)]


def _dp_source(sc: Scenario, kind: str, section: str) -> str:
    """The key that sets `section` of a kind's due process (the most specific one)."""
    dp = sc.due_process
    if dp is None:
        return "due_process"
    if kind in dp.kinds and section in dp.kinds[kind].model_fields_set:
        return f"due_process.kinds.{kind}.{section}"
    fed = sc.lists_fed_by(kind)
    record_lists = [n for n in fed if not sc.lists[n].trigger.score_based]
    score_lists = [n for n in fed if sc.lists[n].trigger.score_based]
    for lname in [*record_lists, *score_lists]:
        if lname in dp.lists and section in dp.lists[lname].model_fields_set:
            return f"due_process.lists.{lname}.{section}"
    return f"due_process.defaults.{section}"


def _declared_severity(sc: Scenario, kind: str) -> str | None:
    """The repair severity a scenario declares for this very kind (not a default)."""
    dp = sc.due_process
    if dp is None or kind not in dp.kinds:
        return None
    over = dp.kinds[kind]
    if "repair" in over.model_fields_set and over.repair is not None:
        if "severity" in over.repair.model_fields_set:
            return over.repair.severity
    return None


def _adverse_kinds(sc: Scenario) -> list[str]:
    out = []
    for _, name, kind in sc.record_kinds():
        if kind.points < 0 or any(sc.lists[n].kind == "black" for n in sc.lists_fed_by(name)):
            out.append(name)
    return out


def _context_of(domain: str) -> str:
    return DOMAIN_CONTEXT[domain]  # type: ignore[index]


def _domains(m: Any) -> list[str]:
    """A measure's or reward's domains as plain strings."""
    return [str(d) for d in m.domains]


def _blocking_measures(sc: Scenario, lname: str) -> list[tuple[str, list[str]]]:
    return [
        (mname, _domains(m))
        for mname, m in sc.measures.items()
        if m.list == lname and m.effect == "block"
    ]


def _fmt(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items[:6]) + (f" and {len(items) - 6} more" if len(items) > 6 else "")


# ------------------------------------------------------------------------ the lint
def lint(scenario: Scenario | str | Path, source: str | Path | None = None) -> LintReport:
    """Read a scenario's rules against the principles in PRINCIPLES; nothing is run.

    `scenario`: a Scenario, a built-in name or a YAML file; `source`: the file to name in
    findings when a Scenario object is given.
    """
    if isinstance(scenario, Scenario):
        sc = scenario
        file, text = scenario_source(source) if source is not None else ("<scenario>", "")
    else:
        sc = load_scenario(scenario)
        file, text = scenario_source(scenario)
    where = _Where(file, text)
    report = LintReport(sc.name, file)

    def add(code: str, rule: str, why: str) -> None:
        report.findings.append(
            Finding(code, PRINCIPLES[code][0], SEVERITY_OF[code], rule, file, where.line(rule), why)
        )

    _lint_contexts(sc, add)
    _lint_proportion(sc, add)
    _lint_speech(sc, add)
    _lint_collective(sc, add)
    _lint_movement(sc, add)
    _lint_hearing(sc, add)
    _lint_safeguards(sc, add)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    report.findings.sort(key=lambda f: (order[f.severity], f.code, f.line or 0, f.rule))
    return report


def _unrelated(data: dict[str, list[str]], domains: Iterable[str]) -> dict[str, dict]:
    """Domain -> {data context: kinds} for the domains unrelated to some data context."""
    out = {}
    for dom in domains:
        target = DOMAIN_CONTEXT[dom]  # type: ignore[index]
        bad = {c: ks for c, ks in data.items() if target not in RELATED_CONTEXTS[c]}
        if bad:
            out[dom] = bad
    return out


def _lint_contexts(sc: Scenario, add: Any) -> None:
    for mname, m in sc.measures.items():
        lst = sc.lists[m.list]
        data = list_data_contexts(sc, m.list)
        bad = _unrelated(data, m.domains)
        if not bad:
            continue
        targets = sorted({DOMAIN_CONTEXT[d] for d in bad})  # type: ignore[index]
        sources: dict[str, list[str]] = {}
        for per in bad.values():
            for c, ks in per.items():
                sources.setdefault(c, ks)
        src = "; ".join(f"{c} ({_fmt(ks)})" for c, ks in sources.items())
        reach = (
            " It reaches a person (the legal representative) for a firm's record."
            if lst.subject == "enterprise"
            else ""
        )
        verb = "blocks" if m.effect == "block" else "delays"
        add(
            "unrelated_context",
            f"measures.{mname}",
            f"{verb} {_fmt(bad)} ({_fmt(targets)}) for those on {m.list}, on data from "
            f"{src}: contexts unrelated to {_fmt(targets)}.{reach}",
        )
    for rname, rw in sc.rewards.items():
        if rw.list is not None:
            data = list_data_contexts(sc, rw.list)
            basis = f"the red list {rw.list}"
        else:
            data = {}
            for _, n, k in sc.record_kinds():
                if k.subject == "resident" and k.points:
                    data.setdefault(sc.kind_context(n), []).append(n)
            basis = f"grade {rw.grade_at_least} or better"
        bad = _unrelated(data, rw.domains)
        if bad:
            contexts = sorted({c for per in bad.values() for c in per})
            add(
                "unrelated_context",
                f"rewards.{rname}",
                f"gives priority in {_fmt(bad)} to residents with {basis}, so everyone else "
                f"waits longer there, on the strength of {_fmt(contexts)} data",
            )


def _lint_proportion(sc: Scenario, add: Any) -> None:
    for lname, rule in sc.lists.items():
        if rule.kind != "black":
            continue
        blocking = _blocking_measures(sc, lname)
        if not blocking:
            continue
        contexts = sorted({_context_of(d) for _, doms in blocking for d in doms})
        if len(contexts) >= BREADTH_CONTEXTS:
            add(
                "disproportionate",
                f"lists.{lname}",
                f"one listing blocks activities in {len(contexts)} contexts "
                f"({_fmt(contexts)}) through {len(blocking)} measures, whatever the "
                "behaviour behind it (joint punishment)",
            )
        kinds = _kinds_feeding(sc, lname)
        points = {n: k.points for _, n, k in sc.record_kinds() if n in kinds}
        if rule.trigger.records:
            longest = (rule.duration_days or 0) + (
                rule.extension_days if rule.extension_probability > 0 else 0
            )
            for k in rule.trigger.records:
                cls = _declared_severity(sc, k) or severity_class(points[k])
                window = REPAIR_WINDOW_DAYS[cls]
                if longest > window:
                    add(
                        "disproportionate",
                        f"lists.{lname}.duration_days",
                        f"a {cls} record ({k}, {points[k]:+g} points) keeps a subject on "
                        f"{lname} for up to {longest} days; repair rules end {cls} records "
                        f"within {window} days (2025 draft repair rules, A/B)",
                    )
        else:
            minor = [n for n, p in points.items() if p < 0 and severity_class(p) == "minor"]
            if minor:
                add(
                    "disproportionate",
                    f"lists.{lname}.trigger",
                    f"minor records ({_fmt(f'{n} {points[n]:+g}' for n in minor)}) add up "
                    f"to a listing that blocks {_fmt(contexts)}: the sanction follows the "
                    "score, not the gravity of any behaviour",
                )


def _lint_speech(sc: Scenario, add: Any) -> None:
    for dname, kname, kind in sc.record_kinds():
        ctx = sc.kind_context(kname)
        if ctx not in SPECIAL_CATEGORY_CONTEXTS:
            continue
        fed = (
            sc.lists_fed_by(kname)
            if kind.points < 0
            else [n for n, r in sc.lists.items() if kname in r.trigger.records]
        )
        uses = []
        if kind.points:
            uses.append(f"{kind.points:+g} points")
        if fed:
            uses.append(f"lists {_fmt(fed)}")
        key = f"departments.{dname}.records.{kname}"
        what = SPECIAL_CATEGORY_CONTEXTS[ctx]
        if uses:
            add(
                "special_category",
                key,
                f"scores online speech, which reveals {what}, and uses it ({'; '.join(uses)})",
            )
            add(
                "expression",
                key,
                f"penalises what residents post ({'; '.join(uses)})"
                + (
                    f"; posting falls {sc.behaviour.chilling_self:.0%} after a penalty (chilling)"
                    if sc.behaviour.chilling_self > 0
                    else ""
                ),
            )
    for mname, m in sc.measures.items():
        if "online_accounts" in _domains(m) and m.effect == "block":
            add(
                "expression",
                f"measures.{mname}",
                f"removes or blocks online accounts of those on {m.list}",
            )


def _lint_collective(sc: Scenario, add: Any) -> None:
    for key, scoring in (("scoring", sc.scoring), ("corporate_scoring", sc.corporate_scoring)):
        if scoring is not None and scoring.association_penalty > 0:
            add(
                "collective_punishment",
                f"{key}.association_penalty",
                f"every subject loses {scoring.association_penalty:g} points a day for each "
                "blacklisted contact: a penalty for what others did",
            )
    for mname, m in sc.measures.items():
        for dom in _domains(m):
            if dom in THIRD_PARTY_DOMAINS and m.effect == "block":
                add(
                    "collective_punishment",
                    f"measures.{mname}",
                    f"blocks {dom} for {THIRD_PARTY_DOMAINS[dom]} of those on {m.list}: "
                    "the sanction falls on someone who did nothing",
                )


def _lint_movement(sc: Scenario, add: Any) -> None:
    for mname, m in sc.measures.items():
        doms = [d for d in _domains(m) if d in MOVEMENT_DOMAINS]
        if doms and m.effect == "block":
            data = list_data_contexts(sc, m.list)
            add(
                "movement",
                f"measures.{mname}",
                f"bans {_fmt(doms)} for those on {m.list} (data from {_fmt(data)})",
            )


def _lint_hearing(sc: Scenario, add: Any) -> None:
    for lname, rule in sc.lists.items():
        if rule.kind != "black" or not _blocking_measures(sc, lname):
            continue
        kinds = _kinds_feeding(sc, lname)
        rules = {k: sc.due_process_for(k) for k in kinds}
        no_contest = [
            k
            for k, r in rules.items()
            if r is None or r.notice is None or r.appeal is None or r.notice.share == 0
        ]
        partial = [
            k
            for k, r in rules.items()
            if k not in no_contest and r is not None and r.notice and r.notice.share < 1
        ]
        automated = [
            k for k, r in rules.items() if r is None or r.appeal is None or not r.review.human
        ]
        how = "by score" if rule.trigger.score_based else "on a record, automatically"
        if automated:
            add(
                "automated_decision",
                f"lists.{lname}",
                f"subjects are listed {how} and no person reviews the listing on appeal "
                f"(records: {_fmt(automated)}), yet it blocks "
                f"{_fmt(d for _, ds in _blocking_measures(sc, lname) for d in ds)}",
            )
        if no_contest or partial:
            parts = []
            if no_contest:
                parts.append(f"no notice or no appeal for {_fmt(no_contest)}")
            if partial:
                shares = {
                    f"{r.notice.share:.0%}"
                    for k, r in rules.items()
                    if k in partial and r is not None and r.notice is not None
                }
                parts.append(f"only {_fmt(sorted(shares))} notified for {_fmt(partial)}")
            add(
                "fair_hearing",
                f"lists.{lname}",
                f"sanctions apply before any hearing and some subjects can never contest "
                f"them: {'; '.join(parts)}",
            )


def _lint_safeguards(sc: Scenario, add: Any) -> None:
    adverse = _adverse_kinds(sc)
    if sc.due_process is None:
        if adverse:
            add(
                "missing_notice",
                "due_process",
                f"no due_process section: no subject is told of an adverse record "
                f"({_fmt(adverse)})",
            )
            add(
                "missing_appeal",
                "due_process",
                f"no due_process section: no adverse record can be contested ({_fmt(adverse)})",
            )
    else:
        groups: dict[tuple[str, str], list[str]] = {}
        for k in adverse:
            r = sc.due_process_for(k)
            assert r is not None
            if r.notice is None or r.notice.share == 0:
                groups.setdefault(("missing_notice", _dp_source(sc, k, "notice")), []).append(k)
            elif r.notice.share < 1:
                key = ("missing_notice", _dp_source(sc, k, "notice") + ".share")
                groups.setdefault(key, []).append(k)
            if r.appeal is None:
                groups.setdefault(("missing_appeal", _dp_source(sc, k, "appeal")), []).append(k)
            elif r.notice is None:
                key = ("missing_appeal", _dp_source(sc, k, "notice"))
                groups.setdefault(key, []).append(k)
        for (code, rule), kinds in groups.items():
            if code == "missing_notice" and rule.endswith(".share"):
                share = sc.due_process_for(kinds[0]).notice.share  # type: ignore[union-attr]
                why = (
                    f"only {share:.0%} of subjects are told of a {_fmt(kinds)} record; the "
                    "others cannot contest it"
                )
            elif code == "missing_notice":
                why = f"subjects are not told of {_fmt(kinds)} records"
            else:
                why = f"{_fmt(kinds)} records cannot be contested"
            add(code, rule, why)
    never = []
    for k in adverse:
        r = sc.due_process_for(k)
        kind = next(kind for _, n, kind in sc.record_kinds() if n == k)
        scoring = sc.scoring_for(kind.subject)
        if scoring is None or not kind.points:
            continue  # no points: the record acts only through lists, which have durations
        expiry = r.expiry(scoring) if r is not None else scoring.record_expiry_days
        if expiry is None and not (r is not None and r.repair and r.repair.method == "wait"):
            never.append(k)
    if never:
        rule = "scoring.record_expiry_days"
        if sc.due_process is not None and any(
            (sc.due_process_for(k) or DueProcessRule()).expiry_days == "never" for k in never
        ):
            rule = _dp_source(sc, never[0], "expiry_days")
        add("missing_expiry", rule, f"{_fmt(never)} records count for ever")
    for lname, lst in sc.lists.items():
        if lst.kind == "black" and lst.trigger.score_based:
            kinds = [k for k in _kinds_feeding(sc, lname) if k in never]
            if kinds:
                add(
                    "missing_expiry",
                    f"lists.{lname}.trigger",
                    f"membership follows a score whose records never expire ({_fmt(kinds)}): "
                    "a listing can last for ever",
                )


# ------------------------------------------------------------------ terminal view
SEVERITY_STYLE = {"prohibited": "bold red", "high": "yellow", "medium": "cyan"}


def lint_table(report: LintReport) -> Any:
    """The findings as a rich Table: severity, principle, rule (key, file:line), why."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"Rights audit of the rules of {report.scenario} ({report.file})",
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
