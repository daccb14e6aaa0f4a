"""DAGR (Xia et al., arXiv 2601.21670): dispersive and anchoring geometric regularization.

What follows the paper's own words (abstract, versions 1-3 and the authors' page, read) [R]:
    two constraints on **normalised intermediate embeddings**, used during training only: an
    **intra-modal dispersive** term that promotes representation diversity (counters collapse,
    "mitigates spectral concentration", raises effective rank), and an **inter-modal anchoring**
    term that "bounds sample-level cross-modal drift without rigid alignment": it penalises a
    sample's paired cross-modal embeddings only where their distance **exceeds a tolerance band**
    (the ablation's "Hinge"; terms named L_intra and L_inter). Plug-and-play.

Our reading, every piece a config value [I] (see ``../shared/papers/optimag-dagr-reading.md``):
    - embeddings: the per-modality node embeddings of a batch (`Backbone.modality_embeddings`),
      each row L2-normalised; pairs are the same node's embeddings in two modalities;
    - dispersion ``disp = infonce`` (default): the Dispersive Loss of Wang & He (2025), InfoNCE
      without positives in its squared-L2 form,
      ``L_intra = sum_m log mean_{i != j} exp(-||z_i^m - z_j^m||^2 / tau_d)``, which falls as the
      embeddings of a modality spread out; ``disp = spectral``: ``sum_m sum_k p_k^2`` with ``p`` the
      normalised eigenvalues of the modality's covariance, computed without an eigendecomposition
      as ``||C||_F^2 / tr(C)^2`` (the inverse participation ratio: falls as the effective rank rises);
    - anchoring: ``L_inter = mean_i sum_{m<m'} max(0, ||z_i^m - z_i^m'||^2 - band)`` (or its square,
      ``hinge = squared``): exactly zero for every node inside the band; the default band 0.5 (squared
      distance on the unit sphere, where distances lie in [0, 4]) is read off the paper's Fig. 2c
      plateau;
    - total: ``weight * (disp_weight * L_intra + anchor_weight * L_inter)``; the weights of the terms
      were not retrieved; the grid ``disp_weight in {0.05, 0.1, 0.5}``, ``anchor_weight in
      {0.1, 0.5, 1}`` is ours. v1's "Pareto" combination of task and regularizer gradients
      (MMPareto-style) is not implemented: the terms are added to the task loss.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.plugins import SearchDim
from mmgc.regularizers.base import Regularizer, RegularizerConfig, register_regularizer


@dataclass
class DAGRConfig(RegularizerConfig):
    """DAGR's knobs (all our reading [I]; the paper names the terms, not their values)."""

    weight: float = 1.0
    disp_weight: float = 0.1
    anchor_weight: float = 0.5
    band: float = 0.5
    tau_d: float = 0.5
    disp: Literal["infonce", "spectral"] = "infonce"
    hinge: Literal["linear", "squared"] = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("disp_weight", "anchor_weight", "band"):
            if not getattr(self, key) >= 0:
                raise InputError(f"dagr config.{key}: expected >= 0, found {getattr(self, key)}")
        if not self.tau_d > 0:
            raise InputError(f"dagr config.tau_d: expected > 0, found {self.tau_d}")


def dispersion_infonce(z: Tensor, tau: float = 0.5) -> Tensor:
    """``log mean_{i != j} exp(-||z_i - z_j||^2 / tau)`` of one modality's normalised rows."""
    n = z.shape[0]
    if n < 2:
        return z.new_zeros(())
    sq = z.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)).clamp_min(0.0)
    logits = (-d2 / tau).masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    return torch.logsumexp(logits.reshape(-1), dim=0) - torch.log(torch.tensor(float(n * (n - 1)), dtype=z.dtype))


def dispersion_spectral(z: Tensor) -> Tensor:
    """``sum_k p_k^2`` of the covariance spectrum of ``z`` (``||C||_F^2 / tr(C)^2``, in [1/d, 1])."""
    zc = z - z.mean(0, keepdim=True)
    gram = zc @ zc.T if z.shape[0] <= z.shape[1] else zc.T @ zc  # same non-zero spectrum
    return (gram * gram).sum() / gram.diagonal().sum().pow(2).clamp_min(1e-12)


def anchor_hinge(za: Tensor, zb: Tensor, band: float, squared: bool = False) -> Tensor:
    """Per-node ``max(0, ||za_i - zb_i||^2 - band)`` (squared when ``squared``): zero inside the band."""
    excess = F.relu((za - zb).pow(2).sum(1) - band)
    return excess.pow(2) if squared else excess


@register_regularizer("dagr")
class DAGR(Regularizer):
    """DAGR: intra-modal dispersion plus agreement-band anchoring.

    Both act on the normalised per-modality embeddings of a batch (module docstring: what is the
    paper's and what is ours)."""

    Config = DAGRConfig
    search_space = {
        "disp_weight": SearchDim("choice", choices=(0.05, 0.1, 0.5)),
        "anchor_weight": SearchDim("choice", choices=(0.1, 0.5, 1.0)),
        "band": SearchDim("uniform", 0.1, 1.5),
        "tau_d": SearchDim("choice", choices=(0.1, 0.5)),
    }

    def terms(self, embeddings: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(L_intra, L_inter)`` of a batch."""
        if not embeddings:
            raise InputError("dagr: expected at least one modality embedding, found none")
        c = self.config
        z = {m: F.normalize(h, dim=1) for m, h in embeddings.items()}
        first = next(iter(z.values()))
        if c.disp == "infonce":
            intra = sum(dispersion_infonce(v, c.tau_d) for v in z.values())
        else:
            intra = sum(dispersion_spectral(v) for v in z.values())
        inter = first.new_zeros(())
        pairs = list(itertools.combinations(z, 2))
        if pairs:
            widths = {m: v.shape[1] for m, v in z.items()}
            if len(set(widths.values())) > 1:
                raise InputError(f"dagr: anchoring needs modality embeddings of one width, found {widths}")
            per_node = sum(anchor_hinge(z[a], z[b], c.band, c.hinge == "squared") for a, b in pairs)
            inter = per_node.mean()
        return intra, inter

    def loss(self, embeddings: Mapping[str, Tensor], adj: Adjacency | None = None, index: Tensor | None = None) -> Tensor:
        intra, inter = self.terms(embeddings)
        c = self.config
        self.last = {"intra": float(intra.detach()), "inter": float(inter.detach())}
        return c.disp_weight * intra + c.anchor_weight * inter
