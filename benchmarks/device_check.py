"""The CUDA path of mmgc checked in one run (about 5 minutes on one GPU); every figure written as JSON.

Run it through ``scripts/device-check`` (the plain checkout on ``PYTHONPATH``; it needs only torch and
what ``mmgc.methods``, ``mmgc.datasets`` and ``mmgc.harness.evaluate`` import: no Ray, MLflow, Optuna
or DuckDB, and the JSON records that none was imported). Sections, each written to the JSON as soon
as it is done, each skipped with a note once ``--budget-s`` is spent:

1. ``parity``: every registered method (``--methods``) condenses each dataset of ``--datasets`` on the
   device and on the CPU with the same seed and a short config (`SMALL_RUN`: the keys a method's
   config has), and the condensed graph is evaluated (GCN, one seed) where it was made. Passes when n is
   identical and the validation and test metrics agree within `METRIC_TOLERANCE` (on CUDA the
   neighbour sampling draws from CUDA's generator, so the trajectories are not bit-identical; on
   ``--device cpu`` they must agree exactly, which the test suite checks). A `DeviceAudit` (a torch
   dispatch mode) sees every tensor every operation creates; between the end of the first reported
   epoch and the end of the last but one (the epoch loop, without setup and the final selection) no
   tensor with more than one element may be off the device (``hot_loop_foreign == 0``). Host syncs
   (``.item()``) per audited epoch are counted too. A dataset that is not registered or whose files
   are missing is skipped with its error line.
2. ``epoch_seconds``: seconds per condensation epoch of GCond and SR-GM at ``--sizes`` synthetic
   nodes on ``--timing-dataset`` (default the Ele-fashion-shaped preset, d = 1,024), median of
   ``--timing-epochs`` after one warm-up, with the peak device memory (CUDA: ``max_memory_allocated``;
   CPU: the process's peak RSS).
3. ``concurrency``: ``--concurrent`` condensation processes started at once on the one device (what
   four 0.25-GPU trials of a sweep do) against one alone: epochs per second of the group over the
   span they ran together, divided by that of the single process.

    scripts/device-check                               # on a GPU machine: writes $OUT/device_check.json
    scripts/device-check --device cpu --out /tmp/dc --methods random,gcond --sizes 20 --concurrent 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

# every key a method's config has is set to these values for the parity runs (other keys: defaults)
SMALL_RUN = {"epochs": 4, "outer_loop": 5, "select_every": 0, "select_epochs": 100, "structure_epochs": 1,
             "cycle_epochs": 2, "diagnostics_every": 1, "ot_block_size": 256}
METRIC_TOLERANCE = 0.05  # |device - CPU| of the validation and test metric (fractions, not percent)
EVAL_EPOCHS = 100  # of the evaluation GCN (default of --eval-epochs)
HEAVY_MODULES = ("ray", "mlflow", "optuna", "duckdb")


def _torch():
    import torch

    return torch


class DeviceAudit:
    """Counts, while ``active``, the tensors that operations create off the ``expected`` device
    (by operation), and the host syncs (``aten._local_scalar_dense``: ``.item()``, ``float(t)``)."""

    def __init__(self, expected: str):
        torch = _torch()
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        audit = self
        self.expected = torch.device(expected).type
        self.active = False
        self.foreign: Counter = Counter()  # op -> tensors of more than one element off the device
        self.foreign_scalars: Counter = Counter()  # op -> one-element tensors off the device
        self.syncs = 0
        self.ops = 0

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if audit.active:
                    audit.ops += 1
                    if func is torch.ops.aten._local_scalar_dense.default:
                        audit.syncs += 1
                    for t in tree_leaves(out):
                        if isinstance(t, torch.Tensor) and t.device.type != audit.expected:
                            (audit.foreign if t.numel() > 1 else audit.foreign_scalars)[str(func)] += 1
                return out

        self.mode = _Mode()

    def __enter__(self) -> "DeviceAudit":
        self.mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.mode.__exit__(*exc)

    def summary(self) -> dict[str, Any]:
        return {"ops": self.ops, "foreign": sum(self.foreign.values()), "foreign_ops": dict(self.foreign.most_common(10)),
                "foreign_scalars": sum(self.foreign_scalars.values()),
                "foreign_scalar_ops": dict(self.foreign_scalars.most_common(10)), "host_syncs": self.syncs}


class EpochWindow:
    """A reporter that opens the audit after the first reported epoch and closes it after the last
    but one (``epochs - 2``), so the audit covers whole epochs of the loop and nothing else."""

    def __init__(self, audit: DeviceAudit, epochs: int):
        self.audit, self.last, self.epochs_seen = audit, epochs - 2, set()

    def report(self, step: int, metrics: Any) -> None:
        self.epochs_seen.add(step)
        self.audit.active = 0 <= step < self.last

    @property
    def audited_epochs(self) -> int:
        return max(0, min(len(self.epochs_seen), self.last + 1) - 1)


def parse_dataset(item: str) -> tuple[str, dict[str, str]]:
    """``NAME`` or ``NAME:key=value,key=value`` (a value may hold commas: ``dims=32,32``)."""
    name, _, rest = item.partition(":")
    pairs: list[list[str]] = []
    for token in (t for t in rest.split(",") if t):
        if "=" in token or not pairs:
            pairs.append(token.split("=", 1))
        else:
            pairs[-1][1] += "," + token
    return name, {k: v for k, v in pairs}


def small_config(method: str, values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that are keys of ``method``'s config."""
    import dataclasses

    from mmgc.methods import get_method

    keys = {f.name for f in dataclasses.fields(get_method(method).Config)}
    return {k: v for k, v in values.items() if k in keys}


