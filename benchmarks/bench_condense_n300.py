"""GCond and SR-GM condensation epochs at the paper's synthetic sizes (n = 300, d = 1,024) on the CPU.

On the Ele-fashion-shaped preset (``synth-ele-fashion -o scale=0.05``: 4,888 nodes, 512 + 512
dims, 12 classes; the ratio is chosen to give ``--sizes`` synthetic nodes), each method condenses
``--epochs`` epochs of each phase (structure epochs step the generator, feature epochs the
features) in this one process, after a warm-up, without diagnostics or checkpoint selection. Prints
per method and phase the median wall and CPU seconds per epoch, SR-GM's ratio to GCond, where the
CPU time goes (exclusive CPU seconds of the engine's parts, timed by wrapping them:
the structure generator's forward, per-class real gradients, synthetic per-class gradients and
``G_S`` (``autograd.grad``), the distance, SR-GM's extra terms, the outer backward, and the rest:
inner loop, optimiser steps, sampling glue), the matrix-product FLOPs of one epoch
(`torch.utils.flop_counter.FlopCounterMode`, forward and backward; elementwise work not counted)
and the rate reached, the peak RSS, and one validation checkpoint's seconds (the evaluation during
selection, every ``select_every`` epochs). Ratios are to the 1.5 s per epoch target. Every
(method, phase) runs once per round, ``--rounds`` rounds interleaved, and the seconds are the median
over all rounds' timed epochs: on a virtual machine whose neighbours come and go, back-to-back runs
of the same epoch differ by a third.

    python benchmarks/bench_condense_n300.py --threads 1
    python benchmarks/bench_condense_n300.py --threads 2 --pge fused,plain --rounds 3
    python benchmarks/bench_condense_n300.py --threads 2 --sizes 300,2000 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys

from timing import PartTimer, matmul_rates

TARGET_S = 1.5  # seconds per epoch on the 2-core machine


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sizes", default="300")
    p.add_argument("--methods", default="gcond,sr_gm")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per phase and round (after a warm-up)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved runs of every method and phase")
    p.add_argument("--pge", default="fused", help="PGE kernels to compare, interleaved: fused (mmgc's) and/or "
                   "plain (the same network by plain autograd ops, as before the fused kernel)")
    p.add_argument("--dataset", default="synth-ele-fashion")
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP-counting epoch")
    p.add_argument("--no-selection", action="store_true", help="skip timing a validation checkpoint")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import mmgc.methods.gradient_matching.engine as gm
    import mmgc.methods.structure as st
    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method, get_method
    from mmgc.runtime import cpu_settings, set_threads

    set_threads(args.threads)
    graph = load_dataset(args.dataset, scale=args.scale)
    visible = graph.visible_graph().num_nodes
    timer = PartTimer()
    timer.wrap(st.PGE, "forward", "structure generator forward")
    timer.wrap(gm.GradientMatchingMethod, "real_gradients", "real per-class gradients")
    timer.wrap(torch.autograd, "grad", "synthetic per-class gradients and G_S")
    timer.wrap(gm, "match_distance", "gradient distance")
    timer.wrap(torch.Tensor, "backward", "outer backward (generator, second-order terms)")
    for method in args.methods.split(","):
        cls = get_method(method)
        if cls.extra_terms is not gm.GradientMatchingMethod.extra_terms:
            timer.wrap(cls, "extra_terms", f"{method} extra terms (forward)")

    load = [__import__("os").getloadavg()[0]]
    methods = [m for m in args.methods.split(",") if m]
    phases = (("structure", 2), ("features", 0))
    fused_apply = st._PairwiseBlocks.apply
    kernels = {"fused": fused_apply, "plain": lambda a, b, *params: params[-1]._reference_logits(a, b)}
    cells: dict[tuple, dict] = {}
    for round_ in range(args.rounds):
        for n in [int(s) for s in args.sizes.split(",") if s]:
            ratio = n / visible + 1e-9
            for method in methods:
                for kernel in [k for k in args.pge.split(",") if k]:
                    st._PairwiseBlocks.apply = kernels[kernel]
                    for phase, structure_epochs in phases:
                        config = dict(epochs=args.epochs + 1, structure_epochs=structure_epochs, cycle_epochs=2,
                                      diagnostics_every=0, select_every=0, select_epochs=1)
                        timer.totals.clear()
                        out = create_method(method, config).condense(graph, ratio, Context(seed=0))
                        cell = cells.setdefault((n, method, kernel, phase), {
                            "n": out.num_nodes, "method": method, "pge": kernel, "phase": phase,
                            "threads": torch.get_num_threads(), "walls": [], "cpus": [], "parts": {}, "epochs": 0,
                            "gflop": float("nan"),
                            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
                        timed = out.info["history"][1:]
                        cell["walls"] += [r["seconds"] for r in timed]
                        cell["cpus"] += [r["cpu_seconds"] for r in timed]
                        history = out.info["history"]
                        for k, v in timer.totals.items():
                            cell["parts"][k] = cell["parts"].get(k, 0.0) + v
                        rest = sum(r["cpu_seconds"] for r in history) - sum(timer.totals.values())
                        cell["parts"]["rest: inner loop, optimiser, sampling"] = (
                            cell["parts"].get("rest: inner loop, optimiser, sampling", 0.0) + rest)
                        cell["epochs"] += len(history)
                        if round_ == 0 and not args.no_flops:
                            with FlopCounterMode(display=False) as flops:
                                create_method(method, dict(config, epochs=1)).condense(graph, ratio, Context(seed=0))
                            cell["gflop"] = flops.get_total_flops() / 1e9
                        print(f"  round {round_ + 1}: n={out.num_nodes} {method} ({kernel} PGE) {phase}: "
                              f"{statistics.median(r['seconds'] for r in timed):.2f} s wall, "
                              f"{statistics.median(r['cpu_seconds'] for r in timed):.2f} CPU-s", file=sys.stderr)
    st._PairwiseBlocks.apply = fused_apply
    results = []
    for cell in cells.values():
        results.append({"n": cell["n"], "method": cell["method"], "pge": cell["pge"], "phase": cell["phase"],
                        "threads": cell["threads"], "wall": statistics.median(cell["walls"]),
                        "cpu": statistics.median(cell["cpus"]), "gflop": cell["gflop"],
                        "parts": {k: v / cell["epochs"] for k, v in cell["parts"].items()},
                        "epoch_walls": cell["walls"], "peak_rss_mb": cell["peak_rss_mb"]})
    if not args.no_selection:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            for method in methods:
                # one validation checkpoint of the protocol's selection model (600 epochs, GCN)
                select = create_method(method, dict(epochs=1, diagnostics_every=0, select_every=1))
                sel = select.condense(graph, n / visible + 1e-9, Context(seed=0)).info.get("selection_seconds")
                results.append({"n": n, "method": method, "phase": "selection", "wall": sel})
    load.append(__import__("os").getloadavg()[0])

    print(f"{graph.name} x{args.scale} ({graph.num_nodes} nodes, d = {graph.feature_dim}), {args.threads} thread(s), "
          f"{cpu_settings()}; load average {load[0]:.2f} before, {load[1]:.2f} after, on {__import__('os').cpu_count()} CPUs")
    print("| n | method | PGE | phase | s/epoch wall | CPU-s/epoch | vs 1.5 s target (wall) | vs GCond (wall) | "
          "GFLOP/epoch | GFLOP/s (CPU) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["phase"] == "selection":
            continue
        base = next((b for b in results if b["n"] == r["n"] and b["phase"] == r["phase"] and b["method"] == "gcond"
                     and b.get("pge") == r["pge"]), None)
        vs = f"{r['wall'] / base['wall']:.2f}x" if base else "-"
        print(f"| {r['n']} | {r['method']} | {r['pge']} | {r['phase']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
              f"{r['wall'] / TARGET_S:.2f}x | {vs} | {r['gflop']:.0f} | {r['gflop'] / r['cpu']:.0f} | "
              f"{r['peak_rss_mb']:.0f} |")
    for r in results:
        if r["phase"] == "selection":
            print(f"one validation checkpoint (n = {r['n']}, {r['method']}): {r['wall']} s")
    rates = matmul_rates(torch)
    block_rate = rates["PGE block 2048x128x128"]
    print("\nfloat32 matrix products on this machine, best of 3: "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items()))
    for r in results:
        if r["phase"] != "selection" and r["gflop"] == r["gflop"]:
            print(f"- n={r['n']} {r['method']} ({r['pge']} PGE) {r['phase']}: {r['gflop']:.0f} GFLOP need at least "
                  f"{r['gflop'] / block_rate:.2f} s at the block rate; the epoch took {r['wall']:.2f} s "
                  f"({r['gflop'] / r['wall'] / block_rate:.0%} of that rate)")
    print("\nwhere the CPU time of an epoch goes (exclusive CPU-s per epoch):")
    for r in results:
        if r["phase"] != "selection":
            parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["parts"].items(), key=lambda kv: -kv[1]))
            print(f"- n={r['n']} {r['method']} ({r['pge']} PGE) {r['phase']}: {parts}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": load, "settings": cpu_settings(), "matmul_gflops": rates, "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    sys.exit(main())
