"""MSGC (Gao & Wu, "Multiple sparse graphs condensation", Knowledge-Based Systems 2023) on the shared
gradient-matching engine.

What MSGC supplies (everything else is the engine's, as GCond):

- **Structure**: ``num_graphs`` (B, default 16) sparse graphs over one shared synthetic feature matrix.
  Their support is fixed at the start: the "basic neighbourhood patterns" (every synthetic node links
  to at most two nodes of every class, degrees balanced, random tie-breaks so the B graphs are wired
  differently; built without any loop over nodes, see `mmgc.methods._msgc_support`). Edge weights
  live only on that support: ``sigmoid(MLP([x_i ; x_j]))`` with the official MLP
  (Linear-BN-ReLU-Linear-BN-ReLU-Linear, width ``edge_hidden``), symmetrised. The generator returns
  the *raw* weights ``[B, n, n]`` (zero diagonal); self loops and ``D^-1/2 (A + I) D^-1/2`` are added
  once, per graph, by `Adjacency.gcn()` inside the backbone. Its BatchNorm always normalises with the
  statistics of the current edge batch (the official module never leaves training mode).
- **Forward**: the backbone runs on all B graphs in one batched pass (a dense ``[B, n, n]``
  `Adjacency`; GCN and SGC propagate it as a batch), giving ``[B, n, C]`` logits that are flattened
  to ``B * n`` rows; the labels are the synthetic labels repeated B times. The per-class matching is
  the engine's (GCond's ``distance_wb``): the class-c synthetic gradient is taken over the class's
  rows of all B graphs. The class weight is the engine's ``n_c / max_c n_c`` (the official MSGC
  code uses ``n_c / n``: the same up to one constant factor, which Adam's update does not see).
- **Selection** (``selection``): ``validation`` (default, the engine's: the best checkpoint on the
  original graph's validation nodes) or ``loss_window`` (the official rule: keep the per-epoch mean
  matching loss of the last ``window`` epochs, and whenever the window's mean reaches a new minimum,
  store the average of the window's ``window`` snapshots of (X', A'); the official early stop after
  ``patience`` epochs without improvement is not applied: the run goes to ``epochs``).
- **Stored graph**: `CondensedGraph.adj` is one ``[n, n]`` matrix, so MSGC stores the *average of its
  B raw graphs* (symmetric, zero diagonal; the union of the B supports with averaged weights). The
  evaluation protocol then trains one backbone on that average, normalised once by the models. Why
  the average and not the B graphs: every method is evaluated by the same protocol on one weighted
  graph; the average is the graph whose propagation ``A_hat X`` is closest to the mean of the B
  graphs' (each B-graph's normalised operator differs from the normalised average only through the
  degrees); the official code instead trains its evaluation GCN on the batch of B normalised graphs
  with repeated labels. ``info["msgc"]`` records B, the support size and the selection rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional

import torch
from torch import Tensor, nn

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.methods._msgc_support import SupportEdgeMLP, basic_neighbourhood_support
from mmgc.methods.base import SearchDim, register_method
from mmgc.methods.gradient_matching import (
    STRUCTURE_SEARCH_SPACE, Run, Setup, StructureLearningConfig, StructureLearningMethod,
)
from mmgc.methods.structure import StructureGenerator

BATCHED_BACKBONES = ("gcn", "sgc", "mlp")
"""Backbones whose forward takes a dense ``[B, n, n]`` adjacency batch (MLP ignores the graph)."""


@dataclass
class MSGCConfig(StructureLearningConfig):
    """MSGC's settings: the engine's (see `StructureLearningConfig`; ``lr_adj`` is the edge MLP's
    learning rate, official Cora: 1e-4, as the features) plus its own.

    Attributes:
        num_graphs: B, the number of sparse synthetic graphs (official default 16).
        edge_hidden: width of the edge MLP (official: 128 small graphs / 256 large).
        selection: ``validation`` (the engine's checkpoint selection) or ``loss_window`` (MSGC's own:
            average of the snapshots of the best ``window``-epoch loss window).
        window: length of the loss window (official: 20).
    """

    num_graphs: int = 16
    edge_hidden: int = 128
    selection: Literal["validation", "loss_window"] = "validation"
    window: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_graphs < 1:
            raise InputError(f"num_graphs: expected at least 1 graph, found {self.num_graphs}")
        if self.edge_hidden < 1:
            raise InputError(f"edge_hidden: expected a positive width, found {self.edge_hidden}")
        if self.window < 1:
            raise InputError(f"window: expected a positive number of epochs, found {self.window}")


class MultipleSparseGraphs(StructureGenerator):
    """B sparse graphs on a fixed basic-neighbourhood support; raw weights ``[B, n, n]``."""

    def __init__(self, in_dim: int, y: Tensor, num_graphs: int, hidden: int = 128,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        self.register_buffer("support", basic_neighbourhood_support(y.cpu(), num_graphs, generator))
        self.mlp = SupportEdgeMLP(in_dim, hidden)  # BatchNorm on batch statistics only, as officially

    @property
    def num_graphs(self) -> int:
        return int(self.support.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x, self.support)


class LossWindowSelector:
    """MSGC's own selection: the average of the (X', A') snapshots of the best loss window (the
    window of the epochs' mean matching losses, ``loss_gm`` in each epoch's record)."""

    def __init__(self, window: int):
        self.window = window
        self.losses: list[float] = []
        self.snapshots: list[tuple[Tensor, Tensor]] = []
        self.best_loss = math.inf
        self.best: Optional[tuple[Tensor, Tensor, dict[str, Any]]] = None

    def due(self, epoch: int, last: bool) -> bool:
        return True

    def offer(self, epoch: int, x: Tensor, adj: Tensor, record: Mapping[str, Any]) -> dict[str, float]:
        loss = record["loss_gm"]
        self.losses = (self.losses + [loss])[-self.window:]
        self.snapshots = (self.snapshots + [(x.clone(), adj.clone())])[-self.window:]
        mean = sum(self.losses) / len(self.losses)
        if mean < self.best_loss:
            self.best_loss = mean
            k = len(self.snapshots)
            x_avg = sum(s[0] for s in self.snapshots) / k
            adj_avg = sum(s[1] for s in self.snapshots) / k
            self.best = (x_avg, adj_avg, {"selected_epoch": epoch, "selected_window_loss": mean, "window_size": k})
        return {"window_loss": mean}

    def result(self) -> Optional[tuple[Tensor, Tensor, dict[str, Any]]]:
        if self.best is None:
            return None
        x, adj, info = self.best
        return x, adj, dict(info, selection="loss_window")


@register_method("msgc")
class MSGC(StructureLearningMethod):
    """MSGC: gradient matching with B sparse graphs on basic neighbourhood patterns."""

    Config = MSGCConfig
    search_space = {**STRUCTURE_SEARCH_SPACE, "num_graphs": SearchDim("choice", choices=(4, 8, 16, 32))}

    def validate_setup(self, setup: Setup) -> None:
        if self.config.backbone not in BATCHED_BACKBONES:
            raise InputError(
                f"msgc backbone: expected one of {list(BATCHED_BACKBONES)} (a batched pass over the B graphs), "
                f"found {self.config.backbone!r}"
            )

    def make_structure(self, setup: Setup, x: Tensor) -> Optional[StructureGenerator]:
        cfg = self.config
        rng = torch.Generator().manual_seed(setup.ctx.seed * 1_000_003 + 17)
        return MultipleSparseGraphs(x.shape[1], setup.y_syn, cfg.num_graphs, cfg.edge_hidden, rng)

    def synthetic_forward(self, model: nn.Module, x: Tensor, operand: Any) -> Tensor:
        logits = super().synthetic_forward(model, x, operand)
        dense = operand.dense if isinstance(operand, Adjacency) else operand
        if dense is not None and dense.dim() == 3:
            if logits.dim() == 3:  # [B, n, C] -> B * n rows, graph-major (labels repeat B times)
                return logits.reshape(-1, logits.shape[-1])
            return logits.repeat(dense.shape[0], 1)  # a graph-free backbone (MLP): the same rows per graph
        return logits

    def synthetic_labels(self, setup: Setup) -> Tensor:
        return setup.y_syn.repeat(self.config.num_graphs)

    def make_selector(self, setup: Setup):
        if self.config.selection == "loss_window":
            return LossWindowSelector(self.config.window)
        return super().make_selector(setup)

    def extra_info(self, run: Run) -> dict[str, Any]:
        return {"msgc": {
            "num_graphs": self.config.num_graphs,
            "support_edges_per_graph": int(run.generator.support.shape[-1]),
            "stored_adjacency": "mean of the B raw graphs",
            "selection": self.config.selection,
        }}
