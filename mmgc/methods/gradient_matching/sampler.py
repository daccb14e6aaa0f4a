"""GCond's per-class sampler of the real side, drawn for every class at once.

At every matching step each class c gets up to ``batch`` random train nodes of its own (the seeds;
a uniformly random subset in random order, as GCond's permutation), and for each hop up to
``fanouts[h]`` neighbours, without replacement, of every node its neighbourhood reached at the
previous hop. Class c's subgraph is made of its sampled edges only (undirected, every one a real
edge): the classes never share an edge or a message, exactly as GCond samples them one by one.

All classes are drawn together: a frontier entry is a (class, node) pair, keyed ``c * N + node``,
so one sort, one ``unique`` and one random draw per hop serve every class, and the cost depends on
the batch and the fan-outs, not on the size of the graph. The result, `ClassSamples`, hands out
each class's block (`ClassSamples.block`, what a per-class loop reads) or all blocks padded to one
shape (`ClassSamples.padded`, what a batched computation over the classes reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from mmgc.adjacency import CSR, Adjacency
from mmgc.graph import MultimodalGraph


TABLE_KEYS = 1 << 22
"""Key spaces (classes x nodes) up to this size map keys to positions through a table, larger ones
by binary search (a table of 8-byte positions per key would cost more than it saves)."""


@dataclass(frozen=True)
class PaddedSamples:
    """Every class's sample on a node axis of one length ``m``, with ``e`` directed edges (leading
    dimension of the edge and seed tensors: class): each class's own block padded (``index`` ``[C,
    m]``, `ClassSamples.padded`) or the union of all blocks (``index`` ``[m]``, `ClassSamples.union`).

    Nodes outside a class's block are isolated in its graph and padding edges have weight 0, so
    neither changes a node of the block; only the block's seeds have a weight in the loss.
    """

    index: Tensor  # [C, m] or [m]: visible-graph ids of the node axis
    edge_index: Tensor  # [C, 2, e] edges in block-local ids (both directions)
    edge_weight: Tensor  # [C, e] 1 for a sampled edge, 0 for padding
    seed_weight: Tensor  # [C, m] 1 / seeds of the class at its seeds' positions, else 0
    seed_label: Tensor  # [C, m] the seeds' labels at their positions, else 0


@dataclass(frozen=True)
class ClassSamples:
    """One matching step's samples of every class, in class blocks (ids and ``*_ptr`` offsets)."""

    nodes: Tensor  # [sum m_c] visible-graph ids; block c ascending
    node_ptr: Tensor  # [C + 1]
    edge_index: Tensor  # [2, sum e_c] block-local ids, both directions; a block's edges sorted by row
    edge_ptr: Tensor  # [C + 1]
    seed_pos: Tensor  # [sum s_c] block-local positions of the seeds
    seeds: Tensor  # [sum s_c] visible-graph ids of the seeds
    seed_ptr: Tensor  # [C + 1]

    @property
    def num_classes(self) -> int:
        return self.node_ptr.numel() - 1

    def block(self, c: int, dtype: torch.dtype = torch.float32, gather_scatter: bool = False
              ) -> tuple[Tensor, Adjacency, Tensor, Tensor]:
        """Class ``c``'s ``(nodes, adjacency over them, seed positions, seed ids)``."""
        n0, n1 = self.node_ptr[c : c + 2].tolist()
        e0, e1 = self.edge_ptr[c : c + 2].tolist()
        s0, s1 = self.seed_ptr[c : c + 2].tolist()
        adj = Adjacency.from_edge_index(self.edge_index[:, e0:e1], n1 - n0, dtype=dtype, gather_scatter=gather_scatter)
        return self.nodes[n0:n1], adj, self.seed_pos[s0:s1], self.seeds[s0:s1]

    def sizes(self) -> Tensor:
        """Nodes of every class's block."""
        return self.node_ptr[1:] - self.node_ptr[:-1]

    def select(self, classes: Sequence[int]) -> "ClassSamples":
        """The samples of ``classes`` only, in that order."""
        def take(values: Tensor, ptr: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
            pieces = [values.narrow(dim, int(ptr[c]), int(ptr[c + 1] - ptr[c])) for c in classes]
            counts = torch.tensor([p.shape[dim] for p in pieces], device=ptr.device)
            return torch.cat(pieces, dim), torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])

        nodes, node_ptr = take(self.nodes, self.node_ptr)
        edge_index, edge_ptr = take(self.edge_index, self.edge_ptr, 1)
        seed_pos, seed_ptr = take(self.seed_pos, self.seed_ptr)
        seeds, _ = take(self.seeds, self.seed_ptr)
        return ClassSamples(nodes, node_ptr, edge_index, edge_ptr, seed_pos, seeds, seed_ptr)

    def disjoint(self, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Adjacency, Tensor]:
        """Every block as one disjoint graph: ``(nodes, adjacency over them, seed positions)``, the
        blocks in class order (one forward over it equals a forward per block: nothing crosses blocks)."""
        edge_owner, _, _ = self._layout(self.edge_ptr)
        seed_owner, _, _ = self._layout(self.seed_ptr)
        adj = Adjacency.from_edge_index(self.edge_index + self.node_ptr[edge_owner], self.nodes.numel(), dtype=dtype)
        return self.nodes, adj, self.seed_pos + self.node_ptr[seed_owner]

    def padded(self, y: Tensor, dtype: torch.dtype = torch.float32) -> PaddedSamples:
        """Every block padded to the largest one (``index`` ``[C, m]``); ``y`` the visible graph's labels."""
        node_owner, node_slot, m = self._layout(self.node_ptr)
        index = self.nodes[self.node_ptr[:-1]].repeat_interleave(m).reshape(-1, m)  # isolated copies of a real node
        index[node_owner, node_slot] = self.nodes
        return self._pad(index, torch.arange(self.nodes.numel(), device=self.nodes.device) - self.node_ptr[node_owner],
                         y, dtype)

    def union(self, y: Tensor, dtype: torch.dtype = torch.float32) -> PaddedSamples:
        """Every block over one shared node set, the union of the blocks' nodes (``index`` ``[U]``, one
        feature matrix for all classes): class c's graph is its own edges over the union, every node
        outside its block isolated. Cheaper than `padded` where the blocks overlap heavily."""
        index, position = torch.unique(self.nodes, return_inverse=True)
        return self._pad(index, position, y, dtype)

    def _layout(self, ptr: Tensor) -> tuple[Tensor, Tensor, int]:
        """``(owner class, slot within its class, largest class)`` of every entry of a class-blocked list."""
        sizes = ptr[1:] - ptr[:-1]
        owner = torch.repeat_interleave(torch.arange(self.num_classes, device=ptr.device), sizes)
        return owner, torch.arange(owner.numel(), device=ptr.device) - ptr[owner], int(sizes.max())

    def _pad(self, index: Tensor, position: Tensor, y: Tensor, dtype: torch.dtype) -> PaddedSamples:
        """Edges, seed weights and seed labels of every class on the node axis of ``index``, where the
        block node ``k`` (in ``nodes``) sits at ``position[k]``."""
        device, classes = self.nodes.device, self.num_classes
        m = index.shape[-1]
        edge_owner, edge_slot, e = self._layout(self.edge_ptr)
        edge_index = torch.full((classes, 2, e), m - 1, dtype=torch.long, device=device)  # padding: after every row
        edge_index[edge_owner, :, edge_slot] = position[self.node_ptr[edge_owner] + self.edge_index].T
        edge_weight = torch.zeros(classes, e, dtype=dtype, device=device)
        edge_weight[edge_owner, edge_slot] = 1
        seed_owner, _, _ = self._layout(self.seed_ptr)
        seed_at = position[self.node_ptr[seed_owner] + self.seed_pos]
        seed_weight = torch.zeros(classes, m, dtype=dtype, device=device)
        seed_weight[seed_owner, seed_at] = 1 / (self.seed_ptr[1:] - self.seed_ptr[:-1]).to(dtype)[seed_owner]
        seed_label = torch.zeros(classes, m, dtype=torch.long, device=device)
        seed_label[seed_owner, seed_at] = y[self.seeds]
        return PaddedSamples(index, edge_index, edge_weight, seed_weight, seed_label)


