"""Every registered method (built-in or installed through an entry point) condenses a small graph at a
small budget, returns a valid condensed graph with the `CondensedInfo` keys the harness reads, and is
evaluated by the protocol: the one test a new method passes without being named in it."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
import torch

from mmgc.graph import CondensedInfo
from mmgc.methods import Context, create_method, get_method, list_methods
from tests.conftest import make_tiny_graph

# every key a method's config has is set to these values (the others keep their defaults)
SMALL = {"epochs": 2, "outer_loop": 2, "inner_loop": 1, "structure_epochs": 1, "cycle_epochs": 2,
         "hidden": 16, "embed_dim": 16, "pge_hidden": 16, "edge_hidden": 16, "generator_hidden": 16,
         "batch_per_class": 16, "select_every": 0, "select_hidden": 16, "select_epochs": 5, "select_eval_every": 5,
         "diagnostics_every": 1, "num_graphs": 2, "ot_block_size": 16, "kmeans_iters": 5}
WRITTEN = set(typing.get_type_hints(CondensedInfo)) - {"selection_split", "selected"}


def small_config(name: str) -> dict:
    keys = {f.name for f in dataclasses.fields(get_method(name).Config)}
    return {k: v for k, v in SMALL.items() if k in keys}


@pytest.fixture(scope="module")
def graph():
    return make_tiny_graph(n=60, d_text=6, d_image=6, classes=3)


def installed_methods() -> list[str]:
    """Built-ins and entry points; not the classes other tests register at run time (their fakes)."""
    return [name for name, source in list_methods().items() if source != "registered at run time"]


@pytest.mark.parametrize("name", installed_methods())
def test_every_registered_method_condenses_and_is_evaluated(name, graph):
    from mmgc.harness.evaluate import EvalConfig, evaluate

    condensed = create_method(name, small_config(name)).condense_measured(graph, 0.2, Context(seed=0))  # as a trial does
    n = condensed.num_nodes
    assert n == condensed.info["n"] == int(0.2 * graph.num_visible_nodes)
    assert condensed.x.shape == (n, graph.x.shape[1]) and condensed.modalities == graph.modalities
    adj = condensed.adj
    assert adj.shape == (n, n) and torch.allclose(adj, adj.T) and (adj >= 0).all() and not adj.diagonal().any()
    assert set(condensed.y.tolist()) == {0, 1, 2}  # every class keeps a node
    assert WRITTEN <= set(condensed.info), WRITTEN - set(condensed.info)
    assert condensed.info["method"] == name

    rows = evaluate(condensed, graph, ["gcn"], seeds=[0], config=EvalConfig(epochs=5, eval_every=5))
    assert [row["status"] for row in rows] == ["ok"]
    assert math.isfinite(rows[0]["test_metric"]) and rows[0]["method"] == name