def condense_and_evaluate(graph: Any, method: str, ratio: float, device: str, seed: int, audit_device: bool,
                          small_run: dict[str, Any], eval_epochs: int = EVAL_EPOCHS) -> dict:
    torch = _torch()
    from mmgc.harness.evaluate import EvalConfig, evaluate
    from mmgc.methods import Context, create_method

    config = small_config(method, small_run)
    audit = DeviceAudit(device)
    window = EpochWindow(audit, int(config.get("epochs", 0)))
    start = time.perf_counter()
    if audit_device:
        with audit:
            condensed = create_method(method, config).condense(graph, ratio, Context(device=torch.device(device),
                                                                                      seed=seed, reporter=window))
    else:
        condensed = create_method(method, config).condense(graph, ratio, Context(device=torch.device(device), seed=seed))
    condense_s = time.perf_counter() - start
    rows = evaluate(condensed, graph, "gcn", [seed], EvalConfig(epochs=eval_epochs, lr_drop_epoch=None), device=device)
    row = rows[0]
    out = {"n": condensed.num_nodes, "val": row["val_metric"], "test": row["test_metric"], "condense_s": round(condense_s, 2)}
    if audit_device:
        out["audit"] = dict(audit.summary(), audited_epochs=window.audited_epochs)
    return out


def parity(args: argparse.Namespace, deadline: float) -> list[dict]:
    from mmgc.datasets import load_dataset
    from mmgc.methods import list_methods

    methods = [m for m in args.methods.split(",") if m] if args.methods else sorted(list_methods())
    results = []
    for item in args.datasets:
        name, options = parse_dataset(item)
        try:
            graph = load_dataset(name, root=args.dataset_root, **options)
        except Exception as exc:  # unknown name, missing files: skipped with the reason, the check goes on
            results.append({"dataset": item, "status": "skipped", "note": f"{type(exc).__name__}: {exc}"})
            continue
        visible = graph.visible_graph().num_nodes
        ratio = max(args.parity_n / visible, 1e-9)
        for method in methods:
            cell: dict[str, Any] = {"dataset": item, "method": method, "ratio": ratio}
            if time.perf_counter() > deadline:
                results.append(dict(cell, status="skipped", note="time budget spent"))
                continue
            try:
                on_device = condense_and_evaluate(graph, method, ratio, args.device, args.seed, True, args.small_run, args.eval_epochs)
                on_cpu = condense_and_evaluate(graph, method, ratio, "cpu", args.seed, False, args.small_run, args.eval_epochs)
            except ModuleNotFoundError as exc:  # e.g. SGDD's POT where it is not installed
                results.append(dict(cell, status="skipped", note=f"{type(exc).__name__}: {exc}"))
                continue
            audit = on_device["audit"]
            checks = {
                "same_n": on_device["n"] == on_cpu["n"],
                "val_within": abs(on_device["val"] - on_cpu["val"]) <= METRIC_TOLERANCE,
                "test_within": abs(on_device["test"] - on_cpu["test"]) <= METRIC_TOLERANCE,
                "hot_loop_on_device": audit["foreign"] == 0,
            }
            if args.device == "cpu":  # the same device twice: deterministic under the seed
                checks["identical_on_cpu"] = (on_device["val"], on_device["test"]) == (on_cpu["val"], on_cpu["test"])
            epochs = audit["audited_epochs"]
            cell.update(device=on_device, cpu=on_cpu, checks=checks, status="ok" if all(checks.values()) else "failed",
                        host_syncs_per_epoch=round(audit["host_syncs"] / epochs, 1) if epochs else None,
                        note=None if epochs else "no epoch loop reported: the audit covered nothing")
            results.append(cell)
            print(f"parity {item} {method}: {cell['status']} {checks}", file=sys.stderr)
    return results


