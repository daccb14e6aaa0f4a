"""Checkpoint selection: which synthetic graph a gradient-matching run returns.

A `Selector` is offered the current synthetic graph (and the epoch's record: its losses and
timings) whenever it says a checkpoint is due, and returns the graph it keeps. `ValidationSelector`
is the protocol's: a fresh evaluation backbone trained on the offered graph, scored on the original
graph's *validation* nodes (test nodes only under ``select_split=test``, the SR-GM authors' flagged
protocol), under its own forked RNG stream, so how often it runs does not change the condensation.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Optional, Protocol

import torch
from torch import Tensor

from mmgc.adjacency import Adjacency
from mmgc.methods.gradient_matching.config import SelectionConfig
from mmgc.methods.gradient_matching.state import Setup
from mmgc.models import build_backbone
from mmgc.models.base import get_backbone
from mmgc.models.protocol import TrainingRecipe, edge_threshold, threshold_edges, wants_sparse_features
from mmgc.models.training import SplitScorer, accepts_sparse_features, train_node_classifier


class Selector(Protocol):
    """Checkpoint selection: which synthetic graph the method returns."""

    def due(self, epoch: int, last: bool) -> bool: ...

    def offer(self, epoch: int, x: Tensor, adj: Tensor, record: Mapping[str, Any]) -> dict[str, float]: ...

    def result(self) -> Optional[tuple[Tensor, Tensor, dict[str, Any]]]: ...


class ValidationSelector:
    """Train a fresh evaluation backbone on the offered graph and keep the best validation metric."""

    def __init__(self, cfg: SelectionConfig, setup: Setup):
        graph = setup.graph
        self.setup, self.cfg = setup, cfg
        self.every = cfg.select_every
        self.recipe = TrainingRecipe(hidden=cfg.select_hidden, dropout=cfg.select_dropout, epochs=cfg.select_epochs,
                                     lr_drop_epoch=cfg.select_epochs // 2, eval_every=cfg.select_eval_every)
        self.threshold = edge_threshold(graph, cfg.select_threshold)
        self.dropout = self.recipe.dropout_for(graph)
        # bag-of-words features (Cora: 1.3% non-zero) are scored as a sparse matrix, as the evaluation does
        sparse = accepts_sparse_features(get_backbone(cfg.select_backbone)) and \
            wants_sparse_features(graph.x, self.recipe.sparse_feature_density)
        self.split = cfg.select_split
        self.scorer = SplitScorer(graph, self.split, setup.device, sparse_features=sparse)
        self.train_config = self.recipe.train_config()
        self.best: Optional[tuple[Tensor, Tensor, dict[str, Any]]] = None
        self.best_val = -math.inf
        self.seconds = 0.0

    def due(self, epoch: int, last: bool) -> bool:
        return last or (self.every > 0 and (epoch + 1) % self.every == 0)

    def score(self, epoch: int, x: Tensor, adj: Tensor) -> float:
        setup = self.setup
        adj = threshold_edges(adj, self.threshold)
        with torch.random.fork_rng(devices=[setup.device] if setup.device.type == "cuda" else []):
            torch.manual_seed(setup.ctx.seed * 100_003 + epoch)
            model = build_backbone(self.cfg.select_backbone, x.shape[1], self.recipe.hidden, setup.num_classes,
                                   layers=self.recipe.layers, dropout=self.dropout,
                                   modalities=setup.modalities).to(setup.device)
            result = train_node_classifier(model, x, Adjacency.from_dense(adj), setup.y_syn, self.scorer,
                                           self.train_config)
        return float(result.best_val)

    def offer(self, epoch: int, x: Tensor, adj: Tensor, record: Mapping[str, Any]) -> dict[str, float]:
        start = time.perf_counter()
        val = self.score(epoch, x, adj)
        self.seconds += time.perf_counter() - start
        if val > self.best_val:
            self.best_val = val
            self.best = (x.clone(), adj.clone(), {"selected_epoch": epoch, "selected_val": val})
        return {"val": val}

    def result(self) -> Optional[tuple[Tensor, Tensor, dict[str, Any]]]:
        if self.best is None:
            return None
        x, adj, info = self.best
        return x, adj, dict(info, selection="validation" if self.split == "val" else "test",
                            selection_split=self.split, selection_seconds=round(self.seconds, 3))
