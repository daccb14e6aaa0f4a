"""Coreset baselines as GCond defines them: Random, Herding and K-Center.

Each keeps ``n = ratio * N`` real nodes (N: the nodes the method may see, see `plan_budget`), chosen
per class among the visible *train* nodes with the per-class counts of `plan_budget`, and returns the
subgraph they induce: their real features and labels and the real edges between them (weight 1, or
the original edge weight on a weighted graph), as a dense ``[n, n]`` adjacency in class-block order.

- ``random``: a uniform choice per class (no model is trained).
- ``herding`` (Welling 2009): greedily add the node whose embedding brings the running mean of the
  chosen nodes closest to the class mean: step ``i`` picks ``argmin_x ||(i+1) mu - S_i - x||`` over
  the unchosen nodes, ``S_i`` being the sum of the chosen embeddings (GCond's rule).
- ``kcenter`` (Sener & Savarese 2018): start from the node nearest the class mean, then repeatedly
  add the node farthest from its nearest chosen centre (greedy farthest-point).

Herding and K-Center embed the nodes with a GCN trained on the visible graph (GCond: 256 hidden,
2 layers, dropout 0.5, weight decay 5e-4, 600 epochs, lr 0.01 then 0.001 from epoch 300), keeping the
epoch with the best validation metric (transductive: the whole graph's val nodes; inductive: the
val-induced subgraph). The embedding is the model's **log-softmax output** (C dimensions), as
GCond's ``model.predict()`` returns; ``embedding=logits`` uses the raw scores instead.

Scale: selection is vectorised over the candidates of a class (one pass per chosen node, no N x N
matrix). The embedding GCN trains full-batch with sparse matmuls while the visible graph has at most
``full_batch_max_nodes`` nodes, and with neighbour-sampled mini-batches (``batch_size``,
``fanouts``; ``epochs`` then counts steps) above that; embedding is full-batch inference either way.
The embedding of one graph object, config and seed is memoised, so Herding and K-Center at several
ratios train the GCN once (``info['embedding_cached']`` says when a run reused it). Deterministic on
CPU under ``ctx.seed``. ``ctx.time_budget_s`` is not used (the cost is one GCN training).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, begin_stage, config_dict, register_method
from mmgc.methods.budget import plan_budget
from mmgc.models.training import check_training_settings

# graph object -> {(config, seed, device): (embedding, history, best_val)}
_EMBEDDING_CACHE: "weakref.WeakKeyDictionary[MultimodalGraph, dict]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class RandomConfig:
    """Random has no hyper-parameters: a uniform choice per class under ``ctx.seed``."""


@dataclass(frozen=True)
class EmbeddingConfig:
    """How Herding and K-Center embed the nodes before selecting.

    Attributes:
        embed_arch: backbone trained to embed the nodes (GCond: gcn).
        hidden, layers, dropout: its width, depth and dropout (GCond: 256, 2, 0.5).
        epochs, lr, lr_drop_epoch, lr_after_drop, weight_decay, eval_every: its training (TrainConfig).
        embedding: ``log_softmax`` (GCond) or ``logits`` of the trained model.
        full_batch_max_nodes: above this many visible nodes, train with neighbour-sampled mini-batches.
        batch_size, fanouts: the mini-batch path's seeds per step and neighbours per hop.
        sparse_feature_density: full-batch training passes features with at most this fraction of
            non-zeros (bag-of-words) as a sparse CSR matrix to a backbone that accepts it
            (``sparse_input``); faster, equal up to float rounding; 0 disables.
    """

    embed_arch: str = "gcn"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.5
    epochs: int = 600
    lr: float = 0.01
    lr_drop_epoch: Optional[int] = 300
    lr_after_drop: float = 0.001
    weight_decay: float = 5e-4
    eval_every: int = 1
    embedding: Literal["log_softmax", "logits"] = "log_softmax"
    full_batch_max_nodes: int = 200_000
    batch_size: int = 1024
    fanouts: tuple[int, ...] = (15, 10)
    sparse_feature_density: float = 0.1

    def __post_init__(self) -> None:
        check_training_settings(self, "coreset config", ("hidden", "layers", "epochs", "eval_every",
                                                         "full_batch_max_nodes", "batch_size"))


# ---------------------------------------------------------------------------------------- selection rules
def herding_select(features: Tensor, k: int) -> Tensor:
    """Indices (into ``features [m, c]``) of ``k`` distinct rows chosen by herding, in choice order."""
    m = features.shape[0]
    if not 0 < k <= m:
        raise InputError(f"herding: cannot choose {k} of {m} candidates")
    mean = features.mean(0)
    running = torch.zeros_like(mean)
    available = torch.ones(m, dtype=torch.bool, device=features.device)
    chosen = torch.empty(k, dtype=torch.long, device=features.device)
    for i in range(k):
        dist = ((mean * (i + 1) - running - features) ** 2).sum(1).masked_fill(~available, float("inf"))
        j = torch.argmin(dist)
        chosen[i] = j
        available[j] = False
        running = running + features[j]
    return chosen


def kcenter_select(features: Tensor, k: int) -> Tensor:
    """Indices of ``k`` distinct rows chosen by greedy k-center from the row nearest the mean."""
    m = features.shape[0]
    if not 0 < k <= m:
        raise InputError(f"kcenter: cannot choose {k} of {m} candidates")
    first = torch.argmin(((features - features.mean(0, keepdim=True)) ** 2).sum(1))
    chosen = torch.empty(k, dtype=torch.long, device=features.device)
    chosen[0] = first
    nearest = ((features - features[first]) ** 2).sum(1)
    taken = torch.zeros(m, dtype=torch.bool, device=features.device)
    taken[first] = True
    for i in range(1, k):
        j = torch.argmax(nearest.masked_fill(taken, -float("inf")))
        chosen[i] = j
        taken[j] = True
        nearest = torch.minimum(nearest, ((features - features[j]) ** 2).sum(1))
    return chosen


def class_pools(visible: MultimodalGraph, counts: Tensor) -> list[Tensor]:
    """Per class, the visible train nodes of that class (ascending ids); checks they cover ``counts``."""
    train = visible.train_mask.nonzero()[:, 0]
    labels = visible.y[train]
    pools = []
    for c, k in enumerate(counts.tolist()):
        pool = train[labels == c]
        if pool.numel() < k:
            total = int(visible.train_mask.sum())
            raise InputError(
                f"coreset: class {c} has {pool.numel()} labelled train nodes but the budget asks for {k}; "
                f"a coreset can keep at most the {total} train nodes (ratio <= {total / visible.num_nodes:.6g})"
            )
        pools.append(pool)
    return pools


def induced_subgraph(visible: MultimodalGraph, selected: Tensor) -> Tensor:
    """The dense ``[n, n]`` adjacency induced by ``selected`` (visible ids), original weights or 1."""
    n = selected.numel()
    remap = torch.full((visible.num_nodes,), -1, dtype=torch.long)
    remap[selected] = torch.arange(n)
    row, col = visible.edge_index
    keep = (remap[row] >= 0) & (remap[col] >= 0)
    adj = torch.zeros(n, n)
    weight = visible.edge_weight[keep].float() if visible.edge_weight is not None else 1.0
    adj[remap[row[keep]], remap[col[keep]]] = weight
    return adj


def peak_memory_mb(device: torch.device | str) -> float:
    """The process's peak resident memory (MiB; a high-water mark over the whole process), plus the
    peak CUDA allocation on a CUDA device."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    if torch.device(device).type == "cuda":
        peak_mb += torch.cuda.max_memory_allocated(device) / 2**20
    return float(peak_mb)


