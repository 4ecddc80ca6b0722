"""What compiled days can run: the features of a scenario that only the general loop
has (unsupported), over the whole run when a timeline changes the rules
(unsupported_in_run). The engine picks its loop from these (Simulation, ENGINES).

Compiled days (engine/compiled.py) run the core of both kinds of subject: records
about residents and enterprises (from behaviour, and from residents' attempts flagged
the day before: posts, the activities record kinds come from; with reporting delays),
the points score (drift, association penalties, expiry, a rollout) and the corporate
score, lists of either triggered by scores or records (an enterprise's reaching its
legal representative), residents' activities against the measures and rewards of their
own lists and of the lists of the enterprises they represent (blocks, delays, green
channels by list or by grade) and the listed residents' responses to them (attempt
multipliers, avoidance, learning), enterprises' activities against the measures of
their own lists and their responses to them, chilling, income lost to blocked attempts
and income-sensitive records, and due process of either side's records (notices,
appeals, from a first block too, reviews, repairs, days listed unaware). The rest is
named here, one reason per feature: more than 64 activities.
"""

from __future__ import annotations

from scslab.scenario.schema import Scenario


def unsupported(scenario: Scenario) -> list[str]:
    """Why `scenario` cannot run on compiled days, one reason per feature, naming its
    key (empty: it can)."""
    return _activities(scenario)


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
    return why
