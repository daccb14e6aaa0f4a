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

Herding and K-Center embed the nodes with a GCN trained on the visible graph by the protocol's
recipe (`mmgc.models.protocol.TrainingRecipe`; GCond: 256 hidden, 2 layers, dropout 0.5, weight
decay 5e-4, 600 epochs, lr 0.01 then 0.001 from epoch 300), keeping the epoch with the best
validation metric (transductive: the whole graph's val nodes; inductive: the val-induced subgraph).
The embedding is the model's **log-softmax output** (C dimensions), as
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

import weakref
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, begin_stage, register_method
from mmgc.methods.budget import plan_budget
from mmgc.models.base import build_backbone, get_backbone
from mmgc.models.protocol import PROTOCOL_ARCH, GraphTrainer, TrainingRecipe, wants_sparse_features
from mmgc.models.training import SplitScorer, accepts_sparse_features, graph_adjacency, predict, seed_all

# graph object -> {(config, seed, device): (embedding, history, best_val)}
_EMBEDDING_CACHE: "weakref.WeakKeyDictionary[MultimodalGraph, dict]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class RandomConfig:
    """Random has no hyper-parameters: a uniform choice per class under ``ctx.seed``."""


@dataclass(frozen=True)
class EmbeddingConfig(TrainingRecipe):
    """How Herding and K-Center embed the nodes before selecting: the protocol's `TrainingRecipe`
    (GCond: 256 hidden, 2 layers, 600 epochs, lr 0.01 then 0.001 from epoch 300, weight decay 5e-4)
    with GCond's coreset dropout, and the embedding's own settings.

    Attributes:
        dropout: the embedding model's dropout (GCond: 0.5 on every dataset).
        embed_arch: backbone trained to embed the nodes (GCond: gcn).
        embedding: ``log_softmax`` (GCond) or ``logits`` of the trained model.
        full_batch_max_nodes: above this many visible nodes, train with neighbour-sampled mini-batches
            (``batch_size``, ``fanouts``).
        sparse_feature_density: full-batch training passes features with at most this fraction of
            non-zeros (bag-of-words) as a sparse CSR matrix to a backbone that accepts it.
    """

    dropout: float = 0.5
    embed_arch: str = PROTOCOL_ARCH
    embedding: Literal["log_softmax", "logits"] = "log_softmax"

    settings_name: ClassVar[str] = "coreset config"


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


# ---------------------------------------------------------------------------------------- embedding
def node_embeddings(graph: MultimodalGraph, config: EmbeddingConfig, seed: int, device: torch.device | str = "cpu",
                    reporter: Any = None, visible: MultimodalGraph | None = None) -> tuple[Tensor, list[dict], float, bool]:
    """``(embedding [N_visible, C] on the CPU, training history, best val metric, cached)`` of the
    visible graph's nodes by a backbone trained on it with best-validation selection."""

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
    trainer = GraphTrainer(visible, config, device)
    sparse = (trainer.full_batch and accepts_sparse_features(get_backbone(config.embed_arch))
              and wants_sparse_features(visible.x, config.sparse_feature_density))
    validate = SplitScorer(graph, "val", device, sparse_features=sparse)

    def callback(epoch: int, metrics: dict) -> None:
        if reporter is not None and metrics["val"] is not None:
            reporter.report(epoch, {"embed_loss": metrics["loss"], "embed_val": metrics["val"]})

    begin_stage(reporter, "embed", config.epochs)
    result = trainer.fit(model, validate, seed, sparse=sparse, callback=callback)
    if trainer.full_batch:
        out = predict(model, trainer.features(sparse), trainer.adj)
    else:
        out = predict(model, visible.x.to(device), graph_adjacency(visible).to(device))
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
        return self.from_selection(graph, ratio, ctx, torch.cat(chosen), visible=visible,
                                   condense_arch=self.config.embed_arch if self.uses_embedding else None,
                                   history=history, **info_extra)


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
