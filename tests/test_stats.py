"""Statistics a journalist will quote: intervals that account for events clustering on
residents, no negative lower bounds, no infinite ratios, no intervals across fewer than
3 seeds, labelled bands, readable scenario differences."""

from __future__ import annotations

import copy
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import scslab.analysis.compare
from scslab import load_run
from scslab.analysis import figures
from scslab.analysis.compare import compare, compare_table
from scslab.analysis.harm import measure
from scslab.analysis.harmsummary import harm_view, headline_across_seeds, summarise
from scslab.analysis.stats import (
    Z95,
    cluster_rate,
    cluster_ratio,
    katz_ratio,
    mean_ci,
    seed_interval,
    t_quantile,
    too_few,
)
from scslab.presentation import grouprates, plots
from scslab.presentation.report import build_report, load_for_report
from scslab.presentation.reportsections import interval_method, key_figures
from scslab.presentation.variants import band_note, variants
from scslab.rundir.results import Results
from tests.audit_helpers import tiny_run


# ------------------------------------------------------------------ a run made by hand
def fake_run(
    district_sizes: dict[str, int],
    migrants: int,
    wrongful: dict[int, int],
    seed: int = 1,
    sha: str = "fake",
) -> Results:
    """A run of residents in districts (the first `migrants` are migrants, all in
    income decile 5) with wrongful blocked attempts per resident id, as metrics and as
    the residents table."""
    district = np.concatenate([[d] * n for d, n in district_sizes.items()])
    n = len(district)
    hukou = np.where(np.arange(n) < migrants, "migrant", "local")
    counts = np.zeros(n, np.int32)
    for rid, c in wrongful.items():
        counts[rid] = c
    residents = pd.DataFrame(
        {
            "hukou": hukou,
            "income_decile": np.full(n, 5, np.int8),
            "district": district,
            "blocked_attempts": counts,
            "wrongful_blocked_attempts": counts,
        }
    )
    rows = []
    for by in ("city", "hukou", "income_decile", "district"):
        keys = np.full(n, "all") if by == "city" else residents[by].astype(str).to_numpy()
        for g in dict.fromkeys(keys):
            sel = keys == g
            for day in (0, 1):
                rows.append((day, by, g, "residents", float(sel.sum())))
                rows.append((day, by, g, "blacklisted", 0.0))
            for metric in ("blocked:flight", "wrongful_blocked:flight"):
                rows.append((1, by, g, metric, float(counts[sel].sum())))
    metrics = pd.DataFrame(rows, columns=["day", "group_by", "group", "metric", "value"])
    manifest = {"scenario": "fake", "scenario_sha256": sha, "residents": n, "days": 2}
    manifest["seed"] = seed
    return Results({"metrics": metrics, "residents": residents}, manifest, "name: fake\n")


def rate_row(run: Results | list[Results], group_by: str, group: str) -> pd.Series:
    rates = grouprates.group_rates(run, group_by, "wrongful_blocked")
    return rates.set_index("group").loc[group]


# ------------------------------------------------------------------ clustering
def test_fifteen_attempts_from_two_residents_get_no_interval_but_a_reason() -> None:
    # about 1,040 per 100,000 in one district: 14 attempts by one resident, 1 by another
    run = fake_run({"Miyun": 1440, "Yanqing": 3000}, migrants=0, wrongful={3: 14, 7: 1})
    row = rate_row(run, "district", "Miyun")
    assert row["rate"] == pytest.approx(100_000 * 15 / 1440)
    assert math.isnan(row["lo"]) and math.isnan(row["hi"])
    assert row["reason"] == "too few events (15 from 2 residents)"


