"""MSGC's parts (Gao & Wu, "Multiple sparse graphs condensation", KBS 2023): the fixed support of the
B synthetic graphs ("basic neighbourhood patterns") and the edge-weight network on that support.

Support. The official code (``graphsyn.py``, ``reset_adj_batch``) walks the nodes one by one and, for
every class, links the node to the least-linked node of that class (random tie-break) unless it
already has two links there: a Python triple loop, O(B n C) steps. Here the same pattern is built
with tensor operations only, one class *pair* at a time in closed form and all pairs and all B graphs
at once:

* same class ``c`` with ``p`` nodes: a random cycle over the class (each node has exactly two
  neighbours of its own class; one edge when ``p = 2``, none when ``p = 1``);
* classes ``a != b`` with ``p`` and ``q`` nodes: ``m = min(2 min(p, q), p q)`` edges, edge ``k``
  joining the ``(k mod p)``-th node of a random order of class ``a`` with the
  ``((k + k // lcm(p, q)) mod q)``-th node of a random order of class ``b``. Round robin over both
  classes gives every node ``floor`` or ``ceil`` of ``m / p`` (resp. ``m / q``) links into the other
  class: never more than two, balanced to within one (the least-linked rule of the official code),
  and no pair repeats (the ``k // lcm`` shift only acts when ``p == q``, where it starts the second
  round one position further on).

The random orders are the random tie-breaks: each of the B graphs gets its own, so the B graphs are
wired differently. Where one class has fewer than half the nodes of another, the cap of two wins over
"every node sees every class": some nodes of the larger class then have no link into the smaller one
(the official code instead lets the smaller class's nodes exceed two links).

Edge weights. ``sigmoid(MLP([x_i ; x_j]))`` on the support only (both directions of each support edge,
as the official code), symmetrised as ``(W + W^T) / 2``. The raw weights (zero diagonal, no self
loops) are what this module returns and what MSGC stores; self loops and the symmetric
normalisation are added in exactly one place, `Adjacency.gcn()`, when a backbone consumes them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _pair_table(counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For every unordered class pair ``a <= b``: ``(a, b, number of support edges)``."""
    c = counts.numel()
    a, b = torch.triu_indices(c, c, offset=0, device=counts.device)
    p, q = counts[a], counts[b]
    cross = torch.minimum(2 * torch.minimum(p, q), p * q)
    # within a class: a cycle (p >= 3), one edge (p == 2), nothing (p == 1)
    within = torch.where(p >= 3, p, torch.where(p == 2, torch.ones_like(p), torch.zeros_like(p)))
    m = torch.where(a == b, within, cross)
    return a, b, m


