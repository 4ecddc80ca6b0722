"""The compiled kernels' cache, kept in step with the source.

numba (`cache=True`) keys each kernel's cached machine code on the time stamp of the
kernel's own file only. A kernel that calls kernels of other modules (compiled.run_days
calls results.tally_scores, scoring.drift and others) is loaded from the cache with
those callees as they were when it was cached, after their modules have changed: an edit
to a callee would not take effect in its callers until the cache were removed by hand.
`refresh()` keeps a digest of all of scslab's source files beside the cache and, when
the source has changed since it was written, removes scslab's cached kernels, so that
each is compiled afresh on first use (and cached again). A released install, whose files
change only all together, loses nothing by it.

One case stays open: a process that imported scslab before an edit and compiles a
kernel after it (a long notebook, say) still caches that kernel as of the old source,
and a later process loads it. Restart such processes after editing the package.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

STAMP_NAME = "scslab-source.sha256"
PACKAGE_DIR = Path(__file__).resolve().parent


def _sources(package_dir: Path) -> list[Path]:
    """The package's .py files, in name order."""
    return sorted(package_dir.glob("*.py"))


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 (hex) of the package's .py files: their names and contents, in name order."""
    h = hashlib.sha256()
    for path in _sources(package_dir):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def refresh(cache_dir: Path, package_dir: Path = PACKAGE_DIR) -> bool:
    """Remove the cached kernels of the package's modules (numba's '<module>.*.nbi' and
    '.nbc' files in cache_dir) unless cache_dir's stamp is the digest of the source as it
    is; then write the stamp (making the folder where there is none yet, so that the
    kernels cached next are known to be of this source). Returns whether cached kernels
    were removed. A folder that cannot be written is left alone (numba then caches
    elsewhere or not at all)."""
    stamp = cache_dir / STAMP_NAME
    digest = source_digest(package_dir)
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass  # no stamp yet: a cache written before it, or none
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    modules = {p.stem for p in _sources(package_dir)}
    removed = False
    try:
        for path in cache_dir.iterdir():
            if path.suffix in (".nbi", ".nbc") and path.name.split(".")[0] in modules:
                path.unlink(missing_ok=True)
                removed = True
        tmp = stamp.with_name(f"{STAMP_NAME}.{os.getpid()}.tmp")
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        pass  # read-only: numba cannot have cached anything here either
    return removed


def kernel_cache_dir() -> Path | None:
    """The folder numba caches scslab's kernels in (the same for every module of the
    package), or None where numba has none for them."""
    from scslab.streams import hash_poisson

    path = hash_poisson.stats.cache_path
    return Path(path) if path else None


def has_cached_kernels(cache_dir: Path | None = None) -> bool:
    """Whether numba's cache holds compiled kernels of scslab (any '.nbc' file of one of
    its modules); False means that the next run compiles its kernels first (20-60 s)."""
    folder = cache_dir if cache_dir is not None else kernel_cache_dir()
    if folder is None:
        return False
    modules = {p.stem for p in _sources(PACKAGE_DIR)}
    try:
        return any(p.name.split(".")[0] in modules for p in folder.glob("*.nbc"))
    except OSError:
        return False
