"""scslab's kernels are cached by the digest of the whole source: an edit or a move of
any module gives a new folder (no stale kernel is loaded), and importing scslab deletes
nothing."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
from numba.core import config
from numba.core.caching import CompileResultCacheImpl
from numba.core.errors import NumbaWarning

from scslab import kernelcache


def test_the_digest_follows_contents_and_folders(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "model").mkdir(parents=True)
    (package / "model" / "scoring.py").write_text("x = 1\n")
    (package / "engine.py").write_text("y = 2\n")
    first = kernelcache.source_digest(package)
    assert kernelcache.source_digest(package) == first
    (package / "engine.py").write_text("y = 3\n")  # an edit
    edited = kernelcache.source_digest(package)
    assert edited != first
    (package / "model" / "scoring.py").rename(package / "scoring.py")  # a move
    assert kernelcache.source_digest(package) not in (first, edited)


def run_python(code: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_kernels_are_cached_under_the_digest_and_import_deletes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    theirs = cache / "other_project" / "f-1.py311.nbi"
    old = cache / "scslab" / ("0" * 20) / "model" / "scoring.drift-1.py311.1.nbc"
    for path in (theirs, old):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"machine code")
    (old.parents[1] / kernelcache.STAMP_NAME).write_text("0" * 64)
    # importing scslab and a kernel module compiles and loads nothing, deletes nothing
    probe = (
        "import sys, scslab.model.scoring\n"
        "from numba.core.registry import CPUDispatcher\n"
        "loaded = [k for m, mod in list(sys.modules.items()) if m.startswith('scslab')"
        " for k, v in vars(mod).items() if isinstance(v, CPUDispatcher) and v.signatures]\n"
        "print(loaded)\n"
    )
    assert run_python(probe, cache) == "[]"
    assert theirs.exists() and old.exists()
    # a kernel called is cached in this source's folder, in its module's sub-folder
    call = (
        "import numpy as np\n"
        "from scslab.streams import hash_poisson\n"
        "from scslab import kernelcache\n"
        "before = kernelcache.is_cached(hash_poisson)\n"
        "hash_poisson(np.uint64(1), 2, 3, 0.5)\n"
        "print(before, kernelcache.is_cached(hash_poisson), kernelcache.kernel_cache_dir())\n"
    )
    before, after, folder = run_python(call, cache).split(" ", 2)
    assert (before, after) == ("False", "True")
    ours = Path(folder)
    assert ours.parent == cache / "scslab"
    assert (ours / kernelcache.STAMP_NAME).read_text() == kernelcache.source_digest()
    assert list(ours.glob("streams.hash_poisson-*.nbc"))
    assert kernelcache.has_cached_kernels(ours)
    assert theirs.exists() and old.exists()
    # a later process finds it cached before it calls it, unless it runs another numba
    found = (
        "from scslab.streams import hash_poisson\n"
        "from scslab import kernelcache\n"
        "print(kernelcache.is_cached(hash_poisson))\n"
        "hash_poisson._cache._cache_file._version = 'another'\n"
        "print(kernelcache.is_cached(hash_poisson))\n"
    )
    assert run_python(found, cache).split() == ["True", "False"]


def test_prune_removes_only_old_folders_of_other_sources(tmp_path: Path) -> None:
    root = tmp_path / "kernels"
    stale, recent, foreign = root / "a", root / "b", root / "c"
    for folder in (stale, recent, foreign):
        folder.mkdir(parents=True)
        (folder / "k.nbc").write_bytes(b"x")
    (stale / kernelcache.STAMP_NAME).write_text("a")
    (recent / kernelcache.STAMP_NAME).write_text("b")
    month_ago = time.time() - 40 * 86400
    os.utime(stale / kernelcache.STAMP_NAME, (month_ago, month_ago))
    # (foreign has no stamp: not written by scslab, never removed)
    assert kernelcache.prune(root) == [stale]
    assert not stale.exists() and recent.exists() and foreign.exists()


def test_a_kernel_that_cannot_be_cached_is_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # numba warns of a compiled kernel it cannot cache (one that holds a large global
    # array, say) at the kernel's file and line, which the locator gives
    from scslab.streams import hash_poisson

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))
    impl = CompileResultCacheImpl(hash_poisson.py_func)
    assert isinstance(impl.locator, kernelcache.SourceLocator)
    cres = SimpleNamespace(
        lifted=(),
        library=SimpleNamespace(has_dynamic_globals=True),
        fndesc=SimpleNamespace(qualname="hash_poisson"),
    )
    with pytest.warns(NumbaWarning, match="Cannot cache compiled function"):
        assert not impl.check_cachable(cres)


def test_scslab_kernels_are_saved_under_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numba saves a kernel of scslab's (its index and data file) holding the lock on
    its folder, so that two processes saving at once do not pick the same data file for
    two signatures; other caches are saved as numba saves them."""
    import fcntl

    from numba.core.caching import IndexDataCacheFile

    assert IndexDataCacheFile.save is kernelcache.locked_save  # (register(), at import)
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))
    ours = kernelcache.kernel_cache_dir() / "model"
    ours.mkdir(parents=True)
    theirs = tmp_path / "other"
    theirs.mkdir()
    held: dict[str, bool] = {}

    def save(cache_file: IndexDataCacheFile, key: object, data: object) -> None:
        lock_path = Path(cache_file._cache_path) / kernelcache.LOCK_NAME
        with open(lock_path, "a") as other:  # another open file: flock is per open file
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held[cache_file._cache_path] = True
            else:
                held[cache_file._cache_path] = False
                fcntl.flock(other, fcntl.LOCK_UN)

    monkeypatch.setattr(kernelcache, "_numba_save", save)
    for folder in (ours, theirs):
        kernelcache.locked_save(IndexDataCacheFile(str(folder), "k", "stamp"), "key", b"")
    assert held == {str(ours): True, str(theirs): False}


