"""The evaluation protocol's rules, written once (docs/design.md, "The evaluation protocol"; GCond's tester).

The harness's evaluation (`mmgc.harness.evaluate.EvalConfig`), the gradient-matching engine's
validation selection of its checkpoints and the coresets' embedding GCN all train a backbone the
same way and read a condensed graph the same way. The rules live here, below ``methods``, because
methods may not import the harness:

- **the training recipe** (`TrainingRecipe`): a 2-layer backbone with 256 hidden units, Adam with
  the training loop's schedule (`mmgc.models.training.TrainConfig`: 600 epochs, lr 0.01 then 0.001
  from epoch 300, weight decay 5e-4), the weights of the best validation epoch kept; on a real graph
  (`GraphTrainer`: the "Original" column, the coresets' embedding) full-batch up to
  ``full_batch_max_nodes`` nodes and on neighbour-sampled mini-batches above; very sparse features go
  to backbones that accept them as a sparse matrix (`wants_sparse_features`);
- **the dropout rule** (`protocol_dropout`): 0.5 on transductive datasets, 0 on inductive ones,
  unless set;
- **the weak-edge threshold** (`edge_threshold`, `threshold_edges`): synthetic edges below the
  threshold are dropped before a condensed graph is trained on; by the size of the *original*
  graph, 0.05 under ``SMALL_GRAPH_NODES`` nodes (GCond on Cora/Citeseer) and 0.01 above (Flickr,
  Arxiv, Reddit), unless set.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Optional

import torch
from torch import Tensor

from mmgc.graph import MultimodalGraph
from mmgc.models.training import (
    EpochCallback, ExtraLoss, MiniBatchConfig, NeighborSampler, TrainConfig, TrainResult, check_training_settings,
    feature_density, graph_adjacency, sparse_features_of, train_node_classifier, train_node_classifier_sampled,
)

PROTOCOL_ARCH = "gcn"
"""The backbone the protocol trains to score a checkpoint or embed nodes (GCond's)."""

SMALL_GRAPH_NODES = 10_000
"""Original graphs with fewer nodes get the larger default edge threshold."""

_SCHEDULE = TrainConfig()


@dataclass(frozen=True)
class TrainingRecipe:
    """How the protocol trains a backbone on a graph (defaults: GCond's tester).

    Attributes:
        hidden, layers: backbone width and depth.
        dropout: None = the protocol's rule (`protocol_dropout`).
        epochs, lr, lr_drop_epoch, lr_after_drop, weight_decay, eval_every: the optimisation
            (`TrainConfig`; its defaults are the protocol's).
        full_batch_max_nodes: train full-batch up to this many nodes, on neighbour-sampled
            mini-batches above.
        batch_size, fanouts: the mini-batch path (seeds per step, neighbours per hop).
        sparse_feature_density: features with at most this fraction of non-zeros (bag-of-words such
            as Cora's, 1.3%) go to backbones that accept them (``sparse_input``: GCN, SGC, SAGE, MLP)
            as a sparse CSR matrix: several times faster, equal up to float rounding; 0 disables.
    """

    hidden: int = 256
    layers: int = 2
    dropout: Optional[float] = None
    epochs: int = _SCHEDULE.epochs
    lr: float = _SCHEDULE.lr
    lr_drop_epoch: Optional[int] = _SCHEDULE.lr_drop_epoch
    lr_after_drop: float = _SCHEDULE.lr_after_drop
    weight_decay: float = _SCHEDULE.weight_decay
    eval_every: int = _SCHEDULE.eval_every
    full_batch_max_nodes: int = 200_000
    batch_size: int = 1024
    fanouts: tuple[int, ...] = (15, 10)
    sparse_feature_density: float = 0.1

    settings_name: ClassVar[str] = "training"
    positive_settings: ClassVar[tuple[str, ...]] = ("hidden", "layers", "epochs", "eval_every",
                                                    "full_batch_max_nodes", "batch_size")

    def __post_init__(self) -> None:
        check_training_settings(self, self.settings_name, self.positive_settings)

    def train_config(self, eval_every: int | None = None) -> TrainConfig:
        """The optimisation of one run (``eval_every`` overrides the validation interval)."""
        names = {f.name for f in fields(TrainConfig)}
        values = {name: getattr(self, name) for name in names}
        return TrainConfig(**dict(values, eval_every=eval_every or self.eval_every))

    def dropout_for(self, graph: MultimodalGraph) -> float:
        return protocol_dropout(graph, self.dropout)


def protocol_dropout(graph: MultimodalGraph, dropout: float | None = None) -> float:
    """``dropout`` when set, else 0.5 on a transductive dataset and 0 on an inductive one."""
    if dropout is not None:
        return dropout
    return 0.5 if graph.setting == "transductive" else 0.0


def edge_threshold(graph: MultimodalGraph, threshold: float | None = None,
                   small_graph_nodes: int = SMALL_GRAPH_NODES) -> float:
    """``threshold`` when set, else 0.05 when the original ``graph`` has fewer than
    ``small_graph_nodes`` nodes and 0.01 otherwise."""
    if threshold is not None:
        return float(threshold)
    return 0.05 if graph.num_nodes < small_graph_nodes else 0.01


def threshold_edges(adj: Tensor, threshold: float) -> Tensor:
    """``adj`` with the entries below ``threshold`` set to zero (a copy)."""
    return torch.where(adj < threshold, torch.zeros_like(adj), adj)


def wants_sparse_features(x: Tensor, density: float) -> bool:
    """Whether features ``x`` are sparse enough (at most ``density`` non-zero, 0 disables) to be
    handed as a sparse matrix to a backbone that accepts them."""
    return density > 0 and feature_density(x) <= density


class GraphTrainer:
    """Trains backbones on one real graph by a `TrainingRecipe`: full-batch (sparse matmuls) up to
    ``recipe.full_batch_max_nodes`` nodes, on neighbour-sampled mini-batches of the train nodes above
    (`train_node_classifier_sampled`; ``epochs`` then counts steps, validated every
    ``sampled_eval_every`` steps, default ``recipe.eval_every``). Labels are the train nodes'. The
    operands are built once and serve every model trained on the graph (seeds, architectures)."""

    def __init__(self, graph: MultimodalGraph, recipe: TrainingRecipe, device: torch.device | str = "cpu",
                 sampled_eval_every: int | None = None):
        self.graph, self.recipe, self.device = graph, recipe, device
        self.train_index = graph.train_mask.nonzero()[:, 0]
        self.full_batch = graph.num_nodes <= recipe.full_batch_max_nodes
        self._sparse_x: Tensor | None = None
        if self.full_batch:
            self.x = graph.x.to(device)
            self.adj = graph_adjacency(graph).to(device)
            self.y = graph.y[self.train_index].to(device)
            self.index = self.train_index.to(device)
        else:
            self.sampler = NeighborSampler(graph.edge_index, graph.num_nodes, graph.edge_weight)
            self.minibatch = MiniBatchConfig(recipe.batch_size, recipe.fanouts)
            self.sampled_eval_every = sampled_eval_every

    def features(self, sparse: bool = False) -> Tensor:
        """The full-batch features on the device; a sparse CSR copy (built once) when ``sparse``."""
        if not sparse:
            return self.x
        if self._sparse_x is None:
            self._sparse_x = sparse_features_of(self.x)
        return self._sparse_x

    def fit(self, model: torch.nn.Module, validate, seed: int, sparse: bool = False,
            extra_loss: ExtraLoss | None = None, callback: EpochCallback | None = None) -> TrainResult:
        """Train ``model`` (in place; the best-validation weights loaded) and return its `TrainResult`.
        ``sparse``: the model takes sparse features (full-batch training without an extra loss only:
        regularizers read column slices of ``x``); ``seed`` seeds the mini-batches."""
        if self.full_batch:
            return train_node_classifier(model, self.features(sparse and extra_loss is None), self.adj, self.y,
                                         validate, self.recipe.train_config(), train_index=self.index,
                                         extra_loss=extra_loss, callback=callback)
        return train_node_classifier_sampled(
            model, self.graph.x, self.sampler, self.graph.y, self.train_index, validate,
            self.recipe.train_config(eval_every=self.sampled_eval_every), self.minibatch, seed=seed,
            extra_loss=extra_loss, callback=callback)
