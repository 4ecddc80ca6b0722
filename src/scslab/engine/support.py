"""What compiled days can run: the features of a scenario that only the general loop
has (unsupported), over the whole run when a timeline changes the rules
(unsupported_in_run). The engine picks its loop from these (Simulation, ENGINES).

Compiled days (engine/compiled.py) run the core of both kinds of subject: records from
behaviour (with reporting delays) about residents and enterprises, the points score
(drift, association penalties, expiry, a rollout) and the corporate score, lists of
either triggered by scores or records (an enterprise's reaching its legal
representative), and residents' activities against the measures and rewards of their
own lists and of the lists of the enterprises they represent (blocks, delays, green
channels by list or by grade). The rest is named here, one reason per feature: due
process, chilling, income feedback (income lost to blocks, income-sensitive records),
records from posts or activities, list responses (attempt multipliers, avoidance,
learning) and enterprises' activities."""

from __future__ import annotations

from scslab.scenario.schema import Scenario


def unsupported(scenario: Scenario) -> list[str]:
    """Why `scenario` cannot run on compiled days, one reason per feature, naming its
    key (empty: it can)."""
    why = []
    if scenario.scoring is None:
        why.append("no scoring section")
    why += _activities(scenario)
    if scenario.due_process is not None:
        why.append("due_process")
    beh = scenario.behaviour
    if beh.chilling_self > 0 or beh.chilling_contacts > 0:
        why.append("chilling (behaviour.chilling_self, chilling_contacts)")
    for dept_name, dept in scenario.departments.items():
        for kind_name, kind in dept.records.items():
            where = f"departments.{dept_name}.records.{kind_name}"
            if kind.source != "behaviour":
                why.append(f"{where}.source: {kind.source}")
            if kind.income_sensitive and beh.default_risk_elasticity > 0:
                why.append(f"{where}.income_sensitive (with behaviour.default_risk_elasticity)")
    return why


def unsupported_in_run(scenario: Scenario) -> list[str]:
    """unsupported() of the scenario, then of the rules its timeline makes on each day it
    changes them (a timeline may switch on what compiled days do not run), each reason
    once, with the date it first holds."""
    why = {r: r for r in unsupported(scenario)}
    for day, rules in scenario.rules_by_day():
        for r in unsupported(rules):
            why.setdefault(r, f"{r} (from {scenario.date_of(day)})")
    return list(why.values())


def _activities(scenario: Scenario) -> list[str]:
    """What of the activities compiled days do not run, one reason per feature."""
    why: list[str] = []
    if not scenario.activities:
        return why
    if len(scenario.activities) > 64:
        why.append("activities (more than 64)")
    for name, act in scenario.activities.items():
        if act.subject != "resident":
            why.append(f"activities.{name}.subject: enterprise")
        if act.income_loss_if_blocked > 0:
            why.append(f"activities.{name}.income_loss_if_blocked (income feedback)")
    for name, m in scenario.measures.items():
        if m.responds():
            why.append(f"measures.{name}: attempt_multiplier, avoidance or learning")
    dp = scenario.due_process
    if dp is not None:
        rules = [dp.defaults, *dp.lists.values(), *dp.kinds.values()]
        if any(r.appeal is not None and r.appeal.from_first_block for r in rules):
            why.append("due_process: appeal.from_first_block")
    return why
