"""Reading scenario input safely, and the one error it raises.

Scenario files (and experiment and calibration files, and --set values) are YAML read by
`ScenarioLoader`, YAML's safe loader within the limits of a scenario file: no duplicate
keys, bounded size, nesting, values (aliases expanded) and number length. It builds plain
data only (no tags beyond YAML's own), so nothing read is ever evaluated as code.
`ScenarioError` is what every bad scenario input raises: one line naming the file, the
key and the problem; `format_validation_error` gives pydantic's first error that way.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from scslab.scenario.bounds import MAX_SCALAR_DIGITS


class ScenarioError(Exception):
    """A scenario that cannot be used; str() is one line naming the file, key and problem."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


def format_validation_error(err: ValidationError) -> tuple[str, str]:
    """(key, message) of pydantic's first error, in the words of ScenarioError: the dotted
    key (a model-level check names its own key inside its model) and the problem."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (not part of the scenario schema; check the spelling)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif "input" in first and not isinstance(first["input"], dict | list):
        msg += f" (got {first['input']!r})"
    inner = re.match(r"^([a-z_][a-z0-9_.]*): (.*)$", msg, flags=re.DOTALL)
    if inner:  # a model-level check names its own key inside the model at `loc`
        key = f"{key}.{inner.group(1)}" if key else inner.group(1)
        msg = inner.group(2)
    return key, msg


MAX_FILE_BYTES = 1 << 20
"""The largest scenario file, bytes (the built-ins are under 20 KB)."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists a scenario file may have (the schema needs 6)."""
MAX_NODES = 100_000
"""The most values a scenario file may hold once its aliases are expanded (the built-ins
hold under 2,000): the schema reads every copy an alias makes."""


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but is refused: a duplicate key, too deep, too many values."""


class ScenarioLoader(yaml.SafeLoader):
    """YAML's safe loader with the limits of a scenario file: no duplicate keys, nesting
    at most MAX_DEPTH deep, at most MAX_NODES values with aliases expanded, integers of at
    most MAX_SCALAR_DIGITS characters. Builds plain data (no tags beyond YAML's own)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing nesting deeper than MAX_DEPTH."""
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(problem=f"nested more than {MAX_DEPTH} deep", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        """The document's node, refused when its aliases expand to over MAX_NODES values."""
        node = super().get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise _Refused(
                problem=f"more than {MAX_NODES:,} values once aliases are expanded",
                problem_mark=node.start_mark,
            )
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """A mapping, refusing a key given twice (YAML would keep the last silently)."""
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            if key_node.value in seen:
                raise _Refused(
                    problem=f"duplicate key '{key_node.value}' (first on line "
                    f"{seen[key_node.value]}); give each key once",
                    problem_mark=key_node.start_mark,
                )
            seen[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer of at most MAX_SCALAR_DIGITS characters."""
        if len(node.value) > MAX_SCALAR_DIGITS:
            raise _Refused(
                problem=f"a number of {len(node.value):,} characters; at most {MAX_SCALAR_DIGITS}",
                problem_mark=node.start_mark,
            )
        return super().construct_yaml_int(node)


_MERGE_TAG = "tag:yaml.org,2002:merge"
ScenarioLoader.add_constructor("tag:yaml.org,2002:int", ScenarioLoader.construct_yaml_int)
# Numbers in exponent form without a dot or a signed exponent (1e-3, 2E5) are floats, as
# in YAML 1.2 (YAML 1.1 reads them as strings).
ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values under `node` counting every alias as a copy (memoised by node)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # a cycle counts once
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        memo[key] = 1 + sum(_expanded_size(c, memo) for c in children)
    return memo[key]


def read_yaml(text: str, source: str) -> object:
    """Parse YAML within a scenario file's limits (also those of experiment and
    calibration files); ScenarioError names the line and the problem."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(source, "", f"larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return yaml.load(text, Loader=ScenarioLoader)  # a SafeLoader subclass
    except yaml.reader.ReaderError as err:
        raise ScenarioError(
            source, "", f"unacceptable character #x{err.character:04x} at position {err.position}"
        ) from None
    except _Refused as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(source, where, str(err.problem)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(
            source, where, f"not valid YAML: {getattr(err, 'problem', None) or err}"
        ) from None


def read_scenario_file(path: Path) -> str:
    """The text of a scenario file: a regular file of at most MAX_FILE_BYTES bytes of UTF-8
    (ScenarioError otherwise)."""
    try:
        if not path.is_file():
            raise ScenarioError(str(path), "", "file not found")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(str(path), "", f"larger than {MAX_FILE_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as err:
        raise ScenarioError(str(path), "", f"cannot be read ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ScenarioError(
            str(path), f"line {line}", f"not UTF-8 text (byte 0x{data[err.start]:02x})"
        ) from None
