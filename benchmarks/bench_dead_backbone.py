"""Does a GCN condensation backbone die on GCond's dense generator start, and does a sparse start help?

For each ``pge_init_weight`` (``none`` = GCond's default initialisation, edge weights near 0.5) this
condenses ``--dataset`` with GCond and a GCN backbone for ``--epochs`` epochs per seed and prints,
per epoch, ``dead_backbone`` (the fraction of outer steps at which the backbone gave every synthetic
node the same logits: all ReLUs dead, ``G_S = 0``), the synthetic graph's mean edge weight and the
feature-gradient norm at the epoch's last outer step.

    python benchmarks/bench_dead_backbone.py
    python benchmarks/bench_dead_backbone.py --dataset synthetic --ratio 0.05 --inits none,0.05,0.01
"""

from __future__ import annotations

import argparse
import warnings

from mmgc.datasets import load_dataset
from mmgc.methods import Context, create_method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic-conflict")
    parser.add_argument("--ratio", type=float, default=0.03)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--inits", default="none,0.05,0.01", help="pge_init_weight values (none = GCond's start)")
    parser.add_argument("--lr-model", type=float, default=0.01)
    args = parser.parse_args()
    graph = load_dataset(args.dataset)
    for init in args.inits.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            config = dict(backbone="gcn", epochs=args.epochs, lr_model=args.lr_model, select_every=0, select_epochs=50,
                          pge_init_weight=None if init == "none" else float(init))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the history says it; printed below
                condensed = create_method("gcond", config).condense(graph, args.ratio, Context(seed=seed))
            h = condensed.info["history"]
            print(f"pge_init_weight={init} seed {seed}: dead_backbone {[round(r['dead_backbone'], 2) for r in h]}, "
                  f"adj_mean {[round(r['adj_mean'], 3) for r in h]}, "
                  f"|G_S| at the last step {[float(format(r['grad_norm_G/last'], '.2g')) for r in h]}", flush=True)


if __name__ == "__main__":
    main()
