"""Sweeps: every cell of an experiment on Ray Tune, one Optuna study per cell, resumable.

Design (one Tuner, one multiplexing searcher):

- The driver turns the experiment into cells (dataset x ratio x method entry). A cell with a search
  space owns one Optuna study (TPE with the constant liar, so concurrent asks spread out) that
  maximises the validation objective: the mean ``val_metric`` over the trial's rows. A cell without
  one has its fixed config.
- `CellSearcher`, a Ray Tune `Searcher`, multiplexes all studies in a single ``Tuner``: each time
  Tune has room for a trial it asks the next cell with search budget left (round robin), or hands
  out a final trial. As soon as a cell's last search trial is told, its best config (ties broken by
  config hash, so the choice never depends on timing) is queued for the final phase, one trial per
  condensation seed. So every cell, searched or fixed, search or final, shares the cluster at once,
  and no phase waits for another cell: GPUs stay busy until the last trial.
- Every trial writes its own Parquet file (`mmgc.harness.store`) from the worker, atomically, before
  it reports to Tune. The store is the one source of truth: on start the driver reads it, skips every
  trial whose key (experiment, phase, dataset, variant, ratio, method, label, config hash, seed)
  already has an ok row, and rebuilds each Optuna study from the stored search trials (their
  params and objectives), which is exactly the search state Tune's restore would bring back, but
  also correct after a SIGKILL at any instant (Tune's own experiment snapshot lags behind the trials
  that finished, so restoring it would re-run or lose them). A trial killed half-way has no file and
  runs again; a finished one is never repeated.
- Resources: each trial asks ``{cpu, gpu}``; ``gpu`` is the configured fraction (default 0.25: four
  trials per GPU) when the cluster has GPUs, else 0. ``ray.cluster_resources()`` and the per-node
  resources are checked first: a request that no node can meet is refused with a clear message
  instead of leaving trials pending forever. Inside a trial, CUDA is used when the process sees
  one, else the CPU (a declared-but-absent GPU falls back to CPU).
- Ctrl-C: Tune stops the running trials; the driver then compares the plan with the store and says
  how many trials remain and the command that resumes. An interrupted or partial ``fit()`` is never
  reported as complete: completion is decided from the store, not from Tune's return.

Ray, Optuna and Tune are imported inside functions only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.errors import InputError
from mmgc.harness.experiment import Cell, Experiment, full_config, load_experiment, method_config_hash
from mmgc.harness.signals import interrupts_raise, take_unreported
from mmgc.harness.store import ResultStore, trial_key
from mmgc.harness.trial import (
    NullTracking, TrialFn, TrialSpec, Tracking, error_text, execute_trial, failed_rows, objective,
)

SEARCH, FINAL = "search", "final"
WORKER_DIED = "the trial's worker process died (out of memory, a crash, or its node was lost)"


class SweepError(InputError):
    """A sweep that cannot run as asked (impossible resources, no cluster): one line, exit code 2."""


# ---------------------------------------------------------------------------------------- plan
def _optuna_distribution(dim: Any):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dim.kind == "loguniform":
        return FloatDistribution(float(dim.low), float(dim.high), log=True)
    if dim.kind == "uniform":
        return FloatDistribution(float(dim.low), float(dim.high))
    if dim.kind == "int":
        return IntDistribution(int(dim.low), int(dim.high))
    return CategoricalDistribution(list(dim.choices))


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


@dataclass
class CellState:
    """One cell's search and final state (lives in the driver)."""

    cell: Cell
    experiment: Experiment
    results: str
    n_trials: int
    study: Any = None
    distributions: dict[str, Any] = field(default_factory=dict)
    search_done: int = 0          # search trials told (ok or failed), this run and restored
    search_asked: int = 0         # search trials handed out this run (or restored)
    search_results: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)  # (objective, hash, values)
    finals_queued: list[TrialSpec] = field(default_factory=list)
    finals_planned: bool = False
    final_total: int = 0
    final_skipped: int = 0
    done_keys: set = field(default_factory=set)

    @property
    def searched(self) -> bool:
        return bool(self.cell.method.search)

    @property
    def search_left(self) -> int:
        return max(0, self.n_trials - self.search_asked) if self.searched else 0

    def base_spec(self, **values: Any) -> TrialSpec:
        exp, cell = self.experiment, self.cell
        d, m = cell.dataset, cell.method
        artifacts = None
        if exp.keep_graphs and "://" not in self.results:
            artifacts = os.path.join(self.results, "artifacts", f"experiment={exp.name}")
        spec = dict(
            dataset=d.name, dataset_options=dict(d.options), dataset_root=d.root, dataset_variant=d.variant,
            dataset_modalities=d.modalities,
            ratio=cell.ratio, method=m.name, method_label=m.label, eval_seeds=exp.eval_seeds, archs=m.archs,
            eval_options=dict(exp.eval_options, **({} if m.regularizers is None else {"regularizers": m.regularizers})),
            experiment=exp.name, time_budget_s=exp.time_budget_s,
            threads=max(1, int(exp.cpu)), artifact_dir=artifacts, mlflow_uri=exp.mlflow_uri,
        )
        spec.update(values)
        return TrialSpec(**spec)

    def key(self, phase: str, config_hash: str, seed: int | None) -> tuple:
        d, m = self.cell.dataset, self.cell.method
        return trial_key({"experiment": self.experiment.name, "phase": phase, "dataset": d.name,
                          "dataset_variant": d.variant, "ratio": self.cell.ratio, "method": m.name,
                          "method_label": m.label, "config_hash": config_hash, "condense_seed": seed})

    # -- search ------------------------------------------------------------------------------------
    def make_study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.distributions = {k: _optuna_distribution(v) for k, v in self.cell.method.search.items()}
        seed = (self.experiment.search_seed * 1_000_003 + _stable_int(self.cell.name)) % 2**31
        if self.experiment.sampler == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                                 n_startup_trials=max(1, min(10, self.n_trials // 3)))
        self.study = optuna.create_study(direction="maximize", sampler=sampler, study_name=self.cell.name)

    def restore(self, rows_by_trial: Mapping[str, list[dict[str, Any]]]) -> None:
        """Add the stored search trials of this cell to its study (params from their configs)."""
        import optuna

        for trial_id, rows in sorted(rows_by_trial.items(), key=lambda kv: (kv[1][0]["created_at"] or "", kv[0])):
            value = objective(rows)
            if value is None:  # a failed trial (only seen when counting failures): budget spent, no value
                self.search_done += 1
                self.search_asked += 1
                continue
            config = json.loads(rows[0]["method_config"] or "{}")
            params = {k: config.get(k) for k in self.distributions}
            try:
                frozen = optuna.trial.create_trial(params=params, distributions=self.distributions, value=value)
                self.study.add_trial(frozen)
            except (ValueError, TypeError):
                continue  # outside the current search space: not part of this study
            self.search_results.append((value, rows[0]["config_hash"], config))
            self.search_done += 1
            self.search_asked += 1

    def ask(self) -> tuple[Any, TrialSpec, str]:
        """A new search trial: (optuna trial, spec with the full config, config hash)."""
        trial = self.study.ask(self.distributions)
        values = {**self.cell.method.fixed, **trial.params}
        config = full_config(self.cell.method.name, values)
        chash = method_config_hash(self.cell.method.name, config)
        spec = self.base_spec(config=config, phase=SEARCH, condense_seed=self.experiment.condense_seeds[0],
                              config_hash=chash)
        self.search_asked += 1
        return trial, spec, chash

    def tell(self, trial: Any, value: float | None, config_hash: str, values: dict[str, Any]) -> None:
        import optuna

        if value is None or value != value:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)
            self.search_results.append((value, config_hash, values))
        self.search_done += 1

    def best_values(self) -> dict[str, Any] | None:
        if not self.search_results:
            return None
        value, chash, config = max(self.search_results, key=lambda r: (r[0], r[1]))
        return config

    # -- final -------------------------------------------------------------------------------------
    def plan_finals(self) -> None:
        """Queue the final trials (best or fixed config x condensation seeds) not already done."""
        if self.finals_planned:
            return
        self.finals_planned = True
        m = self.cell.method
        if self.searched:
            values = self.best_values()
            if values is None:
                return  # every search trial failed: nothing to re-run
            values = {k: values[k] for k in values}  # the full config of the best trial
        else:
            values = dict(m.fixed)
        config = full_config(m.name, values)
        chash = method_config_hash(m.name, config)
        seeds = [None] if m.is_original else list(self.experiment.condense_seeds)
        for seed in seeds:
            if self.key(FINAL, chash, seed) in self.done_keys:
                self.final_skipped += 1
                continue
            self.finals_queued.append(self.base_spec(config=config, phase=FINAL, condense_seed=seed, config_hash=chash))


@dataclass
class SweepPlan:
    experiment: Experiment
    results: str
    cells: list[CellState]
    resources: dict[str, float]
    skipped: int = 0

    @property
    def total(self) -> int:
        """Trials of the whole sweep (search trials + finals), done or not."""
        return sum((c.n_trials if c.searched else 0) + (1 if c.cell.method.is_original else len(self.experiment.condense_seeds))
                   for c in self.cells)

    @property
    def remaining(self) -> int:
        return sum(c.search_left + (len(c.finals_queued) if c.finals_planned else
                                    (1 if c.cell.method.is_original else len(self.experiment.condense_seeds)))
                   for c in self.cells)


def make_plan(experiment: Experiment, results: str | None = None, store: ResultStore | None = None,
              count_failed: bool = False) -> SweepPlan:
    """The trials of ``experiment`` that are not in the store yet (and each cell's restored study).

    A trial is done when its key has an ok row; ``count_failed`` also counts trials that only
    failed (to tell "ran and failed" from "never ran" in the report; a resume re-runs them)."""
    root = results or experiment.results
    store = store or ResultStore(root)
    done = store.completed(experiment.name, include_failed=count_failed)
    done_keys = set(done)
    search_rows: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for rows in done.values():
        for r in rows:
            if r["phase"] == SEARCH:
                cell_key = (r["dataset"], r["dataset_variant"] or "", round(float(r["ratio"]), 12),
                            r["method_label"] or r["method"])
                search_rows[cell_key][r["trial_id"]].append(r)
    cells = []
    for cell in experiment.cells():
        state = CellState(cell=cell, experiment=experiment, results=store.root, n_trials=cell.method.n_trials,
                          done_keys=done_keys)
        if state.searched:
            state.make_study()
            key = (cell.dataset.name, cell.dataset.variant, round(float(cell.ratio), 12), cell.method.label)
            state.restore(search_rows.get(key, {}))
            if state.search_left == 0:
                state.plan_finals()
        else:
            state.plan_finals()
        cells.append(state)
    plan = SweepPlan(experiment, store.root, cells, {"cpu": experiment.cpu, "gpu": experiment.gpu})
    plan.skipped = plan.total - plan.remaining
    return plan


def describe_plan(plan: SweepPlan, console=None) -> None:
    """The trial plan as a table: cells, trials to run (and already done), resources."""
    from rich.table import Table

    from mmgc.harness.store import wide_console

    console = console or wide_console()
    exp = plan.experiment
    table = Table("dataset", "ratio", "method", "search", "search trials", "final seeds", "archs",
                  title=f"sweep {exp.name}: {len(plan.cells)} cells")
    for c in plan.cells:
        d, m = c.cell.dataset, c.cell.method
        space = ", ".join(f"{k}:{v.kind}" for k, v in m.search.items()) or "fixed"
        n_final = 1 if m.is_original else len(exp.condense_seeds)
        final_left = len(c.finals_queued) if c.finals_planned else n_final
        search = f"{c.search_left} to run / {c.n_trials}" if c.searched else "-"
        table.add_row(d.name + (f" [{d.variant}]" if d.variant else ""), f"{c.cell.ratio:g}", m.label, space, search,
                      f"{final_left} to run / {n_final}", ",".join(m.archs))
    console.print(table)
    console.print(f"trials: {plan.total} in all, {plan.skipped} already in the store, {plan.remaining} to run; "
                  f"each asks cpu={exp.cpu:g}, gpu={exp.gpu:g} when the cluster has GPUs (else none); "
                  f"condensation seeds {list(exp.condense_seeds)}, evaluation seeds {list(exp.eval_seeds)}; "
                  f"results under {plan.results}")


# ---------------------------------------------------------------------------------------- resources
def check_resources(cpu: float, gpu: float, nodes: Sequence[Mapping[str, float]] | None = None,
                    cluster: Mapping[str, float] | None = None) -> tuple[dict[str, float], int]:
    """The resources one trial asks for and how many trials fit at once; refuse impossible requests.

    ``gpu`` is only asked for when the cluster has GPUs. ``nodes``: each alive node's resources
    (default: from Ray); ``cluster``: `ray.cluster_resources()`."""
    if nodes is None or cluster is None:
        import ray

        cluster = ray.cluster_resources()
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    total_gpu = float(cluster.get("GPU", 0.0))
    ask_gpu = gpu if total_gpu > 0 else 0.0
    request = {"cpu": float(cpu), "gpu": float(ask_gpu)}
    describe = ", ".join(f"node {i}: {n.get('CPU', 0):g} CPU, {n.get('GPU', 0):g} GPU" for i, n in enumerate(nodes))
    if ask_gpu > total_gpu:
        raise SweepError(f"resources: a trial asks for {ask_gpu:g} GPU but the cluster declares {total_gpu:g} "
                         f"({describe}); lower resources.gpu")
    fits = [n for n in nodes if n.get("CPU", 0) >= cpu and n.get("GPU", 0) >= ask_gpu]
    if not fits:
        raise SweepError(f"resources: a trial asks for cpu={cpu:g}, gpu={ask_gpu:g} but no node has that much "
                         f"({describe}); lower resources.cpu / resources.gpu")
    capacity = 0
    for n in fits:
        slots = math.floor(n.get("CPU", 0) / cpu + 1e-9)
        if ask_gpu > 0:
            slots = min(slots, math.floor(n.get("GPU", 0) / ask_gpu + 1e-9))
        capacity += slots
    return request, max(1, capacity)


# ---------------------------------------------------------------------------------------- searcher
def _make_searcher(plan: SweepPlan, store: ResultStore, record: dict[str, Any] | None = None):
    from ray.tune.search import Searcher

    class CellSearcher(Searcher):
        """Multiplexes one Optuna study per cell (plus the fixed and final trials) in one Tuner."""

        def __init__(self, plan: SweepPlan, store: ResultStore, record: dict[str, Any] | None) -> None:
            super().__init__(metric=None, mode=None)
            self.plan, self.store, self.record = plan, store, record
            self.live: dict[str, tuple[CellState, Any, TrialSpec, str]] = {}
            self.cursor = 0
            self.interrupted = False

        def set_search_properties(self, metric, mode, config, **spec) -> bool:
            return True

        def _next(self) -> tuple[CellState, Any, TrialSpec, str] | None:
            cells = self.plan.cells
            for offset in range(len(cells)):  # search first (it gates finals), round robin over cells
                state = cells[(self.cursor + offset) % len(cells)]
                if state.search_left > 0:
                    self.cursor = (self.cursor + offset + 1) % len(cells)
                    trial, spec, chash = state.ask()
                    return state, trial, spec, chash
            for state in cells:
                if state.finals_queued:
                    spec = state.finals_queued.pop(0)
                    return state, None, spec, ""
            return None

        def suggest(self, trial_id: str):
            if self.interrupted:
                return Searcher.FINISHED
            picked = self._next()
            if picked is None:
                pending = any(s.searched and not s.finals_planned for s in self.plan.cells)
                return None if pending else Searcher.FINISHED
            self.live[trial_id] = picked
            picked[2].tracking = self.record
            return {"spec": picked[2].to_dict()}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id not in self.live:
                return
            state, optuna_trial, spec, chash = self.live.pop(trial_id)
            result = result or {}
            if error and not self.interrupted:
                # the worker died (out of memory, a crash): record the trial as failed, never lose it
                try:
                    self.store.write_trial(failed_rows(spec, str(result.get("error") or WORKER_DIED)))
                except Exception:
                    pass
            if optuna_trial is not None:
                value = result.get("objective")
                value = None if error or value is None or (isinstance(value, float) and math.isnan(value)) else value
                values = {**state.cell.method.fixed, **optuna_trial.params}
                state.tell(optuna_trial, value, chash, full_config(state.cell.method.name, values))
                if state.search_done >= state.n_trials and not any(v[0] is state for v in self.live.values()):
                    state.plan_finals()

        def save(self, checkpoint_path: str) -> None:  # the store is the state; nothing else to keep
            Path(checkpoint_path).write_text(json.dumps({"note": "mmgc: state lives in the results store"}))

        def restore(self, checkpoint_path: str) -> None:
            return None

        # Tune pickles its config (this searcher included) for its own restore, which mmgc does not
        # use (the store is the state); the studies hold locks, so pickle a stub.
        def __getstate__(self) -> dict:
            return {"_metric": None, "_mode": None}

        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)

    return CellSearcher(plan, store, record)


