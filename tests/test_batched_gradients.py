"""The engine's batched per-class gradients equal its per-class loop (float64, 1e-10), the loop equals
GCond's per-class loss on each class's own sampled subgraph, and condensed graphs agree up to
summation order for every gradient-matching method."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmgc.methods.gradient_matching.gradients as gradients
from conftest import make_tiny_graph
from mmgc.adjacency import Adjacency, GatherScatter, propagate
from mmgc.methods import Context, create_method
from mmgc.methods.gradient_matching.gradients import (
    class_row_weights, real_class_gradient, real_gradients, synthetic_gradients,
)
from mmgc.models import build_backbone

BATCHED = ("gcn", "sgc", "sage", "mlp", "mmgcn")


def _graph64(n: int = 90):
    graph = make_tiny_graph(n=n, d_text=5, d_image=5, classes=3)
    return graph.with_features(graph.x.double(), dict(graph.modalities), "float64")


def _setup(graph, backbone: str, **config):
    method = create_method("gcond", dict(epochs=1, structure_epochs=0, outer_loop=1, hidden=8, batch_per_class=10, fanouts=[3, 2],
                                         backbone=backbone, **config))
    setup, _ = method.prepare(graph, 0.2, Context(seed=0))
    torch.manual_seed(3)
    model = build_backbone(backbone, graph.feature_dim, 8, graph.num_classes, layers=2,
                           modalities=graph.modalities).double()
    return method, setup, model


# ------------------------------------------------------------------------------------ the operator
def test_gather_scatter_is_the_sparse_product_sorted_or_not_and_differentiable_twice():
    torch.manual_seed(0)
    n = 7
    row, col = torch.randint(0, n, (2, 20), dtype=torch.long)
    weight = torch.rand(20, dtype=torch.float64, requires_grad=True)
    h = torch.randn(n, 3, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(n, n, dtype=torch.float64).index_put((row, col), weight.detach(), accumulate=True)
    for order in (torch.arange(20), torch.argsort(row)):  # unsorted rows (scatter-add), sorted (CSR)
        out = GatherScatter.apply(h, row[order], col[order], weight[order], n, False)
        assert torch.allclose(out, dense @ h, atol=1e-12)
    assert torch.autograd.gradcheck(lambda h, w: GatherScatter.apply(h, row, col, w, n, False), (h, weight))
    assert torch.autograd.gradgradcheck(lambda h, w: GatherScatter.apply(h, row, col, w, n, False), (h, weight))


@pytest.mark.parametrize("shared", [True, False])
def test_an_edge_list_of_disjoint_graphs_propagates_a_batch_graph_by_graph(shared):
    torch.manual_seed(1)
    n, batch = 6, 4
    graphs = [torch.randint(0, n, (2, 9)) for _ in range(batch)]
    graphs = [torch.cat([e, e.flip(0)], 1) for e in graphs]  # undirected
    union = torch.cat([e + b * n for b, e in enumerate(graphs)], 1)
    h = torch.randn(batch, n, 3, dtype=torch.float64)
    if shared:  # one feature matrix, projected by each graph's own weight copy
        h = (torch.randn(n, 5, dtype=torch.float64) @ torch.randn(batch, 5, 3, dtype=torch.float64))
    operator = Adjacency.from_edge_index(union, batch * n, dtype=torch.float64, gather_scatter=True).gcn()
    expected = torch.stack([propagate(Adjacency.from_edge_index(e, n, dtype=torch.float64).gcn(), h[b])
                            for b, e in enumerate(graphs)])
    assert torch.allclose(propagate(operator, h), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------ the sampler
def test_sampled_blocks_are_symmetric_row_sorted_and_pad_without_changing_a_block():
    graph = make_tiny_graph(n=80)
    _, setup, _ = _setup(graph, "sgc")
    samples = setup.sampler.sample()
    for c in range(graph.num_classes):
        _, adj, _, _ = samples.block(c)
        row, col = adj.edge_index
        assert bool((row[1:] >= row[:-1]).all())
        assert sorted(zip(row.tolist(), col.tolist())) == sorted(zip(col.tolist(), row.tolist()))
    for layout in (samples.padded(setup.y_real), samples.union(setup.y_real)):
        assert float(layout.seed_weight.sum(1).sub(1).abs().max()) < 1e-6  # each class's seeds weigh 1 in all
        assert bool((layout.edge_index[:, 0, 1:] >= layout.edge_index[:, 0, :-1]).all())


# ------------------------------------------------------------------------------------ real side
@pytest.mark.parametrize("backbone", BATCHED)
def test_the_loop_is_gcond_per_class_loss_on_each_class_subgraph(backbone):
    """The per-class gradient the loop computes is GCond's: the mean cross-entropy of the class's
    seeds on its own sampled subgraph, through the model's ordinary sparse forward."""
    graph = _graph64()
    method, setup, model = _setup(graph, backbone)
    samples = setup.sampler.sample()
    got = real_gradients(real_class_gradient, model, samples, setup.x_real, setup.y_real, "loop")
    params = list(model.parameters())
    for c in range(graph.num_classes):
        nodes, adj, pos, seeds = samples.block(c, torch.float64)
        loss = F.cross_entropy(model(setup.x_real[nodes], adj)[pos], setup.y_real[seeds])
        for g, expected in zip(got, torch.autograd.grad(loss, params)):
            assert torch.allclose(g[c], expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("layout", ["union", "blocks"])
@pytest.mark.parametrize("backbone", BATCHED)
def test_batched_real_gradients_equal_the_loop(backbone, layout):
    graph = _graph64()
    method, setup, model = _setup(graph, backbone)
    samples = setup.sampler.sample()
    loop = real_gradients(method.real_class_gradient, model, samples, setup.x_real, setup.y_real, "loop")
    batched = real_gradients(method.real_class_gradient, model, samples, setup.x_real, setup.y_real, "batched",
                             layout)
    for a, b in zip(loop, batched):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-10)


