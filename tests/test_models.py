"""Backbones: one forward for sparse and dense graphs, training on both, the neighbour sampler."""

import pytest
import torch

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.models import build_backbone, get_backbone, list_backbones
from mmgc.models.training import (
    MiniBatchConfig, NeighborSampler, SplitScorer, TrainConfig, graph_adjacency, seed_all, train_node_classifier,
    train_node_classifier_sampled,
)
from tests.conftest import make_tiny_graph

BACKBONES = ["gcn", "sgc", "sage", "gat", "mlp", "mmgcn"]


def weighted_pair(graph, seed=0):
    """The same symmetric weighted graph as a sparse edge list and as a dense matrix."""
    g = torch.Generator().manual_seed(seed)
    n = graph.num_nodes
    dense = torch.zeros(n, n)
    dense[graph.edge_index[0], graph.edge_index[1]] = torch.rand(graph.edge_index.shape[1], generator=g) + 0.1
    dense = torch.maximum(dense, dense.T)
    weight = dense[graph.edge_index[0], graph.edge_index[1]]
    return Adjacency.from_edge_index(graph.edge_index, n, weight), Adjacency.from_dense(dense)


def test_every_backbone_is_registered():
    assert set(BACKBONES) <= set(list_backbones())
    with pytest.raises(InputError, match="unknown backbone"):
        get_backbone("nope")


@pytest.mark.parametrize("name", BACKBONES)
def test_sparse_and_dense_graphs_give_the_same_output(name):
    graph = make_tiny_graph()
    sparse, dense = weighted_pair(graph)
    torch.manual_seed(0)
    model = build_backbone(name, graph.feature_dim, 16, graph.num_classes, 2, 0.5, graph.modalities).eval()
    out_sparse, out_dense = model(graph.x, sparse), model(graph.x, dense)
    assert out_sparse.shape == (graph.num_nodes, graph.num_classes)
    assert torch.allclose(out_sparse, out_dense, atol=1e-5)


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_every_backbone_trains_on_both_kinds_of_graph(name, kind):
    graph = make_tiny_graph()
    adj = dict(zip(["sparse", "dense"], weighted_pair(graph)))[kind]
    seed_all(0)
    model = build_backbone(name, graph.feature_dim, 16, graph.num_classes, 2, 0.0, graph.modalities)
    train = graph.train_mask.nonzero()[:, 0]
    result = train_node_classifier(model, graph.x, adj, graph.y[train], SplitScorer(graph, "val"),
                                   TrainConfig(epochs=30, lr_drop_epoch=15), train_index=train)
    assert result.best_val > 0.5  # the tiny graph has a clear class signal
    assert 0 <= result.best_epoch < 30


@pytest.mark.parametrize("name", ["gcn", "sgc", "sage", "gat", "mmgcn"])
def test_output_is_differentiable_in_a_dense_adjacency(name):
    graph = make_tiny_graph()
    _, dense = weighted_pair(graph)
    weights = dense.dense.clone().requires_grad_(True)
    torch.manual_seed(0)
    model = build_backbone(name, graph.feature_dim, 16, graph.num_classes, 2, 0.0, graph.modalities)
    model(graph.x, Adjacency.from_dense(weights)).pow(2).sum().backward()
    assert weights.grad is not None and float(weights.grad.abs().sum()) > 0


def test_sgc_is_k_propagations_of_one_linear_map():
    graph = make_tiny_graph()
    adj = graph_adjacency(graph)
    torch.manual_seed(0)
    model = build_backbone("sgc", graph.feature_dim, 16, graph.num_classes, layers=3)
    a = adj.gcn().to_dense()
    expected = a @ a @ a @ (graph.x @ model.linear.weight.T + model.linear.bias)
    assert torch.allclose(model(graph.x, adj), expected, atol=1e-5)


def test_mmgcn_with_one_modality_is_a_gcn():
    graph = make_tiny_graph()
    adj = graph_adjacency(graph)
    torch.manual_seed(0)
    mmgcn = build_backbone("mmgcn", graph.feature_dim, 16, graph.num_classes, modalities={"all": (0, graph.feature_dim)})
    gcn = build_backbone("gcn", graph.feature_dim, 16, graph.num_classes)
    gcn.load_state_dict(mmgcn.branches["all"].state_dict())
    assert torch.allclose(mmgcn(graph.x, adj), gcn(graph.x, adj), atol=1e-6)


