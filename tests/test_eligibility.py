"""Who can get a record: a record kind's eligibility (age bands, employment, hukou) keeps
everyone else out of its draws, at the same rate per eligible resident, in both loops."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from scslab.model.departments import N_CLASSES, eligible_classes, resident_classes
from scslab.rundir.run import Simulation
from scslab.scenario.safeyaml import ScenarioError
from scslab.scenario.sections import Eligibility
from scslab.scenario.tables import AGE_BANDS
from tests.test_compiled import assert_same_tables, both, core

UNDER_50 = ["20-29", "30-39", "40-49"]


def test_classes_admit_what_the_eligibility_says() -> None:
    assert eligible_classes(None).all() and len(eligible_classes(None)) == N_CLASSES
    ok = eligible_classes(Eligibility(age_bands=["20-29"], employment="employed", hukou="local"))
    band = AGE_BANDS.index("20-29")
    assert np.flatnonzero(ok).tolist() == [band * 4 + 2]  # employed, local
    classes = resident_classes(
        np.array([0, 2, 2], np.uint8), np.array([-1, 3, 3], np.int8), np.array([0, 0, 1], bool)
    )
    assert classes.tolist() == [0, 2 * 4 + 2, 2 * 4 + 3]


def test_only_eligible_residents_get_the_record_in_both_loops() -> None:
    """Court records for residents under 50 only (SCS-ref-1's residents live alone, so
    all are adults, and employs no one): none for anyone older, not even those naming the
    wrong person, and the same tables from both loops."""
    sc = core(
        **{
            "departments.courts.records.court.rate_per_year": 3.65,
            "departments.courts.records.court.eligible": {"age_bands": UNDER_50},
            "departments.courts.error_rate": 0.2,
        }
    )
    general, compiled = both(sc, seed=5, residents=3000, days=40, agents=True)
    assert_same_tables(general, compiled)
    res = general.results.tables  # type: ignore[attr-defined]
    rec = res["records"]
    court = rec[(rec["kind"] == "court") & (rec["subject_type"] == "resident")]
    people = res["residents"].set_index("id")
    assert len(court) > 50
    actors = people.loc[court["actor"]]
    assert actors["age_band"].isin(UNDER_50).all()
    wrong = court[court["actor"] != court["subject"]]  # records about the wrong person
    assert len(wrong) > 20 and people.loc[wrong["subject"], "age_band"].isin(UNDER_50).all()
    assert (~people["age_band"].isin(UNDER_50)).sum() > 300  # there were older residents


def test_the_rate_is_per_eligible_resident() -> None:
    """Half the residents eligible (local hukou in a city of about half migrants): about
    half the records, at the same rate per eligible resident."""
    edits = {"departments.courts.records.court.rate_per_year": 7.3}
    open_ = core(**edits)
    local = core(**edits, **{"departments.courts.records.court.eligible": {"hukou": "local"}})
    counts = []
    for sc in (open_, local):
        res = Simulation(sc, seed=2, residents=4000, days=60).run()
        m = res.tables["metrics"]
        counts.append(
            m[(m["group_by"] == "city") & (m["metric"] == "records_true:courts")]["value"].sum()
        )
    people = Simulation(local, seed=2, residents=4000, days=1)
    pop = people.build()
    share_local = 1 - pop.residents.migrant.mean()
    assert counts[1] == pytest.approx(counts[0] * share_local, rel=0.15)


def test_eligibility_is_for_residents_behaviour_only() -> None:
    data = yaml.safe_load(core().to_yaml())
    data["departments"]["courts"]["records"]["court"]["subject"] = "enterprise"
    data["departments"]["courts"]["records"]["court"]["eligible"] = {"hukou": "local"}
    with pytest.raises(ScenarioError, match="eligible: only for records of residents"):
        core().with_changes({"departments": data["departments"]})