# ---------------------------------------------------------------------------------------- embedding
def node_embeddings(graph: MultimodalGraph, config: EmbeddingConfig, seed: int, device: torch.device | str = "cpu",
                    reporter: Any = None, visible: MultimodalGraph | None = None) -> tuple[Tensor, list[dict], float, bool]:
    """``(embedding [N_visible, C] on the CPU, training history, best val metric, cached)`` of the
    visible graph's nodes by a backbone trained on it with best-validation selection."""
    from mmgc.models.base import build_backbone, get_backbone
    from mmgc.models.training import (
        MiniBatchConfig, NeighborSampler, SplitScorer, TrainConfig, accepts_sparse_features, feature_density,
        graph_adjacency, predict, seed_all, sparse_features_of, train_node_classifier, train_node_classifier_sampled,
    )

    key = (config, int(seed), str(device))
    memo = _EMBEDDING_CACHE.setdefault(graph, {})
    if key in memo:
        embedding, history, best_val = memo[key]
        return embedding, history, best_val, True

    if visible is None:  # callers that already hold it pass it: no second copy of the visible features
        visible = graph.visible_graph()
    seed_all(seed)
    model = build_backbone(config.embed_arch, visible.feature_dim, config.hidden, graph.num_classes,
                           config.layers, config.dropout, graph.modalities).to(device)
    full_batch = visible.num_nodes <= config.full_batch_max_nodes
    sparse = (full_batch and config.sparse_feature_density > 0 and accepts_sparse_features(get_backbone(config.embed_arch))
              and feature_density(visible.x) <= config.sparse_feature_density)
    validate = SplitScorer(graph, "val", device, sparse_features=sparse)
    train_config = TrainConfig(epochs=config.epochs, lr=config.lr, lr_drop_epoch=config.lr_drop_epoch,
                               lr_after_drop=config.lr_after_drop, weight_decay=config.weight_decay,
                               eval_every=config.eval_every)
    train_index = visible.train_mask.nonzero()[:, 0]

    def callback(epoch: int, metrics: dict) -> None:
        if reporter is not None and metrics["val"] is not None:
            reporter.report(epoch, {"embed_loss": metrics["loss"], "embed_val": metrics["val"]})

    adj = graph_adjacency(visible).to(device)
    begin_stage(reporter, "embed", config.epochs)
    if full_batch:
        x = sparse_features_of(visible.x.to(device)) if sparse else visible.x.to(device)
        result = train_node_classifier(model, x, adj, visible.y[train_index].to(device), validate, train_config,
                                       train_index=train_index.to(device), callback=callback)
    else:
        x = visible.x
        sampler = NeighborSampler(visible.edge_index, visible.num_nodes, visible.edge_weight)
        result = train_node_classifier_sampled(
            model, x, sampler, visible.y, train_index, validate, train_config,
            MiniBatchConfig(config.batch_size, config.fanouts), seed=seed, callback=callback)
    out = predict(model, x if full_batch else x.to(device), adj)
    embedding = (F.log_softmax(out, 1) if config.embedding == "log_softmax" else out).cpu()
    memo[key] = (embedding, result.history, result.best_val)
    return embedding, result.history, result.best_val, False


