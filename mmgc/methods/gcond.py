"""GCond (Jin et al., "Graph Condensation for Graph Neural Networks", ICLR 2022) on the shared engine.

GCond = the gradient-matching engine (`mmgc.methods.gradient_matching`) + the PGE structure
generator (`mmgc.methods.structure.PGE`), stepped on 10 of every 50 epochs with ``lr_adj``.
Defaults are the official scripts' values for small graphs (``scripts/run_main.sh``: lr_feat =
lr_adj = 1e-4, 600 epochs, 20 outer steps, hidden 256, two layers, dropout and weight decay 0 during
condensation, PGE width 128 with three layers). What the official code chooses per dataset is
exposed as config, never chosen by name: its Cora/Citeseer commands condense with SGC
(``backbone=sgc``) and ``inner_loop=15``; its large graphs use ``pge_hidden=256`` and larger
learning rates.

GCond-X (features only, no structure) is the configuration ``structure=none``: the synthetic graph
has no edges during matching and in the result. Its features are stepped on GCond's feature epochs
(``feature_schedule=alternate``, the default: the same feature steps as GCond at the same epochs) or
on every epoch (``feature_schedule=every_epoch``). (The official code obtains GCond-X with
``--lr_adj=0``: its matching then still runs through the randomly initialised, never-updated PGE
graph, 10 of every 50 epochs update nothing, and only the evaluation replaces the adjacency by zeros.
`benchmarks/bench_gcond_cora.py` therefore also reports GCond's own features evaluated without
edges.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor

from mmgc.errors import InputError
from mmgc.methods.base import register_method
from mmgc.methods.gradient_matching import Setup, StructureLearningConfig, StructureLearningMethod
from mmgc.methods.structure import PGE, StructureGenerator


@dataclass
class GCondConfig(StructureLearningConfig):
    """GCond's settings: the engine's (see `StructureLearningConfig`) plus its structure generator.

    Attributes:
        backbone: the matching backbone; SGC by default, as GCond's published Cora and Citeseer
            commands (``--sgc=1``): with a GCN the generator can saturate into a complete graph whose
            nodes average together (docs/results/gcond-cora.md gives the measured figures).
        structure: ``pge`` (GCond) or ``none`` (GCond-X: no edges).
        pge_hidden: PGE width (GCond: 128; 256 for its large graphs).
        pge_layers: PGE linear layers (GCond: 3).
        pge_chunk_pairs: the PGE's memory bound, in ordered pairs: a graph with at most this many
            pairs keeps its pairwise activations for the backward pass, a larger one recomputes them
            (`mmgc.methods.structure.PGE`).
        pge_init_weight: None (GCond: PyTorch's default initialisation, a dense start with edge
            weights near 0.5) or a weight in (0, 1): the PGE's output bias starts at
            ``logit(pge_init_weight)``, so the first synthetic graph has edges of about that weight.
            Why: on the dense start a GCN backbone's normalised propagation averages all synthetic
            nodes together, every node feeds the same input to each hidden unit, and a few inner
            steps can kill every ReLU at once (``dead_backbone`` in the history; docs/results/dead-backbone.md
            gives the measured figures). A sparse start keeps the nodes apart.
    """

    backbone: str = "sgc"
    structure: Literal["pge", "none"] = "pge"
    pge_hidden: int = 128
    pge_layers: int = 3
    pge_chunk_pairs: int = 1 << 17
    pge_init_weight: Optional[float] = None

    def learns_structure(self) -> bool:
        return self.structure != "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_pge_settings(self)


def check_pge_settings(cfg: object) -> None:
    """Check a config's ``pge_*`` settings (GCond's, or any method that builds its structure with
    `make_pge`); raise `InputError` naming the first bad one."""
    if cfg.pge_init_weight is not None and not 0 < cfg.pge_init_weight < 1:
        raise InputError(f"pge_init_weight: expected a weight in (0, 1) or none, found {cfg.pge_init_weight}")
    if cfg.pge_hidden < 1 or cfg.pge_layers < 2 or cfg.pge_chunk_pairs < 1:
        raise InputError(
            f"pge: expected pge_hidden >= 1, pge_layers >= 2, pge_chunk_pairs >= 1; found "
            f"{cfg.pge_hidden}, {cfg.pge_layers}, {cfg.pge_chunk_pairs}"
        )


def make_pge(feature_dim: int, hidden: int, layers: int, chunk_pairs: int, init_weight: Optional[float]) -> PGE:
    """GCond's structure generator for ``feature_dim``-wide features (`GCondConfig`'s ``pge_*``
    settings): PyTorch's default initialisation, or the output bias at ``logit(init_weight)``."""
    pge = PGE(feature_dim, hidden=hidden, layers=layers, chunk_pairs=chunk_pairs)
    if init_weight is not None:
        with torch.no_grad():
            pge.last.bias.fill_(math.log(init_weight / (1 - init_weight)))
    return pge


@register_method("gcond")
class GCond(StructureLearningMethod):
    """GCond: gradient matching with a PGE structure (structure=none gives GCond-X)."""

    Config = GCondConfig

    def make_structure(self, setup: Setup, x: Tensor) -> Optional[StructureGenerator]:
        cfg = self.config
        if cfg.structure == "none":
            return None
        return make_pge(x.shape[1], cfg.pge_hidden, cfg.pge_layers, cfg.pge_chunk_pairs, cfg.pge_init_weight)
