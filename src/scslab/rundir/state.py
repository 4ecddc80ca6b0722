"""A run's state in its run directory: `state.npz`, from which another run goes on.

`scslab run --keep-state` (Simulation(keep_state=True)) writes the state the run
ended in (engine/snapshot.py: every array and number of the run's state, by path) as
one NumPy archive, read back with allow_pickle=False; the manifest's `state` says its
size. `scslab run --from RUN` (Simulation.continue_from) reads it with RUN's
scenario.yaml and manifest and writes a new run directory of the whole history.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from scslab.engine.snapshot import Snapshot, SnapshotError
from scslab.rundir.manifest import RunError

STATE = "state.npz"


class StateError(RunError, ValueError):
    """A run directory's state that cannot be read or continued; str() is one line."""


def write_state(folder: Path, snapshot: Snapshot) -> dict[str, Any]:
    """Write `snapshot` to folder/state.npz (zip-compressed: the daily rows are mostly
    zeros); returns the manifest's `state`: the file, its size (bytes) and its sha256,
    which read_state checks."""
    file = folder / STATE
    with file.open("wb") as f:
        np.savez_compressed(f, **snapshot.to_arrays())  # type: ignore[arg-type]
    return {"file": STATE, "bytes": file.stat().st_size, "sha256": _sha256(file)}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state(run_dir: Path, kept: Any) -> Snapshot:
    """The state kept in run_dir/state.npz, as the manifest's `state` (`kept`) describes
    it; StateError (one line naming the file) when it is missing, not a state, or not
    the file the run wrote (its sha256 differs: edited or damaged)."""
    file = run_dir / STATE
    if not file.is_file():
        raise StateError(
            f"{file}: missing; only a run made with --keep-state (or continued with it) "
            "can be continued"
        )
    if not isinstance(kept, dict) or not isinstance(kept.get("sha256"), str):
        raise StateError(f"{run_dir / 'manifest.json'}: state: no sha256 of {STATE}")
    if _sha256(file) != kept["sha256"]:
        raise StateError(
            f"{file}: not the state the run wrote (its sha256 differs from the manifest's: "
            "edited or damaged)"
        )
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        return Snapshot.from_arrays(arrays)
    except SnapshotError as err:
        raise StateError(f"{file}: {err}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise StateError(f"{file}: not a state archive ({err})") from None
