"""The compiled kernels' cache, keyed on the whole package's source.

numba (`cache=True`) keys each kernel's cached machine code on the time stamp of the
kernel's own file only. A kernel that calls kernels of other modules (the compiled loop
calls the scoring, lists and collectors' kernels) would be loaded from the cache with
those callees as they were when it was cached, after their modules changed; and a
module moved to another folder would leave its old kernels behind.

So scslab's kernels are cached by a locator of their own (`SourceLocator`, registered
with numba by `register()` when the package is imported, before any kernel is
defined): in `<cache root>/<digest>/<package path>/`, where the digest is of every .py
file of the package, names and contents. Any change to the source, a move included,
gives a new folder: a stale kernel is never found, and nothing is deleted at import.
Folders of other sources that have not been used for `STALE_AFTER_DAYS` days are
removed by `prune()` (the engine calls it once per process, as its first run starts); a
folder in use by another checkout or version of scslab is left alone.

The cache root is numba's NUMBA_CACHE_DIR where set, else XDG_CACHE_HOME/scslab/kernels
(~/.cache/scslab/kernels); where it cannot be written, a folder of the user's in the
system's temporary folder (fallback_root).

Two processes may compile kernels into the same folder at once (a first run and its
helper, engine/compile_ahead.py; two runs started together). numba saves a kernel by
reading the kernel's index, picking a free data file name and writing both, with no
lock: two processes saving two signatures of one kernel at once could both pick the
same name, and the index then name one signature's machine code for the other. So a
kernel of scslab's is saved under a lock on its folder (`locked_save`; POSIX systems:
elsewhere numba's own save).

Every kernel of scslab is made by `kernel()` (numba.njit, cached, without a C-callable
wrapper; one that only other kernels call, without the CPython wrapper either:
InnerKernel): tests/test_kernelcache.py checks that none is made otherwise.

One case stays open: a process that imported scslab before an edit and compiles a
kernel after it (a long notebook, say) caches that kernel under the old digest, where
only processes of the old source look. That is safe, only wasted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

import numba as nb
from numba.core import config
from numba.core.caching import CacheImpl, IndexDataCacheFile, _CacheLocator
from numba.core.registry import CPUDispatcher

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

try:
    import fcntl
except ImportError:  # (not a POSIX system: no lock)
    fcntl = None  # type: ignore[assignment]

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP_NAME = "scslab-source.sha256"
"""File in each digest folder holding the digest; its time stamp is the folder's last use."""
STALE_AFTER_DAYS = 30.0
"""Digest folders unused for longer than this many days are removed by prune()."""
_F = TypeVar("_F", bound=Callable[..., Any])