# ---------------------------------------------------------------------------------------- trainable
class _TuneReporter:
    """A method's progress (epoch, losses) forwarded to Tune at most every ``every`` seconds, which
    feeds the live line of the trial in the driver."""

    def __init__(self, every: float = 5.0):
        self.every, self.last = every, 0.0

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        from ray import tune

        values = {"step": int(step), "final": False}
        for k, v in metrics.items():  # the first six defined diagnostics (NaN: undefined, e.g. one modality)
            try:
                number = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                values[f"m/{k}"] = number
            if len(values) == 8:
                break
        tune.report(values)


def _trainable(config: dict, trial_fn: TrialFn | None = None, results_root: str | None = None,
               tracking: Tracking | None = None) -> None:
    from ray import tune

    from mmgc.harness.trial import node_name, resolve_device

    spec = TrialSpec.from_dict(config["spec"])
    start = time.perf_counter()
    rows = execute_trial(spec, results_root, trial_fn, tracking, _TuneReporter())
    failed = sum(r["status"] != "ok" for r in rows)
    value = objective(rows)
    tune.report({"final": True, "objective": float("nan") if value is None else value, "rows": len(rows),
                 "failed_rows": failed, "status": "ok" if failed == 0 else "failed",
                 "error": next((r["error"] for r in rows if r["status"] != "ok"), None),
                 "node": node_name(), "device": rows[0].get("device") or str(resolve_device(spec.device)),
                 "seconds": time.perf_counter() - start})


