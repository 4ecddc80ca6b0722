"""A run's state at the end of a day, as plain arrays and numbers, and back.

`take(st)` walks the run's state (engine/state.py `RunState`) and keeps every numpy
array and plain number (int, float, bool, str, None) reachable from it through
objects' attributes, lists, tuples and dicts with int or str keys, by path: scores,
list states, the record log and its schedule, due process, the harm trail, chilling
and income, per-agent counts, the collected daily rows. What is not state is left
out: the scenario and the rules compiled from it (record kinds, lists, scores,
domains, activities, due process rules, metric spaces, group maps, the collectors'
running counts, which the next tally rebuilds), the synthetic city (a deterministic
function of the scenario, seed and size; `population_digest` checks it), the worker
thread and its futures, and a few arrays made from the city alone (SKIP). Anything
else the walk cannot keep (a set, a function, bytes) is a SnapshotError naming its
path, so that no new piece of state is lost without notice.

`restore(st, snapshot)` puts a snapshot into a freshly built RunState of the same
run (the same scenario, seed and size), after its timeline has been brought to the
snapshot's day (RunState.resume_at): arrays are copied in place where the fresh one
has the shape and type (so that objects sharing an array still share it), replaced
where they grew; objects of scslab's own classes missing from the fresh state are
made without their constructor and filled. No pickle: a snapshot is arrays (saved
with np.savez, loaded with allow_pickle=False) and a JSON tree of the rest.

The random streams are counter-based per (seed, stream, day) (scslab.streams), so the
state holds no generator: a run continued from its snapshot at day N draws what it
would have drawn had it not stopped.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scslab.engine.collectors import GroupMap, MetricSpace, StateCollector
from scslab.model.activities import ActivityRules, ResidentGroups
from scslab.model.departments import RecordKinds
from scslab.model.dueprocess import DueProcessRules
from scslab.model.lists import ListRules
from scslab.model.measures import DomainRules
from scslab.model.scoring import ScoreRules
from scslab.scenario.population import Population
from scslab.scenario.schema import Scenario

FORMAT = 1
"""The snapshot's layout; a snapshot of another is refused."""
NOT_STATE = (
    Scenario,
    Population,
    RecordKinds,
    ListRules,
    ScoreRules,
    DomainRules,
    ActivityRules,
    DueProcessRules,
    MetricSpace,
    GroupMap,
    ResidentGroups,
    StateCollector,
    Executor,
    Future,
)
"""Types that are rules, the city or machinery, rebuilt from the scenario (or not kept)."""
SKIP = {
    # the run's size and clocks (the continuing run's own) and machinery
    "RunState.days",
    "RunState.phase_seconds",
    "RunState.worker_seconds",
    "RunState.drifting",
    "RunState.tally_pending",
    "RunState.worker",
    # the timeline (RunState.resume_at brings it to the snapshot's day)
    "RunState.changes",
    "RunState._changed",
    # made from the city and the rules alone
    "RunState.pools",
    "RunState.subject_class",
    "RunState.enrolment_order",
    "RunState.held",
    "RunState.enrolled_cells",
    "RunState.flag_kinds",
    "RunState.flag_of",
    "RunState.flag_probability",
    "RunState.cell_keys",
    "RunState.others_keys",
    "RunState.list_key",
    "RunState.activity_keys",
    "RunState.kind_keys",
    "RunState.points",
    "RunState.green_score",
    "Side.cell",
    "Side.cols",
    "Side.cell_rows",
    "Side.common_grade",
    "DailySeries.left_out",
    "DueProcessState.education",
    "DueProcessState.decile",
    "DueProcessState.key",
    "Recovering.group",
    # the kernels' view of a Recovering's arrays (the arrays themselves are kept, and
    # restored in place, so that the fresh state's view holds them)
    "Recovering.arrays",
}
"""Attributes (Class.name) that are not state: see the module's docstring."""
PLAIN = (bool, int, float, str, type(None))


class SnapshotError(ValueError):
    """A state that cannot be kept or a snapshot that does not fit the run; one line."""


