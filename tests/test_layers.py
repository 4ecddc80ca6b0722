"""The package's layers, read from its source: each module imports only its own layer
and the layers below (imports inside functions included), and no two modules import
each other, directly or round a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import scslab

PACKAGE = Path(scslab.__file__).resolve().parent
LAYERS = [
    ("scslab",),
    ("scslab.kernelcache", "scslab.streams"),
    ("scslab.scenario",),
    ("scslab.model",),
    ("scslab.engine",),
    ("scslab.rundir",),
    ("scslab.analysis",),
    ("scslab.experiments",),
    ("scslab.presentation",),
    ("scslab.cli",),
]
"""From the bottom up: a module is in the layer of the longest name here it starts with
(the package's own __init__ is above them all: it names the public API lazily). At the
bottom, beside the package: the kernel cache and the random streams, which every layer
that draws or compiles uses."""
MAX_LINES = 600
LONG_MODULES: set[str] = set()
"""Modules allowed over MAX_LINES lines, each giving the reason in its own docstring."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, name: str) -> set[str]:
    """scslab modules that `path` imports (at any depth of its code)."""
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("scslab")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add("relative import")  # the package imports by absolute names only
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scslab"):
            for a in node.names:  # `from scslab.x import y`: y may be a module
                sub = f"{node.module}.{a.name}"
                if node.module == "scslab" and a.name in scslab._EXPORTS:
                    found.add(scslab._EXPORTS[a.name])  # the public API, named lazily
                else:
                    found.add(sub if sub in known else node.module)
    return found - {name}


def layer(name: str) -> int:
    if name == "relative import":
        return -1  # never allowed (checked below)
    if name == "scslab":
        return len(LAYERS)  # the package's __init__: the public API, on top
    level, _ = max(
        (
            (k, p)
            for k, names in enumerate(LAYERS)
            for p in names
            if name == p or name.startswith(p + ".")
        ),
        key=lambda kp: len(kp[1]),
    )
    return level


def test_every_import_goes_down_the_layers() -> None:
    wrong = []
    for name, path in modules().items():
        for target in imports(path, name):
            if target == "relative import":
                wrong.append(f"{name} imports relatively")
                continue
            if target == "scslab" or 0 <= layer(target) <= layer(name):
                continue
            wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    graph = {name: imports(path, name) - {"scslab"} for name, path in modules().items()}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The two checks above read what they should: an import up the layers is found."""
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from scslab.presentation.plots import plot\n")
    assert imports(path, "scslab.model.x") == {"scslab.presentation.plots"}
    assert layer("scslab.presentation.plots") > layer("scslab.model.x")
    path.write_text("from scslab import Simulation\nfrom . import y\n")  # the lazy API
    assert imports(path, "scslab.model.x") == {"scslab.rundir.run", "relative import"}


def test_modules_stay_readable() -> None:
    """No module over MAX_LINES lines but those in LONG_MODULES, which say why."""
    long = {
        name
        for name, path in modules().items()
        if len(path.read_text("utf-8").splitlines()) > MAX_LINES
    }
    assert long <= LONG_MODULES, f"over {MAX_LINES} lines: {sorted(long - LONG_MODULES)}"


def test_import_scslab_loads_no_layer() -> None:
    """`import scslab` is cheap and does nothing to the machine: the public names are
    imported on first use."""
    import subprocess
    import sys

    probe = "import sys, scslab; print(sorted(m for m in sys.modules if m.startswith('scslab')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "['scslab', 'scslab.kernelcache']", out.stderr