def _sources(package_dir: Path) -> list[Path]:
    """The package's .py files, all folders, in path order."""
    return sorted(package_dir.rglob("*.py"))


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 (hex) of the package's .py files: their paths within the package and
    their contents, in path order."""
    h = hashlib.sha256()
    for path in _sources(package_dir):
        rel = path.relative_to(package_dir).as_posix()
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def package_digest() -> str:
    """source_digest() of this package as this process first read it (its kernels'
    folder is named by it)."""
    return source_digest(PACKAGE_DIR)


def cache_root() -> Path:
    """The folder that holds one folder of kernels per source digest."""
    numba_dir = getattr(config, "CACHE_DIR", "")
    if numba_dir:
        return Path(numba_dir) / "scslab"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "scslab" / "kernels"


def fallback_root() -> Path:
    """Where kernels are cached when cache_root() cannot be written: a folder of the
    user's in the system's temporary folder."""
    return Path(tempfile.gettempdir()) / f"scslab-kernels-{os.getuid()}"


def kernel_cache_dir(root: Path | None = None) -> Path:
    """The folder of this source's kernels under `root` (default: cache_root()); it may
    not exist yet."""
    return (root if root is not None else cache_root()) / package_digest()[:20]


class SourceLocator(_CacheLocator):
    """numba cache locator for scslab's kernels: one folder per source digest (see the
    module's docstring), the digest as every kernel's source stamp."""

    def __init__(self, py_func: Any, py_file: str, root: Path | None = None) -> None:
        rel = Path(py_file).resolve().relative_to(PACKAGE_DIR)
        self._py_file = py_file  # (numba's warning that a kernel cannot be cached reads it)
        self._lineno = py_func.__code__.co_firstlineno
        self._folder = kernel_cache_dir(root)
        self._path = self._folder / rel.parent

    def ensure_cache_path(self) -> None:
        super().ensure_cache_path()
        stamp = self._folder / STAMP_NAME
        if not stamp.exists():
            stamp.write_text(package_digest())

    def get_cache_path(self) -> str:
        return str(self._path)

    def get_source_stamp(self) -> str:
        return package_digest()

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> SourceLocator | None:
        try:
            Path(py_file).resolve().relative_to(PACKAGE_DIR)
        except ValueError:
            return None  # not scslab's: numba's own locators
        for root in (cache_root(), fallback_root()):
            self = cls(py_func, py_file, root)
            try:
                self.ensure_cache_path()
            except OSError:
                continue
            return self
        return None  # nowhere to write: numba's own locators (or none)


LOCK_NAME = ".scslab-save.lock"
"""File in each folder of kernels that locked_save locks."""
_numba_save = IndexDataCacheFile.save


def _ours(cache_path: str) -> bool:
    """Whether numba's cache folder `cache_path` is one of scslab's."""
    for root in (cache_root(), fallback_root()):
        with contextlib.suppress(ValueError):
            Path(cache_path).relative_to(kernel_cache_dir(root))
            return True
    return False


def locked_save(cache_file: IndexDataCacheFile, key: Any, data: Any) -> None:
    """numba's IndexDataCacheFile.save, under an exclusive lock on the folder's
    LOCK_NAME file for scslab's kernels (see the module's docstring)."""
    folder = cache_file._cache_path
    if fcntl is None or not _ours(folder):
        _numba_save(cache_file, key, data)
        return
    with open(os.path.join(folder, LOCK_NAME), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _numba_save(cache_file, key, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class InnerKernel(CPUDispatcher):
    """A kernel that only other kernels call (`kernel(inner=True)`): compiled without
    numba's CPython wrapper, the code that unboxes each argument from a Python object
    and boxes the result (for due process's kernels, dozens of arrays in and out). As
    there is no such code, a call from Python raises TypeError instead of running it.
    (Nor does nogil mean anything for it: its caller's wrapper releases the GIL.) numba
    builds the wrapper of every other kernel it compiles, also of one that only kernels
    call in a run: a kernel that Python calls seldom is inner, with a thin outer twin
    that Python calls (`keep_triggers_from_python`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        name = f"{self.py_func.__module__}.{self.py_func.__qualname__}"
        raise TypeError(f"{name} is called only from other kernels (kernel(inner=True))")


@overload
def kernel(func: _F, /) -> Dispatcher[_F]: ...
@overload
def kernel(
    func: None = None, /, *, inner: bool = False, **options: Any
) -> Callable[[_F], Dispatcher[_F]]: ...
def kernel(func: Any = None, /, *, inner: bool = False, **options: Any) -> Any:
    """scslab's kernels: numba.njit(`options`), cached (here, by source digest), without
    the C-callable wrapper numba builds beside each kernel by default (scslab never
    takes a kernel's address, and every first run would compile the wrappers). inner:
    called only from other kernels, also without the CPython wrapper (InnerKernel). Use
    as @kernel, @kernel(inner=True) or @kernel(nogil=True, ...)."""
    if inner:
        options["no_cpython_wrapper"] = True
    jit = nb.njit(cache=True, no_cfunc_wrapper=True, **options)  # type: ignore[call-overload]

    def make(f: Any) -> Any:
        made = jit(f)
        if inner and isinstance(made, CPUDispatcher):  # (not with NUMBA_DISABLE_JIT)
            made.__class__ = InnerKernel
        return made

    return make if func is None else make(func)


def register() -> None:
    """Put SourceLocator first among numba's cache locators, and save scslab's kernels
    with locked_save (once per process)."""
    locators = CacheImpl._locator_classes
    if SourceLocator not in locators:
        locators.insert(0, SourceLocator)
    IndexDataCacheFile.save = locked_save  # type: ignore[method-assign]


def has_cached_kernels(cache_dir: Path | None = None) -> bool:
    """Whether the cache holds compiled kernels of this source (any '.nbc' file; by
    default in this source's folder under cache_root() or fallback_root(), where they
    go when the first cannot be written); False means that the next run compiles its
    kernels first."""
    if cache_dir is None:
        roots = (cache_root(), fallback_root())
        return any(has_cached_kernels(kernel_cache_dir(root)) for root in roots)
    try:
        return any(cache_dir.rglob("*.nbc"))
    except OSError:
        return False


def is_cached(kernel: Any) -> bool:
    """Whether numba's cache holds `kernel` (a numba dispatcher made with cache=True),
    compiled by an earlier process of this source for this numba and this processor,
    for some signature: its index (numba's) has an entry with this machine's key. An
    index of another numba, or of another processor (a cache shared between
    machines), reads as False, as does a numba that keeps its index otherwise."""
    cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
    load_index = getattr(cache_file, "_load_index", None)
    if load_index is None:
        return False
    try:
        index = load_index()  # {} when written by another numba or for another source
        machine = kernel.targetctx.codegen().magic_tuple()
    except Exception:  # an unreadable index: as if absent (the cache is an optimisation)
        return False
    return any(isinstance(key, tuple) and key[1:2] == (machine,) for key in index)


def prune(root: Path | None = None, max_age_days: float = STALE_AFTER_DAYS) -> list[Path]:
    """Mark this source's folder as used now and remove the folders of other sources
    (those holding a STAMP_NAME file, so written here) unused for `max_age_days` days.
    Returns the folders removed. Errors (a folder another process removes, a
    read-only cache) are ignored: the cache is an optimisation."""
    root = root if root is not None else cache_root()
    ours = kernel_cache_dir()
    removed: list[Path] = []
    try:
        (ours / STAMP_NAME).touch()
    except OSError:
        pass
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and p != ours]
    except OSError:
        return removed
    now = time.time()
    for folder in folders:
        try:
            used = (folder / STAMP_NAME).stat().st_mtime
        except OSError:
            continue  # not a folder of ours
        if now - used > max_age_days * 86400.0:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@functools.cache
def prune_once() -> None:
    """prune() the default cache root, once per process (the engine calls it as a run
    starts)."""
    prune()