def test_events_on_few_residents_give_a_wider_interval_than_on_many() -> None:
    size = {"Miyun": 20_000}
    few = rate_row(fake_run(size, 0, {k: 10 for k in range(6)}), "district", "Miyun")
    many = rate_row(fake_run(size, 0, {k: 1 for k in range(60)}), "district", "Miyun")
    assert few["rate"] == many["rate"] and not few["reason"] and not many["reason"]
    assert few["hi"] - few["lo"] > 2 * (many["hi"] - many["lo"])
    assert few["lo"] >= 0 and many["lo"] <= many["rate"] <= many["hi"]


def test_cluster_rate_resamples_residents() -> None:
    one = cluster_rate(np.r_[np.full(9, 1), 40, np.zeros(990)], 1000)
    assert one["events"] == 49 and one["residents"] == 10 and one["reason"] is None
    assert one["lo"] < one["rate"] < one["hi"] and one["lo"] >= 0
    assert cluster_rate([14, 1], 1440)["reason"] == "too few events (15 from 2 residents)"
    again = cluster_rate(np.r_[np.full(9, 1), 40, np.zeros(990)], 1000)
    assert (again["lo"], again["hi"]) == (one["lo"], one["hi"])  # a fixed seed


# ------------------------------------------------------------------ too few, no infinity
def test_a_group_without_events_gives_no_ratio_but_a_reason() -> None:
    # 20 wrongful blocked attempts among migrants, none among local residents
    run = fake_run({"Miyun": 4000}, migrants=2000, wrongful={k: 2 for k in range(10)})
    ratios = grouprates.disparity_ratios(run)
    row = ratios[
        (ratios["comparison"] == "migrant / local")
        & (ratios["measure"] == grouprates.RATE_LABELS["wrongful_blocked"])
    ].iloc[0]
    assert math.isnan(row["ratio"]) and row["reason"] == "no events among local residents"
    assert np.isfinite(ratios["ratio"].dropna()).all()
    text = build_report(run)
    assert "∞" not in text and "no events among local residents" in text


def test_katz_and_cluster_ratios_refuse_zero_and_too_few() -> None:
    assert katz_ratio(5, 100, 0, 100)["ratio"] is None
    assert katz_ratio(5, 100, 0, 100)["reason"] == "too few events (5) among group 1"
    assert katz_ratio(50, 100, 0, 100)["reason"] == "no events among group 2"
    assert katz_ratio(50, 100, 20, 0)["reason"] == "no group 2"
    r = cluster_ratio(
        (np.r_[14, 1, np.zeros(98)], np.r_[np.ones(30), np.zeros(70)]), (100, 100), (1e4, 1e4)
    )
    assert r["ratio"] is None
    assert r["reason"] == "too few events (15 from 2 residents) among group 1"
    assert too_few(0) == "no events" and too_few(12, 6) is None


def test_a_lower_bound_across_seeds_is_never_negative() -> None:
    c = mean_ci([0.0, 0.0, 30.0], floor=0.0)
    assert c["lo"] == 0.0 and c["hi"] > 30.0
    m = measure(tiny_run("beijing-2018", seed=1))
    seeds = []
    for k, value in enumerate((0.0, 0.0, 64.0)):
        s = copy.deepcopy(m)
        s["seed"] = k + 1
        s["wrongful"]["wrongful_blocked_attempts_per_100k"] = value
        seeds.append(s)
    text = render(harm_view(seeds))
    row = next(line for line in text.splitlines() if "wrongful blocked attempts" in line)
    assert "[0.00, " in row
    assert not re.search(r"\[-\d", text)  # no negative lower bound anywhere


# ------------------------------------------------------------------ t quantiles
def test_t_quantiles_are_exact_for_every_df() -> None:
    # reference values: two-sided 95% Student t quantiles
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(40) == pytest.approx(2.0211, abs=1e-4)  # not yet the normal's 1.96
    assert t_quantile(11) > t_quantile(12) > t_quantile(13)  # every df, none rounded
    assert t_quantile(10**9) == pytest.approx(Z95, abs=1e-8)
    assert t_quantile(4, level=0.90) == pytest.approx(2.1318, abs=1e-4)
    assert math.isnan(t_quantile(0))
    c = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert c["hi"] - c["mean"] == pytest.approx(
        t_quantile(4) * np.std([1, 2, 3, 4, 5], ddof=1) / 5**0.5
    )


