"""The one training loop: train a backbone on a graph and keep the weights of the best validation epoch.

Coresets use it to train their embedding GCN, gradient matching to pick its best synthetic graph,
and the harness's evaluation protocol to train on condensed graphs. The defaults are the protocol of
GCond's evaluation: 600 epochs, Adam lr 0.01 dropping to 0.001 at epoch 300, weight decay 5e-4.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import CSR, Adjacency
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph
from mmgc.models.metrics import score

ExtraLoss = Callable[[nn.Module, Tensor, Adjacency, Tensor], Tensor]
"""``extra(model, x, adj, logits) -> scalar`` added to the task loss (training-time regularizers)."""

EpochCallback = Callable[[int, dict], None]
"""``callback(epoch, {"loss": float, "val": float | None})`` after every training epoch (or step)."""


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a deterministic run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def graph_adjacency(graph: MultimodalGraph) -> Adjacency:
    return Adjacency.from_edge_index(graph.edge_index, graph.num_nodes, graph.edge_weight)


def feature_density(x: Tensor) -> float:
    """Fraction of non-zero entries of ``x``."""
    return float(torch.count_nonzero(x)) / max(1, x.numel())


def sparse_features_of(x: Tensor) -> Tensor:
    """``x`` as a sparse CSR matrix (bag-of-words features such as Cora's are ~1% non-zero, and the
    first layer's ``x @ W`` is then several times cheaper; results equal the dense ones up to float
    rounding). Only for backbones whose class sets ``sparse_input = True`` (their forward starts with a
    plain matmul of ``x``: GCN, SGC, GraphSAGE, MLP)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return x.to_sparse_csr()


def accepts_sparse_features(model: nn.Module | type) -> bool:
    """Whether a backbone's forward takes a sparse CSR ``x`` in training and evaluation."""
    cls = model if isinstance(model, type) else type(model)
    return bool(getattr(cls, "sparse_input", False))


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

    def __init__(self, graph: MultimodalGraph, split: str, device: torch.device | str = "cpu",
                 sparse_features: bool = False):
        view = graph.split_graph(split)
        self.metric = graph.metric
        self.x = view.x.to(device)
        if sparse_features:  # for backbones with ``sparse_input`` on very sparse features (see sparse_features)
            self.x = sparse_features_of(self.x)
        self.adj = graph_adjacency(view).to(device)
        index = view.mask(split).nonzero()[:, 0]
        self.index = index.to(device)
        self.y = view.y[index].to(device)

    def logits(self, model: nn.Module) -> Tensor:
        return predict(model, self.x, self.adj)[self.index]

    def __call__(self, model: nn.Module) -> float:
        return score(self.logits(model), self.y, self.metric)


