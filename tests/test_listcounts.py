"""The figures a researcher compares with published ones: exits by their reason (which
sum to the exits), subjects ever on each list, attempts blocked by each list, and what
each list's counts include (the manifest's `lists`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scslab import Simulation
from scslab.model.lists import EXIT_REASONS
from tests.audit_helpers import ALWAYS_APPEAL, builtin_dict, scenario
from tests.test_compiled import assert_same_tables, both, core


def wide(metrics: pd.DataFrame) -> pd.DataFrame:
    """Metrics with one column per metric, a row per (day, group_by, group)."""
    return metrics.pivot_table(
        index=["day", "group_by", "group"], columns="metric", values="value", observed=True
    )


def every_reason() -> object:
    """beijing-2018 where every exit reason happens within 60 days: many fare-evasion
    records (half of them erroneous, all appealed and the erroneous ones corrected five
    days later), credit repair after ten days, short railway bans that mostly expire and
    that listed residents often comply with."""
    d = builtin_dict()
    d["departments"]["transport"].update(error_rate=0.5, coverage=1.0, delay_days=0)
    d["departments"]["transport"]["records"]["fare_evasion"]["rate_per_year"] = 0.5
    d["lists"]["railway_misconduct"].update(duration_days=20, compliance_per_year=10.0)
    repair = {"method": "comply", "wait_days": 10, "rate_per_year": 20.0}
    d["due_process"] = {"defaults": {**ALWAYS_APPEAL, "repair": repair}}
    return scenario(d)


@pytest.fixture(scope="module")
def run() -> Simulation:
    sim = Simulation(every_reason(), seed=1, residents=5000, days=60, agents=True)  # type: ignore[arg-type]
    sim.outputs = sim.simulate()  # type: ignore[attr-defined]
    return sim


def test_exit_reasons_sum_to_the_exits_and_each_happens(run: Simulation) -> None:
    m = wide(run.outputs.tables["metrics"])  # type: ignore[attr-defined]
    for prefix, names in (
        ("", run.state.res.lists.names),
        ("enterprise.", run.state.ent.lists.names),
    ):  # type: ignore[union-attr]
        for name in names:
            parts = sum(m[f"{prefix}exits_{r}:{name}"] for r in EXIT_REASONS)
            pd.testing.assert_series_equal(parts, m[f"{prefix}exits:{name}"], check_names=False)
    rail = m.xs(("city", "all"), level=("group_by", "group")).sum()
    for reason in ("complied", "expired", "released", "repaired"):
        assert rail[f"exits_{reason}:railway_misconduct"] > 0, reason
    assert rail["exits_score:railway_misconduct"] == 0  # (a record-triggered list)
    listings = run.outputs.tables["listings"]  # type: ignore[attr-defined]
    exits = listings[~listings["entered"]]
    assert (
        set(exits["reason"]) <= set(EXIT_REASONS)
        and (listings["entered"] == (listings["reason"] == "")).all()
    )
    by_reason = exits[exits["list"] == "railway_misconduct"]["reason"].value_counts()
    for reason in ("complied", "expired", "released", "repaired"):
        assert by_reason[reason] == rail[f"exits_{reason}:railway_misconduct"]


def test_released_exits_are_the_corrected_wrongful_listings(run: Simulation) -> None:
    """Every record is appealed and every erroneous one corrected: a listing resting on
    erroneous records alone leaves, released, unless it leaves first (compliance)."""
    listings = run.outputs.tables["listings"]  # type: ignore[attr-defined]
    rail = listings[(listings["list"] == "railway_misconduct") & ~listings["entered"]]
    released = rail[rail["reason"] == "released"]
    assert released["wrongful"].all() and len(released) > 0


def test_ever_listed_counts_distinct_subjects_up_to_each_day(run: Simulation) -> None:
    m = wide(run.outputs.tables["metrics"]).xs(("city", "all"), level=("group_by", "group"))  # type: ignore[attr-defined]
    listings = run.outputs.tables["listings"]  # type: ignore[attr-defined]
    days = np.arange(run.days)
    for (side, name), part in listings[listings["entered"]].groupby(["subject_type", "list"]):
        first = part.groupby("subject")["day"].min()
        expected = np.searchsorted(np.sort(first.to_numpy()), days, side="right")
        prefix = "" if side == "resident" else "enterprise."
        got = m[f"{prefix}ever_listed:{name}"].to_numpy()
        assert got.tolist() == expected.tolist(), name
        assert (got >= m[f"{prefix}listed:{name}"].to_numpy()).all()
    # more listings than subjects: residents re-listed count once
    rail = listings[listings["entered"] & (listings["list"] == "railway_misconduct")]
    assert len(rail) > rail["subject"].nunique() == m["ever_listed:railway_misconduct"].iloc[-1]


def test_blocked_by_counts_each_list_that_blocks(run: Simulation) -> None:
    """Each day, in every domain, blocked_by of each list is at most blocked, and their
    sum at least blocked (an attempt blocked by two lists counts for each); where one
    list alone blocks a domain, the two are equal. Residents' families name the firms'
    lists that reach them as legal representatives; enterprises' their own."""
    city = wide(run.outputs.tables["metrics"]).xs(("city", "all"), level=("group_by", "group"))  # type: ignore[attr-defined]
    blocked = [c for c in city if c.split(":")[0] in ("blocked", "enterprise.blocked")]
    assert sum(city[c].sum() for c in blocked) > 0
    for col in blocked:
        family, domain = col.split(":")
        by = [c for c in city if c.startswith(f"{family}_by:") and c.endswith(f":{domain}")]
        assert by or (city[col] == 0).all(), col  # (no list blocks there: none named)
        for c in by:
            assert (city[c] <= city[col]).all(), c
        assert (sum(city[c] for c in by) >= city[col]).all(), col
    for domain in ("online_accounts", "high_speed_rail"):
        assert city[f"blocked:{domain}"].sum() > 0
    assert city["blocked_by:internet_blacklist:online_accounts"].equals(
        city["blocked:online_accounts"]
    )
    # (no resident on the other lists that block rail: railway_misconduct's alone)
    assert city["blocked_by:railway_misconduct:high_speed_rail"].equals(
        city["blocked:high_speed_rail"]
    )
    assert "blocked_by:seriously_dishonest_firms:flights" in city
    assert "enterprise.blocked_by:seriously_dishonest_firms:public_services" in city
    assert "enterprise.blocked_by:seriously_dishonest_firms:flights" not in city  # no firm flies


