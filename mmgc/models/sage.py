"""GraphSAGE (Hamilton et al. 2017) with mean aggregation and a root weight.

Per layer: ``h_i' = W_root h_i + W_neigh * mean_{j in N(i)} (w_ij h_j) + b``, the mean being the
weighted row-normalised adjacency ``D^-1 A`` of `Adjacency.mean` (isolated nodes aggregate zero),
with ReLU and dropout between layers and no output normalisation (PyG's ``SAGEConv`` defaults).
Written with `propagate` rather than PyG's ``SAGEConv`` so that one forward serves the sparse real
graph and the dense weighted synthetic graph and stays differentiable w.r.t. a dense adjacency.
The neighbour projection is applied before aggregation (``D^-1 A (H W)`` = ``(D^-1 A H) W``), which
is cheaper when the layer narrows.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import Adjacency, propagate
from mmgc.models.base import Backbone, linear, register_backbone


@register_backbone("sage")
class GraphSAGE(Backbone):
    sparse_input = True  # the forward starts with a plain matmul of x, so x may be sparse CSR
    parameter_batch = True

    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        widths = [in_dim] + [hidden] * (layers - 1) + [num_classes]
        self.roots = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.neighs = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        operator = adj.mean()
        h = x
        for i, (root, neigh) in enumerate(zip(self.roots, self.neighs)):
            h = linear(h, root) + propagate(operator, linear(h, neigh))
            if i < len(self.roots) - 1:
                h = F.dropout(F.relu(h), self.dropout, self.training)
        return h