def test_mmgcn_sums_one_branch_per_modality():
    graph = make_tiny_graph()
    adj = graph_adjacency(graph)
    torch.manual_seed(0)
    model = build_backbone("mmgcn", graph.feature_dim, 16, graph.num_classes, modalities=graph.modalities)
    assert set(model.branches) == {"text", "image"}
    parts = [model.branches[m](graph.x[:, a:b], adj) for m, (a, b) in graph.modalities.items()]
    assert torch.allclose(model(graph.x, adj), parts[0] + parts[1], atol=1e-6)


def test_gat_without_edges_is_a_per_node_map_and_weights_scale_messages():
    graph = make_tiny_graph()
    torch.manual_seed(0)
    model = build_backbone("gat", graph.feature_dim, 16, graph.num_classes, layers=1).eval()
    conv = model.convs[0]
    alone = model(graph.x, Adjacency.empty(graph.num_nodes))
    assert torch.allclose(alone, graph.x @ conv.linear.weight.T + conv.bias, atol=1e-5)
    # an edge of weight ~0 is attended to but contributes ~nothing
    dense = torch.zeros(graph.num_nodes, graph.num_nodes)
    dense[0, 1] = dense[1, 0] = 1e-9
    weak = model(graph.x, Adjacency.from_dense(dense))
    assert not torch.allclose(weak[0], alone[0], atol=1e-6)  # node 0's self weight is now < 1


def test_gat_heads_must_divide_hidden():
    with pytest.raises(InputError, match="divisible"):
        build_backbone("gat", 10, 30, 3)


def test_mlp_ignores_the_graph():
    graph = make_tiny_graph()
    sparse, dense = weighted_pair(graph)
    torch.manual_seed(0)
    model = build_backbone("mlp", graph.feature_dim, 16, graph.num_classes).eval()
    assert torch.equal(model(graph.x, sparse), model(graph.x, Adjacency.empty(graph.num_nodes)))


def test_neighbor_sampler_returns_real_edges_with_seeds_first():
    graph = make_tiny_graph(n=300)
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes)
    seeds = torch.tensor([5, 17, 42, 99])
    nodes, adj = sampler.sample(seeds, (3, 2), torch.Generator().manual_seed(0))
    assert torch.equal(nodes[:4], seeds)
    assert nodes.unique().numel() == nodes.numel()
    real = set(map(tuple, graph.edge_index.T.tolist()))
    sampled = {(int(nodes[a]), int(nodes[b])) for a, b in adj.edge_index.T.tolist()}
    assert sampled <= real
    assert all((b, a) in sampled for a, b in sampled)  # symmetrised
    # a seed with at most `fanout` neighbours keeps them all
    degree = torch.bincount(graph.edge_index[0], minlength=graph.num_nodes)
    for s in seeds.tolist():
        if degree[s] <= 3:
            neighbours = set(graph.edge_index[1][graph.edge_index[0] == s].tolist())
            assert neighbours <= {b for a, b in sampled if a == s}


def test_sampled_training_is_deterministic_and_learns():
    graph = make_tiny_graph(n=200)
    train = graph.train_mask.nonzero()[:, 0]

    def run():
        seed_all(0)
        model = build_backbone("gcn", graph.feature_dim, 16, graph.num_classes)
        sampler = NeighborSampler(graph.edge_index, graph.num_nodes)
        result = train_node_classifier_sampled(model, graph.x, sampler, graph.y, train, SplitScorer(graph, "val"),
                                               TrainConfig(epochs=40, lr_drop_epoch=20, eval_every=5),
                                               MiniBatchConfig(batch_size=32, fanouts=(5, 3)), seed=0)
        return result, model

    (a, model_a), (b, model_b) = run(), run()
    assert a.best_val == b.best_val and a.best_epoch == b.best_epoch
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters()))
    assert a.best_val > 0.5


def test_csr_index_lists_each_nodes_neighbours_and_every_edge_of_a_batch():
    from mmgc.adjacency import CSR

    row, col = torch.tensor([2, 0, 1, 0, 2]), torch.tensor([0, 2, 2, 1, 1])
    csr = CSR.from_edges(row, col, 4)
    assert csr.rowptr.tolist() == [0, 2, 3, 5, 5] and csr.col.tolist() == [1, 2, 2, 0, 1]
    assert torch.equal(row[csr.order], torch.tensor([0, 0, 1, 2, 2]))  # carries edge attributes along
    nodes = torch.tensor([2, 3, 0])
    start, deg = csr.degree(nodes)
    assert start.tolist() == [3, 5, 0] and deg.tolist() == [2, 0, 2]
    segment, position = csr.edges_of(nodes)
    assert segment.tolist() == [0, 0, 2, 2] and csr.col[position].tolist() == [0, 1, 1, 2]
