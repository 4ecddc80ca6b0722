"""What an experiment file says: the base scenario and its fixed changes, the parameters
to vary, the design that places points among them, the seeds, and the figures to record.

An experiment names a base scenario, the parameters to vary (dotted scenario keys, each
with levels or a range), a design (`grid`, `lhs`, `sobol`, `morris`: SALib's samplers
over the unit cube, mapped onto each parameter), seeds (every point runs with every
seed: common random numbers, so paired differences between points are the rules'
effect), the size and days of each run, and the figures to record
(`scslab.analysis.figures`). `Spec` is what experiment and calibration files share;
`read_spec` reads either (ExperimentError: one line naming the file and key), and
`check_experiment` checks every design point's scenario and the figures before anything
runs. Running an experiment is `scslab.experiments.sweep`; `scslab.Experiment`
(`scslab.experiments.experiment`) runs and plots one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scslab.analysis.figures import check_figures
from scslab.scenario.bounds import MAX_DAYS, check_run_size
from scslab.scenario.loader import load_scenario
from scslab.scenario.safeyaml import ScenarioError, read_scenario_file, read_yaml
from scslab.scenario.schema import Scenario

DEFAULT_FIGURES = (
    "blacklisted_per_100k",
    "wrongfully_blacklisted_per_100k",
    "new_listings_per_100k",
    "blocked_per_100k",
    "wrongful_blocked_per_100k",
)


class ExperimentError(Exception):
    """An experiment that cannot be run; str() is one line naming the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Scalar = float | int | str | bool


class Parameter(_Strict):
    """How one scenario key varies: `levels` (the values to use), or `range` [low, high]
    sampled uniformly (on a log scale with `log: true`; rounded with `integer: true`)."""

    levels: list[Scalar] | None = Field(None, min_length=1)
    range: tuple[float, float] | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.levels is None) == (self.range is None):
            raise ValueError("give either levels or range")
        if self.range is not None:
            lo, hi = self.range
            if not lo < hi:
                raise ValueError(f"range: low must be below high (got {list(self.range)})")
            if self.log and lo <= 0:
                raise ValueError("range: a log range must be above 0")
        return self

    def value(self, u: float) -> Scalar:
        """The parameter's value at unit-cube coordinate u (0 <= u < 1)."""
        if self.levels is not None:
            return self.levels[min(int(u * len(self.levels)), len(self.levels) - 1)]
        assert self.range is not None
        lo, hi = self.range
        x = (
            math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
            if self.log
            else lo + u * (hi - lo)
        )
        return round(x) if self.integer else float(x)


