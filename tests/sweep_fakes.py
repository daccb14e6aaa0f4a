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


def _value(spec) -> float:
    lr = float(spec.config.get("lr", 0.01))
    k = int(spec.config.get("k", 3))
    return 0.5 + 0.1 * min(lr * 10, 1.0) - 0.01 * abs(k - 4) + 0.001 * (spec.condense_seed or 0)


def quick_trial(spec):
    from mmgc.harness.trial import fake_rows

    return fake_rows(spec, _value(spec))


def sleepy_trial(spec, sleep: float = 0.5, log: str | None = None):
    """Sleeps ``sleep`` seconds and appends its start, end, node and device to the file ``log``."""
    from mmgc.harness.trial import fake_rows, node_name, resolve_device

    start = time.time()
    time.sleep(sleep)
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
    from mmgc.harness.sweep import run_sweep

    import functools

    trial_fn = globals()[args.trial]
    if args.trial == "sleepy_trial":  # the workers may belong to another process's Ray: pass the knobs along
        trial_fn = functools.partial(trial_fn, sleep=float(os.environ.get("MMGC_FAKE_SLEEP", "0.5")),
                                     log=os.environ.get("MMGC_FAKE_LOG"))
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
