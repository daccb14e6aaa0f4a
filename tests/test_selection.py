"""The test-selected protocol of the SR-GM authors' code: an explicit option, recorded in every row."""

from __future__ import annotations

from conftest import make_tiny_graph
from mmgc.harness.evaluate import EvalConfig, evaluate, evaluate_original
from mmgc.methods import Context, create_method

FAST = dict(epochs=2, outer_loop=2, inner_loop=1, hidden=16, select_every=1, select_epochs=10, select_eval_every=2,
            pge_hidden=8, cycle_epochs=2, structure_epochs=1)


def test_test_selection_keeps_the_best_test_epoch_and_says_so():
    graph = make_tiny_graph(n=90)
    condensed = create_method("gcond", FAST).condense(graph, 0.2, Context(seed=0))
    assert condensed.info["selection_split"] == "val"
    by_val = evaluate(condensed, graph, "gcn", [0, 1], EvalConfig(epochs=30))
    by_test = evaluate(condensed, graph, "gcn", [0, 1], EvalConfig(epochs=30, selection="test"))
    assert {r["selection"] for r in by_val} == {"val"} and {r["selection"] for r in by_test} == {"test"}
    # the same training trajectory under the same seed: the best test epoch scores at least as well on test
    for v, t in zip(by_val, by_test):
        assert t["test_metric"] >= v["test_metric"]
    assert by_test[0]["test_metric"] > by_val[0]["test_metric"]  # and here strictly (seed 0)
    original = evaluate_original(graph, "gcn", [0], EvalConfig(epochs=5, selection="test"))
    assert original[0]["selection"] == "test"


def test_a_condensed_graph_chosen_on_test_nodes_marks_its_rows():
    graph = make_tiny_graph(n=90)
    condensed = create_method("gcond", dict(FAST, select_split="test")).condense(graph, 0.2, Context(seed=0))
    assert condensed.info["selection_split"] == "test" and condensed.info["selection"] == "test"
    rows = evaluate(condensed, graph, "gcn", [0], EvalConfig(epochs=5))
    assert rows[0]["selection"] == "test"
