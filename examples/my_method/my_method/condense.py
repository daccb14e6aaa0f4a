"""Two small condensation methods, one per way of building a condensed graph.

- ``high_degree`` keeps real nodes: per class, the visible train nodes with the most neighbours
  (`CondensationMethod.from_selection` returns the subgraph they induce).
- ``class_means`` learns its nodes: each synthetic node of class c is the mean of a random group of
  c's train nodes, and two synthetic nodes are joined by the cosine similarity of their features
  where it exceeds ``min_similarity`` (`CondensationMethod.from_learned`).

Both take their budget from `plan_budget`: ``n = ratio * N`` nodes, N the nodes the method may see,
split over the classes as the train labels are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods import CondensationMethod, Context, SearchDim
from mmgc.methods.budget import plan_budget


@dataclass(frozen=True)
class HighDegreeConfig:
    """``high_degree`` has no hyper-parameters: ties in degree go to the smaller node id."""


class HighDegree(CondensationMethod):
    """Per class, the train nodes with the most neighbours, with the real edges between them."""

    Config = HighDegreeConfig

    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        visible, counts = plan_budget(graph, ratio)
        degree = torch.bincount(visible.edge_index[0], minlength=visible.num_nodes)
        chosen = []
        for c, k in enumerate(counts.tolist()):
            pool = (visible.train_mask & (visible.y == c)).nonzero()[:, 0]
            if pool.numel() < k:
                raise InputError(f"high_degree: class {c} has {pool.numel()} train nodes, the budget asks for {k}")
            order = torch.argsort(degree[pool], descending=True, stable=True)
            chosen.append(pool[order[:k]])
        return self.from_selection(graph, ratio, ctx, torch.cat(chosen), visible=visible)


@dataclass(frozen=True)
class ClassMeansConfig:
    """Attributes:
        min_similarity: synthetic nodes whose features have a cosine similarity above this are joined
            by an edge of that weight.
    """

    min_similarity: float = 0.5


class ClassMeans(CondensationMethod):
    """Each synthetic node the mean of a random group of train nodes of its class; cosine edges."""

    Config = ClassMeansConfig
    search_space = {"min_similarity": SearchDim("uniform", 0.0, 0.95)}

    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        visible, counts = plan_budget(graph, ratio)
        generator = torch.Generator().manual_seed(ctx.seed)
        rows, labels = [], []
        for c, k in enumerate(counts.tolist()):
            pool = (visible.train_mask & (visible.y == c)).nonzero()[:, 0]
            if pool.numel() == 0:
                raise InputError(f"class_means: class {c} has no train node to average")
            groups = torch.randperm(pool.numel(), generator=generator) % k  # k groups, sizes within one
            for g in range(k):
                members = pool[groups == g] if pool.numel() >= k else pool[g % pool.numel()].view(1)
                rows.append(visible.x[members].mean(0))
                labels.append(c)
        x = torch.stack(rows)
        unit = F.normalize(x, dim=1)
        similarity = unit @ unit.T
        adj = torch.where(similarity > self.config.min_similarity, similarity, torch.zeros(()))
        adj = (adj + adj.T) / 2
        adj.fill_diagonal_(0)
        return self.from_learned(graph, ratio, ctx, x, adj, torch.tensor(labels))