def check_training_settings(config: Any, where: str, positive: Sequence[str]) -> None:
    """Raise a one-line `InputError` for a bad training setting of ``config`` (an evaluation or a
    coreset config): the ``positive`` integers, ``dropout`` (None allowed), the learning rates and
    weight decay, ``fanouts`` and ``sparse_feature_density``. ``where`` names the config."""
    for name in positive:
        if getattr(config, name) < 1:
            raise InputError(f"{where} {name}: expected a positive integer, found {getattr(config, name)}")
    if config.dropout is not None and not 0 <= config.dropout < 1:
        raise InputError(f"{where} dropout: expected a probability in [0, 1), found {config.dropout}")
    if config.lr <= 0 or config.lr_after_drop <= 0 or config.weight_decay < 0:
        raise InputError(f"{where}: expected lr > 0, lr_after_drop > 0 and weight_decay >= 0")
    if not config.fanouts or any(f < 1 for f in config.fanouts):
        raise InputError(f"{where} fanouts: expected positive integers, found {config.fanouts}")
    if not 0 <= config.sparse_feature_density <= 1:
        raise InputError(f"{where} sparse_feature_density: expected a fraction in [0, 1], "
                         f"found {config.sparse_feature_density}")


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
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Train ``model`` full-batch with cross-entropy on ``y`` (at ``train_index``, or every node) and
    load the weights of the epoch with the best ``validate(model)`` (earliest on ties).

    ``callback(epoch, {"loss": ..., "val": ... or None})`` is called after every epoch (progress bars,
    reporters); ``val`` is None on epochs that were not validated."""

    def loss_at(epoch: int) -> Tensor:
        logits = model(x, adj)
        if train_index is not None:
            logits = logits[train_index]
        loss = F.cross_entropy(logits, y)
        if extra_loss is not None:
            loss = loss + extra_loss(model, x, adj, logits)
        return loss

    return _fit(model, loss_at, validate, config, callback)


def _fit(model: nn.Module, loss_at: Callable[[int], Tensor], validate: Callable[[nn.Module], float],
         config: TrainConfig, callback: EpochCallback | None) -> TrainResult:
    """The loop both trainers share: Adam with the step-wise learning-rate drop, ``loss_at(step)`` in
    train mode, validation every ``config.eval_every`` steps (and at the last), the best-validation
    weights kept (earliest on ties) and loaded at the end."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best_val, best_epoch, best_state = -float("inf"), -1, None
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        if config.lr_drop_epoch is not None and epoch == config.lr_drop_epoch:
            for group in optimizer.param_groups:
                group["lr"] = config.lr_after_drop
        model.train()
        optimizer.zero_grad()
        loss = loss_at(epoch)
        loss.backward()
        optimizer.step()
        val = None
        if (epoch + 1) % config.eval_every == 0 or epoch == config.epochs - 1:
            val = validate(model)
            history.append({"epoch": epoch, "loss": float(loss.detach()), "val": val})
            if val > best_val:
                best_val, best_epoch, best_state = val, epoch, copy.deepcopy(model.state_dict())
        if callback is not None:
            callback(epoch, {"loss": float(loss.detach()), "val": val})
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(best_val=best_val, best_epoch=best_epoch, history=history)


# ---------------------------------------------------------------------------------------- mini-batches
@dataclass(frozen=True)
class MiniBatchConfig:
    """Neighbour-sampled mini-batch training, for graphs too large to train on full-batch.

    Attributes:
        batch_size: seed (train) nodes per step; `TrainConfig.epochs` then counts steps, with the
            learning-rate drop and validation schedule in steps too.
        fanouts: neighbours sampled per node at each hop, outermost hop first; one entry per
            message-passing layer (the last entry is repeated if the model has more layers).
    """

    batch_size: int = 1024
    fanouts: tuple[int, ...] = (15, 10)


