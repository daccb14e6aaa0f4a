"""DosCond: GCond's engine and structure with one matching step an epoch at a fresh initialisation."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import make_tiny_graph
from mmgc.methods import Context, create_method, get_method

FAST = dict(epochs=8, structure_epochs=1, cycle_epochs=4, hidden=16, pge_hidden=8, select_every=4, select_epochs=20,
            select_eval_every=5, batch_per_class=16)


def test_defaults_are_the_released_one_step_commands():
    config = create_method("doscond").config
    assert (config.outer_loop, config.inner_loop, config.distance, config.backbone) == (1, 0, "mse", "gcn")
    assert (config.lr_feat, config.lr_adj) == (1e-3, 1e-3)
    assert get_method("doscond").search_space.keys() == {"lr_feat", "lr_adj"}


@pytest.mark.parametrize("structure", ["pge", "none"])
def test_one_step_an_epoch_and_no_inner_training(structure, monkeypatch):
    """Every epoch takes exactly one optimiser step (structure or features) and never trains the
    backbone: its parameters are used at their initialisation."""
    from mmgc.methods.gradient_matching import engine

    inner = []
    monkeypatch.setattr(engine.GradientMatchingMethod, "_inner_loop",
                        lambda self, *args: inner.append(1) or (None, float("nan")))
    graph = make_tiny_graph(n=60, d_text=5, d_image=5)
    out = create_method("doscond", dict(FAST, structure=structure)).condense(graph, 0.2, Context(seed=1))
    info = out.info
    stepped = [h for h in info["history"] if h["phase"] != "idle"]
    assert info["outer_steps"] == len(stepped) and info["feature_steps"] == 6
    assert info["structure_steps"] == (2 if structure == "pge" else 0)
    assert inner == [] and all(math.isnan(h["loss_inner"]) for h in stepped)
    assert (float(out.adj.max()) > 0) == (structure == "pge")


def test_doscond_differs_from_gcond_only_by_its_settings():
    """DosCond is GCond with the one-step settings: the same graph under the same seed and config."""
    graph = make_tiny_graph(n=60, d_text=5, d_image=5)
    values = dict(create_method("doscond", FAST).config.__dict__)
    a = create_method("doscond", FAST).condense(graph, 0.2, Context(seed=4))
    b = create_method("gcond", values).condense(graph, 0.2, Context(seed=4))
    assert torch.equal(a.x, b.x) and torch.equal(a.adj, b.adj)
