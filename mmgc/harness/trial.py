"""One trial, without Ray: load the dataset, condense under one seed, evaluate, return result rows.

`run_trial(spec) -> rows` is the one function that strings the layers together for one
configuration; the sweep schedules it on Ray Tune and `mmgc run` calls it directly. It never raises
for a problem of the trial itself: a failure becomes a row with ``status = 'failed'`` and the error
(one row per architecture that could not be evaluated, or one row for the whole trial when loading
or condensing failed), so no trial is ever lost.

Build a spec with only what differs from the defaults::

    spec = TrialSpec(dataset="synthetic", method="herding", ratio=0.02, config={"epochs": 100},
                     condense_seed=0, eval_seeds=(0, 1, 2), archs=("gcn", "sage"))
    rows = run_trial(spec)

Tracking (MLflow) plugs in through a `mmgc.harness.tracking_hook.Tracking` object: ``start_sweep``
returns a picklable record that travels in ``spec.tracking`` to every trial, ``log_trial`` is called
once per trial with its rows and condensed graph and returns the run id written into the rows. The
base class does nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from mmgc.datasets import load_dataset
from mmgc.errors import InputError
from mmgc.harness.evaluate import eval_settings, evaluate, evaluate_original
from mmgc.harness.schema import ORIGINAL, RESULT_COLUMNS, make_row, method_config
from mmgc.harness.store import ResultStore
from mmgc.harness.tracking_hook import Tracking
from mmgc.methods.base import Context, NullReporter, config_hash, create_method
from mmgc.provenance import git_commit, node_name, now_iso, package_version
from mmgc.runtime import resolve_device, set_threads

TrialFn = Callable[["TrialSpec"], list[dict[str, Any]]]

# columns the harness owns: evaluation rows never decide these
_HARNESS_COLUMNS = ("experiment", "phase", "trial_id", "dataset", "dataset_variant", "ratio", "method", "method_label",
                    "method_config", "config_hash", "condense_seed", "condense_seconds", "node", "package_version",
                    "git_commit", "artifact_path", "created_at")


@dataclass
class TrialSpec:
    """Everything one trial needs; plain data (JSON-able), so it travels to Ray workers and logs.

    ``config`` holds the method's config values (defaults fill the rest); ``eval_options`` go to the
    evaluation protocol as keyword arguments; ``device`` is ``auto`` (CUDA when this process sees a
    GPU, else CPU), ``cpu`` or ``cuda[:i]`` (`mmgc.runtime.resolve_device`: a CUDA device the machine
    lacks is bad input); ``threads`` caps torch's CPU threads (None: leave it)."""

    dataset: str
    method: str
    ratio: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)
    condense_seed: int | None = 0
    eval_seeds: tuple[int, ...] = (0,)
    archs: tuple[str, ...] = ("gcn",)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    dataset_root: str | None = None
    dataset_variant: str | None = None
    dataset_modalities: tuple[str, ...] | None = None   # keep only these modalities (None: all)
    method_label: str | None = None
    config_hash: str | None = None         # set by the sweep driver (the resume key); recomputed by run_trial
    eval_options: dict[str, Any] = field(default_factory=dict)
    experiment: str = "adhoc"
    phase: str = "single"
    trial_id: str | None = None
    device: str = "auto"
    threads: int | None = None
    time_budget_s: float | None = None
    artifact_dir: str | None = None       # keep the condensed graph file here, as <trial_id>.pt (None: do not keep)
    artifact_path: str | None = None      # or keep it at exactly this path (`mmgc run --out`)
    mlflow_uri: str | None = None
    tracking: dict[str, Any] | None = None  # the record Tracking.start_sweep returned (picklable)

    def __post_init__(self) -> None:
        self.eval_seeds = tuple(int(s) for s in self.eval_seeds)
        self.archs = tuple(self.archs)
        if self.dataset_modalities is not None:
            self.dataset_modalities = tuple(self.dataset_modalities)
        if self.trial_id is None:
            self.trial_id = f"{self.phase}-{uuid.uuid4().hex[:12]}"
        if self.method_label is None:
            self.method_label = self.method

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eval_seeds"], d["archs"] = list(self.eval_seeds), list(self.archs)
        if self.dataset_modalities is not None:
            d["dataset_modalities"] = list(self.dataset_modalities)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------------------------------- datasets
_DATASETS: "OrderedDict[tuple, Any]" = OrderedDict()
_DATASET_CACHE_SIZE = 2
_DATASET_LOCK = threading.Lock()


