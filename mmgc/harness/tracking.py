"""MLflow tracking: a parent run per sweep, a child run per trial, and the condensed graph's curves.

The sweep driver calls `init_store` (creates the store and the experiment before any trial starts,
so that concurrent trials never race to create tables), then `start_sweep_run`, hands the returned
`SweepTracking` (a small picklable record) to every trial, and finally `end_sweep_run`. Each trial
calls `log_trial` once, after condensing and evaluating, and writes the returned run id into its
rows' ``mlflow_run_id`` (`attach_run_id`). A single `mmgc run` may call `log_trial` with no parent.

Where things go:
- the default tracking URI is ``sqlite:///<results_root>/mlflow.db``; any URI MLflow understands
  works (``--mlflow-uri``), and ``--no-mlflow`` turns tracking off (every function here accepts
  ``None`` and does nothing);
- artifacts of a local store (SQLite or a directory) go to ``<store dir>/mlartifacts``; a remote
  tracking server chooses its own artifact location.

Concurrency: SQLite serialises writers with a file lock; every MLflow call here retries with
backoff when the database is locked, and the tables exist before the trials start. Tracking never
fails a trial: an MLflow error becomes a warning and ``None`` run id.

MLflow is imported inside functions only (``import mmgc.harness.tracking`` stays cheap).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from mmgc.harness.tracking_hook import Tracking
from mmgc.harness.statistics import summary_of
from mmgc.provenance import git_commit, host_name, package_version

DB_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
HISTORY_ARTIFACT = "history.json"
GRAPH_ARTIFACT_DIR = "condensed"
CONFIG_ARTIFACT = "trial_config.json"
ROWS_ARTIFACT = "rows.json"
EXPERIMENT_FILE_DIR = "experiment"

# tags
TAG_KIND = "mmgc.kind"            # 'sweep' (parent) or 'trial' (child)
TAG_PARENT = "mlflow.parentRunId"  # MLflow's own parent tag: the UI nests children under it
HISTORY_PREFIX = "condense/"       # per-epoch metrics of condensation: condense/<history key>
TAG_DRIVER_HOST = "mmgc.driver_host"  # the sweep driver's machine and process (to tell a killed one)
TAG_DRIVER_PID = "mmgc.driver_pid"

T = TypeVar("T")


@dataclass(frozen=True)
class SweepTracking:
    """What a trial needs to log itself under its sweep (picklable; travels to Ray workers)."""

    uri: str
    experiment_id: str
    experiment: str
    parent_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------- store
def default_uri(results_root: str | os.PathLike) -> str:
    """``sqlite:///<absolute results_root>/mlflow.db``."""
    return "sqlite:///" + str((Path(results_root).expanduser().resolve() / DB_FILE))


def resolve_uri(results_root: str | os.PathLike | None, uri: str | None = None, enabled: bool = True) -> str | None:
    """The tracking URI to use: None when tracking is off, ``uri`` when given, else the default
    SQLite file under ``results_root``."""
    if not enabled:
        return None
    if uri:
        return uri
    if results_root is None:
        return None
    return default_uri(results_root)


