"""The run directory on disk: claimed, filled under a temporary name, swapped in whole.

A run directory is whole or absent, never half, and scslab never deletes or writes
into what it did not write:

- a target that exists and is not a scslab run (a file, a folder with anything in it
  but a run) is refused, whatever the flags; an empty folder may be filled;
- an existing run is replaced only when the caller says so (``overwrite``), and the old
  run stays in place until the new one is complete: the two are exchanged in one atomic
  ``renameat2(RENAME_EXCHANGE)`` (on a file system without it, two renames, and a run
  left aside by a kill between them is put back by the next claim);
- one writer at a time: ``.NAME.lock`` beside the target is held with ``flock`` while
  the run is made, so a second writer is refused at once, and a dead process holds
  nothing (the kernel drops its lock);
- the new run is written into ``.NAME.partial`` beside the target, marked as scslab's
  own; a failed write removes it, and one left by a killed process is removed by the
  next claim of the same target (only while holding the lock, so never one in use).

Every refusal and every failure to write is a `RunDirError` with a one-line message
naming the path, raised before any simulation work when it can be known then.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PARTIAL_MARK = ".scslab-partial"
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class RunDirError(Exception):
    """A run directory cannot be claimed or written; the message is one line."""


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a directory holding a scslab run (its manifest.json names the
    scslab version and the scenario's hash)."""
    try:
        doc = json.loads((path / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "scslab_version" in doc and "scenario_sha256" in doc


def _is_ours(path: Path) -> bool:
    """A partial or set-aside directory that scslab wrote (marked, or a whole run)."""
    return path.is_dir() and ((path / PARTIAL_MARK).is_file() or is_run_dir(path))


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


@dataclass
class Staging:
    """A claimed target: the lock held and an empty partial directory to fill."""

    target: Path
    partial: Path
    aside: Path
    lock_path: Path
    lock_fd: int
    created: list[Path] = field(default_factory=list)  # parents made by the claim
    partial_made: bool = False  # the partial directory is this claim's own
    done: bool = False

    def commit(self) -> Path:
        """Put the filled partial directory in the target's place, atomically; an
        existing run at the target is exchanged with it and then removed."""
        replaced = self.target.exists() and any(self.target.iterdir())
        if replaced and not is_run_dir(self.target):
            raise RunDirError(
                f"{self.target}: something that is not a scslab run appeared there during "
                "the run; it is kept, and the new run was not written"
            )
        (self.partial / PARTIAL_MARK).unlink()
        if not replaced:
            os.replace(self.partial, self.target)  # absent, or an empty folder
        elif not _exchange(self.partial, self.target):
            os.replace(self.target, self.aside)
            os.replace(self.partial, self.target)
            _remove_old(self.aside)
        else:
            _remove_old(self.partial)  # the old run, exchanged into the partial's name
        self.done = True
        self._release()
        return self.target

    def abandon(self) -> None:
        """Remove the partial directory and the parents the claim made; release the lock."""
        if self.done:
            return
        if self.partial_made:
            shutil.rmtree(self.partial, ignore_errors=True)
        self._release()
        for parent in reversed(self.created):
            try:
                parent.rmdir()
            except OSError:
                break
        self.done = True

    def _release(self) -> None:
        release_lock(self.lock_fd, self.lock_path)


def _remove_old(path: Path) -> None:
    """Remove a replaced run: marked first and the mark removed last, so that a kill in
    between leaves a folder the next claim knows as scslab's own (and removes). A failure
    here leaves that folder for the next claim; the new run is in place either way."""
    try:
        (path / PARTIAL_MARK).write_text("replaced\n", "utf-8")
        for child in path.iterdir():
            if child.name == PARTIAL_MARK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        (path / PARTIAL_MARK).unlink()
        path.rmdir()
    except OSError:
        pass


def _exchange(a: Path, b: Path) -> bool:
    """Exchange two paths atomically (Linux renameat2); False where not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def hold_lock(path: Path, label: str) -> int:
    """Hold the lock file `path` with flock (never waiting) for the writer of `label`;
    returns the file descriptor. RunDirError (one line) while another process holds it.

    The holder unlinks the file before closing it, so a process that opened the old file
    checks after locking that the name still points at what it locked, and tries again.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RunDirError(
                f"{label}: another scslab process (pid {holder}) is writing here; wait "
                "for it to finish or choose another output"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def release_lock(fd: int, path: Path) -> None:
    """Release a lock taken with hold_lock: the file is unlinked while still held."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    os.close(fd)


def _check_target(target: Path, overwrite: bool, label: str) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise RunDirError(f"{label}: exists and is not a directory; give a new directory name")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not is_run_dir(target):
        raise RunDirError(
            f"{label}: exists and is not a scslab run directory; scslab writes only new "
            "directories or replaces its own runs, so give another name"
        )
    if not overwrite:
        raise RunDirError(
            f"{label}: a run directory is already there; give --overwrite to replace it "
            "(the old run is kept until the new one is complete)"
        )


def make_parents(parent: Path, label: str) -> list[Path]:
    """Make the missing directories of `parent`, outermost first; returns those made (for
    remove_empty to take back). RunDirError naming `label` when a file is in the way."""
    missing = []
    p = parent
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{label}: {p} is a file, not a directory")
    created = []
    for d in reversed(missing):
        d.mkdir()
        created.append(d)
    return created


def _recover(target: Path, aside: Path, partial: Path) -> None:
    """Under the lock: put back a run set aside by a killed exchange, and remove a
    partial directory a killed process left (only ones scslab marked or whole runs)."""
    if aside.exists() and _is_ours(aside):
        if not target.exists():
            os.replace(aside, target)
        elif is_run_dir(target):
            shutil.rmtree(aside)
    if partial.exists():
        if not _is_ours(partial):
            raise RunDirError(f"{partial}: exists and was not written by scslab; remove it first")
        shutil.rmtree(partial)


def claim(out: str | Path, overwrite: bool = False) -> Staging:
    """Claim `out` for a new run: check it, lock it, and make the empty partial directory
    to write into. Raises RunDirError (one line) when the target cannot be written."""
    if str(out).strip() == "":
        raise RunDirError("output: give a directory name (got an empty string)")
    target = Path(os.path.abspath(out))
    if target.parent == target:
        raise RunDirError(f"{out}: the root directory cannot be a run directory")
    name, label = target.name, str(out)
    partial = target.with_name(f".{name}.partial")
    created: list[Path] = []
    try:
        _check_target(target, overwrite, label)
        created = make_parents(target.parent, label)
        lock_path = target.with_name(f".{name}.lock")
        lock_fd = hold_lock(lock_path, label)
    except RunDirError:
        remove_empty(created)
        raise
    except OSError as err:
        remove_empty(created)
        raise RunDirError(f"{out}: cannot write a run directory here: {_describe(err)}") from None
    stage = Staging(target, partial, target.with_name(f".{name}.old"), lock_path, lock_fd, created)
    try:
        _recover(target, stage.aside, partial)
        _check_target(target, overwrite, label)  # again, now that we hold the lock
        partial.mkdir()
        stage.partial_made = True
        (partial / PARTIAL_MARK).write_text(f"{os.getpid()}\n", "utf-8")
    except RunDirError:
        stage.abandon()
        raise
    except OSError as err:
        stage.abandon()
        raise RunDirError(f"{out}: cannot write a run directory here: {_describe(err)}") from None
    return stage


def remove_empty(dirs: list[Path]) -> None:
    """Remove the directories `dirs` (made by make_parents), innermost first, those that
    are still empty."""
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return


@contextmanager
def claimed(out: str | Path | None, overwrite: bool = False) -> Iterator[Staging | None]:
    """`claim(out)` for the length of a block (None when `out` is None). The block fills
    and commits the staging; if it raises, or ends without committing, the partial
    directory is removed and an older run at `out` is left as it was. An OSError while
    writing becomes a one-line RunDirError."""
    if out is None:
        yield None
        return
    stage = claim(out, overwrite)
    try:
        yield stage
    except OSError as err:
        stage.abandon()
        kept = " (the run that was there is kept)" if is_run_dir(stage.target) else ""
        raise RunDirError(
            f"{out}: could not write the run: {_describe(err)}; its partial files were "
            f"removed{kept}"
        ) from None
    finally:
        stage.abandon()


def write_file(path: str | Path, text: str, signature: str) -> Path:
    """Write a text file scslab makes (a report, audit.json) whole or not at all: into a
    temporary name beside it, then renamed over it. An existing file is replaced only
    when its first 4 KiB hold `signature` (scslab wrote it); anything else there is
    refused with a one-line RunDirError, and so is a failed write (nothing left)."""
    path = Path(path)
    if path.is_symlink() or path.is_dir():
        raise RunDirError(f"{path}: exists and is not a file scslab wrote; give another name")
    if path.exists():
        try:
            with path.open("rb") as fh:
                head = fh.read(4096)
        except OSError as err:
            raise RunDirError(f"{path}: cannot read it: {_describe(err)}") from None
        if signature.encode("utf-8") not in head:
            raise RunDirError(
                f"{path}: exists and was not written by scslab; it is kept, give another name"
            )
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RunDirError(f"{path}: could not write it: {_describe(err)}") from None
    return path
