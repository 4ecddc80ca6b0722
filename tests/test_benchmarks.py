"""Smoke test of the benchmark harness: it runs and writes its tables (not how fast)."""

from __future__ import annotations

import csv
import subprocess
import sys

from .conftest import BENCHMARKS


def bench(tmp_path, *args: str) -> None:
    """benchmarks/bench.py ARGS, its tables into tmp_path; it must succeed."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench.py"), *args, "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_bench_scaling_and_mesa_smoke(tmp_path) -> None:
    bench(tmp_path, "scaling", "--scales", "0.0001", "0.0002", "--days", "3")
    bench(
        tmp_path, "mesa", "--residents", "300", "--days", "3", "--mesa-days", "3", "--repeats", "1"
    )
    bench(tmp_path, "oracle", "--residents", "300", "--days", "4", "--seeds", "2")
    rows = list(csv.DictReader(open(tmp_path / "scaling.csv")))
    assert [int(r["residents"]) for r in rows] == [2154, 4308]
    assert all(float(r["peak_rss_gib"]) > 0 for r in rows)
    assert (tmp_path / "scaling.png").stat().st_size > 0
    assert {r["engine"] for r in rows} == {"compiled"}  # beijing-2018, by default
    assert all(r["machine"].endswith(" cores)") for r in rows)  # the processor recorded
    mesa = list(csv.DictReader(open(tmp_path / "mesa.csv")))
    m = mesa[0]
    assert m["machine"] == rows[0]["machine"]
    for series in ("compiled", "general", "compiled_scores"):  # (with the score tally)
        assert float(m[f"{series}_ratio_days_only"]) >= float(m[f"{series}_ratio"]) > 0
        assert 0 < float(m[f"{series}_days_s"]) <= float(m[f"{series}_simulate_s"])
    oracle = list(csv.DictReader(open(tmp_path / "oracle.csv")))
    assert [int(r["day"]) for r in oracle] == [0, 1, 2, 3]
    assert {"scslab_listed_lo", "mesa_green_hi"} <= set(oracle[0])
    assert (tmp_path / "oracle.png").stat().st_size > 0


def test_versus_compares_two_source_folders() -> None:
    """benchmarks/versus.py times the same checkout as both versions and reports a ratio."""
    src = str(BENCHMARKS.parent / "src")
    options = ["--residents", "60", "--rounds", "1", "--runs", "1"]
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "versus.py"), src, src, *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("N=60: before ") and "x (medians" in proc.stdout


def test_bench_sweep_smoke(tmp_path) -> None:
    """bench.py sweep times the same runs three ways and writes the overhead and speed-up."""
    bench(tmp_path, "sweep", "--runs", "2", "--residents", "400", "--days", "3", "--rounds", "1")
    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert [int(r["workers"]) for r in rows] == [0, 1, 2]
    assert all(float(r["wall_s"]) > 0 for r in rows)
    assert float(rows[1]["overhead"]) > -1 and float(rows[2]["speedup_vs_one_worker"]) > 0
