"""The Ray Tune adapter: the searcher that multiplexes every cell's study in one Tuner, the
trainable a worker runs, the reporter that forwards a method's progress to Tune, the callback that
feeds the live display, and the connection to Ray. Ray is imported inside functions only."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping

from mmgc.harness.schema import method_config
from mmgc.harness.store import ResultStore
from mmgc.harness.sweep.plan import CellState, SweepPlan
from mmgc.harness.sweep.progress import SweepProgress
from mmgc.harness.sweep.resources import SweepError
from mmgc.harness.tracking_hook import Tracking
from mmgc.harness.trial import TrialFn, TrialSpec, error_text, execute_trial, failed_rows, objective
from mmgc.provenance import node_name
from mmgc.runtime import resolve_device

WORKER_DIED = "the trial's worker process died (out of memory, a crash, or its node was lost)"


def make_searcher(plan: SweepPlan, store: ResultStore, record: dict[str, Any] | None = None):
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
                state.tell(optuna_trial, value, chash, method_config(state.cell.method.name, values))
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


def trial_dirname(trial: Any) -> str:
    """Tune's per-trial folder: the mmgc trial id (not the whole config)."""
    return str(trial.config.get("spec", {}).get("trial_id") or trial.trial_id)


def progress_callback(progress: SweepProgress):
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


def connect(address: str | None, num_cpus: int | None) -> bool:
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
