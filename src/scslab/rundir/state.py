"""A run's state in its run directory: `state.npz`, from which another run goes on.

`scslab run --keep-state` (Simulation(keep_state=True)) writes the state the run
ended in (engine/snapshot.py: every array and number of the run's state, by path) as
one NumPy archive, read back with allow_pickle=False; the manifest's `state` says its
size. `scslab run --from RUN` (Simulation.continue_from) reads it with RUN's
scenario.yaml and manifest and writes a new run directory of the whole history.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from scslab.engine.snapshot import Snapshot, SnapshotError
from scslab.rundir.manifest import RunError

STATE = "state.npz"


class StateError(RunError, ValueError):
    """A run directory's state that cannot be read or continued; str() is one line."""


def write_state(folder: Path, snapshot: Snapshot) -> int:
    """Write `snapshot` to folder/state.npz (zip-compressed: the daily rows are mostly
    zeros); returns the file's size (bytes)."""
    file = folder / STATE
    with file.open("wb") as f:
        np.savez_compressed(f, **snapshot.to_arrays())  # type: ignore[arg-type]
    return file.stat().st_size


def read_state(run_dir: Path) -> Snapshot:
    """The state kept in run_dir/state.npz; StateError (one line naming the file) when it
    is missing or not a state."""
    file = run_dir / STATE
    if not file.is_file():
        raise StateError(
            f"{file}: missing; only a run made with --keep-state (or continued with it) "
            "can be continued"
        )
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        return Snapshot.from_arrays(arrays)
    except SnapshotError as err:
        raise StateError(f"{file}: {err}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise StateError(f"{file}: not a state archive ({err})") from None
