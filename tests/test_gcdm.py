"""GCDM / GCDM-X: the MMD, fresh embedding networks, the structure / feature alternation, budgets,
validation selection, determinism, modality layouts and bad configs."""

from __future__ import annotations

import math

import pytest
import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph
from mmgc.methods import Context, create_method, get_method, list_methods
from mmgc.methods.budget import plan_budget, sample_per_class
from mmgc.methods.gcdm import mmd2, squared_distances
from tests.conftest import make_tiny_graph

FAST = dict(epochs=8, hidden=16, embed_dim=16, batch_per_class=16, pge_hidden=8, cycle_epochs=4, structure_epochs=1,
            select_every=4, select_epochs=20, select_eval_every=5, lr_feat=0.01, lr_adj=0.01)


def reference_mmd2(real, syn, bandwidths):
    """The biased MMD^2 by loops over pairs, the Gaussian scale the median real-real squared distance."""
    d = lambda a, b: float(((a - b) ** 2).sum())  # noqa: E731
    off = [d(real[i], real[j]) for i in range(len(real)) for j in range(len(real)) if i != j]
    scale = float(torch.tensor(off, dtype=torch.float64).median())  # torch's median: the lower middle value
    k = lambda a, b: sum(math.exp(-d(a, b) / (s * scale)) for s in bandwidths)  # noqa: E731
    mean = lambda p, q: sum(float(k(a, b)) for a in p for b in q) / (len(p) * len(q))  # noqa: E731
    return mean(real, real) + mean(syn, syn) - 2 * mean(real, syn)


# ---------------------------------------------------------------------------------------- the distance
def test_rbf_mmd_matches_the_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    real, syn = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    assert float(mmd2(real, syn, "rbf", (0.5, 2.0))) == pytest.approx(reference_mmd2(real, syn, (0.5, 2.0)), rel=1e-9)
    assert torch.allclose(squared_distances(real, syn), torch.cdist(real, syn) ** 2)


def test_mmd_is_zero_on_the_same_sample_and_linear_mmd_is_the_mean_gap():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert float(mmd2(x, x.clone(), "rbf")) == pytest.approx(0.0, abs=1e-12)
    y = x + torch.tensor([1.0, 0.0, -2.0, 0.5], dtype=torch.float64)
    assert float(mmd2(x, y, "linear")) == pytest.approx(1.0 + 4.0 + 0.25)


def test_rbf_mmd_sees_a_difference_of_spread_that_class_means_miss():
    g = torch.Generator().manual_seed(2)
    narrow = torch.randn(200, 2, generator=g, dtype=torch.float64) * 0.1
    wide = narrow * 10.0  # the same mean (up to sampling), ten times the spread
    wide = wide - wide.mean(0) + narrow.mean(0)
    assert float(mmd2(narrow, wide, "linear")) == pytest.approx(0.0, abs=1e-12)
    assert float(mmd2(narrow, wide, "rbf")) > 0.5


def test_mmd_gradient_reaches_the_synthetic_rows():
    real = torch.randn(8, 3, generator=torch.Generator().manual_seed(3))
    syn = torch.zeros(2, 3, requires_grad=True)  # two identical rows: zero distance between them
    mmd2(real, syn).backward()
    assert torch.isfinite(syn.grad).all() and syn.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------- end to end
def test_gcdm_is_registered():
    assert list_methods()["gcdm"] == "built-in" and get_method("gcdm").name == "gcdm"


@pytest.mark.parametrize("structure", ["pge", "none"])
@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_budget_labels_structure_history_and_steps(structure, setting):
    graph = make_tiny_graph(n=90, setting=setting)
    ratio = 0.1 if setting == "transductive" else 0.2
    visible, counts = plan_budget(graph, ratio)
    out = create_method("gcdm", dict(FAST, structure=structure)).condense(graph, ratio, Context(seed=0))
    assert out.x.shape == (int(counts.sum()), graph.feature_dim)
    assert torch.bincount(out.y, minlength=graph.num_classes).tolist() == counts.tolist()
    assert out.y.tolist() == sorted(out.y.tolist())
    assert torch.allclose(out.adj, out.adj.T) and bool((out.adj.diagonal() == 0).all())
    info = out.info
    # GCDM-X alternates as GCond-X does: the same 6 feature steps as GCDM, its structure epochs idle
    if structure == "none":
        assert not bool(out.adj.any()) and info["structure_steps"] == 0 and info["feature_steps"] == 6
    else:
        assert bool((out.adj > 0).any()) and info["structure_steps"] == 2 and info["feature_steps"] == 6
    assert info["outer_steps"] == (6 if structure == "none" else 8) and info["epochs_run"] == 8
    assert info["condense_arch"] == "gcn"
    history = info["history"]
    assert [h["epoch"] for h in history] == list(range(8))
    assert all(h["loss"] >= 0 and h["seconds"] >= 0 for h in history if h["phase"] != "idle")
    assert [h["phase"] for h in history[:4]] == ["structure" if structure == "pge" else "idle"] + ["features"] * 3
    checkpoints = {h["epoch"]: h["val"] for h in history if "val" in h}
    assert sorted(checkpoints) == [3, 7]
    assert info["selected_epoch"] in checkpoints and info["selected_val"] == max(checkpoints.values())
    assert info["selection_split"] == "val" and info["visible_nodes"] == visible.num_nodes