def parse_seeds(value: Any) -> list[int]:
    """Seeds from a list of integers or a string like '1-10' or '1,3,5-7'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list):
        return [int(v) for v in value]
    if not isinstance(value, str):
        raise ValueError("seeds: a list of integers or a string like '1-10'")
    seeds: list[int] = []
    for part in value.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"seeds: '{value}' is not like '1-10' or '1,3,5-7'")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return seeds


class Spec(_Strict):
    """What experiment and calibration files share: a name, the base scenario and the
    fixed changes made to it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
    description: str = ""
    base: str = Field(
        description="A built-in scenario name, or a YAML file (relative to this file)."
    )
    changes: dict[str, Any] = Field(default_factory=dict, description="Fixed changes to the base.")
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    residents: int | None = Field(None, ge=1)
    scale: float | None = Field(None, gt=0)
    days: int | None = Field(None, ge=1, le=MAX_DAYS)

    @model_validator(mode="before")
    @classmethod
    def _seeds(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seeds" in data:
            data = {**data, "seeds": parse_seeds(data["seeds"])}
        return data

    @model_validator(mode="after")
    def _runs(self) -> Self:
        for seed in (min(self.seeds), max(self.seeds)):
            check_run_size(self.scale, self.residents, self.days, seed)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: each seed once")
        return self


class ExperimentSpec(Spec):
    """An experiment file: what to vary, how, and what to record per run (to run and plot
    it: `scslab.Experiment`, which adds run() and plot())."""

    parameters: dict[str, Parameter] = Field(default_factory=dict)
    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=(
            "lhs: points; sobol: N (N*(2D+2) points, N a power of 2); morris: trajectories "
            "(N*(D+1) points)."
        ),
    )
    second_order: bool = True
    morris_levels: int = Field(4, ge=2, le=100)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_FIGURES), min_length=1)
    agents: bool | None = Field(
        None,
        description="Write per-agent tables in each run: true, false, or null as `scslab "
        "run` does (up to 1M residents); always when a figure needs them.",
    )
    sample_seed: int = Field(0, ge=0, description="Seed of the design's sampler.")

    @model_validator(mode="after")
    def _design(self) -> Self:
        if self.design == "grid":
            ranged = [k for k, p in self.parameters.items() if p.levels is None]
            if ranged:
                raise ValueError(
                    f"parameters.{ranged[0]}: a grid takes levels; give levels, or use "
                    "design lhs, sobol or morris for a range"
                )
        else:
            if not self.parameters:
                raise ValueError(f"parameters: design {self.design} needs parameters")
            if self.samples is None:
                raise ValueError(f"samples: design {self.design} needs samples")
            if self.design == "sobol" and self.samples & (self.samples - 1):
                raise ValueError(f"samples: a power of 2 for sobol (got {self.samples})")
        return self

    def digest(self) -> str:
        """SHA-256 of the experiment's resolved content."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def problem(self) -> dict[str, Any]:
        """The SALib problem over the unit cube (one variable per parameter)."""
        names = list(self.parameters)
        return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}

    def unit_points(self) -> np.ndarray:
        """The design's points in the unit cube, [points, parameters]."""
        d = len(self.parameters)
        if d == 0:
            return np.zeros((1, 0))  # one point: the base scenario
        if self.design == "grid":
            axes = [
                (np.arange(len(p.levels or [])) + 0.5) / len(p.levels or [])
                for p in self.parameters.values()
            ]
            return np.array(list(itertools.product(*axes)), float).reshape(-1, d)
        from SALib.sample import latin, morris, sobol

        n = int(self.samples or 1)
        if self.design == "lhs":
            return latin.sample(self.problem(), n, seed=self.sample_seed)
        if self.design == "sobol":
            return sobol.sample(
                self.problem(), n, calc_second_order=self.second_order, seed=self.sample_seed
            )
        return morris.sample(
            self.problem(), n, num_levels=self.morris_levels, seed=self.sample_seed
        )

    def points(self) -> list[dict[str, Scalar]]:
        """Each design point's parameter values ({dotted key: value})."""
        return [
            {k: p.value(float(u)) for (k, p), u in zip(self.parameters.items(), row, strict=True)}
            for row in self.unit_points()
        ]


SpecT = TypeVar("SpecT", bound=Spec)


def read_spec(path: str | Path, model: type[SpecT], changes: dict[str, Any] | None = None) -> SpecT:
    """Read an experiment or calibration file (a scenario file's limits on size, nesting,
    aliases and duplicate keys), validate it, add `changes` (the command line's --set)
    to its fixed changes and resolve a base file relative to it. ExperimentError (one line
    naming the file and key)."""
    path = Path(path)
    kind = model.__name__.lower()
    try:
        data = read_yaml(read_scenario_file(path), str(path))
    except ScenarioError as err:
        raise ExperimentError(str(err)) from None
    if not isinstance(data, dict):
        raise ExperimentError(
            f"{path}: a{'n' if kind[0] in 'aeiou' else ''} {kind} is a "
            "YAML mapping of keys to values"
        )
    try:
        spec = model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = f"unknown key (not part of the {kind} schema; check the spelling)"
        raise ExperimentError(f"{path}: {key}: {msg}" if key else f"{path}: {msg}") from None
    update: dict[str, Any] = {}
    if changes:
        update["changes"] = {**spec.changes, **changes}
    if spec.base.endswith((".yaml", ".yml")) and not Path(spec.base).is_absolute():
        update["base"] = str((path.parent / spec.base).resolve())
    return spec.model_copy(update=update) if update else spec


def check_experiment(exp: ExperimentSpec, base: str, source: str) -> Scenario:
    """The base scenario with the fixed changes; every design point checked by building
    its scenario, and the figures checked against it. ExperimentError (one line)."""
    try:
        scenario = load_scenario(base).with_changes(exp.changes)
    except ScenarioError as err:
        raise ExperimentError(f"{source}: base: {err}") from None
    for point in exp.points():
        try:
            scenario.with_changes(point)
        except ScenarioError as err:
            raise ExperimentError(f"{source}: parameters.{err.key}: {err.message}") from None
    try:
        check_figures(exp.outputs, scenario)
    except ValueError as err:
        raise ExperimentError(f"{source}: outputs: {err}") from None
    return scenario