class NeighborSampler:
    """Uniform neighbour sampling over a CSR copy of the graph, vectorised in torch.

    PyG's ``NeighborLoader`` needs ``pyg-lib`` or ``torch-sparse``, which we do not install, so this is
    a small replacement: for a batch of seed nodes it draws, hop by hop, up to ``fanout`` neighbours of
    every frontier node (all of them when the degree is at most ``fanout``; otherwise ``fanout`` draws
    with replacement, duplicates merged, so a node may get slightly fewer), and returns the sampled
    subgraph with the seeds first. The sampled edges are symmetrised, so the subgraph is an ordinary
    undirected `Adjacency` and every backbone runs on it unchanged (degree normalisation is that of
    the sampled subgraph, as with PyG's loader). No Python loop over nodes; O(N) memory for the
    relabelling buffer, reused across batches.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None):
        row, col = edge_index.cpu()
        self.num_nodes = num_nodes
        self.csr = CSR.from_edges(row, col, num_nodes)
        self.col = self.csr.col
        self.weight = None if edge_weight is None else edge_weight.cpu().float()[self.csr.order]
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)

    def _hop(self, frontier: Tensor, fanout: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Positions (into ``self.col``) of the sampled edges and their target nodes."""
        start, deg = self.csr.degree(frontier)
        take_all = deg <= fanout
        # every neighbour of the low-degree nodes
        t_all = frontier[take_all]
        segment, pos_all = self.csr.edges_of(t_all)
        tgt_all = t_all[segment]
        # fanout draws (with replacement, then de-duplicated) for the others
        d_big, s_big = deg[~take_all], start[~take_all]
        draws = (torch.rand(d_big.numel(), fanout, generator=generator) * d_big[:, None]).long()
        pos_big = (s_big[:, None] + draws).reshape(-1)
        pos_big = torch.unique(pos_big)
        # the target of an edge position is the row whose range contains it
        tgt_big = torch.searchsorted(self.csr.rowptr, pos_big, right=True) - 1
        return torch.cat([pos_all, pos_big]), torch.cat([tgt_all, tgt_big])

    def sample(self, seeds: Tensor, fanouts: tuple[int, ...], generator: torch.Generator) -> tuple[Tensor, Adjacency]:
        """``(nodes, adjacency)``: global ids of the sampled nodes (``seeds`` first, in order) and the
        symmetrised sampled subgraph over them in local ids."""
        seeds = seeds.cpu()
        local = self._local
        local[seeds] = torch.arange(seeds.numel())
        parts, count = [seeds], seeds.numel()
        positions, targets = [], []
        frontier = seeds
        for fanout in fanouts:
            if frontier.numel() == 0:
                break
            pos, tgt = self._hop(frontier, fanout, generator)
            nbr = self.col[pos]
            new = torch.unique(nbr[local[nbr] < 0])
            local[new] = torch.arange(count, count + new.numel())
            count += new.numel()
            parts.append(new)
            positions.append(pos)
            targets.append(tgt)
            frontier = new
        nodes = torch.cat(parts)
        pos = torch.cat(positions) if positions else torch.zeros(0, dtype=torch.long)
        tgt = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
        row, col = local[tgt], local[self.col[pos]]
        local[nodes] = -1
        n = nodes.numel()
        key = torch.cat([row * n + col, col * n + row])
        key, inverse = torch.unique(key, return_inverse=True)
        edge_index = torch.stack([key // n, key % n])
        weight = None
        if self.weight is not None:
            w = self.weight[pos].repeat(2)
            weight = torch.zeros(key.numel()).scatter_reduce(0, inverse, w, reduce="amax", include_self=False)
        return nodes, Adjacency.from_edge_index(edge_index, n, weight)


def train_node_classifier_sampled(
    model: nn.Module,
    x: Tensor,
    sampler: NeighborSampler,
    y: Tensor,
    train_index: Tensor,
    validate: Callable[[nn.Module], float],
    config: TrainConfig = TrainConfig(),
    minibatch: MiniBatchConfig = MiniBatchConfig(),
    seed: int = 0,
    extra_loss: ExtraLoss | None = None,
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Like `train_node_classifier`, but each of ``config.epochs`` steps trains on a neighbour-sampled
    mini-batch of ``minibatch.batch_size`` seeds drawn from ``train_index`` (a fresh permutation per
    pass); ``y`` holds the labels of every node (indexed by global id). ``x`` may stay on the CPU: only
    each batch's rows are moved to the model's device. Validation (full-batch, no gradient) runs every
    ``config.eval_every`` steps and the best-validation weights are loaded at the end."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    layers = getattr(model, "num_layers", len(minibatch.fanouts))
    fanouts = tuple(minibatch.fanouts[i] if i < len(minibatch.fanouts) else minibatch.fanouts[-1] for i in range(layers))
    train_index = train_index.cpu()
    order, cursor = torch.randperm(train_index.numel(), generator=generator), 0

    def loss_at(step: int) -> Tensor:
        nonlocal order, cursor
        if cursor >= order.numel():
            order, cursor = torch.randperm(train_index.numel(), generator=generator), 0
        seeds = train_index[order[cursor: cursor + minibatch.batch_size]]
        cursor += minibatch.batch_size
        nodes, adj = sampler.sample(seeds, fanouts, generator)
        xb, adj = x[nodes].to(device), adj.to(device)
        logits = model(xb, adj)[: seeds.numel()]
        loss = F.cross_entropy(logits, y[seeds].to(device))
        if extra_loss is not None:
            loss = loss + extra_loss(model, xb, adj, logits)
        return loss

    return _fit(model, loss_at, validate, config, callback)


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, adj: Adjacency) -> Tensor:
    """Full-batch inference in eval mode (sparse matmuls: O(E + N * hidden) memory for a 2-layer GCN)."""
    was_training = model.training
    model.eval()
    out = model(x, adj)
    model.train(was_training)
    return out