def _ratio_for(graph: Any, n: int) -> float:
    return n / graph.visible_graph().num_nodes + 1e-9


def timing_config(epochs: int, args: argparse.Namespace) -> dict[str, Any]:
    """The method's defaults, alternating structure and feature epochs, without diagnostics and
    checkpoint selection (not part of the method's cost), plus ``--set`` values."""
    overrides = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    return dict(epochs=epochs, structure_epochs=1, cycle_epochs=2, diagnostics_every=0, select_every=0, select_epochs=1,
                **overrides)


def epoch_seconds(args: argparse.Namespace, deadline: float) -> list[dict]:
    torch = _torch()
    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method

    name, options = parse_dataset(args.timing_dataset)
    graph = load_dataset(name, root=args.dataset_root, **options)
    out = []
    for method in ("gcond", "sr_gm"):
        for n in args.sizes:
            cell: dict[str, Any] = {"method": method, "n_requested": n, "d": graph.feature_dim}
            if time.perf_counter() > deadline:
                out.append(dict(cell, status="skipped", note="time budget spent"))
                continue
            condensed = create_method(method, timing_config(args.timing_epochs + 1, args)).condense_measured(
                graph, _ratio_for(graph, n), Context(device=torch.device(args.device), seed=args.seed))
            timed = condensed.info["history"][1:]
            cell.update(status="ok", n=condensed.num_nodes,
                        seconds_per_epoch=round(statistics.median(r["seconds"] for r in timed), 4),
                        cpu_seconds_per_epoch=round(statistics.median(r["cpu_seconds"] for r in timed), 4),
                        peak_memory_mb=condensed.info["peak_memory_mb"])
            out.append(cell)
            print(f"epoch seconds {method} n={condensed.num_nodes}: {cell['seconds_per_epoch']} s", file=sys.stderr)
    return out


def throughput_child(args: argparse.Namespace) -> None:
    """One condensation process of the concurrency section: warm up, wait for the common start, time."""
    torch = _torch()
    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method

    name, options = parse_dataset(args.timing_dataset)
    graph = load_dataset(name, root=args.dataset_root, **options)
    ratio = _ratio_for(graph, args.concurrent_n)
    device = torch.device(args.device)
    create_method("gcond", timing_config(2, args)).condense(graph, ratio, Context(device=device, seed=args.seed))
    ready = time.time()
    late = ready > args.start_at
    time.sleep(max(0.0, args.start_at - ready))
    start = time.time()
    create_method("gcond", timing_config(args.concurrent_epochs, args)).condense(graph, ratio, Context(device=device, seed=args.seed))
    print(json.dumps({"start": start, "end": time.time(), "epochs": args.concurrent_epochs, "late": late}))