def _trial_dirname(trial: Any) -> str:
    """Tune's per-trial folder: the mmgc trial id (not the whole config)."""
    return str(trial.config.get("spec", {}).get("trial_id") or trial.trial_id)


# ---------------------------------------------------------------------------------------- progress
def _short(spec: TrialSpec) -> str:
    variant = f"[{spec.dataset_variant}]" if spec.dataset_variant else ""
    seed = "" if spec.condense_seed is None else f" seed {spec.condense_seed}"
    return f"{spec.phase:<6} {spec.dataset}{variant}@{spec.ratio:g}/{spec.method_label}{seed}"


class SweepProgress:
    """The overall bar (done / running / failed / remaining) and a live line per running trial; on
    a non-terminal output, one line per finished trial instead."""

    def __init__(self, total: int, skipped: int, console=None, enabled: bool = True):
        from mmgc.harness.store import wide_console

        self.console = console or wide_console(stderr=False)
        self.total, self.skipped, self.enabled = total, skipped, enabled
        self.ok = self.failed = 0
        self.running: dict[str, tuple[TrialSpec, float, dict]] = {}
        self.start = time.monotonic()
        self.live = None

    @property
    def done(self) -> int:
        return self.skipped + self.ok + self.failed

    def __enter__(self) -> "SweepProgress":
        if self.enabled and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)
            self.live = None

    def summary(self) -> str:
        remaining = max(0, self.total - self.done - len(self.running))
        elapsed = time.monotonic() - self.start
        return (f"{self.done}/{self.total} done ({self.skipped} from the store) · {len(self.running)} running · "
                f"{self.failed} failed · {remaining} remaining · {elapsed:,.0f}s")

    def render(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=max(1, self.total), completed=self.done, width=40), Text(self.summary()))
        lines = []
        now = time.monotonic()
        for spec, started, last in list(self.running.values())[:20]:
            extra = " ".join(f"{k[2:]}={v:.4g}" for k, v in last.items() if k.startswith("m/"))
            step = f" step {last['step']}" if "step" in last else ""
            lines.append(Text(f"  {_short(spec)} · {now - started:,.0f}s{step} {extra}".rstrip(), style="dim"))
        if len(self.running) > 20:
            lines.append(Text(f"  ... and {len(self.running) - 20} more running", style="dim"))
        return Group(bar, *lines)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def started(self, key: str, spec: TrialSpec) -> None:
        self.running[key] = (spec, time.monotonic(), {})
        self.refresh()

    def result(self, key: str, metrics: Mapping[str, Any]) -> None:
        if key in self.running:
            spec, started, _ = self.running[key]
            self.running[key] = (spec, started, dict(metrics))
            self.refresh()

    def finished(self, key: str, spec: TrialSpec, ok: bool, metrics: Mapping[str, Any]) -> None:
        entry = self.running.pop(key, None)
        seconds = metrics.get("seconds") or (time.monotonic() - entry[1] if entry else 0.0)
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if not self.enabled:
            return
        value = metrics.get("objective")
        val = f" val {value * 100:.1f}" if isinstance(value, float) and value == value else ""
        status = "ok    " if ok else "FAILED"
        line = f"{status} {_short(spec)}{val} in {seconds:,.1f}s on {metrics.get('node', '?')}"
        if not ok and metrics.get("error"):
            line += f": {str(metrics['error'])[:200]}"
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False)
            self.refresh()
        else:
            self.console.print(f"[{self.summary()}] {line}", markup=False, highlight=False)


