"""SGDD: the graphon generator and the structure-broadcasting term, end to end."""

from __future__ import annotations

import pytest
import torch
from conftest import STRUCTURE_FAST, make_tiny_graph

from mmgc.methods._sgdd_structure import (
    GraphonGenerator, NonFiniteStructureTerm, StructureBroadcast, graphon_grid, laplacian_energy_distribution,
    smoothness,
)


def test_generator_output_symmetric_sigmoid_zero_diagonal():
    torch.manual_seed(0)
    gen = GraphonGenerator(10, hidden=32, ep_ratio=0.5)
    x = torch.randn(12, 10)
    adj = gen(x)
    assert adj.shape == (12, 12)
    assert torch.allclose(adj, adj.T)
    assert bool((adj.diagonal() == 0).all())
    off = adj[~torch.eye(12, dtype=torch.bool)]
    assert bool((off > 0).all() and (off < 1).all())
    assert gen.training and gen.inference(x).shape == (12, 12) and gen.training


def test_generator_pair_branch_split_equals_concatenation():
    torch.manual_seed(0)
    gen = GraphonGenerator(4, hidden=8).eval()
    x = torch.randn(5, 4)
    n = 5
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    pairs = torch.cat([x[i.reshape(-1)], x[j.reshape(-1)]], 1)
    c = gen.pair_first_rest(gen.pair_first(pairs))
    g = gen.grid_first(graphon_grid(n)) * c
    c = gen.pair_mid(c)
    g = gen.grid_mid(g) * c
    z = (0.5 * gen.grid_out(g) + 0.5 * gen.pair_out(c)).reshape(n, n)
    assert torch.allclose(gen.logits(x), z, atol=1e-5)
    grid = graphon_grid(3)
    assert torch.allclose(grid[0], torch.tensor([-1.0, -1.0])) and torch.allclose(grid[-1], torch.tensor([1.0, 1.0]))


@pytest.mark.parametrize("weights", ["energy", "uniform"])
def test_structure_term_finite_nonzero_and_differentiable(weights):
    torch.manual_seed(0)
    graph = make_tiny_graph(n=120)
    gen = GraphonGenerator(graph.feature_dim, hidden=32)
    x = graph.x[:15].clone()
    term = StructureBroadcast(graph, block_size=40, weights=weights, generator=torch.Generator().manual_seed(0))
    value = term(gen(x), x)
    assert torch.isfinite(value) and value.item() > 0
    value.backward()
    grads = [p.grad for p in gen.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0, "no gradient reaches the generator"


def test_structure_term_resamples_the_real_block():
    graph = make_tiny_graph(n=120)
    term = StructureBroadcast(graph, block_size=30, generator=torch.Generator().manual_seed(0))
    blocks = {tuple(term.sample_block().tolist()) for _ in range(5)}
    assert len(blocks) > 1
    for sampler in ("neighborhood", "random"):
        term = StructureBroadcast(graph, block_size=30, sampler=sampler)
        nodes = term.sample_block()
        assert nodes.numel() == 30 and torch.unique(nodes).numel() == 30


def test_structure_term_fails_loudly_when_not_finite():
    graph = make_tiny_graph(n=60)
    term = StructureBroadcast(graph, block_size=20)
    bad = torch.full((6, 6), float("nan"))
    with pytest.raises((NonFiniteStructureTerm, torch._C._LinAlgError)):
        term(bad, torch.randn(6, graph.feature_dim))


def test_led_is_a_distribution_on_the_normalised_spectrum():
    a = torch.zeros(4, 4)
    a[0, 1] = a[1, 0] = a[2, 3] = a[3, 2] = 1.0
    lam, w = laplacian_energy_distribution(a, torch.randn(4, 3))
    assert bool((lam > -1e-6).all() and (lam < 2).all())
    assert torch.isclose(w.sum(), torch.tensor(1.0))


def test_smoothness_matches_edge_sum():
    torch.manual_seed(0)
    a = torch.rand(5, 5)
    a = (a + a.T) / 2
    a.fill_diagonal_(0)
    z = torch.randn(5, 3)
    d = a.sum(1)
    explicit = sum(
        a[i, j] * ((z[i] / d[i].sqrt() - z[j] / d[j].sqrt()) ** 2).sum() for i in range(5) for j in range(5)
    ) / 2
    assert torch.isclose(smoothness(a, z), explicit, rtol=1e-4)


# ---------------------------------------------------------------------------------------- end to end
FAST = {**STRUCTURE_FAST, "generator_hidden": 16, "ot_block_size": 64}


def test_sgdd_end_to_end_on_default_dataset_logs_the_terms_every_epoch(default_graph):
    from mmgc.methods import Context, create_method

    out = create_method("sgdd", dict(FAST, diagnostics_every=1)).condense(default_graph, 0.01, Context(seed=0))
    n = out.num_nodes
    assert out.adj.shape == (n, n)
    assert torch.allclose(out.adj, out.adj.T) and bool((out.adj.diagonal() == 0).all())
    history = out.info["history"]
    assert [r["phase"] for r in history] == ["structure", "features"]
    for record in history:  # the OT distance is logged in every (diagnostic) epoch, finite and non-zero
        assert record["sgdd_ot_raw"] > 0 and torch.isfinite(torch.tensor(record["sgdd_ot_raw"]))
        assert record["sgdd_smooth"] > 0
    assert "sgdd_ot" in history[0] and "sgdd_ot" not in history[1]  # official: structure epochs only


def test_sgdd_ot_always_and_coefficients_are_config(default_graph):
    from mmgc.errors import InputError
    from mmgc.methods import Context, create_method

    out = create_method("sgdd", dict(FAST, ot_on="always", beta=0.0, epochs=2)).condense(
        default_graph, 0.01, Context(seed=1))
    assert all("sgdd_ot" in r and "sgdd_smooth" not in r for r in out.info["history"])
    with pytest.raises(InputError):
        create_method("sgdd", {"opt_scale": -1})
    with pytest.raises(InputError):
        create_method("sgdd", {"ep_ratio": 2})


def test_sgdd_generator_in_engine_interface_gets_gradient_from_the_term():
    from mmgc.methods.sgdd import SGDDGenerator

    graph = make_tiny_graph(n=80)
    gen = SGDDGenerator(graph.feature_dim, 16, 0.5, StructureBroadcast(graph, block_size=30))
    x = graph.x[:10]
    gen.broadcast(gen(x), x).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())
