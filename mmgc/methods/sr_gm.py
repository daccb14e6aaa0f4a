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
   adjacency, ``D - A`` (``laplacian=unnormalized``, the paper's equation, default),
   ``D^-1/2 (D - A) D^-1/2`` (``normalized``) or ``I - D^-1/2 (A + I) D^-1/2`` (``normalized_self_loops``,
   the authors' code); differentiable w.r.t. ``X_S`` and the generator
   (``damp_structure=false``, ours: the adjacency is a constant in ``R``, which then moves ``X_S``
   only: the generator's own minimum of ``R`` is the complete uniform graph). ``grad_field``:
   ``differentiable`` (the paper's text, default) or ``detached`` (the authors' code: ``G_S`` is a
   constant, so ``R`` acts only through the Laplacian, i.e. through the generator).
4. Outer loss ``L_gm + lam * R`` (equation 13); ``damping_scale=relative`` (beyond the paper) weighs
   ``R`` by ``lam * |dL_gm/dX_S| / |dR/dX_S|`` instead, so that ``lam`` is R's share of the update.
5. ``decouple_target``: ``regularizer`` (the paper: the projection only feeds ``R``),
   ``meta_gradient`` (ours, beyond the paper: the outer update of ``X_S`` is also decoupled, node by
   node, across modalities, before the optimiser step) or ``target_gradient`` (beyond the paper: the
   real *parameter* gradients of each modality, from masked forwards, are de-conflicted and their
   sum is the matching target).

The authors' form is one preset: ``mmgc run --method sr_gm --preset authors`` (``mmgc/presets.yaml``:
their learning rates, lambda, GCN condensation, fan-outs, ``grad_field=detached``,
``feature_grad=total``, ``laplacian=normalized_self_loops``, the engine's ``class_weight=by_total``
and ``label_allocation=largest_takes_rest``).

Ablations are configurations: ``w/o D`` = ``decouple=false``; ``w/o D+R`` = ``lam=0`` (then no
second-order term is built at all and the run equals GCond's bit for bit under the same seed).

The scale of lambda: ``R`` is a quadratic form in per-node gradients of a *mean* loss, so it is
tiny against ``L_gm`` and shrinks roughly as 1/n^2; it also moves by orders of magnitude within an
epoch, as the inner loop trains the backbone. The history logs the realised share
``ratio_x/damping = lam * |dR/dX_S| / |dL_gm/dX_S|`` at every outer step of a diagnostic epoch
(mean, ``/first``, ``/last``) so that runs at different sizes are comparable. The declared search
space is loguniform over [1, 1e6] (the paper's Figure 4 uses values in the hundreds to thousands);
under ``damping_scale=relative`` lambda is a share in [0, 1] and a sweep gives that range itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import math

import torch
from torch import Tensor, nn

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.methods.base import SearchDim, register_method
from mmgc.methods.gcond import GCond, GCondConfig
from mmgc.methods.gradient_matching import Setup, StepState
from mmgc.methods.modality_gradients import check_pairable, decoupled_sum, laplacian_quadratic, project_conflicts
from mmgc.methods.structure import StructureGenerator


@dataclass
class SRGMConfig(GCondConfig):
    """SR-GM's settings: GCond's (see `GCondConfig`) plus decoupling and damping.

    Attributes:
        lam: the damping weight lambda of equation 13 (0 disables the term: ``w/o D+R``).
        decouple: project conflicting modality gradients (equations 10-11); false gives ``w/o D``.
        decouple_target: ``regularizer`` (the projection feeds only ``R``, as the paper),
            ``meta_gradient`` (also decouple the outer update of ``X_S`` per node) or
            ``target_gradient`` (beyond the paper, conflict as its section 3.3 defines it: on the
            *parameter* gradients of the real data. Per class, the real gradient is computed twice
            on the same sampled subgraph, once with only the text columns and once with only the
            image columns (the others zeroed); where the two conflict, PCGrad projects each from
            the original pair, and ``g_S`` is matched to their sum. ``R`` then takes ``G_S`` as it
            is, so modalities of different widths are allowed).
        laplacian: ``unnormalized`` (``D - A``, equation 12), ``normalized``
            (``D^-1/2 (D - A) D^-1/2``) or ``normalized_self_loops`` (``I - D^-1/2 (A + I) D^-1/2``,
            ``D = rowsum(A + I)``: the authors' code; 0 for an empty graph).
        damp_structure: ``True`` (the paper: ``R`` is differentiable w.r.t. the structure generator
            too, through ``L`` and through ``G_S``); ``False`` (ours, beyond the paper): the damping
            takes the synthetic adjacency as a constant, so it moves ``X_S`` only and adds nothing
            on structure epochs. Why: with ``True``, the generator's cheapest way to lower ``R`` is
            the complete uniform graph (every node then gets the same gradient row and ``R = 0``),
            which averages the synthetic nodes together (`benchmarks/bench_sr_gm_synthetic.py`).
        grad_field: ``differentiable`` (the paper's text: ``G_S`` is built with ``create_graph``, so
            ``R`` moves ``X_S`` and the generator along second-order terms too) or ``detached`` (the
            authors' code: ``G_S`` is a constant and ``R`` acts only through the Laplacian, i.e.
            through the generator's parameters and ``X_S`` as the generator's input).
        damping_scale: ``raw`` (the paper: the outer loss is ``L_gm + lam * R``) or ``relative``
            (beyond the paper): the weight is ``lam * |dL_gm/dX_S| / |dR/dX_S|``, the ratio taken as a
            constant at every step, so ``lam`` is R's share of the feature update whatever the step,
            the feature scale, the Laplacian or the backbone (``lam`` in [0, 1]: 0.1 = R pulls on
            X_S with a tenth of the matching's force). Costs one more backward of each term per step.
            (Chosen over a Rayleigh quotient ``R / tr(G'^T G')``, which removes the scale of ``G_S``
            but not that of ``L_gm``'s gradient, the quantity ``R`` competes with.)
    """

    lam: float = 1e3
    decouple: bool = True
    decouple_target: Literal["regularizer", "meta_gradient", "target_gradient"] = "regularizer"
    laplacian: Literal["unnormalized", "normalized", "normalized_self_loops"] = "unnormalized"
    damp_structure: bool = True
    grad_field: Literal["differentiable", "detached"] = "differentiable"
    damping_scale: Literal["raw", "relative"] = "raw"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.lam >= 0 and math.isfinite(self.lam)):
            raise InputError(f"lam: expected a finite weight >= 0, found {self.lam}")
        if self.grad_field == "detached" and not self.damp_structure:
            raise InputError("grad_field=detached with damp_structure=false: R would be a constant (G_S detached "
                             "and the adjacency held fixed); set damp_structure=true or grad_field=differentiable")


@register_method("sr_gm")
class SRGM(GCond):
    """SR-GM: GCond plus per-node modality-gradient decoupling and Dirichlet-energy damping."""

    Config = SRGMConfig
    search_space = {
        **GCond.search_space,
        "lam": SearchDim("loguniform", 1.0, 1e6),
    }

    def _per_node_decoupling(self) -> bool:
        return self.config.decouple and self.config.decouple_target != "target_gradient"

    def diagnostic_laplacian(self) -> str:
        return self.config.laplacian

    def validate_setup(self, setup: Setup) -> None:
        if self._per_node_decoupling():
            check_pairable(setup.modalities, where=f"sr_gm on {setup.graph.name}: modalities")

    def real_class_gradient(self, model: nn.Module, params: dict[str, Tensor], x: Tensor, adj: Adjacency,
                            seed_weight: Tensor, labels: Tensor) -> tuple[Tensor, ...]:
        """GCond's real class gradient; with ``decouple_target=target_gradient`` the PCGrad sum of the
        per-modality gradients from forwards on the same sampled subgraph with every other modality's
        columns zeroed (per class, also for a batch of classes)."""
        cfg, layout = self.config, model.modalities
        if not (cfg.decouple and cfg.decouple_target == "target_gradient") or len(layout) < 2:
            return super().real_class_gradient(model, params, x, adj, seed_weight, labels)
        own = dict(model.named_parameters())
        lead = [params[name].shape[: params[name].dim() - own[name].dim()] for name in params]  # () or (C,)
        columns = torch.arange(x.shape[-1], device=x.device)
        per_modality = []
        for start, stop in layout.values():
            keep = ((columns >= start) & (columns < stop)).to(x.dtype)
            grads = super().real_class_gradient(model, params, x * keep, adj, seed_weight, labels)
            per_modality.append(torch.cat([g.reshape(shape + (-1,)) for g, shape in zip(grads, lead)], -1))
        target = decoupled_sum(per_modality)
        sizes = [own[name].numel() for name in params]
        return tuple(piece.reshape(p.shape) for piece, p in zip(target.split(sizes, -1), params.values()))

    def extra_terms(self, state: StepState) -> dict[str, Tensor]:
        cfg = self.config
        if cfg.lam == 0 or (state.phase == "structure" and not cfg.damp_structure):
            return {}
        if cfg.grad_field == "detached":
            g, adj = state.feature_gradient(), state.laplacian_adjacency()
        elif cfg.damp_structure:
            g, adj = state.feature_gradient(create_graph=True), state.laplacian_adjacency()
        else:
            g, adj = state.feature_gradient_at_fixed_structure(), state.laplacian_adjacency().detach()
        if self._per_node_decoupling():
            g, _ = project_conflicts(g, state.setup.modalities)
        r = laplacian_quadratic(g, adj, cfg.laplacian)
        state.metrics["R"] = r.item()
        weight = cfg.lam
        if cfg.damping_scale == "relative":
            norms = [_grad_norm(term, state.x) for term in (state.loss_gm, r)]
            weight = cfg.lam * norms[0] / norms[1] if norms[1] > 0 else 0.0
            state.metrics["lam_t"] = weight
        return {"damping": weight * r}

    def adjust_outer_gradients(self, state: StepState, x: nn.Parameter, generator: Optional[StructureGenerator]) -> None:
        cfg = self.config
        if cfg.decouple and cfg.decouple_target == "meta_gradient" and x.grad is not None:
            x.grad, _ = project_conflicts(x.grad, state.setup.modalities)


def _grad_norm(value: Tensor, x: Tensor) -> float:
    """``|d value / d x|`` (0 where ``value`` does not depend on ``x``), the graph kept for the step."""
    if not value.requires_grad:
        return 0.0
    (g,) = torch.autograd.grad(value, x, retain_graph=True, allow_unused=True)
    return float(g.norm()) if g is not None else 0.0
