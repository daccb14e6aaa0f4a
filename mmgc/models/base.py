"""The backbone interface and its registry.

Every backbone takes the same constructor arguments and one forward, ``model(x, adj) -> logits``,
where ``adj`` is an `Adjacency` (sparse real graph or dense weighted synthetic graph).
"""

from __future__ import annotations

import importlib
from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import Adjacency, propagate
from mmgc.errors import InputError

# name -> module that registers it on import (so listing backbones imports nothing heavy)
_BUILTIN_BACKBONES = {
    "gcn": "mmgc.models.gcn",
    "sgc": "mmgc.models.sgc",
    "sage": "mmgc.models.sage",
    "gat": "mmgc.models.gat",
    "gatv2": "mmgc.models.gatv2",
    "mlp": "mmgc.models.mlp",
    "mmgcn": "mmgc.models.mmgcn",
}
_REGISTRY: dict[str, type["Backbone"]] = {}


class Backbone(nn.Module):
    """A node classifier over features and an `Adjacency`.

    Args:
        in_dim: input feature width.
        hidden: hidden width.
        num_classes: output width.
        layers: number of message-passing (or linear) layers.
        dropout: dropout probability between layers.
        modalities: the modality layout ``name -> (start, stop)`` of the input columns; multimodal
            backbones (MMGCN) and regularizers read it.
    """

    name: str = ""
    parameter_batch: bool = False
    """The forward also runs with a leading batch dimension on every parameter (B copies, through
    `torch.func.functional_call`), on a batch of B graphs of m nodes given as one disjoint edge list
    (`Adjacency` over B * m nodes) and features ``[B, m, d]`` or shared ``[m, d]``: logits ``[B, m,
    C]``, graph b's from copy b. Its layers go through `linear` and `propagate`, which take both. The
    gradient-matching engine then gets every class's real gradient from one forward and backward;
    other backbones take its per-class loop."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__()
        if layers < 1:
            raise InputError(f"backbone layers: expected >= 1, found {layers}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"backbone dropout: expected a probability in [0, 1), found {dropout}")
        self.in_dim, self.hidden, self.num_classes = in_dim, hidden, num_classes
        self.num_layers, self.dropout = layers, dropout
        self.modalities = dict(modalities) if modalities else {"features": (0, in_dim)}

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------- per-modality embeddings
    def modality_embeddings(self, x: Tensor, adj: Adjacency, index: Tensor | None = None,
                            attach: str = "post_mp") -> dict[str, Tensor]:
        """Per-modality node embeddings (what training-time regularizers such as OptiMAG and DAGR read).

        Default, for single-stream backbones (GCN, SGC, SAGE, GAT, MLP): the modality slices of the
        input after the first layer's projection. With ``W`` the first 2-D weight of the module whose
        width is ``in_dim`` (registration order: for GCN, SGC and MLP the first linear layer, for SAGE
        the root (self) linear of the first layer, for GAT the first layer's shared linear of all
        heads), modality ``m`` with columns ``[a, b)`` gives
        ``h_m = x[:, a:b] @ W[:, a:b].T``, so ``sum_m h_m`` is the first layer's pre-activation and
        gradients reach ``W`` through each modality's own columns. No new parameters are added.
        ``attach = "pre_mp"`` returns these projections; ``"post_mp"`` (default) propagates them once
        with the GCN operator ``D^-1/2 (A + I) D^-1/2`` of ``adj`` (whatever the backbone's own
        aggregation), i.e. the modality's share of the first graph convolution. Backbones with
        per-modality branches (MMGCN) override this with their branches' own embeddings.

        Args:
            x: ``[N, d]`` features of the graph ``adj``.
            adj: the graph the model trains on.
            index: the nodes to embed (None: every node). Only the rows (and, after message
                passing, the neighbours) needed are computed.
            attach: ``post_mp`` or ``pre_mp``.
        Returns:
            modality name -> ``[len(index) or N, width]``, one entry per modality of the layout.
        """
        weight = first_input_weight(self, self.in_dim)
        return sliced_modality_embeddings(x, adj, weight, self.modalities, index, attach)


def linear(h: Tensor, layer: nn.Linear) -> Tensor:
    """``h W^T + b`` of ``layer``; with a leading batch dimension on its parameters (see
    `Backbone.parameter_batch`), each batch entry's rows by that entry's copy (``h`` ``[B, m, in]``, or
    ``[m, in]`` shared by the batch)."""
    weight = layer.weight
    if weight.dim() == 2:
        return F.linear(h, weight, layer.bias)
    out = project(h, weight)
    return out if layer.bias is None else out + layer.bias.unsqueeze(-2)


def project(h: Tensor, weight: Tensor) -> Tensor:
    """``h W^T``; for a batch of weight copies ``[B, out, in]`` and features shared by the batch
    (``h`` ``[m, in]``), one product with all copies side by side (``[m, B * out]``), not B thin ones."""
    if weight.dim() == 2 or h.dim() > 2:
        return h @ weight.mT
    batch, out_dim, in_dim = weight.shape
    return (h @ weight.reshape(batch * out_dim, in_dim).T).reshape(h.shape[0], batch, out_dim).transpose(0, 1)


def first_input_weight(module: nn.Module, in_dim: int) -> Tensor:
    """The first 2-D parameter of ``module`` (registration order) with ``in_dim`` columns."""
    for name, param in module.named_parameters():
        if param.dim() == 2 and param.shape[1] == in_dim:
            return param
    raise InputError(f"{type(module).__name__}: found no input projection of width {in_dim} "
                     "for per-modality embeddings; override modality_embeddings")


def sliced_modality_embeddings(x: Tensor, adj: Adjacency, weight: Tensor, modalities: dict[str, tuple[int, int]],
                               index: Tensor | None = None, attach: str = "post_mp") -> dict[str, Tensor]:
    """``{m: x[:, a:b] @ weight[:, a:b].T}`` for the rows ``index``, propagated once with the GCN
    operator when ``attach == "post_mp"`` (sparse graphs: only the rows of the batch and the
    projections of their neighbours are computed)."""
    import torch


    if attach not in ("post_mp", "pre_mp"):
        raise InputError(f"attach: expected 'post_mp' or 'pre_mp', found {attach!r}")
    out: dict[str, Tensor] = {}
    if attach == "pre_mp":
        rows = x if index is None else x[index]
        for m, (a, b) in modalities.items():
            out[m] = rows[:, a:b] @ weight[:, a:b].T
        return out
    operator = adj.gcn()
    if index is None or operator.layout == torch.strided:
        sub = operator if index is None else operator[..., index, :]
        for m, (a, b) in modalities.items():
            h = propagate(sub, x[:, a:b] @ weight[:, a:b].T)
            out[m] = h.mean(0) if h.dim() == 3 else h  # a batch of B graphs: their mean propagation
        return out
    # sparse CSR: gather the batch's rows, project only their neighbours
    crow, col, val = operator.crow_indices(), operator.col_indices(), operator.values()
    starts, counts = crow[index], crow[index + 1] - crow[index]
    rows = torch.repeat_interleave(torch.arange(index.numel(), device=index.device), counts)
    offsets = torch.arange(int(counts.sum()), device=index.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts)
    pos = starts[rows] + offsets
    cols, vals = col[pos], val[pos]
    needed, inverse = torch.unique(cols, return_inverse=True)
    xs = x[needed]
    for m, (a, b) in modalities.items():
        h = xs[:, a:b] @ weight[:, a:b].T
        out[m] = torch.zeros(index.numel(), h.shape[1], dtype=h.dtype, device=h.device).index_add_(
            0, rows, vals[:, None].to(h.dtype) * h[inverse])
    return out


def register_backbone(name: str) -> Callable[[type[Backbone]], type[Backbone]]:
    def decorate(cls: type[Backbone]) -> type[Backbone]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_backbones() -> list[str]:
    return sorted(set(_BUILTIN_BACKBONES) | set(_REGISTRY))


def get_backbone(name: str) -> type[Backbone]:
    if name not in _REGISTRY and name in _BUILTIN_BACKBONES:
        importlib.import_module(_BUILTIN_BACKBONES[name])
    if name not in _REGISTRY:
        raise InputError(f"unknown backbone {name!r}; expected one of {list_backbones()}")
    return _REGISTRY[name]


def build_backbone(name: str, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                   modalities: dict[str, tuple[int, int]] | None = None) -> Backbone:
    return get_backbone(name)(in_dim, hidden, num_classes, layers=layers, dropout=dropout, modalities=modalities)
