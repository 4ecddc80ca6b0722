"""Editing a scenario without copying it: merging, dotted-key changes and --set values.

A scenario changes in three ways, all through the functions here: `extends:` merges a
scenario file into the one it extends (`deep_merge`), `Scenario.with_changes` applies
dotted-key changes and removals to a resolved scenario (`apply_changes`, then validated
again), and the command line's `--set KEY=VALUE` gives such changes (`parse_changes`).
They work on a scenario's plain data (the dict YAML gives or `model_dump` writes); the
scenario is validated afterwards by whoever made the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scslab.scenario.safeyaml import ScenarioError, read_yaml


def deep_merge(base: dict, over: dict) -> dict:
    """`over` merged into `base`, key by key: mappings merged, other values replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_changes(
    data: dict[str, Any], changes: Mapping[str, Any], remove: Iterable[str], source: str
) -> dict[str, Any]:
    """`data` (a scenario as plain data, edited in place and returned) with the `remove`d
    entries dropped, then `changes` applied: keys are dotted paths, and a mapping given as
    a value is merged key by key into the one there (as `extends` merges). A missing
    parent or an entry to remove that is not there raises ScenarioError naming `source`
    and the key; whether the result is a scenario is for its validation to say."""
    for key in remove:
        *parents, leaf = key.split(".")
        node = _walk(data, parents, key, source)
        if leaf not in node:
            raise ScenarioError(source, key, "nothing to remove there")
        del node[leaf]
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = _walk(data, parents, key, source)
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = deep_merge(node[leaf], value)  # as `extends` merges
        else:
            node[leaf] = value
    return data


def _walk(data: dict, parents: list[str], key: str, source: str) -> dict:
    """The mapping at `parents` inside data (ScenarioError naming `key` if there is none)."""
    node: Any = data
    for k, part in enumerate(parents):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            where = ".".join(parents[: k + 1])
            what = (
                "unknown key" if not isinstance(node, dict) or part not in node else "not a mapping"
            )
            raise ScenarioError(source, key, f"{where}: {what}")
        node = node[part]
    if not isinstance(node, dict):
        raise ScenarioError(source, key, "not a mapping")
    return node


def parse_changes(items: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """{dotted key: value} from 'KEY=VALUE' strings (the command line's --set): each VALUE
    read as YAML within a scenario file's limits ('0.05', 'true', '[a, b]')."""
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(source, "", f"'{item}' is not KEY=VALUE (e.g. days=90)")
        changes[key] = read_yaml(text, f"{source} {key}") if text.strip() else None
    return changes
