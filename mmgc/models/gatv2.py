"""GATv2 with the edge weight as an edge attribute (PyG ``GATv2Conv(edge_dim=1)``): the SR-GM
authors' cross-architecture GAT (``models/gat.py`` of their code).

Unlike the weighted `mmgc.models.gat` (GCond's: attention on the edge structure, each message then
scaled by its weight), here the scalar weight enters the attention logits additively through a
learned projection, ``e_ij = a . LeakyReLU(W [h_i ; h_j] + W_e w_ij)``, so a weak edge can still be
attended to fully. Self loops are added by the layer, with the mean incoming weight as their
attribute (PyG's ``fill_value='mean'``). Hidden layers use ``heads`` concatenated heads of
``hidden // heads`` units, ELU between layers, dropout on each layer's input and on the attention;
the output layer has one head. PyTorch Geometric is imported when the backbone is built.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.errors import InputError
from mmgc.adjacency import Adjacency
from mmgc.models.base import Backbone, register_backbone


@register_backbone("gatv2")
class GATv2(Backbone):
    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None, heads: int = 8):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        from torch_geometric.nn import GATv2Conv

        if layers > 1 and hidden % heads:
            raise InputError(f"gatv2: hidden width {hidden} must be divisible by the {heads} attention heads")
        convs, width = [], in_dim
        for _ in range(layers - 1):
            convs.append(GATv2Conv(width, hidden // heads, heads=heads, concat=True, dropout=dropout, edge_dim=1))
            width = hidden
        convs.append(GATv2Conv(width, num_classes, heads=1, concat=False, dropout=dropout, edge_dim=1))
        self.convs = nn.ModuleList(convs)

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        edge_index, edge_weight = adj.edges()
        keep = edge_index[0] != edge_index[1]  # the layer adds its own self loops
        # messages flow src -> dst with row i aggregating column j (as A @ H): PyG wants [src; dst]
        edge_index = edge_index[:, keep].flip(0)
        edge_attr = edge_weight[keep].to(x.dtype).unsqueeze(-1)
        h = x
        for i, conv in enumerate(self.convs):
            h = F.dropout(h, self.dropout, self.training)
            h = conv(h, edge_index, edge_attr=edge_attr)
            if i < len(self.convs) - 1:
                h = F.elu(h)
        return h