def test_audit_compare_and_report_give_one_interval_for_the_same_seeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = [tiny_run("beijing-2018", seed=s) for s in (1, 2, 3)]
    runs = [load_for_report(p) for p in paths]
    # one set of per-seed values: residents on a blacklist on the last day, per 100,000
    values = figures.daily_by_seed(runs, "blacklisted").iloc[-1].tolist()
    assert len(set(values)) > 1  # a spread across seeds: the interval is not a point
    want = mean_ci(values, floor=0.0)
    assert want["lo"] > 0 and want["hi"] > want["mean"]
    # the audit and compare read them as a headline figure of each seed's harm measures
    fig = "ever blacklisted per 100k"
    base = measure(paths[0])
    measures = {}
    for seed, (path, value) in enumerate(zip(paths, values, strict=True), start=1):
        m = copy.deepcopy(base)
        m["seed"] = seed
        m["wrongful"]["ever_blacklisted_per_100k"] = value
        measures[path] = m
    seeds = list(measures.values())

    def same(c: dict) -> bool:
        return (c["mean"], c["lo"], c["hi"]) == (want["mean"], want["lo"], want["hi"])

    # audit RUN...: the printed table and the JSON summary
    assert same(headline_across_seeds(seeds)[fig])
    assert same(summarise(seeds)[f"headline.{fig}"])
    row = next(line for line in render(harm_view(seeds)).splitlines() if fig in line)
    assert f"[{want['lo']:.2f}, {want['hi']:.2f}]" in row
    # compare: each side's mean and interval
    monkeypatch.setattr(scslab.analysis.compare, "measure", lambda path, **kw: measures[Path(path)])
    crow = next(r for r in compare(paths, paths).rows if r["figure"] == fig)
    assert same({"mean": crow["a"], "lo": crow["a_lo"], "hi": crow["a_hi"]})
    assert same({"mean": crow["b"], "lo": crow["b_lo"], "hi": crow["b_hi"]})
    # the report's key figures
    kf = key_figures(variants(runs)).set_index("figure").iloc[:, 0]
    cell = kf["on a blacklist on the last day, per 100,000"]
    assert cell == f"{want['mean']:,.1f} [{want['lo']:,.1f}, {want['hi']:,.1f}]"
    assert same(seed_interval(values))


def test_city_metrics_by_seed() -> None:
    runs = [fake_run({"Miyun": 20_000}, 0, {k: 1 for k in range(n)}, seed=n) for n in (30, 40)]
    assert figures.totals_by_seed(runs, "blocked:flight") == [150.0, 200.0]  # per 100,000
    assert figures.totals_by_seed(runs, "blocked:flight", rate=False) == [30.0, 40.0]
    assert figures.totals_by_seed(runs, "blocked:hotels") == [0.0, 0.0]  # absent: none
    daily = figures.daily_by_seed(runs, "blocked:flight")
    assert daily.shape == (2, 2) and daily.iloc[1].tolist() == [150.0, 200.0]


# ------------------------------------------------------------------ fewer than 3 seeds
def render(items: list) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    for item in items:
        console.print(item)
    return console.export_text()


def test_two_seeds_print_no_interval_across_seeds() -> None:
    a = [tiny_run("beijing-2018", seed=s) for s in (1, 2)]
    b = [tiny_run("beijing-2018-safeguards", seed=s) for s in (1, 2)]
    comp = compare(a, b)
    assert all(r["lo"] is None and r["hi"] is None for r in comp.rows)
    assert any("at least 3 seeds (2 given)" in n for n in comp.notes)
    text = render([compare_table(comp)])
    assert "not available" in text
    assert not re.search(r"\[-?\d", text)
    view = render(harm_view([measure(p) for p in a]))
    assert "No intervals across seeds: intervals across seeds need at least 3 seeds" in view


