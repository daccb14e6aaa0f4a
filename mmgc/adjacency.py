"""Graph operands below backbones, regularizers and methods alike.

`Adjacency` is the one graph operand of every backbone: a large sparse real graph or a small dense
weighted one. Backbones call `Adjacency.gcn()` / `Adjacency.mean()` and `propagate`, so one forward
serves both kinds of graph. The sparse operators are computed once and cached; the dense ones are
recomputed on each call so that gradients flow into a learned synthetic adjacency.

An edge list can also be propagated by its own operator (``gather_scatter``: `GatherScatter`, a CSR
product when the edges are sorted by row, with self loops kept apart as a diagonal and a symmetric
operator's backward reusing the same product) instead of a cached sparse matrix: built anew on every
call, differentiable to any order, and for a batch of graphs given as one disjoint edge list it
takes a batch of features (the gradient-matching engine's per-class real gradients run every class's
subgraph this way at once).

`CSR` is the neighbour-list index the neighbour samplers share (the training loop's mini-batches,
the gradient-matching engine's per-class sampler, the regularizers' batches); each sampler keeps
its own drawing rule on top of it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor


class EdgeOperator(NamedTuple):
    """A normalised sparse operator as an edge list: ``out[row] += weight * h[col]``, plus
    ``diagonal * h`` (the self loops) when given. ``symmetric``: the operator equals its transpose
    (an undirected graph's GCN operator), so its backward pass reuses the edge list as it is."""

    row: Tensor
    col: Tensor
    weight: Tensor
    num_nodes: int
    diagonal: Tensor | None = None
    symmetric: bool = False


@dataclass(eq=False)
class Adjacency:
    """Either ``dense`` (an ``[n, n]`` weighted adjacency, zero diagonal) or ``edge_index``
    (``[2, E]``, undirected, no self loops) with optional ``edge_weight`` and ``num_nodes``.

    ``dense`` may also be a batch ``[B, n, n]`` of graphs over the same ``n`` nodes (MSGC's multiple
    sparse graphs): `gcn` / `mean` then normalise each graph on its own and `propagate` returns
    ``[B, n, k]``, so a backbone runs on all B graphs in one batched pass.

    ``dtype``: the floating type of an edge list's operators. ``gather_scatter``: an edge list's
    `gcn` / `mean` are `EdgeOperator` s, recomputed on every call (nothing cached), which
    `propagate` applies with `GatherScatter`."""

    num_nodes: int
    edge_index: Tensor | None = None
    edge_weight: Tensor | None = None
    dense: Tensor | None = None
    dtype: torch.dtype = torch.float32
    gather_scatter: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_edge_index(cls, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                        dtype: torch.dtype = torch.float32, gather_scatter: bool = False) -> "Adjacency":
        return cls(num_nodes=num_nodes, edge_index=edge_index, edge_weight=edge_weight, dtype=dtype,
                   gather_scatter=gather_scatter)

    @classmethod
    def from_dense(cls, adj: Tensor) -> "Adjacency":
        return cls(num_nodes=int(adj.shape[-1]), dense=adj)

    @classmethod
    def empty(cls, num_nodes: int, device: torch.device | str = "cpu", gather_scatter: bool = False) -> "Adjacency":
        return cls(num_nodes=num_nodes, edge_index=torch.empty(2, 0, dtype=torch.long, device=device),
                   gather_scatter=gather_scatter)

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
            return self.edge_weight.to(self.dtype)
        return torch.ones(self.edge_index.shape[1], device=self.edge_index.device, dtype=self.dtype)

    def gcn(self) -> Tensor | EdgeOperator:
        """``D^-1/2 (A + I) D^-1/2`` (Kipf & Welling), dense, sparse CSR or an `EdgeOperator`."""
        if self.is_dense:
            a = self.dense + torch.eye(self.num_nodes, device=self.dense.device, dtype=self.dense.dtype)
            d = a.sum(-1).clamp_min(1e-12).pow(-0.5)
            return d[..., :, None] * a * d[..., None, :]
        n = self.num_nodes
        if self.gather_scatter:  # the self loops as a diagonal: the edge list stays as given (sorted rows stay sorted)
            row, col = self.edge_index
            w = self._weights()
            d = (self._degrees(row, w) + 1).pow(-0.5)
            return EdgeOperator(row, col, d[row] * w * d[col], n, diagonal=d * d, symmetric=True)
        if "gcn" in self._cache:
            return self._cache["gcn"]
        loops = torch.arange(n, device=self.edge_index.device)
        row = torch.cat([self.edge_index[0], loops])
        col = torch.cat([self.edge_index[1], loops])
        w = torch.cat([self._weights(), torch.ones(n, device=loops.device, dtype=self.dtype)])
        d = self._degrees(row, w).pow(-0.5)
        self._cache["gcn"] = _csr(row, col, d[row] * w * d[col], n)
        return self._cache["gcn"]

    def mean(self) -> Tensor | EdgeOperator:
        """``D^-1 A`` (row-normalised, no self loops; isolated nodes aggregate zero), for GraphSAGE."""
        if self.is_dense:
            return self.dense / self.dense.sum(-1, keepdim=True).clamp_min(1e-12)
        if "mean" in self._cache:
            return self._cache["mean"]
        n = self.num_nodes
        row, col = self.edge_index
        w = self._weights()
        deg = self._degrees(row, w).clamp_min(1e-12)
        if self.gather_scatter:
            return EdgeOperator(row, col, w / deg[row], n, symmetric=False)
        self._cache["mean"] = _csr(row, col, w / deg[row], n)
        return self._cache["mean"]

    def _degrees(self, row: Tensor, w: Tensor) -> Tensor:
        """The weighted degree ``sum_{e: row[e] = i} w[e]`` of every node."""
        return torch.zeros(self.num_nodes, device=w.device, dtype=self.dtype).index_add_(0, row, w)

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
        return Adjacency(self.num_nodes, move(self.edge_index), move(self.edge_weight), move(self.dense), self.dtype,
                         self.gather_scatter)


def _csr(row: Tensor, col: Tensor, value: Tensor, n: int) -> Tensor:
    with warnings.catch_warnings():  # torch's "sparse CSR is beta" / "invariant checks" notices, once per graph
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return torch.sparse_coo_tensor(torch.stack([row, col]), value, (n, n)).coalesce().to_sparse_csr()


def propagate(operator: Tensor | EdgeOperator, h: Tensor) -> Tensor:
    """``operator @ h`` for a dense (``[n, n]`` or batched ``[B, n, n]``), sparse or edge-list operator.
    An edge list over ``B * m`` nodes (a batch of B graphs as one disjoint graph) also takes a batch
    ``h`` ``[B, m, k]``."""
    if isinstance(operator, EdgeOperator):
        return _propagate_edges(operator, h)
    if operator.layout == torch.strided:
        return operator @ h
    return torch.sparse.mm(operator, h)


def _gather_scatter(h: Tensor, row: Tensor, col: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """``out[row[e]] += weight[e] * h[col[e]]``: a CSR product when ``row`` is sorted (as the engine's
    samples are), else a gather and a scatter-add (several times slower on narrow features)."""
    flat = h.reshape(h.shape[0], -1)
    if row.numel() == 0:
        out = flat.new_zeros(num_nodes, flat.shape[1])
    elif bool((row[1:] >= row[:-1]).all()):
        crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
        crow[1:] = torch.cumsum(torch.bincount(row, minlength=num_nodes), 0)
        with warnings.catch_warnings():  # torch's "sparse CSR is beta" / "invariant checks" notices
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
            operator = torch.sparse_csr_tensor(crow, col, weight.to(h.dtype), (num_nodes, h.shape[0]))
        out = torch.sparse.mm(operator, flat)
    else:
        out = flat.new_zeros(num_nodes, flat.shape[1]).index_add_(0, row, flat.index_select(0, col) * weight[:, None])
    return out.reshape((num_nodes,) + h.shape[1:])


def _propagate_edges(operator: EdgeOperator, h: Tensor) -> Tensor:
    """`propagate` for an `EdgeOperator`: its edges by `GatherScatter` (none: nothing to gather), then
    its diagonal; a batch ``[B, m, k]`` runs as the ``B * m`` rows of the operator's disjoint graph."""
    batch = h.dim() > 2 and h.shape[0] * h.shape[1] == operator.num_nodes
    flat = h.reshape((operator.num_nodes,) + h.shape[2:]) if batch else h
    if operator.row.numel():
        out = GatherScatter.apply(flat, operator.row, operator.col, operator.weight, operator.num_nodes,
                                  operator.symmetric)
        if operator.diagonal is not None:
            out = out + operator.diagonal.reshape((-1,) + (1,) * (flat.dim() - 1)) * flat
    elif operator.diagonal is not None:
        out = operator.diagonal.reshape((-1,) + (1,) * (flat.dim() - 1)) * flat
    else:
        out = flat.new_zeros((operator.num_nodes,) + flat.shape[1:])
    return out.reshape(h.shape[:2] + out.shape[1:]) if batch else out


class GatherScatter(torch.autograd.Function):
    """``out[row[e]] += weight[e] * h[col[e]]`` (``out`` with ``num_nodes`` rows): an edge list's
    operator, differentiable in ``h`` and ``weight`` (to any order); ``symmetric``: the operator is
    its own transpose (square, undirected, symmetric weights), so the backward pass reuses the edge
    list in its order, and a row-sorted list stays a CSR product both ways."""

    @staticmethod
    def forward(ctx, h: Tensor, row: Tensor, col: Tensor, weight: Tensor, num_nodes: int, symmetric: bool) -> Tensor:
        ctx.symmetric, ctx.rows_in = symmetric, h.shape[0]
        ctx.save_for_backward(h if ctx.needs_input_grad[3] else None, row, col, weight)
        return _gather_scatter(h, row, col, weight, num_nodes)

    @staticmethod
    def backward(ctx, grad: Tensor):
        h, row, col, weight = ctx.saved_tensors
        grad_h = grad_weight = None
        if ctx.needs_input_grad[0]:
            if ctx.symmetric:
                grad_h = GatherScatter.apply(grad, row, col, weight, ctx.rows_in, True)
            else:
                grad_h = GatherScatter.apply(grad, col, row, weight, ctx.rows_in, False)
        if ctx.needs_input_grad[3]:
            grad_weight = (grad.index_select(0, row) * h.index_select(0, col)).reshape(row.numel(), -1).sum(1)
        return grad_h, None, None, grad_weight, None, None


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
