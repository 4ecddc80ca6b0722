"""The rights lint: what the rules of a scenario are, read against human-rights law.

`lint(scenario)` reads a scenario's rules, without running them, and returns a
LintReport of findings (`scslab.analysis.findings`). Each finding names the rule (file,
line and key), the principle, its severity and why; the principles, their severities
and the tables of contexts are in `scslab.analysis.principles`.
A finding names the file and line of its rule: in a scenario that `extends` another,
the file that writes the key (the scenario's own where it changes it, else the one it
extends).
Contexts are computed, not written by hand: a record kind's context is its own `context`
or its department's, a list's data contexts are those of the records that feed it (for
a score-triggered list, every record kind with points for its subjects), and a measure's
context is that of the domain it restricts (DOMAIN_CONTEXT). Whether two contexts are
"related" follows RELATED_CONTEXTS: a documented, editable judgement.

The findings are a structured reading of the rules for auditors, not legal advice.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scslab.analysis.findings import Finding, LintReport
from scslab.analysis.principles import (
    BREADTH_CONTEXTS,
    CONDUCT,
    DOMAIN_CONTEXT,
    MOVEMENT_DOMAINS,
    PRINCIPLES,
    RELATED_CONTEXTS,
    RESTRICTED_RIGHTS,
    RIGHT_DOMAINS,
    SEVERITIES,
    SEVERITY_OF,
    SPECIAL_CATEGORY_CONTEXTS,
    THIRD_PARTY_DOMAINS,
    severity_class,
)
from scslab.scenario.loader import MAX_EXTENDS, builtin_names, load_scenario
from scslab.scenario.schema import Scenario
from scslab.scenario.sections import REPAIR_WINDOW_DAYS, DueProcessRule, RecordKind


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


def _extended(file: str, text: str) -> tuple[str, str] | None:
    """(file, YAML text) of the scenario that a scenario's text `extends`, found as the
    loader finds it (a file relative to the scenario's folder, else a built-in); None
    when it extends none or it cannot be read."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    base = data.get("extends") if isinstance(data, dict) else None
    if not isinstance(base, str) or not base:
        return None
    path = Path(base) if Path(base).is_absolute() else Path(file).parent / base
    try:
        if path.suffix in (".yaml", ".yml") or path.exists():
            return str(path), path.read_text("utf-8")
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return scenario_source(base) if base in builtin_names() else None


class _Where:
    """Finds the file and line of a dotted key (or of its nearest written ancestor): in
    the scenario's file, else in the scenarios it extends, nearest first."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.chain = [(file, _line_index(text))]
        base = _extended(file, text)
        while base is not None and len(self.chain) <= MAX_EXTENDS:
            self.chain.append((base[0], _line_index(base[1])))
            base = _extended(*base)

    def locate(self, rule: str) -> tuple[str, int | None]:
        """(file, 1-based line) of `rule` (a dotted key), or of its nearest written
        ancestor; a key written in several files of the chain is found in the nearest."""
        parts = tuple(rule.split("."))
        while parts:
            for file, lines in self.chain:
                if parts in lines:
                    return file, lines[parts]
            parts = parts[:-1]
        return self.file, None


# ---------------------------------------------------------------------- helpers
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
    The rules its timeline makes are read too: a finding that only a timeline change
    brings says from which date.

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

    seen: set[tuple[str, str]] = set()
    since = [""]  # "" for the scenario's own rules, else the date a timeline change makes them

    def add(code: str, rule: str, why: str) -> None:
        if (code, rule) in seen:
            return
        seen.add((code, rule))
        at, line = where.locate(rule)
        if since[0]:
            why = f"{why} (from {since[0]}, by the timeline)"
        report.findings.append(
            Finding(code, PRINCIPLES[code][0], SEVERITY_OF[code], rule, at, line, why)
        )

    for when, rules in _rules_over_time(sc):
        since[0] = when
        for check in (
            _lint_contexts,
            _lint_proportion,
            _lint_speech,
            _lint_collective,
            _lint_movement,
            _lint_hearing,
            _lint_safeguards,
        ):
            check(rules, add)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    report.findings.sort(key=lambda f: (order[f.severity], f.code, f.line or 0, f.rule))
    return report


def _rules_over_time(sc: Scenario) -> list[tuple[str, Scenario]]:
    """The scenario's own rules (with the date ""), then the rules its timeline makes on
    each day it changes them (with that day's date): a rule a timeline switches on is
    read as well as one the file sets."""
    return [("", sc)] + [(sc.date_of(day).isoformat(), r) for day, r in sc.rules_by_day()]


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


def _chilled_activity(sc: Scenario, kind: RecordKind, ctx: str) -> str | None:
    """The monitored activity whose rate chilling lowers, that records of `kind` come
    from: posting for online speech, else the activity the kind is drawn from."""
    if kind.source == "activity":
        return kind.activity
    return "posting" if kind.source == "posts" or ctx == "online_speech" else None


def _lint_speech(sc: Scenario, add: Any) -> None:
    """Records that reveal a special category (speech, petitions, gatherings, worship),
    and the freedoms that penalising them, or blocking those domains, restricts."""
    beh = sc.behaviour
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
        if not uses:
            continue
        key = f"departments.{dname}.records.{kname}"
        what = SPECIAL_CATEGORY_CONTEXTS[ctx]
        conduct = CONDUCT[ctx]
        add(
            "special_category",
            key,
            f"records {conduct} ({kname}, {ctx}), which reveals {what}, and uses it "
            f"({'; '.join(uses)})",
        )
        chilled = _chilled_activity(sc, kind, ctx)
        chill = (
            f"; {chilled} falls {beh.chilling_self:.0%} after a penalty (chilling)"
            if chilled and beh.chilling_self > 0
            else ""
        )
        for code in RESTRICTED_RIGHTS[ctx]:
            add(code, key, f"penalises {conduct} ({'; '.join(uses)}){chill}")
    for mname, m in sc.measures.items():
        if m.effect != "block":
            continue
        blocked: dict[str, list[str]] = {}
        for dom in _domains(m):
            if dom in RIGHT_DOMAINS:
                blocked.setdefault(RIGHT_DOMAINS[dom], []).append(dom)
        for code, doms in blocked.items():
            what = "online accounts" if doms == ["online_accounts"] else _fmt(doms)
            add(code, f"measures.{mname}", f"removes or blocks {what} of those on {m.list}")


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
