"""SGC (Wu et al. 2019) as GCond uses it: one linear layer, then K propagations of the GCN operator.

``logits = A_hat^K (X W + b)`` with ``A_hat = D^-1/2 (A + I) D^-1/2`` and ``K = layers``. The linear
map is applied before the propagations (GCond's order, and the cheap one when ``d`` is larger than
the number of classes); with the bias inside, this equals GCond's SGC exactly. There is no hidden
layer and no dropout: ``hidden`` and ``dropout`` are accepted for the common constructor and unused.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmgc.adjacency import Adjacency, propagate
from mmgc.models.base import Backbone, linear, register_backbone


@register_backbone("sgc")
class SGC(Backbone):
    sparse_input = True  # the forward starts with a plain matmul of x, so x may be sparse CSR
    parameter_batch = True

    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        self.linear = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        operator = adj.gcn()
        h = linear(x, self.linear)
        for _ in range(self.num_layers):
            h = propagate(operator, h)
        return h
