"""The kernels' cache is emptied of scslab's kernels when any source file changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scslab import kernelcache


def test_cached_kernels_go_when_the_source_changes(tmp_path) -> None:
    package, cache = tmp_path / "pkg", tmp_path / "cache"
    package.mkdir()
    (package / "results.py").write_text("x = 1\n")
    (package / "compiled.py").write_text("y = 2\n")
    cache.mkdir()
    ours = ["compiled.run_days-143.py311.nbi", "results.tally_scores-294.py311.1.nbc"]
    theirs = ["other.f-1.py311.nbi", "results.notes.txt"]
    for name in ours + theirs:
        (cache / name).write_bytes(b"machine code")
    # a cache from before any stamp: its kernels may be stale
    assert kernelcache.refresh(cache, package)
    assert sorted(p.name for p in cache.iterdir()) == sorted([*theirs, kernelcache.STAMP_NAME])
    # kernels cached since, with the source unchanged: kept
    (cache / ours[0]).write_bytes(b"new machine code")
    assert not kernelcache.refresh(cache, package)
    assert (cache / ours[0]).exists()
    # one module edited (even a module without kernels: its constants may be compiled in)
    (package / "results.py").write_text("x = 3\n")
    assert kernelcache.refresh(cache, package)
    assert not (cache / ours[0]).exists() and (cache / theirs[0]).exists()
    assert (cache / kernelcache.STAMP_NAME).read_text() == kernelcache.source_digest(package)


def test_a_new_cache_folder_is_stamped_before_kernels_are_cached(tmp_path) -> None:
    package, cache = tmp_path / "pkg", tmp_path / "not" / "yet"
    package.mkdir()
    (package / "scoring.py").write_text("z = 0\n")
    assert not kernelcache.refresh(cache, package)
    (cache / "scoring.drift-84.py311.nbi").write_bytes(b"machine code")
    assert not kernelcache.refresh(cache, package)  # the next process keeps them
    assert (cache / "scoring.drift-84.py311.nbi").exists()


def test_importing_scslab_removes_kernels_cached_from_other_source(tmp_path) -> None:
    """`import scslab` refreshes numba's cache folder for it (here one under a
    NUMBA_CACHE_DIR of its own) before any kernel is loaded: a kernel file left by other
    source goes, and no kernel has been compiled or loaded by the import."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    probe = (
        "import sys, scslab\n"
        "from numba.core.registry import CPUDispatcher\n"
        "from scslab import kernelcache\n"
        "loaded = [f'{m}.{k}' for m, mod in list(sys.modules.items()) if m.startswith('scslab')"
        " for k, v in vars(mod).items() if isinstance(v, CPUDispatcher) and v.signatures]\n"
        "print(kernelcache.kernel_cache_dir(), loaded)\n"
    )

    def import_scslab() -> str:
        proc = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    folder, loaded = import_scslab().split(" ", 1)
    assert loaded == "[]"
    cache = Path(folder)
    assert cache.is_relative_to(tmp_path)
    assert (cache / kernelcache.STAMP_NAME).read_text() == kernelcache.source_digest()
    stale = cache / "results.tally_scores-294.py311.1.nbc"
    stale.write_bytes(b"machine code of other source")
    (cache / kernelcache.STAMP_NAME).write_text("0" * 64)
    import_scslab()
    assert not stale.exists()
    assert (cache / kernelcache.STAMP_NAME).read_text() == kernelcache.source_digest()
