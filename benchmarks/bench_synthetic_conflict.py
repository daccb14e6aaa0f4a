"""Does a synthetic graph carry per-node modality-gradient conflict that SR-GM's decoupling can see?

For each dataset this prints

- the whole-graph GCN test accuracy (the evaluation protocol's "Original" column, ``--seeds`` runs)
  on the text modality alone, the image modality alone, and both fused: the headroom a condensation
  method has, and whether fusing helps or hurts;
- the per-node conflict fraction (rows of ``G = dL/dX`` whose text and image blocks have a negative
  inner product, `mmgc.methods.modality_gradients.node_conflicts`) on the train graph after
  ``--steps`` Adam steps of a fresh SGC (what the backbone looks like a few outer steps into a
  condensation epoch), split into the nodes whose image modality carries another class (the
  generator's ground truth) and the others, and averaged over ``--seeds`` backbone seeds.

On ``synthetic-conflict`` (image carries classes 0<->1, 2<->3) the conflicts concentrate on the
moved classes; on ``synthetic`` (20% of nodes with a random other class: the negative control) and
its unaligned variant they do not.

    python benchmarks/bench_synthetic_conflict.py
    python benchmarks/bench_synthetic_conflict.py --datasets synthetic-conflict:conflict_snr=0.5 --seeds 0,1,2
"""

from __future__ import annotations

import argparse

import torch

from mmgc.datasets.synthetic import generate
from mmgc.harness.evaluate import evaluate_original
from mmgc.harness.trial import select_modalities
from mmgc.methods.modality_gradients import node_conflicts
from mmgc.models import build_backbone
from mmgc.models.training import graph_adjacency


def _parse_dataset(spec: str) -> tuple[str, dict]:
    name, *opts = spec.split(":")
    return name, dict(kv.split("=", 1) for kv in opts)


def load_with_truth(name: str, options: dict):
    """The graph and the generator's ground truth (which nodes' image carries another class)."""
    from mmgc.datasets import get_dataset_spec
    from mmgc.plugins import build_config

    spec = get_dataset_spec(name)
    opts = build_config(spec.options, options, where=f"dataset {name} option")
    return generate(opts, name, return_truth=True)


def trained_conflicts(graph, steps: int, seed: int, backbone: str = "sgc", lr: float = 0.01) -> torch.Tensor:
    """Per train node of the visible graph: conflict after ``steps`` Adam steps of a fresh backbone."""
    visible = graph.visible_graph()
    torch.manual_seed(seed)
    model = build_backbone(backbone, visible.x.shape[1], 256, graph.num_classes, layers=2, dropout=0.0,
                           modalities=visible.modalities)
    adj = graph_adjacency(visible)
    train = visible.train_mask.nonzero()[:, 0]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(visible.x, adj)[train], visible.y[train]).backward()
        opt.step()
    return node_conflicts(model, visible.x, adj, visible.y, train, visible.modalities)[train]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic-conflict,synthetic,synthetic:alignment=unaligned")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=20, help="backbone steps before the conflict is measured")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print("dataset | GCN text | GCN image | GCN fused | conflict on moved-image nodes | on the others")
    for spec in args.datasets.split(","):
        name, options = _parse_dataset(spec)
        graph, truth = load_with_truth(name, options)
        accs = []
        for modalities in (["text"], ["image"], ["text", "image"]):
            g = select_modalities(graph, modalities) if len(modalities) == 1 else graph
            rows = evaluate_original(g, "gcn", seeds)
            accs.append(100 * sum(r["test_metric"] for r in rows) / len(rows))
        visible = graph.visible_graph()
        moved = _visible_truth(graph, visible, truth["conflict_mask"])
        fractions = [trained_conflicts(graph, args.steps, s) for s in seeds]
        train_moved = moved[visible.train_mask]
        on_moved = sum(float(f[train_moved].float().mean()) for f in fractions) / len(seeds)
        on_other = sum(float(f[~train_moved].float().mean()) for f in fractions) / len(seeds)
        print(f"{spec} | {accs[0]:.1f} | {accs[1]:.1f} | {accs[2]:.1f} | {on_moved:.2f} | {on_other:.2f}", flush=True)


def _visible_truth(graph, visible, mask: torch.Tensor) -> torch.Tensor:
    """The ground-truth mask restricted to the visible graph's nodes, in its order."""
    if visible.num_nodes == graph.num_nodes:
        return mask
    return mask[graph.train_mask.nonzero()[:, 0]]


if __name__ == "__main__":
    main()