def concurrency(args: argparse.Namespace, deadline: float) -> dict:
    base = [sys.executable, os.path.abspath(__file__), "--throughput-child", "--device", args.device, "--timing-dataset",
            args.timing_dataset, "--concurrent-n", str(args.concurrent_n), "--concurrent-epochs",
            str(args.concurrent_epochs), "--seed", str(args.seed)]
    if args.dataset_root:
        base += ["--dataset-root", args.dataset_root]
    for kv in args.set:
        base += ["--set", kv]

    def run_group(k: int, lead_s: float) -> list[dict]:
        start_at = time.time() + lead_s
        procs = [subprocess.Popen(base + ["--start-at", str(start_at)], stdout=subprocess.PIPE, text=True) for _ in range(k)]
        outs = [p.communicate()[0] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a concurrency child failed (exit codes {[p.returncode for p in procs]})")
        return [json.loads(o.strip().splitlines()[-1]) for o in outs]

    if time.perf_counter() > deadline:
        return {"status": "skipped", "note": "time budget spent"}
    t0 = time.time()
    alone = run_group(1, 0.0)[0]
    setup_s = alone["start"] - t0  # start-up, data and warm-up of one process
    group = run_group(args.concurrent, 2 * setup_s + 5)
    alone_rate = alone["epochs"] / (alone["end"] - alone["start"])
    span = max(g["end"] for g in group) - min(g["start"] for g in group)
    group_rate = sum(g["epochs"] for g in group) / span
    return {"status": "ok", "processes": args.concurrent, "n_requested": args.concurrent_n,
            "epochs_per_process": args.concurrent_epochs, "alone_epochs_per_s": round(alone_rate, 3),
            "group_epochs_per_s": round(group_rate, 3), "throughput_ratio": round(group_rate / alone_rate, 3),
            "late_starts": sum(bool(g["late"]) for g in group)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="the device under test (cuda, cuda:1, cpu)")
    p.add_argument("--out", default=None, help="folder for device_check.json (default $OUT, else .)")
    p.add_argument("--methods", default="", help="comma list (default: every registered method)")
    p.add_argument("--datasets", nargs="+", default=["synthetic:nodes=1000", "lastfm-2k"],
                   help="NAME or NAME:key=value,... (an unknown name or missing files: skipped with a note)")
    p.add_argument("--dataset-root", default=None)
    p.add_argument("--small", action="append", default=[], metavar="KEY=VALUE",
                   help="override a SMALL_RUN value of the parity runs (an int), repeatable")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a method config value (an int) of the timing and concurrency runs, repeatable")
    p.add_argument("--eval-epochs", type=int, default=EVAL_EPOCHS)
    p.add_argument("--parity-n", type=int, default=30, help="synthetic nodes of the parity runs")
    p.add_argument("--timing-dataset", default="synth-ele-fashion:scale=0.05")
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    p.add_argument("--timing-epochs", type=int, default=3)
    p.add_argument("--concurrent", type=int, default=4)
    p.add_argument("--concurrent-n", type=int, default=300)
    p.add_argument("--concurrent-epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-s", type=float, default=270.0, help="sections not started by then are skipped")
    p.add_argument("--skip", default="", help="comma list of sections to skip: parity, epoch_seconds, concurrency")
    p.add_argument("--throughput-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.throughput_child:
        throughput_child(args)
        return 0

    args.small_run = dict(SMALL_RUN, **{k: int(v) for k, v in (kv.split("=", 1) for kv in args.small)})
    torch = _torch()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device}: torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    out_dir = args.out or os.environ.get("OUT") or "."
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "device_check.json")
    started = time.perf_counter()
    deadline = started + args.budget_s
    report: dict[str, Any] = {
        "device": args.device, "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "metric_tolerance": METRIC_TOLERANCE, "small_run": args.small_run, "eval_epochs": args.eval_epochs,
    }

    def write() -> None:
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["heavy_modules_imported"] = sorted(m for m in HEAVY_MODULES if m in sys.modules)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1, default=str)
        os.replace(tmp, path)

    skip = set(args.skip.split(","))
    sections = [("parity", parity), ("epoch_seconds", epoch_seconds), ("concurrency", concurrency)]
    for name, section in sections:
        if name in skip:
            report[name] = {"status": "skipped", "note": "--skip"}
            continue
        report[name] = section(args, deadline)
        write()
    write()
    failed = [c for c in report.get("parity", []) if isinstance(c, dict) and c.get("status") == "failed"]
    print(f"wrote {path}; parity failures: {len(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