@dataclass
class Snapshot:
    """A run's state after `day` internal days (the burn-in's included): `arrays` by key,
    `tree` the JSON-ready structure that names them; `population` the city's digest."""

    day: int
    population: str
    tree: Any
    arrays: dict[str, np.ndarray]
    run: dict[str, Any] = field(default_factory=dict)
    """What the run was (scenario_sha256, seed, residents), as the simulation says."""

    @property
    def nbytes(self) -> int:
        """The arrays' size (bytes)."""
        return sum(a.nbytes for a in self.arrays.values())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything as arrays (for np.savez): the arrays, and the rest as JSON bytes
        under "snapshot.json"."""
        meta = {"format": FORMAT, "day": self.day, "population": self.population, "run": self.run}
        text = json.dumps({**meta, "tree": self.tree}, allow_nan=True)
        return {**self.arrays, "snapshot.json": np.frombuffer(text.encode(), np.uint8)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Snapshot:
        """The snapshot of to_arrays()'s arrays; SnapshotError if they are not one."""
        raw = arrays.get("snapshot.json")
        if raw is None or raw.dtype != np.uint8:
            raise SnapshotError("no snapshot.json entry: not a scslab state snapshot")
        try:
            doc = json.loads(raw.tobytes().decode())
            fmt, day, population, tree, run = (
                doc["format"],
                doc["day"],
                doc["population"],
                doc["tree"],
                dict(doc["run"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise SnapshotError(f"snapshot.json: unreadable ({err})") from None
        if fmt != FORMAT:
            raise SnapshotError(f"snapshot format {fmt}; this scslab reads format {FORMAT}")
        rest = {k: v for k, v in arrays.items() if k != "snapshot.json"}
        return cls(int(day), str(population), tree, rest, run)


def population_digest(pop: Population) -> str:
    """SHA-256 over every array and name of the synthetic city (its residents,
    enterprises, contact graphs and labels), in a fixed order."""
    h = hashlib.sha256()

    def feed(obj: Any, path: str) -> None:
        if isinstance(obj, np.ndarray):
            h.update(f"{path}:{obj.dtype.str}:{obj.shape}".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
        elif isinstance(obj, PLAIN):
            h.update(f"{path}={obj!r}".encode())
        elif isinstance(obj, (list, tuple)):
            for i, x in enumerate(obj):
                feed(x, f"{path}[{i}]")
        elif hasattr(obj, "__dict__"):
            for k in sorted(vars(obj)):
                feed(vars(obj)[k], f"{path}.{k}")

    # its own contacts are made on demand (Population.contacts), fed in their place
    parts = {k: v for k, v in vars(pop).items() if not k.startswith("_")}
    parts["contacts"] = pop.contacts
    for k in sorted(parts):
        feed(parts[k], f"population.{k}")
    return h.hexdigest()


def take(st: Any, population: Population, run: dict[str, Any] | None = None) -> Snapshot:
    """The snapshot of a run's state `st` (a RunState, after its last day); `run`: what
    the run was (kept with it, JSON-ready)."""
    arrays: dict[str, np.ndarray] = {}
    keys: dict[int, str] = {}  # id of an array -> its key (arrays reached twice kept once)

    def walk(obj: Any, path: str) -> Any:
        if isinstance(obj, np.ndarray):
            key = keys.get(id(obj))
            if key is None:
                key = keys[id(obj)] = path
                if obj.dtype.hasobject:
                    raise SnapshotError(f"{path}: an array of objects cannot be kept")
                arrays[key] = obj
            return {"a": key}
        if isinstance(obj, np.generic):
            arrays[path] = np.asarray(obj)
            return {"a": path, "scalar": True}
        if isinstance(obj, PLAIN):
            return obj
        if isinstance(obj, (list, tuple)):
            items = [walk(x, f"{path}[{i}]") for i, x in enumerate(obj)]
            return {"list" if isinstance(obj, list) else "tuple": items}
        if isinstance(obj, dict):
            if not all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in obj):
                raise SnapshotError(f"{path}: a dict with keys other than int or str")
            return {"dict": [[k, walk(v, f"{path}[{k!r}]")] for k, v in obj.items()]}
        cls = type(obj)
        if not cls.__module__.startswith("scslab.") or not hasattr(obj, "__dict__"):
            raise SnapshotError(f"{path}: a {cls.__name__} cannot be kept in a snapshot")
        attrs = {
            name: walk(value, f"{path}.{name}")
            for name, value in vars(obj).items()
            if f"{cls.__name__}.{name}" not in SKIP
            and not isinstance(value, NOT_STATE)
            and not callable(value)
        }
        return {"obj": f"{cls.__module__}:{cls.__qualname__}", "attrs": attrs}

    tree = walk(st, "st")
    return Snapshot(int(st.days), population_digest(population), tree, arrays, dict(run or {}))


def restore(st: Any, snapshot: Snapshot) -> None:
    """Put `snapshot` into `st`, a fresh RunState of the same run whose timeline was
    brought to the snapshot's day (see the module's docstring)."""
    if snapshot.population != population_digest(st.population):
        raise SnapshotError(
            "the synthetic city differs from the one the state was kept from (another "
            "seed, size or population section, or another scslab)"
        )
    done: dict[str, Any] = {}  # key -> the array it became (kept shared)
    targets: set[int] = set()  # fresh arrays already written in place

    def array(node: dict[str, Any], current: Any) -> Any:
        key = node["a"]
        if key not in snapshot.arrays:
            raise SnapshotError(f"{key}: missing from the snapshot")
        saved = snapshot.arrays[key]
        if node.get("scalar"):
            return saved[()]
        if key in done:
            return done[key]
        out = saved
        if isinstance(current, np.ndarray):
            _check_fits(key, saved, current, agents)
        if (
            isinstance(current, np.ndarray)
            and current.shape == saved.shape
            and current.dtype == saved.dtype
            and current.flags.writeable
            and id(current) not in targets
        ):
            np.copyto(current, saved)
            targets.add(id(current))
            out = current
        done[key] = out
        return out

    def build(node: Any, current: Any, path: str) -> Any:
        if not isinstance(node, dict):
            return node
        if "a" in node:
            return array(node, current)
        if "list" in node or "tuple" in node:
            items: list[Any] = node["list"] if "list" in node else node["tuple"]
            same = isinstance(current, (list, tuple)) and len(current) == len(items)
            built = [
                build(x, current[i] if same else None, f"{path}[{i}]") for i, x in enumerate(items)
            ]
            return built if "list" in node else tuple(built)
        if "dict" in node:
            cur = current if isinstance(current, dict) else {}
            return {k: build(v, cur.get(k), f"{path}[{k!r}]") for k, v in node["dict"]}
        if "obj" in node:
            cls = _scslab_class(node["obj"], path)
            obj = current if type(current) is cls else object.__new__(cls)
            for name, value in node["attrs"].items():
                setattr(obj, name, build(value, getattr(obj, name, None), f"{path}.{name}"))
            return obj
        raise SnapshotError(f"{path}: not a snapshot node")

    if type(st).__name__ != "RunState" or snapshot.tree.get("obj", "").split(":")[-1] != "RunState":
        raise SnapshotError("a snapshot restores into a RunState")
    agents = {st.res.n, st.ent.n} - {0}
    try:
        build(snapshot.tree, st, "st")
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as err:
        raise SnapshotError(f"not a state of this run ({type(err).__name__}: {err})") from None


def _check_fits(key: str, saved: np.ndarray, fresh: np.ndarray, agents: set[int]) -> None:
    """SnapshotError unless the saved array `key` can stand for the fresh one: the same
    type and number of dimensions, and no shorter along an axis the fresh one has one
    entry per agent on (a number of residents or enterprises: the kernels index those
    by id). Buffers, id lists and daily rows may otherwise have any length."""
    if saved.dtype != fresh.dtype or saved.ndim != fresh.ndim:
        raise SnapshotError(
            f"{key}: {saved.dtype} of {saved.ndim} dimensions where the run keeps "
            f"{fresh.dtype} of {fresh.ndim}"
        )
    short = [s < f for s, f in zip(saved.shape, fresh.shape, strict=True) if f in agents]
    if any(short):
        raise SnapshotError(f"{key}: shape {saved.shape} where the run keeps {fresh.shape}")


def _scslab_class(name: str, path: str) -> type:
    """The class `module:qualname`, which must be one of scslab's own."""
    module, _, qualname = name.partition(":")
    if not module.startswith("scslab.") or "." in qualname:
        raise SnapshotError(f"{path}: {name} is not a scslab class")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        raise SnapshotError(f"{path}: no class {name} in this scslab") from None
    if not isinstance(cls, type):
        raise SnapshotError(f"{path}: {name} is not a class")
    return cls