def test_structure_epochs_step_only_the_structure():
    graph = make_tiny_graph(n=90)
    values = dict(FAST, epochs=5, cycle_epochs=5, structure_epochs=4, select_every=0)
    # the one feature epoch steps with learning rate 0: only the structure epochs could move X
    out = create_method("gcdm", dict(values, lr_feat=0.0)).condense(graph, 0.1, Context(seed=5))
    visible, counts = plan_budget(graph, 0.1)
    start = visible.x[sample_per_class(visible, counts, torch.Generator().manual_seed(5))]
    assert (out.info["structure_steps"], out.info["feature_steps"]) == (4, 1)
    assert torch.equal(out.x, start)  # the features never moved
    with pytest.raises(InputError, match="give the features no epoch"):  # a schedule with no feature epoch
        create_method("gcdm", dict(values, epochs=4))
    moved = create_method("gcdm", dict(values, structure_epochs=0)).condense(graph, 0.1, Context(seed=5))
    assert not torch.equal(moved.x, start)


def test_every_step_draws_a_fresh_frozen_embedding_network(monkeypatch):
    from mmgc.methods.gcdm import GCDM

    drawn = []
    build = GCDM._embedding_network

    def recording(self, setup):
        model = build(self, setup)
        drawn.append(model)
        return model

    monkeypatch.setattr(GCDM, "_embedding_network", recording)
    create_method("gcdm", dict(FAST, epochs=3, select_every=0)).condense(make_tiny_graph(n=90), 0.1, Context(seed=0))
    assert len(drawn) == 3  # one network per outer step
    assert all(not p.requires_grad for model in drawn for p in model.parameters())
    firsts = [next(model.parameters()) for model in drawn]
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])
    assert drawn[0].linears[-1].out_features == FAST["embed_dim"]


def test_deterministic_under_the_seed():
    graph = make_tiny_graph(n=90)
    a = create_method("gcdm", FAST).condense(graph, 0.1, Context(seed=1))
    b = create_method("gcdm", FAST).condense(make_tiny_graph(n=90), 0.1, Context(seed=1))
    c = create_method("gcdm", FAST).condense(graph, 0.1, Context(seed=2))
    assert torch.equal(a.x, b.x) and torch.equal(a.adj, b.adj)
    assert [h["loss"] for h in a.info["history"]] == [h["loss"] for h in b.info["history"]]
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("backbone", ["gcn", "mmgcn"])
@pytest.mark.parametrize("layout", ["two", "one"])
def test_runs_on_one_and_two_modality_layouts(layout, backbone):
    graph = make_tiny_graph(n=90)
    if layout == "one":
        graph = graph.with_features(graph.x, {"features": (0, graph.feature_dim)}, "-one")
    out = create_method("gcdm", dict(FAST, epochs=2, backbone=backbone, select_every=0)).condense(graph, 0.1,
                                                                                                  Context(seed=0))
    assert out.modalities == graph.modalities and bool(torch.isfinite(out.x).all())


def test_a_spent_time_budget_stops_after_one_epoch_and_keeps_a_graph():
    graph = make_tiny_graph(n=90)
    out = create_method("gcdm", FAST).condense(graph, 0.1, Context(seed=0, time_budget_s=0.0))
    assert out.info["stopped_early"] and out.info["epochs_run"] == 1 and out.num_nodes == 9
    assert out.info["selection"].startswith("none")


@pytest.mark.parametrize("values, key", [
    ({"structure": "similarity"}, "structure"), ({"kernel": "cosine"}, "kernel"), ({"epochs": 0}, "epochs"),
    ({"embed_dim": 0}, "embed_dim"), ({"bandwidths": [1.0, -1.0]}, "bandwidths"), ({"lr_feat": -1.0}, "lr_feat"),
    ({"lr_adj": -1.0}, "lr_adj"), ({"pge_layers": 1}, "pge"), ({"pge_init_weight": 1.0}, "pge_init_weight"),
    ({"structure_epochs": 60}, "structure_epochs"), ({"fanouts": [0]}, "fanouts"),
    ({"select_dropout": 1.0}, "select_dropout"), ({"select_split": "train"}, "select_split"),
])
def test_bad_config_is_a_one_line_input_error(values, key):
    with pytest.raises(InputError, match=key) as err:
        create_method("gcdm", values)
    assert "\n" not in str(err.value)


def test_condensed_graph_survives_save_and_load(tmp_path):
    out = create_method("gcdm", dict(FAST, epochs=2)).condense(make_tiny_graph(n=90), 0.1, Context(seed=0))
    assert CondensedGraph.load(out.save(tmp_path / "gcdm.pt")) == out
