"""MMGCN (Wei et al. 2019), adapted to node classification.

MMGCN runs one graph-convolution branch per modality over the same graph and fuses the modality
representations at the end by summing them. Here each modality named in ``modalities`` (its column
range of ``x``) gets its own GCN branch (``layers`` layers, ``hidden`` units, the GCN operator
``D^-1/2 (A + I) D^-1/2``, ReLU and dropout between layers) ending in class scores, and the logits are
the **sum of the per-modality class scores** (MMGCN's sum fusion, applied at the output layer).
MMGCN's learned user/item ID embeddings and its recommendation loss have no counterpart in node
classification and are left out. With one modality this is exactly a GCN.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.models.base import Backbone, register_backbone, sliced_modality_embeddings
from mmgc.models.gcn import GCN


@register_backbone("mmgcn")
class MMGCN(Backbone):
    parameter_batch = True
    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        cursor = 0
        for name, (start, stop) in self.modalities.items():
            if start != cursor or stop <= start:
                raise InputError(f"mmgcn: modality {name!r} range ({start}, {stop}) must start at column {cursor}")
            cursor = stop
        if cursor != in_dim:
            raise InputError(f"mmgcn: the modality ranges cover {cursor} columns but in_dim is {in_dim}")
        self.branches = nn.ModuleDict({
            name: GCN(stop - start, hidden, num_classes, layers, dropout)
            for name, (start, stop) in self.modalities.items()
        })

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        out = None
        for name, branch in self.branches.items():
            start, stop = self.modalities[name]
            logits = branch(x[..., start:stop], adj)
            out = logits if out is None else out + logits
        return out

    def modality_embeddings(self, x: Tensor, adj: Adjacency, index: Tensor | None = None,
                            attach: str = "post_mp") -> dict[str, Tensor]:
        """MMGCN's own per-modality node embeddings (for training-time regularizers): each modality's
        branch after its first graph convolution, ``A_hat x_m W_m^T + b_m`` before the ReLU
        (``attach = "post_mp"``, default), or its first projection ``x_m W_m^T + b_m`` (``"pre_mp"``)."""
        out: dict[str, Tensor] = {}
        for name, branch in self.branches.items():
            start, stop = self.modalities[name]
            first = branch.linears[0]
            h = sliced_modality_embeddings(x[:, start:stop], adj, first.weight, {name: (0, stop - start)}, index, attach)
            out[name] = h[name] + first.bias
        return out
