"""The evaluation protocol: rows, thresholds, selection on validation, Original (full-batch and sampled)."""

import math

import pytest
import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.harness.evaluate import EvalConfig, evaluate, evaluate_original, summarize, threshold_edges
from mmgc.harness.schema import RESULT_COLUMNS
from mmgc.methods import Context, create_method
from tests.conftest import make_tiny_graph

FAST = EvalConfig(epochs=20, lr_drop_epoch=10, hidden=16)


def coreset(graph, ratio=0.2, seed=0):
    return create_method("random").condense(graph, ratio, Context(seed=seed))


def weighted_condensed(graph, n=12, seed=0):
    """A condensed graph with a dense weighted adjacency, some weights below 0.05."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(graph.num_nodes, generator=g)[:n]
    adj = torch.rand(n, n, generator=g)
    adj = (adj + adj.T) / 2
    adj.fill_diagonal_(0)
    adj[adj < 0.3] = 0.02
    adj.fill_diagonal_(0)
    return CondensedGraph(x=graph.x[idx], adj=adj, y=graph.y[idx], modalities=graph.modalities,
                          info={"method": "test", "config": {"a": 1}, "ratio": n / graph.num_nodes, "seed": 7})


def test_rows_have_every_column_and_one_row_per_arch_and_seed():
    graph = make_tiny_graph(n=90)
    rows = evaluate(coreset(graph), graph, ["gcn", "mlp"], [0, 1, 2], FAST)
    assert [(r["arch"], r["eval_seed"]) for r in rows] == [(a, s) for a in ("gcn", "mlp") for s in (0, 1, 2)]
    for row in rows:
        assert set(row) == set(RESULT_COLUMNS)
        assert row["status"] == "ok" and row["method"] == "random" and row["n"] == 18
        assert 0 <= row["test_metric"] <= 1 and 0 <= row["val_metric"] <= 1
        assert row["metric"] == "accuracy" and row["setting"] == "transductive" and row["dataset"] == "tiny"
        assert row["edge_threshold"] == 0.05 and row["regularizers"] == "[]"
        assert row["condense_seed"] == 0 and row["config_hash"] and row["method_config"] == "{}"
        assert 0 <= row["best_epoch"] < 20 and row["eval_seconds"] > 0 and row["created_at"]


def test_comma_separated_archs_and_a_single_seed():
    graph = make_tiny_graph(n=90)
    rows = evaluate(coreset(graph), graph, "gcn,sgc", 4, FAST)
    assert [(r["arch"], r["eval_seed"]) for r in rows] == [("gcn", 4), ("sgc", 4)]


@pytest.mark.parametrize("arch", ["gcn", "sgc", "sage", "gat", "mlp", "mmgcn"])
def test_every_backbone_evaluates_a_dense_weighted_condensed_graph(arch):
    graph = make_tiny_graph(n=90)
    rows = evaluate(weighted_condensed(graph), graph, arch, [0], FAST)
    assert rows[0]["status"] == "ok" and rows[0]["condense_seed"] == 7


def test_same_seed_same_numbers():
    graph = make_tiny_graph(n=90)
    condensed = weighted_condensed(graph)
    a = evaluate(condensed, graph, "gcn", [3], FAST)[0]
    b = evaluate(condensed, graph, "gcn", [3], FAST)[0]
    assert (a["val_metric"], a["test_metric"], a["best_epoch"]) == (b["val_metric"], b["test_metric"], b["best_epoch"])


def test_threshold_drops_weak_edges_and_follows_the_original_graph_size():
    adj = torch.tensor([[0, 0.04, 0.5], [0.04, 0, 0.05], [0.5, 0.05, 0]])
    assert torch.equal(threshold_edges(adj, 0.05) != 0, torch.tensor([[0, 0, 1], [0, 0, 1], [1, 1, 0]]).bool())
    small, large = make_tiny_graph(n=90), make_tiny_graph(n=120)
    assert EvalConfig().threshold_for(small) == 0.05
    assert EvalConfig(small_graph_nodes=100).threshold_for(large) == 0.01
    assert EvalConfig(edge_threshold=0.5).threshold_for(small) == 0.5
    rows = evaluate(weighted_condensed(large), large, "gcn", [0], EvalConfig(epochs=5, small_graph_nodes=100))
    assert rows[0]["edge_threshold"] == 0.01


def test_weak_edges_do_not_change_the_result_once_dropped():
    graph = make_tiny_graph(n=90)
    condensed = weighted_condensed(graph)
    stripped = CondensedGraph(x=condensed.x, adj=threshold_edges(condensed.adj, 0.05), y=condensed.y,
                              modalities=condensed.modalities, info=condensed.info)
    a = evaluate(condensed, graph, "gcn", [0], FAST)[0]
    b = evaluate(stripped, graph, "gcn", [0], FAST)[0]
    assert a["test_metric"] == b["test_metric"] and a["best_epoch"] == b["best_epoch"]


def test_dropout_follows_the_setting():
    assert EvalConfig().dropout_for(make_tiny_graph()) == 0.5
    assert EvalConfig().dropout_for(make_tiny_graph(setting="inductive")) == 0.0
    assert EvalConfig(dropout=0.2).dropout_for(make_tiny_graph()) == 0.2


def test_inductive_graph_is_scored_on_its_split_subgraphs():
    graph = make_tiny_graph(n=90, setting="inductive")
    rows = evaluate(coreset(graph), graph, "gcn", [0], FAST)
    assert rows[0]["setting"] == "inductive" and rows[0]["status"] == "ok"
    original = evaluate_original(graph, "gcn", [0], FAST)[0]
    assert original["n"] == int(graph.train_mask.sum())  # the train-induced graph


def test_original_full_batch_and_neighbour_sampled():
    graph = make_tiny_graph(n=150)
    full = evaluate_original(graph, ["gcn", "sage"], [0], FAST)
    sampled = evaluate_original(graph, ["gcn"], [0], EvalConfig(epochs=30, lr_drop_epoch=15, hidden=16,
                                                                full_batch_max_nodes=50, batch_size=16,
                                                                fanouts=(4, 2), sampled_eval_every=5))
    for row in full + sampled:
        assert row["method"] == "original" and row["ratio"] == 1.0 and row["n"] == 150
        assert row["edge_threshold"] is None and row["status"] == "ok" and row["test_metric"] > 0.5


def test_sparse_features_give_the_same_result():
    graph = make_tiny_graph(n=90)
    x = graph.x.clone()
    x[x.abs() < 1.8] = 0  # mostly zeros
    sparse_graph = graph.with_features(x, graph.modalities, "")
    condensed = coreset(sparse_graph)
    for arch in ("gcn", "sage"):
        on = evaluate(condensed, sparse_graph, arch, [0], EvalConfig(epochs=20, hidden=16, sparse_feature_density=1))[0]
        off = evaluate(condensed, sparse_graph, arch, [0], EvalConfig(epochs=20, hidden=16, sparse_feature_density=0))[0]
        assert on["test_metric"] == off["test_metric"] and on["best_epoch"] == off["best_epoch"]
        a = evaluate_original(sparse_graph, arch, [0], EvalConfig(epochs=20, hidden=16, sparse_feature_density=1))[0]
        b = evaluate_original(sparse_graph, arch, [0], EvalConfig(epochs=20, hidden=16, sparse_feature_density=0))[0]
        assert abs(a["test_metric"] - b["test_metric"]) <= 0.05  # float rounding may move a tie


def test_roc_auc_datasets_report_roc_auc():
    base = make_tiny_graph(n=90, classes=2)
    graph = MultimodalGraph(x=base.x, edge_index=base.edge_index, y=base.y, train_mask=base.train_mask,
                            val_mask=base.val_mask, test_mask=base.test_mask, modalities=base.modalities,
                            metric="roc_auc", info={"name": "binary"})
    row = evaluate(coreset(graph), graph, "gcn", [0], FAST)[0]
    assert row["metric"] == "roc_auc" and 0 <= row["test_metric"] <= 1


def test_extra_loss_factory_is_called_once_per_run_and_its_loss_is_added():
    graph = make_tiny_graph(n=90)
    condensed = weighted_condensed(graph)
    calls = []

    def factory(model, seed):
        calls.append(seed)
        return lambda m, x, adj, logits: 100.0 * sum(p.pow(2).sum() for p in m.parameters())

    heavy = evaluate(condensed, graph, "gcn", [0, 1], FAST, extra_loss_factory=factory)
    plain = evaluate(condensed, graph, "gcn", [0, 1], FAST)
    assert calls == [0, 1]
    assert [r["val_metric"] for r in heavy] != [r["val_metric"] for r in plain]


def test_failed_runs_become_rows_when_asked():
    graph = make_tiny_graph(n=90)

    def broken(model, seed):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        evaluate(coreset(graph), graph, "gcn", [0], FAST, extra_loss_factory=broken)
    rows = evaluate(coreset(graph), graph, "gcn", [0, 1], FAST, extra_loss_factory=broken, on_error="row")
    assert [r["status"] for r in rows] == ["failed", "failed"] and "out of memory" in rows[0]["error"]


def test_bad_input_is_an_input_error():
    graph = make_tiny_graph(n=90)
    other = make_tiny_graph(n=90, d_text=3)
    with pytest.raises(InputError, match="feature columns"):
        evaluate(coreset(other), graph, "gcn", [0], FAST)
    with pytest.raises(InputError, match="unknown backbone"):
        evaluate(coreset(graph), graph, "gcn,nope", [0], FAST)
    with pytest.raises(InputError, match="at least one seed"):
        evaluate(coreset(graph), graph, "gcn", [], FAST)
    with pytest.raises(InputError, match="edge_threshold"):
        EvalConfig(edge_threshold=-1)


def test_row_defaults_fill_columns_and_summarize_gives_mean_and_std():
    graph = make_tiny_graph(n=90)
    rows = evaluate(coreset(graph), graph, "gcn", [0, 1, 2], FAST, row_defaults={"experiment": "x", "phase": "single"})
    assert all(r["experiment"] == "x" and r["phase"] == "single" for r in rows)
    (summary,) = summarize(rows)
    tests = [r["test_metric"] for r in rows]
    mean = sum(tests) / 3
    assert summary["runs"] == 3 and math.isclose(summary["test_mean"], mean)
    assert math.isclose(summary["test_std"], math.sqrt(sum((t - mean) ** 2 for t in tests) / 3))


def test_progress_callback_sees_every_run_and_epoch():
    graph = make_tiny_graph(n=90)
    events = []
    evaluate(coreset(graph), graph, "gcn", [0, 1], FAST, callback=lambda e, p: events.append(e))
    assert events.count("run_start") == 2 and events.count("run_end") == 2 and events.count("epoch") == 40
