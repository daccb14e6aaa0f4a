"""Sweep scheduling overhead per trial, and leaderboard query time over 100,000 rows.

    python benchmarks/bench_sweep_overhead.py [--trials 200] [--rows 100000] [--num-cpus 2]

1. Scheduling overhead: a sweep of N no-op trials (each returns its rows at once and writes its
   Parquet file) through the whole machinery: Ray Tune, the multiplexing searcher, the results
   store, the progress callbacks. Once with fixed trials, once with an Optuna search (ask/tell per
   trial). Prints seconds per trial: end to end (Ray start included) and in steady state (first
   trial start to last trial end, divided by N: the throughput cost of one trial slot).
2. Leaderboard: writes 100,000 result rows as one file per trial (10,000 trials x 10 rows, as a sweep
   writes them; and 1,000 x 100), then times `mmgc leaderboard`'s query (cold and warm) and the
   resume index (`ResultStore.completed`), before and after the compaction that ends every sweep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmgc.methods.base import CondensationMethod, SearchDim, register_method  # noqa: E402
from tests import sweep_fakes  # noqa: E402


@dataclass(frozen=True)
class NoopConfig:
    x: float = 0.5


@register_method("bench_noop")
class BenchNoop(CondensationMethod):
    """A method that only exists so that an experiment can name it; trials never condense."""

    Config = NoopConfig
    search_space = {"x": SearchDim("uniform", 0.0, 1.0)}

    def condense(self, graph, ratio, ctx):  # pragma: no cover
        raise NotImplementedError


def noop_trial(spec):
    return sweep_fakes.fake_rows(spec, float(spec.config.get("x", 0.5)))


def experiment(root: str, trials: int, search: bool):
    from mmgc.harness.experiment import parse_experiment

    method = {"name": "bench_noop", "search": "declared", "n_trials": trials} if search else {"name": "bench_noop"}
    return parse_experiment({
        "name": "bench_search" if search else "bench_fixed", "results": root,
        "datasets": [{"name": "synthetic", "ratios": [0.01]}], "methods": [method],
        "seeds": {"condense": [0] if search else list(range(trials)), "eval": [0]},
        "resources": {"cpu": 1},
    })


def scheduling(trials: int, num_cpus: int) -> None:
    import ray

    from mmgc.harness.store import ResultStore
    from mmgc.harness.sweep import run_sweep

    for search in (False, True):
        root = tempfile.mkdtemp(prefix="mmgc-bench-")
        exp = experiment(root, trials, search)
        start = time.perf_counter()
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        ray.cloudpickle.register_pickle_by_value(sweep_fakes)  # the workers need not find tests/
        ray_start = time.perf_counter() - start
        start = time.perf_counter()
        report = run_sweep(exp, trial_fn=noop_trial, progress=False)
        wall = time.perf_counter() - start
        ray.shutdown()
        rows = ResultStore(root).rows(exp.name)
        created = sorted(r["created_at"] for r in rows)
        import datetime as dt

        span = (dt.datetime.fromisoformat(created[-1]) - dt.datetime.fromisoformat(created[0])).total_seconds()
        n = report.ok
        assert n == report.total, report
        kind = "search (Optuna ask/tell)" if search else "fixed"
        print(f"scheduling, {kind}: {n} no-op trials on {num_cpus} CPUs: sweep {wall:.1f} s = {wall / n:.3f} s/trial "
              f"(Tune start and teardown included; Ray start {ray_start:.1f} s more); steady state "
              f"{span / max(1, n - 1):.3f} s/trial (first to last trial)", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        assert not ray.is_initialized()


def leaderboard(total_rows: int) -> None:
    from mmgc.harness.schema import make_row
    from mmgc.harness.store import ResultStore

    for rows_per_trial in (10, 100):
        root = tempfile.mkdtemp(prefix="mmgc-bench-lb-")
        store = ResultStore(root)
        trials = total_rows // rows_per_trial
        start = time.perf_counter()
        for t in range(trials):
            method = ("random", "herding", "kcenter", "gcond", "sr_gm", "msgc", "sgdd")[t % 7]
            dataset = ("synth-ele-fashion", "synth-goodreads-nc", "synth-amazon-sports", "synth-amazon-cloth")[t % 4]
            store.write_trial([make_row(
                experiment="bench", phase="final", trial_id=f"t{t}", dataset=dataset, dataset_variant="",
                ratio=(0.001, 0.003, 0.005)[t % 3], method=method, method_label=method, config_hash=f"h{t % 97}",
                condense_seed=t, arch=("gcn", "sage")[i % 2], eval_seed=i, metric="accuracy",
                val_metric=0.5 + (t * 7 + i) % 100 / 300, test_metric=0.5 + (t * 11 + i) % 100 / 300,
                status="ok", created_at=f"2026-01-01T00:00:{t % 60:02d}") for i in range(rows_per_trial)])
        write = time.perf_counter() - start
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            cells = store.leaderboard("bench")
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        done = store.completed("bench")
        resume = time.perf_counter() - start
        count = store.sql("SELECT count(*) FROM results")[1][0][0]
        assert count == trials * rows_per_trial
        print(f"leaderboard over {count:,} rows in {trials:,} files ({rows_per_trial} rows each): "
              f"query {timings[0]:.2f} s cold, {min(timings[1:]):.2f} s warm, {len(cells)} cells; "
              f"resume index {resume:.2f} s ({len(done):,} keys); writing took {write:.1f} s "
              f"({write / trials * 1000:.1f} ms/file)", flush=True)
        start = time.perf_counter()
        store.compact("bench")
        compact = time.perf_counter() - start
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            cells = store.leaderboard("bench")
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        done = store.completed("bench")
        resume = time.perf_counter() - start
        print(f"  after compaction ({compact:.1f} s, as every sweep ends) into {len(store.files('bench'))} files: "
              f"query {timings[0]:.2f} s cold, {min(timings[1:]):.2f} s warm; resume index {resume:.2f} s",
              flush=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-scheduling", action="store_true")
    parser.add_argument("--skip-leaderboard", action="store_true")
    args = parser.parse_args()
    if not args.skip_scheduling:
        scheduling(args.trials, args.num_cpus)
    if not args.skip_leaderboard:
        leaderboard(args.rows)


if __name__ == "__main__":
    main()
