"""Graph operands below backbones, regularizers and methods alike.

`Adjacency` is the one graph operand of every backbone: a large sparse real graph or a small dense
weighted one. Backbones call `Adjacency.gcn()` / `Adjacency.mean()` and `propagate`, so one forward
serves both kinds of graph. The sparse operators are computed once and cached; the dense ones are
recomputed on each call so that gradients flow into a learned synthetic adjacency.

`CSR` is the neighbour-list index the neighbour samplers share (the training loop's mini-batches,
the gradient-matching engine's per-class sampler, the regularizers' batches); each sampler keeps
its own drawing rule on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(eq=False)
class Adjacency:
    """Either ``dense`` (an ``[n, n]`` weighted adjacency, zero diagonal) or ``edge_index``
    (``[2, E]``, undirected, no self loops) with optional ``edge_weight`` and ``num_nodes``.

    ``dense`` may also be a batch ``[B, n, n]`` of graphs over the same ``n`` nodes (MSGC's multiple
    sparse graphs): `gcn` / `mean` then normalise each graph on its own and `propagate` returns
    ``[B, n, k]``, so a backbone runs on all B graphs in one batched pass."""

    num_nodes: int
    edge_index: Tensor | None = None
    edge_weight: Tensor | None = None
    dense: Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_edge_index(cls, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None) -> "Adjacency":
        return cls(num_nodes=num_nodes, edge_index=edge_index, edge_weight=edge_weight)

    @classmethod
    def from_dense(cls, adj: Tensor) -> "Adjacency":
        return cls(num_nodes=int(adj.shape[-1]), dense=adj)

    @classmethod
    def empty(cls, num_nodes: int, device: torch.device | str = "cpu") -> "Adjacency":
        return cls(num_nodes=num_nodes, edge_index=torch.empty(2, 0, dtype=torch.long, device=device))

    @property
    def is_dense(self) -> bool:
        return self.dense is not None

    @property
    def is_batched(self) -> bool:
        """True for a dense batch ``[B, n, n]`` of graphs."""
        return self.dense is not None and self.dense.dim() == 3

    @property
    def device(self) -> torch.device:
        return (self.dense if self.is_dense else self.edge_index).device

    def _weights(self) -> Tensor:
        if self.edge_weight is not None:
            return self.edge_weight.float()
        return torch.ones(self.edge_index.shape[1], device=self.edge_index.device)

    def gcn(self) -> Tensor:
        """``D^-1/2 (A + I) D^-1/2`` (Kipf & Welling), dense or sparse CSR."""
        if self.is_dense:
            a = self.dense + torch.eye(self.num_nodes, device=self.dense.device, dtype=self.dense.dtype)
            d = a.sum(-1).clamp_min(1e-12).pow(-0.5)
            return d[..., :, None] * a * d[..., None, :]
        if "gcn" not in self._cache:
            n = self.num_nodes
            loops = torch.arange(n, device=self.edge_index.device)
            row = torch.cat([self.edge_index[0], loops])
            col = torch.cat([self.edge_index[1], loops])
            w = torch.cat([self._weights(), torch.ones(n, device=loops.device)])
            deg = torch.zeros(n, device=w.device).index_add_(0, row, w)
            d = deg.pow(-0.5)
            self._cache["gcn"] = _csr(row, col, d[row] * w * d[col], n)
        return self._cache["gcn"]

    def mean(self) -> Tensor:
        """``D^-1 A`` (row-normalised, no self loops; isolated nodes aggregate zero), for GraphSAGE."""
        if self.is_dense:
            return self.dense / self.dense.sum(-1, keepdim=True).clamp_min(1e-12)
        if "mean" not in self._cache:
            n = self.num_nodes
            row, col = self.edge_index
            w = self._weights()
            deg = torch.zeros(n, device=w.device).index_add_(0, row, w).clamp_min(1e-12)
            self._cache["mean"] = _csr(row, col, w / deg[row], n)
        return self._cache["mean"]

    def edges(self) -> tuple[Tensor, Tensor]:
        """``(edge_index, edge_weight)`` of the non-zero entries, for edge-wise layers such as GAT."""
        if self.is_batched:
            raise ValueError("Adjacency.edges(): a batch of dense graphs has no single edge list")
        if self.is_dense:
            index = (self.dense != 0).nonzero().T
            return index, self.dense[index[0], index[1]]
        return self.edge_index, self._weights()

    def to(self, device: torch.device | str) -> "Adjacency":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Adjacency(self.num_nodes, move(self.edge_index), move(self.edge_weight), move(self.dense))


def _csr(row: Tensor, col: Tensor, value: Tensor, n: int) -> Tensor:
    import warnings

    with warnings.catch_warnings():  # torch's "sparse CSR is beta" / "invariant checks" notices, once per graph
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return torch.sparse_coo_tensor(torch.stack([row, col]), value, (n, n)).coalesce().to_sparse_csr()


def propagate(operator: Tensor, h: Tensor) -> Tensor:
    """``operator @ h`` for a dense (``[n, n]`` or batched ``[B, n, n]``) or sparse operator."""
    if operator.layout == torch.strided:
        return operator @ h
    return torch.sparse.mm(operator, h)


@dataclass(frozen=True)
class CSR:
    """A graph's neighbour lists in compressed sparse row form.

    The edges are sorted by ``(row, col)``: ``col[rowptr[i]:rowptr[i + 1]]`` are the neighbours of
    node ``i`` in ascending order, and ``order`` gives each sorted edge's position in the input (to
    carry edge attributes along). Tensors live on the device of the input edges.
    """

    rowptr: Tensor
    col: Tensor
    order: Tensor

    @classmethod
    def from_edges(cls, row: Tensor, col: Tensor, num_nodes: int) -> "CSR":
        order = torch.argsort(row * num_nodes + col)
        rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
        rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=num_nodes), 0)
        return cls(rowptr=rowptr, col=col[order], order=order)

    def degree(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """``(start, degree)`` of each of ``nodes``: where its neighbour list begins and its length."""
        start = self.rowptr[nodes]
        return start, self.rowptr[nodes + 1] - start

    def edges_of(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """Every edge of ``nodes``, node by node: ``(segment, position)``, the index into ``nodes`` of
        the edge's source and the edge's position in ``col`` (no Python loop over nodes)."""
        start, deg = self.degree(nodes)
        segment = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), deg)
        first = torch.cumsum(deg, 0) - deg
        offset = torch.arange(segment.numel(), device=nodes.device) - first[segment]
        return segment, start[segment] + offset
