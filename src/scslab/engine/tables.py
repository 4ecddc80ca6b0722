"""The run's output tables, made from its state at the end: the daily metrics by
group, the score histograms and (with per-agent tables) residents, enterprises and
records.

A run with a burn-in (RunState.burn_in days before day 0) reports from day 0: the
burn-in's rows are left out of the metrics, the score histogram and the records table
(whose day columns are shifted to day 0), and the per-agent counts are of the reported
days (RunState.report_from); the listings table keeps the burn-in's changes, with
negative days, so that every listing on day 0 has its entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from scslab.engine.state import HIST_HI, HIST_LO, RunState
from scslab.model.records import STATUS_NAMES, UNSET_DAY_COLUMNS
from scslab.model.scoring import grades_of
from scslab.scenario.tables import AGE_BANDS


def tables(st: RunState) -> dict[str, pd.DataFrame]:
    """The run's tables by name (see the module's docstring), days counted from the
    reported day 0."""
    skip = st.burn_in
    parts = [st.res.series.long_frame(skip), st.ent.series.long_frame(skip)]
    metrics = pd.DataFrame(
        {
            col: union_categoricals([p[col] for p in parts], sort_categories=True)
            if col in ("group_by", "group", "metric")
            else np.concatenate([p[col].to_numpy() for p in parts])
            for col in parts[0].columns
        }
    )
    # the date of each row's day (the day stays: it is what the rest of scslab reads)
    start = np.datetime64(st.scenario.start_date.isoformat(), "D")
    metrics.insert(1, "date", start + metrics["day"].to_numpy().astype("timedelta64[D]"))
    n_bins = int((HIST_HI - HIST_LO) // 10.0)
    if st.hist_rows:
        h = np.stack(st.hist_rows)
        h = h[h[:, 0] >= skip]
        h[:, 0] -= skip
        hist = pd.DataFrame(
            {
                "day": np.repeat(h[:, 0].astype(np.int16), n_bins),
                "subject": np.repeat(np.where(h[:, 1] > 0, "enterprise", "resident"), n_bins),
                "bin_lo": np.tile(HIST_LO + 10.0 * np.arange(n_bins), len(h)),
                "count": h[:, 2:].reshape(-1).astype(np.int64),
            }
        )
        hist = hist[hist["count"] > 0].reset_index(drop=True)
    else:
        hist = pd.DataFrame(columns=["day", "subject", "bin_lo", "count"])
    tables = {"metrics": metrics, "score_histogram": hist}
    if st.agents:
        tables.update(agent_tables(st))
        listings = st.trail.listings_frame(st.res.lists.names, st.ent.lists.names)
        listings["day"] = (listings["day"] - skip).astype(np.int16)
        tables["listings"] = listings
    return tables


def agent_tables(st: RunState) -> dict[str, pd.DataFrame]:
    pop = st.population
    assert pop is not None
    r, e = pop.residents, pop.enterprises
    log = reported_records(st.log.as_columns(), st.burn_in)
    n, ne = pop.n_residents, pop.n_enterprises
    res_subject = st.kinds.subject[log["kind"]] == 0
    res = pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int32),
            "district": pd.Categorical.from_codes(r.district, pop.district_names),
            "hukou": np.where(r.migrant, "migrant", "local"),
            "age_band": pd.Categorical.from_codes(r.age_band, list(AGE_BANDS)),
            "sex": np.where(r.male, "male", "female"),
            "income_decile": (r.income_decile + 1).astype(np.int8),
            "education": pd.Categorical.from_codes(r.education, pop.education_names),
            "sector": pd.Categorical.from_codes(r.sector, pop.sector_names),
            "employer": r.employer,
            "household": r.household,
            "parent": r.parent,
        }
    )
    ent = pd.DataFrame(
        {
            "id": np.arange(ne, dtype=np.int32),
            "kind": np.where(e.kind == 0, "enterprise", "individual_business"),
            "district": pd.Categorical.from_codes(e.district, pop.district_names),
            "sector": pd.Categorical.from_codes(e.sector, pop.sector_names),
            "employees": e.employees,
            "legal_rep": e.legal_rep,
        }
    )
    for frame, side, subj_is in ((res, st.res, True), (ent, st.ent, False)):
        if side.scorer is not None:
            frame["score"] = side.score
            floors = side.scorer.rules.grade_floors
            frame["grade"] = pd.Categorical.from_codes(
                grades_of(side.score, floors), side.scorer.rules.grade_names
            )
        for b, lname in enumerate(side.lists.names):
            frame[f"on_{lname}"] = (side.list_state.mask >> b) & 1 == 1
            frame[f"wrongful_{lname}"] = (side.list_state.wrongful >> b) & 1 == 1
        sel = res_subject if subj_is else ~res_subject
        frame["records"] = np.bincount(log["subject"][sel], minlength=side.n).astype(np.int32)
        frame["erroneous_records"] = np.bincount(
            log["subject"][sel & log["erroneous"]], minlength=side.n
        ).astype(np.int32)
    last = st.days - 1
    res["days_blacklisted"] = st.days_blacklisted
    res["blocked_attempts"] = st.blocked_count
    res["wrongful_blocked_attempts"] = st.wrongful_count
    res["listed_contacts"] = st.listed_contacts.astype(np.int32)  # schema as before
    res["days_wrongfully_blacklisted"] = st.trail.days_wrongful
    res["days_listed_unaware"] = st.dp.days_unaware
    first = st.trail.first_shock_day
    res["first_income_shock_day"] = np.where(first >= 0, first - st.burn_in, -1).astype(np.int16)
    res["income_shocks"] = st.trail.income_shocks
    res["income_factor"] = st.income.all_at(last)
    res["posting_propensity"] = st.chill.all_at(last)
    records = pd.DataFrame(log)
    records.insert(0, "id", np.arange(len(records), dtype=np.int64))
    records["subject_type"] = np.where(res_subject, "resident", "enterprise")
    records["department"] = pd.Categorical.from_codes(
        st.kinds.department[log["kind"]], st.kinds.department_names
    )
    records["kind"] = pd.Categorical.from_codes(log["kind"], st.kinds.names)
    records["points"] = st.points[log["kind"]]
    records["status"] = pd.Categorical.from_codes(log["status"], list(STATUS_NAMES))
    return {"residents": res, "enterprises": ent, "records": records}


def reported_records(log: dict[str, np.ndarray], burn_in: int) -> dict[str, np.ndarray]:
    """The record log's columns without the records written in a burn-in of `burn_in`
    days, their days (day, effective_day and the set ones of UNSET_DAY_COLUMNS) counted
    from the reported day 0."""
    if burn_in == 0:
        return log
    keep = log["day"] >= burn_in
    out = {name: col[keep] for name, col in log.items()}
    for name in ("day", "effective_day", *UNSET_DAY_COLUMNS):
        col = out[name]
        out[name] = np.where(col >= 0, col - burn_in, col).astype(col.dtype)
    return out
