"""Loading a scenario: from a YAML file or a built-in, with what it `extends:` merged in.

A scenario file may start with `extends: NAME-OR-FILE` (a built-in, or a file relative to
it) and then hold only what differs; chains are at most MAX_EXTENDS long and may not loop.
The text is read within a scenario file's limits (scslab.scenario.safeyaml) and validated
as a `Scenario`; every problem is a ScenarioError naming the file, the key and what is
wrong. The built-ins are the YAML files in `scslab/scenarios/`, with their source comments.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scslab.scenario.changes import deep_merge
from scslab.scenario.safeyaml import (
    ScenarioError,
    format_validation_error,
    read_scenario_file,
    read_yaml,
)
from scslab.scenario.schema import Scenario


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with scslab."""
    folder = resources.files("scslab") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    """The YAML text (with its source comments) of a built-in scenario."""
    if name not in builtin_names():
        raise ScenarioError(
            name, "", f"no such built-in scenario; built-ins: {', '.join(builtin_names())}"
        )
    return (resources.files("scslab") / "scenarios" / f"{name}.yaml").read_text("utf-8")


MAX_EXTENDS = 8
"""The longest chain of scenarios extending one another."""


def parse_scenario(text: str, source: str = "<scenario>", folder: Path | None = None) -> Scenario:
    """Validate scenario YAML text; raise ScenarioError naming source and key on bad input.

    A scenario may start with `extends: NAME-OR-FILE` (a built-in, or a file relative to
    `folder`, the folder of the file the text is from): it then holds only what differs
    from that scenario, merged key by key (mappings merged, other values replaced)."""
    data = _scenario_data(text, source, folder, ())
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        key, msg = format_validation_error(err)
        raise ScenarioError(source, key, msg) from None


def _scenario_data(
    text: str, source: str, folder: Path | None, chain: tuple[str, ...]
) -> dict[str, Any]:
    """The scenario's raw data with what it extends merged in (not yet validated)."""
    data = read_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a scenario must be a YAML mapping of keys to values")
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base:
        raise ScenarioError(source, "extends", "a built-in scenario name or a YAML file")
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(
            source, "extends", f"more than {MAX_EXTENDS} scenarios extend each other"
        )
    path = Path(base) if folder is None or Path(base).is_absolute() else folder / base
    if path.suffix in (".yaml", ".yml") or _exists(path):
        key = str(path.resolve())
        base_text, base_source, base_folder = read_scenario_file(path), str(path), path.parent
    elif base in builtin_names():
        key, base_text, base_source, base_folder = (
            base,
            builtin_text(base),
            f"{base} (built-in)",
            None,
        )
    else:
        raise ScenarioError(
            source,
            "extends",
            f"no scenario file or built-in named '{base}'; built-ins: {', '.join(builtin_names())}",
        )
    if key in chain:
        raise ScenarioError(source, "extends", f"'{base}' extends itself (a loop)")
    return deep_merge(_scenario_data(base_text, base_source, base_folder, (*chain, key)), data)


def _exists(path: Path) -> bool:
    """Whether `path` names something (False where the name cannot be looked up)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a YAML file, or a built-in by name (e.g. 'beijing-2018')."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or _exists(path):
        return parse_scenario(read_scenario_file(path), str(path), path.parent)
    name = str(name_or_path)
    if name not in builtin_names():
        raise ScenarioError(
            name,
            "",
            f"no scenario file or built-in of that name; built-ins: {', '.join(builtin_names())}",
        )
    return parse_scenario(builtin_text(name), f"{name} (built-in)")
