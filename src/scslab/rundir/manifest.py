"""A run directory's manifest, read back and checked before anything trusts it.

`read_manifest(run_dir)` reads `manifest.json`, validates it against `Manifest` (the
fields that `Simulation` writes) and checks that `scenario.yaml` beside it is the
scenario the run was made with (its SHA-256, as `Scenario.digest` computes it). Every
reader of run directories goes through it, so a damaged or edited run gives one line
naming the file and the key instead of a traceback or a silently wrong answer.

`check_tables` bounds the manifest by what the tables hold (days by the metrics table,
agents by the per-agent tables), so no reader sizes its work by a number the files do
not back. `run_dirs` lists run directories named or inside named folders, leaving out
(with a one-line warning on stderr) the corrupt ones found inside a folder, so one bad
run does not stop the reading of its neighbours.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scslab import __version__
from scslab.scenario.loader import parse_scenario
from scslab.scenario.safeyaml import ScenarioError, format_validation_error, read_yaml
from scslab.scenario.schema import Scenario

MANIFEST = "manifest.json"
SCENARIO = "scenario.yaml"
MAX_MANIFEST_BYTES = 1 << 20
"""A manifest is about 1 KB; anything above 1 MiB is not one."""


def _schema_max_days() -> int:
    """The longest run the scenario schema allows (days), read from its `days` field."""
    bounds = [m.le for m in Scenario.model_fields["days"].metadata if hasattr(m, "le")]
    return int(bounds[0]) if bounds else 20 * 365


MAX_DAYS = _schema_max_days()


class RunError(Exception):
    """A run directory that cannot be read or audited; str() is one line saying why."""


class ManifestError(RunError, ValueError):
    """A run directory whose manifest is missing, malformed or contradicted by its files."""


class NotARunError(ManifestError, FileNotFoundError):
    """A directory without a manifest.json: not a scslab run directory."""


class Counterfactual(BaseModel):
    """What a counterfactual run (NAME.no-monitoring) was made from."""

    model_config = ConfigDict(strict=True, extra="allow")
    of: str
    change: str = ""


class Manifest(BaseModel):
    """manifest.json of a run directory (what `Simulation` writes).

    Counts are agents, `days` simulation days (bounded by the scenario schema), `scale`
    the share of the whole city simulated; `timings` are seconds. Keys written by other
    versions are kept (extra keys are allowed); the provenance keys are optional, since
    older runs lack some of them.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    scslab_version: str
    scenario: str
    scenario_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)]
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    residents: Annotated[int, Field(ge=1)]
    enterprises: Annotated[int, Field(ge=0)]
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)]
    agent_tables: Annotated[bool, Field(strict=False)]  # 0 and 1 too, as a caller may pass
    created_utc: str | None = None
    start_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    """The date of day 0 (ISO); runs written before the calendar have none."""
    python: str | None = None
    numpy: str | None = None
    numba: str | None = None
    threads: int | None = None
    engine: Literal["general", "compiled"] | None = None
    timings: dict[str, Any] | None = None
    counterfactual: Counterfactual | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest as it was read (only the keys the file holds)."""
        return self.model_dump(mode="json", exclude_unset=True)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(file: Path) -> Any:
    """The JSON value in `file`; ManifestError (one line) when it cannot be one."""
    try:
        size = file.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{file}: {size:,} bytes; a manifest is about 1 KB (at most 1 MiB)")
        text = file.read_text("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{file}: not UTF-8 text") from None
    except OSError as err:
        raise ManifestError(f"{file}: cannot be read ({err.strerror or err})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:  # JSONDecodeError, NaN/Infinity, a huge integer
        raise ManifestError(f"{file}: not valid JSON ({err})") from None


@lru_cache(maxsize=256)
def _scenario_digest(file: str, mtime_ns: int, size: int) -> str:
    """The digest of a run's scenario file as written: Scenario.digest of the scenario
    it was written from (the SHA-256 of its values as JSON with sorted keys), computed
    from the values in the file, so that a run made before a new key joined the schema
    (whose default the file lacks) still matches; the file must also be a valid scenario
    today. Cached by path, modification time and size."""
    text = Path(file).read_text("utf-8")
    parse_scenario(text, file)
    data = json.dumps(read_yaml(text, file), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def _check_scenario(run_dir: Path, manifest: Manifest) -> None:
    """ManifestError unless scenario.yaml is the scenario the manifest's hash names."""
    file = run_dir / SCENARIO
    try:
        st = file.stat()
        digest = _scenario_digest(str(file), st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        raise ManifestError(f"{file}: missing; a run directory holds its scenario") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{file}: cannot be read ({err})") from None
    except ScenarioError as err:
        raise ManifestError(str(err)) from None
    if digest != manifest.scenario_sha256:
        why = "the file was edited or replaced after the run"
        if manifest.scslab_version != __version__:
            why += (
                f", or the run was made by scslab {manifest.scslab_version} (this is {__version__})"
            )
        raise ManifestError(
            f"{file}: does not match the manifest's scenario_sha256 (the run was made with "
            f"another scenario: {why})"
        )


def read_manifest(run_dir: str | Path, check_scenario: bool = True) -> Manifest:
    """The validated manifest of the run directory `run_dir`.

    Raises ManifestError (NotARunError without a manifest.json) with one line naming the
    file and the key. `check_scenario`: also check that scenario.yaml beside it hashes to
    the manifest's scenario_sha256 (Scenario.digest).
    """
    run_dir = Path(run_dir)
    file = run_dir / MANIFEST
    if not file.is_file():
        raise NotARunError(f"{run_dir}: not a scslab run directory (no {MANIFEST})")
    data = _load_json(file)
    if not isinstance(data, dict):
        raise ManifestError(f"{file}: must be a JSON object of keys to values")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as err:
        key, msg = format_validation_error(err)
        raise ManifestError(f"{file}: {key}: {msg}") from None
    if check_scenario:
        _check_scenario(run_dir, manifest)
    return manifest


def _rows(run_dir: Path, table: str, tables: Mapping[str, pd.DataFrame]) -> int | None:
    """Rows of a table: from the loaded frame, else from the Parquet footer (None: none)."""
    if table in tables:
        return len(tables[table])
    file = run_dir / f"{table}.parquet"
    if not file.is_file():
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(file).metadata.num_rows)


