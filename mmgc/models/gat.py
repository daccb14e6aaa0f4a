"""GAT (Velickovic et al. 2018) over the edges of an `Adjacency`, sparse or dense weighted.

Per layer and head: ``e_ij = LeakyReLU_0.2(a_dst . W h_i + a_src . W h_j)`` over the edges ``j -> i``
plus a self loop on every node, ``alpha_ij = softmax_j(e_ij)``, and
``h_i' = sum_j w_ij * alpha_ij * W h_j + b``.

Edge weights: the attention is computed on the edge structure (every non-zero entry), and each
message is then scaled by its edge weight ``w_ij`` (self loops weigh 1), as GCond's weighted
``GATConv`` does. On an unweighted graph this is the plain GAT; on a dense weighted synthetic graph a
weak edge is attended to but contributes in proportion to its weight, and the output is
differentiable w.r.t. the non-zero entries of the adjacency. Which entries count as edges is decided
before the model sees the graph: the evaluation protocol drops synthetic edges below its threshold
(GCond's cross-architecture tester used 0.5 for GAT on Cora/Citeseer; pass that threshold to
`evaluate` to reproduce it).

Hidden layers use ``heads`` heads of ``hidden // heads`` units, concatenated (so the width stays
``hidden``), ELU between layers, dropout on each layer's input and on the attention coefficients;
the output layer has one head. The attention softmax is a plain scatter (no PyG layer: PyG's
``GATConv`` has no scalar edge weights), so the sparse and dense paths share one code path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.errors import InputError
from mmgc.adjacency import Adjacency
from mmgc.models.base import Backbone, register_backbone


def segment_softmax(scores: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """Softmax of ``scores [E, H]`` over the entries that share ``index [E]`` (numerically stable)."""
    expanded = index.unsqueeze(-1).expand_as(scores)
    top = torch.full((num_segments, scores.shape[1]), -float("inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, expanded, scores, reduce="amax", include_self=True)
    exp = (scores - top.gather(0, expanded)).exp()
    total = torch.zeros_like(top).index_add_(0, index, exp)
    return exp / total.gather(0, expanded).clamp_min(1e-16)


class GATLayer(nn.Module):
    def __init__(self, in_dim: int, out_per_head: int, heads: int, concat: bool, dropout: float):
        super().__init__()
        self.heads, self.out, self.concat, self.dropout = heads, out_per_head, concat, dropout
        self.linear = nn.Linear(in_dim, heads * out_per_head, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_per_head))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_per_head))
        self.bias = nn.Parameter(torch.zeros(heads * out_per_head if concat else out_per_head))
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        n = x.shape[0]
        h = self.linear(x).view(n, self.heads, self.out)
        dst, src = edge_index  # messages flow src -> dst (row i aggregates column j, as A @ H)
        scores = (h * self.att_dst).sum(-1)[dst] + (h * self.att_src).sum(-1)[src]
        alpha = segment_softmax(F.leaky_relu(scores, 0.2), dst, n)
        alpha = F.dropout(alpha, self.dropout, self.training)
        messages = h[src] * (alpha * edge_weight.unsqueeze(-1)).unsqueeze(-1)
        out = torch.zeros_like(h).index_add_(0, dst, messages)
        out = out.reshape(n, -1) if self.concat else out.mean(1)
        return out + self.bias


@register_backbone("gat")
class GAT(Backbone):
    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None, heads: int = 8):
        super().__init__(in_dim, hidden, num_classes, layers, dropout, modalities)
        if layers > 1 and hidden % heads:
            raise InputError(f"gat: hidden width {hidden} must be divisible by the {heads} attention heads")
        self.heads = heads
        convs = []
        width = in_dim
        for _ in range(layers - 1):
            convs.append(GATLayer(width, hidden // heads, heads, concat=True, dropout=dropout))
            width = hidden
        convs.append(GATLayer(width, num_classes, 1, concat=False, dropout=dropout))
        self.convs = nn.ModuleList(convs)

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:
        edge_index, edge_weight = adj.edges()
        keep = edge_index[0] != edge_index[1]
        loops = torch.arange(adj.num_nodes, device=x.device)
        edge_index = torch.cat([edge_index[:, keep], torch.stack([loops, loops])], 1)
        edge_weight = torch.cat([edge_weight[keep].to(x.dtype), torch.ones(adj.num_nodes, device=x.device, dtype=x.dtype)])
        h = x
        for i, conv in enumerate(self.convs):
            h = F.dropout(h, self.dropout, self.training)
            h = conv(h, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                h = F.elu(h)
        return h
