"""Per-node modality gradients: conflict detection, PCGrad-style decoupling, Dirichlet energy, diagnostics.

These are the building blocks of SR-GM (decoupling, equations 10-11; damping, equation 12 of the
paper) and of the diagnostics every gradient-matching method records (conflict fraction, gradient
cosine between modalities, Dirichlet energy of the feature-gradient field, intra-modal similarity of
the synthetic features). They read the modality layout of the graph; nothing assumes two halves.

Inner products between modality gradients need the modalities to share coordinates, so they are
only defined for layouts whose modalities all have the same width; `check_pairable` says so in one
line otherwise. With one modality there is no pair: the projection is the identity.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from mmgc.errors import InputError

Layout = Mapping[str, tuple[int, int]]


def pairable(layout: Layout) -> bool:
    """Whether every modality has the same width (so per-node inner products are defined)."""
    return len({stop - start for start, stop in layout.values()}) <= 1


def check_pairable(layout: Layout, where: str = "modalities") -> None:
    """Raise unless every modality has the same width (per-node inner products need shared coordinates)."""
    widths = {name: stop - start for name, (start, stop) in layout.items()}
    if len(set(widths.values())) > 1:
        raise InputError(
            f"{where}: per-node modality gradients are compared by inner product, which needs modalities of "
            f"equal width; found {widths} (set decouple=false, or use features with equal modality widths)"
        )


def _stack(g: Tensor, layout: Layout) -> Tensor:
    """``[n, d]`` -> ``[n, M, w]`` (the layout is contiguous and in column order, so this is a reshape)."""
    spans = list(layout.values())
    width = spans[0][1] - spans[0][0]
    if spans[0][0] != 0 or spans[-1][1] != g.shape[-1]:
        raise InputError(f"modalities: the layout {dict(layout)} does not cover the {g.shape[-1]} gradient columns")
    return g.reshape(g.shape[0], len(spans), width)


def pair_products(g: Tensor, layout: Layout) -> Tensor:
    """``[n, M, M]`` inner products between the modality blocks of each row of ``g``."""
    parts = _stack(g, layout)
    return torch.einsum("nmw,nkw->nmk", parts, parts)


def project_conflicts(g: Tensor, layout: Layout) -> tuple[Tensor, Tensor]:
    """Decouple conflicting modality gradients row by row (PCGrad; the paper's equations 10-11).

    For each row (node) and each ordered pair of modalities (m, k) with ``<g_m, g_k> < 0``, ``g_m``
    loses its component along ``g_k``: ``g'_m = g_m - sum_k <g_m, g_k> / |g_k|^2 g_k``. Every
    projection is computed from the *original* pair (not sequentially), so with two modalities
    this is exactly equations 10 and 11. Pairs without conflict, and rows with a zero-norm block
    (whose inner products are 0, hence no conflict), are left unchanged; no NaN can arise, in the
    value or in its gradient. Differentiable (the conflict mask itself is not).

    Returns:
        ``(g', conflict)`` with ``g'`` shaped like ``g`` and ``conflict`` a bool ``[n]`` (some pair
        of the row has a negative inner product).
    """
    if len(layout) < 2:
        return g, torch.zeros(g.shape[0], dtype=torch.bool, device=g.device)
    parts = _stack(g, layout)
    dots = torch.einsum("nmw,nkw->nmk", parts, parts)
    norm2 = torch.diagonal(dots, dim1=1, dim2=2)  # [n, M]
    conflict = dots < 0  # the diagonal is >= 0, so only distinct pairs can conflict
    safe = torch.where(norm2 > 0, norm2, torch.ones_like(norm2))
    coef = torch.where(conflict, dots / safe[:, None, :], torch.zeros_like(dots))
    projected = parts - torch.einsum("nmk,nkw->nmw", coef, parts)
    return projected.reshape_as(g), conflict.flatten(1).any(1)


def decoupled_sum(vectors: list[Tensor]) -> Tensor:
    """The sum of ``vectors`` (gradients of equal shape ``[..., P]``, one per modality) after PCGrad:
    where two have a negative inner product each loses its component along the other, both from the
    original pair (`project_conflicts`, one row per leading index); without conflict, the plain sum."""
    stacked = torch.stack(vectors, -2)  # [..., M, P]
    width = stacked.shape[-1]
    layout = {str(m): (m * width, (m + 1) * width) for m in range(len(vectors))}
    projected = project_conflicts(stacked.reshape(-1, len(vectors) * width), layout)[0]
    return projected.reshape(stacked.shape).sum(-2)


LAPLACIANS = ("unnormalized", "normalized", "normalized_self_loops")
"""The Laplacians `laplacian_quadratic` knows (SR-GM's ``laplacian`` option)."""


def laplacian_quadratic(g: Tensor, adj: Tensor, kind: str = "unnormalized") -> Tensor:
    """``tr(G^T L G)`` for a Laplacian of the dense weighted adjacency ``adj`` (symmetric, zero diagonal).

    ``kind``:

    - ``unnormalized``: ``L = D - A``, which equals ``1/2 sum_ij A_ij |g_i - g_j|^2`` (the sum over
      undirected edges of the paper's equation 12);
    - ``normalized``: ``L = D^-1/2 (D - A) D^-1/2`` (as GCond's feature-smoothness term; isolated
      nodes contribute 0);
    - ``normalized_self_loops``: ``L = I - D^-1/2 (A + I) D^-1/2`` with ``D = rowsum(A + I)`` (the SR-GM
      authors' ``get_laplacian``): 0 for an empty graph, so an empty synthetic graph minimises it.

    Differentiable in ``g`` and ``adj``.
    """
    if kind not in LAPLACIANS:
        raise InputError(f"laplacian: expected one of {list(LAPLACIANS)}, found {kind!r}")
    deg = adj.sum(1)
    if kind == "normalized_self_loops":
        gs = g * (deg + 1).rsqrt()[:, None]
        return (g * g).sum() - ((adj @ gs) * gs).sum() - (gs * gs).sum()
    if kind == "normalized":
        inv_sqrt = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(), torch.zeros_like(deg))
        gs = g * inv_sqrt[:, None]
        return ((deg > 0).to(g.dtype) * (g * g).sum(1)).sum() - ((adj @ gs) * gs).sum()
    return (deg * (g * g).sum(1)).sum() - ((adj @ g) * g).sum()


def modality_gradient_stats(g: Tensor, layout: Layout) -> dict[str, float]:
    """Fraction of rows with a conflicting modality pair and the mean cosine over rows and pairs
    (NaN where undefined: one modality, or modalities of different widths)."""
    if len(layout) < 2:
        return {"conflict_frac": 0.0, "grad_cos": float("nan")}
    if not pairable(layout):
        return {"conflict_frac": float("nan"), "grad_cos": float("nan")}
    dots = pair_products(g.detach(), layout)
    norm = torch.diagonal(dots, dim1=1, dim2=2).clamp_min(0).sqrt()
    m = dots.shape[1]
    iu = torch.triu_indices(m, m, offset=1, device=g.device)
    pair_dots = dots[:, iu[0], iu[1]]
    denom = norm[:, iu[0]] * norm[:, iu[1]]
    cos = torch.where(denom > 0, pair_dots / denom.clamp_min(1e-30), torch.zeros_like(pair_dots))
    return {
        "conflict_frac": float((pair_dots < 0).any(1).float().mean()),
        "grad_cos": float(cos.mean()),
    }


def node_conflicts(model: torch.nn.Module, x: Tensor, operand, y: Tensor, index: Tensor, layout: Layout) -> Tensor:
    """Bool ``[n]``: which rows of ``G = dL/dx`` (``L`` the mean cross-entropy of ``model`` on the
    nodes ``index``, labels ``y[index]``) have a conflicting modality pair. Rows other than ``index``
    get gradient through message passing only. The measurement behind "conflicts concentrate on the
    permuted classes" (`mmgc.datasets.synthetic` ``conflict_map``)."""
    check_pairable(layout, where="node_conflicts: modalities")
    x = x.detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x, operand)[index], y[index])
    (g,) = torch.autograd.grad(loss, x)
    return project_conflicts(g, layout)[1]


def intra_modal_similarity(x: Tensor, layout: Layout) -> dict[str, float]:
    """Mean pairwise cosine similarity between distinct synthetic nodes within each modality.

    A value climbing towards 1 means the synthetic nodes collapse onto one direction in that
    modality (the paper's modality-collapse signal). Keys ``intra_sim/<modality>`` and ``intra_sim``
    (their mean).
    """
    x = x.detach()
    n = x.shape[0]
    out: dict[str, float] = {}
    if n < 2:
        return out
    for name, (a, b) in layout.items():
        part = torch.nn.functional.normalize(x[:, a:b], dim=1)
        total = (part.sum(0) ** 2).sum() - (part * part).sum()
        out[f"intra_sim/{name}"] = float(total / (n * (n - 1)))
    out["intra_sim"] = sum(out.values()) / len(layout)
    return out
