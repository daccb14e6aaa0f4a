"""Fakes for the sweep tests and benchmarks: a registered no-op method and trial functions that
return complete rows without condensing (sleeping, failing or recording where they ran)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from mmgc.methods.base import CondensationMethod, SearchDim, register_method


@dataclass(frozen=True)
class DummyConfig:
    lr: float = 0.01
    k: int = 3
    flag: bool = False


@register_method("dummy")
class Dummy(CondensationMethod):
    """A method that is never condensed with: the fake trials only read its config."""

    Config = DummyConfig
    search_space = {"lr": SearchDim("loguniform", 1e-4, 1e-1), "k": SearchDim("int", 1, 8)}

    def condense(self, graph, ratio, ctx):  # pragma: no cover - never called by the fakes
        raise NotImplementedError


def fake_rows(spec, val: float, test: float | None = None, status: str = "ok", error: str | None = None,
              n: int = 1) -> list[dict]:
    """Complete rows as a trial would return them, without condensing."""
    from mmgc.harness.schema import make_row
    from mmgc.harness.trial import base_values, spec_config_hash

    base = base_values(spec, config_hash=spec.config_hash or spec_config_hash(spec))
    return [make_row(**base, setting="transductive", n=n, arch=a, eval_seed=s, metric="accuracy", val_metric=val,
                     test_metric=val if test is None else test, status=status, error=error, device="cpu",
                     condense_seconds=0.0, eval_seconds=0.0)
            for a in spec.archs for s in spec.eval_seeds]


def _value(spec) -> float:
    lr = float(spec.config.get("lr", 0.01))
    k = int(spec.config.get("k", 3))
    return 0.5 + 0.1 * min(lr * 10, 1.0) - 0.01 * abs(k - 4) + 0.001 * (spec.condense_seed or 0)


def quick_trial(spec):
    return fake_rows(spec, _value(spec))


def sleepy_trial(spec, sleep: float = 0.5, log: str | None = None, hold_after: int | None = None,
                 results: str | None = None):
    """Sleeps ``sleep`` seconds and appends its start, end, node and device to the file ``log``.

    With ``hold_after``, a trial that finds that many trial files in the store ``results`` never
    finishes (until its process is killed): a sweep that is killed then is killed half-way, however
    slow or fast the machine."""
    from mmgc.harness.trial import node_name, resolve_device

    start = time.time()
    time.sleep(sleep)
    if hold_after is not None:
        from mmgc.harness.store import ResultStore

        while len(ResultStore(results).files()) >= hold_after:
            time.sleep(1.0)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"trial": spec.trial_id, "start": start, "end": time.time(), "node": node_name(),
                                "device": str(resolve_device("auto")),
                                "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")
    return fake_rows(spec, _value(spec))


def flaky_trial(spec):
    """Raises for ratio 0.02 (a trial that crashes); fine otherwise."""
    if abs(spec.ratio - 0.02) < 1e-12:
        raise RuntimeError("boom: this trial always fails")
    return quick_trial(spec)


def crashing_trial(spec):
    """Kills its own worker process for ratio 0.02 (a segfault, the OOM killer); fine otherwise."""
    if abs(spec.ratio - 0.02) < 1e-12:
        os._exit(3)
    return quick_trial(spec)


def main(argv: list[str] | None = None) -> int:
    """``python tests/sweep_fakes.py FILE [--address A] [--trial NAME] [--results DIR]``: a sweep
    with a fake trial function, in its own process (the kill and cluster tests)."""
    import argparse
    import sys

    import ray

    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--address")
    parser.add_argument("--results")
    parser.add_argument("--trial", default="sleepy_trial")
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args(argv)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    from mmgc.harness.experiment import load_experiment
    from mmgc.harness.sweep import run_sweep

    import functools

    trial_fn = globals()[args.trial]
    if args.trial == "sleepy_trial":  # the workers may belong to another process's Ray: pass the knobs along
        hold = os.environ.get("MMGC_FAKE_HOLD_AFTER")
        trial_fn = functools.partial(trial_fn, sleep=float(os.environ.get("MMGC_FAKE_SLEEP", "0.5")),
                                     log=os.environ.get("MMGC_FAKE_LOG"), hold_after=int(hold) if hold else None,
                                     results=args.results or load_experiment(args.file).results)
    report = run_sweep(args.file, results=args.results, address=args.address, trial_fn=trial_fn,
                       num_cpus=args.num_cpus, progress=True,
                       resume_hint=f"python tests/sweep_fakes.py {args.file}")
    print(f"REPORT ok={report.ok} failed={report.failed} missing={report.missing} "
          f"interrupted={report.interrupted}", flush=True)
    return 0 if report.complete else 130


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sweep_fakes  # register the dummy method under the importable name, then run there

    raise SystemExit(sweep_fakes.main())
