"""Results: what a run produced, as data; its run directory written and read back.

A run directory holds:

- `scenario.yaml`: the resolved scenario; `manifest.json`: version, seed, scale, hash,
  timings;
- `metrics.parquet`: day, group_by, group, metric, value (long form, one row each);
- `score_histogram.parquet`: day, subject, bin_lo (points), count;
- `residents.parquet`, `enterprises.parquet`: final state of every synthetic agent;
- `records.parquet`: every record, with its hidden truth and due-process days;
- `listings.parquet`: every listing change (day, subject, list, entered, wrongful, reason).

A directory is written whole or not at all, and only where scslab may write (scslab.rundir.claim).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scslab.rundir.claim import Staging, claimed
from scslab.rundir.manifest import check_tables, read_manifest, run_dirs

TABLES = ("metrics", "score_histogram", "residents", "enterprises", "records", "listings")


class Results:
    """What a run produced: metrics by group and day, histograms, agents, records."""

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        manifest: dict[str, Any],
        scenario_yaml: str,
        path: Path | None = None,
    ) -> None:
        self.tables = tables
        self.manifest = manifest
        self.scenario_yaml = scenario_yaml
        self.path = path

    @property
    def metrics(self) -> pd.DataFrame:
        """The long metrics table: day, group_by, group, metric, value."""
        return self.tables["metrics"]

    def to_frame(self, group_by: str = "city") -> pd.DataFrame:
        """Daily metrics as a wide frame: one row per (day, group), one column per metric
        (the metrics table's `date` is start_date plus the day)."""
        m = self.metrics
        m = m[m["group_by"] == group_by]
        if m.empty:
            raise ValueError(
                f"group_by: no metrics for '{group_by}'; "
                f"allowed: {', '.join(self.metrics['group_by'].unique())}"
            )
        wide = m.pivot_table(
            index=["day", "group"], columns="metric", values="value", sort=False
        ).reset_index()
        wide.columns.name = None
        if group_by == "city":
            wide = wide.drop(columns="group").set_index("day")
        return wide

    @property
    def start_date(self) -> pd.Timestamp:
        """The date of day 0 (2018-01-01 for runs written before the calendar)."""
        return pd.Timestamp(self.manifest.get("start_date") or "2018-01-01")

    def final(self, group_by: str = "city") -> pd.DataFrame:
        """Metrics on the last day, one row per group."""
        wide = self.to_frame(group_by)
        if group_by == "city":
            return wide.iloc[[-1]]
        last = wide["day"].max()
        return wide[wide["day"] == last].set_index("group")

    def totals(self) -> dict[str, float]:
        """City-wide sums over all days of every metric (meaningful for event counts)."""
        m = self.metrics
        city = m[m["group_by"] == "city"]
        return city.groupby("metric", sort=False)["value"].sum().to_dict()

    def write(
        self, out_dir: str | Path, elapsed_s: float | None = None, overwrite: bool = False
    ) -> Path:
        """Write the run directory `out_dir`, whole or not at all (see scslab.rundir.claim):
        a new directory, or an existing run replaced when `overwrite` (kept until the new
        one is complete). Raises RunDirError (one line) for any other target.

        `elapsed_s`: seconds the run took before writing; with it the manifest's timings
        get `write_s` and `total_s`.
        """
        with claimed(out_dir, overwrite) as stage:
            assert stage is not None
            path = self.write_to(stage, elapsed_s)
        return path

    def write_to(self, stage: Staging, elapsed_s: float | None = None) -> Path:
        """Fill a claimed run directory with this run's files and commit it."""
        t0 = time.perf_counter()
        tmp = stage.partial
        (tmp / "scenario.yaml").write_text(self.scenario_yaml, "utf-8")
        for name, frame in self.tables.items():
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
        if elapsed_s is not None:
            timings = self.manifest.setdefault("timings", {})
            timings["write_s"] = round(time.perf_counter() - t0, 4)
            timings["total_s"] = round(elapsed_s + timings["write_s"], 4)
        (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2), "utf-8")
        self.path = stage.commit()
        return self.path


def load_run(path: str | Path) -> Results:
    """Read a run directory written by Results.write.

    The manifest is validated and checked against scenario.yaml and the tables
    (scslab.rundir.manifest); a run that fails raises ManifestError, one line naming the file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    tables = {p.stem: pq.read_table(p).to_pandas() for p in sorted(path.glob("*.parquet"))}
    check_tables(path, manifest, tables)
    return Results(tables, manifest.to_dict(), (path / "scenario.yaml").read_text("utf-8"), path)


def query(sql: str, runs: str | Path | Sequence[str | Path] = "runs") -> pd.DataFrame:
    """Run SQL over runs with DuckDB; `runs`: a run directory, a folder of run
    directories, or a list of either (corrupt runs inside a folder are skipped with a
    warning on stderr).

    Each table is a view over all runs' Parquet files of that name, with a `run` column
    (the run directory's name): `metrics`, `score_histogram`, `residents`, `enterprises`,
    `records`, `listings`. File names reach DuckDB as values, never as SQL text.
    """
    import duckdb

    con = duckdb.connect()
    dirs = run_dirs([runs] if isinstance(runs, str | Path) else runs)
    for name in TABLES:
        files = [(d / f"{name}.parquet").as_posix() for d in dirs]
        files = [f for f in files if Path(f).is_file()]
        if files:
            rel = con.read_parquet(files, filename=True)
            rel.project(
                "regexp_extract(filename, '([^/]+)/[^/]+$', 1) AS run, * EXCLUDE (filename)"
            ).create_view(name)
    return con.execute(sql).fetchdf()