def test_the_manifest_says_what_each_lists_counts_include(run: Simulation) -> None:
    lists = run.outputs.manifest["lists"]  # type: ignore[attr-defined]
    assert set(lists) == set(run.scenario.lists)
    assert not any(v["counts_representatives"] for v in lists.values())
    assert lists["seriously_dishonest_firms"] == {
        "subject": "enterprise",
        "kind": "black",
        "counts_representatives": False,
        "reaches_representatives": True,
    }
    assert lists["railway_misconduct"]["reaches_representatives"] is False


def test_compiled_days_count_score_exits_and_ever_listed_as_the_general_loop() -> None:
    """On the points-and-lists core (score-triggered lists): every exit is a score exit,
    and compiled days give the general loop's exits by reason and ever_listed."""
    sc = core(**{"scoring.drift_per_day": 0.02, "lists.blacklist.trigger.score_below": 995.0})
    general, compiled = both(sc, seed=3, residents=2000, days=80)
    assert_same_tables(general, compiled)
    m = wide(compiled.results.tables["metrics"]).xs(("city", "all"), level=("group_by", "group"))  # type: ignore[attr-defined]
    assert m["exits:blacklist"].sum() > 0
    assert (m["exits_score:blacklist"] == m["exits:blacklist"]).all()
    ever = m["ever_listed:blacklist"]
    assert (np.diff(ever) >= 0).all() and (ever >= m["listed:blacklist"]).all()
    assert ever.iloc[-1] > m["listed:blacklist"].max()  # some left and are still counted
