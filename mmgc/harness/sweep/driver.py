"""The sweep driver: `run_sweep` compacts and reads the store, plans, connects to Ray, runs the
plan's trials on one Tuner, and reports from the store what ran and what is missing."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgc.harness.experiment import Experiment, load_experiment
from mmgc.harness.signals import interrupts_raise, take_unreported
from mmgc.harness.store import ResultStore, wide_console
from mmgc.harness.sweep.plan import SweepPlan, describe_plan, make_plan
from mmgc.harness.sweep.progress import SweepProgress
from mmgc.harness.sweep.ray_processes import record_ray_processes, release_ray_processes, stop_orphaned_ray
from mmgc.harness.sweep.ray_tune import _trainable, connect, make_searcher, progress_callback, trial_dirname
from mmgc.harness.sweep.resources import check_resources
from mmgc.harness.tracking_hook import Tracking
from mmgc.harness.trial import TrialFn, error_text


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
        searcher = make_searcher(plan, store, record)
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
                                        reuse_actors=True, trial_dirname_creator=trial_dirname),
            run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0,
                                      callbacks=[progress_callback(bar)],
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
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    console = console or wide_console()
    tracking = tracking or Tracking()
    store = ResultStore(results or experiment.results)
    if not dry_run:
        store.check_writable()  # before any work: trials, Ray's state and MLflow's store write under it
        try:  # a resumed sweep reads one file per folder, not the thousands its last run left
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
        started_ray = connect(address, num_cpus)
        ray_record = record_ray_processes() if started_ray else None
        with interrupts_raise():  # Ctrl-C, SIGINT and SIGTERM: the same clean stop
            bar, interrupted, missing = _run_tuner(experiment, plan, store, trial_fn, tracking, progress, console,
                                                   started_ray, ray_record)

    if interrupted:  # a trial Ray is still stopping may be writing its file: let it finish or die
        for path in store.settle_temporaries(experiment.name):
            console.print(f"note: {path} was still being written when the sweep stopped")
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
