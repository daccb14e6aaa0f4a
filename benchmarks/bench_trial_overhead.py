"""Where a sweep trial's time goes outside condensation and evaluation.

Runs quickstart-shaped trials one after another in this process, as one sweep worker does (the
results store, MLflow tracking on a SQLite store, a kept condensed graph), and prints per trial its
wall seconds, the condensation's (``condense_seconds`` of its rows), the evaluation's, and the rest,
``outside`` = total - condensation - evaluation, broken down into dataset loading, MLflow logging and
the store write. The first trial on a dataset pays its load; later ones read the worker's cache.

    python benchmarks/bench_trial_overhead.py                      # lastfm-2k at 5%
    python benchmarks/bench_trial_overhead.py --dataset synthetic-conflict --ratio 0.03
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from mmgc.harness import evaluate, store, tracking, trial
from mmgc.harness.experiment import load_experiment

GM = dict(epochs=20, outer_loop=6, structure_epochs=1, cycle_epochs=4, lr_feat=0.05, lr_adj=0.01, select_every=10,
          select_epochs=150, select_eval_every=10, diagnostics_every=0)
TRIALS = [("random", {}), ("random", {}), ("kcenter", {"epochs": 100}), ("herding", {"epochs": 100}),
          ("gcond", GM), ("gcond", GM)]
"""The quickstart's configurations (tune_configs/quickstart.yaml), a cheap method first and twice."""
TIMED = [("load_cached", "dataset load", (trial,)), ("evaluate", "evaluate", (evaluate, trial)),
         ("evaluate_original", "evaluate", (evaluate, trial)), ("log_trial", "MLflow", (tracking,)),
         ("write_trial", "store write", (store.ResultStore,))]
"""What is timed, by name, in each namespace that calls it (a name imported into the trial module is
its own reference)."""


def timed(timers: collections.Counter, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timers[label] += time.perf_counter() - start
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="lastfm-2k")
    parser.add_argument("--ratio", type=float, default=0.05, help="synthetic nodes per visible node")
    parser.add_argument("--eval-epochs", type=int, default=200, help="the quickstart's evaluation epochs")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    timers: collections.Counter = collections.Counter()
    for name, label, owners in TIMED:
        for owner in owners:
            if hasattr(owner, name):
                setattr(owner, name, timed(timers, label, getattr(owner, name)))
    root = tempfile.mkdtemp(prefix="mmgc-overhead-")
    uri = tracking.default_uri(root)
    record = tracking.SweepTracking(uri=uri, experiment_id=tracking.init_store(uri, "overhead"),
                                    experiment="overhead").as_dict()
    quickstart = load_experiment(Path(__file__).resolve().parents[1] / "tune_configs" / "quickstart.yaml")
    options = next((d.options for d in quickstart.datasets if d.name == args.dataset), {})  # the quickstart's
    print("| trial | method | total s | condense s | evaluate s | outside s | of which: dataset load, MLflow, store |")
    print("|---|---|---|---|---|---|---|")
    outside: dict[str, list[float]] = collections.defaultdict(list)
    for i, (method, config) in enumerate(TRIALS):
        timers.clear()
        spec = trial.TrialSpec(dataset=args.dataset, dataset_options=options, method=method, ratio=args.ratio,
                               config=config, eval_options={"epochs": args.eval_epochs}, tracking=record,
                               phase="final", experiment="overhead", artifact_dir=f"{root}/artifacts", threads=1)
        start = time.perf_counter()
        rows = trial.execute_trial(spec, root, tracking=tracking.MlflowTracking(uri))
        total = time.perf_counter() - start
        if rows[0].get("status") != "ok":
            raise SystemExit(f"trial {method} failed: {rows[0].get('error')}")
        condense = float(rows[0].get("condense_seconds") or 0.0)
        rest = total - condense - timers["evaluate"]
        if i > 0:  # the first trial pays the dataset's load
            outside[method].append(rest)
        print(f"| {i} | {method} | {total:.2f} | {condense:.2f} | {timers['evaluate']:.2f} | {rest:.2f} | "
              f"{timers['dataset load']:.2f}, {timers['MLflow']:.2f}, {timers['store write']:.2f} |", flush=True)
    every = [v for values in outside.values() for v in values]
    print(f"\noutside condensation and evaluation, trials after the first: median {statistics.median(every):.2f} s "
          f"(min {min(every):.2f}, max {max(every):.2f})")


if __name__ == "__main__":
    main()
