"""Plots: every figure draws for one run and for several; the statistics behind them."""

from __future__ import annotations

import math

import pytest
from matplotlib.figure import Figure

import scslab
from scslab import Results, load_run
from scslab.analysis.stats import wilson_interval
from scslab.presentation import grouprates, plots
from scslab.presentation.variants import family, variants
from tests.tiny_runs import tiny_runs


@pytest.fixture(scope="module")
def runs() -> dict[str, Results]:
    return {k: load_run(p) for k, p in tiny_runs().items()}


def test_overview_is_a_six_panel_figure(runs):
    fig = scslab.plot(runs["seed1"])
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6
    # beijing-2018 is a rollout: the share enrolled in the score on a right-hand axis
    assert any(ax.get_ylabel() == "% enrolled" for ax in fig.axes)
    assert "On each list" in titles
    assert "5,000 residents, 30 days, seed 1" in fig.get_suptitle()


def test_plot_one_metric_and_a_family(runs):
    res = runs["seed1"]
    assert len(scslab.plot(res, "blacklisted").axes[0].lines) == 1
    blocked = family(res.to_frame(), "blocked")
    assert len(blocked) > 3
    assert len(scslab.plot(res, "blocked").axes[0].lines) == len(blocked)
    by_hukou = scslab.plot(res, "blacklisted", group_by="hukou")
    assert sorted(line.get_label() for line in by_hukou.axes[0].lines) == ["local", "migrant"]


def test_plot_unknown_metric_names_it(runs):
    with pytest.raises(ValueError, match="no metric 'nonsense'"):
        scslab.plot(runs["seed1"], "nonsense")


def test_seeds_form_one_variant_and_scenarios_differ(runs):
    vs = variants([runs["seed1"], runs["seed2"], runs["noisy"]])
    assert [v.label for v in vs] == ["beijing-2018", "beijing-2018-noisy"]
    assert vs[0].seeds == [1, 2]
    assert len(vs[1].runs) == 1
    assert vs[0].color != vs[1].color


FIGURES = [
    plots.overview,
    plots.list_sizes,
    plots.score_distribution,
    plots.blocked_by_domain,
    plots.records_by_department,
    plots.wrongful_sanctions,
    plots.disparate_impact,
    plots.green_channel,
    plots.posting,
]


@pytest.mark.parametrize("draw", FIGURES, ids=lambda f: f.__name__)
def test_every_figure_draws_for_one_and_several_runs(runs, draw):
    for selection in ([runs["seed1"]], list(runs.values())):
        fig = draw(selection)
        assert isinstance(fig, Figure)
        assert any(ax.get_visible() for ax in fig.axes)


def test_rates_per_100k_are_counts_over_group_size(runs):
    res = runs["seed1"]
    rates = grouprates.group_rates(res, "hukou", "blacklisted").set_index("group")
    m = res.metrics
    hukou = m[m["group_by"] == "hukou"]
    last = hukou[hukou["day"] == hukou["day"].max()]
    for group in ("local", "migrant"):
        n = last[(last["group"] == group) & (last["metric"] == "residents")]["value"].sum()
        k = last[(last["group"] == group) & (last["metric"] == "blacklisted")]["value"].sum()
        row = rates.loc[group]
        assert row["rate"] == pytest.approx(100_000 * k / n)
        if row["reason"]:  # too few events: no interval
            assert math.isnan(row["lo"]) and math.isnan(row["hi"])
        else:
            assert row["lo"] <= row["rate"] <= row["hi"]
        assert row["runs"] == 1


def test_rates_across_seeds_use_the_seed_spread(runs):
    rates = grouprates.group_rates([runs["seed1"], runs["seed2"]], "income_decile", "blocked")
    assert list(rates["group"]) == [str(k) for k in range(1, 11)]
    assert (rates["runs"] == 2).all()
    single = [
        grouprates.group_rates(runs[s], "income_decile", "blocked") for s in ("seed1", "seed2")
    ]
    mean = (single[0]["rate"] + single[1]["rate"]) / 2
    assert list(rates["rate"]) == pytest.approx(list(mean))


def test_disparity_ratios_compare_groups(runs):
    ratios = grouprates.disparity_ratios(runs["seed1"])
    assert set(ratios["comparison"]) <= {"migrant / local", "poorest / richest decile"}
    rates = grouprates.group_rates(runs["seed1"], "hukou", "blacklisted").set_index("group")["rate"]
    row = ratios[
        (ratios["comparison"] == "migrant / local")
        & (ratios["measure"] == grouprates.RATE_LABELS["blacklisted"])
    ]
    if row["reason"].iloc[0]:  # too few events on a side: no ratio, a reason
        assert math.isnan(row["ratio"].iloc[0]) and "events" in row["reason"].iloc[0]
    else:
        assert row["ratio"].iloc[0] == pytest.approx(rates["migrant"] / rates["local"])


def test_wilson_interval():
    assert wilson_interval(0, 100) == pytest.approx((0.0, 0.0370), abs=1e-4)
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(3, 0) == (0.0, 0.0)


def test_scores_not_collected_are_named_in_the_figures() -> None:
    """SCS-ref-1 leaves the score tally off (outputs.scores): its score panels say so."""
    from scslab import Simulation

    from .conftest import BENCHMARKS

    res = Simulation(BENCHMARKS / "scs-ref-1.yaml", seed=1, residents=500, days=5).run()
    assert res.tables["score_histogram"].empty
    fig = plots.score_distribution([res])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    # (the histogram's panel and the grades')
    assert texts.count("scores not collected (outputs.scores: false)") == 2
