"""MSGC: the basic-neighbourhood support, the edge MLP on it, the batched backbone pass, end to end."""

from __future__ import annotations

import pytest
import torch
from conftest import STRUCTURE_FAST

from mmgc.adjacency import Adjacency
from mmgc.methods._msgc_support import (
    SupportEdgeMLP, basic_neighbourhood_support, per_class_link_counts, support_edge_count,
)

CLASS_SIZES = [[1, 1], [2, 5], [3, 3, 3], [10, 1, 4, 7], [30, 9, 20, 2, 1], [100, 3, 250], [7] * 12]


def _labels(sizes, seed=0):
    y = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize("sizes", CLASS_SIZES)
def test_support_at_most_two_links_per_class_balanced_simple(sizes):
    y = _labels(sizes)
    support = basic_neighbourhood_support(y, 16, torch.Generator().manual_seed(1))
    bsz, two, e = support.shape
    assert (bsz, two) == (16, 2) and e == support_edge_count(torch.tensor(sizes))
    assert not bool((support[:, 0] == support[:, 1]).any()), "self loop in the support"
    n = y.numel()
    key = torch.minimum(support[:, 0], support[:, 1]) * n + torch.maximum(support[:, 0], support[:, 1])
    for b in range(bsz):
        assert torch.unique(key[b]).numel() == e, "an edge is repeated in one graph"
    counts = per_class_link_counts(support, y, len(sizes))  # [B, n, C]
    assert int(counts.max()) <= 2, "a node links to more than two nodes of one class"
    for a in range(len(sizes)):
        block = counts[:, y == a, :]  # [B, n_a, C]
        # degree balance: inside a class, per-class link counts differ by at most one
        assert int((block.max(1).values - block.min(1).values).max()) <= 1
        for c in range(len(sizes)):
            if c == a:
                want = min(2, sizes[a] - 1)
                assert bool((block[:, :, c] == want).all()), "same-class links: a cycle gives two each"
            elif 2 * min(sizes[a], sizes[c]) >= sizes[a]:
                # every node of class a reaches class c whenever the cap of two allows it
                assert bool((block[:, :, c] >= 1).all())


def test_support_differs_between_graphs_and_is_seeded():
    y = _labels([6, 5, 4])
    s1 = basic_neighbourhood_support(y, 8, torch.Generator().manual_seed(3))
    s2 = basic_neighbourhood_support(y, 8, torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)
    dense = torch.zeros(8, y.numel(), y.numel())
    for b in range(8):
        dense[b, s1[b, 0], s1[b, 1]] = 1
    distinct = {tuple(dense[b].flatten().tolist()) for b in range(8)}
    assert len(distinct) >= 7, "the B graphs should be wired differently"


def test_support_is_vectorised_and_fast():
    import time

    y = torch.arange(2000) % 40
    start = time.perf_counter()
    support = basic_neighbourhood_support(y, 16)
    assert time.perf_counter() - start < 5.0
    assert int(per_class_link_counts(support, y).max()) <= 2


def test_edge_mlp_weights_on_support_symmetric_raw():
    torch.manual_seed(0)
    y = _labels([4, 3, 5])
    x = torch.randn(y.numel(), 6)
    support = basic_neighbourhood_support(y, 4, torch.Generator().manual_seed(0))
    mlp = SupportEdgeMLP(6, 16)
    adj = mlp(x, support)
    assert adj.shape == (4, 12, 12)
    assert torch.allclose(adj, adj.transpose(1, 2))
    assert bool((adj.diagonal(dim1=1, dim2=2) == 0).all()), "raw weights: no self loops"
    mask = torch.zeros_like(adj, dtype=torch.bool)
    for b in range(4):
        mask[b, support[b, 0], support[b, 1]] = True
        mask[b, support[b, 1], support[b, 0]] = True
    assert bool((adj[~mask] == 0).all()), "weights off the support"
    assert bool((adj[mask] > 0).all() and (adj[mask] < 1).all())
    # the split first layer and the de-duplicated, multiplicity-weighted BatchNorm equal the official
    # computation: the MLP on the concatenated pair, one row per (graph, edge, direction)
    i, j = support[:, 0].reshape(-1), support[:, 1].reshape(-1)
    src, dst = torch.cat([i, j]), torch.cat([j, i])
    with torch.no_grad():
        mlp.bn1.weight.uniform_(0.5, 1.5)
        mlp.bn2.bias.uniform_(-0.5, 0.5)
        h = torch.relu(mlp.bn1(mlp.first(torch.cat([x[src], x[dst]], 1))))
        h = torch.relu(mlp.bn2(mlp.second(h)))
        rows = torch.sigmoid(mlp.last(h)).squeeze(-1)
        graph = torch.arange(4).repeat_interleave(support.shape[-1]).repeat(2)
        naive = torch.zeros(4, 12, 12).index_put((graph, src, dst), rows)
        naive = (naive + naive.transpose(1, 2)) / 2
        assert torch.allclose(mlp(x, support), naive, atol=1e-5)
    # gradients reach the MLP and the features
    x.requires_grad_(True)
    mlp.train()
    mlp(x, support).sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in mlp.parameters())


