"""The kernels' cache is emptied of scslab's kernels when any source file changes."""

from __future__ import annotations

import os

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


def test_importing_scslab_stamps_numbas_cache_folder() -> None:
    folder = kernelcache.kernel_cache_dir()
    assert folder is not None
    if os.access(folder, os.W_OK):
        stamp = (folder / kernelcache.STAMP_NAME).read_text()
        assert stamp == kernelcache.source_digest()
