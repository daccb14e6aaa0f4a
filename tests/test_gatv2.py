"""GATv2 with the edge weight as an edge attribute (the SR-GM authors' cross-architecture GAT)."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_graph
from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.models import build_backbone
from mmgc.models.training import graph_adjacency


def test_gatv2_reads_the_edge_weight_in_its_attention_and_is_differentiable_in_it():
    torch.manual_seed(0)
    n, d = 6, 5
    x = torch.randn(n, d)
    model = build_backbone("gatv2", d, 16, 3, layers=2).eval()
    a = torch.triu(torch.rand(n, n) * 0.9 + 0.05, 1)
    a = (a + a.T).requires_grad_(True)
    out = model(x, Adjacency.from_dense(a))
    assert out.shape == (n, 3)
    # the same edges with other weights give other logits (GCond's weighted GAT would too, but
    # here through the attention: a rescaled weight changes the attention, not only the messages)
    out2 = model(x, Adjacency.from_dense((a * 0.5).detach()))
    assert not torch.allclose(out, out2)
    (grad,) = torch.autograd.grad(out.sum(), a)
    assert float(grad.abs().sum()) > 0


def test_gatv2_runs_on_a_sparse_graph_and_in_the_evaluation():
    from mmgc.harness.evaluate import EvalConfig, evaluate_original

    graph = make_tiny_graph(n=60)
    model = build_backbone("gatv2", graph.feature_dim, 16, graph.num_classes)
    assert model(graph.x, graph_adjacency(graph)).shape == (60, graph.num_classes)
    rows = evaluate_original(graph, "gatv2", [0], EvalConfig(epochs=5))
    assert rows[0]["status"] == "ok" and rows[0]["arch"] == "gatv2"
    with pytest.raises(InputError, match="divisible"):
        build_backbone("gatv2", 10, 30, 3)
