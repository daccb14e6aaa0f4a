"""Coreset baselines: selection rules against reference loops, budgets, induced subgraphs, determinism."""

import pytest
import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph
from mmgc.methods import Context, create_method, get_method, list_methods
from mmgc.methods.budget import plan_budget
from mmgc.methods.coreset import herding_select, kcenter_select
from tests.conftest import make_tiny_graph

FAST = {"epochs": 20, "lr_drop_epoch": 10, "hidden": 16}


def reference_herding(features, k):
    """GCond's loop: argmin ||mean * (i + 1) - sum(chosen) - x|| over the unchosen rows."""
    mean = features.mean(0, keepdim=True)
    chosen, left = [], list(range(features.shape[0]))
    for i in range(k):
        target = mean * (i + 1) - features[chosen].sum(0)
        dist = torch.cdist(target, features[left])[0]
        chosen.append(left.pop(int(torch.argmin(dist))))
    return chosen


def reference_kcenter(features, k):
    """GCond's loop: the row nearest the mean, then the row farthest from its nearest centre."""
    chosen = [int(torch.argmin(torch.cdist(features, features.mean(0, keepdim=True))[:, 0]))]
    for _ in range(k - 1):
        nearest = torch.cdist(features, features[chosen]).min(1).values
        chosen.append(int(torch.argmax(nearest)))
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_herding_matches_the_reference_loop(seed):
    features = torch.randn(60, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert herding_select(features, 12).tolist() == reference_herding(features, 12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcenter_matches_the_reference_loop(seed):
    features = torch.randn(60, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert kcenter_select(features, 12).tolist() == reference_kcenter(features, 12)


@pytest.mark.parametrize("select", [herding_select, kcenter_select])
def test_selection_is_distinct_even_with_duplicates(select):
    features = torch.zeros(10, 3)
    features[5:] = 1.0
    chosen = select(features, 10)
    assert sorted(chosen.tolist()) == list(range(10))
    with pytest.raises(InputError):
        select(features, 11)


def test_methods_are_registered():
    names = list_methods()
    for name in ("random", "herding", "kcenter"):
        assert names[name] == "built-in"
        assert get_method(name).name == name


@pytest.mark.parametrize("method", ["random", "herding", "kcenter"])
@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_coreset_is_the_induced_subgraph_of_train_nodes(method, setting):
    graph = make_tiny_graph(n=90, setting=setting)
    ratio = 0.2
    visible, counts = plan_budget(graph, ratio)
    values = {} if method == "random" else FAST
    out = create_method(method, values).condense(graph, ratio, Context(seed=3))
    selected = torch.tensor(out.info["selected"])
    assert out.num_nodes == int(counts.sum()) == out.info["n"]
    assert torch.bincount(out.y, minlength=graph.num_classes).tolist() == counts.tolist()
    assert out.y.tolist() == sorted(out.y.tolist())  # class blocks
    assert bool(visible.train_mask[selected].all()) and selected.unique().numel() == selected.numel()
    assert torch.equal(out.x, visible.x[selected]) and torch.equal(out.y, visible.y[selected])
    dense = torch.zeros(visible.num_nodes, visible.num_nodes)
    dense[visible.edge_index[0], visible.edge_index[1]] = 1.0
    assert torch.equal(out.adj, dense[selected][:, selected])
    info = out.info
    assert info["method"] == method and info["dataset"] == "tiny" and info["ratio"] == ratio and info["seed"] == 3
    assert isinstance(info["config"], dict)
    if method == "random":
        assert info["condense_arch"] is None and info["history"] == []
    else:
        assert info["condense_arch"] == "gcn" and len(info["history"]) == FAST["epochs"]


@pytest.mark.parametrize("method", ["random", "herding", "kcenter"])
def test_deterministic_under_the_seed(method):
    graph = make_tiny_graph(n=90)
    values = {} if method == "random" else FAST
    a = create_method(method, values).condense(graph, 0.2, Context(seed=1))
    graph_again = make_tiny_graph(n=90)  # a fresh object: no memoised embedding
    b = create_method(method, values).condense(graph_again, 0.2, Context(seed=1))
    assert a.info["selected"] == b.info["selected"]
    if method == "random":
        c = create_method(method, values).condense(graph, 0.2, Context(seed=2))
        assert a.info["selected"] != c.info["selected"]


def test_embedding_is_memoised_per_graph_config_and_seed():
    graph = make_tiny_graph(n=90)
    first = create_method("herding", FAST).condense(graph, 0.2, Context(seed=0))
    second = create_method("kcenter", FAST).condense(graph, 0.3, Context(seed=0))
    third = create_method("kcenter", FAST).condense(graph, 0.3, Context(seed=1))
    assert first.info["embedding_cached"] is False
    assert second.info["embedding_cached"] is True
    assert third.info["embedding_cached"] is False


def test_minibatch_embedding_path():
    graph = make_tiny_graph(n=120)
    out = create_method("herding", dict(FAST, full_batch_max_nodes=10, batch_size=16, fanouts="4,2")).condense(
        graph, 0.2, Context(seed=0))
    assert out.num_nodes == 24 and out.info["embedding_val"] > 0


def test_a_ratio_beyond_the_train_nodes_names_the_largest():
    graph = make_tiny_graph(n=90)  # 45 train nodes of 90
    with pytest.raises(InputError, match="at most the 45 train nodes"):
        create_method("random").condense(graph, 0.9, Context())


@pytest.mark.parametrize("values, message", [({"epochs": 0}, "epochs"), ({"dropout": 1.5}, "dropout"),
                                             ({"nope": 1}, "unknown key"), ({"embedding": "x"}, "expected one of")])
def test_bad_config_is_an_input_error(values, message):
    with pytest.raises(InputError, match=message):
        create_method("herding", values)


def test_condensed_coreset_survives_save_and_load(tmp_path):
    graph = make_tiny_graph(n=90)
    out = create_method("kcenter", FAST).condense(graph, 0.2, Context(seed=0))
    assert CondensedGraph.load(out.save(tmp_path / "k.pt")) == out