def basic_neighbourhood_support(y: Tensor, num_graphs: int, generator: torch.Generator | None = None) -> Tensor:
    """The support of ``num_graphs`` synthetic graphs over nodes labelled ``y`` (any order of labels).

    Returns:
        ``[B, 2, E]`` int64: for each graph the ``E`` undirected support edges ``(i, j)``, ``i != j``,
        each listed once. Every graph has the same number of edges ``E`` (it depends only on the class
        sizes); which nodes they join differs between graphs.
    """
    if y.dim() != 1 or y.numel() == 0:
        raise ValueError(f"MSGC support: expected a non-empty label vector, found shape {tuple(y.shape)}")
    if num_graphs < 1:
        raise ValueError(f"MSGC support: expected at least one graph, found {num_graphs}")
    device = y.device
    y = y.long()
    num_classes = int(y.max()) + 1
    counts = torch.bincount(y, minlength=num_classes)
    # nodes sorted by class: order[starts[c] : starts[c] + counts[c]] are the nodes of class c
    order = torch.argsort(y, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    n = y.numel()

    # one random order of each class per graph: sort the class-sorted positions by (class, random key)
    key = torch.rand(num_graphs, n, generator=generator, device="cpu").to(device)
    sorted_y = y[order]
    within_class = torch.argsort(sorted_y.double()[None, :] * 2.0 + key.double(), dim=1)  # [B, n] positions
    shuffled = order[within_class]  # [B, n]: a random order of the nodes of each class, class blocks kept

    a, b, m = _pair_table(counts)
    keep = m > 0
    a, b, m = a[keep], b[keep], m[keep]
    total = int(m.sum())
    if total == 0:
        return torch.empty(num_graphs, 2, 0, dtype=torch.long, device=device)
    pair = torch.repeat_interleave(torch.arange(m.numel(), device=device), m)  # [E] which pair
    first = torch.cumsum(m, 0) - m
    k = torch.arange(total, device=device) - first[pair]  # index of the edge within its pair
    p, q = counts[a][pair], counts[b][pair]
    same = a[pair] == b[pair]
    lcm = torch.lcm(p, q)
    u = k % p
    v = torch.where(same, (k + 1) % q, (k + k // lcm) % q)
    pos_u = starts[a][pair] + u
    pos_v = starts[b][pair] + v
    return torch.stack([shuffled[:, pos_u], shuffled[:, pos_v]], dim=1)  # [B, 2, E]


def per_class_link_counts(support: Tensor, y: Tensor, num_classes: int | None = None) -> Tensor:
    """``[B, n, C]``: for each graph, node and class, the number of support neighbours of that class."""
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    bsz, _, e = support.shape
    n = y.numel()
    out = torch.zeros(bsz, n, num_classes, dtype=torch.long, device=support.device)
    graph = torch.arange(bsz, device=support.device).repeat_interleave(e)
    i, j = support[:, 0].reshape(-1), support[:, 1].reshape(-1)
    ones = torch.ones_like(i)
    out.index_put_((graph, i, y[j]), ones, accumulate=True)
    out.index_put_((graph, j, y[i]), ones, accumulate=True)
    return out


class SupportEdgeMLP(nn.Module):
    """``sigmoid(MLP([x_i ; x_j]))`` on the support edges of B graphs, as a dense ``[B, n, n]`` batch.

    The MLP is the official one: Linear(2d, h)-BN-ReLU-Linear(h, h)-BN-ReLU-Linear(h, 1), its
    BatchNorm always on the statistics of the current batch of edges (the official module never
    leaves training mode; no running statistics here). The official code feeds the MLP one row per
    (graph, edge, direction), so its BatchNorm statistics are over that multiset of ordered pairs.
    Here each distinct ordered pair is computed once (the B supports overlap a lot) and the BatchNorm
    statistics are weighted by each pair's multiplicity: the same function, exactly, at a fraction of
    the cost. The first layer is applied as ``W_a x_i + W_b x_j`` (two ``[n, h]`` products gathered
    per pair) instead of on the concatenated ``[E, 2d]`` pairs.
    """

    def __init__(self, in_dim: int, hidden: int = 128, eps: float = 1e-5):
        super().__init__()
        self.in_dim, self.eps = in_dim, eps
        self.first = nn.Linear(2 * in_dim, hidden)
        self.bn1 = nn.BatchNorm1d(hidden, eps=eps, track_running_stats=False)
        self.second = nn.Linear(hidden, hidden)
        self.bn2 = nn.BatchNorm1d(hidden, eps=eps, track_running_stats=False)
        self.last = nn.Linear(hidden, 1)

    def _bn(self, bn: nn.BatchNorm1d, h: Tensor, mult: Tensor | None) -> Tensor:
        if mult is None:
            return bn(h)
        w = mult / mult.sum()
        centred = h - w @ h
        var = w @ centred.square()  # biased, as BatchNorm normalises in training mode
        return torch.addcmul(bn.bias, centred, torch.rsqrt(var + self.eps) * bn.weight)

    def edge_weights(self, x: Tensor, i: Tensor, j: Tensor, mult: Tensor | None = None) -> Tensor:
        """``sigmoid(MLP([x_i ; x_j]))`` for the ordered pairs ``(i[k], j[k])``, BatchNorm over the
        batch of pairs, each pair counted ``mult[k]`` times (default once)."""
        w_a, w_b = self.first.weight[:, : self.in_dim], self.first.weight[:, self.in_dim:]
        h = (x @ w_a.T)[i] + (x @ w_b.T)[j] + self.first.bias
        h = torch.relu(self._bn(self.bn1, h, mult))
        h = torch.relu(self._bn(self.bn2, self.second(h), mult))
        return torch.sigmoid(self.last(h)).squeeze(-1)

    def forward(self, x: Tensor, support: Tensor) -> Tensor:
        """Raw symmetric weights ``[B, n, n]`` (zero diagonal, zero off the support)."""
        bsz, _, e = support.shape
        n = x.shape[0]
        i, j = support[:, 0].reshape(-1), support[:, 1].reshape(-1)
        src, dst = torch.cat([i, j]), torch.cat([j, i])  # both directions of every support edge
        pairs, inverse, mult = torch.unique(src * n + dst, return_inverse=True, return_counts=True)
        w = self.edge_weights(x, pairs // n, pairs % n, mult.to(x.dtype))[inverse]
        graph = torch.arange(bsz, device=x.device).repeat_interleave(e).repeat(2)
        adj = x.new_zeros(bsz, n, n).index_put((graph, src, dst), w)
        return (adj + adj.transpose(1, 2)) / 2


def support_edge_count(counts: Tensor) -> int:
    """Edges per graph for class sizes ``counts`` (for documentation and tests)."""
    return int(_pair_table(counts)[2].sum())

