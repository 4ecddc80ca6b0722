"""Results: frames by group, reading runs back, DuckDB queries, atomic writes."""

from __future__ import annotations

import pytest

from scslab import Simulation, load_run, query


def test_to_frame_by_group(small_run) -> None:
    city = small_run.to_frame()
    assert city.index.name == "day" and len(city) == 90
    by_district = small_run.to_frame("district")
    assert by_district["group"].nunique() == 16
    hukou = small_run.final("hukou")
    assert set(hukou.index) == {"local", "migrant"}
    with pytest.raises(ValueError, match="allowed: city"):
        small_run.to_frame("planet")


def test_load_run_round_trip(small_run) -> None:
    back = load_run(small_run.path)
    assert back.manifest == small_run.manifest
    assert set(back.tables) == {
        "metrics",
        "score_histogram",
        "residents",
        "enterprises",
        "records",
        "listings",
    }
    assert len(back.tables["residents"]) == 8000
    with pytest.raises(FileNotFoundError, match="not a scslab run"):
        load_run(small_run.path.parent / "nothing")


def test_query_across_runs(small_run) -> None:
    df = query(
        "SELECT run, sum(value) AS blocked FROM metrics WHERE group_by = 'city' "
        "AND metric LIKE 'blocked:%' GROUP BY run",
        runs=small_run.path.parent,
    )
    assert list(df["run"]) == ["small"]
    assert df["blocked"].iloc[0] == sum(
        v for k, v in small_run.totals().items() if k.startswith("blocked:")
    )


def test_failed_write_leaves_nothing(tmp_path, monkeypatch) -> None:
    res = Simulation("beijing-2018", seed=1, residents=1000, days=3).run()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("scslab.results.pq.write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        res.write(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