# ---------------------------------------------------------------------------------------- methods
class CoresetMethod(CondensationMethod):
    """Shared body of the coresets: budget, per-class pools, selection, induced subgraph, info."""

    uses_embedding = True

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        start = time.perf_counter()
        visible, counts = plan_budget(graph, ratio)
        pools = class_pools(visible, counts)
        history: list[dict] = []
        info_extra: dict[str, Any] = {}
        embedding = None
        if self.uses_embedding:
            embedding, history, best_val, cached = node_embeddings(graph, self.config, ctx.seed, ctx.device, ctx.reporter,
                                                                    visible=visible)
            info_extra = {"embedding_val": best_val, "embedding_cached": cached}
        generator = torch.Generator().manual_seed(int(ctx.seed))
        chosen = []
        for pool, k in zip(pools, counts.tolist()):
            features = embedding[pool] if embedding is not None else None
            chosen.append(pool[self.select(features if features is not None else pool, k, generator)])
        selected = torch.cat(chosen)
        condensed = CondensedGraph(
            x=visible.x[selected].clone(),
            adj=induced_subgraph(visible, selected),
            y=visible.y[selected].clone(),
            modalities=dict(graph.modalities),
            info={
                "method": self.name,
                "config": config_dict(self.config),
                "dataset": graph.name,
                "setting": graph.setting,
                "ratio": float(ratio),
                "n": int(selected.numel()),
                "visible_nodes": visible.num_nodes,
                "seed": int(ctx.seed),
                "device": str(ctx.device),
                "condense_arch": self.config.embed_arch if self.uses_embedding else None,
                "wall_seconds": time.perf_counter() - start,
                "peak_memory_mb": peak_memory_mb(ctx.device),
                "history": history,
                "selected": selected.tolist(),
                **info_extra,
            },
        )
        return condensed


@register_method("random")
class RandomCoreset(CoresetMethod):
    """Random: a uniform choice of train nodes per class, with their induced subgraph."""

    Config = RandomConfig
    uses_embedding = False

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:
        return torch.randperm(features.shape[0], generator=generator)[:k]


@register_method("herding")
class HerdingCoreset(CoresetMethod):
    """Herding: per class, greedily match the class mean of a trained GCN's embeddings."""

    Config = EmbeddingConfig

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:
        return herding_select(features, k)


@register_method("kcenter")
class KCenterCoreset(CoresetMethod):
    """K-Center: per class, greedy farthest-point selection on a trained GCN's embeddings."""

    Config = EmbeddingConfig

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:
        return kcenter_select(features, k)