class ClassNeighborSampler:
    """Per-class seeds of the visible graph and their sampled multi-hop neighbourhoods (see the
    module docstring); `sample` draws one matching step's `ClassSamples`."""

    def __init__(self, visible: MultimodalGraph, num_classes: int, batch: int, fanouts: tuple[int, ...],
                 device: torch.device):
        self.device, self.batch, self.fanouts = device, batch, fanouts
        self.num_nodes = visible.num_nodes
        self.num_classes = num_classes
        row, col = visible.edge_index.to(device)
        self.csr = CSR.from_edges(row, col, visible.num_nodes)
        y = visible.y.to(device)
        train = visible.train_mask.to(device)
        # every class's train nodes as one class-major pool
        order = torch.argsort(torch.where(train, y, num_classes), stable=True)
        self.pool = order[: int(train.sum())]
        self.pool_class = y[self.pool]
        self.pool_ptr = torch.searchsorted(self.pool_class, torch.arange(num_classes + 1, device=device))

    def _neighbours(self, nodes: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """For each entry of ``nodes`` (repeats allowed: each entry draws on its own) up to ``k``
        neighbours without replacement (-1: all): ``(entry index, neighbour id)`` per sampled edge."""
        _, deg = self.csr.degree(nodes)
        total = int(deg.sum())
        if total == 0:
            empty = nodes.new_empty(0)
            return empty, empty
        seg, edge = self.csr.edges_of(nodes)
        if k >= 0 and bool((deg > k).any()):  # the k smallest random keys of each entry's edges
            keys = (seg << 31) | torch.randint(0, 1 << 31, (total,), device=nodes.device)
            order = torch.argsort(keys)
            rank = torch.arange(total, device=nodes.device) - (torch.cumsum(deg, 0) - deg)[seg[order]]
            keep = order[rank < k]
            seg, edge = seg[keep], edge[keep]
        return seg, self.csr.col[edge]

    def seeds(self) -> tuple[Tensor, Tensor]:
        """Up to ``batch`` random train nodes of every class, class-major, in random order within a
        class (a random permutation of each class's pool, cut at ``batch``), and their classes."""
        keys = self.pool_class.to(torch.float64) + torch.rand(self.pool.numel(), device=self.device,
                                                                dtype=torch.float64)
        order = torch.argsort(keys)
        rank = torch.arange(order.numel(), device=self.device) - self.pool_ptr[self.pool_class[order]]
        chosen = order[rank < self.batch]
        return self.pool[chosen], self.pool_class[chosen]

    def sample(self) -> ClassSamples:
        """One matching step's seeds and sampled neighbourhoods of every class."""
        n, classes = self.num_nodes, self.num_classes
        seeds, seed_class = self.seeds()
        seed_keys = seed_class * n + seeds
        reached = torch.zeros(classes * n, dtype=torch.bool, device=self.device)  # by key c * N + node
        reached[seed_keys] = True
        frontier = seed_keys
        sampled: list[Tensor] = []  # keys c * N + node of each sampled edge's two ends
        for k in self.fanouts:
            if frontier.numel() == 0:
                break
            owner, neighbour = self._neighbours(frontier % n, k)
            source = frontier[owner]
            target = source - source % n + neighbour
            sampled.append(torch.stack([source, target]))
            fresh = torch.zeros_like(reached)
            fresh[target] = True
            fresh &= ~reached
            frontier = fresh.nonzero()[:, 0]
            reached |= fresh
        node_keys = reached.nonzero()[:, 0]
        position = self._positions(reached, node_keys)
        bounds = torch.arange(classes + 1, device=self.device) * n
        node_ptr = torch.searchsorted(node_keys, bounds)
        if sampled:
            ends = torch.cat(sampled, 1)
            lo, hi = ends.min(0).values, ends.max(0).values
            pair = torch.unique(lo * n + hi % n)  # (c * N + lo) * N + hi: one key per undirected edge
            base = (pair // n) - (pair // n) % n  # c * N
            # both directions as keys (c * N + row) * N + col, sorted: every class's edges by row, then column
            keys = torch.sort(torch.cat([pair, (base + pair % n) * n + (pair // n) % n])).values
            row_key, col_key = keys // n, (keys // n) - (keys // n) % n + keys % n
            owner = row_key // n
            edge_index = torch.stack([position(row_key), position(col_key)]) - node_ptr[owner]
            edge_ptr = torch.searchsorted(owner, torch.arange(classes + 1, device=self.device))
        else:
            edge_index = torch.empty(2, 0, dtype=torch.long, device=self.device)
            edge_ptr = torch.zeros(classes + 1, dtype=torch.long, device=self.device)
        seed_ptr = torch.searchsorted(seed_class, torch.arange(classes + 1, device=self.device))
        seed_pos = position(seed_keys) - node_ptr[seed_class]
        return ClassSamples(nodes=node_keys % n, node_ptr=node_ptr, edge_index=edge_index, edge_ptr=edge_ptr,
                            seed_pos=seed_pos, seeds=seed_keys % n, seed_ptr=seed_ptr)

    @staticmethod
    def _positions(reached: Tensor, node_keys: Tensor) -> Callable[[Tensor], Tensor]:
        """``keys -> their positions in node_keys`` (the sorted reached keys): a lookup table while the
        key space is small (`TABLE_KEYS`), a binary search otherwise."""
        if reached.numel() <= TABLE_KEYS:
            table = torch.cumsum(reached, 0) - 1
            return lambda keys: table[keys]
        return lambda keys: torch.searchsorted(node_keys, keys)