def test_batched_real_gradients_in_small_chunks_equal_one_chunk(monkeypatch):
    graph = _graph64()
    method, setup, model = _setup(graph, "gcn")
    samples = setup.sampler.sample()
    whole = real_gradients(real_class_gradient, model, samples, setup.x_real, setup.y_real, "batched")
    monkeypatch.setattr(gradients, "BATCH_FLOATS", 1)  # one class per chunk
    chunked = real_gradients(real_class_gradient, model, samples, setup.x_real, setup.y_real, "batched")
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(whole, chunked))


@pytest.mark.parametrize("layout", ["union", "blocks"])
def test_sr_gm_target_gradient_batched_equals_its_loop(layout):
    graph = _graph64()
    method = create_method("sr_gm", dict(epochs=1, structure_epochs=0, outer_loop=1, hidden=8, batch_per_class=10,
                                         fanouts=[3, 2],
                                         decouple_target="target_gradient"))
    setup, _ = method.prepare(graph, 0.2, Context(seed=0))
    torch.manual_seed(3)
    model = build_backbone("sgc", graph.feature_dim, 8, graph.num_classes, modalities=graph.modalities).double()
    samples = setup.sampler.sample()
    loop = real_gradients(method.real_class_gradient, model, samples, setup.x_real, setup.y_real, "loop")
    batched = real_gradients(method.real_class_gradient, model, samples, setup.x_real, setup.y_real, "batched",
                             layout)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-10) for a, b in zip(loop, batched))


# ------------------------------------------------------------------------------------ synthetic side
@pytest.mark.parametrize("graph_kind", ["dense", "batch", "empty"])
def test_batched_synthetic_gradients_and_their_second_derivatives_equal_the_loop(graph_kind):
    torch.manual_seed(0)
    n, d, classes = 9, 4, 3
    labels = torch.arange(n) % classes
    x = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    model = build_backbone("gcn", d, 5, classes).double()
    params = list(model.parameters())

    def loss_gm(path: str):
        a = torch.sigmoid(x @ x.T)
        a = a - torch.diag(torch.diag(a))
        adj = {"dense": Adjacency.from_dense(a), "batch": Adjacency.from_dense(torch.stack([a, a * a])),
               "empty": Adjacency.empty(n, gather_scatter=True)}[graph_kind]
        logits = model(x, adj)
        rows = labels
        if logits.dim() == 3:
            logits, rows = logits.reshape(-1, classes), labels.repeat(2)
        weights = class_row_weights(rows, classes, torch.float64)
        grads = synthetic_gradients(logits, rows, weights, params, path)
        return sum((g * torch.arange(g.numel(), dtype=g.dtype).reshape(g.shape)).sum() for g in grads)

    values = {path: loss_gm(path) for path in ("loop", "batched")}
    assert float((values["loop"] - values["batched"]).detach().abs()) < 1e-10
    second = {path: torch.autograd.grad(loss_gm(path), x)[0] for path in ("loop", "batched")}
    assert torch.allclose(second["loop"], second["batched"], rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------------ end to end
GM = dict(epochs=3, outer_loop=3, inner_loop=2, hidden=8, select_every=0, select_epochs=10, select_eval_every=5,
          cycle_epochs=2, structure_epochs=1, batch_per_class=16)
CASES = {
    "gcond": ("gcond", dict(GM, pge_hidden=8)),
    "gcond-gcn": ("gcond", dict(GM, pge_hidden=8, backbone="gcn")),
    "gcond-x": ("gcond", dict(GM, structure="none")),
    "sr_gm": ("sr_gm", dict(GM, pge_hidden=8, lam=10.0)),
    "sr_gm-target": ("sr_gm", dict(GM, pge_hidden=8, lam=10.0, decouple_target="target_gradient")),
    "sr_gm-meta-relative": ("sr_gm", dict(GM, pge_hidden=8, lam=0.1, decouple_target="meta_gradient",
                                          damping_scale="relative")),
    "sr_gm-authors": ("sr_gm", dict(GM, pge_hidden=8, lam=10.0, grad_field="detached",
                                    laplacian="normalized_self_loops")),
    "msgc": ("msgc", dict(GM, num_graphs=2, edge_hidden=8)),
    "sgdd": ("sgdd", dict(GM, generator_hidden=8, ot_block_size=16)),
    "doscond": ("doscond", dict(GM, pge_hidden=8, outer_loop=1, inner_loop=0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_condensed_graphs_of_both_paths_agree_up_to_summation_order(case):
    method, config = CASES[case]
    graph = make_tiny_graph(n=60, d_text=5, d_image=5)
    out = {}
    for path in ("loop", "batched"):
        m = create_method(method, config)
        m.gradient_path = path
        out[path] = m.condense(graph, 0.2, Context(seed=2))
    a, b = out["loop"], out["batched"]
    assert torch.allclose(a.x, b.x, rtol=1e-4, atol=1e-5) and torch.allclose(a.adj, b.adj, rtol=1e-4, atol=1e-5)
    losses = [[h.get("loss_gm", 0.0) for h in out[path].info["history"]] for path in ("loop", "batched")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