def load_cached(name: str, root: str | None = None, options: Mapping[str, Any] | None = None,
                modalities: Sequence[str] | None = None):
    """`load_dataset` (then `select_modalities` when ``modalities`` is given) memoised per process
    (the last two graphs), so trials that a Ray worker runs one after the other load each dataset once
    and share one graph object (methods cache per-graph work, e.g. coreset embeddings)."""
    key = (name, root, json.dumps(dict(options or {}), sort_keys=True, default=str),
           tuple(modalities) if modalities else None)
    with _DATASET_LOCK:
        if key in _DATASETS:
            _DATASETS.move_to_end(key)
            return _DATASETS[key]
    graph = load_dataset(name, root=root, **dict(options or {}))
    if modalities:
        graph = select_modalities(graph, modalities)
    with _DATASET_LOCK:
        _DATASETS[key] = graph
        while len(_DATASETS) > _DATASET_CACHE_SIZE:
            _DATASETS.popitem(last=False)
    return graph


def select_modalities(graph: Any, names: Sequence[str]) -> Any:
    """The same graph with only the columns of the modalities ``names`` (in that order)."""
    import torch


    unknown = [m for m in names if m not in graph.modalities]
    if unknown:
        raise InputError(f"dataset modalities: unknown modality {unknown[0]!r}; expected some of {list(graph.modalities)}")
    parts, layout, cursor = [], {}, 0
    for m in names:
        start, stop = graph.modalities[m]
        parts.append(graph.x[:, start:stop])
        layout[m] = (cursor, cursor + stop - start)
        cursor += stop - start
    return graph.with_features(torch.cat(parts, dim=1), layout, "[" + "+".join(names) + "]")


# ---------------------------------------------------------------------------------------- rows
def error_text(exc: BaseException) -> str:
    """``Type: message (at file:line)``, one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return " ".join(f"{type(exc).__name__}: {exc}".split()) + where


def _variant(spec: TrialSpec) -> str:
    if spec.dataset_variant is not None:
        return spec.dataset_variant
    return ";".join(f"{k}={spec.dataset_options[k]}" for k in sorted(spec.dataset_options))


def base_values(spec: TrialSpec, config: Mapping[str, Any] | None = None, config_hash: str | None = None) -> dict[str, Any]:
    """The harness-owned columns of every row of ``spec``."""
    return {
        "experiment": spec.experiment, "phase": spec.phase, "trial_id": spec.trial_id, "dataset": spec.dataset,
        "dataset_variant": _variant(spec), "ratio": float(spec.ratio), "method": spec.method,
        "method_label": spec.method_label,
        "method_config": json.dumps(dict(config if config is not None else spec.config), sort_keys=True, default=str),
        "config_hash": config_hash, "condense_seed": spec.condense_seed, "node": node_name(),
        "package_version": package_version(), "git_commit": git_commit(), "created_at": now_iso(),
    }


def failed_rows(spec: TrialSpec, error: str, archs: Sequence[str] | None = None,
                **values: Any) -> list[dict[str, Any]]:
    """One failed row per architecture (``archs`` None: one row for the whole trial)."""
    base = {**base_values(spec), **{k: v for k, v in values.items() if v is not None}}
    base.update(status="failed", error=error)
    if base.get("config_hash") is None:
        base["config_hash"] = spec.config_hash or spec_config_hash(spec)
    if not archs:
        return [make_row(**base, arch=",".join(spec.archs) or None)]
    return [make_row(**base, arch=a) for a in archs]


def spec_config_hash(spec: TrialSpec) -> str:
    """The config hash of ``spec`` (full config when the method can be loaded, else of the values)."""
    try:
        return config_hash(spec.method, method_config(spec.method, spec.config))
    except Exception:
        return config_hash(spec.method, spec.config)


def complete_rows(spec: TrialSpec, rows: Sequence[Mapping[str, Any]], harness: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every column present; harness-owned columns from ``harness``, the rest from the rows."""
    out = []
    for row in rows:
        values = {k: v for k, v in row.items() if k in RESULT_COLUMNS}
        for k in _HARNESS_COLUMNS:
            if k in harness and (harness[k] is not None or values.get(k) is None):
                values[k] = harness[k]
        if values.get("status") is None:
            values["status"] = "ok"
        out.append(make_row(**values))
    return out


# ---------------------------------------------------------------------------------------- the trial
def run_trial(spec: TrialSpec, tracking: Tracking | None = None, reporter: Any = None,
              strict: bool = False) -> list[dict[str, Any]]:
    """Condense with ``spec.method`` under ``spec.condense_seed``, evaluate with each architecture
    and evaluation seed, and return complete result rows (failures as ``status='failed'`` rows).

    ``reporter`` receives the method's progress and the evaluation's epochs (``report(step, metrics)``);
    ``strict`` lets bad input (`InputError`: unknown names, impossible ratio...) raise instead of
    becoming a failed row, as a command line wants."""
    return run_trial_detailed(spec, tracking, reporter, strict)[0]


