"""The temporary files of atomic writers, named after their writer so that a dead writer's can be told
from a live one's.

Before any work, a write target is checked by writing: `unwritable_reason` creates and removes a
probe file (under such a temporary name) where the writer will write. A writer writes
``.NAME~HOST~PID~TOKEN.tmp`` beside ``NAME`` (`temporary_path`) and renames it into place
(`atomic_write`, every writer's one way); an error or an interrupt removes it, but a writer killed outright (SIGKILL, the OOM
killer, a lost node) leaves it behind. `remove_stale` deletes those whose writer is gone: written
on this host by a process that is no longer running, or older than `STALE_AFTER_S` (a writer on
another host, whose process cannot be checked from here, or a pid since reused). A live writer's
file is never touched, so cleaning is safe beside running writers.
"""

from __future__ import annotations

import glob
import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

STALE_AFTER_S = 24 * 3600.0
"""Age (seconds since the last write) past which any writer's temporary file counts as abandoned."""

_SEP = "~"


def _host() -> str:
    return socket.gethostname().replace(_SEP, "-")


def temporary_path(path: str | os.PathLike) -> str:
    """A hidden, unique temporary name beside ``path`` that records this host and process."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}{_SEP}{_host()}{_SEP}{os.getpid()}{_SEP}{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", sync: bool = False) -> Iterator[IO]:
    """Write ``path`` all at once or not at all: the block writes to a `temporary_path` beside it, which
    is renamed over ``path`` when the block ends (after an ``fsync`` with ``sync``: the bytes are on disk
    before the name points at them) and removed on an error or an interrupt."""
    tmp = temporary_path(path)
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def unwritable_reason(folder: str | os.PathLike) -> str | None:
    """Why no file can be written in ``folder`` (or, while it does not exist, in the nearest folder above
    it that does, where it would be made), None when one can: a probe file is created there, written
    and removed. Permission bits say too little: root ignores them, and /proc, read-only mounts and
    immutable folders refuse a write whatever they say."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    probe = temporary_path(existing / "write-probe")
    try:
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return f"cannot create a file in {existing} ({exc.strerror or type(exc).__name__})"
    try:
        os.write(handle, b"\0")
    except OSError as exc:
        return f"cannot write a file in {existing} ({exc.strerror or type(exc).__name__})"
    finally:
        os.close(handle)
        os.unlink(probe)
    return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_stale(path: str | os.PathLike, now: float | None = None) -> bool:
    """Whether ``path`` is a writer's temporary file (`temporary_path`) that its writer abandoned."""
    name = os.path.basename(os.fspath(path))
    parts = name[1:-len(".tmp")].rsplit(_SEP, 3) if name.startswith(".") and name.endswith(".tmp") else []
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    try:
        age = (time.time() if now is None else now) - os.path.getmtime(path)
    except OSError:  # renamed into place meanwhile
        return False
    if age > STALE_AFTER_S:
        return True
    return parts[1] == _host() and not _running(int(parts[2]))


def remove_stale(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Delete the abandoned temporary files under ``folder`` (recursively), or only those of the
    file ``name`` in ``folder``; returns their paths."""
    root = Path(folder)
    if not root.is_dir():
        return []
    pattern = f".{glob.escape(name)}{_SEP}*.tmp" if name is not None else f".*{_SEP}*.tmp"
    candidates = root.glob(pattern) if name is not None else root.rglob(pattern)
    removed = []
    for path in candidates:
        if is_stale(path):
            try:
                path.unlink()
                removed.append(str(path))
            except FileNotFoundError:
                pass
    return removed


def await_writers(folder: str | os.PathLike, timeout_s: float, poll_s: float = 0.1) -> list[str]:
    """Wait until no writer's temporary file is left under ``folder``: a live writer finishes (its
    file is renamed into place) or dies (its file is then stale and removed). Returns the files still
    being written after ``timeout_s`` seconds."""
    root = Path(folder)
    deadline = time.monotonic() + timeout_s
    while True:
        remove_stale(root)
        left = sorted(str(p) for p in root.rglob(f".*{_SEP}*.tmp")) if root.is_dir() else []
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(poll_s)
