"""SGDD (Yang et al., "Does graph distillation see like vision dataset counterpart?", NeurIPS 2023:
structure-broadcasting graph dataset distillation) on the shared gradient-matching engine.

What SGDD supplies (everything else is the engine's, as GCond):

- **Structure**: the graphon-style generator of the official ``IGNR`` (`GraphonGenerator` in
  `mmgc.methods._sgdd_structure`): a pair branch on ``[x_i ; x_j]`` and a graphon branch on the
  fixed grid coordinates ``(u_i, u_j)`` in [-1, 1]^2, combined elementwise, mixed
  ``(1 - ep_ratio) * graphon + ep_ratio * pair``, symmetrised, sigmoid, zero diagonal. Its BatchNorm
  layers use batch statistics in the outer loop and their running statistics in ``inference`` (the
  inner loop, checkpoints and the stored graph), as the official ``IGNR.inference`` (``self.eval()``).
- **Extra outer-loss terms** (`extra_terms`), each logged:
  ``sgdd_ot = opt_scale * OT``, the optimal-transport distance between the Laplacian energy
  distributions of a freshly sampled block of the original graph and of the synthetic graph
  (``torch.linalg.eigh`` + POT; see `_sgdd_structure` for the exact definition and why this form);
  and ``sgdd_smooth = beta * tr(Z^T L~ Z)``, the official objective's smoothness term (``Z`` = one-hot
  synthetic labels, as the official call, or the synthetic features).
  ``ot_on``: ``structure`` (official: the OT term joins the loss only on structure epochs, the ones
  that step the generator) or ``always``. On the other epochs the distance is computed, without
  gradient, only at diagnostic steps (``diagnostics_every``), and logged as ``sgdd_ot_raw`` like
  the active term's value (an eigendecomposition and a transport problem per step cost more than
  the rest of the step).
  A non-finite distance raises `NonFiniteStructureTerm` (never a silent 0).

Defaults from the official ``train_SGDD.py``: lr_feat = lr_adj = 1e-4, beta 0.5 (its README uses 0.1),
ep_ratio 0.5, generator width 128. ``opt_scale``: the official 1e-10 scales a COPT/GOT value in the
1e8..1e10 range (traces of pseudo-inverse Laplacians) and would make our distance (a Wasserstein
distance between two distributions on [0, 2], of order 0.01..1) vanish; ours defaults to 10, which puts the term's
gradient on the generator within about an order of magnitude of the matching loss's (the history
logs ``gradnorm_s/sgdd_ot`` beside ``gradnorm_s/loss_gm`` on diagnostic epochs, so the balance can be
checked and tuned: ``opt_scale`` is in the search space).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor

from mmgc.errors import InputError
from mmgc.methods._sgdd_structure import GraphonGenerator, StructureBroadcast, one_hot, smoothness
from mmgc.methods.base import SearchDim, register_method
from mmgc.methods.gradient_matching import (
    STRUCTURE_SEARCH_SPACE, Setup, StepState, StructureLearningConfig, StructureLearningMethod,
)
from mmgc.methods.structure import StructureGenerator


@dataclass
class SGDDConfig(StructureLearningConfig):
    """SGDD's settings: the engine's (see `StructureLearningConfig`; ``lr_adj`` is the graphon
    generator's learning rate, official 1e-4) plus its own.

    Attributes:
        generator_hidden: width of both generator branches (official 128).
        ep_ratio: weight of the pair branch in the output (official 0.5).
        beta: weight of the smoothness term (official default 0.5; README 0.1; 0 disables it).
        smoothness_target: ``labels`` (one-hot synthetic labels, the official call) or ``features``.
        opt_scale: weight of the structure-broadcasting OT term (0 disables it).
        ot_on: ``structure`` (official: added on structure epochs only) or ``always``.
        ot_block_size: nodes of the real block sampled at every call (official: the whole graph up
            to 5,000 nodes).
        ot_sampler: ``neighborhood`` (seeds and their neighbours) or ``random`` (uniform nodes).
        ot_weights: ``energy`` (Laplacian energy distribution of the features) or ``uniform``
            (the plain spectrum).
        ot_p: order of the 1-D Wasserstein distance.
    """

    generator_hidden: int = 128
    ep_ratio: float = 0.5
    beta: float = 0.5
    smoothness_target: Literal["labels", "features"] = "labels"
    opt_scale: float = 10.0
    ot_on: Literal["structure", "always"] = "structure"
    ot_block_size: int = 256
    ot_sampler: Literal["neighborhood", "random"] = "neighborhood"
    ot_weights: Literal["energy", "uniform"] = "energy"
    ot_p: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta", "opt_scale"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise InputError(f"{name}: expected a finite value >= 0, found {value}")
        if not 0.0 <= self.ep_ratio <= 1.0:
            raise InputError(f"ep_ratio: expected a weight in [0, 1], found {self.ep_ratio}")
        if self.generator_hidden < 1:
            raise InputError(f"generator_hidden: expected a positive width, found {self.generator_hidden}")
        if self.ot_block_size < 2:
            raise InputError(f"ot_block_size: expected at least 2 nodes, found {self.ot_block_size}")
        if self.ot_p < 1:
            raise InputError(f"ot_p: expected an order >= 1, found {self.ot_p}")


class SGDDGenerator(StructureGenerator):
    """`GraphonGenerator` behind the engine's structure-generator interface, with the sampler of
    original-graph blocks its structure-broadcasting term compares the generated graph against."""

    def __init__(self, in_dim: int, hidden: int, ep_ratio: float, broadcast: StructureBroadcast):
        super().__init__()
        self.broadcast = broadcast
        self.graphon = GraphonGenerator(in_dim, hidden, ep_ratio)

    def forward(self, x: Tensor) -> Tensor:
        self.graphon.train()
        return self.graphon(x)

    @torch.no_grad()
    def inference(self, x: Tensor) -> Tensor:
        return self.graphon.inference(x)


@register_method("sgdd")
class SGDD(StructureLearningMethod):
    """SGDD: gradient matching with a graphon generator and a structure-broadcasting OT term."""

    Config = SGDDConfig
    search_space = {
        **STRUCTURE_SEARCH_SPACE,
        "beta": SearchDim("loguniform", 1e-3, 1.0),
        "opt_scale": SearchDim("loguniform", 1e-2, 1e3),
    }

    def make_structure(self, setup: Setup, x: Tensor) -> Optional[StructureGenerator]:
        cfg = self.config
        rng = torch.Generator().manual_seed(setup.ctx.seed * 1_000_003 + 29)
        broadcast = StructureBroadcast(setup.visible, cfg.ot_block_size, cfg.ot_sampler, cfg.ot_weights, cfg.ot_p, rng)
        return SGDDGenerator(x.shape[1], cfg.generator_hidden, cfg.ep_ratio, broadcast)

    def extra_terms(self, state: StepState) -> dict[str, Tensor]:
        cfg = self.config
        terms: dict[str, Tensor] = {}
        adj = state.adj
        if cfg.beta > 0:
            z = one_hot(state.setup.y_syn, state.setup.num_classes) if cfg.smoothness_target == "labels" else state.x_in
            value = smoothness(adj, z)
            state.metrics["sgdd_smooth_raw"] = float(value.detach())
            terms["sgdd_smooth"] = cfg.beta * value
        if cfg.opt_scale > 0:
            broadcast = state.run.generator.broadcast
            if cfg.ot_on == "always" or state.phase == "structure":
                dist = broadcast(adj, state.x_in)
                terms["sgdd_ot"] = cfg.opt_scale * dist
                state.metrics["sgdd_ot_raw"] = float(dist.detach())
            elif state.diagnose:  # a diagnostic: its value where it does not join the loss
                with torch.no_grad():
                    state.metrics["sgdd_ot_raw"] = float(broadcast(adj.detach(), state.x_in.detach()))
        return terms
