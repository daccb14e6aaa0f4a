"""The cost of SR-GM's extra terms: one outer epoch of SR-GM against one of GCond, same process, same data.

SR-GM adds, at every outer step, ``G_S = dL_S/dX_S`` with ``create_graph=True``, the per-node
projection, the Laplacian quadratic form and the backward through all of it (a second-order term).
This times condensation epochs of ``gcond`` and of ``sr_gm`` variants on the same graph and ratio,
interleaved round-robin so that machine load affects every variant alike, and prints the median
seconds per epoch (wall and CPU) and each variant's ratio to GCond. Epochs alternate structure and
feature phases (``structure_epochs=1, cycle_epochs=2``), so both kinds are in the median; the
diagnostics and the checkpoint selection are switched off (they are not part of the method's cost).

    python benchmarks/bench_sr_gm_overhead.py                  # synthetic default, n = 30 and 90
    python benchmarks/bench_sr_gm_overhead.py --dataset cora --ratios 0.026 --backbone sgc
"""

from __future__ import annotations

import argparse
import statistics
import sys

VARIANTS = {
    "gcond": ("gcond", {}),
    "sr_gm": ("sr_gm", {"lam": 1e3}),
    "sr_gm total": ("sr_gm", {"lam": 1e3, "feature_grad": "total"}),
    "sr_gm w/o D": ("sr_gm", {"lam": 1e3, "decouple": False}),
    "sr_gm meta": ("sr_gm", {"lam": 1e3, "decouple_target": "meta_gradient"}),
    "sr_gm fixed-A": ("sr_gm", {"lam": 1e3, "damp_structure": False}),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--ratios", default="", help="comma list; default: those giving n = 30 and 90")
    parser.add_argument("--nodes", default="30,90", help="synthetic sizes n when --ratios is empty")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per variant (after one warm-up)")
    parser.add_argument("--backbone", default="gcn")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from mmgc.datasets import load_dataset
    from mmgc.methods import Context, create_method

    graph = load_dataset(args.dataset)
    visible = graph.visible_graph().num_nodes
    ratios = [float(r) for r in args.ratios.split(",") if r] or [int(n) / visible + 1e-9 for n in args.nodes.split(",")]
    names = [v for v in args.variants.split(",") if v]
    common = dict(epochs=1, outer_loop=20, backbone=args.backbone, structure_epochs=1, cycle_epochs=2,
                  diagnostics_every=0, select_every=0, select_epochs=1)
    print(f"{graph.name}: {graph.num_nodes} nodes, d = {graph.feature_dim}, {args.threads} thread(s), "
          f"backbone {args.backbone}; median over {args.epochs} epochs per variant")
    for ratio in ratios:
        wall: dict[str, list[float]] = {v: [] for v in names}
        cpu: dict[str, list[float]] = {v: [] for v in names}
        n = None
        for epoch in range(args.epochs + 1):  # epoch 0 is a warm-up, not timed
            for v in names:
                method_name, extra = VARIANTS[v]
                # epoch e of a 2-epoch cycle: structure on even, features on odd epochs
                method = create_method(method_name, dict(common, **extra, structure_epochs=1 - epoch % 2))
                out = method.condense(graph, ratio, Context(seed=0))
                n = out.num_nodes
                if epoch > 0:
                    wall[v].append(out.info["history"][0]["seconds"])
                    cpu[v].append(out.info["condense_cpu_seconds"])
        base_w, base_c = statistics.median(wall["gcond"]), statistics.median(cpu["gcond"])
        print(f"\nratio {ratio:.4g} (n = {n})")
        print("| variant | s/epoch wall | s/epoch cpu | ratio to GCond (wall) | ratio to GCond (cpu) |")
        print("|---|---|---|---|---|")
        for v in names:
            w, c = statistics.median(wall[v]), statistics.median(cpu[v])
            print(f"| {v} | {w:.3f} | {c:.3f} | {w / base_w:.2f}x | {c / base_c:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
