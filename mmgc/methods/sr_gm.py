"""SR-GM (structurally-regularised gradient matching; "Decoupling and Damping", arXiv 2511.20222).

SR-GM is GCond (`mmgc.methods.gcond`) plus two terms computed at every outer step, with ``L_S`` the
cross-entropy of the synthetic graph at the current backbone parameters (Algorithm 1, lines 8-15):

1. ``G_S = dL_S/dX_S`` with ``create_graph=True`` (equation 9), split per node by the modality
   layout (two or more modalities of equal width). ``feature_grad`` (engine config) picks the path:
   ``direct`` (default) differentiates through the backbone's message passing with the adjacency
   held fixed (the gradient field of the paper's equation 5, which is what the damping smooths);
   ``total`` also differentiates through the structure generator ``A_S = g(X_S)``, so the damping's
   backward needs second derivatives through the generator's pairwise MLP (1.3-1.9x GCond's epoch
   instead of 1.03-1.07x: `benchmarks/bench_sr_gm_overhead.py`). Either way ``R`` depends on the
   generator through ``L`` and through ``G_S`` (the backbone reads ``A_S``).
2. Decoupling (equations 10-11, ``decouple``): for every node and every pair of modalities whose
   gradients have a negative inner product, each is projected onto the normal plane of the other,
   both from the original pair (PCGrad), giving ``G'_S``; zero-norm blocks are safe
   (`mmgc.methods.modality_gradients.project_conflicts`).
3. Damping (equation 12): ``R = tr(G'^T L G')`` with ``L`` the Laplacian of the current synthetic
   adjacency, ``D - A`` (``laplacian=unnormalized``, the paper's equation, default) or
   ``D^-1/2 (D - A) D^-1/2`` (``normalized``); differentiable w.r.t. ``X_S`` and the generator
   (``damp_structure=false``, ours: the adjacency is a constant in ``R``, which then moves ``X_S``
   only: the generator's own minimum of ``R`` is the complete uniform graph).
4. Outer loss ``L_gm + lam * R`` (equation 13).
5. ``decouple_target``: ``regularizer`` (the paper: the projection only feeds ``R``) or
   ``meta_gradient`` (ours, beyond the paper: the outer update of ``X_S`` is also decoupled, node by
   node, across modalities, before the optimiser step).

Ablations are configurations: ``w/o D`` = ``decouple=false``; ``w/o D+R`` = ``lam=0`` (then no
second-order term is built at all and the run equals GCond's bit for bit under the same seed).

The scale of lambda: ``R`` is a quadratic form in per-node gradients of a *mean* loss, so it is
about 1e-6..1e-4 of ``L_gm`` and shrinks roughly as 1/n^2; the history logs
``ratio_x/damping = lam * |dR/dX_S| / |dL_gm/dX_S|`` every diagnostic epoch so that runs at
different sizes are comparable. The declared search space is loguniform over [1, 1e6] (the
paper's Figure 4 uses values in the hundreds to thousands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import math

from torch import Tensor, nn

from mmgc.errors import InputError
from mmgc.methods.base import SearchDim, register_method
from mmgc.methods.gcond import GCond, GCondConfig
from mmgc.methods.gradient_matching import Setup, StepState
from mmgc.methods.modality_gradients import check_pairable, laplacian_quadratic, project_conflicts
from mmgc.methods.structure import StructureGenerator


@dataclass
class SRGMConfig(GCondConfig):
    """SR-GM's settings: GCond's (see `GCondConfig`) plus decoupling and damping.

    Attributes:
        lam: the damping weight lambda of equation 13 (0 disables the term: ``w/o D+R``).
        decouple: project conflicting modality gradients (equations 10-11); false gives ``w/o D``.
        decouple_target: ``regularizer`` (the projection feeds only ``R``, as the paper) or
            ``meta_gradient`` (also decouple the outer update of ``X_S`` per node).
        laplacian: ``unnormalized`` (``D - A``, equation 12) or ``normalized``.
        damp_structure: ``True`` (the paper: ``R`` is differentiable w.r.t. the structure generator
            too, through ``L`` and through ``G_S``); ``False`` (ours, beyond the paper): the damping
            takes the synthetic adjacency as a constant, so it moves ``X_S`` only and adds nothing
            on structure epochs. Why: with ``True``, the generator's cheapest way to lower ``R`` is
            the complete uniform graph (every node then gets the same gradient row and ``R = 0``),
            which averages the synthetic nodes together (`benchmarks/bench_sr_gm_synthetic.py`).
    """

    lam: float = 1e3
    decouple: bool = True
    decouple_target: Literal["regularizer", "meta_gradient"] = "regularizer"
    laplacian: Literal["unnormalized", "normalized"] = "unnormalized"
    damp_structure: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.lam >= 0 and math.isfinite(self.lam)):
            raise InputError(f"lam: expected a finite weight >= 0, found {self.lam}")


@register_method("sr_gm")
class SRGM(GCond):
    """SR-GM: GCond plus per-node modality-gradient decoupling and Dirichlet-energy damping."""

    Config = SRGMConfig
    search_space = {
        **GCond.search_space,
        "lam": SearchDim("loguniform", 1.0, 1e6),
    }

    def validate_setup(self, setup: Setup) -> None:
        if self.config.decouple:
            check_pairable(setup.modalities, where=f"sr_gm on {setup.graph.name}: modalities")

    def extra_terms(self, state: StepState) -> dict[str, Tensor]:
        cfg = self.config
        if cfg.lam == 0 or (state.phase == "structure" and not cfg.damp_structure):
            return {}
        if cfg.damp_structure:
            g, adj = state.feature_gradient(create_graph=True), state.laplacian_adjacency()
        else:
            g, adj = state.feature_gradient_at_fixed_structure(), state.laplacian_adjacency().detach()
        if cfg.decouple:
            g, _ = project_conflicts(g, state.setup.modalities)
        r = laplacian_quadratic(g, adj, cfg.laplacian == "normalized")
        state.metrics["R"] = r.item()
        return {"damping": cfg.lam * r}

    def adjust_outer_gradients(self, state: StepState, x: nn.Parameter, generator: Optional[StructureGenerator]) -> None:
        cfg = self.config
        if cfg.decouple and cfg.decouple_target == "meta_gradient" and x.grad is not None:
            x.grad, _ = project_conflicts(x.grad, state.setup.modalities)