def test_group_rates_across_two_seeds_pool_residents_not_seeds() -> None:
    runs = [fake_run({"Miyun": 20_000}, 0, {k: 1 for k in range(30)}, seed=s) for s in (1, 2)]
    row = rate_row(runs, "district", "Miyun")
    assert row["interval"] == "residents resampled" and row["runs"] == 2
    three = [*runs, fake_run({"Miyun": 20_000}, 0, {k: 1 for k in range(40)}, seed=3)]
    assert rate_row(three, "district", "Miyun")["interval"] == "t across seeds"


# ------------------------------------------------------------------ bands and report
def band_labels(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()] + [
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]


def test_every_band_says_what_it_is() -> None:
    run = load_run(tiny_run("beijing-2018", seed=1))
    two = [run, load_run(tiny_run("beijing-2018", seed=2))]
    assert "shaded: range across seeds" in band_labels(plots.wrongful_sanctions(two))
    three = [*two, load_run(tiny_run("beijing-2018", seed=3))]
    labels = band_labels(plots.wrongful_sanctions(three))
    assert "shaded: 10-90% of seeds" in labels
    assert "range across seeds" not in " ".join(labels)
    assert "10-90% of the seeds' daily values" in band_note(variants(three))
    said = interval_method(variants(three))
    assert "Student t interval across seeds" in said and "pooled" not in said
    assert "not available" in interval_method(variants(two))
    text = build_report([load_for_report(p.path) for p in two])  # type: ignore[arg-type]
    assert "shaded: range across seeds (min to max)" in text


def test_scenario_differences_are_escaped_once_and_readable() -> None:
    paths = [tiny_run("beijing-2018"), tiny_run("beijing-2018-safeguards")]
    text = build_report([load_for_report(p) for p in paths])
    diff = text[text.index("Where the scenarios differ") :]
    diff = diff[: diff.index("</table>")]
    assert "&amp;#x27;" not in diff and "&#x27;" not in diff and "[" not in diff
    assert "harmful_post" in text


def test_coinciding_lines_of_two_variants_stay_distinguishable() -> None:
    a = load_run(tiny_run("beijing-2018", seed=1))
    b = load_run(tiny_run("beijing-2018-safeguards", seed=1))
    fig = plots.posting([a, b])
    markers = {line.get_marker() for line in fig.axes[0].get_lines()}
    assert len(markers - {"None", None, ""}) == 2
    text = build_report([load_for_report(Path(str(r.path))) for r in (a, b)])
    assert "Each variant has its own marker" in text


def test_json_gives_null_and_a_reason_for_ratios_on_too_few_events() -> None:
    m = measure(tiny_run("beijing-2018", seed=1))
    d = m["disparate_impact"]
    for row in (d["listing"], d["blocked_per_attempt"], *d["listing_by_district"]):
        assert "reason" in row
        assert (row["ratio"] is None) == (row["reason"] is not None), row
        if row["ratio"] is None:
            assert row["lo"] is None and row["hi"] is None
            assert "events" in row["reason"] or row["reason"].startswith("no ")
    iv = m["wrongful"]["intervals"]["wrongful_blocked_attempts_per_100k"]
    assert iv["lo"] is None or iv["lo"] >= 0
    assert iv["reason"] is None or "events" in iv["reason"]


def test_without_per_resident_counts_events_get_no_interval_but_a_reason() -> None:
    run = fake_run({"Miyun": 20_000}, 0, {k: 1 for k in range(60)})
    del run.tables["residents"]  # as a run written with --no-agents
    row = rate_row(run, "district", "Miyun")
    assert row["rate"] == pytest.approx(300.0) and math.isnan(row["lo"])
    assert row["reason"] == "no interval: the runs have no per-resident counts of these events"
