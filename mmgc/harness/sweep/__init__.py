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

Modules: `plan` (cells, studies, trials to run), `resources` (the resource check), `ray_tune` (the
Ray Tune adapter: searcher, trainable, callbacks), `progress` (the live display), `ray_processes`
(what a killed driver left running) and `driver` (`run_sweep`). Ray, Optuna and Tune are imported
inside functions only.
"""

from mmgc.harness.sweep.driver import SweepReport, run_sweep
from mmgc.harness.sweep.plan import FINAL, SEARCH, CellState, SweepPlan, describe_plan, make_plan
from mmgc.harness.sweep.progress import SweepProgress
from mmgc.harness.sweep.ray_processes import (
    RAY_SESSIONS, record_ray_processes, release_ray_processes, stop_orphaned_ray,
)
from mmgc.harness.sweep.resources import SweepError, check_resources

__all__ = [
    "FINAL", "RAY_SESSIONS", "SEARCH", "CellState", "SweepError", "SweepPlan", "SweepProgress", "SweepReport",
    "check_resources", "describe_plan", "make_plan", "record_ray_processes", "release_ray_processes", "run_sweep",
    "stop_orphaned_ray",
]
