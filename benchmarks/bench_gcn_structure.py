"""Why does GCond's structure go dense under a GCN backbone on one graph and stay sparse on another?

For each graph and condensation backbone this builds GCond's first matching step (the real-feature
start of the synthetic features, the per-class real gradients of a fresh backbone) and reads the
matching loss as a function of the synthetic structure, holding everything else fixed:

- *line scan*: the loss with every off-diagonal edge weight set to ``w`` (a uniform synthetic graph),
  for each ``w`` in ``--weights``; a loss that falls as ``w`` grows is a generator pushed toward the
  complete graph;
- *gradient at the start*: at the uniform graph of weight ``--start`` (``pge_init_weight`` of the
  study), the share of off-diagonal entries whose loss gradient is negative (entries an optimiser step
  raises) and the cosine between that gradient and the all-ones direction (-1: "raise every edge").

Each figure is the mean over ``--seeds`` backbone initialisations and real-neighbourhood samples (the
same sample for every ``w`` of a seed).

With ``--lr-adj``, it then condenses each graph with GCond at the GCN study's configuration
(``tune_configs/sr_gm_study_gcn.yaml``: 20 epochs x 6 matching steps, 1 structure epoch in 4, GCN
backbone at lr_model 1e-3, edge weights starting at 0.05) at each generator learning rate, and prints
the mean edge weight at each diagnosed epoch, the kept graph's density (share of off-diagonal entries
at or above the evaluation threshold) and its GCN test accuracy (GCond's protocol, 600 epochs, 2
evaluation seeds): whether a smaller generator step keeps the structure sparse, and what that buys.

    python benchmarks/bench_gcn_structure.py
    python benchmarks/bench_gcn_structure.py --datasets synthetic-conflict:0.03 --lr-adj 0.01,0.001,0.0001 --seeds 0,1
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F

from mmgc.adjacency import Adjacency
from mmgc.datasets import load_dataset
from mmgc.harness.evaluate import EvalConfig, evaluate
from mmgc.harness.statistics import summary_of
from mmgc.methods import Context, create_method
from mmgc.methods.gradient_matching.distances import match_distances
from mmgc.methods.gradient_matching.gradients import real_gradients, synthetic_gradients
from mmgc.models.training import seed_all

GCN_STUDY = dict(epochs=20, outer_loop=6, structure_epochs=1, cycle_epochs=4, lr_feat=0.05, lr_model=1e-3,
                 backbone="gcn", pge_init_weight=0.05, select_every=5, select_epochs=150, select_eval_every=10,
                 diagnostics_every=5)
"""GCond's configuration in tune_configs/sr_gm_study_gcn.yaml (all but ``lr_adj``)."""


def uniform_graph(n: int, weight: float) -> torch.Tensor:
    return weight * (torch.ones(n, n) - torch.eye(n))


def condense_at_generator_rates(graph, name: str, ratio: float, rates: list[float], seeds: list[int]) -> None:
    print(f"\n{name}@{100 * ratio:g}%: GCond, GCN study configuration, by the generator's learning rate\n")
    print("| lr_adj | seed | mean edge weight at the diagnosed epochs | density | GCN test % |")
    print("|---|---|---|---|---|")
    for lr_adj in rates:
        for seed in seeds:
            method = create_method("gcond", dict(GCN_STUDY, lr_adj=lr_adj))
            condensed = method.condense(graph, ratio, Context(seed=seed))
            rows = evaluate(condensed, graph, ["gcn"], [0, 1], EvalConfig(epochs=600))
            means = [f"{h['adj_mean']:.3f}" for h in condensed.info["history"] if "adj_mean" in h]
            test = summary_of(r["test_metric"] for r in rows)
            print(f"| {lr_adj:g} | {seed} | {', '.join(means)} | {rows[0]['adj_density']:.2f} | "
                  f"{100 * test.mean:.1f} ± {100 * test.std:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic-conflict:0.03,lastfm-2k:0.05",
                        help="comma-separated NAME:RATIO (ratio: synthetic nodes per visible node)")
    parser.add_argument("--backbones", default="gcn,sgc")
    parser.add_argument("--weights", default="0,0.01,0.05,0.1,0.2,0.4,0.7,1.0")
    parser.add_argument("--start", type=float, default=0.05, help="uniform edge weight of the gradient reading")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--lr-model", type=float, default=1e-3)
    parser.add_argument("--lr-adj", default="", help="comma-separated generator learning rates to condense at "
                        "(default: none, the gradient reading only)")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| graph | backbone | " + " | ".join(f"loss at w={w:g}" for w in weights)
          + f" | share of edges raised at w={args.start:g} | cos(grad, 1) |")
    print("|---" * (4 + len(weights)) + "|")
    cells = [(name, float(ratio)) for name, ratio in (spec.split(":") for spec in args.datasets.split(","))]
    graphs = {name: load_dataset(name) for name, _ in cells}
    for name, ratio in cells:
        graph = graphs[name]
        for backbone in args.backbones.split(","):
            method = create_method("gcond", dict(backbone=backbone, lr_model=args.lr_model))
            losses: dict[float, list[float]] = {w: [] for w in weights}
            raised, cosines = [], []
            for seed in seeds:
                run = method._start(graph, ratio, Context(seed=seed))
                seed_all(seed)
                model = method.build_model(run.setup)
                params = list(model.parameters())
                path = method._path(model)
                real = real_gradients(method.real_class_gradient, model, run.setup.sampler.sample(), run.setup.x_real,
                                      run.setup.y_real, path)

                def loss_at(adj: torch.Tensor) -> torch.Tensor:
                    logits = method.synthetic_forward(model, run.x.detach(), Adjacency.from_dense(adj))
                    syn = synthetic_gradients(logits, run.labels, run.row_weights, params, path)
                    return (run.coeff * match_distances(syn, real, method.config.distance,
                                                        method.config.bias_distance)).sum()

                n = run.x.shape[0]
                for w in weights:
                    losses[w].append(loss_at(uniform_graph(n, w)).item())
                adj = uniform_graph(n, args.start).requires_grad_(True)
                (grad,) = torch.autograd.grad(loss_at(adj), adj)
                off = ~torch.eye(n, dtype=torch.bool)
                g = grad[off]
                raised.append(float((g < 0).float().mean()))
                cosines.append(float(F.cosine_similarity(g, torch.ones_like(g), dim=0)))
            cells = [f"{statistics.fmean(losses[w]):.1f}" for w in weights]
            print(f"| {name}@{100 * ratio:g}% | {backbone} | " + " | ".join(cells)
                  + f" | {statistics.fmean(raised):.2f} | {statistics.fmean(cosines):+.2f} |", flush=True)
    if args.lr_adj:
        for name, ratio in cells:
            condense_at_generator_rates(graphs[name], name, ratio, [float(r) for r in args.lr_adj.split(",")], seeds)


if __name__ == "__main__":
    main()