def local_store_dir(uri: str) -> Path | None:
    """The directory of a local store (SQLite file's folder, or a file store), None for a server."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if "://" not in uri:
        return Path(uri)
    return None


def artifact_location(uri: str) -> str | None:
    """Where a new experiment of a local store keeps its artifacts (``<store dir>/mlartifacts``)."""
    root = local_store_dir(uri)
    return None if root is None else (root / ARTIFACT_DIR).resolve().as_uri()


_CLIENTS: dict[str, Any] = {}


def client(uri: str):
    """A cached `MlflowClient` for ``uri`` (one per process)."""
    if uri not in _CLIENTS:
        root = local_store_dir(uri)
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow.tracking import MlflowClient

        _CLIENTS[uri] = _retry(lambda: MlflowClient(tracking_uri=uri))
    return _CLIENTS[uri]


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("database is locked", "database table is locked", "database is busy",
                                   "disk i/o error", "temporarily unavailable"))


def _retry(fn: Callable[[], T], attempts: int = 12, base_delay: float = 0.05) -> T:
    """Call ``fn``, retrying with jittered exponential backoff while the store is locked."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # MLflow wraps SQLAlchemy errors in MlflowException
            if attempt == attempts - 1 or not _is_transient(exc):
                raise
            time.sleep(min(2.0, base_delay * 2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def init_store(uri: str | None, experiment: str) -> str | None:
    """Create the store (tables) and the experiment if missing; return the experiment id.

    Call it once in the driver before any trial starts."""
    if uri is None:
        return None
    c = client(uri)

    def get_or_create() -> str:
        found = c.get_experiment_by_name(experiment)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                c.restore_experiment(found.experiment_id)
            return found.experiment_id
        try:
            return c.create_experiment(experiment, artifact_location=artifact_location(uri))
        except Exception:
            found = c.get_experiment_by_name(experiment)  # created by someone else meanwhile
            if found is None:
                raise
            return found.experiment_id

    return _retry(get_or_create)


# ---------------------------------------------------------------------------------------- provenance
def machine_info() -> dict[str, str]:
    info = {
        "hostname": host_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": str(os.cpu_count()),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except Exception:  # torch missing or CUDA misconfigured: provenance is best effort
        pass
    return info


# ---------------------------------------------------------------------------------------- sweep runs
def start_sweep_run(uri: str | None, experiment: str, *, experiment_file: str | os.PathLike | None = None,
                    run_name: str | None = None, params: Mapping[str, Any] | None = None,
                    tags: Mapping[str, str] | None = None) -> SweepTracking | None:
    """Create the experiment (if needed) and a parent run for one sweep; log the experiment file as
    an artifact, the package version, the git commit and the machine. None when ``uri`` is None."""
    if uri is None:
        return None
    experiment_id = init_store(uri, experiment)
    c = client(uri)
    all_tags = {TAG_KIND: "sweep", "mmgc.version": package_version(), "mmgc.git_commit": git_commit() or "unknown",
                TAG_DRIVER_HOST: host_name(), TAG_DRIVER_PID: str(os.getpid())}
    all_tags.update({f"machine.{k}": v for k, v in machine_info().items()})
    if experiment_file is not None:
        all_tags["mmgc.experiment_file"] = str(Path(experiment_file).resolve())
    all_tags.update(tags or {})
    run = _retry(lambda: c.create_run(experiment_id, run_name=run_name or f"sweep-{experiment}", tags=all_tags))
    run_id = run.info.run_id
    if params:
        _log_params(c, run_id, params)
    if experiment_file is not None and Path(experiment_file).is_file():
        _retry(lambda: c.log_artifact(run_id, str(experiment_file), EXPERIMENT_FILE_DIR))
    return SweepTracking(uri=uri, experiment_id=experiment_id, experiment=experiment, parent_run_id=run_id)


def end_sweep_run(tracking: SweepTracking | None, status: str = "FINISHED",
                  metrics: Mapping[str, float] | None = None) -> None:
    """Close the parent run: ``FINISHED``, ``FAILED`` or ``KILLED`` (a sweep stopped by Ctrl-C)."""
    if tracking is None or tracking.parent_run_id is None:
        return
    c = client(tracking.uri)
    if metrics:
        _log_metrics(c, tracking.parent_run_id, [(k, v, 0) for k, v in metrics.items()])
    _retry(lambda: c.set_terminated(tracking.parent_run_id, status=status))


def _driver_alive(pid: int, started_ms: int) -> bool:
    """Whether process ``pid`` on this machine is alive and older than a run that started at ``started_ms``
    (a younger process with the same pid is another program)."""
    try:
        import psutil

        return psutil.Process(pid).create_time() * 1000 <= started_ms + 1000
    except ImportError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    except Exception:  # psutil.NoSuchProcess, AccessDenied: not a driver we can see
        return False


def close_orphaned_runs(uri: str | None, experiment: str) -> list[str]:
    """Close, as ``KILLED``, the runs of ``experiment`` that a sweep driver killed on this machine left
    ``RUNNING``: its parent run (its driver process is gone) and their trial runs, plus trial runs still
    ``RUNNING`` under a parent that has ended. Returns the ids closed. Runs of drivers on other
    machines, or still alive, are left alone."""
    if uri is None or (uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file()):
        return []
    c = client(uri)
    found = _retry(lambda: c.get_experiment_by_name(experiment))
    if found is None:
        return []
    running = _retry(lambda: c.search_runs([found.experiment_id], "attributes.status = 'RUNNING'", max_results=5000))
    host = host_name()
    dead_parents = set()
    for run in running:
        tags = run.data.tags
        if tags.get(TAG_KIND) != "sweep" or tags.get(TAG_DRIVER_HOST) != host or not tags.get(TAG_DRIVER_PID, "").isdigit():
            continue
        if not _driver_alive(int(tags[TAG_DRIVER_PID]), run.info.start_time or 0):
            dead_parents.add(run.info.run_id)
    closed = []
    for run in running:
        parent = run.data.tags.get(TAG_PARENT)
        ended_parent = False
        if run.data.tags.get(TAG_KIND) == "trial" and parent and parent not in dead_parents:
            try:
                ended_parent = _retry(lambda: c.get_run(parent)).info.status != "RUNNING"
            except Exception:  # the parent was deleted: the trial run is an orphan too
                ended_parent = True
        if run.info.run_id in dead_parents or parent in dead_parents or ended_parent:
            _retry(lambda: c.set_terminated(run.info.run_id, status="KILLED"))
            closed.append(run.info.run_id)
    return closed


# ---------------------------------------------------------------------------------------- history
def history_series(history: Any) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch numeric series from a condensed graph's ``info['history']``.

    Accepted shapes: a list of per-epoch dicts (the epoch in ``epoch`` or ``step``, else the list
    index), or a dict of equally long lists (the epochs in ``epoch``/``step`` when present). Values
    that are not finite numbers (None at epochs without a checkpoint, NaN) are skipped, so a metric
    recorded only at checkpoints keeps its own epochs.
    """
    series: dict[str, list[tuple[int, float]]] = {}

    def add(key: str, step: int, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:  # numpy / torch scalars
                value = float(value) if hasattr(value, "__float__") and not isinstance(value, (str, bytes)) else None
            except (TypeError, ValueError):
                value = None
            if value is None:
                return
        value = float(value)
        if math.isfinite(value):
            series.setdefault(key, []).append((int(step), value))

    if isinstance(history, Mapping):
        steps = history.get("epoch", history.get("step"))
        for key, values in history.items():
            if key in ("epoch", "step") or not isinstance(values, (list, tuple)):
                continue
            for i, value in enumerate(values):
                step = steps[i] if isinstance(steps, (list, tuple)) and i < len(steps) else i
                add(key, step, value)
    elif isinstance(history, (list, tuple)):
        for i, entry in enumerate(history):
            if not isinstance(entry, Mapping):
                continue
            step = entry.get("epoch", entry.get("step", i))
            for key, value in entry.items():
                if key in ("epoch", "step"):
                    continue
                if isinstance(value, Mapping):  # nested groups, e.g. {"loss": {"gm": .., "reg": ..}}
                    for sub, v in value.items():
                        add(f"{key}/{sub}", step, v)
                else:
                    add(key, step, value)
    return series


_BAD_METRIC_CHARS = re.compile(r"[^0-9A-Za-z_\-. /]")


def metric_name(key: str) -> str:
    """A history key as an MLflow metric name (MLflow allows letters, digits, ``_-. /``)."""
    return _BAD_METRIC_CHARS.sub("_", str(key))[:250]


def trial_params(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The params of a trial's run, read from its result rows (all rows of a trial share them)."""
    if not rows:
        return {}
    first = rows[0]
    params: dict[str, Any] = {}
    for key in ("experiment", "phase", "trial_id", "dataset", "dataset_variant", "setting", "ratio", "n",
                "method", "config_hash", "condense_seed", "condense_arch", "edge_threshold", "regularizers",
                "metric", "device", "package_version", "git_commit"):
        if first.get(key) is not None:
            params[key] = first[key]
    params["eval_archs"] = ",".join(sorted({str(r["arch"]) for r in rows if r.get("arch") is not None}))
    params["eval_seeds"] = ",".join(str(s) for s in sorted({r["eval_seed"] for r in rows if r.get("eval_seed") is not None}))
    try:
        config = json.loads(first.get("method_config") or "{}")
    except (TypeError, ValueError):
        config = {}
    for key, value in (config.items() if isinstance(config, dict) else ()):
        params[f"config.{key}"] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return params


def trial_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Final metrics: per evaluation architecture the mean and (population) std of val and test metric
    over the ok rows (`mmgc.harness.statistics.summary_of`), plus condensation time and memory."""
    out: dict[str, float] = {}
    ok = [r for r in rows if r.get("status") == "ok"]
    for arch in sorted({str(r.get("arch")) for r in ok}):
        for col in ("val_metric", "test_metric"):
            summary = summary_of(r.get(col) for r in ok if str(r.get("arch")) == arch)
            if summary is not None:
                out[f"{col}/{arch}/mean"] = summary.mean
                out[f"{col}/{arch}/std"] = summary.std
    for col in ("condense_seconds", "condense_peak_mb", "n"):
        values = [float(r[col]) for r in rows if r.get(col) is not None]
        if values:
            out[col] = values[0]
    out["rows_ok"] = float(len(ok))
    out["rows_failed"] = float(len(rows) - len(ok))
    return out


def _log_params(c, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(metric_name(k), str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(items), 100):
        chunk = items[start:start + 100]
        _retry(lambda: c.log_batch(run_id, params=chunk))


def _log_metrics(c, run_id: str, triples: Iterable[tuple[str, float, int]]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(metric_name(k), float(v), now, int(step)) for k, v, step in triples
             if v is not None and math.isfinite(float(v))]
    for start in range(0, len(items), 1000):
        chunk = items[start:start + 1000]
        _retry(lambda: c.log_batch(run_id, metrics=chunk))


def log_trial(tracking: SweepTracking | None, rows: Sequence[Mapping[str, Any]], *, condensed: Any = None,
              condensed_path: str | os.PathLike | None = None, history: Any = None, run_name: str | None = None,
              extra_params: Mapping[str, Any] | None = None, strict: bool = False) -> str | None:
    """Log one trial as a child run of the sweep and return its run id (None when tracking is off
    or MLflow failed; ``strict=True`` raises instead).

    Args:
        tracking: from `start_sweep_run` (or `SweepTracking(uri, experiment_id, experiment)` with no
            parent for a single run).
        rows: the trial's result rows (`mmgc.harness.schema` columns): params and final metrics.
        condensed: the `CondensedGraph` (its ``info['history']`` gives the per-epoch metrics); saved
            as an artifact when ``condensed_path`` is not given.
        condensed_path: the condensed graph file already written by the trial (logged as is).
        history: the per-epoch history when no condensed graph is at hand.
    """
    if tracking is None:
        return None
    try:
        return _log_trial(tracking, rows, condensed, condensed_path, history, run_name, extra_params)
    except Exception as exc:
        if strict:
            raise
        warnings.warn(f"MLflow logging failed for trial {rows[0].get('trial_id') if rows else '?'}: "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
        return None


def _log_trial(tracking: SweepTracking, rows, condensed, condensed_path, history, run_name, extra_params) -> str:
    c = client(tracking.uri)
    first = rows[0] if rows else {}
    tags = {TAG_KIND: "trial"}
    if tracking.parent_run_id:
        tags[TAG_PARENT] = tracking.parent_run_id
    for key in ("experiment", "phase", "dataset", "method", "trial_id", "status"):
        if first.get(key) is not None:
            tags[f"mmgc.{key}"] = str(first[key])
    if any(r.get("status") != "ok" for r in rows):
        errors = sorted({str(r.get("error")) for r in rows if r.get("status") != "ok"})
        tags["mmgc.error"] = "; ".join(errors)[:5000]
    name = run_name or "-".join(str(first.get(k)) for k in ("method", "dataset", "ratio", "condense_seed")
                                if first.get(k) is not None) or None
    run = _retry(lambda: c.create_run(tracking.experiment_id, run_name=name, tags=tags))
    run_id = run.info.run_id
    try:
        params = trial_params(rows)
        params.update(extra_params or {})
        _log_params(c, run_id, params)

        if history is None and condensed is not None:
            history = (getattr(condensed, "info", None) or {}).get("history")
        series = history_series(history) if history is not None else {}
        triples = [(HISTORY_PREFIX + key, value, step) for key, points in series.items() for step, value in points]
        triples += [(key, value, 0) for key, value in trial_metrics(rows).items()]
        _log_metrics(c, run_id, triples)

        with tempfile.TemporaryDirectory(prefix="mmgc-mlflow-") as tmp:
            tmp_path = Path(tmp)
            if history is not None:
                (tmp_path / HISTORY_ARTIFACT).write_text(json.dumps(_jsonable(history), indent=1))
                _retry(lambda: c.log_artifact(run_id, str(tmp_path / HISTORY_ARTIFACT)))
            (tmp_path / CONFIG_ARTIFACT).write_text(json.dumps(params, indent=1, default=str))
            _retry(lambda: c.log_artifact(run_id, str(tmp_path / CONFIG_ARTIFACT)))
            (tmp_path / ROWS_ARTIFACT).write_text(json.dumps([dict(r) for r in rows], indent=1, default=str))
            _retry(lambda: c.log_artifact(run_id, str(tmp_path / ROWS_ARTIFACT)))
            if condensed_path is not None and Path(condensed_path).is_file():
                _retry(lambda: c.log_artifact(run_id, str(condensed_path), GRAPH_ARTIFACT_DIR))
            elif condensed is not None and hasattr(condensed, "save"):
                saved = condensed.save(tmp_path / "condensed.pt")
                _retry(lambda: c.log_artifact(run_id, str(saved), GRAPH_ARTIFACT_DIR))
        status = "FINISHED" if rows and all(r.get("status") == "ok" for r in rows) else "FAILED"
        _retry(lambda: c.set_terminated(run_id, status=status))
    except BaseException:
        try:
            _retry(lambda: c.set_terminated(run_id, status="FAILED"))
        finally:
            raise
    return run_id


def attach_run_id(rows: Sequence[dict[str, Any]], run_id: str | None) -> list[dict[str, Any]]:
    """The rows with ``mlflow_run_id`` set (unchanged when tracking was off)."""
    if run_id is None:
        return list(rows)
    return [dict(r, mlflow_run_id=run_id) for r in rows]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


# ---------------------------------------------------------------------------------------- reading back
def find_run(run_id: str, uris: Sequence[str]):
    """The first store among ``uris`` that holds ``run_id``: (uri, Run), or (None, None)."""
    for uri in uris:
        if uri is None or (uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file()):
            continue  # never create an empty store just to look a run up
        try:
            return uri, client(uri).get_run(run_id)
        except Exception:
            continue
    return None, None


def run_artifacts(uri: str, run_id: str) -> list[tuple[str, str]]:
    """Every artifact of a run as (relative path, full URI or local path)."""
    c = client(uri)
    run = c.get_run(run_id)
    base = run.info.artifact_uri.rstrip("/")
    found: list[tuple[str, str]] = []

    def walk(path: str | None) -> None:
        for item in c.list_artifacts(run_id, path):
            if item.is_dir:
                walk(item.path)
            else:
                full = f"{base}/{item.path}"
                found.append((item.path, full[len("file://"):] if full.startswith("file://") else full))

    walk(None)
    return found


def load_history(uri: str, run_id: str) -> Any | None:
    """The condensation history JSON artifact of a trial run (None when it has none)."""
    c = client(uri)
    try:
        names = {a.path for a in c.list_artifacts(run_id)}
    except Exception:
        return None
    if HISTORY_ARTIFACT not in names:
        return None
    with tempfile.TemporaryDirectory(prefix="mmgc-mlflow-") as tmp:
        local = c.download_artifacts(run_id, HISTORY_ARTIFACT, tmp)
        return json.loads(Path(local).read_text())


# ---------------------------------------------------------------------------------------- the sweep's hook
class MlflowTracking(Tracking):
    """The `mmgc.harness.tracking_hook.Tracking` hook backed by MLflow (what ``mmgc sweep`` uses unless
    ``--no-mlflow``). Picklable: it holds only the URI override; the MLflow client is per process.

    Args:
        uri: tracking URI; None = the experiment file's ``mlflow_uri``, else the SQLite default
            ``sqlite:///<results_root>/mlflow.db``.
    """

    def __init__(self, uri: str | None = None):
        self.uri = uri

    def recover(self, experiment: Any, results_root: str) -> list[str]:
        """Close the MLflow runs a killed earlier driver of this experiment left RUNNING (as KILLED)."""
        uri = resolve_uri(results_root, self.uri or getattr(experiment, "mlflow_uri", None))
        try:
            closed = close_orphaned_runs(uri, experiment.name)
        except Exception as exc:  # tracking never stops a sweep
            return [f"MLflow: could not close the runs a killed sweep left running: {type(exc).__name__}: {exc}"]
        return [f"closed {len(closed)} MLflow runs a killed sweep had left RUNNING (now KILLED)"] if closed else []

    def start_sweep(self, experiment: Any, results_root: str) -> dict[str, Any] | None:
        uri = resolve_uri(results_root, self.uri or getattr(experiment, "mlflow_uri", None))
        if uri is None:
            return None
        params = {
            "experiment": experiment.name,
            "datasets": ",".join(f"{d.name}[{d.variant}]" if d.variant else d.name for d in experiment.datasets),
            "methods": ",".join(m.label for m in experiment.methods),
            "condense_seeds": ",".join(map(str, experiment.condense_seeds)),
            "eval_seeds": ",".join(map(str, experiment.eval_seeds)),
            "archs": ",".join(experiment.archs),
            "n_trials": experiment.n_trials,
            "resources": f"cpu={experiment.cpu:g},gpu={experiment.gpu:g}",
            "results_root": results_root,
        }
        try:
            record = start_sweep_run(uri, experiment.name, experiment_file=experiment.path, params=params)
        except Exception as exc:  # tracking never stops a sweep
            warnings.warn(f"MLflow: could not start the sweep run in {uri}: {type(exc).__name__}: {exc}",
                          RuntimeWarning, stacklevel=2)
            return None
        return record.as_dict() if record else None

    def log_trial(self, spec: Any, rows: list[dict[str, Any]], condensed: Any = None) -> str | None:
        record = getattr(spec, "tracking", None)
        if record:
            tracking = SweepTracking(**record)
        else:  # a single trial outside a sweep (`mmgc run`): a top-level run, when a URI is known
            uri = self.uri or getattr(spec, "mlflow_uri", None)
            if uri is None:
                return None
            try:
                tracking = SweepTracking(uri=uri, experiment_id=init_store(uri, spec.experiment),
                                         experiment=spec.experiment)
            except Exception as exc:
                warnings.warn(f"MLflow: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
                return None
        path = next((r.get("artifact_path") for r in rows if r.get("artifact_path")), None)
        return log_trial(tracking, rows, condensed=condensed, condensed_path=path,
                         extra_params={"spec.device": getattr(spec, "device", None),
                                       "spec.time_budget_s": getattr(spec, "time_budget_s", None)})

    def end_sweep(self, record: dict[str, Any] | None, status: str) -> None:
        if not record:
            return
        try:
            end_sweep_run(SweepTracking(**record), status)
        except Exception as exc:
            warnings.warn(f"MLflow: could not close the sweep run: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)


def tracking_hook(no_mlflow: bool = False, mlflow_uri: str | None = None):
    """The hook for ``mmgc sweep``/``mmgc run``: `MlflowTracking` unless ``--no-mlflow``."""
    if no_mlflow:
        return Tracking()
    return MlflowTracking(mlflow_uri)