def test_every_kernel_is_made_by_kernel() -> None:
    """Each numba dispatcher defined in scslab's modules is cached and has no C-callable
    wrapper (kernelcache.kernel): a kernel made with numba.njit directly would compile
    that wrapper on every first run and, without cache=True, compile on every run. Those
    made inner (InnerKernel) have no CPython wrapper either, and only they."""
    import pkgutil

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    import scslab

    kernels = {}
    for info in pkgutil.walk_packages(scslab.__path__, "scslab."):
        if info.name.endswith("__main__"):
            continue  # (runs its program when imported)
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                kernels[f"{info.name}.{name}"] = value
    assert len(kernels) > 100
    made_otherwise = [
        name
        for name, k in kernels.items()
        if not k.targetoptions.get("no_cfunc_wrapper")
        or isinstance(k._cache, NullCache)
        or isinstance(k, kernelcache.InnerKernel) != bool(k.targetoptions.get("no_cpython_wrapper"))
    ]
    assert made_otherwise == []
    # kernels that only other kernels call are compiled without a CPython wrapper
    assert 40 < sum(isinstance(k, kernelcache.InnerKernel) for k in kernels.values()) < 100


def test_an_inner_kernel_runs_in_kernels_and_refuses_python(tmp_path: Path) -> None:
    """A kernel made with kernel(inner=True) has no CPython wrapper: called from a kernel
    it runs, called from Python it raises TypeError (not a crash on the missing code;
    in a process of its own, so that a crash fails this test and only this test)."""
    out = run_python(
        "import numpy as np\n"
        "from scslab.kernelcache import InnerKernel\n"
        "from scslab.streams import hash_uniform, splitmix64\n"
        "u = hash_uniform(np.uint64(7), 3, 5)\n"
        "print(isinstance(splitmix64, InnerKernel), 0.0 <= u < 1.0)\n"
        "try:\n"
        "    splitmix64(np.uint64(7))\n"
        "except TypeError as e:\n"
        "    print(e)\n",
        tmp_path / "numba",
    )
    assert out.splitlines() == [
        "True True",  # (hash_uniform calls splitmix64)
        "scslab.streams.splitmix64 is called only from other kernels (kernel(inner=True))",
    ]


class _Refs(ast.NodeVisitor):
    """The places where code of `module` that is not a kernel names an inner kernel of
    scslab's (by a global name of the module, a name imported inside a function, or as
    an attribute of a module it imported), other than in an import."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.local: list[set[str]] = []  # each enclosing function's own names
        self.imported: dict[str, object] = {}  # names imported inside functions
        self.found: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            if isinstance(d, ast.Call):
                d = d.func
            if isinstance(d, ast.Name) and d.id == "kernel":
                return  # (kernels call inner kernels)
        names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        names |= {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        self.local.append(names)
        outer = dict(self.imported)
        self.generic_visit(node)
        self.imported = outer  # (a function's imports are its own and its inner functions')
        self.local.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _inner(self, value: object, where: ast.AST, name: str) -> None:
        if isinstance(value, kernelcache.InnerKernel):
            self.found.append(f"{self.module.__name__}:{where.lineno} {name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self.local and node.module and node.level == 0:
            source = importlib.import_module(node.module)
            for alias in node.names:
                self.imported[alias.asname or alias.name] = getattr(source, alias.name, None)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id in self.imported:
            self._inner(self.imported[node.id], node, node.id)
        elif not any(node.id in s for s in self.local):
            self._inner(getattr(self.module, node.id, None), node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name):
            owner = getattr(self.module, node.value.id, None)
            if isinstance(owner, types.ModuleType):
                self._inner(getattr(owner, node.attr, None), node, node.attr)
        self.generic_visit(node)


def test_no_inner_kernel_is_named_outside_kernels() -> None:
    """Read from the source, every module of scslab: no code but a kernel's calls an inner
    kernel or hands it on (to a thread, say), which would raise TypeError, on paths the
    tests run or not."""
    import inspect
    import pkgutil

    import scslab

    found = []
    for info in pkgutil.walk_packages(scslab.__path__, "scslab."):
        if info.name.endswith("__main__"):
            continue  # (runs its program when imported)
        module = importlib.import_module(info.name)
        refs = _Refs(module)
        refs.visit(ast.parse(inspect.getsource(module)))
        found += refs.found
    assert found == []
