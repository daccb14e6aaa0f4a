"""GCond's per-class sampler of the real side: seeds of one class and their sampled neighbourhood."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgc.adjacency import CSR, Adjacency
from mmgc.graph import MultimodalGraph


class ClassNeighborSampler:
    """Per-class seeds of the visible graph and their sampled multi-hop neighbourhood.

    ``sample(c)`` draws up to ``batch`` train nodes of class c (a random permutation, as GCond),
    then for each hop samples up to ``fanouts[h]`` neighbours without replacement of the nodes
    reached at the previous hop (vectorised: random keys sorted within each node's CSR segment).
    The result is the subgraph made of the sampled edges (undirected, every one a real edge), its
    node ids and the seeds' positions in it. The cost depends on the batch and the fan-outs, not
    on the size of the graph.
    """

    def __init__(self, visible: MultimodalGraph, num_classes: int, batch: int, fanouts: tuple[int, ...],
                 device: torch.device):
        self.device, self.batch, self.fanouts = device, batch, fanouts
        self.num_nodes = visible.num_nodes
        row, col = visible.edge_index.to(device)
        self.csr = CSR.from_edges(row, col, visible.num_nodes)
        y = visible.y.to(device)
        train = visible.train_mask.to(device)
        self.pools = [(train & (y == c)).nonzero()[:, 0] for c in range(num_classes)]

    def _neighbours(self, nodes: Tensor, k: int) -> tuple[Tensor, Tensor]:
        _, deg = self.csr.degree(nodes)
        total = int(deg.sum())
        if total == 0:
            empty = nodes.new_empty(0)
            return empty, empty
        seg, edge = self.csr.edges_of(nodes)
        if k >= 0 and bool((deg > k).any()):
            keys = seg.to(torch.float64) + torch.rand(total, device=nodes.device, dtype=torch.float64)
            order = torch.argsort(keys)
            rank = torch.arange(total, device=nodes.device) - (torch.cumsum(deg, 0) - deg)[seg[order]]
            keep = order[rank < k]
            seg, edge = seg[keep], edge[keep]
        return nodes[seg], self.csr.col[edge]

    def seeds(self, c: int) -> Tensor:
        """Up to ``batch`` random train nodes of class ``c`` (a random permutation of the class, as GCond)."""
        pool = self.pools[c]
        return pool[torch.randperm(pool.numel(), device=self.device)[: self.batch]]

    def subgraph(self, seeds: Tensor) -> tuple[Tensor, Adjacency, Tensor]:
        """``(nodes, adjacency over them, positions of seeds in nodes)`` for the sampled neighbourhood."""
        sources, targets = [], []
        frontier, seen = torch.unique(seeds), seeds
        for k in self.fanouts:
            if frontier.numel() == 0:
                break
            t, s = self._neighbours(frontier, k)
            sources.append(s)
            targets.append(t)
            reached = torch.unique(s)
            new = reached[~torch.isin(reached, seen)]
            seen = torch.cat([seen, new])
            frontier = new
        nodes = torch.unique(seen)
        if sources:
            s, t = torch.cat(sources), torch.cat(targets)
            lo, hi = torch.minimum(s, t), torch.maximum(s, t)
            key = torch.unique(lo * self.num_nodes + hi)
            lo, hi = torch.searchsorted(nodes, key // self.num_nodes), torch.searchsorted(nodes, key % self.num_nodes)
            edge_index = torch.stack([torch.cat([lo, hi]), torch.cat([hi, lo])])
        else:
            edge_index = torch.empty(2, 0, dtype=torch.long, device=self.device)
        adj = Adjacency.from_edge_index(edge_index, int(nodes.numel()))
        return nodes, adj, torch.searchsorted(nodes, seeds)

    def sample(self, c: int) -> tuple[Tensor, Adjacency, Tensor, Tensor]:
        """``(nodes, adjacency over them, seed positions, seed ids)`` for class ``c``."""
        seeds = self.seeds(c)
        nodes, adj, pos = self.subgraph(seeds)
        return nodes, adj, pos, seeds
