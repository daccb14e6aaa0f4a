"""The one training loop: train a backbone on a graph and keep the weights of the best validation epoch.

Coresets use it to train their embedding GCN, gradient matching to pick its best synthetic graph,
and the harness's evaluation protocol to train on condensed graphs. The defaults are the protocol of
GCond's evaluation: 600 epochs, Adam lr 0.01 dropping to 0.001 at epoch 300, weight decay 5e-4.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.graph import MultimodalGraph
from mmgc.models.adjacency import Adjacency
from mmgc.models.metrics import score

ExtraLoss = Callable[[nn.Module, Tensor, Adjacency, Tensor], Tensor]
"""``extra(model, x, adj, logits) -> scalar`` added to the task loss (training-time regularizers)."""


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a deterministic run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def graph_adjacency(graph: MultimodalGraph) -> Adjacency:
    return Adjacency.from_edge_index(graph.edge_index, graph.num_nodes, graph.edge_weight)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run.

    Attributes:
        epochs: full-batch optimisation steps.
        lr: Adam learning rate until ``lr_drop_epoch``.
        lr_drop_epoch: epoch from which ``lr_after_drop`` is used (None: never).
        lr_after_drop: learning rate after the drop.
        weight_decay: Adam weight decay.
        eval_every: validate every this many epochs (and at the last epoch).
    """

    epochs: int = 600
    lr: float = 0.01
    lr_drop_epoch: int | None = 300
    lr_after_drop: float = 0.001
    weight_decay: float = 5e-4
    eval_every: int = 1


class SplitScorer:
    """The metric of a model on one split of a real graph.

    Inductive graphs are predicted on the subgraph induced by the split's nodes, transductive graphs
    on the whole graph (as GCond does). The operands are built once and reused on every call.
    """

    def __init__(self, graph: MultimodalGraph, split: str, device: torch.device | str = "cpu"):
        view = graph.split_graph(split)
        self.metric = graph.metric
        self.x = view.x.to(device)
        self.adj = graph_adjacency(view).to(device)
        index = view.mask(split).nonzero()[:, 0]
        self.index = index.to(device)
        self.y = view.y[index].to(device)

    @torch.no_grad()
    def logits(self, model: nn.Module) -> Tensor:
        was_training = model.training
        model.eval()
        out = model(self.x, self.adj)[self.index]
        model.train(was_training)
        return out

    def __call__(self, model: nn.Module) -> float:
        return score(self.logits(model), self.y, self.metric)


@dataclass
class TrainResult:
    best_val: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def train_node_classifier(
    model: nn.Module,
    x: Tensor,
    adj: Adjacency,
    y: Tensor,
    validate: Callable[[nn.Module], float],
    config: TrainConfig = TrainConfig(),
    train_index: Tensor | None = None,
    extra_loss: ExtraLoss | None = None,
) -> TrainResult:
    """Train ``model`` full-batch with cross-entropy on ``y`` (at ``train_index``, or every node) and
    load the weights of the epoch with the best ``validate(model)`` (earliest on ties)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best_val, best_epoch, best_state = -float("inf"), -1, None
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        if config.lr_drop_epoch is not None and epoch == config.lr_drop_epoch:
            for group in optimizer.param_groups:
                group["lr"] = config.lr_after_drop
        model.train()
        optimizer.zero_grad()
        logits = model(x, adj)
        if train_index is not None:
            logits = logits[train_index]
        loss = F.cross_entropy(logits, y)
        if extra_loss is not None:
            loss = loss + extra_loss(model, x, adj, logits)
        loss.backward()
        optimizer.step()
        if (epoch + 1) % config.eval_every == 0 or epoch == config.epochs - 1:
            val = validate(model)
            history.append({"epoch": epoch, "loss": float(loss), "val": val})
            if val > best_val:
                best_val, best_epoch, best_state = val, epoch, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(best_val=best_val, best_epoch=best_epoch, history=history)
