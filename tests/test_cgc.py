"""CGC / CGC-X: the closed form against a direct solve, the confidence weighting, the partition, budgets,
structure, determinism, modality layouts and bad configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph
from mmgc.methods import Context, create_method, get_method, list_methods
from mmgc.methods.budget import plan_budget
from mmgc.methods.cgc import (
    POLY_KERNEL_C, closed_form_features, confidence, fill_empty_clusters, partition, polynomial_kernel_map,
    resample_hard_nodes, scale_modalities, similarity_structure, weighted_cluster_means,
)
from tests.conftest import make_tiny_graph

EDGY = {"adj_threshold": 0.5}  # the tiny graph's cluster means are similar enough to get edges


def one_modality(graph):
    return graph.with_features(graph.x, {"features": (0, graph.feature_dim)}, "-one")


# ---------------------------------------------------------------------------------------- the math
def reference_closed_form(adj: np.ndarray, h: np.ndarray, alpha: float, power: int) -> np.ndarray:
    """The formula written out with NumPy: S = (D~^-1/2 (A+I) D~^-1/2)^power, L = D^-1/2 (D - A) D^-1/2."""
    n = adj.shape[0]
    a_loop = adj + np.eye(n)
    d = a_loop.sum(1) ** -0.5
    s = np.linalg.matrix_power(d[:, None] * a_loop * d[None, :], power)
    deg = adj.sum(1)
    inv = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    lap = np.diag((deg > 0).astype(float)) - inv[:, None] * adj * inv[None, :]
    return np.linalg.solve(s @ s.T + lap, alpha * s.T @ h)


@pytest.mark.parametrize("power", [1, 3])
def test_closed_form_refinement_matches_a_direct_solve_and_is_stationary(power):
    g = torch.Generator().manual_seed(0)
    n = 9
    upper = torch.triu((torch.rand(n, n, generator=g) < 0.4).double(), 1)
    adj = upper + upper.T
    adj[8], adj[:, 8] = 0, 0  # an isolated node: its Laplacian row is zero
    h = torch.randn(n, 4, generator=g, dtype=torch.float64)
    x = closed_form_features(adj, h, alpha=2.5, power=power)
    assert np.allclose(x.numpy(), reference_closed_form(adj.numpy(), h.numpy(), 2.5, power), atol=1e-10)
    # X' minimises ||S X - alpha h||^2 + tr(X^T L X): the gradient vanishes there
    a_loop = adj + torch.eye(n, dtype=torch.float64)
    d = a_loop.sum(1).rsqrt()
    s = torch.linalg.matrix_power(d[:, None] * a_loop * d[None, :], power)
    deg = adj.sum(1)
    inv = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(), torch.zeros_like(deg))
    lap = torch.diag((deg > 0).double()) - inv[:, None] * adj * inv[None, :]
    x = x.clone().requires_grad_(True)
    objective = (s @ x - 2.5 * h).pow(2).sum() + torch.trace(x.T @ lap @ x)
    (grad,) = torch.autograd.grad(objective, x)
    assert grad.abs().max() < 1e-9
    assert torch.allclose(x[8].detach(), 2.5 * h[8])  # an isolated node keeps alpha h


def test_similarity_structure_thresholds_the_cosine():
    h = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    adj = similarity_structure(h, 0.9)
    expected = torch.zeros(4, 4)
    expected[0, 1] = expected[1, 0] = 1.0
    assert torch.equal(adj, expected)
    assert torch.equal(similarity_structure(h, -1.0).diagonal(), torch.zeros(4))


def test_confidence_is_the_true_class_probability_and_the_minimum_when_wrong():
    logits = torch.tensor([[0.3, 0.1, 0.1, 0.1], [0.0, 2.0, 0.0, 1.5], [0.0, 0.0, 3.0, 0.0]])
    labels = torch.tensor([0, 3, 2])  # the middle row is misclassified (argmax 1)
    prob = logits.softmax(-1)
    assert prob[1, 3] > prob[0, 0]  # its own true-class probability is not the smallest
    conf = confidence(logits, labels)
    assert conf.tolist() == pytest.approx([float(prob[0, 0]), float(prob[0, 0]), float(prob[2, 2])])


def test_confidence_weighting_weights_the_cluster_members():
    rows = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0], [10.0, 10.0]])
    cluster = torch.tensor([0, 0, 0, 1])
    conf = torch.tensor([0.1, 0.9, 0.2, 0.5])
    sharp = weighted_cluster_means(rows, cluster, conf, tau=1e-3, n=2)
    flat = weighted_cluster_means(rows, cluster, conf, tau=1e6, n=2)
    mid = weighted_cluster_means(rows, cluster, conf, tau=0.5, n=2)
    w = torch.softmax(conf[:3] / 0.5, 0)
    assert torch.allclose(sharp[0], rows[1])  # the most confident member
    assert torch.allclose(flat[0], rows[:3].mean(0), atol=1e-5)  # the plain mean
    assert torch.allclose(mid[0], (w[:, None] * rows[:3]).sum(0))
    assert not torch.allclose(mid[0], rows[:3].mean(0), atol=1e-3)
    assert torch.equal(sharp[1], rows[3]) and torch.equal(flat[1], rows[3])


def test_confidence_weighting_changes_the_condensed_features():
    graph = make_tiny_graph(n=90)
    sharp = create_method("cgc", {"structure": "none", "tau": 1e-3}).condense(graph, 0.2, Context(seed=0))
    flat = create_method("cgc", {"structure": "none", "tau": 1e3}).condense(graph, 0.2, Context(seed=0))
    assert not torch.allclose(sharp.x, flat.x, atol=1e-3)


def test_resampling_draws_the_classes_the_assessor_gets_wrong():
    labels = torch.tensor([0, 0, 1, 1, 2])
    draws = resample_hard_nodes(labels, np.array([1.0, 0.0, 0.5]), 4000, np.random.default_rng(0))
    drawn = labels.numpy()[draws]
    assert set(drawn.tolist()) == {1, 2}  # a perfect class is never drawn
    share = (drawn == 1).mean()  # class 1: two nodes of weight 1; class 2: one node of weight 0.5
    assert share == pytest.approx(0.8, abs=0.03)


def test_polynomial_kernel_map_is_the_kernel_feature_map():
    u = np.random.default_rng(0).normal(size=(6, 3))
    z = polynomial_kernel_map(u)
    assert np.allclose(z @ z.T, (u @ u.T + POLY_KERNEL_C) ** 2)


@pytest.mark.parametrize("method", ["spectral", "kmeans"])
def test_partition_recovers_separated_groups_and_uses_every_cluster(method):
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 5, [20.0] * 5, [-20.0, 20.0, -20.0, 20.0, -20.0]])
    truth = np.repeat(np.arange(3), 12)
    rows = centres[truth] + rng.normal(size=(36, 5))
    ids = partition(rows, 3, method, iters=25, restarts=1, random_state=0)
    assert sorted(set(ids.tolist())) == [0, 1, 2]
    # the same partition up to the names of the clusters
    assert all(len(set(ids[truth == t].tolist())) == 1 for t in range(3))
    assert partition(rows[:4], 4, method, 25, 1, 0).tolist() == [0, 1, 2, 3]
    assert partition(rows, 1, method, 25, 1, 0).tolist() == [0] * 36


def test_partition_of_duplicated_rows_still_uses_every_cluster():
    rows = np.repeat(np.eye(2), 5, axis=0)  # two distinct rows, asked for four clusters
    ids = partition(rows, 4, "kmeans", 25, 1, 0)
    assert sorted(set(ids.tolist())) == [0, 1, 2, 3]
    assert fill_empty_clusters(np.array([0, 0, 0, 2]), 3).tolist() == [0, 0, 1, 2]


def test_scale_modalities_gives_every_block_unit_mean_norm():
    rows = np.random.default_rng(0).normal(size=(8, 5)) * np.array([100.0, 100.0, 1.0, 1.0, 1.0])
    scaled = scale_modalities(rows, {"a": (0, 2), "b": (2, 5)})
    assert np.linalg.norm(scaled[:, :2], axis=1).mean() == pytest.approx(1.0)
    assert np.linalg.norm(scaled[:, 2:], axis=1).mean() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------- end to end
def test_cgc_is_registered():
    assert list_methods()["cgc"] == "built-in" and get_method("cgc").name == "cgc"


@pytest.mark.parametrize("structure", ["similarity", "none"])
@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_budget_labels_and_structure(structure, setting):
    graph = make_tiny_graph(n=120, setting=setting)
    ratio = 0.15 if setting == "transductive" else 0.3
    visible, counts = plan_budget(graph, ratio)
    out = create_method("cgc", dict(EDGY, structure=structure)).condense(graph, ratio, Context(seed=0))
    assert out.x.shape == (int(counts.sum()), graph.feature_dim) and out.info["n"] == out.num_nodes
    assert torch.bincount(out.y, minlength=graph.num_classes).tolist() == counts.tolist()
    assert out.y.tolist() == sorted(out.y.tolist())  # class blocks
    assert torch.equal(out.adj, out.adj.T) and bool((out.adj.diagonal() == 0).all())
    assert set(out.adj.unique().tolist()) <= {0.0, 1.0}
    if structure == "none":
        assert out.info["edges"] == 0 and not bool(out.adj.any())
    else:
        assert out.info["edges"] > 0 and int(out.adj.sum()) == 2 * out.info["edges"]
    info = out.info
    assert info["method"] == "cgc" and info["condense_arch"] is None and info["history"] == []
    assert info["feature_steps"] == info["structure_steps"] == info["outer_steps"] == 0
    assert info["visible_nodes"] == visible.num_nodes and info["class_counts"] == counts.tolist()
    n_train = int(visible.train_mask.sum())
    assert info["augmented_nodes"] == int(0.55 * n_train) and sum(info["pool_sizes"]) == n_train + int(0.55 * n_train)


def test_cgc_x_features_are_the_weighted_cluster_means_and_cgc_refines_them():
    graph = make_tiny_graph(n=90)
    plain = create_method("cgc", dict(EDGY, structure="none")).condense(graph, 0.2, Context(seed=0))
    refined = create_method("cgc", dict(EDGY, structure="similarity")).condense(graph, 0.2, Context(seed=0))
    assert torch.allclose(refined.x, closed_form_features(refined.adj, plain.x, 3.0, 3), atol=1e-5)


def test_deterministic_under_the_seed():
    graph = make_tiny_graph(n=90)
    a = create_method("cgc", EDGY).condense(graph, 0.2, Context(seed=1))
    b = create_method("cgc", EDGY).condense(make_tiny_graph(n=90), 0.2, Context(seed=1))
    c = create_method("cgc", EDGY).condense(graph, 0.2, Context(seed=2))
    assert torch.equal(a.x, b.x) and torch.equal(a.adj, b.adj)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("cluster_features", ["fused", "per_modality"])
@pytest.mark.parametrize("layout", ["two", "one"])
def test_runs_on_one_and_two_modality_layouts(layout, cluster_features):
    graph = make_tiny_graph(n=90)
    if layout == "one":
        graph = one_modality(graph)
    out = create_method("cgc", dict(EDGY, cluster_features=cluster_features)).condense(graph, 0.2, Context(seed=0))
    assert out.modalities == graph.modalities and out.num_nodes == 18
    assert bool(torch.isfinite(out.x).all())


def test_per_modality_partition_ignores_a_modality_scale_that_dominates_the_fused_one():
    graph = make_tiny_graph(n=90)
    loud = graph.x.clone()
    loud[:, :6] *= 1e4  # text dominates the fused partition
    graph = graph.with_features(loud, graph.modalities, "-loud")
    fused = create_method("cgc", {"structure": "none", "cluster_features": "fused"}).condense(graph, 0.2, Context(seed=0))
    per = create_method("cgc", {"structure": "none", "cluster_features": "per_modality"}).condense(graph, 0.2,
                                                                                                   Context(seed=0))
    assert not torch.allclose(fused.x, per.x)


def test_a_budget_beyond_the_class_pool_is_an_input_error():
    graph = make_tiny_graph(n=90)  # 45 train nodes: 15 per class
    with pytest.raises(InputError, match="pool rows"):
        create_method("cgc", {"aug_ratio": 0.0}).condense(graph, 0.9, Context())


@pytest.mark.parametrize("values, key", [
    ({"structure": "pge"}, "structure"), ({"tau": 0.0}, "tau"), ({"alpha": -1.0}, "alpha"),
    ({"adj_threshold": 1.5}, "adj_threshold"), ({"hops": 0}, "hops"), ({"power": 0}, "power"),
    ({"aug_ratio": -0.1}, "aug_ratio"), ({"clustering": "dbscan"}, "clustering"),
    ({"cluster_features": "x"}, "cluster_features"), ({"kmeans_iters": 0}, "kmeans_iters"),
    ({"label_allocation": "x"}, "label_allocation"), ({"taus": 1.0}, "unknown key"),
])
def test_bad_config_is_a_one_line_input_error(values, key):
    with pytest.raises(InputError, match=key) as err:
        create_method("cgc", values)
    assert "\n" not in str(err.value)


def test_condensed_graph_survives_save_and_load(tmp_path):
    out = create_method("cgc", EDGY).condense(make_tiny_graph(n=90), 0.2, Context(seed=0))
    assert CondensedGraph.load(out.save(tmp_path / "cgc.pt")) == out
