"""The scenario reference: every key of a scenario file, its type, what is allowed, its
default and what it means, read from the pydantic models (so it cannot drift from them).

`scslab schema` prints it; docs/scenario-reference.md is its output, and a test checks
that the two agree.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from scslab.scenario.schema import Scenario

BOUNDS = ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt"))


def _name(ann: Any) -> tuple[str, type[BaseModel] | None, bool]:
    """(type as words, the model to describe below it, whether it is a mapping of names)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _name(args[0])
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "section", ann, False
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        word, model, named = (
            _name(parts[0])
            if len(parts) == 1
            else (" or ".join(_name(a)[0] for a in parts), None, False)
        )
        return f"{word} or null", model, named
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args), None, False
    if origin is dict:
        word, model, _ = _name(args[1])
        return f"mapping of NAME to {word}", model, True
    if origin in (list, tuple):
        return f"list of {_name(args[0])[0]}", None, False
    return (
        {int: "integer", float: "number", str: "text", bool: "true or false"}.get(
            ann, getattr(ann, "__name__", str(ann))
        ),
        None,
        False,
    )


def _allowed(field: FieldInfo) -> str:
    """The field's bounds and checks, in words."""
    words = []
    metadata = list(field.metadata)
    for ann in typing.get_args(field.annotation):  # bounds on an Annotated type alias
        metadata.extend(getattr(ann, "metadata", []))
    for m in metadata:
        bound = next(((sign, getattr(m, a)) for t, sign, a in BOUNDS if isinstance(m, t)), None)
        if bound is not None:
            words.append(f"{bound[0]} {bound[1]:g}")
        elif isinstance(m, MaxLen):
            words.append(f"at most {m.max_length} long")
        elif isinstance(m, MinLen):
            words.append(f"at least {m.min_length} long")
        elif getattr(m, "pattern", None):
            words.append(f"matching `{m.pattern}`")
        elif getattr(getattr(m, "func", None), "__doc__", None):
            words.append(m.func.__doc__)
    return "; ".join(dict.fromkeys(words))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is PydanticUndefined or isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, dict | list) and not value:
        return "empty"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str, seen: tuple[type, ...]) -> list[list[str]]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        word, sub, named = _name(field.annotation)
        what = (field.description or "").replace("\n", " ").replace("|", "\\|")
        allowed = _allowed(field).replace("|", "\\|")
        rows.append([f"`{key}`", word, allowed, _default(field), what])
        if sub is not None and sub not in seen:
            inner = f"{key}.NAME." if named else f"{key}."
            rows.extend(_rows(sub, inner, (*seen, sub)))
    return rows


def scenario_reference() -> str:
    """The scenario reference as Markdown: one row per key (NAME stands for any name)."""
    head = (
        "# Scenario reference\n\n"
        "Every key of a scenario file, generated from scslab's schema by `scslab schema`\n"
        "(do not edit by hand). NAME stands for a name you choose (a department, a list, a\n"
        "record kind). Unknown keys are errors; every number must be finite; `true` is not\n"
        "a number. Units are in the names (`_days`, `_per_year`) and descriptions.\n\n"
        "| key | type | allowed | default | what |\n| --- | --- | --- | --- | --- |\n"
    )
    body = "".join("| " + " | ".join(r) + " |\n" for r in _rows(Scenario, "", (Scenario,)))
    return head + body
