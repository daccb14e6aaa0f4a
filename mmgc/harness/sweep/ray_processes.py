"""The Ray processes a sweep's driver started, recorded so that a later sweep can stop them when
the driver was killed (SIGKILL leaves it no chance to clean up)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

RAY_SESSIONS = Path(os.environ.get("MMGC_RAY_SESSIONS") or Path(tempfile.gettempdir()) / "mmgc-ray-sessions")


def _process_key(proc: Any) -> list[Any]:
    return [proc.pid, proc.create_time(), proc.name()]


def _is_ray(proc: Any) -> bool:
    """A process of Ray's own (its binaries and Python entry points live under ``.../ray/``; workers
    retitle themselves ``ray::...``)."""
    try:
        command = " ".join(proc.cmdline())
    except Exception:  # psutil.Error: gone or not ours
        return False
    return "/ray/" in command or command.startswith("ray::")


def record_ray_processes(folder: Path = RAY_SESSIONS) -> Path | None:
    """Write the Ray processes this driver started (its descendants that are Ray's: GCS, raylet,
    dashboard and runtime-env agents, workers) to ``folder/<pid>.json``, so that a later sweep can
    stop them if this driver is killed (SIGKILL leaves no chance to clean up)."""
    try:
        import psutil

        me = psutil.Process()
        children = [_process_key(p) for p in me.children(recursive=True) if _is_ray(p)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{me.pid}.json"
        path.write_text(json.dumps({"driver": _process_key(me), "children": children}))
        return path
    except (ImportError, OSError):
        return None


def _stop(processes: Sequence[Sequence[Any]], timeout: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, each recorded process still alive (same pid *and* start time)."""
    import psutil

    alive = []
    for pid, created, _name in processes:
        try:
            proc = psutil.Process(int(pid))
            if abs(proc.create_time() - float(created)) < 1e-3:
                proc.terminate()
                alive.append(proc)
        except (psutil.Error, OSError):
            continue
    _, still = psutil.wait_procs(alive, timeout=timeout)
    for proc in still:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return [p.pid for p in alive]


def stop_orphaned_ray(folder: Path = RAY_SESSIONS) -> list[int]:
    """Stop the Ray processes of sweeps on this machine whose driver is gone; returns their pids."""
    try:
        import psutil
    except ImportError:
        return []
    stopped: list[int] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            pid, created, _ = record["driver"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        try:
            driver_alive = abs(psutil.Process(int(pid)).create_time() - float(created)) < 1e-3
        except psutil.Error:
            driver_alive = False
        if driver_alive:
            continue
        stopped += _stop(record.get("children", []))
        path.unlink(missing_ok=True)
    return stopped


def release_ray_processes(record: Path | None) -> None:
    """After ``ray.shutdown()``: stop what of the recorded processes is still running, forget the record."""
    if record is None:
        return
    try:
        _stop(json.loads(record.read_text()).get("children", []), timeout=2.0)
    except (OSError, ValueError, ImportError):
        pass
    record.unlink(missing_ok=True)