def _progress_callback(progress: SweepProgress):
    from ray.tune import Callback

    class _Callback(Callback):
        def __init__(self, progress: SweepProgress) -> None:
            self.progress = progress

        def __getstate__(self) -> dict:  # Tune pickles its config; the live display is not picklable
            return {}

        def on_trial_start(self, iteration, trials, trial, **info):
            progress = self.progress
            progress.started(trial.trial_id, TrialSpec.from_dict(trial.config["spec"]))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if not result.get("final"):
                self.progress.result(trial.trial_id, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            self.progress.finished(trial.trial_id, TrialSpec.from_dict(trial.config["spec"]),
                              result.get("status") == "ok", result)

        def on_trial_error(self, iteration, trials, trial, **info):
            result = dict(trial.last_result or {})
            result.setdefault("error", WORKER_DIED)
            self.progress.finished(trial.trial_id, TrialSpec.from_dict(trial.config["spec"]), False, result)

    return _Callback(progress)


# ---------------------------------------------------------------------------------------- the sweep
@dataclass
class SweepReport:
    experiment: str
    results: str
    total: int
    skipped: int
    ran: int
    ok: int
    failed: int
    missing: int
    interrupted: bool
    seconds: float

    @property
    def complete(self) -> bool:
        return self.missing == 0 and not self.interrupted


# ---------------------------------------------------------------------------------------- Ray processes
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


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray; returns True when this call started it (so the sweep shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if address:
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:
            raise SweepError(f"--address {address}: cannot connect to a Ray cluster ({error_text(exc)})") from None
    else:  # "local": always a new Ray of our own, never a cluster some `ray start` left on this machine
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    return True


def _run_tuner(experiment: Experiment, plan: SweepPlan, store: ResultStore, trial_fn: TrialFn | None,
               tracking: Tracking, progress: bool, console: Any, started_ray: bool,
               ray_record: Path | None) -> tuple["SweepProgress", bool, int]:
    """Run the plan's trials on one Tuner; returns the progress record, whether it was interrupted
    and how many trials never ran. Ray is shut down (if this sweep started it) on every path."""
    import ray
    from ray import tune

    record = None
    bar = SweepProgress(plan.total, plan.skipped, console=console, enabled=progress)
    try:
        request, capacity = check_resources(experiment.cpu, experiment.gpu)
        console.print(f"sweep {experiment.name}: {plan.remaining} trials to run ({plan.skipped} already in the store), "
                      f"{capacity} at a time, each on cpu={request['cpu']:g} gpu={request['gpu']:g}; "
                      f"results under {store.root}")
        record = tracking.start_sweep(experiment, store.root)
        searcher = _make_searcher(plan, store, record)
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, trial_fn=trial_fn, results_root=store.root, tracking=tracking),
            {"cpu": request["cpu"], "gpu": request["gpu"]},
        )
        storage = store.root + "/_tune" if "://" in store.root else os.path.join(store.root, "_tune")
        if "://" not in storage:
            os.makedirs(storage, exist_ok=True)
        name = f"{experiment.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, max_concurrent_trials=capacity,
                                        reuse_actors=True, trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0,
                                      callbacks=[_progress_callback(bar)],
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        interrupted = False
        quiet = [logging.getLogger(n) for n in ("ray.tune", "ray.air", "ray.train")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:  # failures are reported as rows and progress lines, not tracebacks
            logger.setLevel(logging.CRITICAL)
        with bar:
            try:
                tuner.fit()
            except KeyboardInterrupt:
                interrupted = True
            finally:
                for logger, level in zip(quiet, levels):
                    logger.setLevel(level)
        searcher.interrupted = interrupted
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if started_ray:
            ray.shutdown()
            release_ray_processes(ray_record)
    missing = make_plan(experiment, store.root, store, count_failed=True).remaining  # never ran (failed ones have rows)
    tracking.end_sweep(record, "KILLED" if interrupted else "FAILED" if bar.failed or missing else "FINISHED")
    return bar, interrupted, missing


def run_sweep(experiment: Experiment | str | Path, *, results: str | None = None, address: str | None = None,
              trial_fn: TrialFn | None = None, tracking: Tracking | None = None, dry_run: bool = False,
              progress: bool = True, num_cpus: int | None = None, console=None,
              resume_hint: str | None = None) -> SweepReport:
    """Run (or resume) an experiment on Ray Tune and return what happened.

    Args:
        experiment: an `Experiment` or the path of its YAML file.
        results: the results root (default: the file's ``results``).
        address: a Ray cluster to join (default: a local Ray with ``num_cpus`` CPUs, or the Ray this
            process is already connected to).
        trial_fn: the function a trial runs (default `run_trial`); tests and benchmarks pass fakes.
        tracking: the tracking hook (default: none).
        dry_run: print the plan and return without running.
    """
    from mmgc.harness.store import wide_console

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    console = console or wide_console()
    tracking = tracking or NullTracking()
    store = ResultStore(results or experiment.results)
    if not dry_run:  # a resumed sweep reads one file per folder, not the thousands its last run left
        try:
            store.compact(experiment.name)
        except Exception as exc:
            console.print(f"note: could not compact {store.root}: {error_text(exc)}")
    plan = make_plan(experiment, store.root, store)
    t0 = time.perf_counter()
    if dry_run or plan.remaining == 0:
        describe_plan(plan, console)
        if plan.remaining == 0 and not dry_run:
            console.print(f"sweep {experiment.name}: every trial is already in {store.root}; nothing to run")
        return SweepReport(experiment.name, store.root, plan.total, plan.skipped, 0, 0, 0, plan.remaining,
                           False, 0.0)

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S", "0")
    # Ctrl-C: a plain KeyboardInterrupt out of fit() (Tune's own handler would swallow it and print
    # a Tuner.restore hint that does not apply: mmgc resumes from the results store)
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for note in tracking.recover(experiment, store.root):  # what a killed predecessor left behind
        console.print(f"note: {note}")
    orphans = stop_orphaned_ray()
    if orphans:
        console.print(f"note: stopped {len(orphans)} Ray processes a killed sweep on this machine had left running "
                      f"(pids {', '.join(map(str, orphans[:8]))}{', ...' if len(orphans) > 8 else ''})")
    with interrupts_raise():  # restores the handlers from before ray.init, which replaces SIGTERM's
        started_ray = _connect(address, num_cpus)
        ray_record = record_ray_processes() if started_ray else None
        with interrupts_raise():  # Ctrl-C, SIGINT and SIGTERM: the same clean stop
            bar, interrupted, missing = _run_tuner(experiment, plan, store, trial_fn, tracking, progress, console,
                                                   started_ray, ray_record)

    try:  # one file per folder instead of one per trial: the leaderboard stays fast
        store.compact(experiment.name)
    except Exception as exc:  # never fatal: the trial files are intact
        console.print(f"note: could not compact {store.root}: {error_text(exc)}")
    if interrupted:
        take_unreported()  # reported below, with the command that resumes
    report = SweepReport(experiment.name, store.root, plan.total, plan.skipped, bar.ok + bar.failed, bar.ok,
                         bar.failed, missing, interrupted, time.perf_counter() - t0)
    if not report.complete:
        hint = resume_hint or "run the same `mmgc sweep` command again"
        why = "interrupted" if interrupted else "incomplete"
        console.print(f"sweep {experiment.name} {why}: {report.missing} of {report.total} trials still to run "
                      f"(finished ones are kept in {store.root}). To resume: {hint}", soft_wrap=True)  # copyable
    return report