def run_trial_detailed(spec: TrialSpec, tracking: Tracking | None = None, reporter: Any = None,
                       strict: bool = False) -> tuple[list[dict[str, Any]], Any]:
    """`run_trial`, also returning the condensed graph (None for `original` or when it failed)."""
    tracking = tracking or Tracking()
    # the trial's own harness columns; the rest (`base_values`) join when rows are made, so that git
    # (the rows' commit) never runs for input that is then refused
    harness: dict[str, Any] = {"created_at": now_iso()}
    condensed = None
    rows: list[dict[str, Any]] = []
    try:

        set_threads(spec.threads or None)  # a sweep trial: its CPU allocation (resources.cpu)
        device = resolve_device(spec.device)
        config = method_config(spec.method, spec.config)
        # the driver's hash is the resume key; computed here when the trial runs on its own
        harness.update(method_config=json.dumps(config, sort_keys=True, default=str),
                       config_hash=spec.config_hash or config_hash(spec.method, config))
        graph = load_cached(spec.dataset, spec.dataset_root, spec.dataset_options, spec.dataset_modalities)

        eval_config, regularizers = eval_settings(spec.eval_options)
        eval_kwargs = dict(device=device, regularizers=regularizers, on_error="row",
                           callback=_eval_callback(reporter))
        if spec.method == ORIGINAL:
            harness.update(condense_seconds=0.0)
            rows = evaluate_original(graph, list(spec.archs), list(spec.eval_seeds), eval_config, **eval_kwargs)
        else:
            method = create_method(spec.method, config)
            ctx = Context(device=device, seed=int(spec.condense_seed or 0), reporter=reporter or NullReporter(),
                          time_budget_s=spec.time_budget_s)
            condensed = method.condense_measured(graph, float(spec.ratio), ctx)
            if spec.artifact_dir or spec.artifact_path:
                path = spec.artifact_path or os.path.join(spec.artifact_dir, f"{spec.trial_id}.pt")
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                harness["artifact_path"] = str(condensed.save(path) or path)
            rows = evaluate(condensed, graph, list(spec.archs), list(spec.eval_seeds), eval_config, **eval_kwargs)
            info = getattr(condensed, "info", {}) or {}
            condense_arch = info.get("condense_arch") or _condense_arch(config)
            for r in rows:
                if r.get("condense_arch") is None:
                    r["condense_arch"] = condense_arch
                if r.get("n") is None:
                    r["n"] = condensed.num_nodes
        for r in rows:
            r.setdefault("setting", graph.setting)
            if r.get("device") is None:
                r["device"] = str(device)
        rows = complete_rows(spec, rows, {**base_values(spec), **harness})
        if not rows:
            rows = failed_rows(spec, "no rows: no evaluation architecture", None, **harness)
    except Exception as exc:
        if strict and isinstance(exc, InputError):
            raise
        rows = failed_rows(spec, error_text(exc), None, **harness)
    try:
        run_id = tracking.log_trial(spec, rows, condensed)
    except Exception:  # tracking never fails a trial
        run_id = None
    if run_id:
        for r in rows:
            r["mlflow_run_id"] = run_id
    return rows, condensed


def _eval_callback(reporter: Any) -> Callable[[str, dict], None] | None:
    """Evaluation progress forwarded to the trial's reporter: every event to its ``eval_event(event,
    payload)`` when it has one (a progress display with the seeds' total), else ``epoch`` events as
    ``report(epoch, metrics)``."""
    if reporter is None:
        return None
    if callable(getattr(reporter, "eval_event", None)):
        return reporter.eval_event

    def callback(event: str, payload: dict) -> None:
        if event == "epoch":
            metrics = {f"eval_{k}": v for k, v in payload.items() if k != "epoch" and isinstance(v, (int, float))}
            reporter.report(int(payload.get("epoch", 0)), metrics)

    return callback


def _condense_arch(config: Mapping[str, Any]) -> str | None:
    for key in ("backbone", "condense_arch", "embed_arch", "arch", "model"):
        if isinstance(config.get(key), str):
            return config[key]
    return None


def objective(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """The search objective of a trial: the mean validation metric of its ok rows (None if none)."""
    values = sorted((r["arch"] or "", r["eval_seed"] if r["eval_seed"] is not None else -1, float(r["val_metric"]))
                    for r in rows if r.get("status") == "ok" and r.get("val_metric") is not None)
    if not values:
        return None
    return sum(v for _, _, v in values) / len(values)


def execute_trial(spec: TrialSpec, results_root: str | None, trial_fn: TrialFn | None = None,
                  tracking: Tracking | None = None, reporter: Any = None) -> list[dict[str, Any]]:
    """Run one trial (``trial_fn``, default `run_trial`) and write its rows to the store, whatever
    happens: an exception of ``trial_fn`` itself becomes a failed row too."""
    try:
        if trial_fn is None:
            rows = run_trial(spec, tracking=tracking, reporter=reporter)
        else:
            rows = trial_fn(spec)
        rows = [make_row(**r) for r in rows] or failed_rows(spec, "the trial returned no rows")
    except Exception as exc:
        rows = failed_rows(spec, error_text(exc))
    for r in rows:  # the store needs these whatever the trial function did
        for k in ("experiment", "dataset", "method", "trial_id"):
            if r.get(k) is None:
                r[k] = getattr(spec, k)
    if results_root:
        ResultStore(results_root).write_trial(rows)
    return rows
