"""GCN (Kipf & Welling 2017) as GCond uses it: ``A_hat (H W) + b`` per layer."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import Adjacency, propagate
from mmgc.models.base import Backbone, project, register_backbone


@register_backbone("gcn")
class GCN(Backbone):
    sparse_input = True  # the forward starts with a plain matmul of x, so x may be sparse CSR
    parameter_batch = True

    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        widths = [in_dim] + [hidden] * (layers - 1) + [num_classes]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        operator = adj.gcn()
        h = x
        for i, linear in enumerate(self.linears):
            h = propagate(operator, project(h, linear.weight)) + linear.bias.unsqueeze(-2)
            if i < len(self.linears) - 1:
                h = F.dropout(F.relu(h), self.dropout, self.training)
        return h
