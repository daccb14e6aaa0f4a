"""Where a result came from: the code's version and commit, the machine, the time.

One definition for every writer of provenance (result rows, the MLflow tags, the report):

- `package_version`: ``mmgc.__version__`` of the running code;
- `git_commit`: the commit of the git checkout holding the running package, with ``+dirty`` when
  tracked files have local changes (``git status --porcelain --untracked-files=no``); None outside
  a checkout or without git. Computed once per process: the code a process runs is the code it
  imported, so later edits to the tree do not change its rows;
- `host_name`: this machine's host name; `node_name`: the host, plus the Ray node id inside Ray;
- `now_iso`: the current UTC time, ISO 8601 with milliseconds.
"""

from __future__ import annotations

import datetime as _dt
import functools
import socket
import subprocess
import sys
from pathlib import Path

from mmgc import __version__


def package_version() -> str:
    return __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout holding the package (``+dirty`` with local changes; None outside git)."""
    return commit_of(Path(__file__).resolve().parent)


def commit_of(where: Path) -> str | None:
    """The commit checked out at the folder ``where``, ``+dirty`` when tracked files have local changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def host_name() -> str:
    return socket.gethostname()


def node_name() -> str:
    """The host, plus the Ray node id (first 8 characters) when running inside an initialised Ray."""
    host = host_name()
    if "ray" in sys.modules:  # never imports Ray itself
        try:
            import ray

            if ray.is_initialized():
                return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
        except Exception:  # a half-initialised Ray: the host alone is still true
            pass
    return host


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