def test_batched_backbone_pass_equals_per_graph():
    from mmgc.models.gcn import GCN

    torch.manual_seed(0)
    bsz, n = 3, 9
    a = torch.rand(bsz, n, n)
    a = (a + a.transpose(1, 2)) / 2 * (torch.rand(bsz, n, n) < 0.4)
    a = (a + a.transpose(1, 2)) / 2
    a = a * (1 - torch.eye(n))
    x = torch.randn(n, 5)
    model = GCN(5, 8, 3, layers=2).eval()
    batched = model(x, Adjacency.from_dense(a))
    assert batched.shape == (bsz, n, 3)
    for b in range(bsz):
        assert torch.allclose(batched[b], model(x, Adjacency.from_dense(a[b])), atol=1e-5)
    # one normalisation: gcn() of the batch equals the per-graph operator
    op = Adjacency.from_dense(a).gcn()
    assert torch.allclose(op[1], Adjacency.from_dense(a[1]).gcn(), atol=1e-6)


# ---------------------------------------------------------------------------------------- end to end
FAST = {**STRUCTURE_FAST, "num_graphs": 4, "edge_hidden": 16}


@pytest.mark.parametrize("selection", ["validation", "loss_window"])
def test_msgc_end_to_end_on_default_dataset(default_graph, selection):
    from mmgc.methods import Context, create_method

    method = create_method("msgc", dict(FAST, selection=selection, window=2))
    out = method.condense(default_graph, 0.01, Context(seed=0))
    n = out.num_nodes
    assert out.adj.shape == (n, n) and out.x.shape == (n, default_graph.feature_dim)
    assert torch.allclose(out.adj, out.adj.T) and bool((out.adj.diagonal() == 0).all())
    assert float(out.adj.max()) > 0, "the stored average of the B graphs is empty"
    assert out.info["selection"] == selection
    assert out.info["msgc"]["num_graphs"] == 4
    assert [r["phase"] for r in out.info["history"]] == ["structure", "features"]
    # every node of the stored average links to at most 2 nodes per class in each of the B graphs,
    # so at most 2 * B nodes per class in their union
    y = out.y
    per_class = torch.zeros(n, int(y.max()) + 1).index_add_(1, y, (out.adj > 0).float())
    assert int(per_class.max()) <= 2 * 4


def test_msgc_rejects_a_backbone_without_batched_pass(default_graph):
    from mmgc.errors import InputError
    from mmgc.methods import Context, create_method

    method = create_method("msgc", dict(FAST, backbone="sage"))
    with pytest.raises(InputError, match="backbone"):
        method.condense(default_graph, 0.01, Context(seed=0))


def test_msgc_structure_support_differs_between_graphs():
    from mmgc.methods.msgc import MultipleSparseGraphs

    y = torch.repeat_interleave(torch.arange(3), torch.tensor([5, 4, 6]))
    gen = MultipleSparseGraphs(8, y, 16, hidden=16, generator=torch.Generator().manual_seed(0))
    adj = gen(torch.randn(15, 8))
    assert adj.shape == (16, 15, 15)
    patterns = {tuple((adj[b] > 0).flatten().tolist()) for b in range(16)}
    assert len(patterns) > 1
    assert gen.inference(torch.randn(15, 8)).shape == (16, 15, 15)
