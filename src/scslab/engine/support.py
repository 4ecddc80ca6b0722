"""What compiled days can run: the features of a scenario that only the general loop
has (unsupported), over the whole run when a timeline changes the rules
(unsupported_in_run). The engine picks its loop from these (Simulation, ENGINES).

Compiled days (engine/compiled.py) run the residents' core: records from behaviour
(with reporting delays), the points score (drift, association penalties, expiry, a
rollout), lists triggered by scores or records, residents' activities against the
measures and rewards of residents' lists (blocks, delays, green channels by list or by
grade) and the listed residents' responses to them (attempt multipliers, avoidance,
learning), with chilling, income lost to blocked attempts and income-sensitive records;
records too from residents' attempts flagged the day before (posts, the activities
record kinds come from); due process (notices, appeals, from a first block too,
reviews, repairs, days listed unaware); enterprises too where nothing reaches them. The
rest is named here, one reason per feature: enterprises' activities, lists, records
and score (and so due process of enterprises' records), and measures of enterprise
lists (which reach legal representatives)."""

from __future__ import annotations

from scslab.scenario.schema import Scenario


def unsupported(scenario: Scenario) -> list[str]:
    """Why `scenario` cannot run on compiled days, one reason per feature, naming its
    key (empty: it can)."""
    why = []
    pop = scenario.population
    firms = pop.enterprises_per_resident > 0 or pop.individual_businesses_per_resident > 0
    if firms and scenario.corporate_scoring is not None:
        why.append("corporate_scoring (with enterprises)")
    why += _activities(scenario)
    for dept_name, dept in scenario.departments.items():
        for kind_name, kind in dept.records.items():
            where = f"departments.{dept_name}.records.{kind_name}"
            if kind.subject != "resident":
                why.append(f"{where}.subject: enterprise")
    for list_name, rules in scenario.lists.items():
        if rules.subject != "resident":
            why.append(f"lists.{list_name}.subject: enterprise")
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
    for name, m in scenario.measures.items():
        if scenario.lists[m.list].subject != "resident":
            why.append(f"measures.{name}: an enterprise list (legal representatives)")
    return why