def check_tables(run_dir: Path, manifest: Manifest, tables: Mapping[str, pd.DataFrame]) -> None:
    """ManifestError unless the manifest's days and agent counts are what the tables hold.

    `tables` must hold the metrics table (days 0 to days - 1); the per-agent tables, where
    the run has them, must have one row per resident and per market entity.
    """
    file = run_dir / MANIFEST
    if "metrics" not in tables:
        raise ManifestError(f"{run_dir}: no metrics.parquet; the run directory is incomplete")
    day = pd.to_numeric(tables["metrics"]["day"], errors="coerce")
    last = day.max() if len(day) else math.nan
    if not math.isfinite(last) or int(last) + 1 != manifest.days:
        raise ManifestError(
            f"{file}: days: {manifest.days} does not match metrics.parquet "
            f"(last day {last}; days are 0 to days - 1)"
        )
    for table, key in (("residents", "residents"), ("enterprises", "enterprises")):
        n = _rows(run_dir, table, tables)
        if n is not None and n != getattr(manifest, key):
            raise ManifestError(
                f"{file}: {key}: {getattr(manifest, key):,} does not match {table}.parquet "
                f"({n:,} rows)"
            )


_warned: set[str] = set()
"""Warnings already printed by this process (each is printed once)."""


def warn_skipped(err: Exception) -> None:
    """One warning line on stderr: a run directory left out because it cannot be read.

    Each distinct warning is printed once per process, however often the run is met
    (a sweep's audits each look at the same neighbours).
    """
    line = f"warning: {err}; skipped"
    if line not in _warned:
        _warned.add(line)
        sys.stderr.write(line + "\n")


def dirs_with_manifest(folder: Path) -> list[Path]:
    """Directories directly inside `folder` that hold a manifest.json (sorted), leaving
    out hidden ones: `.NAME.partial` is a run being written or an old one being removed."""
    return sorted(
        m.parent for m in folder.glob(f"*/{MANIFEST}") if not m.parent.name.startswith(".")
    )


def run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named in `paths`, or directly inside a named folder (sorted).

    A named run directory with a bad manifest raises ManifestError; one found inside a
    folder is skipped with a warning on stderr. A folder without any readable run raises
    NotARunError.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / MANIFEST).is_file():
            read_manifest(p)
            found = [p]
        else:
            inside = dirs_with_manifest(p)
            found = []
            for q in inside:
                try:
                    read_manifest(q)
                except ManifestError as err:
                    warn_skipped(err)
                else:
                    found.append(q)
            if not found:
                why = "every run inside is unreadable" if inside else f"no {MANIFEST}"
                raise NotARunError(f"{p}: not a scslab run directory ({why})")
        out.extend(q for q in found if q not in out)
    return out
