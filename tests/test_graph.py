import pytest
import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph, normalize_edges
from tests.conftest import make_tiny_graph


def test_edges_are_made_undirected_coalesced_without_loops():
    edge_index = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 1, 0, 0]])
    out, _ = normalize_edges(edge_index, 3)
    pairs = set(map(tuple, out.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0)}
    assert out.shape[1] == 4


def test_duplicate_weighted_edge_keeps_its_weight():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    out, w = normalize_edges(edge_index, 2, torch.tensor([0.5, 0.5]))
    assert w.tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(x=torch.full((40, 10), float("nan"))), "NaN"),
        (dict(x=torch.zeros(40, 10, dtype=torch.int64)), "floating-point"),
        (dict(modalities={"text": (0, 6), "image": (6, 12)}), "cover 12 columns"),
        (dict(edge_index=torch.tensor([[0], [99]])), "node ids must lie in"),
        (dict(y=torch.full((40,), 7)), None),
        (dict(setting="semi"), "setting"),
    ],
)
def test_bad_input_is_rejected_with_one_line(change, message):
    g = make_tiny_graph()
    kwargs = dict(x=g.x, edge_index=g.edge_index, y=g.y, train_mask=g.train_mask, val_mask=g.val_mask,
                  test_mask=g.test_mask, modalities=g.modalities, info={"name": "bad"})
    kwargs.update(change)
    if "y" in change:  # labels out of the declared class range
        kwargs["num_classes"] = 3
        message = r"labels in \[0, 3\)"
    with pytest.raises(InputError, match=message) as err:
        MultimodalGraph(**kwargs)
    assert "\n" not in str(err.value)


def test_empty_split_is_rejected():
    g = make_tiny_graph()
    with pytest.raises(InputError, match="empty split"):
        MultimodalGraph(x=g.x, edge_index=g.edge_index, y=g.y, train_mask=g.train_mask, val_mask=g.val_mask,
                        test_mask=torch.zeros(40, dtype=torch.bool), modalities=g.modalities)


def test_inductive_subgraph_keeps_only_internal_edges():
    g = make_tiny_graph(setting="inductive")
    sub = g.visible_graph()
    assert sub.num_nodes == int(g.train_mask.sum())
    assert bool(sub.train_mask.all())
    # every edge of the subgraph maps back to an edge of the graph between two train nodes
    idx = g.train_mask.nonzero()[:, 0]
    original = set(map(tuple, g.edge_index.T.tolist()))
    assert all((int(idx[a]), int(idx[b])) in original for a, b in sub.edge_index.T.tolist())
    expected = sum(1 for a, b in original if g.train_mask[a] and g.train_mask[b])
    assert sub.edge_index.shape[1] == expected


def test_condensed_graph_roundtrip(tmp_path):
    adj = torch.rand(5, 5)
    adj = (adj + adj.T) / 2
    adj.fill_diagonal_(0)
    g = CondensedGraph(x=torch.randn(5, 4), adj=adj, y=torch.tensor([0, 0, 1, 1, 2]),
                       modalities={"text": (0, 2), "image": (2, 4)},
                       info={"method": "gcond", "config": {"lr": 0.1}, "history": [{"epoch": 0, "loss": 1.5}]})
    loaded = CondensedGraph.load(g.save(tmp_path / "g.pt"))
    assert loaded == g
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt"]  # no temporary file left


def test_condensed_graph_rejects_asymmetric_adjacency():
    with pytest.raises(InputError, match="symmetric"):
        CondensedGraph(x=torch.randn(3, 2), adj=torch.tensor([[0.0, 1, 0], [0, 0, 0], [0, 0, 0]]),
                       y=torch.tensor([0, 1, 1]), modalities={"f": (0, 2)})


def test_load_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        CondensedGraph.load(tmp_path / "nope.pt")
