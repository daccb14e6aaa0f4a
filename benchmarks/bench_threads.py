"""Seconds per condensation epoch at 1 and 2 torch threads, side by side, under both OpenMP wait policies.

Each cell runs in its own process (the OpenMP wait policy is read once, when torch loads, so it is set
in the child's environment): ``passive`` is mmgc's default (`mmgc.runtime`), ``active`` is libgomp's
spinning default that mmgc replaces (the two-thread fault); ``passive:N`` spins N times
(``GOMP_SPINCOUNT``) before sleeping. A cell condenses ``--epochs`` epochs
(alternating structure and feature phases, no diagnostics, no checkpoint selection: the method's own
cost) after one warm-up epoch and prints the median wall and CPU (user + system, all threads) seconds
per epoch. CPU seconds are the fair figure when the cores are shared: wall time then depends on what
else runs. The load average before and after is printed; run it alone (``flock`` on a shared machine).
The cells run ``--rounds`` times, interleaved (every cell once per round), and the table gives the
median over the rounds: on a virtual machine whose neighbours come and go, one run of a cell can be
a third slower than the next.

    python benchmarks/bench_threads.py                                   # Ele-fashion-shaped, n = 29, GCond
    python benchmarks/bench_threads.py --methods gcond,sr_gm --policies passive
    python benchmarks/bench_threads.py --dataset cora --option '' --ratio 0.026 --methods gcond
    python benchmarks/bench_threads.py --ratio 0.1 --policies passive      # n = 300 on the same graph

The ``issue`` columns divide by the figures this fault was reported with on the Ele-fashion-shaped
graph (``synth-ele-fashion -o scale=0.05``, 29 synthetic nodes): 4.8 CPU-s per epoch at one thread,
117 CPU-s at two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

REPORTED_CPU_S = {1: 4.8, 2: 117.0}  # CPU-s per epoch in the fault report (Ele-fashion-shaped, n = 29)


def _cell(args: argparse.Namespace) -> dict:
    import torch

    from mmgc.runtime import cpu_settings, defaults_apply, set_threads

    set_threads(args.threads)
    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method

    options = dict(kv.split("=", 1) for kv in args.option.split(",") if kv)
    graph = load_dataset(args.dataset, **options)
    common = dict(epochs=args.epochs + 1, structure_epochs=1, cycle_epochs=2, diagnostics_every=0, select_every=0,
                  select_epochs=1)
    out = create_method(args.method, common).condense(graph, args.ratio, Context(seed=0))
    timed = out.info["history"][1:]  # epoch 0 warms up
    return {"n": out.num_nodes, "threads": torch.get_num_threads(), "settings": cpu_settings(),
            "defaults_apply": defaults_apply(),
            "wall": statistics.median(r["seconds"] for r in timed),
            "cpu": statistics.median(r["cpu_seconds"] for r in timed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synth-ele-fashion")
    parser.add_argument("--option", default="scale=0.05", help="dataset options, comma-separated key=value")
    parser.add_argument("--ratio", type=float, default=0.01)
    parser.add_argument("--methods", default="gcond")
    parser.add_argument("--threads-list", default="1,2")
    parser.add_argument("--policies", default="passive,active")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per cell (after one warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every cell, interleaved; the median is shown")
    parser.add_argument("--json", default=None, help="also write the cells to this file")
    # one cell (internal: the parent runs each cell in a child with its own environment)
    parser.add_argument("--cell", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="gcond", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(_cell(args)))
        return

    load_before = os.getloadavg()
    plan = [(method, policy, threads) for method in args.methods.split(",") if method
            for policy in args.policies.split(",") if policy
            for threads in [int(t) for t in args.threads_list.split(",") if t]]
    runs: dict[tuple, list[dict]] = {key: [] for key in plan}
    for round_ in range(args.rounds):
        for method, policy, threads in plan:
            env = dict(os.environ, OMP_WAIT_POLICY=policy.split(":")[0].upper(), OMP_NUM_THREADS=str(threads),
                       MKL_NUM_THREADS=str(threads))
            if ":" in policy:  # passive:N, active:N: libgomp spins N times before it sleeps
                env["GOMP_SPINCOUNT"] = policy.split(":")[1]
            cmd = [sys.executable, os.path.abspath(__file__), "--cell", "--dataset", args.dataset, "--option",
                   args.option, "--ratio", str(args.ratio), "--method", method, "--threads", str(threads),
                   "--epochs", str(args.epochs)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            cell = json.loads(done.stdout.strip().splitlines()[-1])
            runs[(method, policy, threads)].append(cell)
            print(f"  round {round_ + 1}: {method} {policy} {threads} thread(s): {cell['wall']:.2f} s wall, "
                  f"{cell['cpu']:.2f} CPU-s per epoch", file=sys.stderr)
    load_after = os.getloadavg()
    cells = []
    for (method, policy, _), cell_runs in runs.items():
        cells.append(dict(cell_runs[0], method=method, requested_policy=policy,
                          wall=statistics.median(c["wall"] for c in cell_runs),
                          cpu=statistics.median(c["cpu"] for c in cell_runs),
                          rounds=[{"wall": c["wall"], "cpu": c["cpu"]} for c in cell_runs]))

    print(f"{args.dataset} ({args.option or 'defaults'}), ratio {args.ratio}, n = {cells[0]['n']}; "
          f"median of {args.epochs} epochs per cell, then the median of {args.rounds} interleaved rounds")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    print("| method | wait policy | threads | s/epoch wall | wall vs 1 thread | CPU-s/epoch | CPU vs 1 thread | "
          "CPU vs issue |")
    print("|---|---|---|---|---|---|---|---|")
    for cell in cells:
        one = next(c for c in cells if c["method"] == cell["method"] and c["requested_policy"] == cell["requested_policy"]
                   and c["threads"] == 1) if any(c["threads"] == 1 for c in cells) else None
        vs_one = f"{cell['cpu'] / one['cpu']:.2f}x" if one else "-"
        wall_vs_one = f"{cell['wall'] / one['wall']:.2f}x" if one else "-"
        reported = REPORTED_CPU_S.get(cell["threads"]) if args.dataset == "synth-ele-fashion" else None
        vs_issue = f"{cell['cpu'] / reported:.3f}x" if reported else "-"
        print(f"| {cell['method']} | {cell['requested_policy']} | {cell['threads']} | {cell['wall']:.2f} | "
              f"{wall_vs_one} | {cell['cpu']:.2f} | {vs_one} | {vs_issue} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_before": load_before, "load_after": load_after, "cells": cells}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
